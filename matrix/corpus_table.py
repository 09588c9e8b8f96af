"""The corpus as a Markdown table, written into docs/corpus.md from the code so the two cannot
drift apart (`python -m matrix cases --write docs/corpus.md`; a test checks it is current).

The case modules import torch, so the list comes from `python -m matrix.probe --list`
run by this interpreter, which needs torch installed (the tests session has it)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Dict, List

from matrix import markers
from matrix.errors import CatalogueError

START = "<!-- corpus:start (written by `python -m matrix cases --write docs/corpus.md`) -->"
END = "<!-- corpus:end -->"
# The model families (cases with a source library) have a table of their own, in docs/families.md.
FAMILIES_START = "<!-- families:start (written by `python -m matrix cases --write docs/families.md`) -->"
FAMILIES_END = "<!-- families:end -->"


def listed(cases_from: List[str]) -> List[Dict]:
    command = [sys.executable, "-m", "matrix.probe", "--list"]
    for source in cases_from:
        command += ["--cases-from", source]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise CatalogueError(lines[-1] if lines else "the probe failed to list cases")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(cases: List[Dict]) -> str:
    categories = sorted({c["category"] for c in cases})
    pairs = sum(1 for c in cases if c["fixes"])
    lines = [f"{len(cases)} cases in {len(categories)} categories ({', '.join(categories)}); "
             f"{pairs} of them are workarounds for another case.", "",
             "| case | the situation it stands for | from | dynamic | needs | workaround for |",
             "|---|---|---|---|---|---|"]
    for c in cases:
        needs = list(c["requires"]) + ([f"devices: {', '.join(c['devices'])}"] if c["devices"] != ["cpu", "cuda"]
                                       else [])
        lines.append("| `{}` | {} | {} | {} | {} | {} |".format(
            c["case"], _cell(c["description"]), c.get("library") or "—", ", ".join(c["dynamic"]) or "—",
            _cell("; ".join(needs)) or "—", f"`{c['fixes']}`" if c["fixes"] else "—"))
    return "\n".join(lines) + "\n"


def families(cases: List[Dict]) -> str:
    """The model families: one row per architecture, with the library it comes from."""
    models = [c for c in cases if c.get("library")]
    libraries = sorted({c["library"] for c in models})
    lines = [f"{len(models)} model cases from {', '.join(libraries)}, built offline from configuration objects "
             "(tiny dimensions, seeded random weights; no download).", "",
             "| case | library | architecture and how it is called | dynamic | outputs |", "|---|---|---|---|---|"]
    for c in sorted(models, key=lambda c: (c["library"], c["case"])):
        lines.append("| `{}` | {} | {} | {} | {} |".format(
            c["case"], c["library"], _cell(c["description"]), ", ".join(c["dynamic"]) or "—",
            ", ".join(c.get("output_names") or []) or "—"))
    return "\n".join(lines) + "\n"


def replaced(text: str, cases: List[Dict], where: str) -> str:
    """text with each table whose markers it holds (the corpus, the model families) replaced."""
    found = False
    for start, end, make in ((START, END, table), (FAMILIES_START, FAMILIES_END, families)):
        if start in text:
            text, found = markers.replaced(text, start, end, make(cases), where, CatalogueError), True
    if not found:
        raise CatalogueError(f"{where}: no markers ({START} … {END}, or {FAMILIES_START} … {FAMILIES_END})")
    return text
