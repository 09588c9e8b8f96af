// The Operators page's search: sections whose operator name holds the typed text are shown, the
// rest hidden; the count below the box says how many (read out by screen readers).
(function () {
  "use strict";
  var box = document.getElementById("op-search"), count = document.getElementById("op-count");
  if (!box || !count) { return; }
  var sections = Array.prototype.slice.call(document.querySelectorAll("section.op"));
  var idle = count.textContent;

  function show() {
    var wanted = box.value.trim().toLowerCase(), shown = 0;
    sections.forEach(function (section) {
      var match = wanted !== "" && section.getAttribute("data-name").indexOf(wanted) !== -1;
      section.hidden = !match;
      if (match) { shown += 1; }
    });
    count.textContent = wanted === "" ? idle : shown + " operators match \u201c" + box.value.trim() + "\u201d";
  }

  box.addEventListener("input", show);
  var asked = new URLSearchParams(window.location.search).get("q");
  if (asked) { box.value = asked; }
  show();
}());
