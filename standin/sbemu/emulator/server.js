#!/usr/bin/env node
'use strict';
/**
 * sbemu: a local Azure Service Bus emulator for entra-purge tests and `make run`.
 *
 * Plain AMQP 1.0 on 127.0.0.1 that the real Go azservicebus client accepts with
 *   Endpoint=sb://127.0.0.1:PORT;SharedAccessKeyName=...;SharedAccessKey=...;UseDevelopmentEmulator=true
 *
 * Start-up contract (relied on by the Go wrapper, standin/sbemu): exactly one line `LISTENING <port>` on
 * stdout once the AMQP port accepts connections; one JSON event per line on stderr; a bad
 * configuration prints one `sbemu: ...` line on stderr and exits with status 2.
 * The process never outlives its welcome: it exits on SIGTERM/SIGINT, after SBEMU_MAX_LIFETIME,
 * and (with SBEMU_EXIT_ON_STDIN_CLOSE=1) when its parent closes stdin. With SBEMU_ADMIN_STDIN=1 each line
 * of stdin is an admin command (lib/admin.js), answered by an `admin` event.
 * See README.md for the environment variables.
 */

const config = require('./lib/config.js');
const { Broker } = require('./lib/queue.js');
const { AmqpServer } = require('./lib/amqp.js');
const { createLogger } = require('./lib/events.js');
const { createAdmin } = require('./lib/admin.js');
const readline = require('readline');

async function main() {
  let cfg;
  try {
    cfg = config.fromEnv(process.env);
  } catch (err) {
    process.stderr.write(`sbemu: ${err.message}\n`);
    process.exit(2);
  }
  const emit = createLogger(process.stderr);
  const onError = (err) => emit('internal-error', { error: err && err.stack ? err.stack : String(err) });
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);

  const broker = new Broker({ queues: cfg.queues, emit, onError });
  const amqp = new AmqpServer({ broker, keyName: cfg.keyName, key: cfg.key, emit });

  let exiting = false;
  const exit = (reason, code = 0) => {
    if (exiting) return;
    exiting = true;
    emit('exit', { reason });
    broker.dispose();
    amqp.close();
    // Open AMQP connections would keep the event loop alive; nothing needs a graceful drain.
    process.exit(code);
  };
  process.on('SIGTERM', () => exit('SIGTERM'));
  process.on('SIGINT', () => exit('SIGINT'));
  const lifetime = setTimeout(() => exit('max lifetime reached'), Math.min(cfg.maxLifetimeMs, 2 ** 31 - 1));
  lifetime.unref();
  if (cfg.exitOnStdinClose) {
    process.stdin.on('end', () => exit('stdin closed'));
    process.stdin.on('close', () => exit('stdin closed'));
    process.stdin.on('error', () => exit('stdin error'));
  }
  if (cfg.adminStdin) {
    const admin = createAdmin(amqp, emit);
    readline.createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => amqp.guard('admin', () => admin(line)));
  } else if (cfg.exitOnStdinClose) {
    process.stdin.resume(); // read and discard, only to notice the end
  }

  let port;
  try {
    port = await amqp.listen(cfg.host, cfg.port);
  } catch (err) {
    process.stderr.write(`sbemu: cannot listen on ${cfg.host}:${cfg.port}: ${err.message}\n`);
    process.exit(2);
  }
  emit('start', {
    port,
    queues: cfg.queues.map((q) => ({ name: q.name, maxDeliveryCount: q.maxDeliveryCount, lockDurationMs: q.lockDurationMs, duplicateDetection: q.duplicateDetection, duplicateWindowMs: q.duplicateWindowMs })),
  });
  process.stdout.write(`LISTENING ${port}\n`);
}

main();
