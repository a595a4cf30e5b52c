'use strict';
/**
 * Admin commands: how a test puts the emulated namespace into the failure states a real one can be in,
 * without restarting it. One JSON object per line (on stdin when SBEMU_ADMIN_STDIN=1, which the Go wrapper
 * sets), each answered by one `admin` event carrying the command's `id`, `ok`, and the result or `error`:
 *
 *   {"id":"1","op":"entity","queue":"purge-failed","state":"missing"}       as if deleted (kept, not lost)
 *   {"id":"2","op":"entity","queue":"purge-failed","state":"unreachable"}   nothing addressed to it answered
 *   {"id":"3","op":"entity","queue":"purge-failed","state":"active"}        back to normal
 *   {"id":"4","op":"hold-ack","queue":"purge-requests","scheduledOnly":true} store the next (scheduled)
 *                                                                          message, withhold its ack
 *   {"id":"5","op":"release-acks"}                                          acknowledge what was held
 *
 * Why: a client must survive a queue that disappears (sends answered "not found"), one it cannot reach
 * (sends time out), and dying after its message was stored but before it heard so. The states are the
 * server's (amqp.js setState, holdAck, releaseAcks); this module only parses and answers.
 */

function createAdmin(server, emit) {
  const ops = {
    entity: (cmd) => server.setState(cmd.queue, cmd.state),
    'hold-ack': (cmd) => server.holdAck(cmd.queue, { scheduledOnly: cmd.scheduledOnly === true }),
    'release-acks': () => server.releaseAcks(),
  };
  return function handle(line) {
    const text = String(line).trim();
    if (text === '') return;
    let cmd;
    try {
      cmd = JSON.parse(text);
    } catch (err) {
      emit('admin', { id: null, op: null, ok: false, error: `not a JSON command: ${err.message}` });
      return;
    }
    if (cmd === null || typeof cmd !== 'object' || Array.isArray(cmd)) {
      emit('admin', { id: null, op: null, ok: false, error: 'a command is a JSON object' });
      return;
    }
    const id = cmd.id ?? null;
    const op = ops[cmd.op];
    if (!op) {
      emit('admin', { id, op: cmd.op ?? null, ok: false, error: `unknown op ${JSON.stringify(cmd.op)} (known: ${Object.keys(ops).join(', ')})` });
      return;
    }
    try {
      emit('admin', { id, op: cmd.op, ok: true, ...op(cmd) });
    } catch (err) {
      emit('admin', { id, op: cmd.op, ok: false, error: err.message });
    }
  };
}

module.exports = { createAdmin };
