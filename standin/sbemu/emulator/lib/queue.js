'use strict';
/**
 * The message store: queues, their dead-letter sub-queues, locks, schedules and duplicate detection.
 * Receivers are peek-lock only; messages are completed, abandoned or released, and reach the
 * dead-letter queue only through MaxDeliveryCount.
 *
 * It knows nothing about AMQP links; the server asks it for the next message for a receiver and
 * tells it how a delivery was settled. Keeping the rules here (and the clock injectable) lets the
 * Node tests check lock expiry, MaxDeliveryCount and scheduling in microseconds of fake time.
 *
 * Delivery counts follow the AMQP header: `deliveryCount` on a stored message is the number of
 * earlier deliveries that ended without being settled (abandon or lock expiry). The Go client
 * shows header.delivery-count + 1, so events report `deliveryCount` as that 1-based number.
 */

const crypto = require('crypto');
const codec = require('./message.js');

const { typed } = codec;

const ANN = {
  sequenceNumber: 'x-opt-sequence-number',
  enqueuedTime: 'x-opt-enqueued-time',
  lockedUntil: 'x-opt-locked-until',
  scheduledEnqueueTime: 'x-opt-scheduled-enqueue-time',
  deadLetterSource: 'x-opt-deadletter-source',
  messageState: 'x-opt-message-state',
};

/** Annotations only the broker may set; stale copies on a stored message are never re-sent. */
const BROKER_ANNOTATIONS = [ANN.sequenceNumber, ANN.enqueuedTime, ANN.lockedUntil, ANN.deadLetterSource, ANN.messageState, 'x-opt-enqueue-sequence-number'];

const MAX_TIMER_MS = 2 ** 31 - 1;

const realClock = {
  now: () => Date.now(),
  /** Timers never keep the process alive: the server socket does, and lifetime is bounded. */
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, Math.min(Math.max(ms, 0), MAX_TIMER_MS));
    if (t.unref) t.unref();
    return t;
  },
  clearTimeout: (t) => clearTimeout(t),
};

/** A queue or a dead-letter sub-queue: anything a receiver can attach to. */
class Entity {
  constructor(broker, opts) {
    this.broker = broker;
    this.name = opts.name; // display name, e.g. "orders" or "orders/$DeadLetterQueue"
    this.queueName = opts.queueName; // the queue this entity belongs to
    this.isDeadLetter = Boolean(opts.isDeadLetter);
    this.maxDeliveryCount = opts.maxDeliveryCount; // Infinity for a dead-letter queue
    this.lockDurationMs = opts.lockDurationMs;
    this.duplicateDetection = Boolean(opts.duplicateDetection);
    this.duplicateWindowMs = opts.duplicateWindowMs;
    this.maxMessageSize = opts.maxMessageSize || 256 * 1024;
    this.deadLetter = null; // set for a queue: its $DeadLetterQueue
    this.messages = new Map(); // seq -> stored message, whatever its state
    this.active = []; // available messages, ascending seq
    this.locks = new Map(); // RFC lock token string -> stored message
    this.scheduled = new Set();
    this.scheduleTimer = null;
    this.scheduleTimerAt = Infinity;
    this.dedupe = new Map(); // messageId -> {seq, at}; insertion order == time order
    this.nextSeq = 1;
    /**
     * What clients of a queue see (meaningful on queues; a dead-letter queue follows its queue):
     * 'active'; 'missing', as if the queue had been deleted (its messages are kept, so that a test can
     * still account for them once it is back); or 'unreachable', nothing addressed to it is answered.
     * Set through the admin commands (admin.js).
     */
    this.state = 'active';
    /** Called when messages may have become available; the server pumps deliveries from it. */
    this.onAvailable = null;
  }

  get clock() {
    return this.broker.clock;
  }

  emit(event, s, extra) {
    const fields = { queue: this.name };
    if (s) {
      fields.messageId = s.messageId ?? null;
      fields.sequenceNumber = s.seq;
    }
    this.broker.emit(event, Object.assign(fields, extra));
  }

  notify() {
    if (this.onAvailable) this.onAvailable(this);
  }

  // ----- accepting messages -------------------------------------------------------------------

  /**
   * Accepts a decoded message. A message whose x-opt-scheduled-enqueue-time is in the future is
   * held until then. With duplicate detection on, a message whose MessageID was accepted within
   * the window is dropped without error, as the real service does. Returns {duplicate, seq, stored}.
   */
  enqueue(parts) {
    if (this.isDeadLetter) throw new Error('cannot send to a dead-letter queue');
    const now = this.clock.now();
    const messageId = parts.properties && parts.properties.messageId;
    if (this.duplicateDetection && messageId != null) {
      this.pruneDedupe(now);
      const prior = this.dedupe.get(messageId);
      if (prior) {
        this.broker.emit('duplicate-dropped', { queue: this.name, messageId, sequenceNumber: prior.seq });
        return { duplicate: true, seq: prior.seq, stored: null };
      }
    }
    let scheduledAt = null;
    const t = codec.getEntry(parts.annotations, ANN.scheduledEnqueueTime);
    if (t && t.value instanceof Date && !Number.isNaN(t.value.getTime())) scheduledAt = t.value.getTime();
    const s = {
      seq: this.nextSeq++,
      parts,
      messageId: messageId ?? null,
      acceptedAt: now,
      enqueuedAt: now,
      scheduledAt,
      state: 'new',
      deliveryCount: 0,
      lock: null,
      deadLetterSource: null,
    };
    this.messages.set(s.seq, s);
    if (this.duplicateDetection && messageId != null) this.dedupe.set(messageId, { seq: s.seq, at: now });
    if (scheduledAt != null && scheduledAt > now) {
      s.state = 'scheduled';
      this.scheduled.add(s);
      this.emit('scheduled', s, { scheduledEnqueueTime: new Date(scheduledAt).toISOString() });
      this.armScheduleTimer();
    } else {
      this.activate(s, now);
      this.emit('enqueue', s);
      this.notify();
    }
    return { duplicate: false, seq: s.seq, stored: s };
  }

  pruneDedupe(now) {
    for (const [id, e] of this.dedupe) {
      if (e.at + this.duplicateWindowMs > now) break;
      this.dedupe.delete(id);
    }
  }

  /**
   * First activation: the message becomes visible and its enqueued time starts. (Its time to live
   * is carried to receivers but not enforced: expired messages are not dropped.)
   */
  activate(s, now) {
    s.enqueuedAt = now;
    this.makeAvailable(s);
  }

  /** Puts a message (back) among the available ones, in sequence order. */
  makeAvailable(s) {
    s.state = 'active';
    let i = this.active.length;
    while (i > 0 && this.active[i - 1].seq > s.seq) i--;
    this.active.splice(i, 0, s);
  }

  armScheduleTimer() {
    let next = Infinity;
    for (const s of this.scheduled) next = Math.min(next, s.scheduledAt);
    if (next === this.scheduleTimerAt) return;
    if (this.scheduleTimer) this.clock.clearTimeout(this.scheduleTimer);
    this.scheduleTimer = null;
    this.scheduleTimerAt = next;
    if (next === Infinity) return;
    this.scheduleTimer = this.clock.setTimeout(() => this.broker.guard(() => this.onScheduleTimer()), Math.max(1, next - this.clock.now()));
  }

  onScheduleTimer() {
    this.scheduleTimer = null;
    this.scheduleTimerAt = Infinity;
    const now = this.clock.now();
    const due = [...this.scheduled].filter((s) => s.scheduledAt <= now).sort((a, b) => a.seq - b.seq);
    for (const s of due) {
      this.scheduled.delete(s);
      this.activate(s, now);
      this.emit('activate', s, { scheduledEnqueueTime: new Date(s.scheduledAt).toISOString() });
    }
    this.armScheduleTimer(); // early wake-ups simply re-arm for the remainder
    if (due.length > 0) this.notify();
  }

  // ----- delivering -------------------------------------------------------------------------

  hasAvailable() {
    return this.active.length > 0;
  }

  /**
   * Takes the next available message for a (peek-lock) receiver and locks it; the delivery tag is
   * the lock token in .NET GUID byte order. Returns the stored message or null.
   */
  acquire() {
    const s = this.active.shift();
    if (!s) return null;
    this.lock(s, this.clock.now());
    this.emit('deliver', s, { deliveryCount: s.deliveryCount + 1, mode: 'peek-lock', lockToken: s.lock.token });
    return s;
  }

  lock(s, now) {
    const tag = crypto.randomBytes(16);
    const token = codec.uuidString(codec.swapGuidOrder(tag));
    s.state = 'locked';
    s.lock = { token, tag, until: now + this.lockDurationMs, timer: null, deliveryNumber: s.deliveryCount + 1 };
    this.locks.set(token, s);
    this.armLockTimer(s, s.lock);
  }

  armLockTimer(s, lock) {
    lock.armedFor = lock.until;
    lock.timer = this.clock.setTimeout(() => this.broker.guard(() => this.onLockTimer(s, lock)), Math.max(1, lock.until - this.clock.now()));
  }

  onLockTimer(s, lock) {
    if (s.lock !== lock) return; // settled meanwhile
    const now = this.clock.now();
    if (lock.until > now) {
      // Renewed: the lock outlives the expiry it was armed for (reported), or the timer woke early.
      if (now >= lock.armedFor) this.emit('lock-extended', s, { lockToken: lock.token, lockedUntil: new Date(lock.until).toISOString() });
      this.armLockTimer(s, lock);
      return;
    }
    this.locks.delete(lock.token);
    s.lock = null;
    this.emit('lock-expired', s, { deliveryCount: lock.deliveryNumber, lockToken: lock.token });
    this.failDelivery(s);
  }

  /** A delivery ended without settlement (abandon, lock expiry): count it, maybe dead-letter. */
  failDelivery(s) {
    s.deliveryCount++;
    if (s.deliveryCount >= this.maxDeliveryCount) {
      this.moveToDeadLetter(s, {
        reason: 'MaxDeliveryCountExceeded',
        description: `Message could not be consumed after ${this.maxDeliveryCount} delivery attempts.`,
      });
    } else {
      this.makeAvailable(s);
      this.notify();
    }
  }

  // ----- settling ---------------------------------------------------------------------------

  /** Removes the lock identified by an RFC-order token string; returns the message or null if lost. */
  takeLock(token) {
    const s = this.locks.get(token);
    if (!s) return null;
    this.locks.delete(token);
    this.clock.clearTimeout(s.lock.timer);
    const lock = s.lock;
    s.lock = null;
    return { s, lock };
  }

  /** Each settle method returns true, or false when the lock was lost (expired or unknown). */
  complete(token) {
    const t = this.takeLock(token);
    if (!t) return false;
    this.messages.delete(t.s.seq);
    t.s.state = 'completed';
    this.emit('complete', t.s, { deliveryCount: t.lock.deliveryNumber });
    return true;
  }

  /** Abandon: unlock, apply PropertiesToModify as application properties, count the delivery. */
  abandon(token, propertiesToModify = []) {
    const t = this.takeLock(token);
    if (!t) return false;
    this.applyProperties(t.s, propertiesToModify);
    this.emit('abandon', t.s, { deliveryCount: t.lock.deliveryNumber });
    this.failDelivery(t.s);
    return true;
  }

  /** Release (the client's releaser): unlock without counting a delivery. */
  release(token) {
    const t = this.takeLock(token);
    if (!t) return false;
    this.emit('release', t.s, { deliveryCount: t.lock.deliveryNumber });
    this.makeAvailable(t.s);
    this.notify();
    return true;
  }

  /** Extends a lock by the lock duration from now; returns the new expiry (ms) or null if lost. */
  renew(token) {
    const s = this.locks.get(token);
    if (!s) return null;
    s.lock.until = this.clock.now() + this.lockDurationMs;
    this.emit('renew-lock', s, { lockedUntil: new Date(s.lock.until).toISOString() });
    return s.lock.until;
  }

  applyProperties(s, entries) {
    if (entries && entries.length > 0) s.parts.appProps = codec.mergeEntries(s.parts.appProps || [], entries);
  }

  /**
   * Moves a message to <queue>/$DeadLetterQueue with DeadLetterReason/DeadLetterErrorDescription
   * (always strings: the Go client type-asserts them) and x-opt-deadletter-source. A dead-letter
   * queue has no MaxDeliveryCount, so nothing is dead-lettered from one.
   */
  moveToDeadLetter(s, { reason, description }) {
    this.applyProperties(s, [['DeadLetterReason', typed.string(reason)], ['DeadLetterErrorDescription', typed.string(description)]]);
    const target = this.deadLetter;
    this.messages.delete(s.seq);
    s.deadLetterSource = this.queueName;
    target.messages.set(s.seq, s);
    target.makeAvailable(s);
    this.emit('deadletter', s, { deliveryCount: s.deliveryCount, reason, description });
    target.notify();
  }

  // ----- $management helpers -------------------------------------------------------------------

  /** Messages with seq >= fromSeq, in sequence order, whatever their state (as PeekMessages shows). */
  peek(fromSeq, count) {
    return [...this.messages.values()]
      .filter((s) => s.seq >= fromSeq)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, Math.max(0, count));
  }

  /**
   * Broker annotations for a message as sent to a receiver or a peek. Types matter: the Go
   * client asserts int64 for sequence numbers and time.Time for the times, and panics otherwise.
   */
  brokerAnnotations(s) {
    const a = [
      [ANN.sequenceNumber, typed.long(s.seq)],
      [ANN.enqueuedTime, typed.timestamp(s.state === 'scheduled' ? s.acceptedAt : s.enqueuedAt)],
    ];
    if (s.lock) a.push([ANN.lockedUntil, typed.timestamp(s.lock.until)]);
    if (s.deadLetterSource) a.push([ANN.deadLetterSource, typed.string(s.deadLetterSource)]);
    if (s.state === 'scheduled') a.push([ANN.messageState, typed.long(2)]);
    return a;
  }

  /** The wire bytes of a stored message, as a receiver (or a peek) gets it. */
  encode(s) {
    return codec.encode(s.parts, {
      deliveryCount: s.deliveryCount,
      annotations: this.brokerAnnotations(s),
      dropAnnotations: BROKER_ANNOTATIONS,
    });
  }

  /** Stops all timers (shutdown, tests). */
  dispose() {
    if (this.scheduleTimer) this.clock.clearTimeout(this.scheduleTimer);
    for (const s of this.locks.values()) if (s.lock) this.clock.clearTimeout(s.lock.timer);
  }
}

/** All queues of the emulated namespace. */
class Broker {
  /**
   * opts.queues  queue specs from config.parseQueueSpecs
   * opts.clock   {now, setTimeout, clearTimeout}; real, unref'd timers by default
   * opts.emit    (event, fields) => void, for the JSON event log
   * opts.onError (err) => void, for exceptions inside timer callbacks
   */
  constructor({ queues, clock = realClock, emit = () => {}, onError = () => {} }) {
    this.clock = clock;
    this.emit = emit;
    this.onError = onError;
    this.queues = new Map();
    for (const spec of queues) {
      const q = new Entity(this, { ...spec, queueName: spec.name });
      q.deadLetter = new Entity(this, {
        name: `${spec.name}/$DeadLetterQueue`,
        queueName: spec.name,
        isDeadLetter: true,
        maxDeliveryCount: Infinity,
        lockDurationMs: spec.lockDurationMs,
      });
      this.queues.set(spec.name.toLowerCase(), q);
    }
  }

  /** Runs fn, reporting instead of throwing: a timer callback must never kill the process. */
  guard(fn) {
    try {
      fn();
    } catch (err) {
      this.onError(err);
    }
  }

  queue(name) {
    return this.queues.get(String(name).toLowerCase());
  }

  /** The state clients see for an entity: its queue's (Entity.state). */
  stateOf(entity) {
    const q = this.queue(entity.queueName);
    return q ? q.state : 'missing';
  }

  /**
   * Resolves a link address or CBS audience path, case-insensitively:
   *   q, q/$DeadLetterQueue, q/$management, q/$DeadLetterQueue/$management.
   * Returns {entity, management, key} (key: canonical lower-case path, used for CBS grants) or null.
   */
  resolve(address) {
    if (typeof address !== 'string' || address === '') return null;
    const parts = address.replace(/^\/+/, '').split('/');
    const q = this.queue(parts[0]);
    if (!q) return null;
    const rest = parts.slice(1).map((p) => p.toLowerCase());
    let entity = q;
    if (rest[0] === '$deadletterqueue') {
      entity = q.deadLetter;
      rest.shift();
    }
    let management = false;
    if (rest[0] === '$management') {
      management = true;
      rest.shift();
    }
    if (rest.length > 0) return null;
    const key = entity.name.toLowerCase() + (management ? '/$management' : '');
    return { entity, management, key };
  }

  dispose() {
    for (const q of this.queues.values()) {
      q.dispose();
      q.deadLetter.dispose();
    }
  }
}

module.exports = { Broker, Entity, ANN, realClock };
