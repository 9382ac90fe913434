//! Byte encodings of the values [`super::RedbStore`] keeps. Each starts with a format byte so
//! that a later version can change the layout and still read old files. Decoding checks every
//! length and never panics.
//!
//! - record (keyed by created and router id): `1`, account, channel, channel id (each a `u32` LE
//!   length and UTF-8 bytes), `created` (`u64` LE), attempts (length + bytes), then tagged
//!   blocks, each optional: `1` (plugin channels) source TON, NPI, address, destination TON,
//!   NPI, address, registered_delivery; `2` the route, the destination (E.164), its region
//!   and the client session's id (`u64` LE);
//! - pending delivery (keyed by its key): `1`, account (length + bytes), `expires` (`u64` LE),
//!   then the PDU bytes to the end;
//! - finished message (spool, keyed by its sequence): `1`, router id, the encoded record (each a
//!   length and bytes), then the encoded final receipt to the end (nothing when it expired
//!   without one);
//! - record keys not yet in the carrier-id index (one entry per write transaction): `1`, then
//!   per record `created` (`u64` LE) and router id (length + bytes).

use bytes::Bytes;

use super::history::{self, Event};
use super::{Finished, MessageRecord, PendingDelivery, ReceiptTo, StoreError};

const FORMAT: u8 = 1;

pub(super) fn put_str(out: &mut Vec<u8>, s: &str) {
    // A string longer than 4 GiB cannot reach the store: a PDU field is at most 64 KiB.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes().get(..len as usize).unwrap_or(s.as_bytes()));
}

pub(super) struct Reader<'a> {
    data: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8], what: &'static str) -> Self {
        Self { data, what }
    }

    pub(super) fn bad(&self, why: &str) -> StoreError {
        StoreError::Corrupt(format!("{}: {why}", self.what))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.data.len() < n {
            return Err(self.bad("truncated"));
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    pub(super) fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    pub(super) fn u64(&mut self) -> Result<u64, StoreError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    pub(super) fn str(&mut self) -> Result<&'a str, StoreError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        let len = usize::try_from(u32::from_le_bytes(b)).map_err(|_| self.bad("length"))?;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|_| self.bad("not UTF-8"))
    }

    pub(super) fn format(&mut self) -> Result<(), StoreError> {
        match self.u8()? {
            FORMAT => Ok(()),
            other => Err(self.bad(&format!("unknown format {other}"))),
        }
    }
}

pub(crate) fn encode_record(rec: &MessageRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        1 + 16
            + rec.account.len()
            + rec.channel.len()
            + rec.channel_id.len()
            + 8
            + rec.attempts.len(),
    );
    out.push(FORMAT);
    put_str(&mut out, &rec.account);
    put_str(&mut out, &rec.channel);
    put_str(&mut out, &rec.channel_id);
    out.extend_from_slice(&rec.created.to_le_bytes());
    put_str(&mut out, &rec.attempts);
    if let Some(to) = &rec.receipt_to {
        out.push(1);
        for (ton, npi, addr) in [&to.source, &to.dest] {
            out.push(*ton);
            out.push(*npi);
            put_str(&mut out, addr);
        }
        out.push(to.registered_delivery);
    }
    if !(rec.route.is_empty() && rec.to.is_empty() && rec.region.is_empty()) {
        out.push(2);
        put_str(&mut out, &rec.route);
        put_str(&mut out, &rec.to);
        put_str(&mut out, &rec.region);
        out.extend_from_slice(&rec.session.to_le_bytes());
    }
    out
}

pub(crate) fn decode_record(router_id: &str, data: &[u8]) -> Result<MessageRecord, StoreError> {
    let mut r = Reader {
        data,
        what: "message record",
    };
    r.format()?;
    let account = r.str()?.to_owned();
    let channel = r.str()?.to_owned();
    let channel_id = r.str()?.to_owned();
    let created = r.u64()?;
    let attempts = r.str()?.to_owned();
    let mut rec = MessageRecord {
        router_id: router_id.to_owned(),
        account,
        channel,
        channel_id,
        created,
        attempts,
        ..MessageRecord::default()
    };
    while !r.data.is_empty() {
        match r.u8()? {
            1 => {
                let mut addr = || -> Result<(u8, u8, String), StoreError> {
                    Ok((r.u8()?, r.u8()?, r.str()?.to_owned()))
                };
                let source = addr()?;
                let dest = addr()?;
                rec.receipt_to = Some(ReceiptTo {
                    source,
                    dest,
                    registered_delivery: r.u8()?,
                });
            }
            2 => {
                rec.route = r.str()?.to_owned();
                rec.to = r.str()?.to_owned();
                rec.region = r.str()?.to_owned();
                rec.session = r.u64()?;
            }
            other => return Err(r.bad(&format!("unknown block {other}"))),
        }
    }
    Ok(rec)
}

pub(super) fn encode_finished(rec: &MessageRecord, outcome: Option<&Event>) -> Vec<u8> {
    let record = encode_record(rec);
    let mut out = Vec::with_capacity(16 + rec.router_id.len() + record.len() + 48);
    out.push(FORMAT);
    put_str(&mut out, &rec.router_id);
    let len = u32::try_from(record.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&record);
    if let Some(e) = outcome {
        out.extend_from_slice(&history::encode(e));
    }
    out
}

pub(super) fn decode_finished(seq: u64, data: &[u8]) -> Result<Finished, StoreError> {
    let mut r = Reader::new(data, "finished message");
    r.format()?;
    let router_id = r.str()?.to_owned();
    let mut b = [0u8; 4];
    b.copy_from_slice(r.take(4)?);
    let len = usize::try_from(u32::from_le_bytes(b)).map_err(|_| r.bad("length"))?;
    let record = decode_record(&router_id, r.take(len)?)?;
    let outcome = if r.data.is_empty() {
        None
    } else {
        Some(history::decode(r.data)?)
    };
    Ok(Finished {
        seq,
        record,
        outcome,
        history: Vec::new(),
    })
}

pub(super) fn encode_pending(account: &str, expires: u64, pdu: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 4 + account.len() + 8 + pdu.len());
    out.push(FORMAT);
    put_str(&mut out, account);
    out.extend_from_slice(&expires.to_le_bytes());
    out.extend_from_slice(pdu);
    out
}

/// The account and expiry of an encoded delivery, without copying its PDU.
pub(super) fn pending_head(data: &[u8]) -> Result<(&str, u64), StoreError> {
    let mut r = Reader {
        data,
        what: "pending delivery",
    };
    r.format()?;
    let account = r.str()?;
    let expires = r.u64()?;
    Ok((account, expires))
}

pub(super) fn decode_pending(key: u64, data: &[u8]) -> Result<PendingDelivery, StoreError> {
    let mut r = Reader {
        data,
        what: "pending delivery",
    };
    r.format()?;
    let account = r.str()?.to_owned();
    let expires = r.u64()?;
    Ok(PendingDelivery {
        key,
        account,
        pdu: Bytes::copy_from_slice(r.data),
        expires,
    })
}

/// The keys (created, router id) of `recs`, for the log of records not yet indexed.
pub(super) fn encode_keys<'a>(recs: impl Iterator<Item = &'a MessageRecord>) -> Vec<u8> {
    let mut out = vec![FORMAT];
    for rec in recs {
        out.extend_from_slice(&rec.created.to_le_bytes());
        put_str(&mut out, &rec.router_id);
    }
    out
}

pub(super) fn decode_keys(data: &[u8]) -> Result<Vec<(u64, String)>, StoreError> {
    let mut r = Reader {
        data,
        what: "unindexed record keys",
    };
    r.format()?;
    let mut keys = Vec::new();
    while !r.data.is_empty() {
        let created = r.u64()?;
        keys.push((created, r.str()?.to_owned()));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let rec = MessageRecord {
            router_id: "r1".into(),
            account: "acct".into(),
            channel: "ch".into(),
            channel_id: "ABC123".into(),
            created: 1_700_000_000,
            attempts: "imessage refused_0x45 51ms; ch accepted 3ms".into(),
            ..MessageRecord::default()
        };
        let bytes = encode_record(&rec);
        assert_eq!(decode_record("r1", &bytes).unwrap(), rec);
        for cut in 0..bytes.len() {
            assert!(decode_record("r1", &bytes[..cut]).is_err());
        }
        let with = MessageRecord {
            receipt_to: Some(ReceiptTo {
                source: (5, 0, "BANK".into()),
                dest: (1, 1, "447700900123".into()),
                registered_delivery: 1,
            }),
            ..rec.clone()
        };
        let longer = encode_record(&with);
        assert_eq!(decode_record("r1", &longer).unwrap(), with);
        assert_eq!(
            &longer[..bytes.len()],
            &bytes[..],
            "old readers see a plain record"
        );
        for cut in bytes.len() + 1..longer.len() {
            assert!(decode_record("r1", &longer[..cut]).is_err());
        }
        let detailed = MessageRecord {
            route: "otp".into(),
            to: "+447700900123".into(),
            region: "GB".into(),
            ..with.clone()
        };
        let longest = encode_record(&detailed);
        assert_eq!(decode_record("r1", &longest).unwrap(), detailed);
        for cut in longer.len() + 1..longest.len() {
            assert!(decode_record("r1", &longest[..cut]).is_err());
        }
        let p = encode_pending("acct", 9, b"\x00\x01pdu");
        let d = decode_pending(7, &p).unwrap();
        assert_eq!((d.key, d.account.as_str(), d.expires), (7, "acct", 9));
        assert_eq!(&d.pdu[..], b"\x00\x01pdu");
        assert_eq!(pending_head(&p).unwrap(), ("acct", 9));
        for cut in 0..(1 + 4 + 4 + 8) {
            assert!(decode_pending(7, &p[..cut]).is_err());
        }
        assert!(decode_record("x", &[2, 0, 0, 0, 0]).is_err());
        assert!(decode_record("x", &[1, 255, 255, 255, 255]).is_err());
        assert!(decode_pending(1, &[1, 2, 0, 0, 0, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn finished_messages_round_trip() {
        let rec = MessageRecord {
            router_id: "123".into(),
            account: "acct".into(),
            route: "otp".into(),
            ..MessageRecord::default()
        };
        let event = Event::receipt(2, "000", "carrier#1");
        for outcome in [None, Some(&event)] {
            let bytes = encode_finished(&rec, outcome);
            let f = decode_finished(9, &bytes).unwrap();
            assert_eq!((f.seq, &f.record, f.outcome.as_ref()), (9, &rec, outcome));
            for cut in 0..bytes.len() {
                if outcome.is_none() || cut != bytes.len() - history::encode(&event).len() {
                    assert!(decode_finished(9, &bytes[..cut]).is_err(), "cut at {cut}");
                }
            }
        }
    }

    #[test]
    fn record_keys_round_trip_and_reject_garbage() {
        let mut a = MessageRecord {
            router_id: "R1".into(),
            account: "acct".into(),
            channel: "ch".into(),
            channel_id: "x".into(),
            created: 7,
            ..MessageRecord::default()
        };
        let b = MessageRecord {
            router_id: "R22".into(),
            created: u64::MAX,
            ..a.clone()
        };
        let bytes = encode_keys([&a, &b].into_iter());
        assert_eq!(
            decode_keys(&bytes).unwrap(),
            [(7, "R1".to_owned()), (u64::MAX, "R22".to_owned())]
        );
        assert_eq!(decode_keys(&encode_keys(std::iter::empty())).unwrap(), []);
        for cut in 2..bytes.len() {
            if cut != 1 + 8 + 4 + 2 {
                assert!(decode_keys(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
        assert!(decode_keys(&[]).is_err());
        a.router_id = "\u{e9}".into();
        let mut bad = encode_keys([&a].into_iter());
        let last = bad.len() - 1;
        bad[last] = 0xff;
        assert!(decode_keys(&bad).is_err());
    }
}
