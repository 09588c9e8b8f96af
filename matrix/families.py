"""The model families' results as Markdown: per architecture × torch release × exporter, the status
on the newest onnxruntime of the run and the failure kind of each failure; written into
docs/families.md between its markers (`python -m matrix families RUN --write docs/families.md`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

import pandas as pd

from matrix import markers
from matrix.report.aggregate import families, parse_version

START = "<!-- family-results:start (written by `python -m matrix families RUN --write docs/families.md`) -->"
END = "<!-- family-results:end -->"


def _outcome(part: pd.DataFrame) -> str:
    """One table cell: ✓, or the status and the error's kind (the first failing opset's)."""
    if part.empty:
        return "—"
    failing = part[part["status"] != "pass"]
    if failing.empty:
        return "✓"
    first = failing.iloc[0]
    if first["status"] == "skipped":
        return "skipped"
    kind = first.get("error_kind")
    return f"{first['status']}" + (f" ({kind})" if isinstance(kind, str) and kind and kind != "other" else "")


def export_seconds(run: Path) -> Dict[str, Tuple[float, float]]:
    """Per export side of a run: (seconds its model-family results took, seconds all its results
    took), from the bundles' own records (a result's export side, measured where it ran)."""
    found: Dict[str, Tuple[float, float]] = {}
    for meta_file in sorted((run / "bundles").glob("*/*/bundle.json")):
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            seconds = float(meta["outcome"]["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a bundle that cannot be read is left out of the sum, not the table
        models, total = found.get(meta_file.parent.parent.name, (0.0, 0.0))
        found[meta_file.parent.parent.name] = (models + (seconds if meta.get("library") else 0.0), total + seconds)
    return found


def table(frame: pd.DataFrame, run_id: str, seconds: Optional[Dict[str, Tuple[float, float]]] = None) -> str:
    models = frame[frame["library"].notna() & frame["model_source"].isna()]  # not the people's own (--model)
    if models.empty:
        return "This run has no model-family results.\n"
    newest = max(models["onnxruntime"].dropna().unique(), key=parse_version)
    latest = models[models["onnxruntime"] == newest]
    torches = sorted(latest["torch"].dropna().unique(), key=parse_version, reverse=True)
    exporters = sorted(latest["exporter"].unique())
    columns = [(t, e) for t in torches for e in exporters]
    lines = [f"Run `{run_id}`, onnxruntime {newest}; ✓ = exports and matches eager PyTorch within tolerance "
             "at every stage, else the status (and the error's kind).", "",
             "| case | library | " + " | ".join(f"torch {t} {e}" for t, e in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for (library, case), part in latest.groupby(["library", "case"]):
        versions = part[library].dropna().unique() if library in part else []
        label = f"{library} {', '.join(sorted(versions))}" if len(versions) else library
        cells = [_outcome(part[(part["torch"] == t) & (part["exporter"] == e)]) for t, e in columns]
        lines.append(f"| `{case}` | {label} | " + " | ".join(cells) + " |")
    skipped = latest[latest["status"] == "skipped"].drop_duplicates(["torch", "reason"])
    lines += [f"\nSkipped on torch {r.torch}: {r.reason}." for r in skipped.itertuples() if isinstance(r.reason, str)]
    lines += ["", *[f"- {s['sentence']}" for s in families(frame)]]
    if seconds:
        lines += ["", "Seconds each export side spent on the model families' results, of all its results:", "",
                  *[f"- `{side}`: {models:.0f} s of {total:.0f} s" for side, (models, total) in seconds.items()]]
    return "\n".join(lines) + "\n"


def stale(page: str, cases: Iterable[str], where: str) -> Optional[str]:
    """Why the page's results table no longer fits the corpus, or None. The statuses come from a run
    CI cannot repeat; what it can check is that every model family has its row and no row names a
    family the corpus lost."""
    block = markers.between(page, START, END, where)
    shown = set(re.findall(r"^\| `([^`]+)` \|", block, flags=re.M))
    wanted = set(cases)
    if shown == wanted:
        return None
    missing, extra = sorted(wanted - shown), sorted(shown - wanted)
    return (f"{where}: the model family results " + "; ".join(
        part for part in (f"lack {', '.join(missing)}" if missing else "",
                          f"name {', '.join(extra)}, which the corpus no longer has" if extra else "") if part)
            + ": run the default spec, then `python -m matrix families RUN --write " + where + "`")
