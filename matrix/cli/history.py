"""`python -m matrix history`: the recorded runs, or one run's regressions."""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("history", help="list recorded runs, or a run's regressions",
                       description="The run history (SQLite, <results>/history.sqlite).")
    p.add_argument("--results", default="results", help="results root holding history.sqlite")
    p.add_argument("--db", default=None, help="the history database (default: <results>/history.sqlite)")
    p.add_argument("--add", action="append", metavar="RUN_DIR", help="record a run folder first")
    p.add_argument("--regressions", nargs="?", const="latest", default=None, metavar="RUN",
                   help="list a run's regressions (default: the latest run)")
    p.add_argument("--fail-on-regression", action="store_true",
                   help="exit 1 when a result regressed in its cell, or on a package release new in this run")
    p.set_defaults(main=main)


def record(results_root: Path, folder: Path) -> None:
    """After a run or a merge: add it to the history, saying so (or why not) in one line."""
    from matrix import history
    from matrix.errors import HistoryError

    try:
        with closing(history.connect(history.database(results_root))) as db:
            count = history.record(db, folder)
        print(f"history: {count} results of {folder.name} recorded in {history.database(results_root)}")
    except (HistoryError, sqlite3.Error) as exc:
        print(f"warning: history not updated: {exc}", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    from matrix import history
    from matrix.errors import HistoryError

    path = Path(args.db) if args.db else history.database(Path(args.results))
    if not path.exists() and not args.add:
        raise HistoryError(f"{path}: no history yet (a matrix run or a merge records one)")
    try:
        with closing(history.connect(path)) as db:
            for folder in args.add or []:
                count = history.record(db, Path(folder).resolve())
                print(f"recorded {count} results of {Path(folder).resolve().name}")
            listed = history.runs(db)
            if not args.regressions:
                for r in listed.to_dict("records"):
                    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["started_at"] or 0))
                    print(f"{r['run_id']}  {when}  {r['cells']} cells  {r['results']} results  "
                          f"{int(r['passed'] or 0)} pass  {int(r['failing'] or 0)} failing  {r['spec_path']}")
                return 0
            run_id = args.regressions if args.regressions != "latest" else (
                listed["run_id"].iloc[-1] if len(listed) else None)
            if run_id is None or run_id not in set(listed["run_id"]):
                raise HistoryError(f"no run {args.regressions} in {path}")
            found = history.regressions(db, run_id)
    except sqlite3.DatabaseError as exc:
        raise HistoryError(str(exc)) from None
    except (OSError, ValueError, KeyError) as exc:
        raise HistoryError(f"cannot record {exc}") from None
    for r in found:
        print(history.describe(r))
    failing = [r for r in found if r["kind"] == "cell" or r["new_release"]]
    print(f"{run_id}: {sum(r['kind'] == 'cell' for r in found)} cell regressions, "
          f"{sum(r['kind'] == 'version' for r in found)} version regressions "
          f"({sum(r['kind'] == 'version' and r['new_release'] for r in found)} on new releases)")
    return 1 if args.fail_on_regression and failing else 0
