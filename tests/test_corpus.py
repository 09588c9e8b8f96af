"""The built-in corpus: every reference runs, builds are deterministic, ids are stable,
requirements are honoured, and docs/corpus.md's table is what the code says."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement

from matrix.probe import corpus
from matrix.probe import export_side as stages
from matrix.probe.tasks import skip_reason
from matrix.probe.versions import unmet

ROOT = Path(__file__).resolve().parent.parent
CASES = corpus.builtin()
IDS = [c.id for c in CASES]


def _tensors(value):
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def test_ids_are_unique_and_every_recorded_id_still_exists():
    assert len(IDS) == len(set(IDS)) >= 40
    recorded = (ROOT / "tests" / "data" / "corpus_ids.txt").read_text().split()
    missing = sorted(set(recorded) - set(IDS))
    # An id is the key of a case's history and of users' bookmarks: renaming one loses both.
    assert not missing, f"built-in case ids disappeared (renamed?): {missing}; add new ids to tests/data/corpus_ids.txt"


def test_every_workaround_names_an_existing_problem_case():
    for case in CASES:
        if case.fixes:
            assert case.fixes in IDS and case.fixes != case.id, case.id


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reference_runs_eagerly_and_two_builds_are_identical(case):
    model, args = stages.build_case(case, "cpu")
    outputs = stages.eager(model, args, "cpu")
    assert outputs, f"{case.id}: the model returned no tensors"
    again_model, again_args = stages.build_case(case, "cpu")
    for a, b in zip(_tensors([v for _, v in args.items()]), _tensors([v for _, v in again_args.items()])):
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)  # a missing reading is NaN in both
    state, again = model.state_dict(), again_model.state_dict()
    assert state.keys() == again.keys()
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and not value.is_quantized:
            assert torch.equal(value, again[name]), f"{case.id}: {name} differs between two builds"
    for (expected, _), (actual, _) in zip(outputs, stages.eager(again_model, again_args, "cpu")):
        torch.testing.assert_close(torch.as_tensor(actual), torch.as_tensor(expected), rtol=0, atol=0, equal_nan=True,
                                   msg=f"{case.id}: outputs differ")


def test_requirements_are_valid_and_honoured():
    with_requirements = [c for c in CASES if c.requires]
    assert {"layers/library_custom_op", "control/tensor_if_cond"} <= {c.id for c in with_requirements}
    for case in with_requirements:
        for text in case.requires:
            requirement = Requirement(text)
            if not requirement.specifier:  # a model library: any version, as long as the cell holds it
                assert unmet(text, {}) == f"requires {text} ({requirement.name} is not installed)"
                continue
            old = "2.0.1" if requirement.name == "torch" else "0.0.1"
            assert unmet(text, {requirement.name: old}) == f"requires {text} (have {requirement.name} {old})"
    cond = next(c for c in CASES if c.id == "control/tensor_if_cond")

    class Exporters:  # the exporter side of skip_reason: every exporter available
        @staticmethod
        def unavailable(exporter, opset):
            return None

    assert skip_reason(cond, "dynamo", None, "cpu", Exporters, {"torch": "2.4.1"}, False) == \
        "requires torch>=2.5 (have torch 2.4.1)"
    assert skip_reason(cond, "dynamo", None, "cpu", Exporters, {"torch": "2.5.0"}, False) is None


@pytest.mark.parametrize("command", [("cases", "docs/corpus.md"), ("cases", "docs/families.md"),
                                     ("families", "docs/families.md"), ("remedies", "docs/remedies.md")])
def test_generated_pages_are_current(command):
    done = subprocess.run([sys.executable, "-m", "matrix", command[0], "--check", command[1]], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command,line,fault", [
    ("families", "| `models/bert` |", "lack models/bert"),
    ("remedies", "| `version_convert` | version | the exported file |", "registry differs from the code"),
])
def test_a_stale_generated_page_fails_its_check(tmp_path, command, line, fault):
    """A table row the code no longer agrees with is caught, with the command that rewrites it."""
    source = ROOT / "docs" / f"{command}.md"
    page = tmp_path / source.name
    page.write_text("\n".join(row for row in source.read_text().split("\n") if not row.startswith(line)))
    done = subprocess.run([sys.executable, "-m", "matrix", command, "--check", str(page)], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 1 and fault in done.stderr and "Traceback" not in done.stderr
