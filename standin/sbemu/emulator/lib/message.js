'use strict';
/**
 * The type-preserving message codec.
 *
 * Why this exists: rhea decodes a message into plain JavaScript values, and a JavaScript number
 * goes back out as an AMQP uint. An int64 application property sent by the Go client would then
 * come back as uint32, a timestamp as a long, and the Go client's type assertions (int64 for
 * sequence numbers, time.Time for enqueued time) would panic. So the emulator never lets rhea
 * re-encode a stored message. Instead it:
 *
 *  - reads the sections from the raw transfer bytes with rhea's types.Reader, keeping every
 *    value as a rhea `Typed` (which remembers its exact AMQP encoding);
 *  - keeps the properties and body sections as raw bytes (the broker never changes them);
 *  - keeps message annotations and application properties as lists of [key, Typed] so that the
 *    broker can add or replace entries (sequence number, lock expiry, dead-letter reason);
 *  - writes a delivery back out with types.Writer and hands rhea the finished bytes.
 */

const rhea = require('rhea');
const rheaMessage = require('rhea/lib/message.js');

const types = rhea.types;

const SECTION = {
  header: 0x70,
  deliveryAnnotations: 0x71,
  messageAnnotations: 0x72,
  properties: 0x73,
  applicationProperties: 0x74,
  data: 0x75,
  sequence: 0x76,
  value: 0x77,
  footer: 0x78,
};

const SYMBOLIC_SECTION = {
  'amqp:header:list': SECTION.header,
  'amqp:delivery-annotations:map': SECTION.deliveryAnnotations,
  'amqp:message-annotations:map': SECTION.messageAnnotations,
  'amqp:properties:list': SECTION.properties,
  'amqp:application-properties:map': SECTION.applicationProperties,
  'amqp:data:binary': SECTION.data,
  'amqp:amqp-sequence:list': SECTION.sequence,
  'amqp:value:*': SECTION.value,
  'amqp:footer:map': SECTION.footer,
};

const TYPECODE = {
  null: 0x40, true: 0x41, false: 0x42, boolean: 0x56,
  str8: 0xa1, str32: 0xb1, sym8: 0xa3, sym32: 0xb3, vbin8: 0xa0, vbin32: 0xb0, uuid: 0x98,
  long: 0x81, timestamp: 0x83,
};

const TYPE_NAMES = {
  0x40: 'null', 0x41: 'bool', 0x42: 'bool', 0x56: 'bool',
  0x50: 'ubyte', 0x60: 'ushort', 0x70: 'uint', 0x52: 'uint', 0x43: 'uint',
  0x80: 'ulong', 0x53: 'ulong', 0x44: 'ulong',
  0x51: 'byte', 0x61: 'short', 0x71: 'int', 0x54: 'int', 0x81: 'long', 0x55: 'long',
  0x72: 'float', 0x82: 'double', 0x73: 'char', 0x83: 'timestamp', 0x98: 'uuid',
  0xa0: 'binary', 0xb0: 'binary', 0xa1: 'string', 0xb1: 'string', 0xa3: 'symbol', 0xb3: 'symbol',
  0x45: 'list', 0xc0: 'list', 0xd0: 'list', 0xc1: 'map', 0xd1: 'map', 0xe0: 'array', 0xf0: 'array',
};

const RAW = Symbol('sbemu.raw');

/**
 * Makes rhea keep the raw bytes of every decoded (format 0) message, reachable with rawOf().
 * rhea's session code calls `message.decode` through the module object, so replacing the
 * function there is enough. Idempotent.
 */
function installRawCapture() {
  if (rheaMessage.decode[RAW]) return;
  const original = rheaMessage.decode;
  const patched = function decodeKeepingRaw(buffer) {
    let msg;
    try {
      msg = original(buffer);
    } catch {
      msg = {}; // our own decoder reports the problem when the message is used
    }
    Object.defineProperty(msg, RAW, { value: buffer, enumerable: false });
    return msg;
  };
  patched[RAW] = true;
  rheaMessage.decode = patched;
}

function rawOf(rheaMsg) {
  if (Buffer.isBuffer(rheaMsg)) return rheaMsg;
  return rheaMsg ? rheaMsg[RAW] : undefined;
}

// ---------------------------------------------------------------------------------------------
// Typed value helpers

const typed = {
  null: () => types.Null(),
  bool: (b) => types.wrap_boolean(b),
  string: (s) => types.wrap_string(String(s)),
  symbol: (s) => types.wrap_symbol(String(s)),
  binary: (b) => types.wrap_binary(b),
  int: (n) => types.Int(n),
  uint: (n) => types.wrap_uint(n),
  long: (n) => types.Long(n),
  timestamp: (ms) => types.Timestamp(ms),
  uuid: (buf) => types.Uuid(buf),
  /** A map with string keys, from [[key, Typed], ...]. */
  map: (entries) => types.Map32(entries.flatMap(([k, v]) => [types.wrap_string(k), v])),
  /** A map with symbol keys (annotations), from [[key, Typed], ...]. */
  symbolMap: (entries) => types.Map32(entries.flatMap(([k, v]) => [types.wrap_symbol(k), v])),
  list: (items) => (items.length === 0 ? types.List0() : types.List32(items)),
  /** AMQP arrays (not lists): the Go client type-asserts []int64 and []time.Time. */
  timestampArray: (ms) => types.Array32(ms, TYPECODE.timestamp),
};

function typeName(t) {
  if (!t || !t.type) return 'unknown';
  return TYPE_NAMES[t.type.typecode] || `0x${t.type.typecode.toString(16)}`;
}

function isNullTyped(t) {
  return !t || t.value === null || t.value === undefined || (t.type && t.type.typecode === TYPECODE.null);
}

/** Entries of a Typed map as [[plainKey, Typed value], ...]. */
function mapEntries(t) {
  if (!t || !Array.isArray(t.value)) return [];
  const out = [];
  for (let i = 0; i + 1 < t.value.length; i += 2) {
    out.push([plainKey(t.value[i]), t.value[i + 1]]);
  }
  return out;
}

function plainKey(t) {
  const v = toPlain(t);
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Formats 16 bytes as a lower-case RFC 4122 uuid string. */
function uuidString(buf) {
  const h = Buffer.from(buf).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Converts a lock token between .NET GUID byte order (used as the delivery tag) and RFC order
 * (used in $management requests): bytes 0-3, 4-5 and 6-7 are reversed. The swap is its own inverse.
 */
function swapGuidOrder(buf) {
  const b = Buffer.from(buf);
  return Buffer.from([b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], ...b.subarray(8, 16)]);
}

/** A JSON-friendly view of a Typed value, for logs and GET /state. Loses types on purpose. */
function toPlain(t) {
  if (t === null || t === undefined) return null;
  if (!t.type) return t;
  const code = t.type.typecode;
  const v = t.value;
  switch (TYPE_NAMES[code]) {
    case 'null': return null;
    case 'timestamp': return v instanceof Date && !Number.isNaN(v.getTime()) ? v.toISOString() : String(v);
    case 'uuid': return uuidString(v);
    case 'binary': return Buffer.from(v).toString('base64');
    case 'long':
    case 'ulong':
      if (Buffer.isBuffer(v)) return (code === 0x80 ? v.readBigUInt64BE(0) : v.readBigInt64BE(0)).toString();
      return v;
    case 'list':
    case 'array':
      return v.map(toPlain);
    case 'map': {
      const o = {};
      for (const [k, val] of mapEntries(t)) o[k] = toPlain(val);
      return o;
    }
    default:
      return Buffer.isBuffer(v) ? v.toString('hex') : v;
  }
}

/** A string form of an AMQP message-id (string, uuid, ulong or binary), or null. */
function idToString(t) {
  if (isNullTyped(t)) return null;
  const name = TYPE_NAMES[t.type.typecode];
  if (name === 'string') return t.value;
  if (name === 'binary') return 'binary:' + Buffer.from(t.value).toString('hex');
  const p = toPlain(t);
  return typeof p === 'string' ? p : String(p);
}

// ---------------------------------------------------------------------------------------------
// Decoding

function sectionCode(s) {
  if (!s || !s.descriptor) return undefined;
  const d = s.descriptor.value;
  if (typeof d === 'string') return SYMBOLIC_SECTION[d];
  if (typeof d === 'number') return d;
  return undefined;
}

function field(list, i) {
  const t = list[i];
  return isNullTyped(t) ? undefined : t.value;
}

/**
 * Decodes an encoded AMQP message into the parts the broker keeps:
 *   header       {durable, priority, ttl, firstAcquirer, deliveryCount} (plain values, may be undefined)
 *   annotations  [[name, Typed], ...]   message annotations, types preserved
 *   properties   {messageId, correlationId, contentType, subject, to, replyTo, groupId} for logs
 *   propertiesRaw  the properties section bytes, re-sent unchanged (undefined if absent)
 *   appProps     [[name, Typed], ...]   application properties, types preserved
 *   bodyRaw      all body sections, unchanged
 *   footerRaw    footer section bytes, unchanged (undefined if absent)
 * Delivery annotations are dropped: they belong to one hop.
 * Throws on malformed input.
 */
function decode(buffer) {
  const buf = Buffer.from(buffer); // own copy: slices below must not alias a reused socket buffer
  const reader = new types.Reader(buf);
  const parts = {
    header: {},
    annotations: [],
    properties: {},
    propertiesRaw: undefined,
    appProps: [],
    bodyRaw: Buffer.alloc(0),
    footerRaw: undefined,
  };
  const bodies = [];
  while (reader.remaining() > 0) {
    const start = reader.position;
    const s = reader.read();
    const raw = buf.subarray(start, reader.position);
    switch (sectionCode(s)) {
      case SECTION.header: {
        const l = s.value || [];
        parts.header = {
          durable: field(l, 0),
          priority: field(l, 1),
          ttl: field(l, 2),
          firstAcquirer: field(l, 3),
          deliveryCount: field(l, 4),
        };
        break;
      }
      case SECTION.deliveryAnnotations:
        break;
      case SECTION.messageAnnotations:
        parts.annotations = mapEntries(s);
        break;
      case SECTION.properties: {
        const l = s.value || [];
        parts.propertiesRaw = raw;
        parts.properties = {
          messageId: idToString(l[0]) ?? undefined,
          to: field(l, 2),
          subject: field(l, 3),
          replyTo: field(l, 4),
          correlationId: idToString(l[5]) ?? undefined,
          contentType: field(l, 6),
          groupId: field(l, 10),
        };
        break;
      }
      case SECTION.applicationProperties:
        parts.appProps = mapEntries(s);
        break;
      case SECTION.data:
      case SECTION.sequence:
      case SECTION.value:
        bodies.push(raw);
        break;
      case SECTION.footer:
        parts.footerRaw = raw;
        break;
      default:
        throw new Error('unrecognised message section');
    }
  }
  parts.bodyRaw = Buffer.concat(bodies);
  return parts;
}

/** The AMQP message format of a batch: an envelope holding one encoded message per data section. */
const BATCH_FORMAT = 0x80013700;

/**
 * Returns the encoded messages of a batch envelope, one per data section (the envelope's header,
 * annotations and properties only repeat the first message's and are ignored). Throws on a malformed
 * envelope or one without messages.
 */
function splitBatch(buffer) {
  const buf = Buffer.from(buffer);
  const reader = new types.Reader(buf);
  const out = [];
  while (reader.remaining() > 0) {
    const s = reader.read();
    const code = sectionCode(s);
    if (code === SECTION.data) out.push(Buffer.from(s.value));
    else if (code === SECTION.sequence || code === SECTION.value) throw new Error('a batch body must be data sections');
    else if (code === undefined) throw new Error('unrecognised batch section');
  }
  if (out.length === 0) throw new Error('an empty batch');
  return out;
}

/** Reads the amqp-value body of an encoded message as a Typed (for $management requests). */
function readValueBody(buffer) {
  const reader = new types.Reader(Buffer.from(buffer));
  while (reader.remaining() > 0) {
    const s = reader.read();
    if (sectionCode(s) === SECTION.value) {
      delete s.descriptor;
      return s;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Encoding

function section(code, value) {
  return types.described(types.wrap_ulong(code), value);
}

function optional(v, wrap) {
  return v === undefined || v === null ? types.Null() : wrap(v);
}

/**
 * Encodes a message for a receiver.
 *   parts             as returned by decode()
 *   opts.deliveryCount  header.delivery-count to send (0 on first delivery)
 *   opts.annotations    [[name, Typed]] broker annotations; they replace entries of the same name
 *   opts.dropAnnotations  names to remove from the stored annotations
 *   opts.deliveryAnnotations  [[name, Typed]] (for example x-opt-lock-token)
 *   opts.appProps      application properties to send instead of parts.appProps
 * Always writes a header and a properties section: the Go client reads the header only while
 * handling properties, so without both its DeliveryCount stays 0.
 */
function encode(parts, opts = {}) {
  const h = parts.header || {};
  const w = new types.Writer();
  w.write(section(SECTION.header, types.List32([
    optional(h.durable, types.wrap_boolean),
    optional(h.priority, types.wrap_ubyte),
    optional(h.ttl, types.wrap_uint),
    optional(h.firstAcquirer, types.wrap_boolean),
    types.wrap_uint(opts.deliveryCount ?? h.deliveryCount ?? 0),
  ])));
  if (opts.deliveryAnnotations && opts.deliveryAnnotations.length > 0) {
    w.write(section(SECTION.deliveryAnnotations, typed.symbolMap(opts.deliveryAnnotations)));
  }
  const replaced = new Set([...(opts.annotations || []).map(([k]) => k), ...(opts.dropAnnotations || [])]);
  const annotations = (parts.annotations || []).filter(([k]) => !replaced.has(k)).concat(opts.annotations || []);
  w.write(section(SECTION.messageAnnotations, typed.symbolMap(annotations)));
  if (parts.propertiesRaw) {
    w.write_bytes(parts.propertiesRaw);
  } else {
    w.write(section(SECTION.properties, types.List0()));
  }
  const appProps = opts.appProps || parts.appProps || [];
  if (appProps.length > 0) w.write(section(SECTION.applicationProperties, typed.map(appProps)));
  if (parts.bodyRaw && parts.bodyRaw.length > 0) w.write_bytes(parts.bodyRaw);
  if (parts.footerRaw) w.write_bytes(parts.footerRaw);
  return Buffer.from(w.toBuffer());
}

/** Replaces or adds entries of a [[key, Typed]] list, keeping the order of existing keys. */
function mergeEntries(entries, updates) {
  const out = entries.slice();
  for (const [k, v] of updates) {
    const i = out.findIndex(([ek]) => ek === k);
    if (i >= 0) out[i] = [k, v];
    else out.push([k, v]);
  }
  return out;
}

function getEntry(entries, key) {
  const e = (entries || []).find(([k]) => k === key);
  return e ? e[1] : undefined;
}

module.exports = {
  BATCH_FORMAT,
  splitBatch,
  installRawCapture,
  rawOf,
  decode,
  encode,
  readValueBody,
  typed,
  typeName,
  toPlain,
  idToString,
  mapEntries,
  mergeEntries,
  getEntry,
  isNullTyped,
  uuidString,
  swapGuidOrder,
};
