// The grid as a pivot, for runs with more columns than anyone reads at once: one axis runs across,
// every other is pinned; the cells come from the advisor's table (window.MATRIX.advisor, unpacked
// by advisor-data.js: a status per case × column). The choice lives in the address (#across=onnxruntime&torch=2.15.0…),
// so a link shows exactly this view. A cell links to its result on the case page (#cN: column N).
(function () {
  "use strict";
  var data = window.MATRIX && window.MATRIX.advisor, grid = document.getElementById("grid");
  var form = document.getElementById("pivot");
  if (!data || !grid || !form) { return; }
  var AXES = ["torch", "onnxruntime", "onnx", "opset_label", "device", "exporter"];
  var NAMES = {opset_label: "opset"};  // the address names an axis as the page does
  var byId = function (id) { return document.getElementById(id); };
  var caseIndex = {};
  data.cases.forEach(function (c, n) { caseIndex[c] = n; });
  var glyphs = window.MATRIX.glyphs;

  function params() {
    var out = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (part) {
      var eq = part.indexOf("=");
      if (eq > 0) { out[part.slice(0, eq)] = decodeURIComponent(part.slice(eq + 1)); }
    });
    return out;
  }

  function fromHash() {
    var p = params();
    var choose = function (select, value) {
      if (value !== undefined && Array.prototype.some.call(select.options, function (o) { return o.value === value; })) {
        select.value = value;
      }
    };
    choose(byId("p-across"), p.across);
    AXES.forEach(function (a) { choose(byId("p-" + a), p[NAMES[a] || a]); });
  }

  function toHash(across, pins) {
    var keep = params(), parts = [];
    Object.keys(keep).forEach(function (k) {
      if (k !== "across" && AXES.every(function (a) { return (NAMES[a] || a) !== k; })) {
        parts.push(k + "=" + encodeURIComponent(keep[k]));
      }
    });
    parts.push("across=" + encodeURIComponent(across));
    Object.keys(pins).forEach(function (a) { parts.push((NAMES[a] || a) + "=" + encodeURIComponent(pins[a])); });
    history.replaceState(null, "", "#" + parts.join("&"));
  }

  // Pins cascade in the axes' order: a pin offers only the values that exist beside the pins
  // before it, and a value that does not exist there gives way to the newest that does.
  function pinned(across) {
    var pins = {}, left = data.columns;
    AXES.forEach(function (a) {
      var label = form.querySelector("label.pin[data-axis='" + a + "']"), select = byId("p-" + a);
      label.hidden = a === across;
      if (a === across) { return; }
      var present = {};
      left.forEach(function (c) { present[String(c[a])] = true; });
      Array.prototype.forEach.call(select.options, function (o) { o.disabled = !present[o.value]; });
      if (!present[select.value]) {
        var first = Array.prototype.filter.call(select.options, function (o) { return !o.disabled; })[0];
        if (first) { select.value = first.value; }
      }
      pins[a] = select.value;
      left = left.filter(function (c) { return String(c[a]) === pins[a]; });
    });
    return pins;
  }

  function draw() {
    var across = byId("p-across").value, pins = pinned(across);
    var shown = [];  // [value of the across axis, column index], in the select's order (newest first)
    Array.prototype.forEach.call(byId("p-" + across).options, function (option) {
      var found = -1;
      data.columns.some(function (c, n) {
        var fits = String(c[across]) === option.value && Object.keys(pins).every(function (a) {
          return String(c[a]) === pins[a];
        });
        if (fits) { found = n; }
        return fits;
      });
      if (found >= 0) { shown.push([option.value, found]); }
    });
    var head = grid.querySelector("thead tr");
    while (head.children.length > 1) { head.removeChild(head.lastChild); }
    shown.forEach(function (s) {
      var th = document.createElement("th");
      th.scope = "col";
      th.className = "col";
      th.textContent = (NAMES[across] || across) + " " + s[0];
      th.title = data.columns[s[1]].cell;
      head.appendChild(th);
    });
    var span = String(shown.length + 1);
    grid.querySelectorAll("tbody tr.cat th, tbody tr.origin th").forEach(function (th) { th.colSpan = span; });
    grid.querySelectorAll("tbody tr.case").forEach(function (tr) {
      while (tr.children.length > 1) { tr.removeChild(tr.lastChild); }
      var codes = data.grid[caseIndex[tr.dataset.case]] || [];
      shown.forEach(function (s) {
        var td = document.createElement("td"), code = codes[s[1]], column = data.columns[s[1]];
        td.className = "e-" + column.exporter + " d-" + column.device;
        if (code !== null && code !== undefined) {
          var status = data.statuses[code], link = document.createElement("a");
          td.className += " s-" + status;
          td.title = status + " · " + column.cell + " · " + column.exporter;
          link.href = "cases/" + tr.dataset.page + ".html#c" + s[1];
          link.textContent = glyphs[code];
          link.setAttribute("aria-label", status + ", " + (NAMES[across] || across) + " " + s[0]);
          td.appendChild(link);
        }
        tr.appendChild(td);
      });
    });
    byId("pivot-about").dataset.columns = String(shown.length);
    toHash(across, pins);
    grid.dispatchEvent(new Event("redrawn"));
    performance.mark("grid-drawn");  // what the bench reads (Performance API)
  }

  form.addEventListener("change", draw);
  window.addEventListener("hashchange", function () { fromHash(); draw(); });
  fromHash();
  draw();
})();
