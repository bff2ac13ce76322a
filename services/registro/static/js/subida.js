/* Activation page, progressive enhancement only: a document goes from the browser straight to S3
   (documents/direct_uploads.py). The service presigns a PUT of exactly this file's size, the
   browser sends the file there with its progress shown, then confirms, and the service checks
   the file, answering the confirmation with the outcome when the check ends within a few seconds;
   otherwise this script waits for that check and then shows the page with its outcome. Without this script, or when any step before the confirmation fails (S3 unreachable,
   an error page), the form uploads through the service as before, and the service decides. */
(function () {
  "use strict";
  var page = document.querySelector("[data-estado]");
  if (!page || !window.fetch || !window.FormData || !window.XMLHttpRequest || !window.Promise) { return; }
  var texts = page.dataset;
  // After the confirmation: polls from 50 ms, backing off to 1 s, for about 20 s (a 10 MiB check takes
  // about 0.1 s on the service's machine). A page drawn while a check runs: every 1.5 s, for 5 minutes.
  var WAIT_FIRST_MS = 50, WAIT_MAX_MS = 1000, WAIT_TRIES = 25, POLL_MS = 1500, POLL_TRIES = 200;

  function say(form, text) {
    var line = form.querySelector(".progreso-subida");
    if (line) { line.hidden = !text; line.textContent = text || ""; }
  }

  function json(response) {
    return (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
  }

  function showPage(kind) {
    var target = new URL(page.dataset.pagina, window.location.href);
    target.hash = "documento-" + kind;
    if (window.location.pathname === target.pathname && !window.location.search) {
      window.location.hash = "documento-" + kind;
      window.location.reload();
    } else {
      window.location.assign(target.href);
    }
  }

  function clearRefusal(form) {
    form.querySelectorAll("[data-rechazo]").forEach(function (el) { el.remove(); });
    form.querySelectorAll("[data-invalido]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("data-invalido");
    });
  }

  // The service's refusal (a field's message, or a notice), shown where the form upload shows it.
  function refuse(form, kind, body) {
    say(form, "");
    var first = null;
    Object.keys(body.errores || {}).forEach(function (field) {
      var input = form.querySelector("#" + kind + "-" + field);
      if (!input) { return; }
      var message = document.createElement("p");
      message.className = "error-campo";
      message.id = kind + "-" + field + "-directa-error";
      message.dataset.rechazo = "1";
      message.textContent = body.errores[field].join(" ");
      (input.closest(".campo") || input.parentNode).appendChild(message);
      input.setAttribute("aria-invalid", "true");
      input.dataset.invalido = "1";
      var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      if (described.indexOf(message.id) < 0) { described.push(message.id); }
      input.setAttribute("aria-describedby", described.join(" "));
      first = first || input;
    });
    if (body.aviso) {
      var notice = document.createElement("div");
      notice.className = "aviso aviso-error";
      notice.setAttribute("role", "alert");
      notice.dataset.rechazo = "1";
      notice.textContent = body.aviso;
      form.insertBefore(notice, form.firstChild);
    }
    if (first) { first.focus(); }
  }

  function put(grant, file, form) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("PUT", grant.url);
      Object.keys(grant.encabezados).forEach(function (name) { xhr.setRequestHeader(name, grant.encabezados[name]); });
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) { say(form, texts.tEnviando.replace("%s", Math.floor(100 * e.loaded / e.total))); }
      };
      xhr.onload = function () { (xhr.status >= 200 && xhr.status < 300) ? resolve() : reject(new Error("S3 " + xhr.status)); };
      xhr.onerror = xhr.onabort = xhr.ontimeout = function () { reject(new Error("S3 sin respuesta")); };
      xhr.send(file);
    });
  }

  // Resolves once the check of this upload has ended (or after a few seconds: the page then says it goes on).
  function checked(url, tries, delay) {
    return new Promise(function (resolve) { setTimeout(resolve, delay); })
      .then(function () { return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}}); })
      .then(function (r) { return r.ok ? r.json() : {estado: "fin"}; })
      .then(function (state) {
        if (state.estado !== "revisando" || tries <= 1) { return null; }
        return checked(url, tries - 1, Math.min(WAIT_MAX_MS, Math.round(delay * 1.5)));
      });
  }

  document.querySelectorAll("form[data-directa]").forEach(function (form) {
    var input = form.querySelector('input[type="file"]');
    var kind = input ? input.id.split("-")[0] : "";
    form.addEventListener("submit", function (event) {
      var file = input && input.files && input.files[0];
      // No file, an empty or an oversized one: the form upload gives the service's own message.
      if (!file || file.size === 0 || file.size > Number(form.dataset.limite)) { return; }
      event.preventDefault();
      if (form.dataset.enviando) { return; }
      form.dataset.enviando = "1";
      clearRefusal(form);
      say(form, texts.tPreparando);
      var fields = new FormData(form);
      fields.delete(input.name);
      fields.set("tamano", String(file.size));
      fields.set("nombre", file.name);
      var refused = false, confirmed = false;
      fetch(form.dataset.directa, {method: "POST", body: fields, credentials: "same-origin",
                                   headers: {"Accept": "application/json"}})
        .then(function (r) {
          if (r.ok && json(r)) { return r.json(); }
          if (json(r) && r.status >= 400 && r.status < 500) {
            refused = true;
            return r.json().then(function (body) { refuse(form, kind, body); throw new Error("rechazado"); });
          }
          throw new Error("sin carga directa: " + r.status);
        })
        .then(function (grant) {
          return put(grant, file, form).then(function () {
            var receipt = new FormData();
            receipt.set("csrf_token", form.elements.csrf_token.value);
            receipt.set("recibo", grant.recibo);
            return fetch(grant.confirmar, {method: "POST", body: receipt, credentials: "same-origin",
                                           headers: {"Accept": "application/json"}});
          });
        })
        .then(function (r) {
          // 200: the check ended while the service waited for it (its outcome is on the page); 202: still checking.
          if (r.status === 200) { confirmed = true; return null; }
          if (r.status !== 202) { throw new Error("confirmación " + r.status); }
          confirmed = true;
          say(form, texts.tRevisando);
          return r.json().then(function (answer) { return checked(answer.estado, WAIT_TRIES, WAIT_FIRST_MS); });
        })
        .then(function () { showPage(kind); })
        .catch(function () {
          delete form.dataset.enviando;
          if (refused) { return; }
          if (confirmed) { showPage(kind); return; }
          say(form, texts.tFormulario);
          form.submit();  // the service receives the file itself: its answer is the page
        });
    });
  });

  // A document still being checked when the page was drawn: show the page again once it is done.
  var waiting = document.querySelector("[data-revisando]");
  if (waiting) {
    var tries = POLL_TRIES;
    var poll = function () {
      fetch(page.dataset.estado, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (state) {
          if (state && state.revisando.length === 0) { showPage(waiting.dataset.revisando); return; }
          if (--tries > 0) { setTimeout(poll, POLL_MS); }
        })
        .catch(function () { if (--tries > 0) { setTimeout(poll, POLL_MS); } });
    };
    setTimeout(poll, POLL_MS);
  }
})();
