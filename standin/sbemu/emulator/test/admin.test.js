'use strict';
/**
 * The admin commands (lib/admin.js) and the failure states they put a queue in, seen by a real AMQP client
 * (rhea) on the wire: a missing queue refuses attaches and put-tokens and detaches open links with
 * amqp:not-found; an unreachable one answers nothing sent to it; a held acknowledgement is sent only on
 * release-acks.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { spawn } = require('child_process');
const rhea = require('rhea');
const { Broker } = require('../lib/queue.js');
const { AmqpServer } = require('../lib/amqp.js');
const { createAdmin } = require('../lib/admin.js');
const sas = require('../lib/sas.js');

const KEY = { keyName: 'RootManageSharedAccessKey', key: 'SAS_KEY_VALUE' };

async function until(fn, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('timed out');
}

test('commands are parsed and answered with their id, errors included', () => {
  const events = [];
  const calls = [];
  const server = {
    setState: (queue, state) => {
      calls.push(['setState', queue, state]);
      if (queue !== 'q') throw new Error(`no queue ${JSON.stringify(queue)}`);
      return { queue, state };
    },
    holdAck: (queue, opts) => (calls.push(['holdAck', queue, opts]), { queue }),
    releaseAcks: () => (calls.push(['releaseAcks']), { released: 0 }),
  };
  const admin = createAdmin(server, (event, f) => events.push({ event, ...f }));
  admin('{"id":"1","op":"entity","queue":"q","state":"missing"}');
  admin('{"id":"2","op":"entity","queue":"nope","state":"missing"}');
  admin('{"id":"3","op":"hold-ack","queue":"q","scheduledOnly":true}');
  admin('{"id":"4","op":"release-acks"}');
  admin('{"id":"5","op":"explode"}');
  admin('not json');
  admin('[1]');
  admin('   ');
  assert.deepEqual(calls, [['setState', 'q', 'missing'], ['setState', 'nope', 'missing'], ['holdAck', 'q', { scheduledOnly: true }], ['releaseAcks']]);
  assert.deepEqual(events.map((e) => [e.event, e.id, e.ok]), [
    ['admin', '1', true], ['admin', '2', false], ['admin', '3', true], ['admin', '4', true], ['admin', '5', false], ['admin', null, false], ['admin', null, false],
  ]);
  assert.equal(events[0].state, 'missing');
  assert.match(events[1].error, /no queue "nope"/);
  assert.match(events[4].error, /unknown op "explode" \(known: entity, hold-ack, release-acks\)/);
  assert.match(events[5].error, /not a JSON command/);
});

test('an unknown queue or state is refused', () => {
  const broker = new Broker({ queues: [{ name: 'q', maxDeliveryCount: 10, lockDurationMs: 30_000, duplicateDetection: false, duplicateWindowMs: 600_000 }] });
  const amqp = new AmqpServer({ broker, ...KEY, emit: () => {} });
  assert.throws(() => amqp.setState('other', 'missing'), /no queue "other"/);
  assert.throws(() => amqp.setState('q', 'deleted'), /unknown state "deleted" \(known: active, missing, unreachable\)/);
  assert.throws(() => amqp.holdAck('other'), /no queue "other"/);
  assert.equal(broker.stateOf(broker.queue('q')), 'active');
  amqp.setState('Q', 'unreachable'); // names are case-insensitive
  assert.equal(broker.stateOf(broker.queue('q').deadLetter), 'unreachable', 'the dead-letter queue follows its queue');
  broker.dispose();
});

/** An emulator in this process and a rhea client connected to it with a put-token for queue q. */
async function wire(t) {
  const events = [];
  const emit = (event, f) => events.push({ event, ...f });
  const broker = new Broker({ queues: [{ name: 'q', maxDeliveryCount: 10, lockDurationMs: 30_000, duplicateDetection: true, duplicateWindowMs: 600_000 }], emit });
  const amqp = new AmqpServer({ broker, ...KEY, emit });
  const port = await amqp.listen('127.0.0.1', 0);
  const container = rhea.create_container({ id: 'admin-test' });
  const conn = container.connect({ host: '127.0.0.1', port, reconnect: false });
  t.after(() => {
    conn.close();
    amqp.close();
    broker.dispose();
  });
  const replies = [];
  conn.open_receiver({ source: { address: '$cbs' }, target: { address: 'cbs-reply' } }).on('message', (ctx) => replies.push(ctx.message));
  const cbs = conn.open_sender('$cbs');
  let n = 0;
  /** put-token for an entity; resolves with the status code. */
  const putToken = async (entity) => {
    const audience = `amqp://127.0.0.1:${port}/${entity}`;
    const id = `put-${++n}`;
    await until(() => cbs.sendable());
    cbs.send({ message_id: id, reply_to: 'cbs-reply', application_properties: { operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: audience },
      body: sas.sign({ ...KEY, audience, expiry: Math.floor(Date.now() / 1000) + 3600 }) });
    const reply = await until(() => replies.find((m) => m.correlation_id === id));
    return reply.application_properties['status-code'];
  };
  /** A sender link to q; `outcomes` collects the dispositions of what it sent. */
  const openSender = () => {
    const link = conn.open_sender({ target: { address: 'q' }, autosettle: true });
    const s = { link, outcomes: [], detached: null, opened: false };
    link.on('sender_open', () => (s.opened = true));
    link.on('accepted', (ctx) => s.outcomes.push(['accepted', ctx.delivery.tag.toString()]));
    link.on('rejected', (ctx) => s.outcomes.push(['rejected', ctx.delivery.tag.toString()]));
    link.on('sender_error', (ctx) => (s.detached = ctx.sender.error));
    link.on('sender_close', (ctx) => (s.detached = s.detached || ctx.sender.remote.detach.error || 'closed'));
    return s;
  };
  const send = (s, id, annotations) => s.link.send({ message_id: id, message_annotations: annotations, body: rhea.message.data_section(Buffer.from(id)) }, Buffer.from(id));
  const names = (name) => events.filter((e) => e.event === name);
  return { broker, amqp, putToken, openSender, send, names };
}

test('a missing queue detaches its links, refuses put-tokens and attaches, keeps its messages, and comes back', async (t) => {
  const w = await wire(t);
  assert.equal(await w.putToken('q'), 200);
  const s = w.openSender();
  await until(() => s.opened && s.link.sendable());
  w.send(s, 'before');
  await until(() => s.outcomes.length === 1);

  const r = w.amqp.setState('q', 'missing');
  assert.deepEqual([r.state, r.before, r.detached], ['missing', 'active', 1]);
  const err = await until(() => s.detached);
  assert.equal(err.condition, 'amqp:not-found');
  assert.equal(err.description, "The messaging entity 'q' could not be found.");
  assert.equal(await w.putToken('q'), 404);
  const again = w.openSender();
  const refused = await until(() => again.detached);
  assert.equal(refused.condition, 'amqp:not-found');
  assert.equal(w.broker.queue('q').messages.size, 1, 'the message sent before is kept');

  w.amqp.setState('q', 'active');
  assert.equal(await w.putToken('q'), 200);
  const after = w.openSender();
  await until(() => after.opened && after.link.sendable());
  w.send(after, 'after');
  await until(() => after.outcomes.length === 1);
  assert.deepEqual(after.outcomes, [['accepted', 'after']]);
  assert.equal(w.broker.queue('q').messages.size, 2);
  assert.deepEqual(w.names('entity-state').map((e) => e.state), ['missing', 'active']);
});

test('an unreachable queue neither stores nor answers a send; once active again it does', async (t) => {
  const w = await wire(t);
  assert.equal(await w.putToken('q'), 200);
  const s = w.openSender();
  await until(() => s.opened && s.link.sendable());
  w.amqp.setState('q', 'unreachable');
  w.send(s, 'lost');
  await until(() => w.names('unanswered').length === 1);
  assert.deepEqual(w.names('unanswered').map((e) => [e.queue, e.what]), [['q', 'send']]);
  assert.equal(w.broker.queue('q').messages.size, 0);
  assert.deepEqual(s.outcomes, [], 'no disposition for the lost send');

  w.amqp.setState('q', 'active');
  w.send(s, 'kept');
  await until(() => s.outcomes.length === 1);
  assert.deepEqual(s.outcomes, [['accepted', 'kept']]);
  assert.deepEqual([...w.broker.queue('q').messages.values()].map((m) => m.messageId), ['kept']);
});

test('a held acknowledgement: the message is stored at once, the sender hears only on release', async (t) => {
  const w = await wire(t);
  assert.equal(await w.putToken('q'), 200);
  const s = w.openSender();
  await until(() => s.opened && s.link.sendable());
  w.amqp.holdAck('q', { scheduledOnly: true });
  w.send(s, 'plain'); // not scheduled: not held
  await until(() => s.outcomes.length === 1);
  w.send(s, 'later', { 'x-opt-scheduled-enqueue-time': rhea.types.wrap_timestamp(Date.now() + 3_600_000) });
  const held = await until(() => w.names('ack-held')[0]);
  assert.deepEqual([held.queue, held.messageId, held.scheduled], ['q', 'later', true]);
  assert.equal(w.broker.queue('q').scheduled.size, 1, 'stored (scheduled) before any acknowledgement');
  w.send(s, 'next'); // the hold was used up
  await until(() => s.outcomes.length === 2);
  assert.deepEqual(s.outcomes, [['accepted', 'plain'], ['accepted', 'next']]);

  assert.deepEqual(w.amqp.releaseAcks(), { released: 1, orphaned: 0, disarmed: 0 });
  await until(() => s.outcomes.length === 3);
  assert.deepEqual(s.outcomes.at(-1), ['accepted', 'later']);
});

test('the process reads admin commands from stdin with SBEMU_ADMIN_STDIN=1', async () => {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'server.js')], {
    env: { ...process.env, SBEMU_PORT: '0', SBEMU_QUEUES: 'a,b', SBEMU_ADMIN_STDIN: '1', SBEMU_EXIT_ON_STDIN_CLOSE: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const events = () => stderr.split('\n').filter(Boolean).map(JSON.parse);
  await until(() => stdout.startsWith('LISTENING '));
  child.stdin.write('{"id":"x1","op":"entity","queue":"b","state":"unreachable"}\n{"id":"x2","op":"entity","queue":"c","state":"missing"}\n');
  const answers = await until(() => {
    const a = events().filter((e) => e.event === 'admin');
    return a.length === 2 && a;
  });
  assert.deepEqual(answers.map((e) => [e.id, e.ok]), [['x1', true], ['x2', false]]);
  assert.equal(answers[0].state, 'unreachable');
  child.stdin.end();
  assert.equal(await exited, 0, 'stdin closing still ends the process');
  clearTimeout(killer);
});
