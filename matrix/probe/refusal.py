"""What onnxruntime's own refusal of a too-new model says it reads, and the hint once the advice it
gives has been tried (run --here has no frontier measurement to go by: the refusal names the limit).

"Opset 20 is under development … Current official support for domain ai.onnx is till opset 19"
names the opset; onnx's own version table gives the IR that opset came with. "Unsupported model IR
version: 10, max supported IR version: 9" names the IR; the opsets onnx released at that IR (highest
first) are the candidates, since the refusal does not say which of them the runtime reads."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

TRIED_OPSETS = 3  # at most, highest first, for an IR refusal


def _table() -> List[Tuple[int, int]]:
    """(IR, ai.onnx opset) of each onnx release."""
    import onnx.helper

    return [(int(ir), int(opset)) for _release, ir, opset, *_ in onnx.helper.VERSION_TABLE]


def limits(error: Dict[str, Any]) -> Optional[Tuple[int, List[int]]]:
    """(the IR to write, the opsets to try, highest first) from the refusal; None for another error."""
    detail, kind = error.get("detail") or {}, error.get("kind")
    table = _table()
    if kind == "opset_too_new" and detail.get("max_opset"):
        top = int(detail["max_opset"])
        return max(ir for ir, opset in table if opset <= top), [top]
    if kind == "ir_too_new" and detail.get("max_ir"):
        ir = int(detail["max_ir"])
        opsets = sorted({opset for i, opset in table if i <= ir}, reverse=True)[:TRIED_OPSETS]
        return (ir, opsets) if opsets else None
    return None


def checked_hint(error: Dict[str, Any], record: Dict[str, Any], written: Optional[int]) -> str:
    """The hint after the tries: the one that passed, said as checked; else what was tried."""
    detail = error.get("detail") or {}
    said = (f"onnxruntime reads opset ≤ {detail['max_opset']} (its own message)" if detail.get("max_opset") else
            f"onnxruntime reads IR ≤ {detail['max_ir']} (its own message)")
    fixed = record.get("fixed_by")
    if fixed and fixed["remedy"] == "opset":
        return (f"export with {fixed['change']}: {said}; checked here: at opset {fixed['params']['opset']} the "
                "model exports, loads and matches eager PyTorch")
    if fixed:
        other = next((t for t in record["tried"] if t["remedy"] == "opset"), None)
        why = (f" (opset_version={other['params']['opset']} was tried first: {other['status']}"
               f"{' (' + other['kind'] + ')' if other.get('kind') else ''})") if other else ""
        return (f"convert the exported file: {fixed['change']}: {said}{why}; checked here: the converted file "
                "loads and matches eager PyTorch")
    tried = "; ".join(f"{t['change']}: {t['status']}" for t in record["tried"]) or "nothing applied"
    return f"{said}; tried here, none passes ({tried}): upgrade onnxruntime"
