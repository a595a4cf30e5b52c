'use strict';
/**
 * `$management` operations (azservicebus internal/mgmt.go), answered for one entity.
 *
 * Replies carry an int32 `status-code`; the Go client maps 401/404/410 to error codes and treats
 * any other non-2xx as a reason to rebuild the connection and retry, so unknown operations get a
 * clear 501 rather than silence (silence would hang the caller until its context ends).
 * Array-valued results (`expirations`, `sequence-numbers`) must be AMQP arrays, not lists:
 * the client type-asserts []time.Time and []int64.
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

/** Plain values of a Typed array or list (numbers, Buffers for uuids). */
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

  'com.microsoft:schedule-message'(entity, req) {
    if (entity.isDeadLetter) return fail(400, 'Cannot schedule messages on a dead-letter queue.', 'amqp:not-allowed');
    const list = get(req, 'messages');
    const seqs = [];
    for (const m of items(list)) {
      const fields = codec.mapEntries({ value: m });
      const raw = get(fields, 'message');
      if (!raw || !Buffer.isBuffer(raw.value)) return fail(400, 'schedule-message: each entry needs a binary "message"', 'amqp:invalid-field');
      const result = entity.enqueue(codec.decode(raw.value));
      seqs.push(result.seq);
    }
    return ok(typed.map([['sequence-numbers', typed.longArray(seqs)]]));
  },

  'com.microsoft:cancel-scheduled-message'(entity, req) {
    entity.cancelScheduled(items(get(req, 'sequence-numbers')).map(Number));
    return ok(undefined);
  },

  'com.microsoft:receive-by-sequence-number'(entity, req) {
    const seqs = items(get(req, 'sequence-numbers')).map(Number);
    const peekLock = plainNumber(get(req, 'receiver-settle-mode'), 1) === 1;
    const found = entity.receiveDeferred(seqs, { peekLock });
    if (found.length === 0) return fail(404, `No deferred message with sequence number(s) ${seqs.join(', ')}.`, 'com.microsoft:message-not-found');
    return ok(messagesBody('messages', found, entity, (s) => {
      const e = [['message', typed.binary(entity.encode(s, { lockTokenAnnotation: true }))]];
      if (s.lock) e.unshift(['lock-token', typed.uuid(Buffer.from(s.lock.token.replace(/-/g, ''), 'hex'))]);
      return e;
    }));
  },

  'com.microsoft:update-disposition'(entity, req) {
    const status = codec.toPlain(get(req, 'disposition-status'));
    const props = entriesOf(get(req, 'properties-to-modify'));
    const reason = get(req, 'deadletter-reason');
    const description = get(req, 'deadletter-description');
    for (const token of lockTokens(get(req, 'lock-tokens'))) {
      let settled;
      switch (status) {
        case 'completed': settled = entity.complete(token); break;
        case 'abandoned': settled = entity.abandon(token, props); break;
        case 'defered': // sic: the SDK's spelling
        case 'deferred': settled = entity.defer(token, props); break;
        case 'suspended':
          settled = entity.deadLetterLocked(token, {
            reason: codec.isNullTyped(reason) ? undefined : String(codec.toPlain(reason)),
            description: codec.isNullTyped(description) ? undefined : String(codec.toPlain(description)),
            properties: props,
          });
          break;
        default:
          return fail(400, `unknown disposition-status ${JSON.stringify(status)}`, 'amqp:invalid-field');
      }
      if (!settled) return fail(410, `The lock supplied (${token}) is invalid: it expired or the message was settled.`, LOCK_LOST);
    }
    return ok(undefined);
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
