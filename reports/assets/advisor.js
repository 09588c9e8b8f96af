// The upgrade advisor: compare two version sets over the embedded results (window.MATRIX).
(function () {
  "use strict";
  var a = window.MATRIX && window.MATRIX.advisor;
  if (!a) { return; }
  var grid = a.grid, fixes = a.fixes;  // unpacked by advisor-data.js
  var KEYS = ["torch", "onnx", "onnxruntime", "device", "exporter"];
  var values = {};
  KEYS.forEach(function (k) {
    values[k] = Array.from(new Set(a.columns.map(function (c) { return c[k]; }))).sort().reverse();
  });

  function pickers(side) {
    var box = document.getElementById(side);
    KEYS.forEach(function (k, i) {
      var label = document.createElement("label");
      label.textContent = k + " ";
      var select = document.createElement("select");
      select.id = side + "-" + k;
      values[k].forEach(function (v, n) {
        var option = document.createElement("option");
        option.value = v; option.textContent = v;
        if (side === "from" && n === values[k].length - 1 && (k === "torch" || k === "onnx" || k === "onnxruntime")) { option.selected = true; }
        select.appendChild(option);
      });
      select.addEventListener("change", advise);
      label.appendChild(select);
      box.appendChild(label);
    });
  }

  function column(side) {
    var want = {};
    KEYS.forEach(function (k) { want[k] = document.getElementById(side + "-" + k).value; });
    for (var i = 0; i < a.columns.length; i += 1) {
      var c = a.columns[i];
      if (KEYS.every(function (k) { return c[k] === want[k]; })) { return i; }
    }
    return -1;
  }

  function choose(side, index) {  // set one side's pickers to a grid column's versions
    var c = a.columns[index];
    KEYS.forEach(function (k) { document.getElementById(side + "-" + k).value = c[k]; });
  }

  function changes(from, to) {
    var n = 0;
    for (var i = 0; i < a.cases.length; i += 1) { if (grid[i][from] !== grid[i][to]) { n += 1; } }
    return n;
  }

  // The pair of columns nearest to (from, to) that changes something: fewest keys moved from the
  // chosen pair, then most cases changed.
  function nearest(from, to) {
    var best = null;
    var moved = function (x, y) { return KEYS.filter(function (k) { return a.columns[x][k] !== a.columns[y][k]; }).length; };
    for (var i = 0; i < a.columns.length; i += 1) {
      for (var j = 0; j < a.columns.length; j += 1) {
        if (i === j) { continue; }
        var n = changes(i, j);
        if (!n) { continue; }
        var d = moved(i, from) + moved(j, to);
        if (!best || d < best.d || (d === best.d && n > best.n)) { best = { from: i, to: j, n: n, d: d }; }
      }
    }
    return best;
  }

  function describe(index) {
    var c = a.columns[index];
    return "torch " + c.torch + ", onnx " + c.onnx + ", onnxruntime " + c.onnxruntime + ", " + c.device + ", " + c.exporter;
  }

  function cellText(s) { return s === null || s === undefined ? "not run" : a.statuses[s]; }

  function advise() {
    var from = column("from"), to = column("to");
    var body = document.querySelector("#advice tbody");
    body.textContent = "";
    var summary = document.getElementById("advice-summary");
    if (from < 0 || to < 0) { summary.textContent = "No results for that combination: pick versions that were run together."; return; }
    var changed = [];
    a.cases.forEach(function (name, i) {
      var s0 = grid[i][from], s1 = grid[i][to];
      if (s0 !== s1) {
        changed.push({ name: name, from: s0, to: s1, rank: s1 === null ? 99 : a.severity[s1], model: a.models[i],
                       fix: fixes[i][to] ? a.fix_texts[fixes[i][to] - 1] : "" });
      }
    });
    // the model families first (the real architectures people ship), then worst first
    changed.sort(function (x, y) { return (y.model - x.model) || x.rank - y.rank || (x.name < y.name ? -1 : 1); });
    var models = changed.filter(function (c) { return c.model; }).length;
    summary.textContent = changed.length + " of " + a.cases.length + " cases change status" +
      (models ? ", " + models + " of them model families (listed first)." : ".");
    if (!changed.length) {
      var near = nearest(from, to);
      summary.textContent = near ? "Nothing changes between these two. The nearest pair that does: " + describe(near.from) +
        " → " + describe(near.to) + " (" + near.n + " cases). " : "No case changes status between any two columns of this run.";
      if (near) {
        var go = document.createElement("button");
        go.type = "button"; go.id = "advice-nearest"; go.textContent = "show that pair";
        go.addEventListener("click", function () { choose("from", near.from); choose("to", near.to); advise(); document.getElementById("advice-summary").focus(); });
        summary.appendChild(go);
      }
      return;
    }
    changed.forEach(function (c) {
      var tr = document.createElement("tr");
      if (c.model) { tr.className = "model"; }
      [c.name, cellText(c.from), cellText(c.to)].forEach(function (text, n) {
        var td = document.createElement("td");
        td.textContent = text;
        if (n > 0 && text !== "not run") { td.className = "s-" + text; }
        tr.appendChild(td);
      });
      var fix = document.createElement("td");  // "breaks, fixed by …": the search's verified remedy there
      fix.className = "remedy-fix";
      fix.textContent = c.fix ? (a.severity[c.to] < a.severity[c.from] || c.from === null ? "breaks, " : "") + c.fix : "";
      tr.appendChild(fix);
      body.appendChild(tr);
    });
  }

  pickers("from");
  pickers("to");
  // opens on the most informative pair (matrix/report/summary.py): the two newest releases of
  // the axis that changes most, with the exporter that changes more
  if (a.opens && a.opens.from !== null && a.opens.to !== null) { choose("from", a.opens.from); choose("to", a.opens.to); }
  advise();
})();
