"""The front page's answer to "can I upgrade?": per package axis, the newest release against
the one before it (and against the oldest this run covers), cases fixed and broken by exporter
and family; and the pair the upgrade advisor opens on."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pandas as pd

from matrix.report.aggregate import FAILING, parse_version

AXES = ("torch", "onnxruntime", "onnx")
# What must be equal for two results to compare one release with another. onnxscript and the
# model libraries follow torch (their "auto" release is the one that pairs with it), so they
# are held equal only when torch itself is.
HELD = ("python", "device", "exporter", "opset_label", "torch", "onnx", "onnxruntime")
FOLLOW_TORCH = ("onnxscript", "transformers", "torchvision", "timm")


def comparisons(frame: pd.DataFrame, axis: str, old: str, new: str) -> pd.DataFrame:
    """Pairs of results, one on each release, that differ in nothing else: case, exporter,
    category, the two statuses (skipped ones left out)."""
    held = [k for k in HELD if k != axis] + [k for k in FOLLOW_TORCH if axis != "torch" and k in frame]
    keys = ["case", *held]
    ran = frame[frame["status"] != "skipped"]
    before = ran[ran[axis] == old][keys + ["status"]]
    after = ran[ran[axis] == new][keys + ["category", "status"]]
    return after.merge(before, on=keys, suffixes=("", "_before"))


def _counted(pairs: pd.DataFrame) -> Dict[str, List[str]]:
    fixed = pairs[pairs["status_before"].isin(FAILING) & (pairs["status"] == "pass")]
    broken = pairs[(pairs["status_before"] == "pass") & pairs["status"].isin(FAILING)]
    return {"fixed": sorted(fixed["case"].unique()), "broken": sorted(broken["case"].unique())}


def upgrades(frame: pd.DataFrame) -> List[Dict[str, Any]]:
    """For each axis with two releases or more: newest against the one before it, and against
    the oldest when that is another; distinct cases fixed and broken, overall, per exporter and
    per family (category)."""
    out = []
    for axis in AXES:
        releases = sorted(frame[axis].dropna().unique(), key=parse_version)
        if len(releases) < 2:
            continue
        against = [(releases[-2], "the release before it")]
        if len(releases) > 2:
            against.append((releases[0], "the oldest this run covers"))
        for old, label in against:
            pairs = comparisons(frame, axis, old, releases[-1])
            out.append({"axis": axis, "old": old, "new": releases[-1], "label": label, "compared": len(pairs),
                        **_counted(pairs),
                        "by_exporter": {e: _counted(p) for e, p in pairs.groupby("exporter")},
                        "by_family": {c: _counted(p) for c, p in pairs.groupby("category")}})
    return out


def advisor_default(frame: pd.DataFrame, cols: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The pair of grid columns the advisor opens on: the newest pair of releases of an axis that
    changes any case (normally the two newest), the axis and the exporter (every other version
    held) that change most among equally new pairs. None when no axis has two releases."""
    releases = {axis: sorted(frame[axis].dropna().unique(), key=parse_version, reverse=True) for axis in AXES}
    # Pairs newest first, (0, 1) before (0, 2) before (1, 2): the first step with a change ends
    # the search, so a nightly's hundreds of releases do not cost a comparison per pair.
    steps = sorted({(n, m) for found in releases.values() for n in range(len(found))
                    for m in range(n + 1, len(found))})
    best, fallback = None, None
    for n, m in steps:
        for axis in AXES:
            if m >= len(releases[axis]):
                continue
            old, new = releases[axis][m], releases[axis][n]
            if fallback is None:
                fallback = (axis, old, new)
            pairs = comparisons(frame, axis, old, new)
            changed = pairs[pairs["status"] != pairs["status_before"]]
            by_column = changed.groupby([k for k in HELD if k != axis], dropna=False)["case"].nunique()
            for held, count in by_column.items():
                if best is None or int(count) > best["changes"]:  # more changes first, then the first found
                    best = {"axis": axis, "changes": int(count), "old": old, "new": new,
                            "held": dict(zip(by_column.index.names, held))}
        if best is not None:
            break
    if best is None and fallback is not None:  # nothing changes anywhere: the newest step of the first axis
        axis, old, new = fallback
        newest = next(c for c in cols if c[axis] == new)
        best = {"axis": axis, "changes": 0, "old": old, "new": new, "held": {k: newest[k] for k in HELD if k != axis}}
    if best is None:
        return None

    def column(version: str) -> Optional[int]:
        want = dict(best["held"], **{best["axis"]: version})
        return next((c["index"] for c in cols if all(str(c[k]) == str(v) for k, v in want.items())), None)

    return {**best, "from": column(best["old"]), "to": column(best["new"])}
