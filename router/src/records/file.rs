//! The file sink: delivery records as JSON lines, one file per UTC day of writing
//! (`records-YYYY-MM-DD.jsonl`), appended and synced to disk before the spool lets them go;
//! files older than `records.keep` are deleted.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Appends records to the day's file.
pub struct Files {
    dir: PathBuf,
    keep: Duration,
    /// The day's name and its file, open for appending.
    open: Option<(String, File)>,
}

impl Files {
    pub fn new(dir: PathBuf, keep: Duration) -> Self {
        Self {
            dir,
            keep,
            open: None,
        }
    }

    /// Appends `lines` (each a JSON object) to today's file and syncs it. Blocking.
    pub fn write(&mut self, lines: &[String]) -> std::io::Result<()> {
        let day = day_of(SystemTime::now());
        if self.open.as_ref().is_none_or(|(d, _)| *d != day) {
            std::fs::create_dir_all(&self.dir)?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(format!("records-{day}.jsonl")))?;
            self.open = Some((day, file));
            self.prune();
        }
        let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
        }
        let Some((_, file)) = &mut self.open else {
            return Err(std::io::Error::other("no records file open"));
        };
        let before = file.metadata()?.len();
        let written = file.write_all(&buf).and_then(|()| file.sync_data());
        if written.is_err() {
            // No partial line stays behind for the next write to run into (best effort: the
            // disk may refuse this too); the file is opened again next time.
            let _ = file.set_len(before);
            self.open = None;
        }
        written
    }

    /// Deletes the daily files older than `keep`.
    fn prune(&self) {
        let Some(oldest) = SystemTime::now().checked_sub(self.keep) else {
            return;
        };
        let oldest = format!("records-{}.jsonl", day_of(oldest));
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // The names sort by date.
            if name.starts_with("records-")
                && name.ends_with(".jsonl")
                && *name < *oldest
                && let Err(e) = std::fs::remove_file(entry.path())
            {
                tracing::warn!(file = %name, error = %e, "records: cannot delete an old file");
            }
        }
    }
}

/// `YYYY-MM-DD` (UTC) of `t`.
fn day_of(t: SystemTime) -> String {
    let stamp = humantime::format_rfc3339_seconds(t).to_string();
    stamp.get(..10).unwrap_or("1970-01-01").to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn appends_lines_to_the_days_file_and_prunes_old_ones() {
        let dir = std::env::temp_dir().join(format!("records-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("records-2001-01-01.jsonl"), "{}\n").unwrap();
        let mut files = Files::new(dir.clone(), Duration::from_secs(86_400));
        files
            .write(&["{\"a\":1}".into(), "{\"b\":2}".into()])
            .unwrap();
        files.write(&["{\"c\":3}".into()]).unwrap();
        let today = dir.join(format!("records-{}.jsonl", day_of(SystemTime::now())));
        assert_eq!(
            std::fs::read_to_string(today).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"
        );
        assert!(!dir.join("records-2001-01-01.jsonl").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
