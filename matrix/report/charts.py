"""Pass rates as chart geometry: the numbers and where each bar, line and mark goes. The
templates draw it as inline SVG (reports/templates/charts.html.j2) beside a table of the same
numbers, so a page needs no script and no network to show a chart, and a screen reader reads
the table."""

from __future__ import annotations

import calendar
import time
from typing import Any, Dict, List, Optional, Sequence

import pandas as pd

from matrix.report.aggregate import parse_version, prepare
from matrix.report.load import Run

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 560, 200, 46, 44, 12


def rate(statuses: pd.Series) -> Optional[float]:
    """Percentage of results that pass, of those that ran (skipped ones do not count)."""
    ran = statuses[statuses != "skipped"]
    return round(100.0 * float((ran == "pass").sum()) / len(ran), 1) if len(ran) else None


def _y(value: Optional[float]) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (value or 0) / 100)


def bars(frame: pd.DataFrame, group: str, series: str, order: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Grouped bars: one group per value of `group`, one bar per value of `series` in it."""
    groups = list(order) if order is not None else sorted(frame[group].dropna().unique())
    names = sorted(frame[series].dropna().unique())
    rates = frame.groupby([group, series])["status"].apply(rate).to_dict()
    slot = (WIDTH - LEFT) / max(1, len(groups))
    width = min(28.0, slot * 0.8 / max(1, len(names)))
    out_bars, labels, table = [], [], []
    for g, name in enumerate(groups):
        start = LEFT + g * slot + (slot - width * len(names)) / 2
        labels.append({"x": round(LEFT + (g + 0.5) * slot, 1), "text": str(name)})
        row = []
        for s, serie in enumerate(names):
            value = rates.get((name, serie))
            row.append(value)
            if value is not None:
                out_bars.append({"x": round(start + s * width, 1), "y": round(_y(value), 1), "w": round(width - 2, 1),
                                 "h": round(_y(0) - _y(value), 1), "series": s, "text": f"{value:g}",
                                 "title": f"{group} {name}, {serie}: {value}% pass"})
        table.append({"label": str(name), "values": row})
    return {"kind": "bars", "width": WIDTH, "height": HEIGHT, "bars": out_bars, "labels": labels, "series": names,
            "table": table, "ticks": _ticks(), "group": group}


def columns_strip(cols: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One thin bar per grid column, in the grid's order: its pass rate."""
    slot = (WIDTH - LEFT) / max(1, len(cols))
    out = [{"x": round(LEFT + n * slot, 1), "y": round(_y(c["score"]), 1), "w": round(max(1.0, slot - 1), 1),
            "h": round(_y(0) - _y(c["score"]), 1), "series": 0 if c["exporter"] == "dynamo" else 1,
            "title": f"{label(c)}: {c['score']}% pass"}
           for n, c in enumerate(cols) if c["score"] is not None]
    return {"kind": "bars", "width": WIDTH, "height": HEIGHT - BOTTOM + 8, "bars": out, "labels": [],
            "series": ["dynamo", "torchscript"], "ticks": _ticks(), "group": "column",
            "table": [{"label": label(c), "values": [c["score"]]} for c in cols]}


def label(col: Dict[str, Any]) -> str:
    opset = "" if col["opset_label"] == "default" else f" opset {col['opset_label']}"
    return (f"torch {col['torch']} · onnxruntime {col['onnxruntime']} · onnx {col['onnx']} · {col['device']} · "
            f"{col['exporter']}{opset}")


def _ticks() -> List[Dict[str, Any]]:
    return [{"y": round(_y(v), 1), "text": f"{v}%"} for v in (0, 50, 100)]


def rates_of(runs: List[Run]) -> pd.DataFrame:
    """What history.pass_rates gives, from loaded runs (a results root with no history database)."""
    parts = []
    for run in runs:
        frame = prepare(run.frame)  # the grid's own opset labels
        counted = frame.assign(opset=frame["opset_label"], passed=frame["status"] == "pass",
                               ran=frame["status"] != "skipped")
        part = counted.groupby(["cell", "exporter", "opset", "torch"], dropna=False)[["passed", "ran"]].sum()
        parts.append(part.reset_index().assign(run_id=run.run_id, started_at=run.meta.get("started_at")))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["run_id", "started_at", "cell", "exporter", "opset", "torch", "passed", "ran"])


def _percent(passed: float, ran: float) -> Optional[float]:
    return round(100.0 * passed / ran, 1) if ran else None


def trend(rates: pd.DataFrame, released: Dict[str, Dict[str, str]]) -> Optional[Dict[str, Any]]:
    """Pass rate per torch release × exporter over the runs (oldest first), one line each (colour:
    the torch release; dashed: the second exporter), with the day each release of the newest
    run came out marked where it falls inside the span."""
    timed = rates[pd.to_numeric(rates["started_at"], errors="coerce").notna()]
    if timed["run_id"].nunique() < 2:
        return None
    runs = timed.drop_duplicates("run_id").sort_values("started_at")[["run_id", "started_at"]]
    first, last = float(runs["started_at"].min()), float(runs["started_at"].max())
    span = max(last - first, 1.0)

    def x(t: float) -> float:
        return round(LEFT + (WIDTH - LEFT - 8) * (t - first) / span, 1)

    summed = timed.groupby(["torch", "exporter", "run_id"], dropna=False)[["passed", "ran"]].sum()
    torches = sorted(timed["torch"].dropna().unique(), key=parse_version, reverse=True)
    exporters = sorted(timed["exporter"].dropna().unique())
    drawn, table = [], []
    for t, torch in enumerate(torches):
        for e, exporter in enumerate(exporters):
            values = []
            for run_id, started in runs.itertuples(index=False):
                row = summed.loc[(torch, exporter, run_id)] if (torch, exporter, run_id) in summed.index else None
                values.append((float(started), None if row is None else _percent(row["passed"], row["ran"])))
            known = [(t_, v) for t_, v in values if v is not None]
            if not known:
                continue
            name = f"torch {torch} · {exporter}"
            drawn.append({"name": name, "series": t, "dashed": e > 0, "first": known[0][1], "last": known[-1][1],
                          "points": " ".join(f"{x(t_)},{round(_y(v), 1)}" for t_, v in known)})
            table.append({"label": name, "values": [v for _, v in values]})
    marks = []
    for package, versions in sorted(released.items()):
        for version, day in sorted(versions.items()):
            t = calendar.timegm(time.strptime(day, "%Y-%m-%d"))
            if first <= t <= last:
                marks.append({"x": x(t), "text": f"{package} {version}", "day": day})
    return {"kind": "lines", "width": WIDTH, "height": HEIGHT, "lines": drawn, "marks": marks, "ticks": _ticks(),
            "from": time.strftime("%Y-%m-%d", time.gmtime(first)), "to": time.strftime("%Y-%m-%d", time.gmtime(last)),
            "runs": [time.strftime("%m-%d", time.gmtime(t)) for t in runs["started_at"]], "table": table}


def sparklines(rates: pd.DataFrame, cols: List[Dict[str, Any]], width: int = 120, height: int = 24) -> List[Dict]:
    """Per grid column, its pass rate in each run of the history (oldest first), as a polyline
    over the same span for every column: a column that entered late starts late."""
    order = rates.drop_duplicates("run_id").sort_values("started_at", na_position="first")["run_id"].tolist()
    position = {r: n for n, r in enumerate(order)}
    keyed = rates.assign(column=rates["cell"] + "|" + rates["exporter"] + "|" + rates["opset"].astype(str))
    by_column = {k: part for k, part in keyed.groupby("column")}
    step = (width - 4) / max(1, len(order) - 1)
    out = []
    for c in cols:
        part = by_column.get(c["column"])
        values = [] if part is None else sorted(
            (position[r], _percent(p, n)) for r, p, n in part[["run_id", "passed", "ran"]].itertuples(index=False))
        known = [(n, v) for n, v in values if v is not None]
        out.append({"label": label(c), "width": width, "height": height, "runs": len(known),
                    "first": known[0][1] if known else None, "last": known[-1][1] if known else None,
                    "points": " ".join(f"{round(2 + n * step, 1)},{round(2 + (height - 4) * (1 - v / 100), 1)}"
                                       for n, v in known)})
    return out
