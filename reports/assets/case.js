// A case page's results table: each row's details open and close with its button, and a link
// to one result (#rN, from the grid) opens that row.
(function () {
  "use strict";
  function toggle(button, open) {
    var drill = document.getElementById(button.getAttribute("aria-controls"));
    var show = open === undefined ? button.getAttribute("aria-expanded") !== "true" : open;
    button.setAttribute("aria-expanded", show ? "true" : "false");
    drill.hidden = !show;
  }
  document.querySelectorAll("button.expand").forEach(function (button) {
    button.addEventListener("click", function () { toggle(button); });
  });
  function fromHash() {
    var target = location.hash && document.getElementById(location.hash.slice(1));
    var button = target && target.querySelector("button.expand");
    if (button) { toggle(button, true); target.scrollIntoView(); button.focus(); }
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
