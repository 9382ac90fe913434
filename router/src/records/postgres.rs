//! The PostgreSQL sink: delivery records into one table, which the router creates and
//! migrates (versions in `smpp_router_migrations`, applied under an advisory lock so that
//! instances of a cluster starting together do not race). A batch goes in as one `COPY` of
//! JSON lines into a temporary table and one `INSERT … ON CONFLICT (router_id) DO NOTHING`,
//! in one transaction: a batch written again after a failure (the commit's answer lost) adds
//! nothing twice. A batch the database refuses (not a lost connection) is written again one
//! record at a time, and a record it still refuses is skipped and counted, so that one bad
//! record cannot hold up the rest for good. Every write has [`WRITE_TIMEOUT`].

use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::{Client, NoTls};

/// How long connecting and one batch's write may take before the connection counts as lost.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a write did.
pub struct Written {
    /// Records the database refused on their own (skipped).
    pub rejected: u64,
}

/// The table's migrations, in order; `{t}` is the table's name.
const MIGRATIONS: &[&str] = &["
CREATE TABLE IF NOT EXISTS {t} (
    router_id        text PRIMARY KEY,
    account          text NOT NULL,
    route            text NOT NULL,
    channel          text NOT NULL,
    carrier_id       text NOT NULL,
    destination      text NOT NULL,
    country          text NOT NULL,
    submitted_at     timestamptz NOT NULL,
    attempts         text NOT NULL,
    failovers        integer NOT NULL,
    state            text NOT NULL,
    error            text,
    final_at         timestamptz,
    receipt_from     text,
    receipt_seconds  double precision,
    client_delivery  text,
    client_session   bigint,
    client_acked_at  timestamptz,
    price            numeric,
    written_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS {t}_submitted_at ON {t} (submitted_at);
CREATE INDEX IF NOT EXISTS {t}_carrier ON {t} (channel, carrier_id);
"];

/// The columns a record fills, as `INSERT … SELECT` reads them from the JSON document.
const COLUMNS: &[(&str, &str)] = &[
    ("router_id", "text"),
    ("account", "text"),
    ("route", "text"),
    ("channel", "text"),
    ("carrier_id", "text"),
    ("destination", "text"),
    ("country", "text"),
    ("submitted_at", "timestamptz"),
    ("attempts", "text"),
    ("failovers", "integer"),
    ("state", "text"),
    ("error", "text"),
    ("final_at", "timestamptz"),
    ("receipt_from", "text"),
    ("receipt_seconds", "double precision"),
    ("client_delivery", "text"),
    ("client_session", "bigint"),
    ("client_acked_at", "timestamptz"),
    ("price", "numeric"),
];

/// A connection to the records' database, made (and the schema migrated) on first use and
/// again after a failure.
pub struct Postgres {
    url: String,
    table: String,
    client: Option<Client>,
    /// Why the last write lost the connection.
    last_error: String,
}

impl Postgres {
    pub fn new(url: String, table: String) -> Self {
        Self {
            url,
            table,
            client: None,
            last_error: String::new(),
        }
    }

    async fn connect(&mut self) -> Result<&mut Client, tokio_postgres::Error> {
        let client = match self.client.take() {
            Some(client) if !client.is_closed() => client,
            _ => {
                let (mut client, connection) = tokio_postgres::connect(&self.url, NoTls).await?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "records: PostgreSQL connection ended");
                    }
                });
                migrate(&mut client, &self.table).await?;
                client
            }
        };
        Ok(self.client.insert(client))
    }

    /// Writes `lines` (JSON objects) in one transaction; when the database refuses the batch,
    /// one record at a time. On a lost connection (or [`WRITE_TIMEOUT`]) the connection is
    /// dropped and made again next time, and nothing counts as written.
    pub async fn write(&mut self, lines: &[String]) -> Result<Written, String> {
        match self.batch(lines).await {
            Ok(()) => return Ok(Written { rejected: 0 }),
            Err(Some(e)) if lines.len() > 1 => {
                tracing::warn!(error = %e, records = lines.len(), "records: PostgreSQL refused a batch; writing its records one at a time");
            }
            Err(Some(e)) => {
                tracing::warn!(error = %e, "records: PostgreSQL refused a delivery record; skipped");
                return Ok(Written { rejected: 1 });
            }
            Err(None) => return Err(self.lost()),
        }
        let mut rejected = 0;
        for line in lines {
            match self.batch(std::slice::from_ref(line)).await {
                Ok(()) => {}
                Err(Some(e)) => {
                    rejected += 1;
                    tracing::warn!(error = %e, "records: PostgreSQL refused a delivery record; skipped");
                }
                Err(None) => return Err(self.lost()),
            }
        }
        Ok(Written { rejected })
    }

    /// Why the connection is gone (it is dropped).
    fn lost(&mut self) -> String {
        self.client = None;
        std::mem::take(&mut self.last_error)
    }

    /// One transaction: `Err(Some(why))` when the database refused the data (SQLSTATE class
    /// 22, a data exception, or 23, a constraint), `Err(None)` when anything else failed —
    /// the connection, a timeout, the schema, permissions (why in `last_error`).
    async fn batch(&mut self, lines: &[String]) -> Result<(), Option<String>> {
        let table = self.table.clone();
        let written = tokio::time::timeout(WRITE_TIMEOUT, async {
            let client = self.connect().await?;
            let tx = client.transaction().await?;
            tx.batch_execute(
                "CREATE TEMP TABLE IF NOT EXISTS smpp_router_incoming (doc jsonb) ON COMMIT DELETE ROWS",
            )
            .await?;
            let sink = tx
                .copy_in("COPY smpp_router_incoming (doc) FROM STDIN")
                .await?;
            futures_util::pin_mut!(sink);
            sink.send(Bytes::from(copy_text(lines))).await?;
            sink.finish().await?;
            tx.execute(insert_statement(&table).as_str(), &[]).await?;
            tx.commit().await
        })
        .await;
        match written {
            Ok(Ok(())) => Ok(()),
            // The server refused the data (the transaction was rolled back).
            Ok(Err(e)) if refused_data(&e) => Err(Some(describe(&e))),
            Ok(Err(e)) => {
                self.last_error = describe(&e);
                Err(None)
            }
            Err(_) => {
                self.last_error = format!("no answer within {} s", WRITE_TIMEOUT.as_secs());
                Err(None)
            }
        }
    }
}

/// The data of a text-format `COPY`: one line per record, backslashes doubled (JSON escapes
/// every control character, so no tab or newline is inside a line).
fn copy_text(lines: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        for b in line.bytes() {
            if b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'\n');
    }
    out
}

fn insert_statement(table: &str) -> String {
    let names: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
    let values: Vec<String> = COLUMNS
        .iter()
        .map(|(n, ty)| format!("(doc->>'{n}')::{ty}"))
        .collect();
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM smpp_router_incoming ON CONFLICT (router_id) DO NOTHING",
        names.join(", "),
        values.join(", ")
    )
}

/// Creates the table or brings it to the newest version.
async fn migrate(client: &mut Client, table: &str) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    // One instance at a time (the key: "smpp-router records" in ASCII, shortened).
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(7310912453);
         CREATE TABLE IF NOT EXISTS smpp_router_migrations (
             tbl text NOT NULL, version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
             PRIMARY KEY (tbl, version))",
    )
    .await?;
    let row = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM smpp_router_migrations WHERE tbl = $1",
            &[&table],
        )
        .await?;
    let have: i32 = row.get(0);
    for (n, sql) in MIGRATIONS.iter().enumerate() {
        let version = i32::try_from(n + 1).unwrap_or(i32::MAX);
        if version <= have {
            continue;
        }
        tx.batch_execute(&sql.replace("{t}", table)).await?;
        tx.execute(
            "INSERT INTO smpp_router_migrations (tbl, version) VALUES ($1, $2)",
            &[&table, &version],
        )
        .await?;
        tracing::info!(%table, version, "records: PostgreSQL table migrated");
    }
    tx.commit().await
}

/// Whether the server refused the data itself (SQLSTATE classes 22 and 23).
fn refused_data(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| c.code().starts_with("22") || c.code().starts_with("23"))
}

/// The error with its cause (tokio-postgres keeps the server's message there).
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", e, db.message()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_data_doubles_backslashes_only() {
        let lines = [r#"{"a":"x\"y"}"#.to_string(), "{}".to_string()];
        assert_eq!(copy_text(&lines), b"{\"a\":\"x\\\\\"y\"}\n{}\n".to_vec());
    }

    #[test]
    fn the_insert_reads_every_column_from_the_document() {
        let sql = insert_statement("delivery_records");
        assert!(sql.starts_with("INSERT INTO delivery_records (router_id, account,"));
        assert!(sql.contains("(doc->>'submitted_at')::timestamptz"));
        assert!(sql.ends_with("ON CONFLICT (router_id) DO NOTHING"));
    }
}
