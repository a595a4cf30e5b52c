'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const rhea = require('rhea');
const codec = require('../lib/message.js');
const { Broker } = require('../lib/queue.js');

const { types } = rhea;

/** A manual clock: timers run only when the test advances time. */
function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  let nextId = 1;
  const timers = new Map();
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout(id) {
      timers.delete(id);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let due = null;
        for (const [id, t] of timers) if (t.at <= end && (!due || t.at < due[1].at)) due = [id, t];
        if (!due) break;
        timers.delete(due[0]);
        now = Math.max(now, due[1].at);
        due[1].fn();
      }
      now = end;
    },
    pending: () => timers.size,
  };
}

function setup(specs, clock = fakeClock()) {
  const events = [];
  const errors = [];
  const queues = specs.map((s) => ({ maxDeliveryCount: 10, lockDurationMs: 30_000, duplicateDetection: false, duplicateWindowMs: 600_000, ...s }));
  const broker = new Broker({ queues, clock, emit: (event, f) => events.push({ event, ...f }), onError: (e) => errors.push(e) });
  const names = (name) => events.filter((e) => e.event === name);
  return { broker, clock, events, names, errors };
}

function parts({ id, props = {}, scheduledAt } = {}) {
  const m = {
    message_id: id,
    application_properties: props,
    message_annotations: scheduledAt ? { 'x-opt-scheduled-enqueue-time': types.wrap_timestamp(scheduledAt) } : {},
    body: rhea.message.data_section(Buffer.from(String(id))),
  };
  return codec.decode(rhea.message.encode(m));
}

test('messages are delivered in sequence order with increasing sequence numbers', () => {
  const { broker } = setup([{ name: 'q' }]);
  const q = broker.queue('q');
  assert.deepEqual([q.enqueue(parts({ id: 'a' })).seq, q.enqueue(parts({ id: 'b' })).seq], [1, 2]);
  assert.equal(q.acquire().messageId, 'a');
  assert.equal(q.acquire().messageId, 'b');
  assert.equal(q.acquire(), null);
});

test('a scheduled message is held until its time, then activated', () => {
  const { broker, clock, names } = setup([{ name: 'q' }]);
  const q = broker.queue('q');
  let notified = 0;
  q.onAvailable = () => notified++;
  q.enqueue(parts({ id: 'later', scheduledAt: clock.now() + 5000 }));
  q.enqueue(parts({ id: 'past', scheduledAt: clock.now() - 5000 }));
  assert.equal(q.acquire().messageId, 'past', 'a time in the past is available at once');
  assert.equal(q.acquire(), null);
  assert.equal(q.scheduled.size, 1);
  clock.advance(4999);
  assert.equal(q.acquire(), null);
  const before = notified;
  clock.advance(1);
  assert.ok(notified > before, 'activation notifies the server');
  const s = q.acquire();
  assert.equal(s.messageId, 'later');
  assert.equal(s.enqueuedAt, clock.now());
  assert.equal(names('scheduled').length, 1);
  assert.equal(names('activate').length, 1);
});

test('lock expiry unlocks and counts the delivery; settling afterwards is lock-lost', () => {
  const { broker, clock, names } = setup([{ name: 'q', lockDurationMs: 300 }]);
  const q = broker.queue('q');
  q.enqueue(parts({ id: 'm' }));
  const s = q.acquire();
  const token = s.lock.token;
  assert.equal(s.lock.until, clock.now() + 300);
  clock.advance(299);
  assert.equal(q.acquire(), null, 'still locked');
  clock.advance(1);
  assert.equal(names('lock-expired').length, 1);
  assert.equal(names('lock-expired')[0].deliveryCount, 1);
  assert.equal(q.complete(token), false, 'late settlement is lock-lost');
  const again = q.acquire();
  assert.equal(again.deliveryCount, 1, 'one failed delivery before this one');
  assert.equal(q.complete(again.lock.token), true);
  assert.equal(q.messages.size, 0);
});

test('renew extends the lock from now', () => {
  const { broker, clock, names } = setup([{ name: 'q', lockDurationMs: 300 }]);
  const q = broker.queue('q');
  q.enqueue(parts({ id: 'm' }));
  const s = q.acquire();
  clock.advance(200);
  assert.equal(q.renew(s.lock.token), clock.now() + 300);
  clock.advance(250); // past the original expiry
  assert.equal(names('lock-expired').length, 0);
  assert.equal(names('lock-extended').length, 1, 'the original expiry passed with the lock held');
  clock.advance(50);
  assert.equal(names('lock-expired').length, 1);
  assert.equal(q.renew(s.lock?.token ?? 'gone'), null);
});

test('MaxDeliveryCount: the last failed delivery moves the message to the dead-letter queue', () => {
  const { broker, clock } = setup([{ name: 'q', maxDeliveryCount: 3, lockDurationMs: 100 }]);
  const q = broker.queue('q');
  q.enqueue(parts({ id: 'poison', props: { attempt: types.wrap_long(1) } }));
  const seen = [];
  for (let i = 0; i < 3; i++) {
    const s = q.acquire();
    seen.push(s.deliveryCount + 1);
    if (i === 1) q.abandon(s.lock.token);
    else clock.advance(100);
  }
  assert.deepEqual(seen, [1, 2, 3]);
  assert.equal(q.acquire(), null);
  const d = q.deadLetter.acquire();
  assert.equal(d.messageId, 'poison');
  assert.equal(d.deadLetterSource, 'q');
  const props = Object.fromEntries(d.parts.appProps.map(([k, v]) => [k, [codec.typeName(v), codec.toPlain(v)]]));
  assert.deepEqual(props.DeadLetterReason, ['string', 'MaxDeliveryCountExceeded']);
  assert.equal(props.DeadLetterErrorDescription[0], 'string');
  assert.deepEqual(props.attempt, ['long', 1], 'original properties survive');
  const ann = Object.fromEntries(codec.decode(q.deadLetter.encode(d)).annotations.map(([k, v]) => [k, codec.toPlain(v)]));
  assert.equal(ann['x-opt-deadletter-source'], 'q');
});

test('release does not count a delivery; abandon does and applies properties', () => {
  const { broker } = setup([{ name: 'q', maxDeliveryCount: 2 }]);
  const q = broker.queue('q');
  q.enqueue(parts({ id: 'm', props: { keep: 'me' } }));
  for (let i = 0; i < 5; i++) assert.equal(q.release(q.acquire().lock.token), true);
  let s = q.acquire();
  assert.equal(s.deliveryCount, 0);
  q.abandon(s.lock.token, [['abandonedBy', codec.typed.string('goclient')]]);
  s = q.acquire();
  assert.equal(s.deliveryCount, 1);
  assert.deepEqual(s.parts.appProps.map(([k, v]) => [k, codec.toPlain(v)]), [['keep', 'me'], ['abandonedBy', 'goclient']]);
  q.abandon(s.lock.token);
  assert.equal(q.deadLetter.messages.size, 1, 'second abandon reaches MaxDeliveryCount 2');
});

test('duplicate detection drops a repeated MessageID within the window, per queue', () => {
  const { broker, clock, names } = setup([{ name: 'dd', duplicateDetection: true, duplicateWindowMs: 60_000 }, { name: 'plain' }]);
  const dd = broker.queue('dd');
  const first = dd.enqueue(parts({ id: 'x' }));
  const dup = dd.enqueue(parts({ id: 'x' }));
  assert.deepEqual([dup.duplicate, dup.seq], [true, first.seq]);
  assert.equal(names('duplicate-dropped').length, 1);
  dd.complete(dd.acquire().lock.token);
  assert.equal(dd.enqueue(parts({ id: 'x', scheduledAt: clock.now() + 10 })).duplicate, true, 'completed and scheduled copies are still duplicates');
  clock.advance(60_000);
  assert.equal(dd.enqueue(parts({ id: 'x' })).duplicate, false, 'the window has passed');
  const plain = broker.queue('plain');
  assert.equal(plain.enqueue(parts({ id: 'x' })).duplicate, false);
  assert.equal(plain.enqueue(parts({ id: 'x' })).duplicate, false);
});

test('peek shows every state in sequence order without locking', () => {
  const { broker, clock } = setup([{ name: 'q' }]);
  const q = broker.queue('q');
  q.enqueue(parts({ id: 'a' }));
  q.enqueue(parts({ id: 's', scheduledAt: clock.now() + 1000 }));
  q.enqueue(parts({ id: 'b' }));
  q.acquire();
  assert.deepEqual(q.peek(1, 10).map((s) => [s.messageId, s.state]), [['a', 'locked'], ['s', 'scheduled'], ['b', 'active']]);
  assert.deepEqual(q.peek(2, 1).map((s) => s.messageId), ['s']);
  const ann = Object.fromEntries(codec.decode(q.encode(q.peek(2, 1)[0])).annotations.map(([k, v]) => [k, [codec.typeName(v), codec.toPlain(v)]]));
  assert.deepEqual(ann['x-opt-message-state'], ['long', 2]);
  assert.deepEqual(ann['x-opt-sequence-number'], ['long', 2]);
  assert.equal(ann['x-opt-locked-until'], undefined);
});

test('addresses resolve case-insensitively, including sub-queues and $management', () => {
  const { broker } = setup([{ name: 'Purge-Requests' }]);
  const r = (a) => {
    const x = broker.resolve(a);
    return x && [x.entity.name, x.management, x.key];
  };
  assert.deepEqual(r('purge-requests'), ['Purge-Requests', false, 'purge-requests']);
  assert.deepEqual(r('PURGE-REQUESTS/$management'), ['Purge-Requests', true, 'purge-requests/$management']);
  assert.deepEqual(r('purge-requests/$deadletterqueue'), ['Purge-Requests/$DeadLetterQueue', false, 'purge-requests/$deadletterqueue']);
  assert.deepEqual(r('/purge-requests/$DeadLetterQueue/$management'), ['Purge-Requests/$DeadLetterQueue', true, 'purge-requests/$deadletterqueue/$management']);
  for (const bad of ['', 'other', 'purge-requests/$Transfer/$DeadLetterQueue', 'purge-requests/subscriptions/x']) assert.equal(broker.resolve(bad), null, bad);
});

test('timer callbacks that throw are reported, not thrown', () => {
  const { broker, clock, errors } = setup([{ name: 'q', lockDurationMs: 10 }]);
  const q = broker.queue('q');
  q.enqueue(parts({ id: 'm' }));
  q.acquire();
  q.onAvailable = () => {
    throw new Error('boom');
  };
  clock.advance(10);
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /boom/);
});
