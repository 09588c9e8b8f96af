import json
import shutil

import pytest

from helpers import CASES, ensure_chromium, read_results, run_module

# Markers that follow from what a test uses: a test of the Docker engine is a `docker` test
# wherever it lives, one that opens Chromium a `browser` test.
MARKED_BY_FIXTURE = {"engine": "docker", "browser": "browser"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture, marker in MARKED_BY_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)
    # The files that use the Docker engine first (stable, so each file stays whole): they are the
    # longest, and with a file per worker (pytest-xdist's loadfile) the others fill the other workers.
    engine_files = {item.path for item in items if item.get_closest_marker("docker")}
    items.sort(key=lambda item: item.path not in engine_files)


@pytest.fixture(scope="session")
def staged_results(tmp_path_factory):
    """Every staged fixture case through the TorchScript exporter, once per test session."""
    out = tmp_path_factory.mktemp("staged") / "results.jsonl"
    done = run_module("matrix.probe", "--cases-from", CASES / "staged.py", "--cases", "staged/*",
                      "--exporter", "torchscript", "--timeout", "5", "--out", out)
    assert done.returncode == 0, done.stderr
    return {r["case"]: r for r in read_results(out)}


# The fault-injection ledger: tests that inject a fault (ids in fault_registry.FAULTS) record
# it, with how many results should survive it and how many did; the session ends with one line.
_FAULTS = []


class _Fault:
    def __init__(self, nodeid):
        self.nodeid = nodeid

    def inject(self, fault_id, expected=0):
        from fault_registry import FAULTS

        assert fault_id in FAULTS, f"unknown fault {fault_id!r}: add it to tests/fault_registry.py"
        entry = {"id": fault_id, "nodeid": self.nodeid, "expected": expected, "kept": None}
        _FAULTS.append(entry)
        return entry

    @staticmethod
    def kept(entry, count):
        entry["kept"] = count


@pytest.fixture
def fault(request):
    return _Fault(request.node.nodeid)


_OUTCOMES = {}


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _OUTCOMES[report.nodeid] = _OUTCOMES.get(report.nodeid, "passed") if report.passed else report.outcome


def pytest_sessionfinish(session):
    """A pytest-xdist worker hands its ledger to the controller, which prints the one line."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["faults"] = json.dumps(_FAULTS)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: absent when run without it
def pytest_testnodedown(node, error):
    _FAULTS.extend(json.loads(getattr(node, "workeroutput", {}).get("faults", "[]")))


def pytest_terminal_summary(terminalreporter):
    if not _FAULTS:
        return
    survived = sum(1 for f in _FAULTS if _OUTCOMES.get(f["nodeid"]) == "passed")
    lost = sum(f["expected"] - (f["kept"] if f["kept"] is not None else 0) for f in _FAULTS)
    terminalreporter.write_line(f"faults: {len(_FAULTS)} injected, {survived} survived, {lost} results lost")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()
