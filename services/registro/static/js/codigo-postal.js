/* Registration form, progressive enhancement only: a 5-digit postal code (Mexicans) fills the
   Estado and offers the catalog's colonias, municipios and localidades as suggestions
   (GET /registro/cp/<cp>, web/postal.py). Without this script the fields are typed by hand and
   the server checks the postal code against the Estado (forms/postal_check.py). Texts come from
   data-* attributes the template translates. */
(function () {
  "use strict";
  var cp = document.getElementById("codigo_postal");
  var status = document.getElementById("cp-resultado");
  if (!cp || !status || !cp.dataset.cpUrl || !window.fetch) { return; }
  var foreign = document.getElementById("es_extranjero");
  var estado = document.getElementById("estado");
  var colonia = document.getElementById("colonia");
  var localidad = document.getElementById("localidad");
  var lastAsked = "";

  function suggest(input, id, values) {
    if (!input) { return; }
    var list = document.getElementById(id);
    if (!list) {
      list = document.createElement("datalist");
      list.id = id;
      document.body.appendChild(list);
    }
    list.textContent = "";
    values.forEach(function (value) {
      var option = document.createElement("option");
      option.value = value;
      list.appendChild(option);
    });
    input.setAttribute("list", id);
    if (!input.value && values.length === 1) { input.value = values[0]; }
  }

  function say(text) { status.textContent = text; }

  function lookUp() {
    var code = cp.value.trim();
    if ((foreign && foreign.checked) || !/^\d{5}$/.test(code) || code === lastAsked) { return; }
    lastAsked = code;
    fetch(cp.dataset.cpUrl.replace("00000", code), { headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (code !== cp.value.trim()) { return; }  // the applicant typed on meanwhile
        if (!data || !data.encontrado) { say(status.dataset.noEncontrado); return; }
        if (estado && data.estado) {
          var known = Array.prototype.some.call(estado.options, function (o) { return o.value === data.estado; });
          if (known) { estado.value = data.estado; }
        }
        suggest(colonia, "cp-colonias", data.colonias);
        var places = data.localidades.slice();
        data.municipios.forEach(function (m) { if (places.indexOf(m) < 0) { places.push(m); } });
        suggest(localidad, "cp-localidades", places);
        say(status.dataset.encontrado.replace("{estado}", data.estado || "").replace("{n}", data.colonias.length));
      })
      .catch(function () { lastAsked = ""; });  // offline or server down: the form works by hand
  }

  cp.addEventListener("input", lookUp);
  cp.addEventListener("change", lookUp);
  lookUp();
})();
