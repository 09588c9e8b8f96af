"""axe-core, the accessibility engine browsers' own tools use, run on a page open in Chromium:
by the night-size bench (page_timing) and by the report's tests."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import urllib.request
from pathlib import Path
from typing import Any, List

AXE_CORE = ("4.14.1", "e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745")  # version, tarball sha256
RUN = ("var done = arguments[arguments.length - 1];"
       "axe.run(document, arguments[0]).then(r => done(r.violations.map(v => "
       "[v.id, v.help, v.nodes.slice(0, 3).map(n => n.target.join(' '))])), e => done([['error', String(e)]]));")


def script() -> str:
    """axe.min.js from the npm registry's tarball, checked against its recorded hash and cached;
    MATRIX_AXE_JS names a local copy."""
    from matrix.index import cache_dir

    if os.environ.get("MATRIX_AXE_JS"):
        return Path(os.environ["MATRIX_AXE_JS"]).read_text()
    version, digest = AXE_CORE
    cached = cache_dir() / "axe-core" / f"axe-{version}.min.js"
    if not cached.exists():
        url = f"https://registry.npmjs.org/axe-core/-/axe-core-{version}.tgz"
        with urllib.request.urlopen(url, timeout=60) as response:
            body = response.read()
        if hashlib.sha256(body).hexdigest() != digest:
            raise RuntimeError(f"{url}: not the tarball whose hash is recorded")
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            source = tar.extractfile("package/axe.min.js")
            assert source is not None
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(source.read())
    return cached.read_text()


def violations(driver: Any) -> List[Any]:
    """The WCAG 2 A and AA violations axe-core finds on the driver's page: [rule, help, nodes]."""
    driver.execute_script(script())
    # preload off: axe would fetch the stylesheets for a WCAG 2.1 rule it is not asked to run here,
    # which Chromium refuses from file:// with a console error
    return driver.execute_async_script(RUN, {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]},
                                             "preload": False})
