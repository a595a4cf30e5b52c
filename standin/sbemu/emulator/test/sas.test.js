'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const sas = require('../lib/sas.js');

const KEY = { keyName: 'RootManageSharedAccessKey', key: 'SAS_KEY_VALUE' };
const AUDIENCE = 'amqp://127.0.0.1:5672/purge-requests/$management';
// Produced by the same steps as azservicebus internal/sas/sas.go (Go's url.QueryEscape, lower-cased sr).
const GO_TOKEN = 'SharedAccessSignature sr=amqp%3a%2f%2f127.0.0.1%3a5672%2fpurge-requests%2f%24management&sig=TkIucmSUv9JfaOnjMiWUdoEacItzXD9tjzsqtRjvrbc%3D&se=1767225600&skn=RootManageSharedAccessKey';
const BEFORE_EXPIRY = 1767225600 - 60;

test('a token built by the Go SDK verifies', () => {
  assert.deepEqual(sas.verify(GO_TOKEN, { ...KEY, audience: AUDIENCE, nowSeconds: BEFORE_EXPIRY }), { ok: true });
});

test('sign reproduces the Go SDK token byte for byte', () => {
  assert.equal(sas.sign({ ...KEY, audience: AUDIENCE, expiry: 1767225600 }), GO_TOKEN);
});

test('a wrong key is an invalid signature', () => {
  const r = sas.verify(GO_TOKEN, { keyName: KEY.keyName, key: 'other', audience: AUDIENCE, nowSeconds: BEFORE_EXPIRY });
  assert.equal(r.ok, false);
  assert.match(r.reason, /signature/);
});

test('a wrong key name is refused', () => {
  const token = sas.sign({ keyName: 'Listen', key: KEY.key, audience: AUDIENCE, expiry: 1767225600 });
  const r = sas.verify(token, { ...KEY, audience: AUDIENCE, nowSeconds: BEFORE_EXPIRY });
  assert.equal(r.ok, false);
  assert.match(r.reason, /SharedAccessKeyName/);
});

test('a tampered expiry breaks the signature', () => {
  const token = GO_TOKEN.replace('se=1767225600', 'se=1867225600');
  assert.equal(sas.verify(token, { ...KEY, audience: AUDIENCE, nowSeconds: BEFORE_EXPIRY }).ok, false);
});

test('an expired token is refused', () => {
  const r = sas.verify(GO_TOKEN, { ...KEY, audience: AUDIENCE, nowSeconds: 1767225600 + 1 });
  assert.equal(r.ok, false);
  assert.match(r.reason, /expired/);
});

test('a token for one entity does not open another, a namespace token opens all', () => {
  const other = 'amqp://127.0.0.1:5672/purge-failed';
  assert.equal(sas.verify(GO_TOKEN, { ...KEY, audience: other, nowSeconds: BEFORE_EXPIRY }).ok, false);
  const ns = sas.sign({ ...KEY, audience: 'amqp://127.0.0.1:5672/', expiry: 1767225600 });
  assert.equal(sas.verify(ns, { ...KEY, audience: other, nowSeconds: BEFORE_EXPIRY }).ok, true);
  // a prefix must end at a path boundary: "purge" does not cover "purge-failed"
  const prefix = sas.sign({ ...KEY, audience: 'amqp://127.0.0.1:5672/purge', expiry: 1767225600 });
  assert.equal(sas.verify(prefix, { ...KEY, audience: other, nowSeconds: BEFORE_EXPIRY }).ok, false);
});

test('malformed tokens are refused, not thrown', () => {
  for (const t of [undefined, '', 'Bearer x', 'SharedAccessSignature sr=a', 'SharedAccessSignature sr=%zz&sig=a&se=1&skn=k']) {
    assert.equal(sas.verify(t, { ...KEY, audience: AUDIENCE, nowSeconds: 0 }).ok, false);
  }
});

test('queryEscape matches Go url.QueryEscape', () => {
  assert.equal(sas.queryEscape("a b!'()*~/$:+="), 'a+b%21%27%28%29%2A~%2F%24%3A%2B%3D');
});
