'use strict';
/**
 * `$management` operations (azservicebus internal/mgmt.go), answered for one entity: renew-lock (the
 * host stand-in renews locks) and peek-message (the handler's `failed` command and the tests peek).
 * Scheduling by $management, deferral and settling by lock token are not implemented.
 *
 * Replies carry an int32 `status-code`; the Go client maps 401/404/410 to error codes and treats
 * any other non-2xx as a reason to rebuild the connection and retry, so unknown operations get a
 * clear 501 rather than silence (silence would hang the caller until its context ends).
 * Array-valued results (`expirations`) must be AMQP arrays, not lists: the client type-asserts
 * []time.Time.
 */

const codec = require('./message.js');

const { typed } = codec;

const LOCK_LOST = 'com.microsoft:message-lock-lost';

function ok(body) {
  return { status: 200, description: 'OK', body };
}

function fail(status, description, condition) {
  return { status, description, condition };
}

/** Plain values of a Typed array or list (Buffers for uuids). */
function items(t) {
  if (!t || !Array.isArray(t.value)) return [];
  return t.value.map((v) => (v && v.type ? v.value : v));
}

function entriesOf(t) {
  return codec.isNullTyped(t) ? [] : codec.mapEntries(t);
}

function get(entries, key) {
  return codec.getEntry(entries, key);
}

function plainNumber(t, def) {
  if (codec.isNullTyped(t)) return def;
  const v = codec.toPlain(t);
  const n = Number(v);
  return Number.isFinite(n) ? n : def;
}

function lockTokens(t) {
  return items(t).map((b) => codec.uuidString(b));
}

function messagesBody(key, stored, entity, extra) {
  return typed.map([[key, typed.list(stored.map((s) => typed.map(extra(s))))]]);
}

const operations = {
  'com.microsoft:renew-lock'(entity, req) {
    const tokens = lockTokens(get(req, 'lock-tokens'));
    const expirations = [];
    for (const token of tokens) {
      const until = entity.renew(token);
      if (until === null) return fail(410, `The lock supplied (${token}) is invalid: it expired or the message was settled.`, LOCK_LOST);
      expirations.push(until);
    }
    return ok(typed.map([['expirations', typed.timestampArray(expirations)]]));
  },

  'com.microsoft:peek-message'(entity, req) {
    const from = plainNumber(get(req, 'from-sequence-number'), 1);
    const count = plainNumber(get(req, 'message-count'), 1);
    const found = entity.peek(from, count);
    if (found.length === 0) return { status: 204, description: 'No messages' };
    return ok(messagesBody('messages', found, entity, (s) => [['message', typed.binary(entity.encode(s))]]));
  },
};

/**
 * Runs one request against an entity.
 *   operation  the request's `operation` application property
 *   raw        the encoded request message (its amqp-value body is a map)
 * Returns {status, description, body?, condition?}; never throws for bad input.
 */
function handle(entity, operation, raw) {
  const op = operations[operation];
  if (!op) return fail(501, `Operation ${JSON.stringify(operation)} is not implemented by the emulator.`, 'amqp:not-implemented');
  let req;
  try {
    req = entriesOf(codec.readValueBody(raw));
  } catch (err) {
    return fail(400, `malformed request body: ${err.message}`, 'amqp:decode-error');
  }
  return op(entity, req);
}

module.exports = { handle, LOCK_LOST };
