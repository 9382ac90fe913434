#!/usr/bin/env python3
"""Drives the third-party Python SMPP client `smpplib` through a plan given as JSON on argv[1]
and prints the outcome of every step as JSON. The Rust end-to-end tests assert on it.

Plan: {"host": "127.0.0.1", "port": 2775, "tls": false, "steps": [ ... ]} with steps
  {"op": "bind", "mode": "trx|tx|rx", "system_id": "...", "password": "..."}   -> {"status": n}
  {"op": "submit", "count": n, "window": w, "to": "1415...", "text": "...",
   "from": "MyBank", "registered_delivery": 0|1, "vary_to": false,
   "all_ids": false}                   -> statuses, ids (the first 5, or all), seconds, rate
     with "parts": true each message is cut into parts with a UDH (smpplib.gsm.make_parts);
     count is then the number of messages, and statuses count the parts; with
     "receipt_each": true (window 1) each message waits for the receipt of the one before, as
     a sender that answers each receipt before its next submit does
  {"op": "wait_receipts", "count": n, "timeout": s,
   "unique": false}                                  -> {"receipts": n, "closed": bool}
  {"op": "enquire_link"}                                                        -> {"status": n}
  {"op": "query", "ids": [...], "from": "MyBank"}   (query_sm for each id, on a trx bind)
                                   -> {"answers": [{"status", "state", "final_date", "error_code"}]}
  {"op": "unbind"}                                                              -> {"status": n}
  {"op": "idle", "seconds": s}   (reads whatever arrives, answering enquire_link) -> closed, receipts
"""
import json
import socket
import ssl
import sys
import time

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp

MODES = {"tx": "bind_transmitter", "rx": "bind_receiver", "trx": "bind_transceiver"}


class Runner:
    def __init__(self, plan):
        ctx = None
        if plan.get("tls"):
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self.c = smpplib.client.Client(plan["host"], plan["port"], timeout=plan.get("timeout", 5),
                                       ssl_context=ctx, allow_unknown_opt_params=True)
        self.receipts = []
        self.responses = []
        self.c.set_message_received_handler(self.on_deliver)
        self.c.set_message_sent_handler(lambda pdu: self.responses.append((pdu.status, pdu.message_id)))

    def on_deliver(self, pdu):
        # The text is in short_message, or in message_payload when short_message is empty; the
        # id in receipted_message_id, or only in the text.
        text = pdu.short_message or getattr(pdu, "message_payload", None) or b""
        text = text.decode("latin-1") if isinstance(text, bytes) else text
        rid = pdu.receipted_message_id
        rid = rid.decode("latin-1") if isinstance(rid, bytes) else rid
        if not rid and text.startswith("id:"):
            rid = text[3:].split(" ", 1)[0]
        self.receipts.append({
            "id": rid,
            "in_payload": not pdu.short_message,
            "text": text,
            "esm_class": pdu.esm_class,
            "source": pdu.source_addr.decode("latin-1") if isinstance(pdu.source_addr, bytes) else pdu.source_addr,
        })

    def read(self):
        """Reads one PDU; an error response becomes a recorded status instead of an exception."""
        try:
            self.c.read_once()
        except smpplib.exceptions.PDUError as e:
            self.responses.append((e.args[1], None))

    def step(self, s):
        op = s["op"]
        if op == "bind":
            try:
                getattr(self.c, MODES[s["mode"]])(system_id=s["system_id"], password=s["password"])
                return {"status": 0}
            except smpplib.exceptions.PDUError as e:
                return status_or_refusal(e)
        if op == "submit":
            return self.submit(s)
        if op == "wait_receipts":
            deadline = time.time() + s.get("timeout", 5)
            closed = False
            # With "unique": true, receipts are counted once per message id (a resend that
            # arrives twice does not end the wait early).
            got = (lambda: len({r.get("id") for r in self.receipts})) if s.get("unique") \
                else (lambda: len(self.receipts))
            while got() < s["count"] and time.time() < deadline:
                try:
                    self.read()
                except smpplib.exceptions.ConnectionError:
                    closed = True  # the router went away: what arrived before counts
                    break
            return {"receipts": len(self.receipts), "items": self.receipts[: s.get("show", 3)],
                    "closed": closed}
        if op == "query":
            # On a transceiver bind (smpplib sends query_sm only on receiver or transceiver
            # binds): receipts that arrive meanwhile are taken and answered as usual.
            src = s.get("from", "MyBank")
            ton = smpplib.consts.SMPP_TON_ALNUM if not src.isdigit() else smpplib.consts.SMPP_TON_INTL
            answers = []
            for message_id in s["ids"]:
                got = []
                self.c.query_resp_handler = lambda pdu, **_: got.append(pdu)
                self.c.send_pdu(smpplib.smpp.make_pdu(
                    "query_sm", client=self.c, message_id=message_id,
                    source_addr_ton=ton, source_addr_npi=0, source_addr=src))
                while not got:
                    try:
                        self.c.read_once()
                    except smpplib.exceptions.PDUError as e:
                        answers.append({"status": e.args[1] if len(e.args) > 1 else -1})
                        break
                for resp in got:
                    final_date = resp.final_date
                    if isinstance(final_date, bytes):
                        final_date = final_date.decode("latin-1")
                    answers.append({"status": resp.status, "state": resp.message_state,
                                    "final_date": final_date, "error_code": resp.error_code})
            return {"answers": answers}
        if op == "enquire_link":
            self.c.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=self.c))
            resp = self.c.read_pdu()
            return {"status": resp.status, "command": resp.command}
        if op == "unbind":
            try:
                self.c.unbind()
                return {"status": 0}
            except smpplib.exceptions.PDUError as e:
                return {"status": e.args[1]}
            except (smpplib.exceptions.ConnectionError, OSError):
                return {"closed": True}
        if op == "idle":
            deadline = time.time() + s["seconds"]
            self.c._socket.settimeout(0.2)
            while time.time() < deadline:
                try:
                    self.c.read_once()
                except (socket.timeout, smpplib.exceptions.PDUError):
                    pass
                except smpplib.exceptions.ConnectionError:
                    return {"closed": True, "receipts": len(self.receipts)}
            return {"closed": False, "receipts": len(self.receipts)}
        raise ValueError(op)

    def submit(self, s):
        count, window = s.get("count", 1), s.get("window", 1)
        src = s.get("from", "MyBank")
        ton = smpplib.consts.SMPP_TON_ALNUM if not src.isdigit() else smpplib.consts.SMPP_TON_INTL
        start_responses = len(self.responses)
        text = s.get("text", "Your code is 482910")
        text = text if s.get("parts") else text.encode("latin-1")
        # (destination, text, esm_class, data_coding) of every submit_sm to send.
        pdus = []
        for n in range(count):
            to = str(int(s.get("to", "14155551234")) + n) if s.get("vary_to") else s.get("to", "14155551234")
            if s.get("parts"):
                parts, coding, esm_class = smpplib.gsm.make_parts(text)
                pdus += [(to, part, esm_class, coding) for part in parts]
            else:
                pdus.append((to, text, 0, 0))
        count = len(pdus)
        sent = 0
        start_receipts = len(self.receipts)
        t0 = time.time()
        deadline = t0 + s.get("timeout", 60)
        while len(self.responses) - start_responses < count:
            if time.time() > deadline:
                break
            # With receipt_each, the next message waits for the receipt of the one before.
            if s.get("receipt_each") and len(self.receipts) - start_receipts < sent:
                self.read()
                continue
            while sent < count and sent - (len(self.responses) - start_responses) < window:
                to, body, esm_class, coding = pdus[sent]
                pdu = smpplib.smpp.make_pdu(
                    "submit_sm", client=self.c, source_addr_ton=ton, source_addr=src,
                    dest_addr_ton=1, dest_addr_npi=1, destination_addr=to,
                    short_message=body, esm_class=esm_class, data_coding=coding,
                    registered_delivery=s.get("registered_delivery", 0),
                    **{k: s[k] for k in ("validity_period", "schedule_delivery_time") if k in s})
                self.c.send_pdu(pdu)
                sent += 1
            self.read()
        elapsed = time.time() - t0
        mine = self.responses[start_responses:]
        statuses = {}
        for st, _ in mine:
            statuses[str(st)] = statuses.get(str(st), 0) + 1
        return {"statuses": statuses, "ids": [i.decode() if isinstance(i, bytes) else i for _, i in (mine if s.get("all_ids") else mine[:5])],
                "seconds": elapsed, "rate": count / elapsed if elapsed > 0 else 0.0}


def status_or_refusal(e):
    """smpplib raises PDUError both for an error status from the server (two args) and for an
    operation it refuses to send in its own state (one arg)."""
    if len(e.args) > 1:
        return {"status": e.args[1]}
    return {"client_refused": str(e)}


def main():
    plan = json.loads(sys.argv[1])
    out = []
    try:
        r = Runner(plan)
        r.c.connect()
        for s in plan["steps"]:
            out.append(r.step(s))
    except smpplib.exceptions.ConnectionError as e:
        out.append({"error": "connection", "detail": str(e)})
    except (socket.timeout, OSError) as e:
        out.append({"error": "io", "detail": str(e)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
