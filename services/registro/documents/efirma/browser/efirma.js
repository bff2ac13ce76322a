// "Firmar con e.firma" on the activation page (templates/activacion/_efirma.html; documents/efirma/views.py).
// The .key and its password are read here and never leave this page: the service receives the certificate
// (public) to prepare the responsiva, then the signature value. Any refusal is shown beside the field.
import { certificateKey, fromBase64, keyMatches, openKey, signAttributes, toBase64 } from "./keys.js";

function setup(section) {
  const form = section.querySelector("#efirma-formulario");
  const cer = section.querySelector("#efirma-cer");
  const key = section.querySelector("#efirma-key");
  const password = section.querySelector("#efirma-contrasena");
  const error = section.querySelector("#efirma-error");
  const progress = section.querySelector("#efirma-progreso");
  const button = form.querySelector("button[type=submit]");
  const text = (name) => section.dataset["t" + name];
  const csrf = () => (document.querySelector("input[name=csrf_token]") || {}).value || "";

  function say(message) {
    progress.hidden = !message;
    progress.textContent = message || "";
  }

  function refuse(message, field) {
    say("");
    error.textContent = message;
    error.hidden = false;
    for (const input of [cer, key, password]) {
      input.removeAttribute("aria-invalid");
      if (input === cer) input.setAttribute("aria-describedby", "efirma-ayuda");
      else input.removeAttribute("aria-describedby");
    }
    if (field) {
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", (field === cer ? "efirma-ayuda " : "") + "efirma-error");
      field.focus();
    }
    button.disabled = false;
  }

  async function post(url, fields) {
    const body = new URLSearchParams({ csrf_token: csrf(), ...fields });
    let response;
    try {
      response = await fetch(url, { method: "POST", body, credentials: "same-origin",
                                    headers: { Accept: "application/json" } });
    } catch (e) {
      return { ok: false, data: { error: text("Red") } };
    }
    let data = {};
    try { data = await response.json(); } catch (e) { data = { error: text("Red") }; }
    return { ok: response.ok, data };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    if (!cer.files.length) return refuse(text("FaltaCer"), cer);
    if (!key.files.length) return refuse(text("FaltaKey"), key);
    if (!password.value) return refuse(text("FaltaContrasena"), password);
    button.disabled = true;
    say(text("Leyendo"));
    const cerBytes = new Uint8Array(await cer.files[0].arrayBuffer());
    const publicKey = certificateKey(cerBytes);
    if (!publicKey) return refuse(text("CerInvalido"), cer);
    // Give the page a moment to show the progress before the key's (synchronous) decryption.
    await new Promise((resolve) => setTimeout(resolve, 0));
    let privateKey = openKey(new Uint8Array(await key.files[0].arrayBuffer()), password.value);
    if (!privateKey) return refuse(text("Contrasena"), password);
    if (!keyMatches(privateKey, publicKey)) return refuse(text("NoCorresponde"), key);
    password.value = "";
    const certificado = toBase64(cerBytes);
    say(text("Preparando"));
    const prepared = await post(section.dataset.preparar, { certificado });
    if (!prepared.ok) return refuse(prepared.data.error || text("Red"), cer);
    say(text("Firmando"));
    const firma = toBase64(signAttributes(privateKey, fromBase64(prepared.data.atributos)));
    privateKey = null;
    say(text("Verificando"));
    const completed = await post(section.dataset.completar, { estado: prepared.data.estado, firma, certificado });
    if (!completed.ok) return refuse(completed.data.error || text("Red"), cer);
    // The page's own URL with an anchor is no navigation at all: reload to show the stored document.
    const target = new URL(completed.data.pagina, window.location.href);
    if (target.pathname === window.location.pathname && !window.location.search) {
      window.location.hash = target.hash;
      window.location.reload();
    } else {
      window.location.assign(target.href);
    }
  });
  section.hidden = false;
  const withoutScript = document.getElementById("efirma-sin-js");
  if (withoutScript) withoutScript.hidden = true;
}

const section = document.getElementById("efirma");
if (section) setup(section);
