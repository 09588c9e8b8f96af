"""The report, opened in headless Chromium (Debian's chromium + chromedriver, via selenium)."""

import gzip
from pathlib import Path

import pandas as pd
import pytest

from helpers import ARTIFACTS, MATRIX_CELL, choose, open_page
from report_fixtures import HOSTILE, two_runs_site


@pytest.fixture(scope="module")
def site(tmp_path_factory, staged_results):
    return two_runs_site(tmp_path_factory, staged_results)


def visible_cases(browser):
    return [r.get_attribute("data-text").split(" ")[0]
            for r in browser.find_elements("css selector", "tr.case") if r.is_displayed()]


def test_index_loads_without_console_errors_and_screenshot(browser, site):
    assert open_page(browser, site / "index.html") == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report-index.png"))
    text = browser.find_element("tag name", "body").text
    assert "Since the previous run run-a" in text and "1 new failures" in text and "1 fixed" in text
    assert MATRIX_CELL in text  # the newly added version set


def test_filters_change_visible_rows(browser, site):
    open_page(browser, site / "index.html")
    every = visible_cases(browser)
    assert "staged/pass" in every and "blocks/mlp" in every
    choose(browser, "f-category", "blocks")
    assert sorted(visible_cases(browser)) == ["blocks/lstm", "blocks/mlp"]
    choose(browser, "f-category", "")
    choose(browser, "f-status", "mismatch")
    assert sorted(visible_cases(browser)) == ["blocks/mlp", "staged/parity"]
    choose(browser, "f-status", "")
    choose(browser, "f-exporter", "dynamo")
    shown = [th for th in browser.find_elements("css selector", "th.col") if th.is_displayed()]
    assert shown and all(th.text.startswith("dynamo") for th in shown)
    choose(browser, "f-exporter", "")
    choose(browser, "f-device", "cuda")
    shown = [td for td in browser.find_elements("css selector", "td[data-r]") if td.is_displayed()]
    assert len(shown) == 1 and "s-skipped" in shown[0].get_attribute("class")
    choose(browser, "f-device", "")
    box = browser.find_element("id", "f-text")
    box.send_keys("segfault")
    assert visible_cases(browser) == ["staged/segfault"]


def test_drill_down_links_resolve(browser, site):
    open_page(browser, site / "index.html")
    cell = browser.find_element("css selector", "tr.case td.s-crash a")
    href = cell.get_attribute("href")
    cell.click()
    assert browser.current_url == href
    anchor = href.split("#")[1]
    article = browser.find_element("id", anchor)
    text = article.text
    assert "crash" in text and ("SIGSEGV" in text or "SIGABRT" in text)
    assert "reproduce" in text and "python -m matrix run" in text
    for link in browser.find_elements("css selector", "a[href]"):
        target = link.get_attribute("href")
        if target.startswith("file://"):
            assert Path(target.split("#")[0][len("file://"):]).exists(), target


def test_hostile_text_is_shown_and_runs_nothing(browser, site):
    for page in [site / "index.html", *sorted((site / "cases").glob("*.html"))]:
        assert open_page(browser, page) == []
        browser.execute_script("document.querySelectorAll('td,th').forEach(e => e.dispatchEvent("
                               "new MouseEvent('mouseover', {bubbles: true})))")
        assert browser.execute_script("return window.PWNED === undefined")
    open_page(browser, site / "index.html")
    assert HOSTILE.split(" ../")[0] in browser.find_element("tag name", "body").text
    assert not browser.find_elements("css selector", "img[src='x']")
    names = [p.name for p in site.rglob("*")]
    assert not any(".." in n or "/" in n for n in names)


def test_advisor_lists_changed_cases_worst_first(browser, site):
    assert open_page(browser, site / "advisor.html") == []
    choose(browser, "from-torch", "2.11.0")
    choose(browser, "to-torch", "2.15.0")
    for key, value in (("onnx", "1.23.2"), ("onnxruntime", "1.32.0"), ("device", "cpu"), ("exporter", "dynamo")):
        choose(browser, f"from-{key}", value)
        choose(browser, f"to-{key}", value)
    rows = [r.text for r in browser.find_elements("css selector", "#advice tbody tr")]
    assert rows[0].startswith("dtypes/fp16 pass export_error")
    assert any(r.startswith("blocks/mlp mismatch pass") for r in rows)


def test_data_downloads(site):
    """Every result's columns as Parquet, and each case's as gzipped CSV but the run id and the long
    texts; the same rows in both."""
    csvs = sorted((site / "data" / "cases").glob("*.csv.gz"), key=lambda p: int(p.name.split(".")[0]))
    assert csvs and all(gzip.decompress(p.read_bytes()).startswith(b"cell,") for p in csvs)
    columnar = pd.read_parquet(site / "data" / "results.parquet")
    text = pd.concat([pd.read_csv(p) for p in csvs]).set_index(["cell", "case", "exporter"]).loc[
        columnar.set_index(["cell", "case", "exporter"]).index].reset_index()
    assert [c for c in columnar.columns if c not in ("run_id", "error_traceback", "fix_tried")] == sorted(
        text.columns, key=list(columnar.columns).index)
    assert "error_traceback" in columnar and "error_traceback" not in text
    key = ["cell", "case", "exporter", "status", "stage", "error_message"]
    assert columnar[key].astype(str).values.tolist() == text[key].astype(str).values.tolist()
    assert len(columnar) == sum(1 for _ in (site / "index.html").read_text().split("data-r=")[1:])
    junit = list((site / "data" / "junit").glob("*.xml.gz"))
    assert len(junit) == 3 and b"<testsuite" in gzip.decompress(junit[0].read_bytes())
