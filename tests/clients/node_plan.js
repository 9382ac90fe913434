// Drives the third-party Node SMPP client (npm `smpp`) through a plan given as JSON on argv[2]
// ({host, port, tls, steps}) and prints the outcome of every step as JSON; the Rust end-to-end
// tests assert on it.
// Steps: bind {mode, system_id, password}, submit {count, window, to, text, from,
// registered_delivery, all_ids}, wait_receipts {count | for_accepted, timeout, show} (with
// for_accepted: a receipt for every id answered ESME_ROK, and the ledger: missing, duplicates,
// unknown), idle {seconds} (answering
// the router's enquire_link), enquire_link, unbind.
'use strict';
const smpp = require('smpp');

const plan = JSON.parse(process.argv[2]);
const receipts = [];
const out = [];
// Every id answered ESME_ROK so far, over all submit steps.
const accepted = [];

function call(session, name, pdu) {
  return new Promise((resolve) => session[name](pdu, (resp) => resolve(resp)));
}

async function submit(session, s) {
  const count = s.count || 1;
  const window = s.window || 1;
  const statuses = {};
  const ids = [];
  let sent = 0;
  let done = 0;
  const t0 = Date.now();
  await new Promise((resolve) => {
    const pump = () => {
      while (sent < count && sent - done < window) {
        sent += 1;
        session.submit_sm({
          source_addr_ton: 5, source_addr: s.from || 'MyBank',
          dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: s.to || '14155551234',
          short_message: s.text || 'Your code is 482910',
          registered_delivery: s.registered_delivery || 0,
        }, (resp) => {
          done += 1;
          statuses[resp.command_status] = (statuses[resp.command_status] || 0) + 1;
          if (resp.command_status === 0) accepted.push(resp.message_id);
          if (s.all_ids || ids.length < 5) ids.push(resp.message_id);
          if (done === count) resolve(); else pump();
        });
      }
    };
    pump();
  });
  const elapsed = (Date.now() - t0) / 1000;
  return { statuses, ids, seconds: elapsed, rate: elapsed > 0 ? count / elapsed : 0 };
}

async function main() {
  // The library's defaults otherwise: Nagle stays on, as in the applications that use it.
  const scheme = plan.tls ? 'ssmpp' : 'smpp';
  const session = smpp.connect({ url: `${scheme}://${plan.host}:${plan.port}`, auto_enquire_link_period: 0 });
  session.on('error', (e) => { out.push({ error: String(e) }); });
  session.on('deliver_sm', (pdu) => {
    receipts.push({ id: pdu.receipted_message_id, text: String(pdu.short_message.message || pdu.short_message) });
    session.send(pdu.response());
  });
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  await new Promise((resolve) => session.on(plan.tls ? 'secureConnect' : 'connect', resolve));
  for (const s of plan.steps) {
    if (s.op === 'bind') {
      const resp = await call(session, `bind_${{ tx: 'transmitter', rx: 'receiver', trx: 'transceiver' }[s.mode]}`,
        { system_id: s.system_id, password: s.password });
      out.push({ status: resp.command_status });
    } else if (s.op === 'submit') {
      out.push(await submit(session, s));
    } else if (s.op === 'wait_receipts') {
      // With for_accepted, wait for a receipt for every id answered ESME_ROK so far (the
      // ledger: which ids are missing one, which got more than one).
      const deadline = Date.now() + (s.timeout || 5) * 1000;
      const want = () => (s.for_accepted ? accepted.length : s.count);
      while (receipts.length < want() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const step = { receipts: receipts.length, items: receipts.slice(0, s.show === undefined ? 3 : s.show) };
      if (s.for_accepted) {
        const got = new Map();
        for (const r of receipts) got.set(r.id, (got.get(r.id) || 0) + 1);
        step.accepted = accepted.length;
        step.missing = accepted.filter((id) => !got.has(id)).length;
        step.duplicates = [...got.values()].filter((n) => n > 1).length;
        const acc = new Set(accepted);
        step.unknown = [...got.keys()].filter((id) => !acc.has(id)).length;
      }
      out.push(step);
    } else if (s.op === 'idle') {
      await new Promise((r) => setTimeout(r, (s.seconds || 1) * 1000));
      out.push({ closed: session.closed === true, receipts: receipts.length });
    } else if (s.op === 'enquire_link') {
      const resp = await call(session, 'enquire_link', {});
      out.push({ status: resp.command_status });
    } else if (s.op === 'unbind') {
      const resp = await call(session, 'unbind', {});
      out.push({ status: resp.command_status });
    }
  }
  session.close();
  console.log(JSON.stringify(out));
  process.exit(0);
}

// The whole plan's limit: 30 s plus what its wait_receipts steps may take.
const waits = plan.steps.filter((s) => s.op === 'wait_receipts').reduce((t, s) => t + (s.timeout || 5), 0);
setTimeout(() => { console.log(JSON.stringify(out.concat([{ error: 'timeout' }]))); process.exit(0); }, (plan.timeout || 30 + waits) * 1000);
main().catch((e) => { console.log(JSON.stringify(out.concat([{ error: String(e) }]))); process.exit(0); });
