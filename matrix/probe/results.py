"""The JSONL results file: one JSON object per result, appended and fsynced as
soon as the result exists, so a run killed at any moment keeps what it finished.

Standard library only: the orchestrator reads results with the same functions.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, Iterator, List, Optional, Tuple

from matrix.probe import SCHEMA

Key = Tuple[str, str, Optional[int], str]


def key(result: Dict[str, Any]) -> Key:
    """What makes a result unique within a cell."""
    return (result["case"], result["exporter"], result["opset"], result["device"])


def read(path: str, warn: Any = None) -> Iterator[Dict[str, Any]]:
    """Results in `path`. A last line cut short by a kill is skipped with a warning;
    a line of another schema version, or any other unreadable line, is an error."""
    for _number, result in numbered(path, warn):
        yield result


def numbered(path: str, warn: Any = None) -> Iterator[Tuple[int, Dict[str, Any]]]:
    """(line number, result) for each result in `path`, as `read` finds them."""
    warn = warn or (lambda message: print(f"warning: {message}", file=sys.stderr))
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    last = len(lines) - 1
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            result = json.loads(raw.decode("utf-8", "replace"))  # bytes that are not UTF-8 show as U+FFFD
        except ValueError:
            if number - 1 == last:  # no newline after it: the write was cut off
                warn(f"{path}:{number}: skipped a truncated last line (the run was killed mid-write)")
                continue
            raise ValueError(f"{path}:{number}: not a JSON object") from None
        if not isinstance(result, dict) or result.get("schema") != SCHEMA:
            found = result.get("schema") if isinstance(result, dict) else None
            raise ValueError(f"{path}:{number}: results schema {found!r}, this version reads schema {SCHEMA}")
        yield number, result


class Writer:
    """Appends results; opening cuts any partial last line left by a kill."""

    def __init__(self, path: str) -> None:
        self.path = path
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        self._file = open(path, "ab+")
        self._drop_partial_line()

    def _drop_partial_line(self) -> None:
        f = self._file
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return
        f.seek(max(0, size - (1 << 20)))
        tail = f.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        f.truncate(size - len(tail) + cut + 1 if cut >= 0 else max(0, size - len(tail)))
        f.seek(0, os.SEEK_END)

    def write(self, result: Dict[str, Any]) -> None:
        try:
            self._file.write((json.dumps(result, default=str, ensure_ascii=False) + "\n").encode("utf-8", "replace"))
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:  # a full disk, most often: what was written before stays intact
            raise WriteFailed(f"cannot write results to {self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass  # the write that failed has been reported; closing cannot lose more


class WriteFailed(Exception):
    """The results file cannot take another result (disk full, read-only): one line for the user."""


def existing(path: str) -> List[Dict[str, Any]]:
    if not os.path.exists(path):
        return []
    return list(read(path))
