'use strict';
/**
 * The AMQP 1.0 side of the emulator: rhea wiring for CBS, $management, senders and receivers.
 *
 * Shapes and rules follow docs/servicebus.md §4; the comments below say why each
 * one matters for the real Go client (azservicebus v1.11.0 over go-amqp v1.7.0).
 */

const rhea = require('rhea');
const codec = require('./message.js');
const management = require('./management.js');
const sas = require('./sas.js');

const rheaMessage = rhea.message;
const { types } = rhea;

const LOCK_LOST = management.LOCK_LOST;
const SAS_TOKEN_TYPE = 'servicebus.windows.net:sastoken';
const MAX_PENDING_REPLIES = 100;
/**
 * Advertised on every attach that is not to a queue (CBS, $management). A queue's link advertises the
 * queue's own maxMessageSize (Standard 256 KB, Premium 1 MB by default): the Go client refuses, before
 * sending, a message larger than the link's max-message-size (0 would make every batch "too large").
 */
const MAX_MESSAGE_SIZE = 256 * 1024;

/** Entity states a queue can be put in by the admin commands (Entity.state). */
const ENTITY_STATES = ['active', 'missing', 'unreachable'];

function notFound(name) {
  return `The messaging entity '${name}' could not be found.`;
}

function address(terminus) {
  return terminus && typeof terminus.address === 'string' ? terminus.address : undefined;
}

class AmqpServer {
  /**
   * opts.broker   the store (queue.js Broker)
   * opts.keyName, opts.key  the SAS rule put-tokens must be signed with
   * opts.emit     (event, fields) => void
   */
  constructor({ broker, keyName, key, emit }) {
    this.broker = broker;
    this.keyName = keyName;
    this.key = key;
    this.emit = emit;
    this.consumers = new Map(); // entity -> Set of server-side sender links (client receivers)
    this.connections = new Set(); // open connections, so that a queue going missing can detach its links
    this.holds = []; // armed hold-ack requests: {queue, scheduledOnly}
    this.held = []; // deliveries stored but not yet acknowledged: {delivery, link, entity, seq}
    this.server = null;
    this.nextConnectionId = 1;
    codec.installRawCapture();

    for (const q of broker.queues.values()) {
      for (const entity of [q, q.deadLetter]) {
        this.consumers.set(entity, new Set());
        entity.onAvailable = (e) => this.pump(e);
      }
    }

    // autoaccept off: every incoming transfer is settled explicitly, after it is stored.
    // treat_modified_as_released off: otherwise rhea reports an abandon (Modified) as Released too.
    this.container = rhea.create_container({ id: 'sbemu', autoaccept: false, treat_modified_as_released: false, tcp_no_delay: true });
    const on = (event, fn) => this.container.on(event, (ctx) => this.guard(event, () => fn.call(this, ctx)));
    on('connection_open', this.onConnectionOpen);
    on('connection_close', this.onConnectionGone);
    on('disconnected', this.onConnectionGone);
    on('sender_open', this.onSenderOpen);
    on('receiver_open', this.onReceiverOpen);
    on('sender_close', this.onLinkClose);
    on('receiver_close', this.onLinkClose);
    // The client ends the session of each CBS put-token after one request; its links may vanish
    // with it without a detach of their own.
    on('session_close', (ctx) => Object.values(ctx.session.links).forEach((link) => this.forgetLink(link)));
    on('sender_flow', this.onSenderFlow);
    on('message', this.onMessage);
    on('accepted', (ctx) => this.onSettlement('accepted', ctx));
    on('released', (ctx) => this.onSettlement('released', ctx));
    on('rejected', (ctx) => this.onSettlement('rejected', ctx));
    on('modified', (ctx) => this.onSettlement('modified', ctx));
    // Errors on connections and links arrive here when nothing else handles them; an unhandled
    // 'error' event would otherwise crash the process.
    this.container.on('error', (err) => this.emit('amqp-error', { error: String(err && err.message ? err.message : err) }));
  }

  /** Every rhea handler runs inside this: one bad frame must not take the broker down. */
  guard(where, fn) {
    try {
      fn();
    } catch (err) {
      this.emit('internal-error', { where, error: err && err.stack ? err.stack : String(err) });
    }
  }

  listen(host, port) {
    return new Promise((resolve, reject) => {
      this.server = this.container.listen({ host, port });
      this.server.once('listening', () => resolve(this.server.address().port));
      this.server.once('error', reject);
    });
  }

  close() {
    if (this.server) this.server.close();
  }

  // ----- connections ---------------------------------------------------------------------------

  state(connection) {
    if (!connection._sb) {
      connection._sb = {
        id: this.nextConnectionId++,
        replyLinks: new Map(), // reply-to address -> server sender link
        pendingReplies: new Map(), // reply-to address -> [message] sent before the link attached
        authorized: new Set(), // canonical entity keys granted by put-token on this connection
        links: new Set(),
      };
    }
    return connection._sb;
  }

  onConnectionOpen(ctx) {
    const st = this.state(ctx.connection);
    this.connections.add(ctx.connection);
    const props = ctx.connection.remote.open && ctx.connection.remote.open.properties;
    this.emit('connect', { connection: st.id, hostname: ctx.connection.remote.open.hostname, product: props && props.product });
  }

  onConnectionGone(ctx) {
    const st = ctx.connection._sb;
    if (!st || st.gone) return;
    st.gone = true;
    this.connections.delete(ctx.connection);
    for (const link of st.links) this.forgetLink(link);
    this.emit('disconnect', { connection: st.id });
  }

  // ----- links -------------------------------------------------------------------------------

  /**
   * go-amqp fails an attach whose reply does not echo the settle modes it asked for, and treats
   * a null terminus as a refusal, so both are set before rhea sends the attach back.
   */
  accept(link, source, target, entity) {
    link.local.attach.snd_settle_mode = link.remote.attach.snd_settle_mode;
    link.local.attach.rcv_settle_mode = link.remote.attach.rcv_settle_mode;
    link.local.attach.max_message_size = entity ? entity.maxMessageSize : MAX_MESSAGE_SIZE;
    link.set_source({ address: source });
    link.set_target({ address: target });
    this.state(link.connection).links.add(link);
  }

  /** Refusal as the service does it: null terminus in the attach, then a detach with the error. */
  refuse(link, condition, description) {
    link._sb = { role: 'refused' };
    link.close({ condition, description });
    this.emit('attach-refused', { name: link.name, source: address(link.remote.attach.source), target: address(link.remote.attach.target), condition, description });
  }

  authorized(link, key) {
    return this.state(link.connection).authorized.has(key);
  }

  /** A client receiver attached: a CBS/$management reply link, or a queue/DLQ consumer. */
  onSenderOpen(ctx) {
    const link = ctx.sender;
    const source = address(link.remote.attach.source);
    const target = address(link.remote.attach.target);
    if (source === '$cbs') {
      this.accept(link, source, target);
      this.registerReplyLink(link, target);
      return;
    }
    const r = this.broker.resolve(source);
    if (!r || this.broker.stateOf(r.entity) === 'missing') return this.refuse(link, 'amqp:not-found', notFound(source));
    if (!this.authorized(link, r.key)) return this.refuse(link, 'amqp:unauthorized-access', `No put-token for '${r.key}' on this connection.`);
    // snd-settle-mode settled (1) is how the client asks for receive-and-delete.
    if (!r.management && link.remote.attach.snd_settle_mode === 1) {
      return this.refuse(link, 'amqp:not-implemented', 'Receive-and-delete is not supported by the emulator; use peek-lock.');
    }
    this.accept(link, source, target, r.management ? null : r.entity);
    if (r.management) {
      this.registerReplyLink(link, target);
      return;
    }
    link._sb = { role: 'consumer', entity: r.entity, limit: 0, handed: 0 };
    this.consumers.get(r.entity).add(link);
    this.emit('attach', { role: 'receiver', queue: r.entity.name, mode: 'peek-lock', name: link.name });
  }

  /** A client sender attached: CBS or $management requests, or messages for a queue. */
  onReceiverOpen(ctx) {
    const link = ctx.receiver;
    const target = address(link.remote.attach.target);
    const source = address(link.remote.attach.source);
    if (target === '$cbs') {
      this.accept(link, source, target);
      link._sb = { role: 'cbs' };
      return;
    }
    const r = this.broker.resolve(target);
    if (!r || this.broker.stateOf(r.entity) === 'missing') return this.refuse(link, 'amqp:not-found', notFound(target));
    if (r.entity.isDeadLetter && !r.management) {
      return this.refuse(link, 'amqp:not-allowed', `Cannot send to the dead-letter queue '${r.entity.name}'.`);
    }
    if (!this.authorized(link, r.key)) return this.refuse(link, 'amqp:unauthorized-access', `No put-token for '${r.key}' on this connection.`);
    this.accept(link, source, target, r.management ? null : r.entity);
    if (r.management) {
      link._sb = { role: 'management', entity: r.entity };
      return;
    }
    link._sb = { role: 'producer', entity: r.entity };
    this.emit('attach', { role: 'sender', queue: r.entity.name, name: link.name });
  }

  onLinkClose(ctx) {
    const link = ctx.sender || ctx.receiver;
    this.forgetLink(link);
  }

  forgetLink(link) {
    const sb = link._sb;
    const st = link.connection && link.connection._sb;
    if (st) st.links.delete(link);
    if (!sb || sb.forgotten) return;
    sb.forgotten = true;
    if (sb.role === 'consumer') {
      this.consumers.get(sb.entity).delete(link);
      this.emit('detach', { role: 'receiver', queue: sb.entity.name, name: link.name });
    } else if (sb.role === 'producer') {
      this.emit('detach', { role: 'sender', queue: sb.entity.name, name: link.name });
    } else if (sb.role === 'reply' && st && st.replyLinks.get(sb.address) === link) {
      st.replyLinks.delete(sb.address);
    }
  }

  // ----- CBS and $management replies ---------------------------------------------------------

  registerReplyLink(link, replyTo) {
    const st = this.state(link.connection);
    link._sb = { role: 'reply', address: replyTo };
    st.replyLinks.set(replyTo, link);
    const pending = st.pendingReplies.get(replyTo);
    if (pending) {
      st.pendingReplies.delete(replyTo);
      for (const m of pending) link.send(m);
    }
  }

  /**
   * Replies are routed by the exact reply-to address, matched against the target of the client's
   * receiver link (never parsed: the SDK builds it oddly, e.g. `$cbs$$cbs-reply-to-<uuid>`).
   * The correlation-id must be the request's message-id as a string and the status an int32,
   * or the client drops the reply / reports a type error.
   */
  reply(connection, request, { status, description, body, condition }) {
    const msg = {
      correlation_id: request.message_id,
      application_properties: {
        'status-code': types.wrap_int(status),
        'status-description': description || '',
      },
      body: body === undefined ? null : body,
    };
    if (condition) msg.application_properties['error-condition'] = types.wrap_symbol(condition);
    const st = this.state(connection);
    const link = st.replyLinks.get(request.reply_to);
    if (link && link.is_open()) {
      link.send(msg);
      return;
    }
    const pending = st.pendingReplies.get(request.reply_to) || [];
    if (pending.length < MAX_PENDING_REPLIES) pending.push(msg);
    st.pendingReplies.set(request.reply_to, pending);
  }

  onMessage(ctx) {
    const sb = ctx.receiver && ctx.receiver._sb;
    if (!sb) return;
    if (sb.role === 'cbs') return this.onPutToken(ctx);
    if (sb.role === 'management') return this.onManagement(ctx);
    if (sb.role === 'producer') return this.onSend(ctx);
  }

  /**
   * CBS put-token: 200 for a valid SAS token for a known entity, 401 for a bad signature or key
   * name, 404 for an unknown entity. A successful put-token grants the entity on this connection;
   * links to entities without a grant are refused with amqp:unauthorized-access.
   */
  onPutToken(ctx) {
    const req = ctx.message;
    const props = req.application_properties || {};
    ctx.delivery.accept();
    const answer = (status, description, extra) => {
      this.emit('cbs', { connection: this.state(ctx.connection).id, audience: props.name ?? null, status, description, ...extra });
      this.reply(ctx.connection, req, { status, description });
    };
    if (props.operation !== 'put-token') return answer(400, `unsupported CBS operation ${JSON.stringify(props.operation)}`);
    let path;
    try {
      path = decodeURIComponent(new URL(String(props.name)).pathname);
    } catch {
      return answer(400, `invalid audience ${JSON.stringify(props.name)}`);
    }
    if (props.type !== SAS_TOKEN_TYPE) {
      return answer(401, `token type ${JSON.stringify(props.type)} is not supported by the emulator; use a connection string with a shared access key`);
    }
    const v = sas.verify(String(req.body), { audience: String(props.name), keyName: this.keyName, key: this.key, nowSeconds: Math.floor(Date.now() / 1000) });
    if (!v.ok) return answer(401, `Unauthorized: ${v.reason}`);
    const r = this.broker.resolve(path);
    if (!r || this.broker.stateOf(r.entity) === 'missing') return answer(404, notFound(path.replace(/^\//, '')));
    this.state(ctx.connection).authorized.add(r.key);
    answer(200, 'OK', { entity: r.key });
  }

  onManagement(ctx) {
    const req = ctx.message;
    const entity = ctx.receiver._sb.entity;
    const operation = req.application_properties && req.application_properties.operation;
    if (this.broker.stateOf(entity) === 'unreachable') {
      this.emit('unanswered', { queue: entity.name, what: 'management', operation: operation ?? null });
      return;
    }
    ctx.delivery.accept();
    const result = management.handle(entity, operation, codec.rawOf(req));
    this.emit('mgmt', { queue: entity.name, operation: operation ?? null, status: result.status, description: result.status >= 300 ? result.description : undefined });
    this.reply(ctx.connection, req, result);
  }

  // ----- messages from senders ------------------------------------------------------------------

  /**
   * A single message (format 0), or a batch (format 0x80013700: an envelope whose data sections each
   * hold one encoded message, as azservicebus's SendMessageBatch sends it). A batch is checked whole
   * before any of its messages is stored, then each is enqueued on its own (duplicate detection applies
   * per message), as Service Bus does. Other formats are refused.
   */
  onSend(ctx) {
    const entity = ctx.receiver._sb.entity;
    if (this.broker.stateOf(entity) === 'missing') {
      // A transfer that crossed the detach of a queue that went missing: there is nowhere to store it.
      ctx.delivery.reject({ condition: 'amqp:not-found', description: notFound(entity.name) });
      return;
    }
    if (this.broker.stateOf(entity) === 'unreachable') {
      // Neither stored nor answered, like a transfer lost on a broken path: the sender times out.
      this.emit('unanswered', { queue: entity.name, what: 'send' });
      return;
    }
    const format = ctx.format === undefined ? 0 : ctx.format;
    if (format !== 0 && format !== codec.BATCH_FORMAT) {
      ctx.delivery.reject({ condition: 'amqp:not-implemented', description: `message format ${format} is not supported by the emulator` });
      return;
    }
    let messages;
    try {
      const b = codec.rawOf(ctx.message);
      if (!b) throw new Error('no message bytes');
      messages = format === 0 ? [codec.decode(b)] : codec.splitBatch(b).map((inner) => codec.decode(inner));
    } catch (err) {
      this.emit('decode-error', { queue: entity.name, error: err.message });
      ctx.delivery.reject({ condition: 'amqp:decode-error', description: `could not decode message: ${err.message}` });
      return;
    }
    const size = codec.rawOf(ctx.message).length;
    if (size > entity.maxMessageSize) {
      // The service refuses it too, whatever the client checked (docs/servicebus.md §3.1); a batch counts
      // whole, as one message.
      this.emit('too-large', { queue: entity.name, size, max: entity.maxMessageSize });
      ctx.delivery.reject({ condition: 'amqp:link:message-size-exceeded', description: `The message of ${size} bytes exceeds the queue's maximum of ${entity.maxMessageSize} bytes.` });
      return;
    }
    if (format !== 0) this.emit('batch', { queue: entity.name, messages: messages.length });
    const stored = messages.map((parts) => entity.enqueue(parts)).filter((r) => !r.duplicate);
    for (const r of stored) {
      const hold = this.holds.findIndex((h) => h.queue === entity && (!h.scheduledOnly || r.stored.state === 'scheduled'));
      if (hold < 0) continue;
      // Stored, but the sender is not told yet: the window in which a client that dies has sent a
      // message without knowing it.
      this.holds.splice(hold, 1);
      this.held.push({ delivery: ctx.delivery, link: ctx.receiver, entity, seq: r.seq });
      this.emit('ack-held', { queue: entity.name, messageId: r.stored.messageId, sequenceNumber: r.seq, scheduled: r.stored.state === 'scheduled' });
      return;
    }
    ctx.delivery.accept();
  }

  // ----- admin (admin.js) -------------------------------------------------------------------------

  /**
   * Puts a queue (and its dead-letter queue) in a state: 'active'; 'missing', as if deleted — its open
   * links are detached with amqp:not-found, new attaches and put-tokens are refused as for an unknown
   * entity, its messages are kept; or 'unreachable' — nothing addressed to it is answered: sends are
   * neither stored nor settled, $management requests and settlements get no reply, nothing is delivered.
   */
  setState(queueName, state) {
    const q = this.broker.queue(queueName);
    if (!q) throw new Error(`no queue ${JSON.stringify(queueName)}`);
    if (!ENTITY_STATES.includes(state)) throw new Error(`unknown state ${JSON.stringify(state)} (known: ${ENTITY_STATES.join(', ')})`);
    const before = q.state;
    q.state = state;
    let detached = 0;
    if (state === 'missing') {
      for (const connection of this.connections) {
        for (const link of [...this.state(connection).links]) {
          const sb = link._sb;
          if (!sb || (sb.entity !== q && sb.entity !== q.deadLetter)) continue;
          const name = sb.entity.name;
          this.forgetLink(link);
          if (link.is_open()) link.close({ condition: 'amqp:not-found', description: notFound(name) });
          detached++;
        }
      }
    }
    this.emit('entity-state', { queue: q.name, state, before, detached });
    if (state === 'active') {
      this.pump(q);
      this.pump(q.deadLetter);
    }
    return { queue: q.name, state, before, detached };
  }

  /**
   * Arms a hold: the next message stored in the queue (a scheduled one only, with scheduledOnly) is
   * not acknowledged to its sender until releaseAcks; an `ack-held` event says when it was stored.
   */
  holdAck(queueName, { scheduledOnly = false } = {}) {
    const q = this.broker.queue(queueName);
    if (!q) throw new Error(`no queue ${JSON.stringify(queueName)}`);
    this.holds.push({ queue: q, scheduledOnly: Boolean(scheduledOnly) });
    return { queue: q.name, scheduledOnly: Boolean(scheduledOnly), armed: this.holds.length };
  }

  /** Acknowledges every held message whose link is still open, and disarms the holds not yet used. */
  releaseAcks() {
    let released = 0;
    let orphaned = 0;
    for (const h of this.held) {
      if (h.link.is_open()) {
        h.delivery.accept();
        released++;
      } else {
        orphaned++;
      }
    }
    const disarmed = this.holds.length;
    this.held = [];
    this.holds = [];
    return { released, orphaned, disarmed };
  }

  // ----- deliveries to receivers --------------------------------------------------------------

  /**
   * Credit the client has granted and we have not used. rhea's own `credit` only drops when a
   * transfer is written, so deliveries handed to rhea but not yet written are counted here:
   * the limit is the receiver's delivery-count + link-credit from its last flow.
   */
  credit(link) {
    return link._sb.limit - link._sb.handed;
  }

  onSenderFlow(ctx) {
    const link = ctx.sender;
    const sb = link._sb;
    if (!sb || sb.role !== 'consumer') return;
    sb.limit = link.credit + link.delivery_count;
    this.pump(sb.entity);
    // A drain asks us to use up or give back the credit; with nothing to send, give it back.
    if (link._draining && this.credit(link) > 0 && sb.handed === link.delivery_count) {
      sb.handed = sb.limit;
      link.set_drained(true);
    }
  }

  /** Sends available messages to the entity's receivers while they have credit. */
  pump(entity) {
    if (this.broker.stateOf(entity) !== 'active') return;
    if (entity._pumping) {
      entity._pumpAgain = true;
      return;
    }
    entity._pumping = true;
    try {
      do {
        entity._pumpAgain = false;
        let progress = true;
        while (progress && entity.hasAvailable()) {
          progress = false;
          for (const link of this.consumers.get(entity)) {
            if (!entity.hasAvailable()) break;
            if (!link.is_open() || this.credit(link) <= 0 || link.session.outgoing.available() <= 0) continue;
            const s = entity.acquire();
            if (!s) break;
            this.deliver(link, entity, s);
            progress = true;
          }
        }
      } while (entity._pumpAgain);
    } finally {
      entity._pumping = false;
    }
  }

  deliver(link, entity, s) {
    const bytes = entity.encode(s);
    link._sb.handed++;
    // Format 0 makes rhea send the bytes as they are instead of re-encoding a message object.
    const delivery = link.send(bytes, s.lock.tag, 0);
    delivery._sb = { entity, token: s.lock.token, seq: s.seq };
  }

  /**
   * Settlement of a peek-locked delivery: Accepted completes, Modified abandons, Released puts the
   * message back without counting a delivery. In rcv-settle-mode second the client waits for our
   * settling disposition: answer with the same outcome, or with
   * Rejected{com.microsoft:message-lock-lost} when the lock is gone, which the client reports as
   * CodeLockLost. Deferral (Modified with undeliverable-here) and explicit dead-lettering (Rejected)
   * are not implemented: they are answered with amqp:not-implemented and logged as settle-refused,
   * and the message stays locked until its lock expires (the Go client does not surface that answer).
   */
  onSettlement(kind, ctx) {
    const d = ctx.delivery;
    const rec = d && d._sb;
    if (!rec || rec.done) return;
    if (this.broker.stateOf(rec.entity) === 'unreachable') {
      this.emit('unanswered', { queue: rec.entity.name, what: 'settlement', sequenceNumber: rec.seq });
      return;
    }
    rec.done = true;
    const { entity, token } = rec;
    const st = d.remote_state;
    let settled;
    let answer;
    switch (kind) {
      case 'accepted':
        settled = entity.complete(token);
        answer = rheaMessage.accepted();
        break;
      case 'released':
        settled = entity.release(token) || true; // nothing to lose: a late release is a no-op
        answer = rheaMessage.released();
        break;
      case 'modified': {
        if (st && st.undeliverable_here) {
          this.notImplemented(d, entity, rec, 'Deferring messages');
          return;
        }
        const props = st && st.value ? typedEntries(st.value[2]) : [];
        settled = entity.abandon(token, props);
        answer = rheaMessage.modified({ delivery_failed: Boolean(st && st.delivery_failed), undeliverable_here: false });
        break;
      }
      case 'rejected':
        this.notImplemented(d, entity, rec, 'Dead-lettering messages explicitly');
        return;
      default:
        return;
    }
    if (!settled) {
      this.emit('lock-lost', { queue: entity.name, sequenceNumber: rec.seq, lockToken: token, outcome: kind });
      answer = rheaMessage.rejected({ error: { condition: LOCK_LOST, description: `The lock supplied is invalid: it expired or the message was already settled (lock ${token}).` } });
    }
    d.update(true, answer.described());
    // The client may never send a final settled disposition; marking the delivery remotely settled
    // lets rhea drop it from the session buffer instead of keeping it forever.
    d.remote_settled = true;
  }

  /** Refuses a settlement the emulator does not implement; the lock stays until it expires. */
  notImplemented(d, entity, rec, what) {
    this.emit('settle-refused', { queue: entity.name, sequenceNumber: rec.seq, lockToken: rec.token, reason: `${what} is not supported` });
    d.update(true, rheaMessage.rejected({ error: { condition: 'amqp:not-implemented', description: `${what} is not supported by the emulator.` } }).described());
    d.remote_settled = true;
  }
}

function typedEntries(t) {
  return codec.isNullTyped(t) ? [] : codec.mapEntries(t);
}

module.exports = { AmqpServer, ENTITY_STATES };
