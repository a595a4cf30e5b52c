'use strict';
/**
 * Configuration from the environment.
 *
 * Everything the emulator can be told comes from environment variables so that the Go wrapper
 * (standin/sbemu), `make run` and a developer's shell all drive it the same way.
 * A bad value stops start-up with one line naming the variable: a typo must never silently give
 * a queue with different semantics than the test expected.
 */

const DEFAULT_QUEUES = 'purge-requests,purge-failed';

const UNIT_MS = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration written like Go's time.Duration ("500ms", "30s", "5m", "1m30s", "1.5s").
 * A bare "0" is accepted. Returns milliseconds (may be fractional below 1 ms; callers round).
 */
function parseDuration(text) {
  const s = String(text).trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  let m;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]];
    matched = re.lastIndex;
  }
  if (matched === 0 || matched !== s.length) {
    throw new Error(`invalid duration ${JSON.stringify(text)} (use forms like 500ms, 30s, 5m, 1m30s)`);
  }
  return total;
}

function parseBool(text) {
  const s = String(text).trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
  throw new Error(`invalid boolean ${JSON.stringify(text)}`);
}

function parsePositiveInt(text) {
  const s = String(text).trim();
  if (!/^\d+$/.test(s) || Number(s) < 1) throw new Error(`invalid positive integer ${JSON.stringify(text)}`);
  return Number(s);
}

/** Per-queue options of SBEMU_QUEUES and how each is parsed into a queue spec. */
const QUEUE_OPTIONS = {
  maxDeliveryCount: (spec, v) => { spec.maxDeliveryCount = parsePositiveInt(v); },
  lockDuration: (spec, v) => { spec.lockDurationMs = positiveDuration(v); },
  duplicateDetection: (spec, v) => { spec.duplicateDetection = parseBool(v); },
  maxMessageSize: (spec, v) => { spec.maxMessageSize = parsePositiveInt(v); },
};

/** Queue settings a spec does not give: Service Bus's defaults (the window is not configurable here). */
// maxMessageSize: the Standard tier's 256 KB; Premium's default is 1 MB (docs/servicebus.md §3.1).
const QUEUE_DEFAULTS = { maxDeliveryCount: 10, lockDurationMs: 30_000, duplicateWindowMs: 600_000, maxMessageSize: 256 * 1024 };

/**
 * Parses SBEMU_QUEUES: comma-separated specs `name[:key=value]...`, for example
 * `purge-requests:maxDeliveryCount=10:lockDuration=30s:duplicateDetection=true,purge-failed`.
 * Keys: maxDeliveryCount (default 10), lockDuration (default 30s), duplicateDetection (default
 * false; the window is 10 minutes), maxMessageSize in bytes (default 262144, Standard's limit). Names are compared case-insensitively (as Service Bus does), so
 * two specs differing only in case are an error.
 */
function parseQueueSpecs(text, defaults = QUEUE_DEFAULTS) {
  const specs = [];
  const seen = new Set();
  for (const raw of String(text).split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const [name, ...opts] = item.split(':').map((p) => p.trim());
    if (!/^[A-Za-z0-9][A-Za-z0-9._\-/]*$/.test(name) || name.includes('$')) {
      throw new Error(`invalid queue name ${JSON.stringify(name)}`);
    }
    if (seen.has(name.toLowerCase())) throw new Error(`queue ${JSON.stringify(name)} listed twice`);
    seen.add(name.toLowerCase());
    const spec = {
      name,
      maxDeliveryCount: defaults.maxDeliveryCount,
      lockDurationMs: defaults.lockDurationMs,
      duplicateDetection: false,
      duplicateWindowMs: defaults.duplicateWindowMs,
      maxMessageSize: defaults.maxMessageSize ?? QUEUE_DEFAULTS.maxMessageSize,
    };
    for (const opt of opts) {
      const eq = opt.indexOf('=');
      if (eq < 0) throw new Error(`queue ${name}: option ${JSON.stringify(opt)} is not key=value`);
      const key = opt.slice(0, eq).trim();
      const value = opt.slice(eq + 1);
      const parse = QUEUE_OPTIONS[key];
      if (!parse) {
        throw new Error(`queue ${name}: unknown option ${JSON.stringify(key)} (known: ${Object.keys(QUEUE_OPTIONS).join(', ')})`);
      }
      try {
        parse(spec, value);
      } catch (err) {
        throw new Error(`queue ${name}: ${key}: ${err.message}`);
      }
    }
    specs.push(spec);
  }
  return specs;
}

function positiveDuration(value) {
  const ms = parseDuration(value);
  if (!(ms >= 1)) throw new Error(`duration ${JSON.stringify(value)} must be at least 1ms`);
  return Math.round(ms);
}

/**
 * Reads the whole configuration. Throws an Error whose message names the offending variable.
 */
function fromEnv(env) {
  const get = (name, def) => (env[name] === undefined || env[name] === '' ? def : env[name]);
  const wrap = (name, fn) => {
    try {
      return fn();
    } catch (err) {
      throw new Error(`${name}: ${err.message}`);
    }
  };
  const port = wrap('SBEMU_PORT', () => parsePort(get('SBEMU_PORT', '0')));
  return {
    host: '127.0.0.1',
    port,
    keyName: get('SBEMU_KEY_NAME', 'RootManageSharedAccessKey'),
    key: get('SBEMU_KEY', 'SAS_KEY_VALUE'),
    queues: wrap('SBEMU_QUEUES', () => parseQueueSpecs(get('SBEMU_QUEUES', DEFAULT_QUEUES))),
    maxLifetimeMs: wrap('SBEMU_MAX_LIFETIME', () => positiveDuration(get('SBEMU_MAX_LIFETIME', '30m'))),
    exitOnStdinClose: wrap('SBEMU_EXIT_ON_STDIN_CLOSE', () => parseBool(get('SBEMU_EXIT_ON_STDIN_CLOSE', '0'))),
    adminStdin: wrap('SBEMU_ADMIN_STDIN', () => parseBool(get('SBEMU_ADMIN_STDIN', '0'))),
  };
}

function parsePort(text) {
  const s = String(text).trim();
  if (!/^\d+$/.test(s) || Number(s) > 65535) throw new Error(`invalid port ${JSON.stringify(text)}`);
  return Number(s);
}

module.exports = { fromEnv, parseDuration, parseQueueSpecs, DEFAULT_QUEUES, QUEUE_DEFAULTS };
