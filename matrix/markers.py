"""Generated tables inside hand-written pages: the text between a start and an end marker is the
command's; the rest is the author's."""

from __future__ import annotations

from pathlib import Path
from typing import Type

from matrix.errors import UserError


def replaced(text: str, start_marker: str, end_marker: str, table: str, where: str,
             error: Type[UserError] = UserError, gap: str = "\n") -> str:
    """text with what lies between the markers replaced by table."""
    start, end = _span(text, start_marker, end_marker, where, error)
    return text[:start] + gap + table + text[end:]


def _span(text: str, start_marker: str, end_marker: str, where: str, error: Type[UserError]):
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0 or end < start:
        raise error(f"{where}: no markers ({start_marker} … {end_marker})")
    return start + len(start_marker), end


def between(text: str, start_marker: str, end_marker: str, where: str) -> str:
    """What lies between the markers (missing markers: UserError)."""
    start, end = _span(text, start_marker, end_marker, where, UserError)
    return text[start:end]


def read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror}") from None


def write_into(path: str, start_marker: str, end_marker: str, table: str) -> None:
    """The file at path with the table between its markers (a missing file or marker: UserError)."""
    page = read(path)
    Path(path).write_text(replaced(page, start_marker, end_marker, table, path), encoding="utf-8")
