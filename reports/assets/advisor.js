// The upgrade advisor: compare two version sets over the embedded results (window.MATRIX).
(function () {
  "use strict";
  var a = window.MATRIX && window.MATRIX.advisor;
  if (!a) { return; }
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

  function cellText(s) { return s === null || s === undefined ? "not run" : a.statuses[s]; }

  function advise() {
    var from = column("from"), to = column("to");
    var body = document.querySelector("#advice tbody");
    body.textContent = "";
    var summary = document.getElementById("advice-summary");
    if (from < 0 || to < 0) { summary.textContent = "No results for that combination: pick versions that were run together."; return; }
    var changed = [];
    a.cases.forEach(function (name, i) {
      var s0 = a.grid[i][from], s1 = a.grid[i][to];
      if (s0 !== s1) {
        changed.push({ name: name, from: s0, to: s1, rank: s1 === null ? 99 : a.severity[s1], model: a.models[i],
                       fix: (a.fixes || {})[i + "," + to] || "" });
      }
    });
    // the model families first (the real architectures people ship), then worst first
    changed.sort(function (x, y) { return (y.model - x.model) || x.rank - y.rank || (x.name < y.name ? -1 : 1); });
    var models = changed.filter(function (c) { return c.model; }).length;
    summary.textContent = changed.length + " of " + a.cases.length + " cases change status" +
      (models ? ", " + models + " of them model families (listed first)." : ".");
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
  advise();
})();
