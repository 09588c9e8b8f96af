"""Every performance figure, each side by side with the way people do it by hand, as medians with
their spread (`python -m matrix bench`, nox -s bench): bench.json holds the figures and the
machine, bench.md the table docs/performance.md carries.

  isolation  isolation.py     forked child per result vs one process vs fresh interpreters
  envs       envs.py          venv runner vs python -m venv + pip install
  image      envs.py          image rebuild, torch layer reused vs not
  disk       image_disk.py    the spec's images built in parallel: disk with and without shared steps
  matrix     matrix_run.py    the whole matrix cold and warm, run + report
  report     report_scale.py the report over a night: 631 cells × 170 cases, then a second with 1% changed
  history    report_history.py the report over 30 synthetic nights × 40 cells × 120 results
  year       history_year.py  a year of nights (365 × 20,000 results): trend and regressions
  scaling    matrix_run.py    -j 1/2/4 and a growing number of cases
  remedies   matrix_run.py    the matrix without and with the remedy search
  aten       aten_sweep.py    one torch's aten sweep, both exporters, on two onnxruntimes
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Tuple

from matrix import markers
from matrix.bench.aten_sweep import aten_sweep
from matrix.bench.envs import envs, image
from matrix.bench.history_year import history_year
from matrix.bench.image_disk import image_disk
from matrix.bench.isolation import isolation
from matrix.bench.matrix_run import remedies, scaling, whole_matrix
from matrix.bench.report_history import report_history
from matrix.bench.report_scale import report_scale
from matrix.errors import UserError

RATIO_TARGET = 1.3  # the remedy search's cost, against the run without it, that turns it on by default
FIGURES: Dict[str, Callable] = {"isolation": isolation, "envs": envs, "image": image, "disk": image_disk,
                                "matrix": whole_matrix, "report": report_scale, "history": report_history,
                                "year": history_year, "scaling": scaling,
                                "remedies": remedies, "aten": aten_sweep}


def _s(spread: Dict[str, float]) -> str:
    return f"{spread['median']} s ({spread['min']} … {spread['max']}, n={spread['n']})"


def rows(figures: Dict[str, Any]) -> List[Tuple[str, str, str, str, str]]:
    """(figure, this project, baseline, target, verdict) for each figure present."""
    out = []
    if "isolation" in figures:
        f = figures["isolation"]
        out.append((f"isolation: {f['results_per_run']} results, {f['repeats']} repeats",
                    f"forked child per result {_s(f['forked_s'])}",
                    f"one process {_s(f['one_process_s'])}; "
                    f"a fresh interpreter per result {f['fresh_interpreters_s']} s",
                    "≤ 1.15 × one process; ≥ 10 × faster than fresh interpreters",
                    f"{f['forked_over_floor']} ×, {f['fresh_over_forked']} × faster: "
                    + ("met" if f["forked_over_floor"] <= 1.15 and f["fresh_over_forked"] >= 10 else "missed")))
    if "envs" in figures:
        f = figures["envs"]
        out.append((f"environment, warm cache: {f['cell']} ({f['packages']} packages)",
                    f"venv runner {_s(f['venv_runner_s'])}", f"python -m venv + pip install {_s(f['venv_pip_s'])}",
                    "≤ 5 s and ≥ 5 × faster", f"{f['speedup']} × faster: "
                    + ("met" if f["venv_runner_s"]["median"] <= 5 and f["speedup"] >= 5 else "missed")))
    if "image" in figures:
        f = figures["image"]
        out.append((f"image rebuild, only onnxruntime differs ({' → '.join(f['onnxruntime'])}, torch {f['torch']})",
                    f"torch layer reused {_s(f['layer_reuse_s'])}", f"no layer reuse {_s(f['no_reuse_s'])}",
                    "≤ 60 s", "met" if f["layer_reuse_s"]["median"] <= 60 else "missed"))
    if "disk" in figures:
        f = figures["disk"]
        ours, theirs = f["with_shared_steps"], f["without_shared_steps"]
        out.append((f"image disk, spec {f['spec']}: {f['cells']} cell images built at once "
                    f"({f['torch_versions']} torch versions)",
                    f"shared steps built first: {ours['gb']} GB, {ours['torch_layers']} torch layers, "
                    f"{ours['seconds']} s",
                    f"each build on its own: {theirs['gb']} GB, {theirs['torch_layers']} torch layers, "
                    f"{theirs['seconds']} s", "one torch layer per torch version",
                    "met" if ours["torch_layers"] == f["torch_versions"] else "missed"))
        if "split" in f:
            halves = f["split"]
            out.append((f"image disk, spec {f['spec']}, in two halves: {halves['images']} images (export and "
                        "runtime sides)", f"{halves['gb']} GB, {halves['torch_layers']} torch layers; runtime images "
                        f"{', '.join(str(mb) for mb in halves['runtime_mb'])} MB, {halves['seconds']} s",
                        f"whole cells, shared steps first: {ours['gb']} GB", "one torch layer per torch version; "
                        "runtime images ≤ 400 MB",
                        "met" if halves["torch_layers"] == f["torch_versions"] and max(halves["runtime_mb"]) <= 400
                        else "missed"))
    if "matrix" in figures and "split" in figures["matrix"]:
        f = figures["matrix"]
        ours, theirs = f["split"], f.get("one_environment")
        floor = (ours.get("breakdown") or {}).get("floor_s")
        out.append((f"whole matrix, spec {f['spec']} ({f['runner']} runner, -j {f.get('jobs', 2)}): {f['cells']} "
                    f"cells, {ours['cold']['results']} results, from empty caches",
                    f"cold {ours['cold']['run_s']} s + report {ours['cold']['report_s']} s; again with nothing "
                    f"changed {ours['warm']['run_s']} s + {ours['warm']['report_s']} s "
                    f"({ours['warm']['reused']} of {ours['warm']['results']} reused)"
                    + (f"; floor (exports ÷ jobs) {floor} s" if floor is not None else ""),
                    (f"one environment per cell: cold {theirs['cold']['run_s']} s + {theirs['cold']['report_s']} s; "
                     f"again {theirs['warm']['run_s']} s + {theirs['warm']['report_s']} s") if theirs else
                    "issue 31's measurement before: cold 483 s, warm ~25 s (each side's probe started)",
                    "cold run ≤ 300 s, warm run ≤ 10 s",
                    "met" if ours["cold"]["run_s"] <= 300 and ours["warm"]["run_s"] <= 10 else "missed"))
        if "nightly" in f:
            n = f["nightly"]
            out.append((f"nightly plan's machine time: {n['cells']} cells, {n['exports']} export sides "
                        "(this run's median job times)",
                        f"export jobs + runtime jobs: {n['split_h']} h",
                        f"a whole cell per job: {n['one_environment_h']} h", "≥ 3 × less",
                        f"{n['ratio']} × less: " + ("met" if n["ratio"] >= 3 else "missed")))
    if "report" in figures:
        f = figures["report"]
        second, pages = f.get("second_night"), f.get("pages")
        shown = [pages[k] for k in ("front_ms", "grid_ms", "case_ms", "drill_ms")] if pages else []
        met = (f["seconds"] <= 60 and f.get("peak_gib", 0) <= 2 and f["index_mib"] <= 1 and f["site_mib"] <= 100
               and second is not None and second["rewritten_share"] <= 0.10
               and bool(shown) and max(shown) <= 1000 and not pages["console_errors"] and not pages.get("axe", True))
        out.append((f"report of {f['results']} synthetic results" + (
                        f" ({f['bytes_per_result']} bytes each as JSON; python -m matrix report)"
                        if "bytes_per_result" in f else ""),
                    f"{f['seconds']} s, peak {f.get('peak_gib', '?')} GiB, index.html {f['index_mib']} MiB "
                    f"(site {f['site_mib']} MiB)" + (
                        f"; a second night with {second['changed_results']} results changed"
                        + (f" (in {second['changed_cases']} cases)" if "changed_cases" in second else "")
                        + f": {second['seconds']} s, "
                        f"rewrote {second['rewritten_mib']} MiB ({round(100 * second['rewritten_share'])}% of the "
                        "site)" if second else "") + (
                        f"; shown in Chromium over HTTP: front page {pages['front_ms']} ms, grid {pages['grid_ms']} "
                        f"ms, case page {pages['case_ms']} ms, drill-down {pages['drill_ms']} ms, "
                        f"{len(pages['console_errors'])} console errors" + (
                            f", axe-core: {sum(map(len, pages['axe'].values()))} violations on "
                            f"{pages['axe_pages']} pages" if "axe" in pages else "") if pages else ""),
                    "—", "≤ 60 s, peak ≤ 2 GiB, index.html ≤ 1 MiB, site ≤ 100 MiB; 1% changed rewrites ≤ 10%; "
                    "each page shown ≤ 1 s, no console error, axe-core clean",
                    "met" if met else "missed"))
    if "history" in figures:
        f = figures["history"]
        out.append((f"report over a history of {f['nights']} nights × {f['cells']} cells × {f['results_per_cell']} "
                    "results (python -m matrix report)", f"{f['history_s']} s, index.html {f['index_mib']} MiB",
                    f"the newest night alone: {f['alone_s']} s", "≤ 20 s, index.html ≤ 5 MB",
                    "met" if f["history_s"] <= 20 and f["index_bytes"] <= 5e6 else "missed"))
    if "year" in figures:
        f = figures["year"]
        out.append((f"a year of nights in the history: {f['nights']} × {f['results_per_night']:,} results "
                    f"({f['mib']} MiB on disk, the database {f['db_mib']} MiB)",
                    f"trend, {f['lines']} lines, and {f['regressions']} regressions: {f['seconds']} s",
                    "schema 1 kept each result's JSON in SQLite: 20,000 × 3.7 KB × 365 ≈ 27 GB a year, not built here",
                    "≤ 10 s",
                    "met" if f["seconds"] <= 10 else "missed"))
    if "scaling" in figures:
        f = figures["scaling"]
        jobs = ", ".join(f"-j {j}: {v['wall_s']} s" for j, v in f["by_jobs"].items())
        cases = ", ".join(f"{n} cases: {v['wall_s']} s" for n, v in f["by_cases"].items())
        out.append((f"scaling: {f['cells']} cells × {f['results_per_cell']} results ({f['cases']}), rerun",
                    jobs, f"one cell: {cases}", "shows where the machine saturates", "—"))
    if "remedies" in figures:
        f = figures["remedies"]
        out.append((f"the remedy search, spec {f['spec']}: {f['results']} results, rerun with environments built",
                    f"--remedies: {f['with_s']} s; {f['searched']} failing results searched, {f['fixed']} fixed, "
                    f"{f['tries']} tries ({f['try_s']} s of tries"
                    + (f"; {f['shared']} told by a sibling cell or the cell's own result, not made again"
                       if "shared" in f else "")
                    + (f"; {f['skipped']} skipped: the same error was left unchanged for an earlier case)"
                       if "skipped" in f else ")"),
                    f"without: {f['without_s']} s ({f['failing']} failing results)",
                    f"≤ {RATIO_TARGET} × the run without (then on by default), fixing as many",
                    f"{f['ratio']} ×: " + ("met" if f["ratio"] <= RATIO_TARGET else "missed")))
    if "aten" in figures:
        f = figures["aten"]
        out.append((f"aten sweep, torch {f['torch']}, both exporters, checked on two onnxruntimes: {f['results']} "
                    f"results (-j {f['jobs']}, environments built)",
                    f"{f['run_s']} s (export sides {f['phases_s'].get('exports', '—')} s, runtime sides "
                    f"{f['phases_s'].get('cells', '—')} s)",
                    f"one export process per torch: the exports' own seconds alone {f['serial_exports_s']} s ("
                    + ", ".join(f"{k} {v:.0f} s" for k, v in f["exports_s"].items()) + ")",
                    "≤ 900 s", "met" if f["run_s"] <= 900 else "missed"))
    return out


def markdown(figures: Dict[str, Any]) -> str:
    m = figures.get("machine", {})
    lines = [f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, Python {m.get('python')}."]
    if m.get("packages"):
        lines[0] += " Probe side: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + "."
    lines += ["", "| figure | this project | the usual way | target | verdict |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows(figures)]
    split = (figures.get("matrix") or {}).get("split") or {}
    if split.get("breakdown"):
        lines += ["", *cold_breakdown(split["breakdown"], split["cold"]["run_s"])]
    return "\n".join(lines) + "\n"


def cold_breakdown(b: Dict[str, Any], run_s: float) -> List[str]:
    """The cold whole-matrix run, phase by phase (wall time) and what each phase spent."""
    phases, exports = b.get("phases_s", {}), b.get("exports_s", {})
    lines = [f"Where the cold whole-matrix run's {run_s} s went (wall time per phase; within a phase, "
             "seconds of work summed over its concurrent jobs):", "",
             "| phase | wall | what it spent |", "|---|---|---|"]
    lines.append(f"| export sides | {phases.get('exports', '—')} s | environments "
                 f"{' + '.join(f'{s:.0f}' for s in b['export_env_s'])} s; exports "
                 + ", ".join(f"{k} {v:.0f} s" for k, v in exports.items())
                 + f"; version frontier (both sides' measurements) {b['frontier_s']:.0f} s |")
    lines.append(f"| runtime sides | {phases.get('cells', '—')} s | environments "
                 f"{' + '.join(f'{s:.0f}' for s in b['runtime_env_s'])} s; checks {b['checks_s']:.0f} s |")
    lines.append(f"| advice (too-new models re-exported at the advised opset and checked) | "
                 f"{phases.get('advice', '—')} s | |")
    if "remedies" in phases:  # on by default since the search cost ≤ 1.3 × the run without it
        lines.append(f"| remedy search (each failing result's fixes tried in its cell's environments) | "
                     f"{phases['remedies']} s | |")
    lines.append(f"| report (`python -m matrix report`, after the run) | {b['report_s']} s | |")
    lines += ["", f"The floor no scheduling beats: the exports' own seconds ({sum(exports.values()):.0f} s) "
                  f"divided by the jobs: {b['floor_s']} s."]
    return lines


START = "<!-- bench:start (written by `python -m matrix bench --write docs/performance.md` from docs/bench.json) -->"
END = "<!-- bench:end -->"


def load(path: str) -> Dict[str, Any]:
    """The figures a previous run wrote: a long benchmark gathers them over several runs."""
    try:
        with open(path, encoding="utf-8") as f:
            figures = json.load(f)
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UserError(f"{path}: not benchmark figures ({exc})") from None
    if not isinstance(figures, dict):
        raise UserError(f"{path}: not benchmark figures (a JSON object was expected)")
    return figures


def replaced(text: str, table: str, where: str) -> str:
    """text with the table between the bench markers replaced."""
    return markers.replaced(text, START, END, table + "\n", where, gap="\n\n")
