// Filters and hover details for the grid. Data comes from data.js (window.MATRIX), a
// script file rather than fetched JSON, so the page works opened straight from disk.
(function () {
  "use strict";
  var data = window.MATRIX;
  var grid = document.getElementById("grid");
  if (!data || !grid) { return; }
  var byId = function (id) { return document.getElementById(id); };
  var rows = Array.prototype.slice.call(grid.querySelectorAll("tbody tr.case"));
  var cats = Array.prototype.slice.call(grid.querySelectorAll("tbody tr.cat"));

  var only = null;  // the cases a summary link named (#cases=a,b&exporter=dynamo), or null for all

  function fromHash() {
    var params = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (part) {
      var eq = part.indexOf("=");
      if (eq > 0) { params[part.slice(0, eq)] = part.slice(eq + 1); }
    });
    if (params.cases === undefined) { return; }
    only = {};
    params.cases.split(",").forEach(function (c) { only[decodeURIComponent(c)] = true; });
    ["category", "status", "exporter", "device"].forEach(function (k) {
      byId("f-" + k).value = params[k] ? decodeURIComponent(params[k]) : "";
    });
    byId("f-text").value = "";
  }

  function apply() {
    var category = byId("f-category").value, status = byId("f-status").value;
    var exporter = byId("f-exporter").value, device = byId("f-device").value;
    var text = byId("f-text").value.trim().toLowerCase();
    ["torchscript", "dynamo"].forEach(function (e) { grid.classList.toggle("hide-e-" + e, !!exporter && e !== exporter); });
    ["cpu", "cuda"].forEach(function (d) { grid.classList.toggle("hide-d-" + d, !!device && d !== device); });
    var shown = 0, visibleCats = {};
    rows.forEach(function (row) {
      var ok = (!only || only[row.dataset.case]) && (!category || row.dataset.category === category) &&
               (!text || row.dataset.text.toLowerCase().indexOf(text) >= 0);
      if (ok && status) {
        ok = Array.prototype.some.call(row.querySelectorAll("td.s-" + status), function (td) {
          return td.offsetParent !== null || getComputedStyle(td).display !== "none";
        });
      }
      row.classList.toggle("hidden", !ok);
      if (ok) { shown += 1; visibleCats[row.dataset.category] = true; }
    });
    cats.forEach(function (row) { row.classList.toggle("hidden", !visibleCats[row.dataset.category]); });
    byId("f-count").textContent = shown + " of " + rows.length + " cases";
    byId("f-cases").hidden = !only;
  }

  byId("f-clear").addEventListener("click", function () {
    only = null;
    history.replaceState(null, "", location.pathname + location.search);
    apply();
    byId("f-category").focus();
  });
  window.addEventListener("hashchange", function () { fromHash(); apply(); grid.scrollIntoView(); });

  ["f-category", "f-status", "f-exporter", "f-device"].forEach(function (id) { byId(id).addEventListener("change", apply); });
  byId("f-text").addEventListener("input", apply);
  grid.addEventListener("redrawn", apply);  // a pivot drew other cells (pivot.js)

  // Hover: the stage reached, the error's first line and the max error, set on first hover.
  grid.addEventListener("mouseover", function (event) {
    var td = event.target.closest("td[data-r]");
    if (!td || td.title) { return; }
    var r = data.results[Number(td.dataset.r)];
    var lines = [data.statuses[r[0]] + (r[1] ? " at stage " + r[1] : "")];
    if (r[2]) { lines.push(r[2]); }
    if (r[3] !== null && r[3] !== undefined) { lines.push("max abs error " + Number(r[3]).toPrecision(3)); }
    td.title = lines.join("\n");
  });
  fromHash();
  apply();
  if (only) { grid.scrollIntoView(); }
})();
