"""What the user's cases need beyond torch and onnx: the spec's [run] requirements, and a
`--cases-from` folder that is a package (it holds a pyproject.toml).

Named requirements are checked against the index at plan time (one that cannot be found is a
SpecError). A local package is built into a wheel first (`uv build`), so that it is locked by
version and hash like everything else, travels into an image's build context, and installs
with no network in the container.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import List, Sequence

from packaging.requirements import Requirement
from packaging.utils import parse_wheel_filename

from matrix.errors import IndexUnavailable, SpecError
from matrix.index import Index, cache_dir
from matrix.lock import tail, uv_bin
from matrix.spec import Spec, requirement

REPRODUCIBLE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip file can hold


def prepare(spec: Spec, cases_from: Sequence[str], index: Index) -> None:
    """Complete spec.requirements (a package folder given with --cases-from joins them), build the
    local packages into wheels (their folders become find-links of spec.indexes) and check that
    every named requirement exists on the index."""
    for source in cases_from:
        folder = Path(source)
        if folder.is_dir() and (folder / "pyproject.toml").exists():
            text = requirement(f"--cases-from {source}", str(folder.resolve()), Path.cwd())
            if text not in spec.requirements:
                spec.requirements.append(text)
    prepared: List[str] = []
    for text in spec.requirements:
        parsed = Requirement(text)
        if parsed.url:
            wheel = build_wheel(parsed.name, Path(parsed.url[len("file://"):]))
            spec.indexes.setdefault(parsed.name, {}).setdefault("find-links", []).append(str(wheel.parent))
            prepared.append(f"{parsed.name}=={parse_wheel_filename(wheel.name)[1]}")
        else:
            _check_on_index(spec.path, parsed, index)
            prepared.append(text)
    spec.requirements[:] = prepared


def build_wheel(name: str, folder: Path) -> Path:
    """The package in `folder` as a wheel, in a folder of the cache of its own."""
    out = cache_dir() / "local-wheels" / name
    shutil.rmtree(out, ignore_errors=True)
    # A fixed SOURCE_DATE_EPOCH makes the same sources the same wheel, byte for byte (setuptools
    # otherwise stamps the build's time into it): the same hash in the lock, the same image.
    done = subprocess.run([uv_bin(), "build", "--wheel", "--out-dir", str(out), str(folder)], capture_output=True,
                          text=True, env=dict(os.environ, SOURCE_DATE_EPOCH=REPRODUCIBLE_EPOCH))
    wheels = sorted(out.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        raise SpecError(f"{folder}: the package does not build into a wheel: {tail(done.stderr, 3)}")
    return wheels[-1]


def _check_on_index(where: str, parsed: Requirement, index: Index) -> None:
    try:
        releases = index.releases(parsed.name)
    except IndexUnavailable as exc:
        raise SpecError(f"{where}: [run] requirements: {parsed}: {exc}") from None
    if not releases:
        raise SpecError(f"{where}: [run] requirements: {parsed.name}: no such package on the index")
    if not any(parsed.specifier.contains(r.version, prereleases=True) for r in releases):
        raise SpecError(f"{where}: [run] requirements: {parsed}: no release matches (newest: {releases[-1].version})")


def names(requirements: Sequence[str]) -> List[str]:
    """The distributions the requirements name (what the probe records the versions of)."""
    return [Requirement(r).name for r in requirements]
