"""The Versions page's data: the run's measured version tables, the joined answers, and the
picture — torch exporters × onnxruntime releases, each square coloured by whether the default
export loads there, drawn as inline SVG (nothing to fetch to view it)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional

from packaging.version import Version

from matrix import frontier
from matrix.errors import UserError
from matrix.probe.frontier import best_opset, opset_range

SIZE, LABEL, HEAD = 48, 330, 72  # a square's side; the row labels' and column heads' room, in px
# Okabe–Ito, as the statuses: loads (pass's colour), loads at a lower opset, loads at none
COLOURS = {"loads": "#009E73", "lower": "#E69F00", "none": "#D55E00"}


def page(run_folder: Path) -> Optional[Dict[str, Any]]:
    """Everything the page shows, or None when the run measured no frontier (older runs)."""
    try:
        tables = frontier.collect(frontier.run_files(run_folder))
    except UserError:
        return None
    answers = frontier.joined(tables)
    newest = frontier.newest_torch(tables)
    return {"tables": tables, "answers": [dict(a, sentence=frontier.sentence(a)) for a in answers],
            "newest": [frontier.sentence(a) for a in answers if a["torch"] == newest],
            "picture": picture(tables), "exporters": [dict(r, range=opset_range(r)) for r in tables["exporters"]],
            "colours": COLOURS}


def picture(tables: Dict[str, Any]) -> Dict[str, Any]:
    runtimes = list(tables["runtimes"].items())
    rows = sorted(tables["exporters"], key=lambda e: ([-n for n in Version(e["torch"]).release], e["exporter"],
                                                      [Version(v) for v in e["onnx"]]))
    shared = Counter((e["torch"], e["exporter"]) for e in rows)  # a torch exporter that writes otherwise by onnx
    squares: List[Dict[str, Any]] = []
    for y, row in enumerate(rows):
        d = row["default"]
        for x, (version, rt) in enumerate(runtimes):
            if frontier.loads(rt, d["opset"], d["ir"]):
                kind, text, title = "loads", "✓", f"loads (opset {d['opset']}, IR {d['ir']})"
            else:
                opset = best_opset(row, rt)
                kind, text = ("lower", f"≤{opset}") if opset else ("none", "✗")
                title = f"export with opset_version ≤ {opset}" if opset else "no opset this exporter writes loads"
            squares.append({"x": LABEL + x * SIZE, "y": HEAD + y * SIZE, "kind": kind, "text": text,
                            "title": f"torch {row['torch']} {row['exporter']} on onnxruntime {version}: {title}"})
    return {"width": LABEL + SIZE * len(runtimes) + 8, "height": HEAD + SIZE * len(rows) + 8, "size": SIZE,
            "label": LABEL, "head": HEAD, "squares": squares,
            "columns": [{"x": LABEL + x * SIZE + SIZE // 2, "version": v,
                         "ir": f"IR {rt['ir']}", "opset": f"op {rt['opset']}"} for x, (v, rt) in enumerate(runtimes)],
            "rows": [{"y": HEAD + y * SIZE + SIZE // 2, "text": f"torch {r['torch']} {r['exporter']}" + (
                          f" (onnx {', '.join(r['onnx'])})" if shared[(r["torch"], r["exporter"])] > 1 else ""),
                      "writes": f"default op {r['default']['opset']} / IR {r['default']['ir']} · "
                                f"writes {opset_range(r)}"} for y, r in enumerate(rows)]}
