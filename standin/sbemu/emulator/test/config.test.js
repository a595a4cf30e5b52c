'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const config = require('../lib/config.js');

test('durations use Go syntax', () => {
  assert.equal(config.parseDuration('500ms'), 500);
  assert.equal(config.parseDuration('30s'), 30_000);
  assert.equal(config.parseDuration('5m'), 300_000);
  assert.equal(config.parseDuration('1m30s'), 90_000);
  assert.equal(config.parseDuration('1.5s'), 1500);
  assert.equal(config.parseDuration('1h0m0s'), 3_600_000);
  assert.equal(config.parseDuration('0'), 0);
  for (const bad of ['', '5', 'ms', '5 s', '5x', '-1s', '1s junk']) {
    assert.throws(() => config.parseDuration(bad), /invalid duration/, bad);
  }
});

test('queue specs', () => {
  const defaults = { maxDeliveryCount: 10, lockDurationMs: 30_000, duplicateWindowMs: 600_000 };
  const specs = config.parseQueueSpecs('purge-requests:maxDeliveryCount=5:lockDuration=500ms:duplicateDetection=true:maxMessageSize=1048576, purge-failed', defaults);
  assert.deepEqual(specs, [
    { name: 'purge-requests', maxDeliveryCount: 5, lockDurationMs: 500, duplicateDetection: true, duplicateWindowMs: 600_000, maxMessageSize: 1048576 },
    { name: 'purge-failed', maxDeliveryCount: 10, lockDurationMs: 30_000, duplicateDetection: false, duplicateWindowMs: 600_000, maxMessageSize: 262144 },
  ]);
  assert.deepEqual(config.parseQueueSpecs('q'), [{ name: 'q', ...config.QUEUE_DEFAULTS, duplicateDetection: false }]);
  for (const [bad, msg] of [
    ['q:duplicateDetectionWindow=1m', /unknown option/],
    ['q:maxDeliveryCount=0', /positive integer/],
    ['q:maxMessageSize=1MB', /positive integer/],
    ['q:lockDuration=soon', /invalid duration/],
    ['q:color=blue', /unknown option/],
    ['q:duplicateDetection', /key=value/],
    ['q,Q', /listed twice/],
    ['q/$DeadLetterQueue', /invalid queue name/],
  ]) {
    assert.throws(() => config.parseQueueSpecs(bad, defaults), msg, bad);
  }
});

test('fromEnv defaults', () => {
  const cfg = config.fromEnv({});
  assert.equal(cfg.port, 0);
  assert.equal(cfg.keyName, 'RootManageSharedAccessKey');
  assert.equal(cfg.key, 'SAS_KEY_VALUE');
  assert.equal(cfg.maxLifetimeMs, 30 * 60_000);
  assert.equal(cfg.exitOnStdinClose, false);
  assert.deepEqual(cfg.queues.map((q) => [q.name, q.maxDeliveryCount, q.lockDurationMs]), [
    ['purge-requests', 10, 30_000],
    ['purge-failed', 10, 30_000],
  ]);
});

test('fromEnv reads every variable and names the bad one', () => {
  const cfg = config.fromEnv({
    SBEMU_PORT: '5672', SBEMU_KEY_NAME: 'k', SBEMU_KEY: 's', SBEMU_QUEUES: 'a:lockDuration=2s:maxDeliveryCount=3',
    SBEMU_MAX_LIFETIME: '1m', SBEMU_EXIT_ON_STDIN_CLOSE: '1',
  });
  assert.equal(cfg.port, 5672);
  assert.equal(cfg.keyName, 'k');
  assert.equal(cfg.key, 's');
  assert.deepEqual([cfg.queues[0].lockDurationMs, cfg.queues[0].maxDeliveryCount], [2000, 3]);
  assert.equal(cfg.maxLifetimeMs, 60_000);
  assert.equal(cfg.exitOnStdinClose, true);
  assert.throws(() => config.fromEnv({ SBEMU_PORT: '70000' }), /^Error: SBEMU_PORT:/);
  assert.throws(() => config.fromEnv({ SBEMU_QUEUES: 'q:x=1' }), /^Error: SBEMU_QUEUES: queue q: unknown option/);
  assert.throws(() => config.fromEnv({ SBEMU_MAX_LIFETIME: 'forever' }), /^Error: SBEMU_MAX_LIFETIME:/);
});
