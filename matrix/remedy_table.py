"""The remedy search of a run as Markdown: how many failing results have a verified remedy, by
remedy, which failures none fixed, and the blame's verdicts; written into docs/remedies.md between its
markers (`python -m matrix remedies RUN --write docs/remedies.md`)."""

from __future__ import annotations

import re
from typing import List, Optional

import pandas as pd

from matrix import markers
from matrix.probe.remedies import BY_NAME, REMEDIES
from matrix.report.aggregate import remedies

START = "<!-- remedies:start (written by `python -m matrix remedies RUN --write docs/remedies.md`) -->"
END = "<!-- remedies:end -->"


def _cases(part: pd.DataFrame, limit: int = 6) -> str:
    found = [f"`{case}` ({exporter})" for case, exporter in
             part.drop_duplicates(["case", "exporter"])[["case", "exporter"]].itertuples(index=False)]
    return ", ".join(found[:limit]) + (f" and {len(found) - limit} more" if len(found) > limit else "")


def registry() -> str:
    """Every remedy, in the order the search tries them, from the code."""
    where = {"session": "onnxruntime's session", "model": "the exported file", "export": "the export call"}
    lines = ["| remedy | family | changes | tried for | what it does |", "|---|---|---|---|---|"]
    for r in REMEDIES:
        tried = ", ".join(r.statuses) + (f" ({', '.join(r.kinds)})" if r.kinds else "")
        lines.append(f"| `{r.name}` | {r.family} | {where[r.side]} | {tried} | {r.doc} |")
    return "\n".join(lines) + "\n"


def table(frame: pd.DataFrame, run_id: str) -> str:
    counts = remedies(frame)
    if not counts["searched"]:
        return f"Run `{run_id}` has no remedy search (run it with `--remedies`).\n"
    fixed = frame[frame.get("fix_remedy").notna()] if "fix_remedy" in frame else frame.iloc[0:0]
    lines: List[str] = [
        f"Run `{run_id}`: {counts['failing']} results failed; {counts['searched']} were searched and "
        f"**{counts['fixed']} have a verified remedy** (with it the result exports, loads, runs and matches eager "
        "PyTorch at every stage).", "",
        "| remedy | family | results fixed | for example |", "|---|---|---|---|"]
    for name, n in counts["by_remedy"].items():
        family = BY_NAME[name].family if name in BY_NAME else "?"
        lines.append(f"| `{name}` | {family} | {n} | {_cases(fixed[fixed['fix_remedy'] == name])} |")
    searched = frame[frame["fix"].notna()]
    lines += ["", "| torch | onnxruntime | searched | fixed |", "|---|---|---|---|"]
    for (torch, runtime), part in searched.groupby(["torch", "onnxruntime"]):
        lines.append(f"| {torch} | {runtime} | {len(part)} | {int(part['fix_remedy'].notna().sum())} |")
    unfixed = searched[searched["fix_remedy"].isna()]
    if not unfixed.empty:
        lines += ["", f"No remedy fixed {len(unfixed)} results: " + _cases(unfixed, limit=12) + "."]
    if counts["blame"]:
        lines += ["", "Blame of the mismatches and run errors (the same model and inputs through "
                      "`onnx.reference.ReferenceEvaluator`): "
                  + ", ".join(f"{verdict} {n}" for verdict, n in counts["blame"].items()) + "."]
    return "\n".join(lines) + "\n"


def stale(page: str, where: str) -> Optional[str]:
    """Why the page's remedies no longer fit the code, or None: the registry must be the code's,
    word for word, and the run's counts may name only remedies the code still has (the counts
    come from a run CI cannot repeat)."""
    block = markers.between(page, START, END, where).lstrip("\n")
    if not block.startswith(registry()):
        return (f"{where}: the remedy registry differs from the code: "
                f"run `python -m matrix remedies RUN --write {where}`")
    unknown = sorted(set(re.findall(r"^\| `([^`]+)` \|", block, flags=re.M)) - set(BY_NAME))
    if unknown:
        return f"{where}: the run's counts name {', '.join(unknown)}, which the code no longer has"
    return None
