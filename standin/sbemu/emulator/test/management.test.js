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

test('peek shows a scheduled message with its state and sequence number, 204 when there is nothing', () => {
  const q = setup();
  const at = Date.now() + 3_600_000;
  q.enqueue(codec.decode(encoded('s1', { 'x-opt-scheduled-enqueue-time': types.wrap_timestamp(at) })));
  const peek = call(q, 'com.microsoft:peek-message', [['from-sequence-number', typed.long(1)], ['message-count', typed.int(10)]]);
  assert.equal(peek.status, 200);
  const list = field(peek.body, 'messages');
  assert.equal(list.value.length, 1);
  const inner = codec.decode(codec.getEntry(codec.mapEntries(list.value[0]), 'message').value);
  assert.equal(inner.properties.messageId, 's1');
  assert.equal(codec.toPlain(codec.getEntry(inner.annotations, 'x-opt-message-state')), 2);
  assert.equal(codec.toPlain(codec.getEntry(inner.annotations, 'x-opt-sequence-number')), 1);
  assert.equal(call(q, 'com.microsoft:peek-message', [['from-sequence-number', typed.long(2)], ['message-count', typed.int(10)]]).status, 204);
});

test('renew-lock returns an AMQP array of timestamps, and 410 for a lost lock', () => {
  const q = setup();
  q.enqueue(codec.decode(encoded('m')));
  const s = q.acquire();
  const r = call(q, 'com.microsoft:renew-lock', [['lock-tokens', uuidArray([s.lock.token])]]);
  assert.equal(r.status, 200);
  const exp = field(r.body, 'expirations');
  assert.equal(exp.type.typecode, 0xf0);
  assert.equal(exp.array_constructor.typecode, 0x83, 'of timestamp');
  assert.equal(exp.value[0].value.getTime(), s.lock.until);
  const lost = call(q, 'com.microsoft:renew-lock', [['lock-tokens', uuidArray(['00000000-0000-0000-0000-000000000001'])]]);
  assert.deepEqual([lost.status, lost.condition], [410, management.LOCK_LOST]);
});

test('unknown operations get 501, malformed bodies 400, never an exception', () => {
  const q = setup();
  for (const op of ['com.microsoft:get-rules', 'com.microsoft:schedule-message', 'com.microsoft:receive-by-sequence-number', 'com.microsoft:update-disposition']) {
    assert.equal(call(q, op, []).status, 501, op);
  }
  assert.equal(management.handle(q, 'com.microsoft:peek-message', Buffer.from([0x00, 0x53])).status, 400);
});
