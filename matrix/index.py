"""Release lists from a package index (PEP 691 JSON), cached on disk with a time-to-live.

When the index cannot be reached, a cached answer of any age is used with a
warning. `MATRIX_INDEX_SNAPSHOT=DIR` answers from recorded files only (tests,
air-gapped machines): DIR/<package>.json in the cache's own format.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List, Optional

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from matrix.errors import IndexUnavailable

DEFAULT_URL = "https://pypi.org/simple"
ACCEPT = "application/vnd.pypi.simple.v1+json"
TTL_S = 3600


@dataclass(frozen=True)
class Release:
    version: Version
    wheels: tuple  # wheel file names
    uploaded: Optional[str] = None  # the day its first wheel was uploaded (PEP 700), where the index says


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "onnx-compat-matrix"


def _slug(url: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", url).strip("_")


class Index:
    def __init__(self, urls: Optional[Dict[str, str]] = None, ttl: float = TTL_S,
                 snapshot: Optional[str] = None, cache: Optional[Path] = None,
                 find_links: Optional[Dict[str, List[str]]] = None) -> None:
        self.urls = urls or {}
        self.find_links = find_links or {}
        self.ttl = ttl
        self.snapshot = snapshot if snapshot is not None else os.environ.get("MATRIX_INDEX_SNAPSHOT")
        self.cache = cache or cache_dir() / "index"
        self._memo: Dict[str, List[Release]] = {}
        self.warnings: List[str] = []  # for the command to say (a stale answer used, and why)

    @classmethod
    def for_spec(cls, indexes: Dict[str, Dict], **kwargs: object) -> Index:
        """The index a spec's [index.*] tables describe (extra URLs and local wheel folders). A
        table for some devices only names where their builds come from, not which releases exist:
        PyTorch's CPU index lists `2.15.0+cpu` for the release PyPI lists as `2.15.0`."""
        return cls(urls={p: o["url"] for p, o in indexes.items() if o.get("url") and "devices" not in o},
                   find_links={p: o.get("find-links", []) for p, o in indexes.items()}, **kwargs)

    def releases(self, package: str) -> List[Release]:
        """Every non-yanked version with at least one wheel, oldest first."""
        if package not in self._memo:
            answer = self._answer(package)
            versions = {k: list(v) for k, v in answer["versions"].items()}
            for folder in self.find_links.get(package, []):  # local wheel folders count as releases too
                for wheel in Path(folder).glob("*.whl"):
                    try:
                        name, version, _, _ = parse_wheel_filename(wheel.name)
                    except (InvalidWheelFilename, InvalidVersion):
                        continue
                    if name == package:
                        versions.setdefault(str(version), []).append(wheel.name)
            releases = []
            uploaded = answer.get("uploaded") or {}  # absent from caches and snapshots made before it was kept
            for text, wheels in versions.items():
                try:
                    releases.append(Release(Version(text), tuple(wheels), uploaded.get(text)))
                except InvalidVersion:
                    continue
            self._memo[package] = sorted((r for r in releases if r.wheels), key=lambda r: r.version)
        return self._memo[package]

    def asked(self, package: str) -> List[Release]:
        """The releases of a package already asked for (none fetched here)."""
        return self._memo.get(package, [])

    def _answer(self, package: str) -> dict:
        if self.snapshot:
            # a recorded answer (JSON, or an index's HTML page) of this package's own index, else of PyPI
            url = self.urls.get(package)
            path = Path(self.snapshot) / (f"{_slug(url.rstrip('/'))}/{package}" if url else package)
            if path.with_suffix(".html").exists():
                return index_page(package, url or DEFAULT_URL, path.with_suffix(".html").read_text(), html=True)
            if not path.with_suffix(".json").exists():
                raise IndexUnavailable(f"{package}: not in the index snapshot {self.snapshot}")
            return json.loads(path.with_suffix(".json").read_text())
        url = self.urls.get(package, DEFAULT_URL).rstrip("/")
        path = self.cache / _slug(url) / f"{package}.json"
        cached = json.loads(path.read_text()) if path.exists() else None
        if cached and time.time() - cached["fetched_at"] < self.ttl:
            return cached
        try:
            answer = self._fetch(url, package)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise IndexUnavailable(f"{package}: the package index {url} answered {exc.code}") from None
            return {"package": package, "url": url, "fetched_at": time.time(), "versions": {}}  # no such package
        except (urllib.error.URLError, OSError, ValueError) as exc:
            if cached:
                age_h = (time.time() - cached["fetched_at"]) / 3600
                self.warnings.append(f"{url} unreachable ({exc}); using the answer cached {age_h:.1f} h ago "
                                     f"for {package}")
                return cached
            raise IndexUnavailable(f"{package}: the package index {url} cannot be reached ({exc}) "
                              "and nothing is cached") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(answer))
        tmp.replace(path)
        return answer

    @staticmethod
    def _fetch(url: str, package: str) -> dict:
        request = urllib.request.Request(f"{url}/{package}/", headers={"Accept": ACCEPT})
        with urllib.request.urlopen(request, timeout=30) as response:
            kind = response.headers.get_content_type()
            body = response.read()
        return index_page(package, url, body.decode("utf-8", "replace"), html=kind == "text/html")


def index_page(package: str, url: str, body: str, html: bool) -> dict:
    """The cached form of an index page: PEP 691 JSON, or PEP 503 HTML (what static indexes
    such as download.pytorch.org's nightly channels serve)."""
    if html:
        parser = _Anchors()
        parser.feed(body)
        files = parser.files
    else:
        files = [(f["filename"], bool(f.get("yanked")), f.get("upload-time"))
                 for f in json.loads(body).get("files", [])]
    versions: Dict[str, List[str]] = {}
    uploaded: Dict[str, str] = {}
    for name, yanked, *when in files:
        if yanked or not name.endswith(".whl"):
            continue
        try:
            _, version, _, _ = parse_wheel_filename(name)
        except (InvalidWheelFilename, InvalidVersion):
            continue
        versions.setdefault(str(version), []).append(name)
        if when and isinstance(when[0], str):
            uploaded[str(version)] = min(uploaded.get(str(version), when[0][:10]), when[0][:10])
    return {"package": package, "url": url, "fetched_at": time.time(), "versions": versions, "uploaded": uploaded}


class _Anchors(HTMLParser):
    """File links of a PEP 503 page: (file name, yanked)."""

    def __init__(self) -> None:
        super().__init__()
        self.files: List[tuple] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "a":
            found = dict(attrs)
            href = urllib.parse.unquote((found.get("href") or "").split("#")[0])
            self.files.append((href.rsplit("/", 1)[-1], "data-yanked" in found))


def fits(wheel: str, python: str, machine: str = "x86_64") -> bool:
    """Whether a wheel installs on Linux `machine` for CPython `python` ("3.11")."""
    try:
        _, _, _, tags = parse_wheel_filename(wheel)
    except (InvalidWheelFilename, InvalidVersion):
        return False
    cp = "cp" + python.replace(".", "")
    minor = int(python.split(".")[1])
    for tag in tags:
        if tag.platform != "any" and not ("linux" in tag.platform and tag.platform.endswith(machine)):
            continue
        if tag.interpreter in (cp, "py3", f"py{python.replace('.', '')}"):
            return True
        if tag.abi == "abi3" and tag.interpreter.startswith("cp3") and int(tag.interpreter[3:] or 0) <= minor:
            return True
    return False


def answering(indexes: Dict[str, Dict], timeout: float = 5.0) -> tuple:
    """(the spec's [index.*] tables, with the URL of each `fallback = true` table that does not
    answer taken out, so that its packages come from the default index; a line per such URL
    saying so). Asked once per run, before anything is resolved."""
    kept, down = dict(indexes), {}
    for package, options in sorted(indexes.items()):
        url = options.get("url")
        if not (url and options.get("fallback")):
            continue
        if url not in down:
            down[url] = _unanswered(f"{url.rstrip('/')}/{package}/", timeout)
        if down[url]:
            kept[package] = {k: v for k, v in options.items() if k not in ("url", "fallback")}
    served = {url: ", ".join(p for p, o in sorted(indexes.items()) if o.get("url") == url) for url in down}
    notes = [f"{url} does not answer ({why}): {served[url]} from the default index instead"
             for url, why in down.items() if why]
    return kept, notes


def _unanswered(url: str, timeout: float) -> Optional[str]:
    """Why the index page at url cannot be read, or None when it answers."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "text/html"}), timeout=timeout):
            return None
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return str(getattr(exc, "reason", exc))
