/* Registration form, progressive enhancement only: shows the fields that apply to a Mexican or
   to a foreign applicant. Without this script every field is visible and the server enforces
   every rule (forms/registration.py), so nothing here is needed for the form to work. */
(function () {
  "use strict";
  var form = document.getElementById("form-registro");
  var box = document.getElementById("es_extranjero");
  if (!form || !box) { return; }
  var curp = document.getElementById("curp");
  var rfc = document.getElementById("rfc");
  var pais = document.getElementById("pais");

  function apply() {
    var foreign = box.checked;
    form.querySelectorAll('[data-solo="extranjero"]').forEach(function (el) { el.hidden = !foreign; });
    form.querySelectorAll('[data-solo="mexicano"]').forEach(function (el) { el.hidden = foreign; });
    [curp, rfc].forEach(function (input) {
      if (input) { input.setAttribute("aria-required", foreign ? "false" : "true"); }
    });
    if (pais && !foreign) { pais.value = "MX"; }
  }

  box.addEventListener("change", apply);
  apply();
})();
