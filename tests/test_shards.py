"""A case page's data: each cell's command templates, filled in, are exactly the commands that
rerun a result (for any case id, hostile ones included), and a shard gives its records back."""

import shlex

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from matrix.report import shards

WORDS = st.one_of(st.text(min_size=1, max_size=30), st.just("x @@device@@ '$(touch pwned)'"))
CELLS = st.from_regex(r"torch[0-9.]{3,8}-onnx[0-9.]{3,8}-ort[0-9.]{3,8}-py3\.1[0-9]-(cpu|cuda)", fullmatch=True)
IMAGES = st.one_of(st.none(), st.just("onnx-matrix-cell:abc123"),
                   st.just(("onnx-matrix-export:1", "onnx-matrix-runtime:2")))
SPECS = st.one_of(st.none(), st.just("default"), st.just("my spec.toml"))


@given(case=WORDS, exporter=st.sampled_from(["torchscript", "dynamo"]), opset=st.sampled_from(["default", "18"]),
       device=st.sampled_from(["cpu", "cuda"]), cell=CELLS, image=IMAGES, spec=SPECS)
def test_filled_templates_are_the_commands(case, exporter, opset, device, cell, image, spec):
    rec = {"case": case, "exporter": exporter, "opset_label": opset, "device": device, "cell": cell}
    (templates,) = shards.templates([cell], spec, {cell: image}).values()
    assert shards.expand(templates, rec) == shards.reproduce(rec, spec, image)
    assert all(shlex.quote(case) in c for c in shards.expand(templates, rec))


def test_a_shard_keeps_each_text_once_and_gives_its_records_back():
    traceback = "Traceback (most recent call last):\n" + "  frame\n" * 200
    results = [{"index": n, "column_index": n, "case": "blocks/mlp", "cell": f"cell{n}",
                "status": ("export_error", "mismatch")[n % 2],
                "error_traceback": traceback, "max_abs_err": None, "seconds": 0.5 * n} for n in range(50)]
    shard = shards.case_shard(pd.DataFrame(results))
    assert shard["texts"].count(traceback) == 1 and len(shard["texts"]) == 50 + 4  # cells, case, 2 statuses, traceback
    back = shards.records(shards.read(shards.script("MATRIX_CASE", shard)))
    assert [{k: r[k] for k in results[0]} for r in back] == results

    # split: the texts go to a file named by their content; another night's statuses among the same
    # texts (here ten results swapping theirs) name the same file
    lean, texts = shards.split(shard)
    assert shards.records(lean, shards.read(texts)) == shards.records(shard)
    flipped, flipped_texts = shards.split(shards.case_shard(pd.DataFrame(
        [dict(r, status=results[n + 1]["status"]) for n, r in enumerate(results[:10])] + results[10:])))
    assert flipped["texts"] == lean["texts"] and flipped_texts == texts and flipped["columns"] != lean["columns"]
    assert "</script>" not in shards.script("X", {"t": "</script><script>alert(1)</script>"})


def test_the_advisors_packed_table_unpacks_to_each_results_status_and_fix():
    """aggregate.advisor_data packs a status and a fix per case × column into base-36 digits (two
    each once the fixes are many); unpack (as advisor-data.js) gives back exactly what went in."""
    from matrix.probe.status import STATUSES
    from matrix.report.aggregate import advisor_data, unpack

    statuses = list(STATUSES)
    cols = [{"column": f"c{n}", "index": n, "torch": f"2.{n}.0", "onnx": "1.23.2", "onnxruntime": "1.32.0",
             "device": "cpu", "exporter": "dynamo", "opset_label": "default", "cell": f"cell{n}"} for n in range(7)]
    rows = []
    for k in range(9):
        for n in range(7):
            if (k + n) % 5 == 0:
                continue  # not run in this column
            status = statuses[(k * 3 + n) % len(statuses)]
            fix = f"fixed by remedy {k}" if status not in ("pass", "skipped") and k % 2 else None
            rows.append({"case": f"cat/case{k}", "column": f"c{n}", "status": status, "library": None,
                         "fix_remedy": "r" if fix else None, "fix": fix})
    packed = advisor_data(pd.DataFrame(rows), cols)
    assert packed["width"] == 2 and all(len(row) == 2 * len(cols) for row in packed["grid"])
    back = unpack(packed)
    assert back["columns"] == [{k: c[k] for k in packed["columns"]} for c in cols]
    cases = packed["cases"]
    seen = {(r["case"], r["column"]): r for r in rows}
    for i, case in enumerate(cases):
        for n in range(len(cols)):
            r = seen.get((case, f"c{n}"))
            assert back["grid"][i][n] == (None if r is None else statuses.index(r["status"]))
            fix = back["fixes"][i][n]
            assert (packed["fix_texts"][fix - 1] if fix else None) == (r or {}).get("fix")
