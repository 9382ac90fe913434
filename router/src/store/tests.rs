#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::*;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "smpp-router-store-{name}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        Self(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("data").join("store.redb")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rec(
    router_id: &str,
    account: &str,
    channel: &str,
    channel_id: &str,
    created: u64,
) -> MessageRecord {
    MessageRecord {
        router_id: router_id.into(),
        account: account.into(),
        channel: channel.into(),
        channel_id: channel_id.into(),
        created,
        attempts: format!("{channel} accepted 1ms"),
        ..MessageRecord::default()
    }
}

/// Runs `check` against a [`MemoryStore`] and a fresh [`RedbStore`].
async fn both<F>(name: &str, check: F)
where
    F: AsyncFn(&dyn Store),
{
    let memory = MemoryStore::new();
    check(&memory).await;
    let dir = TempDir::new(name);
    let redb = RedbStore::open(&dir.file()).unwrap();
    check(&*redb).await;
}

async fn records(store: &dyn Store) {
    store
        .record(rec("R1", "acme", "tyntec", "ab12", 100))
        .await
        .unwrap();
    store
        .record(rec("R2", "acme", "imessage", "ab12", 101))
        .await
        .unwrap();
    store
        .record(rec("R3", "other", "tyntec", "cd34", 102))
        .await
        .unwrap();

    assert_eq!(
        store.lookup("tyntec", "ab12").unwrap().as_deref(),
        Some(&rec("R1", "acme", "tyntec", "ab12", 100))
    );
    assert_eq!(
        store.lookup("imessage", "ab12").unwrap().unwrap().router_id,
        "R2"
    );
    assert_eq!(
        store.lookup("tyntec", "cd34").unwrap().unwrap().account,
        "other"
    );
    assert_eq!(store.lookup("tyntec", "AB12").unwrap(), None);
    assert_eq!(store.lookup("nope", "ab12").unwrap(), None);
    assert_eq!(store.lookup("", "").unwrap(), None);

    // A carrier id reused on the same channel points at the newest record.
    store
        .record(rec("R4", "acme", "tyntec", "cd34", 104))
        .await
        .unwrap();
    assert_eq!(
        store.lookup("tyntec", "cd34").unwrap().unwrap().router_id,
        "R4"
    );

    assert_eq!(
        store.by_router_id("R3").unwrap(),
        Some(rec("R3", "other", "tyntec", "cd34", 102))
    );
    assert_eq!(store.by_router_id("R9").unwrap(), None);

    // Odd bytes are just bytes.
    let odd = rec("id\u{0}\u{ffff}", "a\u{1F600}", "c:h", "\u{0}", u64::MAX);
    store.record(odd.clone()).await.unwrap();
    assert_eq!(store.lookup("c:h", "\u{0}").unwrap().as_deref(), Some(&odd));
    assert_eq!(store.by_router_id(&odd.router_id).unwrap(), Some(odd));
    assert!(store.stats().ops >= 5);
}

async fn queue(store: &dyn Store) {
    assert!(store.pending("acme", 0, 10).unwrap().is_empty());
    let k1 = store
        .enqueue("acme", Bytes::from_static(b"one"), 1000)
        .await
        .unwrap();
    let k2 = store
        .enqueue("other", Bytes::from_static(b"x"), 1000)
        .await
        .unwrap();
    let k3 = store
        .enqueue("acme", Bytes::from_static(b"two"), 1000)
        .await
        .unwrap();
    let k4 = store.enqueue("acme", Bytes::new(), 1000).await.unwrap();
    assert!(k1 < k2 && k2 < k3 && k3 < k4, "{k1} {k2} {k3} {k4}");
    assert_eq!(store.stats().queue_depth, 4);

    let acme = store.pending("acme", 10, 10).unwrap();
    let keys: Vec<u64> = acme.iter().map(|d| d.key).collect();
    assert_eq!(keys, vec![k1, k3, k4]);
    assert_eq!(
        acme[0],
        PendingDelivery {
            key: k1,
            account: "acme".into(),
            pdu: Bytes::from_static(b"one"),
            expires: 1000
        }
    );
    assert_eq!(&acme[1].pdu[..], b"two");
    assert!(acme[2].pdu.is_empty());
    assert_eq!(store.pending("acme", 10, 2).unwrap().len(), 2);
    assert!(store.pending("acme", 10, 0).unwrap().is_empty());
    assert_eq!(store.pending("other", 10, 10).unwrap()[0].key, k2);
    // No prefix confusion between accounts.
    assert!(store.pending("acm", 10, 10).unwrap().is_empty());
    assert!(store.pending("acmee", 10, 10).unwrap().is_empty());

    assert!(store.is_pending(k1).unwrap());
    store.dequeue(k1).await.unwrap();
    assert!(!store.is_pending(k1).unwrap());
    assert!(store.is_pending(k3).unwrap());
    assert!(!store.is_pending(999_999).unwrap());
    store.dequeue(k1).await.unwrap(); // twice is fine
    store.dequeue(999_999).await.unwrap(); // never existed
    let keys: Vec<u64> = store
        .pending("acme", 10, 10)
        .unwrap()
        .iter()
        .map(|d| d.key)
        .collect();
    assert_eq!(keys, vec![k3, k4]);
    assert_eq!(store.stats().queue_depth, 3);
    // The newest, all accounts together, newest first.
    let newest: Vec<u64> = store
        .newest_pending(2)
        .unwrap()
        .iter()
        .map(|d| d.key)
        .collect();
    assert_eq!(newest, vec![k4, k3]);
    assert_eq!(store.newest_pending(10).unwrap().len(), 3);
    assert_eq!(store.newest_pending(10).unwrap()[2].key, k2);

    // Keys keep increasing after removals.
    let k5 = store
        .enqueue("acme", Bytes::from_static(b"five"), 1000)
        .await
        .unwrap();
    assert!(k5 > k4);
}

async fn expiry(store: &dyn Store) {
    let soon = store
        .enqueue("acme", Bytes::from_static(b"soon"), 50)
        .await
        .unwrap();
    let later = store
        .enqueue("acme", Bytes::from_static(b"later"), 500)
        .await
        .unwrap();
    let other = store
        .enqueue("other", Bytes::from_static(b"o"), 60)
        .await
        .unwrap();
    store
        .record(rec("old", "acme", "c", "1", 10))
        .await
        .unwrap();
    store
        .record(rec("edge", "acme", "c", "2", 20))
        .await
        .unwrap();
    store
        .record(rec("new", "acme", "c", "3", 30))
        .await
        .unwrap();

    // Expired deliveries are not handed out even before expire() runs; expired at `expires`.
    let keys: Vec<u64> = store
        .pending("acme", 50, 10)
        .unwrap()
        .iter()
        .map(|d| d.key)
        .collect();
    assert_eq!(keys, vec![later]);
    assert_eq!(store.pending("acme", 49, 10).unwrap()[0].key, soon);

    // Nothing due yet.
    assert_eq!(store.expire(10, 10).unwrap(), 0);

    // Deliveries with expires <= 60 and records created before 20.
    assert_eq!(store.expire(60, 20).unwrap(), 3);
    assert_eq!(store.stats().queue_depth, 1);
    assert!(store.pending("other", 0, 10).unwrap().is_empty());
    let left: Vec<u64> = store
        .pending("acme", 0, 10)
        .unwrap()
        .iter()
        .map(|d| d.key)
        .collect();
    assert_eq!(left, vec![later]);
    assert_eq!(store.lookup("c", "1").unwrap(), None);
    assert!(store.lookup("c", "2").unwrap().is_some());
    assert!(store.lookup("c", "3").unwrap().is_some());
    let _ = other;

    // Dequeue of an expired key is still fine.
    store.dequeue(soon).await.unwrap();
    assert_eq!(store.expire(u64::MAX, u64::MAX).unwrap(), 3);
    assert_eq!(store.stats().queue_depth, 0);
    assert_eq!(store.lookup("c", "3").unwrap(), None);
}

async fn many_expire(store: &dyn Store) {
    // More than one expiry chunk.
    for i in 0..5000u64 {
        drop(store.record(rec(&format!("r{i}"), "a", "c", &format!("{i}"), i)));
    }
    store.flush().await.unwrap();
    assert_eq!(store.expire(0, 4500).unwrap(), 4500);
    assert_eq!(store.lookup("c", "4499").unwrap(), None);
    assert!(store.lookup("c", "4500").unwrap().is_some());
}

#[tokio::test]
async fn records_and_lookups() {
    both("records", records).await;
}

#[tokio::test]
async fn queue_order_per_account() {
    both("queue", queue).await;
}

#[tokio::test]
async fn expiry_of_deliveries_and_records() {
    both("expiry", expiry).await;
}

#[tokio::test]
async fn expiry_in_chunks() {
    both("chunks", many_expire).await;
}

#[tokio::test]
async fn durable_across_reopen() {
    let dir = TempDir::new("reopen");
    let (k1, k2) = {
        let store = RedbStore::open(&dir.file()).unwrap();
        store
            .record(rec("R1", "acme", "tyntec", "ab12", 100))
            .await
            .unwrap();
        let k1 = store
            .enqueue("acme", Bytes::from_static(b"dlr1"), 1000)
            .await
            .unwrap();
        let k2 = store
            .enqueue("acme", Bytes::from_static(b"dlr2"), 1000)
            .await
            .unwrap();
        let k3 = store
            .enqueue("acme", Bytes::from_static(b"dlr3"), 1000)
            .await
            .unwrap();
        store.dequeue(k3).await.unwrap();
        // Queued but never awaited: committed when the store is dropped.
        drop(store.record(rec("R2", "acme", "tyntec", "cd34", 101)));
        (k1, k2)
    };
    let store = RedbStore::open(&dir.file()).unwrap();
    assert_eq!(
        store.lookup("tyntec", "ab12").unwrap().as_deref(),
        Some(&rec("R1", "acme", "tyntec", "ab12", 100))
    );
    assert_eq!(
        store.lookup("tyntec", "cd34").unwrap().unwrap().router_id,
        "R2"
    );
    let pending = store.pending("acme", 0, 10).unwrap();
    assert_eq!(
        pending.iter().map(|d| d.key).collect::<Vec<_>>(),
        vec![k1, k2]
    );
    assert_eq!(&pending[1].pdu[..], b"dlr2");
    assert_eq!(store.stats().queue_depth, 2);
    // Keys are never reused, even though the highest one was dequeued before the restart.
    let k4 = store.enqueue("acme", Bytes::new(), 1000).await.unwrap();
    assert!(k4 > k2 + 1, "{k4}");
}

#[tokio::test]
async fn second_open_of_the_same_file_is_refused() {
    let dir = TempDir::new("twice");
    let _store = RedbStore::open(&dir.file()).unwrap();
    assert!(matches!(
        RedbStore::open(&dir.file()),
        Err(StoreError::InUse)
    ));
}

#[test]
fn garbage_file_is_an_error() {
    let dir = TempDir::new("garbage");
    std::fs::create_dir_all(dir.file().parent().unwrap()).unwrap();
    std::fs::write(dir.file(), b"this is not a redb file, not at all, no").unwrap();
    assert!(RedbStore::open(&dir.file()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_groups() {
    let dir = TempDir::new("group");
    let store = RedbStore::open(&dir.file()).unwrap();
    let before = store.stats();
    let tasks: Vec<_> = (0..2000)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .record(rec(&format!("R{i}"), "acme", "c", &format!("C{i}"), i))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let after = store.stats();
    let commits = after.commits - before.commits;
    eprintln!("group commit: {commits} commits for 2000 records");
    assert!(commits < 500, "{commits} commits for 2000 records");
    assert_eq!(after.ops - before.ops, 2000);
    assert_eq!(after.backlog, 0);
    for i in 0..2000u64 {
        assert_eq!(
            store
                .lookup("c", &format!("C{i}"))
                .unwrap()
                .unwrap()
                .router_id,
            format!("R{i}")
        );
    }
}

#[tokio::test]
async fn close_is_a_barrier() {
    let dir = TempDir::new("closed");
    let store = RedbStore::open(&dir.file()).unwrap();
    store.close().await.unwrap();
    // close() is a barrier: the store stays usable.
    store.record(rec("R", "a", "c", "1", 1)).await.unwrap();
    let store: Arc<dyn Store> = store;
    assert!(store.lookup("c", "1").unwrap().is_some());
}

#[tokio::test]
async fn damaged_file_does_not_panic() {
    let dir = TempDir::new("damaged");
    {
        let store = RedbStore::open(&dir.file()).unwrap();
        for i in 0..500u64 {
            drop(store.record(rec(&format!("R{i}"), "acme", "c", &format!("C{i}"), i)));
        }
        store.flush().await.unwrap();
    }
    let clean = std::fs::read(dir.file()).unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..100 {
        let mut bytes = clean.clone();
        for _ in 0..8 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let at = (rng as usize) % bytes.len();
            bytes[at] ^= 0x5a;
        }
        std::fs::write(dir.file(), &bytes).unwrap();
        // The default options check the whole file on open; without that check redb may panic
        // on a damaged page of a file it had closed cleanly.
        if let Ok(store) = RedbStore::open(&dir.file()) {
            for i in 0..500u64 {
                let _ = store.lookup("c", &format!("C{i}"));
            }
            let _ = store.pending("acme", 0, 10);
            let _ = store.record(rec("new", "a", "c", "x", 1)).await;
        }
    }
}

#[tokio::test]
async fn schema_1_files_are_migrated() {
    use redb::{ReadableDatabase, TableDefinition, TableHandle};

    use super::codec::encode_record;
    use super::redb_store::v1::{RECORDS_BY_CHANNEL_V1, RECORDS_BY_TIME_V1, RECORDS_V1};

    const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
    let dir = TempDir::new("v1");
    std::fs::create_dir_all(dir.file().parent().unwrap()).unwrap();
    {
        // A file as schema 1 wrote it: c/a was reused by R3, so the index names R3 for it.
        let db = redb::Database::create(dir.file()).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut records = txn.open_table(RECORDS_V1).unwrap();
            let mut by_channel = txn.open_table(RECORDS_BY_CHANNEL_V1).unwrap();
            let mut by_time = txn.open_table(RECORDS_BY_TIME_V1).unwrap();
            for r in [
                rec("R1", "acme", "c", "a", 10),
                rec("R2", "acme", "c", "b", 30),
                rec("R3", "other", "c", "a", 40),
            ] {
                records
                    .insert(r.router_id.as_str(), encode_record(&r).as_slice())
                    .unwrap();
                by_channel
                    .insert(
                        (r.channel.as_str(), r.channel_id.as_str()),
                        r.router_id.as_str(),
                    )
                    .unwrap();
                by_time
                    .insert((r.created, r.router_id.as_str()), ())
                    .unwrap();
            }
            records.insert("R9", b"\xffgarbage".as_slice()).unwrap();
            // Index entries naming a record that is not there, or one with another carrier id.
            by_channel.insert(("c", "gone"), "R8").unwrap();
            by_channel.insert(("c", "stale"), "R2").unwrap();
            txn.open_table(META).unwrap().insert("schema", 1).unwrap();
        }
        txn.commit().unwrap();
    }

    let store = RedbStore::open(&dir.file()).unwrap();
    assert_eq!(
        store.lookup("c", "a").unwrap().as_deref(),
        Some(&rec("R3", "other", "c", "a", 40))
    );
    assert_eq!(store.lookup("c", "b").unwrap().unwrap().router_id, "R2");
    assert_eq!(store.lookup("c", "gone").unwrap(), None);
    assert_eq!(store.lookup("c", "stale").unwrap(), None);
    // R1 lost its carrier id to R3 but is still there; the undecodable R9 is not.
    assert_eq!(store.by_router_id("R1").unwrap().unwrap().created, 10);
    assert_eq!(store.by_router_id("R9").unwrap(), None);
    // Expiry works on the migrated records: R1 and R2 go; c/a still finds R3.
    assert_eq!(store.expire(0, 35).unwrap(), 2);
    assert_eq!(store.lookup("c", "b").unwrap(), None);
    assert_eq!(store.lookup("c", "a").unwrap().unwrap().router_id, "R3");
    drop(store);

    let db = redb::Database::open(dir.file()).unwrap();
    let txn = db.begin_read().unwrap();
    let tables: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|t| t.name().to_owned())
        .collect();
    for old in ["records", "records_by_channel", "records_by_time"] {
        assert!(!tables.iter().any(|t| t == old), "{old} is still there");
    }
    let schema = txn
        .open_table(META)
        .unwrap()
        .get("schema")
        .unwrap()
        .unwrap();
    assert_eq!(schema.value(), 4);
}

#[tokio::test]
async fn lookups_and_expiry_from_the_file() {
    // Past the in-memory copy of recent records: a reopened store reads the file.
    let dir = TempDir::new("file");
    {
        let store = RedbStore::open(&dir.file()).unwrap();
        for r in [
            rec("R1", "acme", "c", "a", 10),
            rec("R2", "acme", "c", "b", 30),
            rec("R3", "other", "c", "a", 40),
        ] {
            store.record(r).await.unwrap();
        }
    }
    let store = RedbStore::open(&dir.file()).unwrap();
    assert_eq!(store.lookup("c", "a").unwrap().unwrap().router_id, "R3");
    assert_eq!(store.lookup("c", "b").unwrap().unwrap().router_id, "R2");
    assert_eq!(store.expire(0, 35).unwrap(), 2);
    assert_eq!(store.lookup("c", "b").unwrap(), None);
    assert_eq!(store.lookup("c", "a").unwrap().unwrap().router_id, "R3");
    assert_eq!(store.expire(0, 41).unwrap(), 1);
    assert_eq!(store.lookup("c", "a").unwrap(), None);
}

/// Records `router_id` on channel `c` under `channel_id`.
async fn put(store: &RedbStore, router_id: &str, channel_id: &str, created: u64) {
    store
        .record(rec(router_id, "acme", "c", channel_id, created))
        .await
        .unwrap();
}

/// The schema version in a file's `meta` table.
fn schema(meta: &impl redb::ReadableTable<&'static str, u64>) -> u64 {
    meta.get("schema").unwrap().unwrap().value()
}

/// Every record's carrier id, looked up.
fn all_found(store: &RedbStore, n: usize) {
    for i in 0..n {
        let found = store.lookup("c", &uuid_like(i)).unwrap();
        assert_eq!(
            found.map(|r| r.router_id.clone()),
            Some(format!("R{i}")),
            "record {i}"
        );
    }
}

/// A carrier id in no order, like a UUID.
fn uuid_like(i: usize) -> String {
    format!(
        "{:016x}",
        (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    )
}

fn small(recent_records: usize) -> RedbOptions {
    RedbOptions {
        recent_records,
        ..RedbOptions::default()
    }
}

#[tokio::test]
async fn carrier_ids_are_indexed_late_and_always_found() {
    use redb::{ReadableDatabase, ReadableTableMetadata};

    use super::redb_store::{RECORDS_BY_CHANNEL, UNINDEXED};

    const N: usize = 600;
    let dir = TempDir::new("deferred");
    {
        // 40 recent records: generations of 10, so most records are indexed while the store runs
        // and most lookups below read the file.
        let store = RedbStore::open_with(&dir.file(), &small(40)).unwrap();
        for i in 0..N {
            put(&store, &format!("R{i}"), &uuid_like(i), 100).await;
            if i % 97 == 0 {
                all_found(&store, i + 1);
            }
        }
        all_found(&store, N);
        assert!(store.stats().unindexed <= 2 * 10, "{:?}", store.stats());
        // The copy in memory keeps its size (plus what waits for the index), so most of those
        // lookups read the file.
        assert!(
            store.recent_kept() <= 40 + 2 * 10 + 1,
            "{}",
            store.recent_kept()
        );
        // A carrier id taken over by a newer record: the newer one is found, before and after
        // its index entry is written.
        put(&store, "NEW", &uuid_like(0), 101).await;
        assert_eq!(
            store.lookup("c", &uuid_like(0)).unwrap().unwrap().router_id,
            "NEW"
        );
        for i in N..N + 100 {
            put(&store, &format!("R{i}"), &uuid_like(i), 102).await;
        }
        assert_eq!(
            store.lookup("c", &uuid_like(0)).unwrap().unwrap().router_id,
            "NEW"
        );
    }
    // Closed cleanly: everything is in the index, the log is empty.
    {
        let db = redb::Database::open(dir.file()).unwrap();
        let txn = db.begin_read().unwrap();
        assert_eq!(txn.open_table(UNINDEXED).unwrap().len().unwrap(), 0);
        assert_eq!(
            txn.open_table(RECORDS_BY_CHANNEL).unwrap().len().unwrap(),
            (N + 100) as u64
        );
    }
    let store = RedbStore::open_with(&dir.file(), &small(40)).unwrap();
    assert_eq!(
        store.lookup("c", &uuid_like(0)).unwrap().unwrap().router_id,
        "NEW"
    );
    for i in 1..N + 100 {
        assert_eq!(
            store.lookup("c", &uuid_like(i)).unwrap().unwrap().router_id,
            format!("R{i}")
        );
    }
}

#[tokio::test]
async fn records_not_indexed_at_a_crash_are_indexed_at_the_next_open() {
    use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

    use super::codec::encode_keys;
    use super::redb_store::{META, RECORDS, RECORDS_BY_CHANNEL, UNINDEXED};

    const N: usize = 300;
    let dir = TempDir::new("crash");
    {
        let store = RedbStore::open(&dir.file()).unwrap();
        for i in 0..N {
            put(&store, &format!("R{i}"), &uuid_like(i), 100 + i as u64).await;
        }
    }
    {
        // The file as a crash before any index entry was written would leave it: the records and
        // the log naming them (in two commits, the second with a key of a record since expired,
        // and an entry that cannot be decoded), no index.
        let db = redb::Database::open(dir.file()).unwrap();
        let txn = db.begin_write().unwrap();
        {
            txn.open_table(RECORDS_BY_CHANNEL)
                .unwrap()
                .retain(|_, _| false)
                .unwrap();
            let records: Vec<MessageRecord> = {
                let table = txn.open_table(RECORDS).unwrap();
                let mut out = Vec::new();
                for entry in table.iter().unwrap() {
                    let (k, v) = entry.unwrap();
                    out.push(super::codec::decode_record(k.value().1, v.value()).unwrap());
                }
                out
            };
            assert_eq!(records.len(), N);
            let mut log = txn.open_table(UNINDEXED).unwrap();
            let (first, second) = records.split_at(N / 2);
            log.insert(7, encode_keys(first.iter()).as_slice()).unwrap();
            log.insert(8, b"\x07garbage".as_slice()).unwrap();
            let gone = rec("GONE", "acme", "c", "gone", 1);
            log.insert(9, encode_keys(second.iter().chain([&gone])).as_slice())
                .unwrap();
            assert_eq!(schema(&txn.open_table(META).unwrap()), 4);
        }
        txn.commit().unwrap();
    }
    {
        let store = RedbStore::open_with(&dir.file(), &small(40)).unwrap();
        // The log's records wait for the index (in memory) until the writer gets to them.
        assert_eq!(store.stats().unindexed, N as u64);
        all_found(&store, N);
        assert_eq!(store.lookup("c", "gone").unwrap(), None);
        // New records after the catch-up: their log entries do not collide with the old ones.
        put(&store, "R-after", "after", 1000).await;
    }
    let db = redb::Database::open(dir.file()).unwrap();
    let txn = db.begin_read().unwrap();
    assert_eq!(txn.open_table(UNINDEXED).unwrap().len().unwrap(), 0);
    assert_eq!(
        txn.open_table(RECORDS_BY_CHANNEL).unwrap().len().unwrap(),
        N as u64 + 1
    );
    drop(txn);
    drop(db);
    let store = RedbStore::open_with(&dir.file(), &small(40)).unwrap();
    assert_eq!(store.stats().unindexed, 0);
    all_found(&store, N);
    assert_eq!(
        store.lookup("c", "after").unwrap().unwrap().router_id,
        "R-after"
    );
}

#[tokio::test]
async fn schema_2_files_gain_the_log() {
    use redb::{ReadableDatabase, TableHandle};

    use super::redb_store::{META, RECORDS, RECORDS_BY_CHANNEL};

    let dir = TempDir::new("v2");
    std::fs::create_dir_all(dir.file().parent().unwrap()).unwrap();
    {
        let db = redb::Database::create(dir.file()).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let r = rec("R1", "acme", "c", "a", 10);
            txn.open_table(RECORDS)
                .unwrap()
                .insert((10, "R1"), super::codec::encode_record(&r).as_slice())
                .unwrap();
            txn.open_table(RECORDS_BY_CHANNEL)
                .unwrap()
                .insert(("c", "a"), (10, "R1"))
                .unwrap();
            txn.open_table(META).unwrap().insert("schema", 2).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = RedbStore::open(&dir.file()).unwrap();
    assert_eq!(store.lookup("c", "a").unwrap().unwrap().router_id, "R1");
    drop(store);
    let db = redb::Database::open(dir.file()).unwrap();
    let txn = db.begin_read().unwrap();
    assert!(txn.list_tables().unwrap().any(|t| t.name() == "unindexed"));
    assert_eq!(schema(&txn.open_table(META).unwrap()), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generations_of_several_chunks_under_concurrent_writers() {
    use redb::{ReadableDatabase, ReadableTableMetadata};

    use super::redb_store::{RECORDS_BY_CHANNEL, UNINDEXED};

    // Generations of 5,000 entries: two chunks each. Writers in groups of 500 at once, so that
    // commits carry many records.
    const RECENT: usize = 20_000;
    const N: usize = 30_000;
    let dir = TempDir::new("chunks");
    {
        let store = RedbStore::open_with(&dir.file(), &small(RECENT)).unwrap();
        for group in 0..N / 500 {
            let writes = (group * 500..(group + 1) * 500)
                .map(|i| store.record(rec(&format!("R{i}"), "acme", "c", &uuid_like(i), 100)));
            for result in futures_util::future::join_all(writes).await {
                result.unwrap();
            }
        }
        all_found(&store, N);
        // The copy in memory shrinks back to its size as generations are indexed: at most the
        // capacity plus the records waiting (one generation gathering, one being written).
        let kept = store.recent_kept();
        assert!(
            kept <= RECENT + 2 * (RECENT / 4) + 500,
            "{kept} records in memory"
        );
        assert!(store.stats().commits < N as u64, "{:?}", store.stats());
    }
    let db = redb::Database::open(dir.file()).unwrap();
    let txn = db.begin_read().unwrap();
    assert_eq!(txn.open_table(UNINDEXED).unwrap().len().unwrap(), 0);
    assert_eq!(
        txn.open_table(RECORDS_BY_CHANNEL).unwrap().len().unwrap(),
        N as u64
    );
}

#[tokio::test]
async fn records_expired_before_their_turn_are_not_indexed() {
    use redb::{ReadableDatabase, ReadableTableMetadata};

    use super::redb_store::RECORDS_BY_CHANNEL;

    let dir = TempDir::new("expired");
    {
        // Nothing is indexed before the store closes (a generation is 65,536 records).
        let store = RedbStore::open(&dir.file()).unwrap();
        put(&store, "OLD", "old", 10).await;
        put(&store, "NEW", "new", 50).await;
        assert_eq!(store.expire(0, 11).unwrap(), 1);
        // Older than that cutoff, but recorded after the expiry: it stays, and is indexed.
        put(&store, "LATE", "late", 5).await;
    }
    let store = RedbStore::open(&dir.file()).unwrap();
    assert_eq!(store.lookup("c", "old").unwrap(), None);
    assert_eq!(store.lookup("c", "new").unwrap().unwrap().router_id, "NEW");
    assert_eq!(
        store.lookup("c", "late").unwrap().unwrap().router_id,
        "LATE"
    );
    drop(store);
    let db = redb::Database::open(dir.file()).unwrap();
    let txn = db.begin_read().unwrap();
    // No entry for OLD, which is gone.
    assert_eq!(
        txn.open_table(RECORDS_BY_CHANNEL).unwrap().len().unwrap(),
        2
    );
}

#[tokio::test]
async fn a_copy_of_one_record_still_indexes_everything() {
    // `recent_records = 1`: generations of one record, indexed a commit later.
    const N: usize = 60;
    let dir = TempDir::new("one");
    {
        let store = RedbStore::open_with(&dir.file(), &small(1)).unwrap();
        for group in 0..N / 10 {
            let writes = (group * 10..(group + 1) * 10)
                .map(|i| store.record(rec(&format!("R{i}"), "acme", "c", &uuid_like(i), 100)));
            for result in futures_util::future::join_all(writes).await {
                result.unwrap();
            }
            all_found(&store, (group + 1) * 10);
        }
        assert!(store.recent_kept() <= 1 + 2 * 10, "{}", store.recent_kept());
    }
    let store = RedbStore::open_with(&dir.file(), &small(1)).unwrap();
    assert_eq!(store.stats().unindexed, 0);
    all_found(&store, N);
}

#[tokio::test]
async fn a_damaged_delivery_holds_up_no_other() {
    use super::codec::encode_pending;
    use super::redb_store::PENDING;

    let dir = TempDir::new("damaged-delivery");
    let (k1, k2) = {
        let store = RedbStore::open(&dir.file()).unwrap();
        let k1 = store
            .enqueue("acme", Bytes::from_static(b"one"), 1000)
            .await
            .unwrap();
        let k2 = store
            .enqueue("acme", Bytes::from_static(b"two"), 1000)
            .await
            .unwrap();
        (k1, k2)
    };
    {
        // k1's entry damaged on disk (its index entries intact).
        let db = redb::Database::open(dir.file()).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut p = txn.open_table(PENDING).unwrap();
            let good = encode_pending("acme", 1000, b"one");
            p.insert(k1, &good[..3]).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = RedbStore::open(&dir.file()).unwrap();
    let keys = |v: Vec<PendingDelivery>| v.iter().map(|d| d.key).collect::<Vec<_>>();
    assert_eq!(keys(store.pending("acme", 10, 10).unwrap()), vec![k2]);
    assert_eq!(keys(store.newest_pending(10).unwrap()), vec![k2]);
    // Expiry still removes it.
    assert_eq!(store.expire(1000, 0).unwrap(), 2);
    assert!(store.pending("acme", 0, 10).unwrap().is_empty());
}

/// Waits (up to 10 s) until the store writes again.
async fn until_writable(store: &dyn Store) {
    let t0 = std::time::Instant::now();
    while !store.health().writable() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "the store did not recover: {:?}",
            store.health()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Writes fail (a full or failing disk), at once or part-way through a commit: records of
/// messages already sent and removals are held in memory (their callers done, the records
/// findable), a receipt to keep fails with `Unavailable` (its carrier resends it), the store
/// reports the fault; once writes succeed it opens the file again by itself and writes what it
/// held — found after a reopen.
#[tokio::test]
async fn a_failing_disk_holds_records_and_recovers_without_a_restart() {
    for writes_before_failing in [0, 1, 3, 7] {
        let dir = TempDir::new("faults");
        let faults = Arc::new(Faults::default());
        let options = RedbOptions {
            faults: Some(faults.clone()),
            ..RedbOptions::default()
        };
        let store = RedbStore::open_with(&dir.file(), &options).unwrap();
        store
            .record(rec("R0", "acme", "c", "id0", 100))
            .await
            .unwrap();
        let kept = store
            .enqueue("acme", Bytes::from_static(b"r0"), u64::MAX)
            .await
            .unwrap();
        assert!(store.health().writable());

        faults.fail_after(writes_before_failing);
        // Many at once: one commit, failing part-way.
        let records: Vec<_> = (1..=20)
            .map(|i| {
                store.record(rec(
                    &format!("R{i}"),
                    "acme",
                    "c",
                    &format!("id{i}"),
                    100 + i,
                ))
            })
            .collect();
        for r in futures_util::future::join_all(records).await {
            r.unwrap();
        }
        store.dequeue(kept).await.unwrap();
        let health = store.health();
        assert!(!health.writable(), "{writes_before_failing}: {health:?}");
        assert!(health.held >= 21, "{health:?}");
        assert!(matches!(
            store
                .enqueue("acme", Bytes::from_static(b"r1"), u64::MAX)
                .await,
            Err(StoreError::Unavailable(_))
        ));
        // A receipt still finds its message meanwhile.
        assert_eq!(store.lookup("c", "id7").unwrap().unwrap().router_id, "R7");

        faults.heal();
        until_writable(&*store).await;
        assert_eq!(store.health().held, 0);
        store
            .record(rec("R21", "acme", "c", "id21", 121))
            .await
            .unwrap();
        drop(store);

        let store = RedbStore::open(&dir.file()).unwrap();
        for i in 0..=21 {
            let found = store.lookup("c", &format!("id{i}")).unwrap();
            assert_eq!(
                found.map(|r| r.router_id.clone()),
                Some(format!("R{i}")),
                "{writes_before_failing}: record {i} after the reopen"
            );
        }
        assert!(
            !store.is_pending(kept).unwrap(),
            "the held removal was written"
        );
        assert_eq!(store.stats().queue_depth, 0);
        assert!(faults.failed.load(Ordering::Relaxed) > 0);
    }
}

/// What is held in memory is bounded: beyond `max_held` records fail too.
#[tokio::test]
async fn what_is_held_while_failing_is_bounded() {
    let dir = TempDir::new("faults-bound");
    let faults = Arc::new(Faults::default());
    let options = RedbOptions {
        faults: Some(faults.clone()),
        max_held: 5,
        ..RedbOptions::default()
    };
    let store = RedbStore::open_with(&dir.file(), &options).unwrap();
    faults.fail();
    let mut outcomes = Vec::new();
    for i in 0..8 {
        outcomes.push(
            store
                .record(rec(&format!("R{i}"), "acme", "c", &format!("id{i}"), 100))
                .await,
        );
    }
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        5,
        "{outcomes:?}"
    );
    assert!(matches!(outcomes[7], Err(StoreError::Unavailable(_))));
    assert_eq!(store.health().held, 5);
    faults.heal();
    until_writable(&*store).await;
}

/// A message's history, the spool of finished messages and their marks, and lookups by a
/// router-minted id (one read: the id names the record's second).
async fn histories_and_the_spool(store: &dyn Store) {
    let minter = crate::ids::IdMinter::new(2);
    let t0 = 1_800_000_000_000;
    let ids: Vec<String> = (0..3)
        .map(|i| minter.next_at(t0 + i * 1500).to_string())
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let created = crate::ids::unix_secs(id.parse().unwrap());
        let mut r = rec(id, "acme", "tyntec", &format!("C{i}"), created);
        r.route = "otp".into();
        store.record(r).await.unwrap();
    }
    for id in &ids {
        assert_eq!(store.by_router_id(id).unwrap().unwrap().router_id, *id);
    }
    assert!(
        store
            .by_router_id(&minter.next_at(t0 + 9000).to_string())
            .unwrap()
            .is_none()
    );
    let key = |i: usize| ids[i].parse::<u64>().unwrap();
    let first = Arc::new(store.by_router_id(&ids[0]).unwrap().unwrap());
    store.note(key(0), Event::receipt(1, "000", "tyntec"), None);
    store.note(
        key(0),
        Event::receipt(2, "000", "tyntec"),
        Some(first.clone()),
    );
    let delivered = Event {
        at_ms: 5,
        kind: EventKind::delivered("direct", 9),
    };
    store.note(key(0), delivered.clone(), None);
    // Readable at once, before they are written.
    let h = store.history(key(0)).unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!(h[1].final_receipt().map(|f| f.0), Some(2));
    assert_eq!(h[2], delivered);
    assert!(store.history(key(1)).unwrap().is_empty());
    store.flush().await.unwrap();
    assert_eq!(store.history(key(0)).unwrap().len(), 3, "and after");

    let spooled = store.spooled(0, 10, u64::MAX).unwrap();
    assert_eq!(spooled.len(), 1);
    assert_eq!(spooled[0].record, *first);
    assert_eq!(store.stats().spooled, 1);
    // Records expiring without a final receipt end there, in the spool.
    store.expire(0, crate::ids::unix_secs(key(2))).unwrap();
    let spooled = store.spooled(0, 10, u64::MAX).unwrap();
    assert_eq!(spooled.len(), 2, "{spooled:?}");
    assert_eq!(spooled[1].record.router_id, ids[1]);
    assert!(spooled[1].outcome.is_none());
    // Read by when they ended: the reading stops at the first that ended later (the expired
    // one after it waits too, to keep the order).
    let at = spooled[0].outcome.as_ref().map(|e| e.at_ms).unwrap();
    assert!(store.spooled(0, 10, at - 1).unwrap().is_empty());
    assert_eq!(store.spooled(0, 10, at).unwrap().len(), 2);
    assert_eq!(store.spooled(0, 1, at).unwrap().len(), 1);
    assert!(
        store.history(key(0)).unwrap().is_empty(),
        "events go with their record"
    );
    // Events without a record here (another instance accepted the message) go by age.
    let stray = crate::ids::IdMinter::new(5).next_at(t0 + 100);
    store.note(stray, Event::receipt(2, "000", "tyntec"), None);
    store.flush().await.unwrap();
    store.expire(0, crate::ids::unix_secs(key(2))).unwrap();
    assert!(store.history(stray).unwrap().is_empty());
    assert_eq!(
        store.spooled(0, 10, u64::MAX).unwrap().len(),
        2,
        "nothing more ends"
    );
    // Two sinks: the spool keeps what either has not written.
    let (a, b) = (spooled[0].seq, spooled[1].seq);
    store.spool_done("file", b, 0).await.unwrap();
    assert_eq!(store.spool_mark("file").unwrap(), b);
    assert_eq!(store.spool_mark("postgres").unwrap(), 0);
    assert_eq!(store.spooled(0, 10, u64::MAX).unwrap().len(), 2);
    store.spool_done("postgres", a, a).await.unwrap();
    let left = store.spooled(0, 10, u64::MAX).unwrap();
    assert_eq!(left.iter().map(|f| f.seq).collect::<Vec<_>>(), [b]);
    assert_eq!(store.spooled(b, 10, u64::MAX).unwrap().len(), 0);
    assert_eq!(store.stats().spooled, 1);
}

#[tokio::test]
async fn message_histories_and_the_spool_of_finished_messages() {
    both("histories", histories_and_the_spool).await;
}

#[tokio::test]
async fn the_spool_and_its_marks_survive_a_restart() {
    let dir = TempDir::new("spool-restart");
    let id = crate::ids::IdMinter::new(0).next();
    let key: u64 = id.parse().unwrap();
    {
        let store = RedbStore::open(&dir.file()).unwrap();
        let r = rec(&id, "acme", "tyntec", "X", crate::ids::unix_secs(key));
        store.record(r.clone()).await.unwrap();
        store.note(key, Event::receipt(5, "011", "tyntec"), Some(Arc::new(r)));
        store.flush().await.unwrap();
        let seq = store.spooled(0, 10, u64::MAX).unwrap()[0].seq;
        store.spool_done("file", seq, 0).await.unwrap();
        store.close().await.unwrap();
    }
    let store = RedbStore::open(&dir.file()).unwrap();
    assert_eq!(store.stats().spooled, 1, "postgres has not written it");
    let seq = store.spooled(0, 10, u64::MAX).unwrap()[0].seq;
    assert_eq!(store.spool_mark("file").unwrap(), seq);
    assert_eq!(store.spool_mark("postgres").unwrap(), 0);
    let f = store.spooled(0, 10, u64::MAX).unwrap();
    assert_eq!(
        f[0].outcome
            .as_ref()
            .and_then(|e| e.final_receipt())
            .map(|x| (x.0, x.2.to_string())),
        Some((5, "011".to_string()))
    );
    assert_eq!(store.history(key).unwrap().len(), 1);
    assert_eq!(store.by_router_id(&id).unwrap().unwrap().channel_id, "X");
}
