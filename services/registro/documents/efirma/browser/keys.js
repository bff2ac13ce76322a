// The e.firma's key in the browser (node-forge): open SAT's .key (DER PKCS#8, encrypted with the holder's
// password; SAT uses PBES2 with DES-EDE3-CBC, which WebCrypto cannot decrypt), check it belongs to the
// .cer, and sign the CMS signed attributes the service prepared (RSA PKCS#1 v1.5 over their SHA-256).
// Nothing here sends anything anywhere.
import forge from "node-forge/lib/forge.js";
import "node-forge/lib/asn1.js";
import "node-forge/lib/pbe.js";
import "node-forge/lib/rsa.js";
import "node-forge/lib/sha256.js";
import "node-forge/lib/x509.js";
import "node-forge/lib/util.js";

function binary(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return out;
}

function bytesOf(text) {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

export function toBase64(bytes) {
  return forge.util.encode64(binary(bytes));
}

export function fromBase64(text) {
  return bytesOf(forge.util.decode64(text));
}

// The private key, or null when the password does not open it or the file is not an encrypted PKCS#8 key.
export function openKey(keyBytes, password) {
  try {
    const encrypted = forge.asn1.fromDer(forge.util.createBuffer(binary(keyBytes)));
    const info = forge.pki.decryptPrivateKeyInfo(encrypted, password);
    return info ? forge.pki.privateKeyFromAsn1(info) : null;
  } catch (e) {
    return null; // a wrong password yields garbage that does not parse
  }
}

// The certificate's RSA public key, or null when the bytes are not an X.509 certificate.
export function certificateKey(cerBytes) {
  try {
    const cert = forge.pki.certificateFromAsn1(forge.asn1.fromDer(forge.util.createBuffer(binary(cerBytes))));
    return cert.publicKey && cert.publicKey.n ? cert.publicKey : null;
  } catch (e) {
    return null;
  }
}

export function keyMatches(privateKey, publicKey) {
  return privateKey.n.equals(publicKey.n) && privateKey.e.equals(publicKey.e);
}

export function signAttributes(privateKey, attributes) {
  const md = forge.md.sha256.create();
  md.update(binary(attributes));
  return bytesOf(privateKey.sign(md));
}
