//! Configuration diagnostics: every error with its file, line and column, collected rather than
//! stopping at the first, so an operator fixes a file in one pass.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem found in a configuration file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong, and where useful how to fix it.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// The key written on the line of byte `at` of `text` (`key = value`), if that line sets one.
pub fn key_on_line(text: &str, at: usize) -> Option<&str> {
    let before = text.get(..at.min(text.len()))?;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = text.get(start..)?.lines().next()?.split_once('=')?;
    let key = key.trim();
    (!key.starts_with('[')).then_some(key)
}

/// The text of a file being checked, to turn byte offsets into lines and columns.
#[derive(Debug)]
pub struct Source<'a> {
    file: &'a Path,
    text: &'a str,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Source<'a> {
    /// A source for `text`, read from `file`.
    pub fn new(file: &'a Path, text: &'a str) -> Self {
        Self {
            file,
            text,
            diagnostics: Vec::new(),
        }
    }

    /// The text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Records an error at the byte range `span` (its start is reported).
    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = self.position(span.start);
        self.diagnostics.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
        });
    }

    /// Records a serde/TOML error of a sub-document that starts at byte `base` of this file.
    pub fn toml_error(&mut self, base: usize, e: &toml::de::Error) {
        let span = e
            .span()
            .map_or(base..base, |s| base + s.start..base + s.end);
        // The key written on the error's line, to say when the value was a secret's.
        let key = key_on_line(self.text, span.start).map(|k| k.trim_matches('"'));
        self.error(span, super::redact_value(e.message().trim(), key));
    }

    /// The 1-based line and column of byte `offset`.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    /// How many errors were recorded so far.
    pub fn error_count(&self) -> usize {
        self.diagnostics.len()
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        !self.diagnostics.is_empty()
    }

    /// The errors, in file order.
    pub fn finish(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort_by_key(|d| (d.line, d.column));
        self.diagnostics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let s = Source::new(Path::new("f.toml"), "a = 1\nbé = 2\n");
        assert_eq!(s.position(0), (1, 1));
        assert_eq!(s.position(6), (2, 1));
        assert_eq!(s.position(9), (2, 3));
    }
}
