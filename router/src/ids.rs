//! Router message ids: minted by the router, unique across restarts and across instances, and
//! plain decimal of at most 20 digits — clients such as Kannel run `strtoll` on ids, so UUIDs
//! and dashes would break them.
//!
//! Layout of the 63-bit value: milliseconds since 2024-01-01 (41 bits, good until 2093), the
//! instance number (10 bits), a per-millisecond sequence (12 bits). The minter never goes back:
//! when the clock stalls or steps back it keeps counting from the last id.

use std::sync::atomic::{AtomicU64, Ordering};

/// 2024-01-01T00:00:00Z in Unix milliseconds.
const EPOCH_MS: u64 = 1_704_067_200_000;
const SEQ_BITS: u32 = 12;
const INSTANCE_BITS: u32 = 10;

/// The Unix millisecond a router-minted id was minted in.
pub fn unix_ms(id: u64) -> u64 {
    (id >> (SEQ_BITS + INSTANCE_BITS)) + EPOCH_MS
}

/// The Unix second a router-minted id was minted in.
pub fn unix_secs(id: u64) -> u64 {
    unix_ms(id) / 1000
}

/// The smallest id minted at or after Unix second `secs` (ids below it are older).
pub fn first_at(secs: u64) -> u64 {
    secs.saturating_mul(1000).saturating_sub(EPOCH_MS) << (SEQ_BITS + INSTANCE_BITS)
}

/// Mints ids for one router instance.
#[derive(Debug)]
pub struct IdMinter {
    instance: u64,
    /// `(ms << SEQ_BITS) | seq` of the last id.
    last: AtomicU64,
}

impl IdMinter {
    /// A minter for instance `instance` (0–1023; higher bits are dropped).
    pub fn new(instance: u16) -> Self {
        Self {
            instance: u64::from(instance) & ((1 << INSTANCE_BITS) - 1),
            last: AtomicU64::new(0),
        }
    }

    /// The next id, given the current Unix time in milliseconds.
    pub fn next_at(&self, unix_ms: u64) -> u64 {
        let now = unix_ms.saturating_sub(EPOCH_MS) << SEQ_BITS;
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    let ms = next >> SEQ_BITS;
                    let seq = next & ((1 << SEQ_BITS) - 1);
                    return (ms << (SEQ_BITS + INSTANCE_BITS)) | (self.instance << SEQ_BITS) | seq;
                }
                Err(actual) => last = actual,
            }
        }
    }

    /// The next id as decimal text, using the system clock.
    pub fn next(&self) -> String {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.next_at(ms).to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_name_their_second() {
        let m = IdMinter::new(1023);
        let t = 1_800_000_000_123;
        let id = m.next_at(t);
        assert_eq!(unix_secs(id), 1_800_000_000);
        assert!(first_at(1_800_000_000) <= id && id < first_at(1_800_000_001));
    }

    #[test]
    fn unique_increasing_and_short() {
        let m = IdMinter::new(3);
        let t = 1_800_000_000_000;
        let ids: Vec<u64> = (0..10_000).map(|_| m.next_at(t)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(ids.iter().all(|id| id.to_string().len() <= 20));
        // The clock stepping back does not repeat ids.
        let back = m.next_at(t - 5_000);
        assert!(back > *ids.last().unwrap());
    }

    #[test]
    fn instances_never_collide() {
        let a = IdMinter::new(1);
        let b = IdMinter::new(2);
        let t = 1_800_000_000_000;
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            assert!(seen.insert(a.next_at(t)));
            assert!(seen.insert(b.next_at(t)));
        }
    }
}
