'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const rhea = require('rhea');
const codec = require('../lib/message.js');

const { types } = rhea;
const rheaMessage = rhea.message;

/** A message shaped like the Go client's toAMQPMessage output, with typed application properties. */
function goLikeMessage() {
  return rheaMessage.encode({
    ttl: 600_000,
    message_id: 'm-1',
    correlation_id: 'TKT-42',
    subject: 'purge',
    content_type: 'application/json',
    message_annotations: { 'x-opt-scheduled-enqueue-time': types.wrap_timestamp(1_700_000_000_123) },
    application_properties: {
      attempt: types.wrap_long(3),
      big: types.wrap_long(2 ** 40),
      small: types.wrap_int(7),
      ratio: types.wrap_double(0.5),
      final: types.wrap_boolean(true),
      firstSeen: types.wrap_timestamp(1_741_064_767_890),
      tenant: 'contoso',
    },
    body: rheaMessage.data_section(Buffer.from('{"id":"x"}')),
  });
}

/** Application property name -> [type name, plain value], read back with our own decoder. */
function propTypes(buffer) {
  return Object.fromEntries(codec.decode(buffer).appProps.map(([k, v]) => [k, [codec.typeName(v), codec.toPlain(v)]]));
}

test('decode keeps properties, header and typed application properties', () => {
  const parts = codec.decode(goLikeMessage());
  assert.equal(parts.header.ttl, 600_000);
  assert.deepEqual(parts.properties, {
    messageId: 'm-1', to: undefined, subject: 'purge', replyTo: undefined,
    correlationId: 'TKT-42', contentType: 'application/json', groupId: undefined,
  });
  assert.deepEqual(propTypes(goLikeMessage()), {
    attempt: ['long', 3],
    big: ['long', 2 ** 40],
    small: ['int', 7],
    ratio: ['double', 0.5],
    final: ['bool', true],
    firstSeen: ['timestamp', '2025-03-04T05:06:07.890Z'],
    tenant: ['string', 'contoso'],
  });
  const sched = codec.getEntry(parts.annotations, 'x-opt-scheduled-enqueue-time');
  assert.equal(codec.typeName(sched), 'timestamp');
});

test('encode then decode is a type-preserving round trip', () => {
  const original = goLikeMessage();
  const once = codec.encode(codec.decode(original), { deliveryCount: 2 });
  const twice = codec.encode(codec.decode(once), { deliveryCount: 2 });
  assert.deepEqual(once, twice, 'encoding is stable');
  assert.deepEqual(propTypes(once), propTypes(original));
  const parts = codec.decode(once);
  assert.equal(parts.header.deliveryCount, 2);
  assert.equal(parts.header.ttl, 600_000);
  assert.equal(parts.properties.messageId, 'm-1');
  // rhea's own decoder agrees on the visible fields and body
  const m = rheaMessage.decode(once);
  assert.equal(m.message_id, 'm-1');
  assert.equal(m.delivery_count, 2);
  assert.deepEqual(m.body.content, Buffer.from('{"id":"x"}'));
});

test('broker annotations replace stale ones and keep their AMQP types', () => {
  const parts = codec.decode(goLikeMessage());
  parts.annotations.push(['x-opt-sequence-number', codec.typed.long(99)]);
  const out = codec.decode(codec.encode(parts, {
    annotations: [
      ['x-opt-sequence-number', codec.typed.long(1)],
      ['x-opt-enqueued-time', codec.typed.timestamp(1_700_000_000_000)],
      ['x-opt-deadletter-source', codec.typed.string('q')],
    ],
  }));
  const ann = Object.fromEntries(out.annotations.map(([k, v]) => [k, [codec.typeName(v), codec.toPlain(v)]]));
  assert.deepEqual(ann, {
    'x-opt-scheduled-enqueue-time': ['timestamp', '2023-11-14T22:13:20.123Z'],
    'x-opt-sequence-number': ['long', 1],
    'x-opt-enqueued-time': ['timestamp', '2023-11-14T22:13:20.000Z'],
    'x-opt-deadletter-source': ['string', 'q'],
  });
});

test('a message without header or properties gets both (the Go client needs both for DeliveryCount)', () => {
  const bare = rheaMessage.encode({ body: rheaMessage.data_section(Buffer.from('x')) });
  const m = rheaMessage.decode(codec.encode(codec.decode(bare), { deliveryCount: 4 }));
  assert.equal(m.delivery_count, 4);
  const reader = new types.Reader(codec.encode(codec.decode(bare), {}));
  const codes = [];
  while (reader.remaining()) codes.push(reader.read().descriptor.value);
  assert.deepEqual(codes, [0x70, 0x72, 0x73, 0x75]);
});

test('mergeEntries replaces in place and appends new keys', () => {
  const a = [['x', codec.typed.string('1')], ['y', codec.typed.long(2)]];
  const merged = codec.mergeEntries(a, [['y', codec.typed.string('two')], ['z', codec.typed.bool(true)]]);
  assert.deepEqual(merged.map(([k, v]) => [k, codec.toPlain(v)]), [['x', '1'], ['y', 'two'], ['z', true]]);
});

test('installRawCapture keeps the transfer bytes next to rhea\'s decoded message', () => {
  codec.installRawCapture();
  codec.installRawCapture(); // idempotent
  const bytes = goLikeMessage();
  const m = rheaMessage.decode(bytes);
  assert.equal(m.message_id, 'm-1');
  assert.equal(codec.rawOf(m), bytes);
});

test('lock tokens: .NET GUID order and RFC order convert both ways', () => {
  const tag = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const rfc = codec.swapGuidOrder(tag);
  assert.equal(codec.uuidString(rfc), '33221100-5544-7766-8899-aabbccddeeff');
  assert.deepEqual(codec.swapGuidOrder(rfc), tag);
});

test('message ids of every AMQP kind become strings', () => {
  assert.equal(codec.idToString(types.wrap_string('abc')), 'abc');
  assert.equal(codec.idToString(types.wrap_ulong(42)), '42');
  assert.equal(codec.idToString(types.wrap_uuid(Buffer.alloc(16, 1))), '01010101-0101-0101-0101-010101010101');
  assert.equal(codec.idToString(types.Null()), null);
});

test('splitBatch returns each message of a batch envelope, and refuses what is not one', () => {
  const one = Buffer.from(goLikeMessage());
  const two = Buffer.from(rheaMessage.encode({ message_id: 'm-2', body: rheaMessage.data_section(Buffer.from('two')) }));
  // The envelope azservicebus sends: the first message's properties, then one data section per message.
  const w = new types.Writer();
  w.write(types.described(types.wrap_ulong(0x73), types.List32([types.wrap_string('m-1')])));
  for (const m of [one, two]) w.write(types.described(types.wrap_ulong(0x75), types.wrap_binary(m)));
  const envelope = Buffer.from(w.toBuffer());
  const parts = codec.splitBatch(envelope).map((b) => codec.decode(b));
  assert.deepEqual(parts.map((p) => p.properties.messageId), ['m-1', 'm-2']);
  assert.equal(parts[0].properties.correlationId, 'TKT-42');
  assert.throws(() => codec.splitBatch(Buffer.from(rheaMessage.encode({ message_id: 'x', body: 'a value body' }))), /data sections/);
  const empty = new types.Writer();
  empty.write(types.described(types.wrap_ulong(0x73), types.List32([types.wrap_string('m-1')])));
  assert.throws(() => codec.splitBatch(Buffer.from(empty.toBuffer())), /empty batch/);
});
