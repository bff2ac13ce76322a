/* Activation page, while a phone is connected (web/phone.py): polls when the phone last uploaded a
   document and shows the page again once it has, so the document appears here within seconds.
   Without this script the page says to reload it. Stops when the link's 15 minutes are over. */
(function () {
  "use strict";
  var box = document.querySelector("[data-movil-estado]");
  if (!box || !window.fetch) { return; }
  var POLL_MS = 2000, TRIES = 15 * 60 * 1000 / POLL_MS;
  var seen = box.dataset.movilSubida || "";
  var tries = TRIES;
  function showPage() {
    var target = new URL(box.dataset.movilPagina, window.location.href);
    target.hash = "movil";
    window.location.assign(target.href);  // a GET: the page may have been drawn by a POST
  }
  function poll() {
    fetch(box.dataset.movilEstado, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok || r.status === 410 ? r.json() : null; })  // 410: the link was replaced
      .then(function (state) {
        if (state && state.subida && state.subida !== seen) { showPage(); return; }
        if (state && !state.activo) { return; }
        if (--tries > 0) { setTimeout(poll, POLL_MS); }
      })
      .catch(function () { if (--tries > 0) { setTimeout(poll, POLL_MS); } });
  }
  setTimeout(poll, POLL_MS);
})();
