'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const rhea = require('rhea');
const codec = require('../lib/message.js');
const management = require('../lib/management.js');
const { Broker } = require('../lib/queue.js');

const { types } = rhea;
const { typed } = codec;

function setup() {
  const broker = new Broker({ queues: [{ name: 'q', maxDeliveryCount: 10, lockDurationMs: 30_000, duplicateDetection: false, duplicateWindowMs: 600_000 }] });
  test.after(() => broker.dispose());
  return broker.queue('q');
}

/** Encodes a request the way the Go client does: operation in application properties, map body. */
function request(body) {
  return rhea.message.encode({ body: typed.map(body) });
}

function call(entity, operation, body) {
  return management.handle(entity, operation, request(body));
}

/** Writes a Typed and reads it back, so tests see the wire types the Go client will see. */
function wire(t) {
  const w = new types.Writer();
  w.write(t);
  return new types.Reader(w.toBuffer()).read();
}

function field(body, key) {
  return codec.getEntry(codec.mapEntries(wire(body)), key);
}

function encoded(id, annotations = {}) {
  return rhea.message.encode({ message_id: id, message_annotations: annotations, body: rhea.message.data_section(Buffer.from(id)) });
}

const uuidArray = (tokens) => types.Array32(tokens.map((t) => Buffer.from(t.replace(/-/g, ''), 'hex')), 0x98);

test('schedule-message returns an AMQP array of long, cancel removes, peek shows state', () => {
  const q = setup();
  const at = Date.now() + 3_600_000;
  const r = call(q, 'com.microsoft:schedule-message', [
    ['messages', typed.list([
      typed.map([['message-id', typed.string('s1')], ['message', typed.binary(encoded('s1', { 'x-opt-scheduled-enqueue-time': types.wrap_timestamp(at) }))]]),
    ])],
  ]);
  assert.equal(r.status, 200);
  const seqs = field(r.body, 'sequence-numbers');
  assert.equal(seqs.type.typecode, 0xf0, 'array, not list');
  assert.equal(seqs.array_constructor.typecode, 0x81, 'of long');
  assert.deepEqual(seqs.value.map((v) => v.value), [1]);

  const peek = call(q, 'com.microsoft:peek-message', [['from-sequence-number', typed.long(1)], ['message-count', typed.int(10)]]);
  assert.equal(peek.status, 200);
  const list = field(peek.body, 'messages');
  assert.equal(list.value.length, 1);
  const inner = codec.decode(codec.getEntry(codec.mapEntries(list.value[0]), 'message').value);
  assert.equal(inner.properties.messageId, 's1');
  assert.equal(codec.toPlain(codec.getEntry(inner.annotations, 'x-opt-message-state')), 2);

  assert.equal(call(q, 'com.microsoft:cancel-scheduled-message', [['sequence-numbers', typed.longArray([1])]]).status, 200);
  assert.equal(call(q, 'com.microsoft:peek-message', [['from-sequence-number', typed.long(1)], ['message-count', typed.int(10)]]).status, 204);
});

test('renew-lock returns an AMQP array of timestamps, and 410 for a lost lock', () => {
  const q = setup();
  q.enqueue(codec.decode(encoded('m')));
  const s = q.acquire({ peekLock: true });
  const r = call(q, 'com.microsoft:renew-lock', [['lock-tokens', uuidArray([s.lock.token])]]);
  assert.equal(r.status, 200);
  const exp = field(r.body, 'expirations');
  assert.equal(exp.type.typecode, 0xf0);
  assert.equal(exp.array_constructor.typecode, 0x83, 'of timestamp');
  assert.equal(exp.value[0].value.getTime(), s.lock.until);
  const lost = call(q, 'com.microsoft:renew-lock', [['lock-tokens', uuidArray(['00000000-0000-0000-0000-000000000001'])]]);
  assert.deepEqual([lost.status, lost.condition], [410, management.LOCK_LOST]);
});

test('update-disposition settles by lock token', () => {
  const q = setup();
  for (const id of ['a', 'b', 'c']) q.enqueue(codec.decode(encoded(id)));
  const [a, b, c] = [q.acquire({ peekLock: true }), q.acquire({ peekLock: true }), q.acquire({ peekLock: true })];
  const settle = (s, status, extra = []) => call(q, 'com.microsoft:update-disposition', [['disposition-status', typed.string(status)], ['lock-tokens', uuidArray([s.lock.token])], ...extra]).status;
  assert.equal(settle(a, 'completed'), 200);
  assert.equal(settle(b, 'abandoned', [['properties-to-modify', typed.map([['n', typed.long(1)]])]]), 200);
  assert.equal(settle(c, 'suspended', [['deadletter-reason', typed.string('R')], ['deadletter-description', typed.string('D')]]), 200);
  const again = q.acquire({ peekLock: true });
  assert.equal(again.messageId, 'b');
  assert.equal(again.deliveryCount, 1);
  assert.equal(codec.typeName(codec.getEntry(again.parts.appProps, 'n')), 'long');
  const dl = q.deadLetter.acquire({ peekLock: false });
  assert.equal(codec.toPlain(codec.getEntry(dl.parts.appProps, 'DeadLetterReason')), 'R');
  assert.equal(call(q, 'com.microsoft:update-disposition', [['disposition-status', typed.string('completed')], ['lock-tokens', uuidArray([a.lock?.token ?? '00000000-0000-0000-0000-000000000000'])]]).status, 410);
});

test('unknown operations get 501, malformed bodies 400, never an exception', () => {
  const q = setup();
  assert.equal(call(q, 'com.microsoft:get-rules', []).status, 501);
  assert.equal(management.handle(q, 'com.microsoft:peek-message', Buffer.from([0x00, 0x53])).status, 400);
  assert.equal(call(q.deadLetter, 'com.microsoft:schedule-message', [['messages', typed.list([])]]).status, 400);
});
