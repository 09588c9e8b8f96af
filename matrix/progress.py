"""What a person sees while a run goes and when it ends (rich)."""

from __future__ import annotations

import collections
from typing import Any, Dict, Iterable, List

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from matrix.probe.status import STATUSES


def make_console() -> Console:
    """A console; off a terminal (CI logs, pipes) wide enough that lines never wrap."""
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=200)


class _Live:
    """Live bars on a terminal only; elsewhere the subclasses print plain lines."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True)

    def __enter__(self) -> Any:
        if self.live:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live:
            self.progress.__exit__(*exc)


class RunProgress(_Live):
    """A live bar on a terminal; one plain line per result in CI logs."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.task = None

    def __call__(self, event: Dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "start":
            self.total = event["total"]
            self.task = self.progress.add_task("starting", total=event["total"])
            if event.get("resumed"):
                self.console.print(f"resuming: {event['resumed']} results already recorded")
        elif kind == "case" and self.task is not None:
            self.progress.update(self.task, description=f"{event['case']} [{event['exporter']}]")
        elif kind == "result" and self.task is not None:
            self.progress.advance(self.task)
            if not self.live:
                status = STATUSES[event["status"]]
                opset = event["opset"] or "default"
                self.console.print(f"[{event['index']}/{self.total}] {event['case']} {event['exporter']} "
                                   f"opset={opset} {event['device']}: {status.glyph} {event['status']} "
                                   f"({event['seconds']:.2f} s)", highlight=False)


def glyph(status: str) -> str:
    s = STATUSES[status]
    return f"[{s.colour}]{s.glyph}[/] {status}"


def summary(console: Console, results: Iterable[Dict[str, Any]]) -> None:
    """A table: one row per case, one column per exporter × opset × device; then counts."""
    results = list(results)
    columns: List[tuple] = sorted({(r["exporter"], r["opset"] or 0, r["device"]) for r in results},
                                  key=lambda c: (c[2], c[0], c[1]))
    table = Table(title="results", title_justify="left", show_lines=False)
    table.add_column("case")
    for exporter, opset, device in columns:
        table.add_column(f"{exporter}\nopset {opset or 'default'}\n{device}")
    by_case: Dict[str, Dict[tuple, Dict[str, Any]]] = collections.defaultdict(dict)
    for r in results:
        by_case[r["case"]][(r["exporter"], r["opset"] or 0, r["device"])] = r
    for case, row in by_case.items():
        table.add_row(case, *[glyph(row[c]["status"]) if c in row else "" for c in columns])
    console.print(table)
    counts = collections.Counter(r["status"] for r in results)
    console.print("  ".join(f"{glyph(s)}: {counts[s]}" for s in STATUSES if counts[s]))
    failures = [r for r in results if r.get("error")]
    for r in failures:
        e = r["error"]
        console.print(f"[bold]{r['case']}[/] {r['exporter']} {r['device']}: {r['status']} at {r['stage']} "
                      f"[dim]({e['kind']})[/] {e['message'][:160]}", highlight=False)
        if (r.get("remedy") or {}).get("fixed_by"):  # a verified change: what to do, said where it is needed
            console.print(f"  → {e.get('hint') or r['remedy']['summary']}", highlight=False, markup=False)


class MatrixProgress(_Live):
    """Progress of many cells at once: an overall bar and a line per running cell on a
    terminal; a line per event in CI logs. Called from worker threads."""

    def __init__(self, console: Console, cells: int) -> None:
        super().__init__(console)
        self.cells_task = self.progress.add_task("cells", total=cells)
        self.rows: Dict[str, Any] = {}

    def cell_started(self, cell: str) -> None:
        self.rows[cell] = self.progress.add_task(f"{cell}: preparing environment", total=None)
        if not self.live:
            self.console.print(f"{cell}: preparing environment")

    def note(self, cell: str, line: str) -> None:
        """A line of environment preparation (an image build step)."""
        if line.startswith("Step "):
            self.progress.update(self.rows[cell], description=f"{cell}: {line[:80]}")
            if not self.live:
                self.console.print(f"{cell}: {line[:160]}", highlight=False)

    def event(self, cell: str, event: Dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "start":
            self.progress.update(self.rows[cell], total=event["total"], description=cell)
        elif kind == "case":
            self.progress.update(self.rows[cell], description=f"{cell}: {event['case']} [{event['exporter']}]")
        elif kind == "result":
            self.progress.advance(self.rows[cell])
            if not self.live:
                status = STATUSES[event["status"]]
                reused = " (reused)" if event.get("reused") else f" ({event['seconds']:.2f} s)"
                self.console.print(f"{cell}: {event['case']} {event['exporter']} {status.glyph} {event['status']}"
                                   f"{reused}", highlight=False)

    def cell_finished(self, cell: str, record: Dict[str, Any]) -> None:
        self.progress.remove_task(self.rows.pop(cell))
        self.progress.advance(self.cells_task)
        note = record.get("error") or f"{record['seconds']} s"
        self.console.print(f"{cell}: {record['status']} ({note})", highlight=False)


def cell_summary(console: Console, by_cell: Dict[str, List[Dict[str, Any]]]) -> None:
    """One row per cell: counts per status."""
    present = [s for s in STATUSES if any(r["status"] == s for rs in by_cell.values() for r in rs)]
    table = Table(title="cells", title_justify="left")
    table.add_column("cell", no_wrap=True)
    for status in present:
        table.add_column(glyph(status), justify="right")
    for cell, rows in sorted(by_cell.items()):
        counts = collections.Counter(r["status"] for r in rows)
        table.add_row(cell, *[str(counts[s] or "") for s in present])
    console.print(table)
