// Runs the page's key code (services/registro/documents/efirma/browser/keys.js) under Node for the tests:
// node efirma_keys.mjs <key file> <cer file> <password> <data to sign, base64>  ->  JSON on stdout.
import { readFileSync } from "node:fs";
import { certificateKey, fromBase64, keyMatches, openKey, signAttributes, toBase64 } from
  "../../services/registro/documents/efirma/browser/keys.js";

const [keyPath, cerPath, password, data] = process.argv.slice(2);
const started = performance.now();
const key = openKey(new Uint8Array(readFileSync(keyPath)), password);
const opened = performance.now();
const publicKey = certificateKey(new Uint8Array(readFileSync(cerPath)));
const out = { opened: Boolean(key), certificate: Boolean(publicKey), matches: null, signature: null };
if (key && publicKey) {
  out.matches = keyMatches(key, publicKey);
  const before = performance.now();
  out.signature = toBase64(signAttributes(key, fromBase64(data)));
  out.sign_ms = performance.now() - before;
}
out.open_ms = opened - started;
process.stdout.write(JSON.stringify(out));
