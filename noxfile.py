"""Sessions stay thin: each installs what it needs and calls `python -m matrix …` or pytest."""

from __future__ import annotations

import os

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "uv|virtualenv"

# The environment the test suite itself runs in (one cell's worth of versions).
TEST_CELL = ("torch==2.13.0", "onnx==1.23.2", "onnxruntime==1.32.0", "onnxscript==0.7.2")


def _env() -> dict:
    # uv does not read pip's configuration; pass on pip's local wheel folder if there is one.
    links = os.environ.get("PIP_FIND_LINKS")
    return {"UV_FIND_LINKS": links} if links else {}


@nox.session(default=True)
def tests(session: nox.Session) -> None:
    """The test suite, with the real torch, onnx and onnxruntime."""
    session.install("-e", ".[test]", *TEST_CELL, env=_env())
    session.run("pytest", *session.posargs)


@nox.session(name="run-here", default=False)
def run_here(session: nox.Session) -> None:
    """The corpus against the pinned test cell: nox -s run-here -- --cases 'dynamic/*'."""
    session.install("-e", ".", *TEST_CELL, env=_env())
    session.run("python", "-m", "matrix", "run", "--here", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks whose figures go in the README."""
    session.install("-e", ".", *TEST_CELL, env=_env())
    session.run("python", "-m", "matrix", "bench", *(session.posargs or ["isolation"]))


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "matrix", "tests", "noxfile.py")
