"""How long the published site takes to show each kind of page, read in Chromium with the
Performance API while a loopback HTTP server serves it: the front page, the grid (the pivot
drawn), a case page (its results drawn) and an opened drill-down; with the console's errors and
axe-core's verdict on each."""

from __future__ import annotations

import functools
import http.server
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, Optional

from matrix.bench import axe

# Until the page's own script has drawn what it shows: its mark, else the load event.
SHOWN = ("var mark = performance.getEntriesByName(arguments[0])[0];"
         "return mark ? mark.startTime : performance.getEntriesByType('navigation')[0].loadEventEnd;")
# A click on a row's details button until the next frame is painted.
OPENED = ("var done = arguments[arguments.length - 1], button = document.querySelector('button.expand');"
          "var start = performance.now(); button.click();"
          "requestAnimationFrame(() => setTimeout(() => done(performance.now() - start), 0));")


def _quiet_handler(folder: Path) -> Any:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass
    return functools.partial(Quiet, directory=str(folder))


def page_times(site: Path) -> Optional[Dict[str, Any]]:
    """{front_ms, grid_ms, case_ms, drill_ms, console_errors}, or None where there is no Chromium."""
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None
    if not (chromium and driver_path):
        return None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _quiet_handler(site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = f"http://127.0.0.1:{server.server_address[1]}/"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="matrix-bench-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--window-size=1400,1000",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    errors = []
    try:
        def shown(url: str, mark: str) -> float:
            driver.get("about:blank")  # a new document each time, not a move within the last one
            driver.get(url)
            errors.extend(e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE")
            return round(driver.execute_script(SHOWN, mark), 1)

        found = {}  # axe-core's WCAG 2 A/AA violations on each page, after it is timed
        front = shown(root + "index.html", "grid-drawn")
        found["front"] = axe.violations(driver)
        grid = shown(root + "index.html#across=onnxruntime", "grid-drawn")
        found["grid"] = axe.violations(driver)
        case = shown(root + "cases/0.html", "results-drawn")
        drill = round(driver.execute_async_script(OPENED), 1)
        found["case, a drill-down open"] = axe.violations(driver)
        errors.extend(e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE")
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    return {"front_ms": front, "grid_ms": grid, "case_ms": case, "drill_ms": drill, "console_errors": errors[:5],
            "axe": {page: v for page, v in found.items() if v}, "axe_pages": len(found)}
