"""The matrix is data: a TOML spec of axes, selectors, include/exclude and indexes.

Bad specs end with one line naming the file, the place in it and what was
expected (SpecError); nothing here touches the network.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from matrix.errors import SpecError
from matrix.probe import suites
from matrix.probe.search import parse_budget

# What a suite needs in the export sides beyond the cell's packages: torch's operator database
# imports expecttest (torch does not depend on it).
SUITE_REQUIREMENTS = {"aten": "expecttest"}

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the orchestrator's oldest Pythons
    import tomli as tomllib

SPECS = Path(__file__).parent / "specs"
PACKAGES = ("torch", "onnx", "onnxruntime", "onnxscript")
LIBRARIES = ("transformers", "torchvision", "timm")  # model libraries: optional axes of the export side
AXES = ("python", *PACKAGES, *LIBRARIES, "device", "exporter", "opset")
CELL_AXES = ("python", *PACKAGES, *LIBRARIES, "device")  # exporter and opset vary inside a cell
CHOICES = {"device": ("cpu", "cuda"), "exporter": ("torchscript", "dynamo")}
DEFAULTS = {"onnxscript": ["auto"], "device": ["cpu"], "exporter": ["torchscript", "dynamo"], "opset": ["default"]}
TOP_LEVEL = {"description", "matrix", "include", "exclude", "index", "run", "suites", "models"}
RUN_KEYS = {"timeout": (int, float), "cases": str, "cases_from": list, "remedies": bool, "remedy_budget": str,
            "requirements": list, "requirements_file": str, "suites": list}
SELECTOR = re.compile(r"^(latest|pre|auto|weekly|every-minor|latest-minors:[1-9][0-9]*)$")


@dataclass
class Spec:
    path: str
    axes: Dict[str, List[str]]
    include: List[Dict[str, str]] = field(default_factory=list)
    exclude: List[Dict[str, str]] = field(default_factory=list)
    indexes: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    run: Dict[str, Any] = field(default_factory=dict)
    description: str = ""
    # what the user's cases need beyond torch and onnx ([run] requirements and requirements_file):
    # PEP 508 strings, a local path made absolute (installed on export sides and whole cells)
    requirements: List[str] = field(default_factory=list)
    # [suites.NAME]: the cells a suite runs in (an entry as in [[include]]); a suite not named
    # here runs in every cell. The nightly keeps the operator suites to bounded axes with it.
    where: Dict[str, Dict[str, str]] = field(default_factory=dict)
    # [[models]]: models by name (matrix/models.py), a folder relative to the spec's own
    models: List[Dict[str, Any]] = field(default_factory=list)


def find(name_or_path: str) -> Path:
    """A spec by path, or by name under matrix/specs ("default", "nightly")."""
    path = Path(name_or_path)
    if path.exists():
        return path
    named = SPECS / f"{name_or_path}.toml"
    if named.exists():
        return named
    raise SpecError(f"{name_or_path}: no such spec file (built-in specs: "
                    f"{', '.join(p.stem for p in sorted(SPECS.glob('*.toml')))})")


def check_selector(where: str, axis: str, value: Any) -> str:
    if axis == "opset":
        if value == "default" or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            return value
        raise SpecError(f"{where}: expected 'default' or an opset number, got {value!r}")
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where}: expected a string, got {value!r}")
    value = value.strip()
    if axis in CHOICES:
        if value not in CHOICES[axis]:
            raise SpecError(f"{where}: expected one of {', '.join(CHOICES[axis])}, got {value!r}")
        return value
    if SELECTOR.match(value):
        if value == "auto" and axis not in ("onnxscript", *LIBRARIES):
            raise SpecError(f"{where}: 'auto' is only for onnxscript, {', '.join(LIBRARIES)}")
        if value == "weekly" and axis != "onnx":
            raise SpecError(f"{where}: 'weekly' is only for onnx (the onnx-weekly package)")
        return value
    try:
        Version(value)
        return value
    except InvalidVersion:
        pass
    try:
        SpecifierSet(value)
        return value
    except InvalidSpecifier:
        raise SpecError(f"{where}: expected a version, a range such as '>=2.4,<2.7', 'latest', "
                        f"'latest-minors:N', 'every-minor', 'pre' or (onnx) 'weekly', got {value!r}") from None


def _entries(path: str, data: Dict[str, Any], key: str) -> List[Dict[str, Any]]:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise SpecError(f"{path}: [[{key}]]: expected an array of tables")
    return [_entry(f"{path}: [[{key}]] #{n}", entry) for n, entry in enumerate(entries, 1)]


def _entry(where: str, entry: Dict[str, Any]) -> Dict[str, Any]:
    """Cell axes and one selector each: an [[include]], [[exclude]] or [suites.NAME] table."""
    if not entry:
        raise SpecError(f"{where}: empty entry")
    for axis, value in entry.items():
        if axis not in CELL_AXES:
            raise SpecError(f"{where}: unknown axis {axis!r}; expected one of "
                            f"{', '.join(CELL_AXES)} (exporter and opset apply to every cell)")
        entry[axis] = check_selector(f"{where} {axis}", axis, value)
    return entry


def _table(path: str, data: Dict[str, Any], key: str) -> Dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SpecError(f"{path}: [{key}]: expected a table, got {type(value).__name__}")
    return value


def load(name_or_path: str) -> Spec:
    path = str(find(name_or_path))
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: malformed TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}") from None
    unknown = set(data) - TOP_LEVEL
    if unknown:
        raise SpecError(f"{path}: unknown table {sorted(unknown)[0]!r}; expected {', '.join(sorted(TOP_LEVEL))}")
    matrix = data.get("matrix")
    if not isinstance(matrix, dict):
        raise SpecError(f"{path}: [matrix]: missing; expected a table of axes ({', '.join(AXES)})")
    axes: Dict[str, List[Any]] = {}
    for axis, values in matrix.items():
        if axis not in AXES:
            raise SpecError(f"{path}: [matrix] {axis}: unknown axis; expected one of {', '.join(AXES)}")
        values = values if isinstance(values, list) else [values]
        if not values:
            raise SpecError(f"{path}: [matrix] {axis}: empty axis; expected at least one selector")
        axes[axis] = [check_selector(f"{path}: [matrix] {axis}[{i}]", axis, v) for i, v in enumerate(values)]
    for axis in ("torch", "onnx", "onnxruntime"):
        if axis not in axes:
            raise SpecError(f"{path}: [matrix] {axis}: missing; expected a list of selectors such as ['latest']")
    for axis, default in DEFAULTS.items():
        axes.setdefault(axis, list(default))
    axes.setdefault("python", [f"{sys.version_info.major}.{sys.version_info.minor}"])
    if not isinstance(data.get("description", ""), str):
        raise SpecError(f"{path}: description: expected a string")
    indexes = _table(path, data, "index")
    for package, options in indexes.items():
        if package not in (*PACKAGES, *LIBRARIES, "numpy", "onnxruntime-gpu"):
            raise SpecError(f"{path}: [index.{package}]: unknown package; expected one of "
                            f"{', '.join(PACKAGES + LIBRARIES)}")
        if not isinstance(options, dict) or set(options) - {"url", "find-links", "devices", "fallback"}:
            raise SpecError(f"{path}: [index.{package}]: expected keys url, find-links, devices and fallback")
        if not isinstance(options.get("url", ""), str):
            raise SpecError(f"{path}: [index.{package}] url: expected a string")
        devices = options.get("devices", ["cpu"])
        if not isinstance(devices, list) or not devices or set(devices) - {"cpu", "cuda"}:
            raise SpecError(f"{path}: [index.{package}] devices: expected a list of \"cpu\" and \"cuda\"")
        if not isinstance(options.get("fallback", False), bool) or (options.get("fallback") and not options.get("url")):
            raise SpecError(f"{path}: [index.{package}] fallback: expected true or false, with a url")
        links = options.get("find-links", [])
        if not isinstance(links, list) or not all(isinstance(link, str) for link in links):
            raise SpecError(f"{path}: [index.{package}] find-links: expected a list of folders")
    run = _table(path, data, "run")
    for key, value in run.items():
        if key not in RUN_KEYS or not isinstance(value, RUN_KEYS[key]) or (isinstance(value, bool)
                                                                            and RUN_KEYS[key] is not bool):
            raise SpecError(f"{path}: [run] {key}: unknown key or wrong type; expected timeout (seconds), "
                            "cases (patterns), cases_from (list of paths), remedies (true/false), "
                            "remedy_budget (\"COUNT,SECONDS\"), requirements (list of PEP 508 strings), "
                            "requirements_file (a path), suites (list of cases, aten, onnx-node)")
    if "timeout" in run and not run["timeout"] > 0:
        raise SpecError(f"{path}: [run] timeout: must be positive (seconds per result)")
    bad = suites.unknown(run.get("suites", ["cases"])) or ([] if run.get("suites", ["cases"]) else [""])
    if bad:
        raise SpecError(f"{path}: [run] suites: {bad[0]!r} is not a suite; expected some of {', '.join(suites.SUITES)}")
    if not all(isinstance(p, str) for p in run.get("cases_from", [])):
        raise SpecError(f"{path}: [run] cases_from: expected a list of paths")
    try:
        parse_budget(run.get("remedy_budget"))
    except ValueError as exc:
        raise SpecError(f"{path}: [run] remedy_budget {exc}") from None
    requirements = with_suites(extra_requirements(path, run), run.get("suites", ["cases"]))
    return Spec(path=path, axes=axes, include=_entries(path, data, "include"), exclude=_entries(path, data, "exclude"),
                indexes=indexes, run=run, description=str(data.get("description", "")),
                requirements=requirements, where=_where(path, data), models=_models(path, data))


def _models(path: str, data: Dict[str, Any]) -> List[Dict[str, Any]]:
    from matrix.models import from_spec

    entries = data.get("models", [])
    if not isinstance(entries, list):
        raise SpecError(f"{path}: models must be [[models]] tables")
    checked = from_spec(entries, path)
    for entry in checked:
        beside = Path(path).parent / entry["model"]
        if ":" not in entry["model"] and beside.exists():
            entry["model"] = str(beside.resolve())
    return checked


def _where(path: str, data: Dict[str, Any]) -> Dict[str, Dict[str, str]]:
    """[suites.NAME] tables: each an entry of cell axes, as [[include]]'s."""
    tables = _table(path, data, "suites")
    for name, entry in tables.items():
        if name not in suites.SUITES or name == "cases":
            raise SpecError(f"{path}: [suites.{name}]: not an operator suite; expected "
                            + " or ".join(s for s in suites.SUITES if s != "cases"))
        if not isinstance(entry, dict):
            raise SpecError(f"{path}: [suites.{name}]: expected a table of cell axes")
    return {name: _entry(f"{path}: [suites.{name}]", entry) for name, entry in tables.items()}


def with_suites(requirements: List[str], chosen: List[str]) -> List[str]:
    """The extra requirements with what the chosen suites need in the export sides."""
    needed = [SUITE_REQUIREMENTS[s] for s in chosen if s in SUITE_REQUIREMENTS]
    if not needed:
        return requirements
    named = {Requirement(r).name for r in requirements}  # each checked as PEP 508 by requirement()
    return requirements + [r for r in needed if Requirement(r).name not in named]


def extra_requirements(path: str, run: Dict[str, Any]) -> List[str]:
    """[run] requirements, then the lines of requirements_file (relative to the spec), each
    checked as PEP 508; a local path (`mypkg @ file:./mypkg`, or `./mypkg`) made absolute."""
    listed = [(f"{path}: [run] requirements[{n}]", r) for n, r in enumerate(run.get("requirements", []))]
    if "requirements_file" in run:
        file = Path(path).parent / run["requirements_file"]
        try:
            lines = file.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path}: [run] requirements_file: cannot read {file}: {exc}") from None
        listed += [(f"{file}:{n}", line.split(" #")[0].strip()) for n, line in enumerate(lines, 1)
                   if line.strip() and not line.lstrip().startswith("#")]
    return [requirement(where, text, Path(path).parent) for where, text in listed]


def requirement(where: str, text: Any, base: Path) -> str:
    if not isinstance(text, str):
        raise SpecError(f"{where}: expected a string such as \"einops>=0.8\"")
    if text.startswith("-"):
        raise SpecError(f"{where}: {text!r}: pip options are not requirements; name packages (PEP 508)")
    if text.startswith((".", "/")):  # a bare local path: the package in that folder
        text = f"{_project_name(where, base / text)} @ file:{text}"
    try:
        parsed = Requirement(text)
    except InvalidRequirement as exc:
        raise SpecError(f"{where}: {text!r} is not a requirement: {str(exc).splitlines()[0]}") from None
    if parsed.name.lower() in (*PACKAGES, "onnxruntime-gpu", "onnx-weekly"):
        raise SpecError(f"{where}: {parsed.name} is an axis of the matrix; choose its versions in [matrix]")
    if parsed.url and parsed.url.startswith("file:"):
        local = Path(parsed.url[len("file:"):].removeprefix("//"))
        local = local if local.is_absolute() else (base / local).resolve()
        if not (local / "pyproject.toml").exists() and not (local / "setup.py").exists():
            raise SpecError(f"{where}: {local}: no pyproject.toml or setup.py there")
        return f"{parsed.name} @ {local.as_uri()}"
    return str(parsed)


def _project_name(where: str, folder: Path) -> str:
    try:
        with open(folder / "pyproject.toml", "rb") as f:
            return str(tomllib.load(f)["project"]["name"])
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{where}: {folder}: no pyproject.toml with [project] name ({exc})") from None
