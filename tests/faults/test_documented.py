"""Every fault the suite injects is documented: its phrase appears in docs/reliability.md, and
every registered fault is injected by some test."""

import re

from fault_registry import FAULTS
from helpers import ROOT


def test_every_fault_maps_to_a_documented_status_or_message():
    page = (ROOT / "docs" / "reliability.md").read_text()
    missing = {fault: phrase for fault, (_, _, phrase) in FAULTS.items() if phrase not in page}
    assert not missing, f"not in docs/reliability.md: {missing}"


def test_every_registered_fault_is_injected_by_a_test():
    sources = "".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    injected = set(re.findall(r'fault\.inject\("([a-z_]+)"', sources))
    injected |= {name for group in re.findall(r"for name in\s*\(([^)]*)\)", sources)
                 for name in re.findall(r'"([a-z_]+)"', group)}
    assert set(FAULTS) <= injected, f"registered but never injected: {sorted(set(FAULTS) - injected)}"
