// Progressive enhancement: show <time datetime> values in the viewer's timezone.
// The server renders UTC text (pages work without this file); the UTC stays in the title.
(function () {
  "use strict";
  function pad(n, w) { return String(n).padStart(w || 2, "0"); }
  function localise(el) {
    var d = new Date(el.getAttribute("datetime"));
    if (isNaN(d.getTime())) { return; }
    var text = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    if (el.dataset.precise) { text += "." + pad(d.getMilliseconds(), 3); }
    el.textContent = text;
    el.classList.add("local");
  }
  function run() { document.querySelectorAll("time[datetime]").forEach(localise); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", run);
  } else { run(); }
})();
