"""Resolve a spec's selectors against the package index into concrete cells."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Dict, List, Optional, Tuple

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from matrix import constraints
from matrix.constraints import WEEKLY
from matrix.index import Index, Release, fits
from matrix.probe import records
from matrix.spec import LIBRARIES, PACKAGES, Spec, SpecError


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix (python, package versions, device), or one side of it: the export
    side (torch, onnx, onnxscript: writes bundles) or the runtime side (onnx, onnxruntime: checks
    them with onnxruntime alone). A side is an environment of its own; cells that share a side
    share its environment."""

    python: str
    torch: Optional[str]  # None on a runtime side
    onnx: Optional[str]  # None on a runtime side
    onnxruntime: Optional[str]  # None on an export side
    onnxscript: Optional[str]  # None: "auto", chosen by the lock to fit torch
    device: str
    side: str = "both"
    # model libraries of the export side, (name, version); version None: "auto", paired by the lock
    libraries: Tuple[Tuple[str, Optional[str]], ...] = ()
    # what the user's cases need beyond these ([run] requirements): the export side's, not in the id
    extras: Tuple[str, ...] = ()

    @property
    def id(self) -> str:
        if self.side == "export":
            return records.side_id("export", self.python, self.device, torch=self.torch, onnx=self.onnx,
                                   onnxscript=self.onnxscript, **dict(self.libraries))
        if self.side == "runtime":
            return records.side_id("runtime", self.python, self.device, ort=self.onnxruntime)
        return records.cell_id(self.python, self.torch, self.onnx, self.onnxruntime, self.device, self.onnxscript,
                               self.libraries)

    def export_side(self) -> Cell:
        return replace(self, onnxruntime=None, side="export")

    def runtime_side(self) -> Cell:
        return replace(self, torch=None, onnx=None, onnxscript=None, side="runtime", libraries=(), extras=())

    def overrides(self) -> List[str]:
        return constraints.overrides(self.onnx)

    def matrix_requirements(self) -> List[str]:
        """The matrix's own packages (torch, onnx, onnxruntime, onnxscript, libraries), no user's."""
        return constraints.requirements(self.python, self.torch, self.onnx, self.onnxruntime, self.onnxscript,
                                        self.device, self.side, self.libraries)

    def requirements(self) -> List[str]:
        return self.matrix_requirements() + list(self.extras)


@dataclass
class Plan:
    spec: Spec
    cells: List[Cell]
    exporters: List[str]
    opsets: List[Optional[int]]
    notes: List[str] = field(default_factory=list)
    released: Dict[str, Dict[str, str]] = field(default_factory=dict)  # package: {version: upload day}
    where: Dict[str, List[str]] = field(default_factory=dict)  # suite: the ids of the cells it runs in ([suites.X])

    def suites_for(self, cell: Cell, chosen: List[str]) -> List[str]:
        """The chosen suites this cell runs; an export side runs those of any of its cells."""
        ids = {cell.id} if cell.side != "export" else {c.id for c in self.cells if c.export_side() == cell}
        return [s for s in chosen if s not in self.where or ids & set(self.where[s])]

    def sides(self) -> List[Cell]:
        """The environments a split run builds: each distinct export side, then each runtime side."""
        return list(dict.fromkeys([c.export_side() for c in self.cells] + [c.runtime_side() for c in self.cells]))

    def as_json(self) -> Dict:
        def described(c: Cell) -> Dict:
            return {"id": c.id, **asdict(c), "requirements": c.requirements(),
                    "runner_hints": {"gpu": c.device == "cuda"}}

        return {"spec": self.spec.path, "exporters": self.exporters, "opsets": self.opsets,
                "cells": [dict(described(c), export=c.export_side().id, runtime=c.runtime_side().id,
                               suites=self.suites_for(c, self.spec.run.get("suites", ["cases"])))
                          for c in self.cells],
                "sides": [described(s) for s in self.sides()], "released": self.released}


def _newest_per_minor(releases: List[Release]) -> List[Release]:
    groups: Dict[tuple, Release] = {}
    for r in releases:
        groups[r.version.release[:2]] = r  # sorted oldest first, so the newest patch wins
    return list(groups.values())


def select(where: str, selector: str, package: str, releases: List[Release], python: str) -> List[Optional[str]]:
    """Versions a selector names, for this python."""
    if selector == "auto":
        return [None]
    usable = [r for r in releases if any(fits(w, python) for w in r.wheels)]
    final = [r for r in usable if not r.version.is_prerelease and not r.version.is_devrelease]
    if selector == "latest":
        chosen = final[-1:]
    elif selector == "weekly":  # onnx-weekly publishes dev releases only
        chosen = usable[-1:]
    elif selector == "pre":
        chosen = [r for r in usable if r.version.is_prerelease][-1:]
    elif selector.startswith("latest-minors:"):
        chosen = _newest_per_minor(final)[-int(selector.split(":")[1]):]
    elif selector == "every-minor":  # back to the oldest release with a wheel for this Python
        chosen = _newest_per_minor(final)
    else:
        try:
            exact = Version(selector)
        except InvalidVersion:
            exact = None
        if exact is not None:
            if not any(r.version == exact for r in releases):
                newest = final[-1].version if final else "none"
                raise SpecError(f"{where}: {package} {selector} does not exist on the index (newest: {newest})")
            return [selector]
        chosen = _newest_per_minor([r for r in usable if r.version in SpecifierSet(selector, prereleases=False)])
    if not chosen:
        raise SpecError(f"{where}: no {package} release with a Linux wheel for Python {python} matches {selector!r}")
    return [str(r.version) for r in chosen]


KEYWORDS = ("latest", "pre", "auto", "weekly", "every-minor")


def _version_matches(selector: str, value: Optional[str], named: Callable[[], List[Optional[str]]]) -> bool:
    if value is None or selector == "auto":
        return value is None and selector == "auto"
    if selector in KEYWORDS or selector.startswith("latest-minors:"):
        return value in named()
    try:
        return Version(value) == Version(selector)
    except InvalidVersion:
        return Version(value) in SpecifierSet(selector)


def _matches(entry: Dict[str, object], cell: Cell, versions: Callable[..., List[Optional[str]]]) -> bool:
    """Whether an include/exclude entry names this cell (every key it gives matches)."""
    for axis, selector in entry.items():
        value = dict(cell.libraries).get(axis) if axis in LIBRARIES else getattr(cell, axis)
        if axis in PACKAGES or axis in LIBRARIES:
            def named(axis: str = axis, selector: str = str(selector)) -> List[Optional[str]]:
                return versions(cell.python, axis, selector, "")

            if not _version_matches(str(selector), value, named):
                return False
        elif str(value) != str(selector):
            return False
    return True


def resolve(spec: Spec, index: Index) -> Plan:
    cells: List[Cell] = []
    resolved: Dict[str, Dict[str, List[Optional[str]]]] = {}

    def versions(python: str, package: str, selector: str, where: str) -> List[Optional[str]]:
        key = f"{package}:{selector}"
        table = resolved.setdefault(python, {})
        if key not in table:
            source = WEEKLY if selector == "weekly" else package
            table[key] = select(where, selector, source, index.releases(source) if selector != "auto" else [],
                                python)
        return table[key]

    for python, device in itertools.product(spec.axes["python"], spec.axes["device"]):
        # cuda cells install onnxruntime-gpu, whose releases are its own: select among them
        package = {"onnxruntime": "onnxruntime-gpu"} if device == "cuda" else {}
        per_axis = {p: [v for s in spec.axes[p]
                        for v in versions(python, package.get(p, p), s, f"{spec.path}: [matrix] {p}")]
                    for p in PACKAGES}
        libraries = [lib for lib in LIBRARIES if lib in spec.axes]
        per_axis.update({lib: [v for s in spec.axes[lib]
                               for v in versions(python, lib, s, f"{spec.path}: [matrix] {lib}")]
                         for lib in libraries})
        for versions_ in itertools.product(*(dict.fromkeys(per_axis[p]) for p in (*PACKAGES, *libraries))):
            torch, onnx, ort, script = versions_[:4]
            cells.append(Cell(python, torch, onnx, ort, script, device,
                              libraries=tuple(zip(libraries, versions_[4:])), extras=tuple(spec.requirements)))
    for entry in spec.exclude:
        cells = [c for c in cells if not _matches(entry, c, versions)]
    for n, entry in enumerate(spec.include, 1):
        where = f"{spec.path}: [[include]] #{n}"
        python = str(entry.get("python", spec.axes["python"][0]))
        picked = {p: (versions(python, p, str(entry[p]), f"{where} {p}")[-1] if p in entry
                      else versions(python, p, spec.axes[p][0], f"{where} {p}")[-1]) for p in PACKAGES}
        libraries = tuple((lib, versions(python, lib, str(entry.get(lib, spec.axes[lib][0])), f"{where} {lib}")[-1])
                          for lib in LIBRARIES if lib in spec.axes or lib in entry)
        cell = Cell(python, picked["torch"], picked["onnx"], picked["onnxruntime"], picked["onnxscript"],
                    str(entry.get("device", spec.axes["device"][0])), libraries=libraries,
                    extras=tuple(spec.requirements))
        if cell not in cells:
            cells.append(cell)
    if not cells:
        raise SpecError(f"{spec.path}: [[exclude]]: the include/exclude entries leave no cell to run")
    opsets = [None if o == "default" else int(o) for o in spec.axes["opset"]]
    where = {suite: [c.id for c in cells if _matches(entry, c, versions)] for suite, entry in spec.where.items()}
    return Plan(spec, cells, list(spec.axes["exporter"]), opsets, released=_released(cells, index), where=where)


def _released(cells: List[Cell], index: Index) -> Dict[str, Dict[str, str]]:
    """When each chosen release came out, where the index says (the report marks it on its
    trend chart); only packages whose releases were already asked for."""
    out: Dict[str, Dict[str, str]] = {}
    for cell in cells:
        for package in ("torch", "onnx", "onnxruntime"):
            version = getattr(cell, package)
            source = "onnxruntime-gpu" if package == "onnxruntime" and cell.device == "cuda" else package
            day = next((r.uploaded for r in index.asked(source) if str(r.version) == version), None)
            if day:
                out.setdefault(package, {})[version] = day
    return out
