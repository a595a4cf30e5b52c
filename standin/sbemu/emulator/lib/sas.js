'use strict';
/**
 * Shared Access Signature tokens, as the Go client builds them for CBS put-token
 * (azservicebus internal/sas/sas.go):
 *
 *   SharedAccessSignature sr=<lower(url-encoded audience)>&sig=<url-encoded base64 HMAC-SHA256>&se=<unix>&skn=<keyName>
 *
 * where the HMAC is computed with the key over `sr + "\n" + se`, sr exactly as it appears in
 * the token (still URL-encoded). The emulator checks the signature so that a test using the
 * wrong key sees the same 401 the real service gives, instead of passing by accident.
 */

const crypto = require('crypto');

/** Go's url.QueryEscape: like encodeURIComponent, but also escapes !'()* and uses + for space. */
function queryEscape(s) {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+');
}

function queryUnescape(s) {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

function hmac(key, text) {
  return crypto.createHmac('sha256', Buffer.from(key, 'utf8')).update(text, 'utf8').digest('base64');
}

/** Builds a token exactly as the Go SDK does (used by tests and handy for manual checks). */
function sign({ audience, keyName, key, expiry }) {
  const sr = queryEscape(audience).toLowerCase();
  const se = String(expiry);
  const sig = queryEscape(hmac(key, sr + '\n' + se));
  return `SharedAccessSignature sr=${sr}&sig=${sig}&se=${se}&skn=${keyName}`;
}

/** Splits a token into its raw (still-encoded) fields; returns null if it is not a SAS token. */
function parse(token) {
  if (typeof token !== 'string') return null;
  const prefix = 'SharedAccessSignature ';
  if (!token.startsWith(prefix)) return null;
  const fields = {};
  for (const part of token.slice(prefix.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return null;
    fields[part.slice(0, eq)] = part.slice(eq + 1);
  }
  if (!fields.sr || !fields.sig || !fields.se || !fields.skn) return null;
  return fields;
}

/** Normalises an audience for comparison: lower case, no scheme, no trailing slash. */
function normaliseAudience(a) {
  return a.toLowerCase().replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '');
}

/**
 * Verifies a token for an audience. Returns {ok: true} or {ok: false, reason}.
 * The token's resource (sr) must be the audience or a prefix of it at a path boundary,
 * because the real service accepts a namespace-wide token for any entity in it.
 */
function verify(token, { audience, keyName, key, nowSeconds }) {
  const f = parse(token);
  if (!f) return { ok: false, reason: 'malformed SharedAccessSignature token' };
  let skn;
  let resource;
  let sig;
  try {
    skn = queryUnescape(f.skn);
    resource = queryUnescape(f.sr);
    sig = Buffer.from(queryUnescape(f.sig), 'base64');
  } catch {
    return { ok: false, reason: 'malformed SharedAccessSignature token' };
  }
  if (skn !== keyName) return { ok: false, reason: `unknown SharedAccessKeyName ${JSON.stringify(skn)}` };
  const expected = Buffer.from(hmac(key, f.sr + '\n' + f.se), 'base64');
  if (sig.length !== expected.length || !crypto.timingSafeEqual(sig, expected)) {
    return { ok: false, reason: 'invalid signature' };
  }
  const se = Number(f.se);
  if (!Number.isFinite(se)) return { ok: false, reason: 'invalid expiry' };
  if (se < nowSeconds) return { ok: false, reason: 'token expired' };
  const want = normaliseAudience(audience);
  const got = normaliseAudience(resource);
  if (!(want === got || want.startsWith(got + '/'))) {
    return { ok: false, reason: `token is for ${JSON.stringify(resource)}, not ${JSON.stringify(audience)}` };
  }
  return { ok: true };
}

module.exports = { sign, verify, parse, queryEscape };
