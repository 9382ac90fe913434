//! Metric families: what a module that counts something declares, once, next to the code that
//! counts it — name, help, kind and label names. The registry ([`super::Metrics`]) keeps the
//! values; `/metrics` renders every family registered, in registration order.

use std::fmt::{self, Display, Write as _};

/// One metric family. Declare it as a `static`: the registry tells families apart by address
/// (a `const` may be copied to several).
#[derive(Debug)]
pub struct Family {
    /// The Prometheus name.
    pub name: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Counter, gauge, histogram or untyped.
    pub kind: Kind,
    /// The label names, in the order their values are given.
    pub labels: &'static [&'static str],
}

/// What a family's values are.
#[derive(Debug)]
pub enum Kind {
    /// Only ever goes up; added to from any thread.
    Counter,
    /// Set to a value (read at scrape time, or set rarely).
    Gauge,
    /// Observations in buckets with these upper bounds.
    Histogram(&'static [f64]),
    /// Counters and gauges of someone else's (plugins').
    Untyped,
}

impl Kind {
    fn word(&self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram(_) => "histogram",
            Self::Untyped => "untyped",
        }
    }
}

impl Family {
    /// Writes the `# HELP` and `# TYPE` lines.
    pub fn header(&self, out: &mut String) {
        header(out, self.name, self.kind.word(), self.help);
    }

    /// Writes the label set of `values` as it appears in a series (`a="x",b="y"`), escaped.
    pub(super) fn label_set<L: Display>(
        &self,
        values: impl IntoIterator<Item = L>,
        out: &mut String,
    ) {
        for (i, (name, value)) in self.labels.iter().zip(values).enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(name);
            out.push_str("=\"");
            let _ = write!(Escaping(out), "{value}");
            out.push('"');
        }
    }

    /// Writes a family whose values are read from their owner at scrape time: its header, then
    /// one series per row (its label values, in the family's order, and its value), sorted.
    pub fn write<L, V>(&self, out: &mut String, rows: impl IntoIterator<Item = (L, V)>)
    where
        L: IntoIterator,
        L::Item: Display,
        V: Display,
    {
        self.header(out);
        let mut lines: Vec<String> = rows
            .into_iter()
            .map(|(labels, value)| {
                let mut set = String::new();
                self.label_set(labels, &mut set);
                series(self.name, "", &set, value)
            })
            .collect();
        lines.sort();
        for l in lines {
            out.push_str(&l);
        }
    }
}

/// One series line: `name{labels} value`, or `name value` without labels.
pub(super) fn series(name: &str, suffix: &str, labels: &str, value: impl Display) -> String {
    if labels.is_empty() {
        format!("{name}{suffix} {value}\n")
    } else {
        format!("{name}{suffix}{{{labels}}} {value}\n")
    }
}

/// A label value made from a number, on the stack (no allocation on the counting path).
pub struct Label {
    bytes: [u8; 24],
    len: usize,
}

impl Label {
    /// The text of `value` (up to 24 bytes; more is cut).
    pub fn of(value: impl Display) -> Self {
        let mut label = Self {
            bytes: [0; 24],
            len: 0,
        };
        let _ = write!(label, "{value}");
        label
    }

    /// The label as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl fmt::Write for Label {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Cut at a character boundary.
        let mut take = s.len().min(self.bytes.len() - self.len);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

/// A status as labels show it: `0x0000000D`.
pub struct Hex(pub u32);

impl Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}", self.0)
    }
}

impl Hex {
    /// The label, on the stack.
    pub fn label(&self) -> Label {
        Label::of(self)
    }
}

/// Escapes what is written through it as a label value.
struct Escaping<'a>(&'a mut String);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if !s.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
            self.0.push_str(s);
            return Ok(());
        }
        for c in s.chars() {
            match c {
                '\\' => self.0.push_str("\\\\"),
                '"' => self.0.push_str("\\\""),
                '\n' => self.0.push_str("\\n"),
                c => self.0.push(c),
            }
        }
        Ok(())
    }
}

/// Writes the `# HELP` and `# TYPE` lines of a metric.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}
