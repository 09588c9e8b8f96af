"""Which cases a run covers: the built-in corpus, users' files and modules, and
the --cases filter."""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import os
import sys
from typing import Any, Iterable, List, Mapping, Sequence

from matrix.probe import suites
from matrix.probe.case import Case
from matrix.probe.cases import MODULES as BUILTIN_MODULES


class BadInput(Exception):
    """Bad command-line input: one line for the user, exit code 2."""


def cases_in(module: object) -> List[Case]:
    found: List[Case] = []
    for value in vars(module).values():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, Case) and item not in found:
                found.append(item)
    return found


def builtin() -> List[Case]:
    cases: List[Case] = []
    for name in BUILTIN_MODULES:
        cases.extend(cases_in(importlib.import_module(f"matrix.probe.cases.{name}")))
    return cases


def _import_file(path: str) -> object:
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)  # so the file can import its own package beside it
    name = "matrix_user_cases_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BadInput(f"--cases-from {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_from(source: str) -> List[Case]:
    """Cases defined in a .py file, every .py file of a folder, or an importable module."""
    try:
        if os.path.isdir(source):
            files = sorted(os.path.join(source, f) for f in os.listdir(source)
                           if f.endswith(".py") and not f.startswith("_"))
            modules = [_import_file(f) for f in files]
        elif os.path.exists(source):
            modules = [_import_file(source)]
        else:
            try:
                modules = [importlib.import_module(source)]
            except ModuleNotFoundError as exc:
                if exc.name and source.startswith(exc.name):
                    raise BadInput(f"--cases-from {source}: no such file, folder or importable module") from None
                raise
    except BadInput:
        raise
    except BaseException as exc:  # noqa: BLE001 -- any failure to import a user's cases is their bad input
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        missing = (" (missing_dependency: name the package in the spec's [run] requirements, or import it inside "
                   "build() so that each cell without it says so)") if isinstance(exc, ModuleNotFoundError) else ""
        raise BadInput(f"--cases-from {source}: import failed: {type(exc).__name__}: {first}{missing}") from None
    cases = [c for m in modules for c in cases_in(m)]
    if not cases:
        raise BadInput(f"--cases-from {source}: defines no matrix.Case")
    return cases


def collect(sources: Sequence[str], patterns: Iterable[str], chosen: Sequence[str] = suites.DEFAULT,
            models: Sequence[Mapping[str, Any]] = ()) -> List[Case]:
    """The cases of the chosen suites ("cases": the corpus, the users' sources and models), filtered."""
    bad = suites.unknown(chosen)
    if bad:
        raise BadInput(f"--suite {bad[0]}: no such suite (choose from {', '.join(suites.SUITES)})")
    cases = builtin() if "cases" in chosen else []
    for source in sources:
        cases.extend(load_from(source))
    if models and "cases" in chosen:
        from matrix.probe import own_models

        try:
            cases.extend(own_models.cases(list(models)))
        except (OSError, ValueError, KeyError) as exc:  # the folder as the cell sees it
            raise BadInput(f"--model: cannot read the model's config here: {exc}") from None
    for suite in chosen:
        if suite != "cases":
            try:
                cases.extend(suites.cases(suite))
            except ImportError as exc:  # the suite's source is missing from this environment
                raise BadInput(f"--suite {suite}: cannot load it here: {exc}") from None
    seen = set()
    for c in cases:
        if c.id in seen:
            raise BadInput(f"case id {c.id!r} is defined twice")
        seen.add(c.id)
    patterns = [p for p in patterns if p]
    if patterns:
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.id, p) for p in patterns)]
        if not cases:
            raise BadInput(f"--cases {','.join(patterns)} matches no case (try --list)")
    return cases
