/* The review console's document viewer: zoom and rotation of the page images (web/viewer.py).
   Progressive enhancement only: without this script the pages show fitted to the width. Styles are
   set through the CSSOM, which the console's Content-Security-Policy (style-src 'self') allows. */
(function () {
  "use strict";
  var STEPS = [0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3];

  function setUp(viewer) {
    var controls = viewer.querySelector(".visor-controles");
    var pages = viewer.querySelector(".visor-paginas");
    var status = viewer.querySelector(".visor-estado");
    if (!controls || !pages) { return; }
    var zoom = 2;  // index into STEPS: 100 %
    var turn = 0;  // quarter turns clockwise

    function layOut(img) {
      var canvas = img.parentNode;
      var width = pages.clientWidth * STEPS[zoom];
      var ratio = img.naturalWidth ? img.naturalHeight / img.naturalWidth : 1.3;
      var sideways = turn % 2 === 1;
      // The rotated picture must be `width` wide: sideways, that is the image's height.
      var imgWidth = sideways ? width / ratio : width;
      var imgHeight = imgWidth * ratio;
      img.style.width = imgWidth + "px";
      img.style.maxWidth = "none";
      var shift = ["", "translateX(" + imgHeight + "px) ", "translate(" + imgWidth + "px, " + imgHeight + "px) ",
                   "translateY(" + imgWidth + "px) "][turn];
      img.style.transformOrigin = "0 0";
      img.style.transform = turn ? shift + "rotate(" + (90 * turn) + "deg)" : "";
      canvas.style.width = (sideways ? imgHeight : imgWidth) + "px";
      canvas.style.height = (sideways ? imgWidth : imgHeight) + "px";
    }

    function apply() {
      pages.querySelectorAll("img").forEach(layOut);
      var text = "Zoom " + Math.round(STEPS[zoom] * 100) + " %, " + (turn ? "girado " + (90 * turn) + "°" : "sin giro");
      if (status) { status.textContent = text; }
      controls.querySelector('[data-accion="alejar"]').disabled = zoom === 0;
      controls.querySelector('[data-accion="acercar"]').disabled = zoom === STEPS.length - 1;
    }

    controls.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-accion]");
      if (!button) { return; }
      var action = button.getAttribute("data-accion");
      if (action === "acercar") { zoom = Math.min(zoom + 1, STEPS.length - 1); }
      if (action === "alejar") { zoom = Math.max(zoom - 1, 0); }
      if (action === "girar-derecha") { turn = (turn + 1) % 4; }
      if (action === "girar-izquierda") { turn = (turn + 3) % 4; }
      if (action === "restablecer") { zoom = 2; turn = 0; }
      apply();
    });
    pages.querySelectorAll("img").forEach(function (img) {
      if (!img.complete) { img.addEventListener("load", function () { layOut(img); }); }
    });
    window.addEventListener("resize", apply);
    controls.hidden = false;
    apply();
  }

  document.querySelectorAll(".visor").forEach(setUp);
})();
