"""Bad input: one clear line, exit code 2, no traceback, results already written kept."""

import pytest

from helpers import CASES, run_module

BAD = {
    "unknown exporter": (["--exporter", "onnxmagic"], "unknown exporter 'onnxmagic'"),
    "pattern matching nothing": (["--cases", "nothing/here*"], "matches no case"),
    "missing path": (["--cases-from", "no/such/file.py"], "no such file, folder or importable module"),
    "module failing to import": (["--cases-from", str(CASES / "broken_import.py")],
                                 "import failed: ModuleNotFoundError"),
    "unknown module": (["--cases-from", "no_such_module_xyz"], "no such file, folder or importable module"),
    "bad opset": (["--opset", "seventeen"], "--opset seventeen"),
    "bad device": (["--device", "tpu"], "--device tpu"),
    "resume without out": (["--resume"], "--resume needs --out"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_one_line_exit_2(tmp_path, name):
    args, expected = BAD[name]
    out = tmp_path / "kept.jsonl"
    out.write_text('{"schema": 1}\n')
    if "--resume" not in args:
        args = [*args, "--out", str(out)]
    done = run_module("matrix", "run", "--here", *args)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert out.read_text() == '{"schema": 1}\n'
