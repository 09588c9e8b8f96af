"""A case page's results as data the page reads when it opens, not as markup: one small script
per case (data/cases/N.js), the texts it refers to (data/texts/HASH.js) and one for every cell's
commands (data/cells.js).

At a night's size a case has a result per cell × exporter (1,262 of them), and each result's
details hold texts that repeat across cells: an export's traceback is every runtime's of its
export side, a remedy's tries and the export call likewise. So a shard keeps each distinct text
once and each result as a row of numbers (indexes into the texts); the commands that reproduce a
result are one template per cell, with the case, exporter, opset and device filled in by the
page (`expand` does the same here). Scripts rather than JSON so that pages opened from disk
(file://, where fetch is refused) read them too.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shlex
from typing import Any, Dict, Iterable, List, Optional, Tuple

import pandas as pd

# Filled in by the page, each a whole shell word in every template (shlex.quote leaves it bare),
# all in one pass, so that a value holding a sentinel's text is never filled in again.
SENTINELS = {"case": "@@case@@", "exporter": "@@exporter@@", "opset_label": "@@opset@@", "device": "@@device@@"}
_FILLED = re.compile("|".join(SENTINELS.values()))

TEXTS = ("case", "cell", "torch", "onnxruntime", "onnx", "onnxscript", "python", "transformers", "torchvision", "timm",
         "device", "exporter", "opset_label", "status", "stage", "reason", "error_type", "error_message",
         "error_kind", "error_signature", "error_hint", "error_traceback", "blame", "blame_sentence", "fix",
         "fix_remedy", "fix_snippet", "fix_tried", "export_call", "model_file", "model_link", "bundle_repro",
         "reused_from", "provider")
NUMBERS = ("index", "column_index", "seconds", "max_abs_err", "max_rel_err", "atol", "rtol", "required_atol",
           "export_s", "eager_ms", "ort_ms", "model_bytes", "nodes", "model_opset", "ir_version", "bundle_withheld")
FIELDS = NUMBERS + TEXTS


def reproduce(rec: Dict[str, Any], spec: Optional[str], image: Any = None) -> List[str]:
    """The commands that rerun exactly this result."""
    case, exporter = shlex.quote(rec["case"]), shlex.quote(rec["exporter"])
    opset = shlex.quote(rec["opset_label"])
    if spec:
        cell = rec["cell"]
        chosen = "" if spec == "default" else f"MATRIX_SPEC={shlex.quote(spec)} "
        commands = [f"{chosen}nox -s {shlex.quote(f'cell({cell})')} -- --cases {case} --fresh",
                    f"python -m matrix run --spec {shlex.quote(spec)} --cell {shlex.quote(cell)} --cases {case} "
                    "--fresh"]
        docker = "docker run --rm --network none --read-only --tmpfs /tmp -e HOME=/tmp --user 65534:65534"
        selected = f"--cases {case} --exporter {exporter} --opset {opset} --device {shlex.quote(rec['device'])}"
        if isinstance(image, tuple) and all(image):  # the two halves: bundles in a folder both containers see
            commands.append(f"mkdir -m 777 -p bundles && {docker} -v \"$PWD/bundles:/bundles\" "
                            f"{shlex.quote(image[0])} --side export --bundles /bundles {selected} && "
                            f"{docker} -v \"$PWD/bundles:/bundles:ro\" {shlex.quote(image[1])} --side runtime "
                            f"--bundles /bundles {selected} --out /tmp/results.jsonl")
        elif isinstance(image, str):
            commands.append(f"{docker} {shlex.quote(image)} {selected} --out /tmp/results.jsonl")
        return commands
    return [f"python -m matrix run --here --cases {case} --exporter {exporter} --opset {opset} "
            f"--device {shlex.quote(rec['device'])}"]


def templates(cells: Iterable[str], spec: Optional[str], images: Dict[str, Any]) -> Dict[str, List[str]]:
    """Each cell's commands with the sentinels where a result's own values go."""
    return {cell: reproduce(dict(SENTINELS, cell=cell), spec, images.get(cell)) for cell in cells}


def expand(commands: List[str], rec: Dict[str, Any]) -> List[str]:
    """A cell's templates filled in for one result (as the page's script does)."""
    values = {sentinel: shlex.quote(str(rec[key])) for key, sentinel in SENTINELS.items()}
    return [_FILLED.sub(lambda found: values[found.group(0)], command) for command in commands]


def _number(value: Any) -> Any:
    """As a page shows it: four significant digits (the exact value is in results.parquet);
    `1.7000000000000002e-05` in every row was half a night's shards."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if float(value).is_integer() and abs(value) < 2**53:
        return int(value)
    return float(f"{value:.4g}")


def _runs(values: List[Any]) -> List[Any]:
    """[value, count, value, count, ...]: a case's results, in the grid's order, hold long runs of
    the same value in most fields (the case, python, a passing result's empty texts, a cell's
    versions for both exporters); a row per result was 200 KB a case, 35 MiB a night."""
    out: List[Any] = []
    for value in values:
        if out and out[-2] == value:
            out[-1] += 1
        else:
            out += [value, 1]
    return out


def case_shard(results: pd.DataFrame) -> Dict[str, Any]:
    """{fields, numbers, texts, length, columns}: each field a column of run-length pairs, numbers
    as they are and texts as indexes into `texts` (0 for none). Built with pandas a column at a
    time: per result and field in Python, a night took 17 s here."""
    part = results.reindex(columns=list(FIELDS))
    words = part[list(TEXTS)].astype(object)
    words = words.where(words.notna(), None)
    # sorted: the same texts make the same file from night to night (see split)
    present = sorted(pd.unique(pd.Series(words.to_numpy().ravel()).dropna().astype(str)))
    code = {text: n + 1 for n, text in enumerate(present)}
    codes = words.apply(lambda column: column.map(lambda v: code[str(v)] if v is not None else 0)).astype(int)
    numbers = part[list(NUMBERS)].astype(float)
    numbers = numbers.astype(object).where(numbers.notna(), None)
    columns = [_runs([_number(v) for v in numbers[f].tolist()]) for f in NUMBERS]
    columns += [_runs(codes[f].tolist()) for f in TEXTS]
    return {"fields": list(FIELDS), "numbers": len(NUMBERS), "texts": list(present), "length": len(part),
            "columns": columns}


def split(shard: Dict[str, Any]) -> Tuple[Dict[str, Any], str]:
    """The shard naming its texts by their hash, and the texts' own script (data/texts/HASH.js).
    A night's changes mostly flip statuses among texts the case already had: its rows change, its
    texts (nine tenths of its bytes) do not, and a file named by its content is never rewritten."""
    texts = script("MATRIX_TEXTS", shard["texts"])
    return dict(shard, texts=hashlib.sha256(texts.encode()).hexdigest()[:20]), texts


def script(name: str, data: Any) -> str:
    """`window.NAME = data;` with JSON that is safe inside any HTML or script context."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True, default=str)
    safe = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"window.{name} = {safe};\n"


def read(text: str) -> Any:
    """The data of a script written by `script` (for tests and tools)."""
    return json.loads(text.split(" = ", 1)[1].rstrip().rstrip(";"))


def records(shard: Dict[str, Any], texts: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    """A shard's rows as records again (what the page's script builds); `texts`: those of a split shard."""
    numbers, texts = shard["numbers"], shard["texts"] if texts is None else texts
    columns = [[v for v, count in zip(runs[::2], runs[1::2]) for _ in range(count)] for runs in shard["columns"]]
    return [{k: (v if n < numbers else texts[v - 1] if v else None)
             for n, (k, v) in enumerate(zip(shard["fields"], row))} for row in zip(*columns)] if columns else []
