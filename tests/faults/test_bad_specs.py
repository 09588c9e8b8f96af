"""Malformed and contradictory specs: each is one line naming the file, the place and the
problem, exit code 2 from the command line, and never a traceback. Twenty-odd written by
hand, then as many more as hypothesis generates."""

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import ROOT, run_module
from matrix.index import Index, IndexUnavailable
from matrix.plan import resolve
from matrix.spec import SpecError, load

INDEX = Index(snapshot=str(ROOT / "tests" / "data" / "index"))
BASE = '[matrix]\ntorch=["latest"]\nonnx=["latest"]\nonnxruntime=["latest"]\n'
BAD = {
    "table header unclosed": ("[matrix\ntorch = 1", "malformed TOML"),
    "duplicate key": (BASE + 'torch=["2.4.1"]\n', "malformed TOML"),
    "not UTF-8": (BASE.encode() + b'description = "\xff\xfe"\n', "cannot read"),
    "matrix is a string": ('matrix = "all"\n', "[matrix]: missing"),
    "axis is a table": ('[matrix]\nonnx=["latest"]\nonnxruntime=["latest"]\n[matrix.torch]\nv = 1\n',
                        "[matrix] torch[0]: expected a string"),
    "selector is a number": ('[matrix]\ntorch=[2.4]\nonnx=["latest"]\nonnxruntime=["latest"]\n',
                             "[matrix] torch[0]: expected a string"),
    "selector is empty": ('[matrix]\ntorch=[" "]\nonnx=["latest"]\nonnxruntime=["latest"]\n',
                          "[matrix] torch[0]: expected a string"),
    "latest-minors of zero": (BASE.replace('"latest"', '"latest-minors:0"', 1),
                              "[matrix] torch[0]: expected a version"),
    "range that is not one": (BASE.replace('"latest"', '">=2.4,,<"', 1), "[matrix] torch[0]: expected a version"),
    "weekly torch": (BASE.replace('"latest"', '"weekly"', 1), "'weekly' is only for onnx"),
    "opset zero": (BASE + "opset=[0]\n", "[matrix] opset[0]: expected 'default' or an opset number"),
    "opset true": (BASE + "opset=[true]\n", "[matrix] opset[0]: expected 'default' or an opset number"),
    "unknown exporter": (BASE + 'exporter=["tflite"]\n', "[matrix] exporter[0]: expected one of"),
    "python as number": (BASE + "python=[3.11]\n", "[matrix] python[0]: expected a string"),
    "index not a table": ('index = "https://example.invalid"\n' + BASE, "[index]: expected a table"),
    "index for another package": (BASE + '[index.tensorflow]\nurl = "https://example.invalid"\n',
                                  "[index.tensorflow]: unknown package"),
    "index key unknown": (BASE + '[index.torch]\nmirror = "x"\n',
                          "[index.torch]: expected keys url, find-links, devices and fallback"),
    "index url not a string": (BASE + '[index.torch]\nurl = 3\n', "[index.torch] url: expected a string"),
    "index for an unknown device": (BASE + '[index.torch]\nurl = "https://example.invalid"\ndevices = ["rocm"]\n',
                                    '[index.torch] devices: expected a list of "cpu" and "cuda"'),
    "index fallback without a url": (BASE + '[index.torch]\nfallback = true\n',
                                     "[index.torch] fallback: expected true or false, with a url"),
    "run not a table": ('run = "fast"\n' + BASE, "[run]: expected a table"),
    "run timeout negative": (BASE + '[run]\ntimeout = -5\n', "[run] timeout: must be positive"),
    "run cases_from not paths": (BASE + '[run]\ncases_from = [1, 2]\n', "[run] cases_from: expected a list of paths"),
    "exclude not an array": ('exclude = "torch"\n' + BASE, "[[exclude]]: expected an array of tables"),
    "include empty entry": (BASE + '[[include]]\n', "[[include]] #1: empty entry"),
    "include unknown axis": (BASE + '[[include]]\nrocm = "6"\n', "[[include]] #1: unknown axis 'rocm'"),
    "exclude everything": (BASE + '[[exclude]]\ndevice = "cpu"\n', "leave no cell"),
    "version not on the index": (BASE.replace('"latest"', '"2.99.0"', 1), "torch 2.99.0 does not exist on the index"),
    "description not a string": ('description = 3\n' + BASE, "description: expected a string"),
}


def check(path, fault=None):
    """Load and resolve; a SpecError must be one line naming the file."""
    try:
        resolve(load(str(path)), INDEX)
    except SpecError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message, message
        return message
    except IndexUnavailable as exc:  # a package the recorded index does not hold: also one line
        assert "\n" not in str(exc)
        return str(exc)
    return None


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_spec_is_one_line_naming_file_place_and_problem(tmp_path, name, fault):
    fault.inject("bad_spec")
    text, expected = BAD[name]
    path = tmp_path / "spec.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    message = check(path)
    assert message is not None and expected in message, message


def test_bad_spec_from_the_command_line_is_exit_2_and_one_line(tmp_path, fault):
    fault.inject("bad_spec")
    for n, name in enumerate(("index not a table", "run not a table", "include unknown axis")):
        path = tmp_path / f"spec{n}.toml"
        path.write_text(BAD[name][0])
        for command in (["plan"], ["run", "--results", str(tmp_path / "results")], ["images", "--render-only"]):
            done = run_module("matrix", *command, "--spec", path,
                              env_extra={"MATRIX_INDEX_SNAPSHOT": str(Path(INDEX.snapshot))})
            assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
            (line,) = done.stderr.strip().splitlines()
            assert BAD[name][1] in line and str(path) in line
    assert not (tmp_path / "results").exists()


KEYS = ["matrix", "run", "index", "include", "exclude", "description", "torch", "onnx", "onnxruntime",
        "onnxscript", "python", "device", "exporter", "opset", "timeout", "cases", "cases_from", "url",
        "find-links", "x"]
SCALARS = st.one_of(st.integers(-5, 30), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                    st.sampled_from(["latest", "pre", "auto", "weekly", "latest-minors:2", "2.4.1", ">=2.4,<2.7",
                                     "cpu", "cuda", "dynamo", "torchscript", "default", "3.11", "", "../x", "☃"]),
                    st.text(string.printable, max_size=8))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
                      max_leaves=8)


def _toml(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + "}"


TOP = ["matrix", "matrix", "matrix", "run", "index", "include", "exclude", "description", "x"]
EDITS = st.lists(st.tuples(st.sampled_from(TOP), st.one_of(st.none(), st.sampled_from(KEYS), st.sampled_from(KEYS)),
                           VALUES), max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(EDITS, st.integers(0, 3))
def test_generated_specs_either_load_or_fail_in_one_line(tmp_path, edits, cut):
    """A valid spec, edited at random places with random values (and sometimes cut short)."""
    document = {"matrix": {"torch": ["latest"], "onnx": ["latest"], "onnxruntime": ["latest"]}}
    for key, inner, value in edits:
        if inner is None:
            document[key] = value
        else:
            table = document.setdefault(key, {})
            if isinstance(table, dict):
                table[inner] = value
    text = "".join(f'"{k}" = {_toml(v)}\n' for k, v in document.items())
    path = tmp_path / "generated.toml"
    path.write_text(text[: len(text) // 2] if cut == 0 else text)
    check(path)
