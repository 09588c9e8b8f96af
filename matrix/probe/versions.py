"""Just enough version comparison for case requirements such as "torch>=2.5,<2.9".

The orchestrator uses `packaging`; the probe cannot count on it being installed
in a cell (torch does not depend on it), so it compares release numbers itself.
"""

from __future__ import annotations

import re
from typing import Mapping, Optional, Tuple

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*((?:[<>=!~]=?\s*[0-9][^,]*,?\s*)*)$")
_CLAUSE = re.compile(r"(<=|>=|==|!=|~=|<|>)\s*([0-9][0-9A-Za-z.+\-]*)")


def release(version: str) -> Tuple[int, ...]:
    """(2, 5, 1) for "2.5.1+cu121" or "2.5.1rc2"; pre-releases compare as their release."""
    parts = []
    for piece in version.split("+", 1)[0].split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        parts.append(int(digits.group()))
        if digits.group() != piece:
            break
    return tuple(parts)


def _cmp(a: Tuple[int, ...], b: Tuple[int, ...]) -> int:
    width = max(len(a), len(b))
    a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return (a > b) - (a < b)


def satisfies(version: str, clauses: str) -> bool:
    have = release(version)
    for op, want in _CLAUSE.findall(clauses):
        c = _cmp(have, release(want))
        ok = {"<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0, "==": c == 0, "!=": c != 0,
              "~=": c >= 0 and have[: len(release(want)) - 1] == release(want)[:-1]}[op]
        if not ok:
            return False
    return True


def name_of(requirement: str) -> str:
    match = _REQUIREMENT.match(requirement)
    return match.group(1).lower() if match else requirement.strip().lower()


def unmet(requirement: str, installed: Mapping[str, Optional[str]]) -> Optional[str]:
    """The reason a requirement is not met by `installed`, or None when it is."""
    match = _REQUIREMENT.match(requirement)
    if not match:
        return f"unreadable requirement {requirement!r}"
    name, clauses = match.group(1).lower(), match.group(2)
    version = installed.get(name)
    if version is None:
        return f"requires {requirement} ({name} is not installed)"
    if not satisfies(version, clauses):
        return f"requires {requirement} (have {name} {version})"
    return None
