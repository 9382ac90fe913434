//! The counters behind `/metrics` (Prometheus text format): one registry per router.
//!
//! Each module declares the [`Family`]s it counts next to the code that counts them (a
//! `counters.rs` of its own) and lists them for the app, which registers them all when it makes
//! the registry — so every family shows from the start, in that order. Adding a counter is a
//! `Family` in its owner's list and the call that counts it.
//!
//! The hot path touches one small mutex-guarded map per family and message (tens of
//! nanoseconds, measured against the microseconds a message costs end to end). Each data-path
//! thread (see [`crate::shards`]) counts in a slot of its own, so threads never wait on one
//! another's lock or pull its cache line over; a scrape adds the slots up. Gauges are set in one
//! slot, or read at scrape time from their owners ([`Family::write`]).

mod family;

use std::fmt::Display;
use std::sync::Mutex;

pub use family::{Family, Hex, Kind, Label};

use crate::fast_map::FastMap;

/// The outcome of one attempt on a channel, as counted (`channels::AttemptRecord::counted`
/// makes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Accepted.
    Accepted,
    /// Refused with this status.
    Refused(u32),
    /// Nothing was sent.
    NotSent,
    /// Sent, no answer.
    Unknown,
    /// The channel was down and skipped.
    Down,
}

impl Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Accepted => f.write_str("accepted"),
            Self::Refused(status) => write!(f, "refused_0x{status:02X}"),
            Self::NotSent => f.write_str("not_sent"),
            Self::Unknown => f.write_str("unknown"),
            Self::Down => f.write_str("down"),
        }
    }
}

/// The values of one series.
#[derive(Clone, Debug)]
enum Value {
    Count(u64),
    Gauge(f64),
    Histogram {
        buckets: Vec<u64>,
        count: u64,
        sum: f64,
    },
}

impl Value {
    /// Adds another slot's value of the same series.
    fn merge(&mut self, other: &Value) {
        match (self, other) {
            (Value::Count(a), Value::Count(b)) => *a += b,
            (Value::Gauge(a), Value::Gauge(b)) => *a += b,
            (
                Value::Histogram {
                    buckets,
                    count,
                    sum,
                },
                Value::Histogram {
                    buckets: b,
                    count: c,
                    sum: s,
                },
            ) => {
                for (x, y) in buckets.iter_mut().zip(b) {
                    *x += y;
                }
                *count += c;
                *sum += s;
            }
            _ => {}
        }
    }
}

/// One series in one slot: its label values and its value.
struct Entry {
    labels: Box<[Box<str>]>,
    value: Value,
    /// The next entry whose labels hash the same (rare).
    next: Option<usize>,
}

/// One family's series in one slot.
struct Series {
    family: &'static Family,
    /// The first entry of each hash of label values.
    index: FastMap<u64, usize>,
    entries: Vec<Entry>,
}

/// What one thread counts into.
#[derive(Default)]
struct Slot {
    series: Vec<Series>,
    /// Hashes label values (the map above is keyed by the hash, so a lookup neither allocates
    /// nor formats anything).
    hasher: crate::fast_map::FastState,
}

impl Slot {
    /// The value of `family` with `labels`, made with `new` the first time.
    fn value(
        &mut self,
        family: &'static Family,
        labels: &[&str],
        new: impl FnOnce() -> Value,
    ) -> &mut Value {
        let hash = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = self.hasher.build_hasher();
            for l in labels {
                h.write(l.as_bytes());
                h.write_u8(0xff);
            }
            h.finish()
        };
        let at = match self
            .series
            .iter()
            .position(|s| std::ptr::eq(s.family, family))
        {
            Some(at) => at,
            None => {
                self.series.push(Series {
                    family,
                    index: FastMap::default(),
                    entries: Vec::new(),
                });
                self.series.len() - 1
            }
        };
        let series = &mut self.series[at];
        let mut at = series.index.get(&hash).copied();
        let found = loop {
            match at {
                Some(i) if same(&series.entries[i].labels, labels) => break Some(i),
                Some(i) => at = series.entries[i].next,
                None => break None,
            }
        };
        let i = match found {
            Some(i) => i,
            None => {
                let i = series.entries.len();
                let next = series.index.insert(hash, i);
                series.entries.push(Entry {
                    labels: labels.iter().map(|l| Box::from(*l)).collect(),
                    value: new(),
                    next,
                });
                i
            }
        };
        &mut series.entries[i].value
    }
}

/// Whether stored label values are `labels`.
fn same(stored: &[Box<str>], labels: &[&str]) -> bool {
    stored.len() == labels.len() && stored.iter().zip(labels).all(|(a, b)| **a == **b)
}

/// Counting into one slot under one lock: for several counts of one event.
pub struct Counts<'a>(&'a mut Slot);

impl Counts<'_> {
    /// Adds `by` to counter `family` with `labels`.
    pub fn add(&mut self, family: &'static Family, labels: &[&str], by: u64) {
        if let Value::Count(n) = self.0.value(family, labels, || Value::Count(0)) {
            *n += by;
        }
    }

    /// Observes `value` in histogram `family` with `labels`.
    pub fn observe(&mut self, family: &'static Family, labels: &[&str], value: f64) {
        let Kind::Histogram(bounds) = family.kind else {
            return;
        };
        let new = || Value::Histogram {
            buckets: vec![0; bounds.len()],
            count: 0,
            sum: 0.0,
        };
        if let Value::Histogram {
            buckets,
            count,
            sum,
        } = self.0.value(family, labels, new)
        {
            for (b, bound) in buckets.iter_mut().zip(bounds) {
                if value <= *bound {
                    *b += 1;
                }
            }
            *count += 1;
            *sum += value;
        }
    }
}

/// Slots of the registry: one for threads that are not data-path threads (and for gauges), and
/// one per data-path thread (beyond this many threads, slots are shared).
const SLOTS: usize = 65;

/// The registry.
pub struct Metrics {
    slots: Box<[Mutex<Slot>]>,
    /// The families shown even before their first count, in order.
    registered: Vec<&'static Family>,
}

impl Default for Metrics {
    /// A registry with no family registered: families show from their first count.
    fn default() -> Self {
        Self::new([])
    }
}

impl Metrics {
    /// A registry showing `families` from the start, in this order.
    pub fn new(families: impl IntoIterator<Item = &'static Family>) -> Self {
        Self {
            slots: (0..SLOTS).map(|_| Mutex::default()).collect(),
            registered: families.into_iter().collect(),
        }
    }

    /// Counts on this thread's slot, under one lock.
    pub fn batch(&self, f: impl FnOnce(&mut Counts<'_>)) {
        let slot = crate::shards::current().map_or(0, |i| 1 + i % (SLOTS - 1));
        if let Ok(mut s) = self.slots[slot].lock() {
            f(&mut Counts(&mut s));
        }
    }

    /// Adds `by` to counter `family` with `labels`.
    pub fn add(&self, family: &'static Family, labels: &[&str], by: u64) {
        self.batch(|c| c.add(family, labels, by));
    }

    /// Sets gauge `family` with `labels` to `value` (in the first slot, whatever the thread, so
    /// that the last value set is the one shown; never on the per-message path).
    pub fn set(&self, family: &'static Family, labels: &[&str], value: f64) {
        if let Ok(mut s) = self.slots[0].lock()
            && let Value::Gauge(v) = s.value(family, labels, || Value::Gauge(0.0))
        {
            *v = value;
        }
    }

    /// Adds `by` to gauge (or untyped) `family` with `labels`, in the first slot.
    pub fn increase(&self, family: &'static Family, labels: &[&str], by: f64) {
        if let Ok(mut s) = self.slots[0].lock()
            && let Value::Gauge(v) = s.value(family, labels, || Value::Gauge(0.0))
        {
            *v += by;
        }
    }

    /// Appends every family in Prometheus text format: the registered ones in order (also those
    /// with no series yet), then any other counted, by name; series sorted by their labels.
    pub fn render(&self, out: &mut String) {
        let mut families: Vec<&'static Family> = self.registered.clone();
        let mut merged: Vec<FastMap<String, Value>> = vec![FastMap::default(); families.len()];
        for slot in &self.slots {
            let Ok(slot) = slot.lock() else { continue };
            for series in &slot.series {
                let at = match families
                    .iter()
                    .position(|f| std::ptr::eq(*f, series.family))
                {
                    Some(at) => at,
                    None => {
                        families.push(series.family);
                        merged.push(FastMap::default());
                        families.len() - 1
                    }
                };
                for entry in &series.entries {
                    let mut key = String::new();
                    series.family.label_set(entry.labels.iter(), &mut key);
                    match merged[at].get_mut(&key) {
                        Some(v) => v.merge(&entry.value),
                        None => {
                            merged[at].insert(key, entry.value.clone());
                        }
                    }
                }
            }
        }
        let mut order: Vec<usize> = (0..self.registered.len()).collect();
        let mut rest: Vec<usize> = (self.registered.len()..families.len()).collect();
        rest.sort_by_key(|&i| families[i].name);
        order.extend(rest);
        for i in order {
            render_family(families[i], &merged[i], out);
        }
    }
}

/// One family's header and series.
fn render_family(family: &Family, values: &FastMap<String, Value>, out: &mut String) {
    family.header(out);
    let mut keys: Vec<&String> = values.keys().collect();
    keys.sort();
    for key in keys {
        let name = family.name;
        match &values[key] {
            Value::Count(n) => out.push_str(&family::series(name, "", key, n)),
            Value::Gauge(v) => out.push_str(&family::series(name, "", key, v)),
            Value::Histogram {
                buckets,
                count,
                sum,
            } => {
                let Kind::Histogram(bounds) = family.kind else {
                    continue;
                };
                let sep = if key.is_empty() { "" } else { "," };
                for (bound, n) in bounds.iter().zip(buckets) {
                    let labels = format!("{key}{sep}le=\"{bound}\"");
                    out.push_str(&family::series(name, "_bucket", &labels, n));
                }
                let labels = format!("{key}{sep}le=\"+Inf\"");
                out.push_str(&family::series(name, "_bucket", &labels, count));
                out.push_str(&family::series(name, "_sum", key, sum));
                out.push_str(&family::series(name, "_count", key, count));
            }
        }
    }
}

#[cfg(test)]
mod tests;
