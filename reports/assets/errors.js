// The Errors page's search: a pasted message is normalised with the same expressions as the
// signatures (matrix/explain.py ships them in data/errors.js), cut into tokens and scored against
// each signature by the Dice coefficient; the closest come first, those sharing no token are
// hidden, and the line under the box says what was found (read out by screen readers).
(function () {
  "use strict";
  var box = document.getElementById("err-search"), count = document.getElementById("err-count");
  var list = document.getElementById("err-list");
  if (!box || !count || !list || !window.MATRIX_ERRORS) { return; }
  var patterns = window.MATRIX_ERRORS.patterns.map(function (p) { return [new RegExp(p[0], "g"), p[1]]; });
  var sections = Array.prototype.slice.call(list.querySelectorAll("section.err"));
  var known = sections.map(function (s) { return new Set(s.getAttribute("data-tokens").split(" ")); });
  var idle = count.textContent;

  function tokens(text) {
    text = text.trim();
    patterns.forEach(function (p) { text = text.replace(p[0], p[1]); });
    return new Set(text.trim().toLowerCase().match(/<\w+>|[a-z0-9_]+/g) || []);
  }

  function dice(a, b) {
    if (!a.size || !b.size) { return 0; }
    var shared = 0;
    a.forEach(function (t) { if (b.has(t)) { shared += 1; } });
    return 2 * shared / (a.size + b.size);
  }

  function show() {
    var pasted = tokens(box.value);
    if (!pasted.size) {
      sections.forEach(function (s) { s.hidden = false; s.querySelector(".score").hidden = true; list.appendChild(s); });
      count.textContent = idle;
      return;
    }
    var scored = sections.map(function (s, i) { return {section: s, score: dice(pasted, known[i]), index: i}; });
    scored.sort(function (x, y) {
      return (y.score - x.score) || (Number(y.section.getAttribute("data-results")) -
        Number(x.section.getAttribute("data-results"))) ||
        (x.section.getAttribute("data-signature") < y.section.getAttribute("data-signature") ? -1 : 1);
    });
    var shown = 0;
    scored.forEach(function (x) {
      x.section.hidden = x.score === 0;
      var label = x.section.querySelector(".score");
      label.hidden = x.score === 0;
      label.textContent = "match " + x.score.toFixed(2);
      if (x.score > 0) { shown += 1; }
      list.appendChild(x.section);
    });
    var best = scored[0];
    count.textContent = shown ? shown + " signatures share words with it; closest: " +
      best.section.querySelector(".kind").textContent + " (match " + best.score.toFixed(2) + ")" :
      "no signature of this run shares a word with it";
  }

  box.addEventListener("input", show);
  var asked = new URLSearchParams(window.location.search).get("q");
  if (asked) { box.value = asked; }
  show();
}());
