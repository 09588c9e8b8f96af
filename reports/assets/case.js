// A case page's results table, drawn from its shard (window.MATRIX_CASE, data/cases/N.js) and the
// cells' commands (window.MATRIX_CELLS, data/cells.js): a row per result, whose details are
// built when its button opens them; a link to one result (#rN, from the grid) opens that row.
// Text goes in as text nodes, never as markup: results may come from anywhere.
(function () {
  "use strict";
  var shard = window.MATRIX_CASE, texts = window.MATRIX_TEXTS, cells = window.MATRIX_CELLS;
  var table = document.getElementById("results");
  if (!shard || !texts || !cells || !table) { return; }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); }
    });
    return node;
  }
  function present(v) { return v !== null && v !== undefined && v !== ""; }
  // Python's "%.3g": three significant digits, exponent form below 1e-4 or from 1e3 on.
  function g3(x) {
    if (x === 0) { return "0"; }
    var exp = Math.floor(Math.log10(Math.abs(x)));
    if (exp < -4 || exp >= 3) {
      var parts = x.toExponential(2).split("e");
      var mantissa = parts[0].replace(/\.?0+$/, ""), e = Number(parts[1]);
      return mantissa + "e" + (e < 0 ? "-" : "+") + (Math.abs(e) < 10 ? "0" : "") + Math.abs(e);
    }
    return String(Number(x.toPrecision(3)));
  }
  // shlex.quote: a word of safe characters as it is, anything else in single quotes.
  function quote(s) {
    s = String(s);
    if (s === "") { return "''"; }
    return /^[\w@%+=:,.\/-]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\"'\"'") + "'";
  }
  var FILLED = {"@@case@@": "case", "@@exporter@@": "exporter", "@@opset@@": "opset_label", "@@device@@": "device"};
  function commands(r) {  // one pass, as shards.expand: a value holding a sentinel is not filled in again
    return (cells.commands[r.cell] || []).map(function (command) {
      return command.replace(/@@(case|exporter|opset|device)@@/g, function (s) { return quote(r[FILLED[s]]); });
    });
  }

  var records = [];  // the shard's columns are run-length pairs (shards.case_shard): [value, count, …]
  for (var i = 0; i < shard.length; i++) { records.push({}); }
  shard.fields.forEach(function (k, n) {
    var runs = shard.columns[n], at = 0;
    for (var p = 0; p < runs.length; p += 2) {
      var v = n < shard.numbers ? runs[p] : (runs[p] ? texts[runs[p] - 1] : null);
      for (var c = 0; c < runs[p + 1]; c++) { records[at++][k] = v; }
    }
  });

  function pair(dl, term, dd) { dl.appendChild(el("dt", {text: term})); dl.appendChild(dd); }
  function details(r) {
    var dl = el("dl");
    pair(dl, "stage reached", el("dd", {text: r.stage || "—"}));
    if (present(r.reason)) { pair(dl, "reason", el("dd", {text: r.reason})); }
    if (present(r.error_message)) {
      pair(dl, "error", el("dd", {}, [el("code", {text: r.error_type}), ": " + r.error_message]));
      pair(dl, "kind", el("dd", {text: r.error_kind}));
      pair(dl, "signature", el("dd", {}, [el("code", {text: r.error_signature})]));
      if (present(r.error_hint)) { pair(dl, "hint", el("dd", {text: r.error_hint})); }
    }
    if (present(r.blame)) {
      pair(dl, "blame", el("dd", {"class": "blame b-" + r.blame,
        text: r.blame_sentence + " (onnx.reference.ReferenceEvaluator on the same model and inputs)"}));
    }
    if (present(r.fix)) {
      var fix = el("dd", {"class": "remedy-fix"}, present(r.fix_remedy) ?
        [el("b", {text: r.fix}), " — verified: with it this result exports, loads, runs and matches eager"] : [r.fix]);
      if (present(r.fix_snippet)) { fix.appendChild(el("pre", {"class": "cmd fix-snippet", text: r.fix_snippet})); }
      var tried = present(r.fix_tried) ? JSON.parse(r.fix_tried) : [];
      if (tried.length) {
        fix.appendChild(el("details", {}, [el("summary", {text: tried.length + " tried"}), el("ul", {"class": "tried"},
          tried.map(function (t) {
            return el("li", {}, [el("code", {text: t.remedy}), " (" + t.change + "): ",
              el("span", {"class": "s-" + t.status, text: t.status}),
              (t.kind ? ", " + t.kind : "") + (t.message && t.status !== "pass" ? ": " + t.message : "") +
              " · " + Number(t.seconds).toFixed(1) + " s"]);
          }))]));
      }
      pair(dl, "fix", fix);
    }
    if (present(r.max_abs_err)) {
      var given = function (v) { return present(v) ? String(v) : "—"; };
      pair(dl, "max abs / rel error", el("dd", {text: g3(r.max_abs_err) + " / " + g3(r.max_rel_err || 0) + " (atol " +
        given(r.atol) + ", rtol " + given(r.rtol) + "; passes with atol " + g3(r.required_atol || 0) + ")"}));
    }
    if (present(r.export_s)) { pair(dl, "export", el("dd", {text: r.export_s.toFixed(3) + " s"})); }
    if (present(r.eager_ms)) {
      pair(dl, "latency", el("dd", {text: "eager " + r.eager_ms.toFixed(3) + " ms" + (present(r.ort_ms) ?
        ", onnxruntime " + r.ort_ms.toFixed(3) + " ms" + (present(r.provider) ? " (" + r.provider + ")" : "") : "")}));
    }
    if (present(r.model_bytes)) {
      pair(dl, "model", el("dd", {text: Math.trunc(r.model_bytes) + " bytes, " + Math.trunc(r.nodes) + " nodes, opset " +
        Math.trunc(r.model_opset) + ", IR " + Math.trunc(r.ir_version)}));
    }
    var versions = "torch " + r.torch + ", onnx " + r.onnx + ", onnxruntime " + r.onnxruntime + ", onnxscript " +
      r.onnxscript + ", python " + r.python;
    ["transformers", "torchvision", "timm"].forEach(function (lib) {
      if (present(r[lib])) { versions += ", " + lib + " " + r[lib]; }
    });
    pair(dl, "versions", el("dd", {text: versions}));
    if (present(r.export_call)) { pair(dl, "export call", el("dd", {}, [el("pre", {"class": "cmd", text: r.export_call})])); }
    var atExport = r.stage === "export" || r.stage === "check";
    if (present(r.model_link) && /\.zip$/.test(r.model_file)) {
      pair(dl, "bundle", el("dd", {}, [el("a", {href: r.model_link, text: r.model_file}), ": " + (atExport ?
        "the case's source, the exact export call (repro.py) and the export side's pinned requirements.txt" :
        "the model, its inputs and eager PyTorch's outputs in ONNX's test-data layout" +
        (present(r.bundle_repro) ? ", and repro.py, which needs only onnxruntime" : ""))]));
    } else if (present(r.model_link)) {
      pair(dl, "failing model", el("dd", {}, [el("a", {href: r.model_link, text: r.model_file})]));
    } else if (present(r.bundle_withheld)) {
      pair(dl, "bundle", el("dd", {text: r.model_file + ": not published (" + (r.bundle_withheld / 1048576).toFixed(1) +
        " MiB, mostly its weights); the commands below rerun this result and rebuild it from the same seeded weights"}));
    } else if (present(r.model_file)) {
      pair(dl, "kept model", el("dd", {}, [el("code", {text: r.model_file}),
        " (kept by --keep-failed, not beside these results)"]));
    }
    if (present(r.reused_from)) { pair(dl, "reused from", el("dd", {text: "run " + r.reused_from})); }
    pair(dl, "reproduce", el("dd", {}, commands(r).map(function (c) { return el("pre", {"class": "cmd", text: c}); })));
    if (present(r.bundle_repro)) {
      pair(dl, atExport ? "with torch alone" : "with onnxruntime alone",
        el("dd", {}, [el("pre", {"class": "cmd", text: r.bundle_repro})]));
    }
    var page = cells.pages[r.cell];
    var parts = [el("p", {}, [page ? el("a", {href: "../cells/" + page + ".html", text: r.cell}) : r.cell]), dl];
    if (present(r.error_traceback)) {
      parts.push(el("details", {}, [el("summary", {text: "traceback excerpt"}),
        el("pre", {"class": "tb", text: r.error_traceback})]));
    }
    return parts;
  }

  function row(r) {
    var opset = r.opset_label !== "default" ? " opset " + r.opset_label : "";
    var fixed = present(r.fix_remedy) ? el("code", {text: r.fix_remedy}) : (present(r.fix) ? "none found" : "");
    var button = el("button", {type: "button", "class": "expand", "aria-expanded": "false", "aria-controls": "d" + r.index},
      ["details", el("span", {"class": "visually-hidden",
        text: " of " + r.exporter + " on torch " + r.torch + ", onnxruntime " + r.onnxruntime})]);
    var drill = el("td", {colspan: "10"});
    var body = el("tbody", {"class": "result", id: "r" + r.index}, [
      el("tr", {"class": "row"}, [
        el("td", {text: r.torch}), el("td", {text: r.onnxruntime}), el("td", {text: r.onnx + " · " + r.device}),
        el("td", {text: r.exporter + opset}),
        el("td", {"class": "status s-" + r.status, text: (cells.glyphs[r.status] || "") + " " + r.status}),
        el("td", {text: r.error_kind || ""}),
        el("td", {"class": "num", text: present(r.max_abs_err) ? g3(r.max_abs_err) : ""}),
        el("td", {"class": "num", text: present(r.seconds) ? r.seconds.toFixed(2) + " s" : ""}),
        el("td", {}, [fixed]), el("td", {}, [button])]),
      el("tr", {"class": "drill", id: "d" + r.index, hidden: ""}, [drill])]);
    button.addEventListener("click", function () { toggle(button); });
    button.fill = function () {
      if (!drill.firstChild) { details(r).forEach(function (part) { drill.appendChild(part); }); }
    };
    return body;
  }

  function toggle(button, open) {
    var drill = document.getElementById(button.getAttribute("aria-controls"));
    var show = open === undefined ? button.getAttribute("aria-expanded") !== "true" : open;
    if (show) { button.fill(); }
    button.setAttribute("aria-expanded", show ? "true" : "false");
    drill.hidden = !show;
  }

  var fragment = document.createDocumentFragment();
  records.forEach(function (r) { fragment.appendChild(row(r)); });
  table.appendChild(fragment);
  performance.mark("results-drawn");  // what the bench reads (Performance API)

  function fromHash() {
    var column = /^#c(\d+)$/.exec(location.hash);  // a pivot's cell names its column, not its result
    if (column) {
      var found = records.filter(function (r) { return r.column_index === Number(column[1]); })[0];
      if (found) { history.replaceState(null, "", "#r" + found.index); }
    }
    var target = location.hash && document.getElementById(location.hash.slice(1));
    var button = target && target.querySelector("button.expand");
    if (button) { toggle(button, true); target.scrollIntoView(); button.focus(); }
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
