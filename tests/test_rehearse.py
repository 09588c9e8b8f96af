"""The rehearsal's stand-ins for GitHub Actions, checked without running a night (the rehearsal
itself runs 18 onnxruntime environments: `python -m matrix rehearse`, figures in docs/nightly.md):
the slice is a valid spec narrowed as said, every expression of the workflow's steps is one it
can fill (so a changed workflow is noticed, not half-rehearsed), and an artifact holds what the
upload step's paths name, its exclusions left out."""

import pytest

from matrix import rehearse
from matrix.spec import load


def test_the_slice_is_the_nightly_narrowed_to_one_torch_one_onnx_on_cpu(tmp_path):
    path = tmp_path / "slice.toml"
    path.write_text(rehearse.slice_spec("blocks/*"))
    spec = load(str(path))  # what `run --spec` reads: a valid spec
    assert spec.run["cases"] == "blocks/*" and spec.run["remedies"] is True
    sliced = rehearse.tomllib.loads(path.read_text())
    whole = rehearse.tomllib.loads(rehearse.NIGHTLY.read_text())
    assert "include" in whole and "include" not in sliced  # the weekly onnx cell is not part of the slice
    assert sliced["matrix"] == dict(whole["matrix"], torch=["latest-minors:1"], onnx=["latest-minors:1"],
                                    device=["cpu"])


def test_every_expression_of_the_workflows_steps_is_filled_or_refused_by_name(tmp_path):
    rehearsal = rehearse.Rehearsal(tmp_path, tmp_path / "slice.toml", "venv", print)
    rehearsal.outputs["plan"] = {"exports": "[]", "runtimes": "[]", "run_id": "RUN"}
    side = {"export": "export-torch2.15.0-onnx1.23.2-py3.11-cpu", "device": "cpu", "gpu": False}
    filled = []
    for name in ("plan", "export", "report"):
        for step in rehearsal.workflow["jobs"][name]["steps"]:
            for text in [step.get("run", ""), *map(str, (step.get("with") or {}).values()),
                         *map(str, (step.get("env") or {}).values())]:
                filled.append(rehearsal.fill(text, side))
    assert not any("${{" in text for text in filled)
    assert any('--side "$EXPORT"' in text for text in filled) and "side-export-torch2.15.0" in " ".join(filled)
    with pytest.raises(rehearse.RehearsalError, match="cannot stand in for"):
        rehearsal.fill("${{ secrets.TOKEN }}", side)


def test_an_artifact_holds_what_the_upload_names_less_its_exclusions(tmp_path):
    run = tmp_path / "results" / "RUN"
    for name in ("run.json", "cell.jsonl", "models/a.zip", "bundles/side/case/model.onnx"):
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(name)
    chosen = rehearse._files(tmp_path, "results/RUN/\n!results/RUN/bundles/\n")
    assert sorted(str(p.relative_to(run)) for p in chosen) == ["cell.jsonl", "models/a.zip", "run.json"]
    assert rehearse._zipped(chosen, tmp_path, tmp_path / "a.zip") > 0
