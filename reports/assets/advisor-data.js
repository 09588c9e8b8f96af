// Unpacks the advisor's compact table (window.MATRIX.advisor, written by aggregate.advisor_data)
// for the scripts after it, as aggregate.unpack does: columns as records; per case and column the
// status (an index into statuses, null where the column did not run the case) and the verified
// fix (0, or 1 + an index into fix_texts). Packed because a night's table was 1.1 MB as JSON.
(function () {
  "use strict";
  var a = window.MATRIX && window.MATRIX.advisor;
  if (!a || Array.isArray(a.columns)) { return; }
  var n = a.statuses.length, width = a.width, keys = Object.keys(a.columns), columns = [];
  for (var i = 0; i < a.columns[keys[0]].length; i++) {
    var column = {};
    keys.forEach(function (k) { column[k] = a.columns[k][i]; });
    columns.push(column);
  }
  var grid = [], fixes = [];
  a.grid.forEach(function (row) {
    var statuses = [], fixed = [];
    for (var at = 0; at < row.length; at += width) {
      var v = row.charAt(at) === "." ? null : parseInt(row.substr(at, width), 36);
      statuses.push(v === null ? null : v % n);
      fixed.push(v === null ? 0 : Math.floor(v / n));
    }
    grid.push(statuses);
    fixes.push(fixed);
  });
  a.columns = columns;
  a.grid = grid;
  a.fixes = fixes;
})();
