"""A pasted error finds its answer: every distinct error signature of a run (and of the runs before
it), with where it occurs, since when, where the same cases pass, its hint, blame and verified
remedy; and the closest signatures to any text (`python -m matrix explain "TEXT"`, errors.html).

A pasted message is normalised as signatures are (matrix/probe/errors.py: onnxruntime's prelude,
paths, addresses, shapes, numbers), cut into tokens, and scored against each signature's tokens
by the Dice coefficient (2·|A∩B| / (|A|+|B|)). The page's search does the same in the browser
with the same regular expressions, shipped in its data, so the terminal and the page agree."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence

import pandas as pd

from matrix.probe.errors import NORMALISE, ORT_PRELUDE
from matrix.report.aggregate import FAILING, parse_version

TOKEN = re.compile(r"<\w+>|[a-z0-9_]+")
SHOWN = 5  # closest signatures listed


def normalise(text: str) -> str:
    """The text as a signature would hold it."""
    text = ORT_PRELUDE.sub("", text.strip())
    for pattern, replacement in NORMALISE:
        text = pattern.sub(replacement, text)
    return text.strip()


def tokens(text: str) -> frozenset:
    return frozenset(TOKEN.findall(normalise(text).lower()))


def score(pasted: frozenset, known: frozenset) -> float:
    return 2 * len(pasted & known) / (len(pasted) + len(known)) if pasted and known else 0.0


def patterns() -> List[List[str]]:
    """The normalisation as (JavaScript-compatible pattern, replacement) pairs, in order: the
    page's search applies these same expressions."""
    return [[ORT_PRELUDE.pattern, ""]] + [[p.pattern, r] for p, r in NORMALISE]


def _releases(part: pd.DataFrame, package: str) -> List[str]:
    return sorted({str(v) for v in part[package].dropna()}, key=parse_version)


def signatures(frame: pd.DataFrame, page_of: Dict[str, int], earlier: Sequence[Any] = ()) -> List[Dict[str, Any]]:
    """Every distinct failing signature of the run, most results first; with `earlier` (the runs
    before it, newest first, as the report loads them: run_id, meta, frame), each says in how many
    of those runs it occurred and since which, and the signatures only earlier runs met follow,
    each with the last run that met it: an error pasted from an older deployment still finds its
    answer, and where its cases pass now."""
    passes_of = _passes(frame)
    found = [_entry(signature, kind, part, passes_of, page_of)
             for (signature, kind), part in _failing(frame).groupby(["error_signature", "error_kind"], dropna=False)]
    found.sort(key=lambda s: (-s["results"], s["signature"]))
    return found + _history(found, earlier, passes_of, page_of) if earlier else found


def _failing(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"].isin(FAILING) & frame["error_signature"].notna()]


def _passes(frame: pd.DataFrame) -> Dict[str, set]:
    """Where each case passes, once: a night holds ~214,000 results and thousands of signatures."""
    passes = frame[frame["status"] == "pass"].drop_duplicates(["case", "torch", "onnxruntime", "exporter"])
    passes_of: Dict[str, set] = {}
    for r in passes[["case", "torch", "onnxruntime", "exporter"]].itertuples(index=False):
        passes_of.setdefault(r.case, set()).add(f"torch {r.torch}, onnxruntime {r.onnxruntime}, {r.exporter}")
    return passes_of


def _first(part: pd.DataFrame, column: str, most_common: bool = False) -> Optional[str]:
    """The column's first value (or its most common); None where the table has no such column (a
    run read back from the history database keeps signatures, not messages)."""
    values = part[column].dropna() if column in part else pd.Series(dtype=object)
    if values.empty:
        return None
    return values.mode().iloc[0] if most_common else values.iloc[0]


def _entry(signature: str, kind: Any, part: pd.DataFrame, passes_of: Dict[str, set],
           page_of: Dict[str, int]) -> Dict[str, Any]:
    cases = sorted(part["case"].unique())
    fixed = part[part["fix_remedy"].notna()] if "fix_remedy" in part else part.iloc[0:0]
    remedy = fixed["fix_remedy"].mode().iloc[0] if not fixed.empty else None
    example = fixed[fixed["fix_remedy"] == remedy].iloc[0] if remedy else None
    return {
        "signature": signature, "kind": kind if isinstance(kind, str) else "other",
        "message": _first(part, "error_message") or signature, "hint": _first(part, "error_hint"),
        "blame": _first(part, "blame_sentence", most_common=True),
        "statuses": sorted(part["status"].unique()), "results": len(part),
        "cases": [{"case": c, "page": page_of.get(c)} for c in cases],
        "exporters": sorted(part["exporter"].unique()),
        "torch": _releases(part, "torch"), "onnxruntime": _releases(part, "onnxruntime"),
        "passes_on": sorted(set().union(*(passes_of.get(c, set()) for c in cases))),
        "remedy": remedy, "fix": example["fix"] if example is not None else None,
        "snippet": example["fix_snippet"] if example is not None else None,
        "fixed": len(fixed), "tokens": sorted(tokens(signature)),
        "runs": None, "first": None, "gone": None}


def _history(found: List[Dict[str, Any]], earlier: Sequence[Any], passes_of: Dict[str, set],
             page_of: Dict[str, int]) -> List[Dict[str, Any]]:
    """Sets `runs` ([how many runs met it, of how many]) and `first` (the earliest that did) on
    this run's entries; returns the entries of the signatures only earlier runs met."""
    this = {e["signature"]: e for e in found}
    met: Dict[str, List[Any]] = {}  # signature: the earlier runs that met it, newest first
    last: Dict[str, Dict[str, Any]] = {}  # signature: its entry from the newest run that met it
    for run in earlier:  # a night holds thousands of signatures: only those new to `last` are grouped
        failing = _failing(run.frame)
        met_there = failing["error_signature"].unique()
        for signature in met_there:
            met.setdefault(signature, []).append(run)
        new = [s for s in met_there if s not in this and s not in last]
        for (signature, kind), part in failing[failing["error_signature"].isin(new)].groupby(
                ["error_signature", "error_kind"], dropna=False):
            last.setdefault(signature, dict(_entry(signature, kind, part, passes_of, page_of),
                                            gone={"run": run.run_id, "started_at": run.meta.get("started_at")}))
    total = len(earlier) + 1
    for signature, entry in [*this.items(), *last.items()]:
        runs = met.get(signature, [])
        entry["runs"] = [len(runs) + (signature in this), total]
        oldest = runs[-1] if runs else None
        entry["first"] = {"run": oldest.run_id, "started_at": oldest.meta.get("started_at")} if oldest else None
    return sorted(last.values(), key=lambda s: (-(s["gone"]["started_at"] or 0), -s["results"], s["signature"]))


def closest(text: str, known: List[Dict[str, Any]], n: int = SHOWN) -> List[Dict[str, Any]]:
    """The n signatures nearest the text, each with its score; none that shares no token."""
    pasted = tokens(text)
    scored = [(score(pasted, frozenset(s["tokens"])), s) for s in known]
    scored = [(value, s) for value, s in scored if value > 0]
    scored.sort(key=lambda vs: (-vs[0], -vs[1]["results"], vs[1]["signature"]))
    return [dict(s, score=round(value, 3)) for value, s in scored[:n]]


def seen(entry: Dict[str, Any]) -> str:
    """One line: where the signature occurs (in the run that met it last)."""
    torch, ort = entry["torch"], entry["onnxruntime"]
    span = lambda versions: versions[0] if len(versions) == 1 else f"{versions[0]} … {versions[-1]}"  # noqa: E731
    line = (f"{entry['results']} results of {len(entry['cases'])} cases ({', '.join(entry['statuses'])}), "
            f"with {', '.join(entry['exporters'])}, on torch {span(torch)} and onnxruntime {span(ort)}")
    return line if torch and ort else line.split(", on torch")[0]
