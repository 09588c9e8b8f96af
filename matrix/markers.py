"""Generated tables inside hand-written pages: the text between a start and an end marker is the
command's; the rest is the author's."""

from __future__ import annotations

from typing import Type

from matrix.errors import UserError


def replaced(text: str, start_marker: str, end_marker: str, table: str, where: str,
             error: Type[UserError] = UserError, gap: str = "\n") -> str:
    """text with what lies between the markers replaced by table."""
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0 or end < start:
        raise error(f"{where}: no markers ({start_marker} … {end_marker})")
    return text[:start + len(start_marker)] + gap + table + text[end:]
