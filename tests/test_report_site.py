"""The site as people use it to decide an upgrade: the front summary (its counts recomputed from
the cases' CSV files), the charts, the advisor's opening pair, a case page's table; served by a real HTTP
server on the loopback as well as opened from disk; used with the keyboard alone; checked by
axe-core in Chromium. Screenshots go to the test artifacts."""

import functools
import gzip
import http.server
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from packaging.version import Version

from helpers import ARTIFACTS, open_page, shown_results
from matrix.bench.report_history import write_history
from matrix.probe.status import STATUSES
from report_fixtures import OLD, report_of, result, synthetic, two_runs_site, write_run

FAILING = set(STATUSES) - {"pass", "skipped"}


@pytest.fixture(scope="module")
def site(tmp_path_factory, staged_results):
    return two_runs_site(tmp_path_factory, staged_results)


@pytest.fixture(scope="module")
def history_site(tmp_path_factory):
    """Ten nightly runs of 12 cells (five torch, four onnxruntime releases…), torch 2.15 entering
    after the sixth with its release day in the plan, recorded in a history database."""
    root = tmp_path_factory.mktemp("history")
    write_history(root, nights=10, cells=12, results_per_cell=24)
    return report_of(root, tmp_path_factory.mktemp("site") / "report")


@pytest.fixture(scope="module")
def served(history_site):
    """The history site behind Python's own static HTTP server, on a free loopback port."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(history_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def shoot(browser, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / name))


# --- the front summary ------------------------------------------------------------------------

def expected_summary(site: Path):
    """Fixed and broken cases per axis step, computed here from the cases' CSV files alone
    (data/cases/N.csv.gz): a pivot of each result's status by the axis' release, every other
    version held equal."""
    frame = pd.concat([pd.read_csv(csv, dtype=str) for csv in sorted((site / "data" / "cases").glob("*.csv.gz"))])
    frame = frame.fillna("-")
    frame = frame[frame["status"] != "skipped"]
    out = {}
    for axis in ("torch", "onnxruntime", "onnx"):
        releases = sorted(frame[axis].unique(), key=Version)
        if len(releases) < 2:
            continue
        new = releases[-1]
        others = [k for k in ("python", "device", "opset", "torch", "onnx", "onnxruntime") if k != axis]
        if axis != "torch":
            others += ["onnxscript", "transformers", "torchvision", "timm"]
        wide = frame.pivot_table(index=["case", "exporter", *others], columns=axis, values="status", aggfunc="first")
        for old in dict.fromkeys([releases[-2], releases[0]]):  # the release before, the oldest
            both = wide[[old, new]].dropna().reset_index()
            for exporter in ["", *sorted(both["exporter"].unique())]:
                part = both if not exporter else both[both["exporter"] == exporter]
                out[(axis, old, new, exporter, "fixed")] = part[part[old].isin(FAILING) & (part[new] == "pass")][
                    "case"].nunique()
                out[(axis, old, new, exporter, "broken")] = part[(part[old] == "pass") & part[new].isin(FAILING)][
                    "case"].nunique()
    return {k: v for k, v in out.items() if v or not k[3]}  # the page names an exporter where it ran


@pytest.mark.parametrize("which", ["site", "history_site"])
def test_front_summary_counts_equal_those_from_results_csv(browser, which, request):
    out = request.getfixturevalue(which)
    assert open_page(browser, out / "index.html") == []
    expected = expected_summary(out)
    shown = {}
    for row in browser.find_elements("css selector", "tr.upgrade"):
        axis, old, new = (row.get_attribute(f"data-{k}") for k in ("axis", "old", "new"))
        for count in row.find_elements("css selector", "[data-kind]"):
            if count.get_attribute("data-category"):
                continue
            key = (axis, old, new, count.get_attribute("data-exporter"), count.get_attribute("data-kind"))
            if int(count.text) or not key[3]:
                shown[key] = int(count.text)
    assert shown and shown == expected
    if which == "history_site":
        assert shown[("torch", "2.14.0", "2.15.0", "", "broken")] > 0
        shoot(browser, "report-front.png")


def test_a_summary_count_opens_the_grid_on_those_cases(browser, site):
    open_page(browser, site / "index.html")
    link = browser.find_element("css selector", "tr.upgrade[data-axis=torch] td.broken a")
    link.click()
    visible = [r.get_attribute("data-case") for r in browser.find_elements("css selector", "tr.case")
               if r.is_displayed()]
    assert visible == ["dtypes/fp16"]  # passes on torch 2.11, export_error on 2.15 (report_fixtures)
    assert browser.find_element("id", "f-cases").is_displayed()
    browser.find_element("id", "f-clear").click()
    assert len([r for r in browser.find_elements("css selector", "tr.case") if r.is_displayed()]) > 1


def test_since_the_previous_run_is_one_line_when_nothing_changed(browser, tmp_path, staged_results):
    _, second = synthetic(list(staged_results.values()))
    write_run(tmp_path / "r" / "20260101T000000Z-aaaaaa", "run-a", second, 1.0)
    write_run(tmp_path / "r" / "20260102T000000Z-bbbbbb", "run-b", second, 2.0)
    report_of(tmp_path / "r" / "20260102T000000Z-bbbbbb", tmp_path / "site")
    open_page(browser, tmp_path / "site" / "index.html")
    quiet = browser.find_element("id", "changes")
    assert quiet.tag_name == "p" and quiet.text.startswith("Since the previous run run-a: nothing changed")


# --- charts --------------------------------------------------------------------------------------

def test_charts_draw_their_numbers_and_mark_the_release(browser, history_site):
    assert open_page(browser, history_site / "charts.html") == []
    for figure in browser.find_elements("css selector", "figure.chart"):
        svg = figure.find_element("css selector", "svg[role=img]")
        assert svg.find_element("css selector", "title").get_attribute("textContent")
        cells = figure.find_elements("css selector", "table.numbers td")
        numbers = [c.get_attribute("textContent") for c in cells if c.get_attribute("textContent") != "—"]
        bars = figure.find_elements("css selector", "rect")
        if bars:  # one bar per number in the table, as tall as the number says
            assert len(bars) == len(numbers)
            heights = [float(b.get_attribute("height")) for b in bars]
            values = [float(n.rstrip("%")) for n in numbers]
            assert max(heights) / max(values) == pytest.approx(min(h for h, v in zip(heights, values) if v)
                                                               / min(v for v in values if v), rel=0.02)
    trend = browser.find_element("id", "chart-trend")
    assert "10 runs" in trend.text
    assert len(trend.find_elements("css selector", "polyline")) == 6  # torch 2.13, 2.14, 2.15 × 2 exporters
    mark = trend.find_element("css selector", "line.release title").get_attribute("textContent")
    assert mark.startswith("torch 2.15.0 released 2026-01-06")
    assert len(browser.find_elements("css selector", "table.sparks tbody tr")) == 24  # 12 cells × 2 exporters
    browser.execute_script("document.getElementById('chart-trend').scrollIntoView()")
    shoot(browser, "report-charts.png")


# --- the advisor ---------------------------------------------------------------------------------

def test_advisor_names_the_verified_fix_of_each_case_that_breaks(browser, tmp_path):
    """Synthetic results whose failures carry the remedy search's verified fix (bench.common): on
    onnxruntime 1.31.0 every case passes, on 1.32.0 three fail; each row names its fix."""
    from matrix.bench.common import synthetic_result

    rows = []
    for ort in ("1.31.0", "1.32.0"):
        versions = {"torch": "2.15.0", "onnx": "1.23.2", "onnxruntime": ort, "onnxscript": "0.7.2"}
        for k in range(5):
            status = "load_error" if ort == "1.32.0" and k < 3 else "pass"
            rows.append(synthetic_result("run-f", f"torch2.15.0-onnx1.23.2-ort{ort}-py3.11-cpu", k, "dynamo", status,
                                         versions))
    write_run(tmp_path / "run-f", "run-f", rows, 1.0)
    site = report_of(tmp_path / "run-f", tmp_path / "site")
    assert open_page(browser, site / "advisor.html") == []
    shown = {tr.find_element("css selector", "td").text: tr.find_element("css selector", "td.remedy-fix").text
             for tr in browser.find_elements("css selector", "#advice tbody tr")}
    fixed = {r["case"]: r["fix"] for r in shown_results(site) if r["status"] == "load_error"}
    assert sorted(shown) == sorted(fixed) == ["cat0/case_0", "cat1/case_1", "cat2/case_2"]
    assert all(fixed[case] and shown[case] == "breaks, " + fixed[case] for case in shown)


def test_advisor_opens_on_the_pair_that_changes_most_and_points_elsewhere_when_nothing_changes(browser, site):
    from selenium.webdriver.common.keys import Keys

    assert open_page(browser, site / "advisor.html") == []
    picked = {f"{side}-{k}": browser.find_element("id", f"{side}-{k}").get_attribute("value")
              for side in ("from", "to") for k in ("torch", "onnxruntime", "exporter", "device")}
    assert (picked["from-torch"], picked["to-torch"]) == ("2.11.0", "2.15.0")  # the only axis with two releases
    assert picked["from-exporter"] == picked["to-exporter"] == "dynamo"  # torchscript changes nothing there
    assert browser.find_element("id", "advice-summary").text.startswith("2 of ")
    shoot(browser, "report-advisor.png")
    # the same column on both sides: nothing changes, and the page says where something does
    for key in ("torch", "onnx", "onnxruntime", "device", "exporter"):
        value = browser.find_element("id", f"from-{key}").get_attribute("value")
        browser.execute_script("var s = document.getElementById(arguments[0]); s.value = arguments[1]; "
                               "s.dispatchEvent(new Event('change'))", f"to-{key}", value)
    summary = browser.find_element("id", "advice-summary").text
    assert summary.startswith("Nothing changes between these two. The nearest pair that does:")
    button = browser.find_element("id", "advice-nearest")
    button.send_keys(Keys.ENTER)  # the keyboard, as a person without a mouse would
    assert browser.find_elements("css selector", "#advice tbody tr")


# --- a case page ---------------------------------------------------------------------------------

def test_case_page_is_one_table_with_expandable_rows(browser, site):
    from selenium.webdriver.common.keys import Keys

    page = next(p for p in (site / "cases").glob("*.html") if "<h1>blocks/mlp</h1>" in p.read_text())
    assert open_page(browser, page) == []
    results = browser.find_elements("css selector", "table.results tbody.result")
    assert len(results) == 3  # torch 2.11, 2.15 and the cuda column
    heads = [th.text for th in browser.find_elements("css selector", "table.results thead th")]
    assert heads[:8] == ["torch", "onnxruntime", "onnx · device", "exporter", "status", "error kind",
                         "max abs error", "time"]
    drill = results[0].find_element("css selector", "tr.drill")
    assert not drill.is_displayed()
    button = results[0].find_element("css selector", "button.expand")
    assert button.get_attribute("aria-expanded") == "false"
    tab_to(browser, button)
    button.send_keys(Keys.ENTER)
    assert drill.is_displayed() and button.get_attribute("aria-expanded") == "true"
    assert "reproduce" in drill.text
    assert not any(word in drill.text.split() or f"({word})" in drill.text for word in ("null", "undefined", "None"))
    # drawn from the page's shard: the same values and commands as the data say (shown_results)
    index = int(results[0].get_attribute("id")[1:])
    (record,) = [r for r in shown_results(site) if r["index"] == index]
    shown = [pre.text for pre in drill.find_elements("css selector", "dd pre.cmd")]
    assert record["reproduce"] and all(c in shown for c in record["reproduce"])
    row = results[0].find_element("css selector", "tr.row").text
    assert record["torch"] in row and record["status"] in row and record["onnxruntime"] in row
    shoot(browser, "report-case.png")


# --- keyboard only -------------------------------------------------------------------------------

def tab_to(browser, element, limit=400):
    """Press Tab until `element` has the focus: it is reachable with the keyboard alone."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    browser.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    for _ in range(limit):
        if browser.execute_script("return document.activeElement === arguments[0]", element):
            return
        ActionChains(browser).send_keys(Keys.TAB).perform()
    pytest.fail(f"{element.tag_name}#{element.get_attribute('id')} not reached in {limit} Tab presses")


def test_filters_and_advisor_work_with_the_keyboard_alone(browser, site):
    from selenium.webdriver.common.keys import Keys

    open_page(browser, site / "index.html")
    exporter = browser.find_element("id", "f-exporter")
    tab_to(browser, exporter)
    exporter.send_keys(Keys.ARROW_DOWN)  # "all" → the first exporter
    chosen = exporter.get_attribute("value")
    assert chosen
    shown = [th for th in browser.find_elements("css selector", "th.col") if th.is_displayed()]
    assert shown and all(th.text.startswith(chosen) for th in shown)
    open_page(browser, site / "advisor.html")
    before = browser.find_element("id", "advice-summary").text
    picker = browser.find_element("id", "to-exporter")
    tab_to(browser, picker)
    was = picker.get_attribute("value")
    picker.send_keys(Keys.ARROW_UP if browser.execute_script("return arguments[0].selectedIndex", picker) else
                     Keys.ARROW_DOWN)
    assert picker.get_attribute("value") != was
    assert browser.find_element("id", "advice-summary").text != before


# --- accessibility: axe-core -----------------------------------------------------------------

def axe(browser):
    from matrix.bench.axe import violations

    return violations(browser)


@pytest.mark.network  # axe-core from the npm registry, once (then cached)
def test_no_accessibility_violation_on_any_kind_of_page(browser, site, history_site):
    case = next(iter(sorted((site / "cases").glob("*.html"))))
    cell = next(iter(sorted((site / "cells").glob("*.html"))))
    found = {}
    for n, page in enumerate((site / "index.html", site / "advisor.html", site / "workarounds.html",
                              site / "versions.html", history_site / "charts.html", history_site / "index.html",
                              case, cell)):
        open_page(browser, page)
        browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true);"
                               "document.querySelectorAll('button.expand').forEach(b => b.click())")
        found[f"{n} {page.name}"] = axe(browser)
    assert {page: v for page, v in found.items() if v} == {}
    assert len(found) == 8


# --- published: served over HTTP, and from disk -----------------------------------------------

def crawl(browser, start, inside):
    """Every page reachable from `start`, and every link, asset and data download they name
    (resolved by the browser); pages are opened, with no console error allowed."""
    pages, targets, queue = set(), set(), [start]
    while queue:
        url = queue.pop()
        if url in pages:
            continue
        pages.add(url)
        browser.get_log("browser")  # what earlier pages logged is theirs
        browser.get(url)
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], url
        for found in browser.execute_script(
                "return Array.from(document.querySelectorAll('a[href], link[href], script[src], img[src]'))"
                ".map(e => e.href || e.src)"):
            found = found.split("#")[0]
            if not found.startswith(inside):
                continue
            targets.add(found)
            if found.endswith(".html") and found not in pages:
                queue.append(found)
    return pages, targets


def test_every_link_asset_and_download_resolves_over_http_and_from_disk(browser, served, history_site):
    pages, targets = crawl(browser, served + "index.html", served)
    every_page = {str(p.relative_to(history_site)) for p in history_site.rglob("*.html")}
    assert {p[len(served):] for p in pages} == every_page  # each page of the site is linked from another
    statuses = browser.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "Promise.all(arguments[0].map(u => fetch(u).then(r => [u, r.status], e => [u, String(e)]))).then(done);",
        sorted(targets))
    assert [s for s in statuses if s[1] != 200] == []
    assert {served + "data/cases/0.csv.gz", served + "data/results.parquet", served + "assets/report.css",
            served + "assets/data.js", served + "charts.html"} <= targets
    with urllib.request.urlopen(served + "data/cases/0.csv.gz") as response:
        assert gzip.decompress(response.read()).startswith(b"cell,")

    disk_root = history_site.resolve().as_uri() + "/"
    disk_pages, disk_targets = crawl(browser, disk_root + "index.html", disk_root)
    assert {p[len(disk_root):] for p in disk_pages} == {p[len(served):] for p in pages}
    missing = [t for t in disk_targets if not Path(urllib.parse.unquote(urllib.parse.urlparse(t).path)).is_file()]
    assert missing == []


# --- a grid too wide to read: the pivot ----------------------------------------------------------

@pytest.fixture(scope="module")
def wide_site(tmp_path_factory):
    """80 columns (40 cells shaped as the nightly's: export sides × onnxruntimes, two exporters)."""
    from matrix.bench.report_scale import _write_cell

    run = tmp_path_factory.mktemp("wide") / "results" / "run"
    run.mkdir(parents=True)
    for c in range(40):
        _write_cell(run, c, 6)
    return report_of(run, tmp_path_factory.mktemp("site") / "report")


@pytest.mark.network  # axe-core from the npm registry, once (then cached)
def test_a_wide_grid_is_a_pivot_whose_choice_is_in_the_address(browser, wide_site):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    results = pd.read_parquet(wide_site / "data" / "results.parquet")
    assert open_page(browser, wide_site / "index.html") == []
    assert browser.find_elements("css selector", "#pivot") and axe(browser) == []
    browser.get_log("browser")  # axe-core's own attempts to fetch from file:// are not the page's errors

    def shown():
        heads = [th.text for th in browser.find_elements("css selector", "#grid thead th")][1:]
        cells = {}
        for row in browser.find_elements("css selector", "#grid tbody tr.case"):
            for head, td in zip(heads, row.find_elements("css selector", "td")):
                cells[(row.get_attribute("data-case"), head)] = td.get_attribute("class")
        return heads, cells

    def pins():
        return {axis: Select(browser.find_element("id", f"p-{axis}")).first_selected_option.text
                for axis in ("torch", "onnxruntime", "onnx", "opset_label", "device", "exporter")}

    # Across onnxruntime, by keyboard: every cell is the status of exactly that result.
    across = browser.find_element("id", "p-across")
    tab_to(browser, across)
    across.send_keys(Keys.ARROW_DOWN)  # torch → onnxruntime
    heads, cells = shown()
    chosen = pins()
    assert heads and all(h.startswith("onnxruntime ") for h in heads)
    mine = results[(results["torch"] == chosen["torch"]) & (results["onnx"] == chosen["onnx"])
                   & (results["device"] == chosen["device"]) & (results["exporter"] == chosen["exporter"])]
    expected = {(r.case, f"onnxruntime {r.onnxruntime}"): r.status for r in mine.itertuples()}
    assert {k: v.split(" s-")[-1] for k, v in cells.items()} == expected
    assert "across=onnxruntime" in browser.current_url and f"torch={chosen['torch']}" in browser.current_url

    # The address alone gives the same view, and a cell opens its own result on the case page.
    url = browser.current_url
    browser.get("about:blank")
    browser.get(url)
    assert shown() == (heads, cells) and pins() == chosen
    link = browser.find_element("css selector", "#grid tbody tr.case td a")
    case = link.find_element("xpath", "ancestor::tr").get_attribute("data-case")
    column = link.find_element("xpath", "ancestor::td").get_attribute("title").split(" · ")[1]
    link.click()
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    opened = [d for d in browser.find_elements("css selector", "tr.drill") if d.is_displayed()]
    assert len(opened) == 1 and column in opened[0].text and "(CPUExecutionProvider)" in opened[0].text
    assert not any(word in opened[0].text for word in ("null", "undefined"))
    assert browser.find_element("tag name", "h1").text == case
    shoot(browser, "report-pivot-drill.png")


# --- bundles too large to publish ------------------------------------------------------------------

def test_a_bundle_over_the_limit_is_withheld_and_its_result_says_how_to_rebuild_it(browser, tmp_path):
    import os
    import zipfile

    from selenium.webdriver.common.keys import Keys

    from matrix import runfolder

    run = tmp_path / "run-w"
    rows = [result(OLD, "models/big", "dynamo", "load_error", artifacts={"bundle": "models__big--h.zip"}),
            result(OLD, "blocks/small", "dynamo", "load_error", artifacts={"bundle": "blocks__small--h.zip"})]
    write_run(run, "run-w", rows, 1.0)
    (run / "models").mkdir()
    for name, size in (("models__big", 64 * 1024), ("blocks__small", 10)):
        with zipfile.ZipFile(run / "models" / f"{name}--h.zip", "w") as z:  # random bytes: zip cannot shrink them
            z.writestr(f"{name}/model.onnx", os.urandom(size))
    withheld = (run / "models" / "models__big--h.zip").stat().st_size
    assert runfolder.withhold(run / "models", limit=32 * 1024) == withheld
    assert sorted(p.name for p in (run / "models").iterdir()) == ["blocks__small--h.zip",
                                                                 "models__big--h.zip.withheld.json"]

    site = report_of(run, tmp_path / "site")
    shown = {r["case"]: r for r in shown_results(site)}
    assert shown["models/big"]["bundle_withheld"] == withheld and shown["models/big"]["model_link"] is None
    assert shown["blocks/small"]["model_link"] == "../models/blocks__small--h.zip"
    assert sorted(p.name for p in (site / "models").iterdir()) == ["blocks__small--h.zip"]

    page = site / shown["models/big"]["page"]
    assert open_page(browser, page) == []
    button = browser.find_element("css selector", "table.results tbody.result button.expand")
    tab_to(browser, button)
    button.send_keys(Keys.ENTER)
    drill = browser.find_element("css selector", "table.results tbody.result tr.drill")
    assert f"models__big--h.zip: not published ({withheld / 2**20:.1f} MiB" in drill.text
    assert "rebuild it from the same seeded weights" in drill.text
