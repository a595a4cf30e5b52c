'use strict';
/**
 * The event log: one JSON object per line, on stderr by default, so tests and people can follow
 * what the broker did (`attach`, `cbs`, `enqueue`, `deliver`, `complete`, ...). Stdout is kept for
 * the single `LISTENING <port>` line that the Go wrapper waits for.
 */

function createLogger(stream = process.stderr) {
  return function emit(event, fields = {}) {
    try {
      stream.write(JSON.stringify({ ts: new Date().toISOString(), event, ...fields }) + '\n');
    } catch {
      // logging must never take the broker down (for example EPIPE after the parent went away)
    }
  };
}

module.exports = { createLogger };
