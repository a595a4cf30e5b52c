'use strict';
/** The process contract the Go wrapper relies on: LISTENING line, JSON events, exit rules. */
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { spawn } = require('child_process');

const SERVER = path.join(__dirname, '..', 'server.js');

function run(env) {
  const child = spawn(process.execPath, [SERVER], { env: { ...process.env, SBEMU_PORT: '0', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (out.stdout += d));
  child.stderr.on('data', (d) => (out.stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  exited.then(() => clearTimeout(killer));
  return { child, out, exited };
}

async function until(fn, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('timed out');
}

test('prints exactly one LISTENING line, reports its queues, and exits when stdin closes', async () => {
  const { child, out, exited } = run({ SBEMU_QUEUES: 'a:maxDeliveryCount=3,b', SBEMU_EXIT_ON_STDIN_CLOSE: '1' });
  const port = Number(await until(() => /^LISTENING (\d+)\n$/.exec(out.stdout)?.[1]));
  assert.ok(port > 0);
  const start = await until(() => out.stderr.split('\n').filter(Boolean).map(JSON.parse).find((e) => e.event === 'start'));
  assert.deepEqual(start.queues.map((q) => [q.name, q.maxDeliveryCount]), [['a', 3], ['b', 10]]);
  child.stdin.end();
  const { code } = await exited;
  assert.equal(code, 0);
  assert.equal(out.stdout, `LISTENING ${port}\n`);
  const events = out.stderr.trim().split('\n').map(JSON.parse);
  assert.equal(events[0].event, 'start');
  assert.equal(events.at(-1).event, 'exit');
});

test('exits promptly on SIGTERM', async () => {
  const { child, out, exited } = run({});
  await until(() => out.stdout.startsWith('LISTENING '));
  child.kill('SIGTERM');
  assert.equal((await exited).code, 0);
});

test('exits after its maximum lifetime', async () => {
  const { exited, out } = run({ SBEMU_MAX_LIFETIME: '300ms' });
  assert.equal((await exited).code, 0);
  assert.match(out.stderr, /max lifetime/);
});

test('a bad configuration is one line on stderr and exit status 2', async () => {
  const { exited, out } = run({ SBEMU_QUEUES: 'q:lockDuration=forever' });
  assert.equal((await exited).code, 2);
  assert.equal(out.stdout, '');
  assert.equal(out.stderr, 'sbemu: SBEMU_QUEUES: queue q: lockDuration: invalid duration "forever" (use forms like 500ms, 30s, 5m, 1m30s)\n');
});
