"""The search for a failing result's remedy: the tries that apply (remedies.candidates), in order,
each a whole result again in a child of its own (isolation), until one passes every stage or the
budget — a count of tries and seconds, both — is spent. The first that passes is the fix; the
ones before it are reported as tried without help. The order is the candidates' (smallest change
first), except that what fixed the same failure before in this cell, or the same export in a
sibling cell, goes first (Lessons, diagnose.py): the search is cheaper where failures repeat,
and the fix then may be a bigger change than one left untried. A try that left the same failure
exactly as it was for an earlier case of this cell is skipped, and said so (record["skipped"]).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Tuple

from matrix.probe.errors import signature

SEARCHED = ("export_error", "invalid_model", "load_error", "run_error", "mismatch", "dynamic_error")
COUNT, SECONDS = 8, 300.0  # per failing result


def parse_budget(text: Optional[str]) -> Tuple[int, float]:
    """"COUNT,SECONDS" (None: the defaults); ValueError says what is wrong."""
    if not text:
        return COUNT, SECONDS
    try:
        count, seconds = text.split(",")
        budget = int(count), float(seconds)
    except ValueError:
        raise ValueError(f"{text}: expected COUNT,SECONDS such as 8,300") from None
    if budget[0] < 1 or budget[1] <= 0:
        raise ValueError(f"{text}: both must be positive")
    return budget


def search(tries: List[Dict[str, Any]], attempt: Callable[[Dict[str, Any], float], Dict[str, Any]],
           count: int = COUNT, seconds: float = SECONDS) -> Dict[str, Any]:
    """The record of a search: every try made (remedy, change, status, stage, kind, seconds), the
    first that passed (fixed_by) and, when none did, why the search stopped."""
    record: Dict[str, Any] = {"candidates": len(tries), "tried": [], "fixed_by": None, "stopped": None,
                              "budget": {"count": count, "seconds": seconds}}
    started = time.monotonic()
    for one in tries:
        left = seconds - (time.monotonic() - started)
        if len(record["tried"]) >= count or left <= 0:
            record["stopped"] = "count" if len(record["tried"]) >= count else "seconds"
            break
        began = time.monotonic()
        outcome = attempt(one, left)
        error = outcome.get("error") or {}
        entry = {k: one[k] for k in ("remedy", "family", "side", "change", "params")}
        entry.update(status=outcome["status"], stage=outcome.get("stage"), kind=error.get("kind"),
                     message=(error.get("message") or "")[:300] or None,
                     seconds=round(time.monotonic() - began, 3))
        if outcome.get("from"):  # not made here: the same export's try in another cell (diagnose.py)
            entry["from"] = outcome["from"]
        record["tried"].append(entry)
        if outcome["status"] == "pass":
            record["fixed_by"] = dict(entry, snippet=snippet(one, outcome.get("export_call")))
            break
    record["summary"] = summary(record)
    return record


class Lessons:
    """What the searches of one cell found so far, per failure (exporter, status, error kind and
    signature): which remedies fixed one, and which tries left it exactly as it was. A later search
    of the same failure tries first what fixed it; a try that left the same error unchanged for an
    earlier result is not made again but said as skipped, with that result's case. (Dynamo's Swin
    and T5 otherwise spend a minute on opsets before the other exporter passes, as it did for the
    failures before them; an operator no exporter option adds costs every option once, not once
    per case that uses it.)"""

    def __init__(self) -> None:
        self.fixed: Counter = Counter()
        self.unchanged: Dict[tuple, str] = {}  # (failure, try identity): the case it was made for

    @staticmethod
    def failure(exporter: str, outcome: Dict[str, Any]) -> Tuple[str, str, Optional[str], str]:
        error = outcome.get("error") or {}
        return exporter, outcome["status"], error.get("kind"), _said(error.get("message"))

    def order(self, failure: tuple, tries: List[Dict[str, Any]]) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
        """(the tries to make, in order; those skipped, each with why)."""
        skipped = [dict({k: one[k] for k in ("remedy", "family", "side", "change")},
                        why=f"left the same error unchanged for {self.unchanged[(failure, identity(one))]}")
                   for one in tries if (failure, identity(one)) in self.unchanged]
        left = [one for one in tries if (failure, identity(one)) not in self.unchanged]
        return sorted(left, key=lambda one: not self.fixed[(failure, one["remedy"])]), skipped

    def learn(self, failure: tuple, case: str, record: Optional[Dict[str, Any]]) -> None:
        for tried in (record or {}).get("tried") or ():
            if tried["side"] != "export" or tried.get("from"):  # made by this cell's search
                continue
            if tried["status"] == "pass":
                self.fixed[(failure, tried["remedy"])] += 1
            elif (tried["status"], tried["kind"], _said(tried["message"])) == failure[1:]:
                self.unchanged.setdefault((failure, identity(tried)), case)


def _said(message: Optional[str]) -> str:
    """A message as a try records it (its first 300 characters), normalised as signatures are."""
    return signature((message or "")[:300])


def identity(one: Dict[str, Any]) -> str:
    """A try, whichever result it is made for: the remedy and its parameters."""
    return json.dumps([one["remedy"], one.get("params") or {}], sort_keys=True)


def summary(record: Dict[str, Any]) -> str:
    """One sentence: "fixed by <remedy>: <change>" or "none of N tried helped"."""
    fixed: Optional[Dict[str, Any]] = record.get("fixed_by")
    if fixed:
        return f"fixed by {fixed['remedy']}: {fixed['change']}"
    tried, skipped = len(record["tried"]), len(record.get("skipped") or ())
    if not record["candidates"]:
        return "no remedy applies to this failure"
    left = record["candidates"] - tried - skipped
    budget = f" (the {record['stopped']} budget stopped it; {left} more applied)" if record["stopped"] else ""
    skip = f"; {skipped} skipped (they left the same error unchanged for an earlier case)" if skipped else ""
    return f"none of {tried} tried helped{budget}{skip}"


def snippet(one: Dict[str, Any], export_call: Optional[str]) -> str:
    """What to copy: the whole export call for a change to it, else the lines to add."""
    if one["side"] == "export":
        prefix = "" if one["family"] != "dtype" else one["change"] + "\n"
        return prefix + (export_call or one["change"])
    if one["side"] == "model":
        return ("import onnx\n\nmodel = onnx.load(\"model.onnx\")\n"
                + one["change"].split("  #")[0] + "\nonnx.save(model, \"model.onnx\")\n")
    setup = "options = onnxruntime.SessionOptions()\n"
    if one["remedy"] == "session_no_optimizations":
        return setup + one["change"] + "\nsession = onnxruntime.InferenceSession(\"model.onnx\", options)\n"
    return f"session = onnxruntime.InferenceSession(\"model.onnx\", {one['change']})\n"
