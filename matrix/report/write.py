"""Render the site: pages from reports/templates, data downloads, JUnit XML per cell."""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import re
import shlex
import shutil
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Dict, List, Optional

import jinja2
import pandas as pd
import pyarrow as pa
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pyarrow import csv as pa_csv
from pyarrow import parquet

from matrix import explain, runfolder
from matrix.probe.status import EXPORT_STAGES, STAGES, STATUSES
from matrix.report import aggregate, charts, frontier_page, operators_page, shards, summary
from matrix.report.load import Run

REPORTS = Path(__file__).resolve().parents[2] / "reports"
# Past this many grid columns (cells × exporters × opsets) the grid is a pivot: one axis runs
# across, the others are pinned, chosen by the reader (a night has 1,262 columns; nobody reads that).
PIVOT_COLUMNS = 64
PIVOT_AXES = ("torch", "onnxruntime", "onnx", "opset_label", "device", "exporter")
JUNIT_LINES = 8
JUNIT_FIELDS = ("category", "case", "exporter", "opset_label", "seconds", "status", "reason", "error_message",
                "error_traceback")


def safe_name(text: str) -> str:
    """A file name that cannot leave its folder, whatever a cell id holds."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".")[:150] or "_"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def spec_label(spec: Optional[str]) -> Optional[str]:
    """How the report names the spec: a built-in one by name, another by the path it was given
    as, but never an absolute path of the machine that ran it (its file name instead)."""
    if not spec:
        return spec
    path = Path(spec)
    if path.parent.name == "specs" and path.parent.parent.name == "matrix":
        return path.stem
    return path.name if path.is_absolute() else spec


def junit(cell: str, part: List[Dict[str, Any]]) -> bytes:
    suite = ET.Element("testsuite", name=cell, tests=str(len(part)),
                       failures=str(sum(r["status"] in aggregate.FAILING for r in part)),
                       skipped=str(sum(r["status"] == "skipped" for r in part)))
    for rec in part:
        case = ET.SubElement(suite, "testcase", classname=str(rec["category"]),
                             name=f"{rec['case']}[{rec['exporter']},opset={rec['opset_label']}]",
                             time=str(_clean(rec["seconds"]) or 0))
        if rec["status"] == "skipped":
            ET.SubElement(case, "skipped", message=str(rec["reason"] or ""))
        elif rec["status"] != "pass":
            failure = ET.SubElement(case, "failure", type=rec["status"], message=str(rec["error_message"] or ""))
            # the traceback's last lines (the failing frames and the message): a nightly's 631
            # files with whole tracebacks were most of the site; the case page has the excerpt whole
            failure.text = "\n".join(str(rec["error_traceback"] or "").splitlines()[-JUNIT_LINES:])
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def write_report(run: Run, earlier: List[Run], out: Path, regressions: Optional[List[Dict[str, Any]]] = None,
                 bisects: Optional[List[Dict[str, Any]]] = None, rates: Optional[Any] = None) -> Dict[str, Any]:
    """The site under `out`, replaced whole. earlier: the runs before this one, newest first;
    rates: pass counts per run and column over the whole history (else from `earlier`)."""
    frame = aggregate.prepare(run.frame)
    cols = aggregate.columns(frame)
    case_rows = aggregate.rows(frame)
    pairs = aggregate.workarounds(frame, cols)
    page_of = {r["case"]: n for n, r in enumerate(case_rows)}
    position = {c["column"]: c["index"] for c in cols}
    lookup = {(rec.case, rec.column): i for i, rec in enumerate(frame[["case", "column"]].itertuples(index=False))}
    status_of = frame["status"].tolist()
    pivot = len(cols) > PIVOT_COLUMNS
    grid = []  # the whole grid, drawn here; a pivot's cells are drawn by pivot.js from the advisor's data
    for r in case_rows if not pivot else ():
        found = [lookup.get((r["case"], c["column"])) for c in cols]
        grid.append([(i, status_of[i] if i is not None else None, c) for i, c in zip(found, cols)])
    statuses = list(STATUSES)
    cell_page = {cell: safe_name(cell) for cell in frame["cell"].unique()}
    exported = {e["id"]: e.get("image") for e in run.meta.get("exports", [])}
    # a split cell: (its export side's image, its runtime image); a whole cell: its image
    images = {c["id"]: (exported.get(c["export"]), c["image"]) if c.get("export") else c["image"]
              for c in run.meta.get("cells", []) if c.get("image")}
    spec = (run.meta.get("spec") or {}).get("path")
    spec_name = spec_label(spec)
    hover = [] if pivot else [[statuses.index(r.status), _clean(r.stage), _clean(r.error_message),
                               _clean(r.max_abs_err), page_of[r.case], position[r.column]]
                              for r in frame[["status", "stage", "error_message", "max_abs_err", "case",
                                              "column"]].itertuples(index=False)]

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(REPORTS / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["utc"] = lambda t: time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t)) if t else "—"
    common = {"run": run.meta, "run_id": run.run_id, "statuses": STATUSES, "stages": STAGES,
              "warnings": run.warnings, "families": aggregate.families(frame)}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        (tmp / "cases").mkdir()
        (tmp / "cells").mkdir()
        (tmp / "data" / "junit").mkdir(parents=True)
        shutil.copytree(REPORTS / "assets", tmp / "assets")
        frame = _copy_models(run.path / "models", tmp / "models", frame)
        opens = summary.advisor_default(frame, cols)
        (tmp / "assets" / "data.js").write_text(shards.script("MATRIX", {
            "statuses": statuses, "glyphs": [s.glyph for s in STATUSES.values()], "results": hover,
            "advisor": dict(aggregate.advisor_data(frame, cols), opens=opens)}))
        history_rates = rates if rates is not None else charts.rates_of([run, *earlier])
        by_torch = charts.bars(frame, "torch", "exporter",
                               sorted(frame["torch"].dropna().unique(), key=aggregate.parse_version))
        categories = sorted({r["category"] for r in case_rows})
        (tmp / "index.html").write_text(env.get_template("index.html.j2").render(
            **common, root="", columns=cols, rows=case_rows, grid=grid, page_of=page_of, categories=categories,
            pivot={a: sorted(sorted({c[a] for c in cols}), key=aggregate.parse_version, reverse=True)
                   for a in PIVOT_AXES} if pivot else None,
            torch_groups=aggregate.groups(cols, ["torch"]),
            ort_groups=aggregate.groups(cols, ["torch", "onnxruntime"]),
            onnx_groups=aggregate.groups(cols, ["torch", "onnxruntime", "onnx", "device", "cell"]),
            cell_page=cell_page, exporters=sorted({c["exporter"] for c in cols}),
            devices=sorted({c["device"] for c in cols}),
            changes=aggregate.changes(frame, earlier[0] if earlier else None), spec=spec_name,
            regressions=regressions or [], upgrades=summary.upgrades(frame),
            own_models=aggregate.own_models(frame, page_of),
            strip=None if pivot else charts.columns_strip(cols),  # a bar per column: unreadable past a pivot's size
            by_torch=by_torch))
        (tmp / "charts.html").write_text(env.get_template("charts.html.j2").render(
            **common, root="", by_torch=by_torch, by_family=charts.bars(frame, "category", "exporter"),
            trend=charts.trend(history_rates, (run.meta.get("plan") or {}).get("released") or {}),
            sparks=charts.sparklines(history_rates, cols)))
        histories = aggregate.history([run, *earlier])
        (tmp / "data" / "cases").mkdir()
        (tmp / "data" / "texts").mkdir()
        (tmp / "data" / "cells.js").write_text(shards.script("MATRIX_CELLS", {
            "pages": cell_page, "glyphs": {s.name: s.glyph for s in STATUSES.values()},
            "commands": shards.templates(cell_page, spec_name, images)}))
        # only the columns a shard holds: splitting all 70 (Arrow-backed strings) cost seconds a night
        shown = [c for c in frame.columns if c in shards.FIELDS or c == "column"]
        by_case = {case: part for case, part in frame[shown].groupby("case")}
        for row in case_rows:
            page = page_of[row["case"]]
            part = by_case[row["case"]]
            results = part.assign(index=part.index, column_index=part["column"].map(position)).sort_values(
                "column_index", kind="stable")
            shard, texts = shards.split(shards.case_shard(results))
            (tmp / "data" / "cases" / f"{page}.js").write_text(shards.script("MATRIX_CASE", shard))
            if not (tmp / "data" / "texts" / f"{shard['texts']}.js").exists():
                (tmp / "data" / "texts" / f"{shard['texts']}.js").write_text(texts)
            (tmp / "cases" / f"{page}.html").write_text(env.get_template("case.html.j2").render(
                **common, root="../", row=row, page=page, texts=shard["texts"], results=len(part),
                history=histories.get(row["case"], []),
                fixes_page=page_of.get(row["fixes"]), fixed_by=[r for r in case_rows if r["fixes"] == row["case"]],
                page_of=page_of, cell_page=cell_page, columns=cols, verdicts=aggregate.VERDICTS,
                pairs=[p for p in pairs if row["case"] in (p["problem"], p["workaround"])],
                bisects=[b for b in bisects or [] if b["case_id"] == row["case"]]))
        recorded = {c["id"]: c for c in run.meta.get("cells", [])}
        for cell, part in frame.groupby("cell"):
            name = safe_name(cell)
            # gzipped: 631 cells' JUnit files were a third of a night's site; CI tools read them unzipped
            (tmp / "data" / "junit" / f"{name}.xml.gz").write_bytes(
                gzip.compress(junit(cell, _records(part[list(JUNIT_FIELDS)])), mtime=0))
            first = part.iloc[0]
            (tmp / "cells" / f"{name}.html").write_text(env.get_template("cell.html.j2").render(
                **common, root="../", cell=cell, first=first.to_dict(), environment=json.loads(first["environment"]),
                counts=part["status"].value_counts().to_dict(), junit=f"../data/junit/{name}.xml.gz",
                extras=_extras(recorded.get(cell, {}))))
        (tmp / "workarounds.html").write_text(env.get_template("workarounds.html.j2").render(
            **common, root="", pairs=pairs, columns=cols, page_of=page_of, verdicts=aggregate.VERDICTS,
            remedies=aggregate.remedies(frame)))
        (tmp / "advisor.html").write_text(env.get_template("advisor.html.j2").render(**common, root="", opens=opens))
        (tmp / "versions.html").write_text(env.get_template("versions.html.j2").render(
            **common, root="", versions=frontier_page.page(run.path)))
        (tmp / "operators.html").write_text(env.get_template("operators.html.j2").render(
            **common, root="", ops=operators_page.page(frame, page_of)))
        (tmp / "data" / "errors.js").write_text(shards.script("MATRIX_ERRORS", {"patterns": explain.patterns()}))
        (tmp / "errors.html").write_text(env.get_template("errors.html.j2").render(
            **common, root="", errors=explain.signatures(frame, page_of, earlier), seen=explain.seen))
        downloads(frame, tmp / "data", page_of)
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"results": len(frame), "cells": frame["cell"].nunique(), "cases": len(case_rows),
            "index_bytes": os.path.getsize(out / "index.html")}


CSV_LEFT_OUT = ("run_id", "error_traceback", "fix_tried")


def downloads(frame: Any, folder: Path, page_of: Dict[str, int]) -> None:
    """Every result's columns, for pandas, DuckDB or a spreadsheet: data/results.parquet (zstd; a
    night's 214,000 results in 0.6 MiB, since its columns repeat), and each case's as
    data/cases/N.csv.gz without the long texts (tracebacks, the remedy search's tries), which CSV
    repeats in every row. Per case, because CSV does not compress like Parquet: one file for the
    night was 8 MiB, rewritten whole by any change; the run id is the site's, so a case whose
    results did not change keeps its file."""
    internal = ("column", "environment", "model_link", "bundle_repro")
    public = frame[[c for c in frame.columns if c not in internal]].copy()
    public["opset"] = public["opset"].astype("Int64")  # a number, or none for the exporter's default
    table = pa.Table.from_pandas(public, preserve_index=False)
    parquet.write_table(table, folder / "results.parquet", compression="zstd")
    lean = table.drop_columns([c for c in CSV_LEFT_OUT if c in table.column_names])
    header = pd.DataFrame(columns=lean.column_names).to_csv(index=False).encode()
    for case, rows in public.groupby("case", sort=False).indices.items():
        # pyarrow's writer (pandas' took 16 s a night); the header apart, since pyarrow quotes every name
        text = io.BytesIO()
        pa_csv.write_csv(lean.take(rows), text, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
        (folder / "cases" / f"{page_of[case]}.csv.gz").write_bytes(gzip.compress(header + text.getvalue(), mtime=0))


def _extras(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The spec's extra requirements of a cell (run.json), each with the version its lock pinned."""
    pinned = record.get("pinned") or {}
    out = []
    for text in (record.get("cell") or {}).get("extras") or []:
        name = Requirement(text).name  # the lock names it in PEP 503's normal form (zope.interface → zope-interface)
        out.append({"requirement": text, "name": name, "pinned": pinned.get(canonicalize_name(name))})
    return out


def _records(part: Any) -> List[Dict[str, Any]]:
    """Rows of the frame as records, NaN as None: made per case or cell, never for the whole run
    (a night's 214,000 dicts of 70 keys were gigabytes)."""
    return [{k: _clean(v) for k, v in rec.items()} for rec in part.to_dict("records")]


def _copy_models(source: Path, target: Path, frame: Any) -> Any:
    """Failing results' bundles (or bare models) the run kept, copied beside the pages that link
    them, with the command that reproduces a runtime failure from the bundle alone: the frame
    with the columns model_link and bundle_repro, and bundle_withheld (its size) for a zip the
    run withheld as too large to publish (runfolder.withhold)."""
    frame = frame.assign(model_link=None, bundle_repro=None, bundle_withheld=None)
    kept_rows = frame[frame["model_file"].notna()][["model_file", "stage", "onnxruntime"]]
    for i, rec in zip(kept_rows.index, kept_rows.to_dict("records")):
        kept = source / safe_name(rec["model_file"])
        withheld = source / (kept.name + runfolder.WITHHELD)
        if not kept.is_file() and withheld.is_file():
            try:
                frame.at[i, "bundle_withheld"] = int(json.loads(withheld.read_text())["bytes"])
            except (ValueError, KeyError, TypeError):
                pass  # a stub from elsewhere that says nothing readable: the bundle is simply not there
            continue
        if not kept.is_file():
            continue
        target.mkdir(exist_ok=True)
        shutil.copyfile(kept, target / kept.name)
        frame.at[i, "model_link"] = f"../models/{kept.name}"
        folder = shlex.quote(kept.stem.rsplit("--", 1)[0])  # the zip holds one folder, the bundle
        if kept.suffix == ".zip" and rec["stage"] not in EXPORT_STAGES:
            frame.at[i, "bundle_repro"] = (f"unzip {shlex.quote(kept.name)} && pip install "
                                           f"onnxruntime=={shlex.quote(str(rec['onnxruntime']))} && "
                                           f"python {folder}/repro.py")
        elif kept.suffix == ".zip" and rec["stage"] in ("export", "check"):
            frame.at[i, "bundle_repro"] = (f"unzip {shlex.quote(kept.name)} && pip install -r "
                                           f"{folder}/requirements.txt && python {folder}/repro.py")
    return frame


def _swap(tmp: Path, out: Path) -> None:
    """Replace the old site with the new one whole; readers never see half of either."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}-old-{os.getpid()}"
        os.rename(out, old)
    os.rename(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
