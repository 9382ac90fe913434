// A small SMSC on the third-party npm `smpp` server, for the end-to-end tests of the router's SMPP
// carrier channel. Settings as JSON on argv[2]:
//   {"port": 0, "receipt_delay_ms": 50, "id_format": "hex" | "decimal",
//    "receipts_on": "receivers" | "submitting"}
// It listens on 127.0.0.1 (port 0: any free port) and prints `{"port": P}` once listening.
// - binds (transmitter, receiver, transceiver) with any credentials are accepted, system_id
//   "node-smsc";
// - submit_sm is answered with a fresh message id; with registered_delivery & 1 a delivery
//   receipt (deliver_sm, esm_class 4, receipted_message_id and message_state TLVs) follows after
//   receipt_delay_ms on a receiver or transceiver session of the same system_id — held until
//   one is bound, and sent again (to another session) when its session closes unanswered;
// - with receipts_on "submitting" a receipt goes back on the session that took its submit
//   whatever its bind (as some carriers do, also on a transmitter bind), and is resent there
//   every 100 ms while refused;
// - enquire_link and unbind are answered; other requests get ESME_RINVCMDID.
// When stdin closes or on SIGTERM it waits (at most 2 s) for receipts in flight to be answered,
// prints its counters as one JSON line and exits.
'use strict';
const smpp = require('smpp');

const cfg = Object.assign({ port: 0, receipt_delay_ms: 50, id_format: 'hex', receipts_on: 'receivers' }, JSON.parse(process.argv[2] || '{}'));

const stats = {
  binds: 0, submits: 0, receipts_sent: 0, receipts_acked: 0, receipts_nacked: 0,
  enquire_links: 0, unbinds: 0, rejected: 0,
};
// Receipts waiting for a receiver of their system_id: system_id -> [receipt].
const held = new Map();
// Receipts written and not yet answered.
let inFlight = 0;
let nextId = 0x1f3a000 + Math.floor(Math.random() * 0x10000);
let rr = 0;

function freshId() {
  nextId += 1;
  return cfg.id_format === 'decimal' ? String(nextId) : nextId.toString(16);
}

function smscTime(d) {
  const p = (n) => String(n).padStart(2, '0');
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate())
    + p(d.getUTCHours()) + p(d.getUTCMinutes());
}

function receivers(systemId) {
  return server.sessions.filter((s) => s.smsc && s.smsc.systemId === systemId && s.smsc.receives && !s.closed);
}

function dispatch(systemId) {
  const queue = held.get(systemId);
  while (queue && queue.length > 0) {
    const r = queue[0];
    let target = null;
    if (cfg.receipts_on === 'submitting' && r.session && !r.session.closed) {
      target = r.session;
    } else {
      const targets = receivers(systemId);
      if (targets.length === 0) return;
      rr += 1;
      target = targets[rr % targets.length];
    }
    queue.shift();
    deliver(target, r);
  }
}

function hold(r) {
  if (!held.has(r.systemId)) held.set(r.systemId, []);
  held.get(r.systemId).push(r);
}

function deliver(session, r) {
  const pdu = new smpp.PDU('deliver_sm', {
    source_addr_ton: r.sub.dest_addr_ton, source_addr_npi: r.sub.dest_addr_npi,
    source_addr: r.sub.destination_addr,
    dest_addr_ton: r.sub.source_addr_ton, dest_addr_npi: r.sub.source_addr_npi,
    destination_addr: r.sub.source_addr,
    esm_class: 4,
    short_message: `id:${r.id} sub:001 dlvrd:001 submit date:${r.submitted} done date:${smscTime(new Date())} stat:DELIVRD err:000 text:`,
    receipted_message_id: r.id,
    message_state: 2,
  });
  inFlight += 1;
  session.smsc.unanswered.set(r, true);
  // True the first time: the receipt was still waiting for its answer.
  const settle = () => {
    if (!session.smsc.unanswered.delete(r)) return false;
    inFlight -= 1;
    return true;
  };
  const retry = () => {
    hold(r);
    setTimeout(() => dispatch(r.systemId), 100);
  };
  const sent = session.send(pdu, (resp) => {
    if (!settle()) return;
    if (resp.command_status === 0) {
      stats.receipts_acked += 1;
    } else {
      stats.receipts_nacked += 1;
      retry();
    }
  }, () => { stats.receipts_sent += 1; }, () => {
    if (settle()) retry();
  });
  if (!sent && settle()) retry();
}

function bind(session, pdu, receives, transmits) {
  if (session.smsc) {
    session.send(pdu.response({ command_status: smpp.ESME_RALYBND }));
    return;
  }
  stats.binds += 1;
  session.smsc = {
    systemId: String(pdu.system_id), receives, transmits, unanswered: new Map(),
  };
  session.send(pdu.response({ system_id: 'node-smsc' }));
  if (receives) setImmediate(() => dispatch(session.smsc.systemId));
}

const server = smpp.createServer({}, (session) => {
  session.on('error', (e) => process.stderr.write(`node-smsc: session error: ${e}\n`));
  session.on('close', () => {
    const st = session.smsc;
    if (!st) return;
    // Receipts the client never answered go to another receiver (or wait for one).
    for (const r of st.unanswered.keys()) {
      inFlight -= 1;
      hold(r);
    }
    st.unanswered.clear();
    st.receives = false;
    st.transmits = false;
    setImmediate(() => dispatch(st.systemId));
  });
  session.on('bind_transceiver', (pdu) => bind(session, pdu, true, true));
  session.on('bind_transmitter', (pdu) => bind(session, pdu, false, true));
  session.on('bind_receiver', (pdu) => bind(session, pdu, true, false));
  session.on('enquire_link', (pdu) => {
    stats.enquire_links += 1;
    session.send(pdu.response());
  });
  session.on('unbind', (pdu) => {
    stats.unbinds += 1;
    session.send(pdu.response(), () => session.close());
  });
  session.on('submit_sm', (pdu) => {
    if (!session.smsc || !session.smsc.transmits) {
      stats.rejected += 1;
      session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    stats.submits += 1;
    const id = freshId();
    session.send(pdu.response({ message_id: id }));
    if (pdu.registered_delivery & 1) {
      const r = { id, systemId: session.smsc.systemId, sub: pdu, submitted: smscTime(new Date()), session };
      setTimeout(() => { hold(r); dispatch(r.systemId); }, cfg.receipt_delay_ms);
    }
  });
  session.on('pdu', (pdu) => {
    const handled = ['bind_transceiver', 'bind_transmitter', 'bind_receiver', 'enquire_link', 'unbind', 'submit_sm'];
    if (pdu.isResponse() || handled.includes(pdu.command)) return;
    stats.rejected += 1;
    session.send(pdu.command === 'unknown' ? pdu.response() : pdu.response({ command_status: smpp.ESME_RINVCMDID }));
  });
});

server.on('error', (e) => {
  process.stderr.write(`node-smsc: ${e}\n`);
  process.exit(1);
});

server.listen(cfg.port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});

let finishing = false;
function finish() {
  if (finishing) return;
  finishing = true;
  const deadline = Date.now() + 2000;
  const tick = () => {
    if (inFlight > 0 && Date.now() < deadline) {
      setTimeout(tick, 10);
      return;
    }
    let heldCount = 0;
    for (const q of held.values()) heldCount += q.length;
    const line = JSON.stringify(Object.assign({}, stats, { receipts_held: heldCount, receipts_in_flight: inFlight }));
    process.stdout.write(`${line}\n`, () => process.exit(0));
  };
  tick();
}

process.on('SIGTERM', finish);
process.stdin.on('end', finish);
process.stdin.on('error', finish);
process.stdin.resume();
