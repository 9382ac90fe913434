//! Schema 1 of the store file and its migration to the current schema.
//!
//! Schema 1 kept records keyed by router id, with two indexes: (channel, carrier id) → router id
//! and (created, router id) for expiry. The current schema keys records by (created, router id)
//! and drops the time index. The record encoding itself is unchanged.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::super::StoreError;
use super::super::codec::decode_record;
use super::{RECORDS, RECORDS_BY_CHANNEL};

pub(in crate::store) const RECORDS_V1: TableDefinition<&str, &[u8]> =
    TableDefinition::new("records");
pub(in crate::store) const RECORDS_BY_CHANNEL_V1: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("records_by_channel");
pub(in crate::store) const RECORDS_BY_TIME_V1: TableDefinition<(u64, &str), ()> =
    TableDefinition::new("records_by_time");

/// Moves every schema-1 record and carrier-id entry to the current tables and deletes the old
/// tables, inside `txn` (nothing changes unless it commits). Returns how many records moved. A
/// record that cannot be decoded is left behind with a warning rather than failing the open.
pub(super) fn migrate(txn: &WriteTransaction) -> Result<u64, StoreError> {
    let mut moved = 0u64;
    {
        let old = txn.open_table(RECORDS_V1)?;
        let old_index = txn.open_table(RECORDS_BY_CHANNEL_V1)?;
        let mut records = txn.open_table(RECORDS)?;
        let mut by_channel = txn.open_table(RECORDS_BY_CHANNEL)?;
        for entry in old.iter()? {
            let (router_id, value) = entry?;
            let router_id = router_id.value();
            match decode_record(router_id, value.value()) {
                Ok(rec) => {
                    records.insert((rec.created, router_id), value.value())?;
                    moved += 1;
                }
                Err(e) => tracing::warn!(error = %e, "migration: an undecodable record is dropped"),
            }
        }
        for entry in old_index.iter()? {
            let (key, router_id) = entry?;
            let (channel, channel_id) = key.value();
            let router_id = router_id.value();
            let Some(value) = old.get(router_id)? else {
                continue;
            };
            if let Ok(rec) = decode_record(router_id, value.value()) {
                by_channel.insert((channel, channel_id), (rec.created, router_id))?;
            }
        }
    }
    txn.delete_table(RECORDS_V1)?;
    txn.delete_table(RECORDS_BY_CHANNEL_V1)?;
    txn.delete_table(RECORDS_BY_TIME_V1)?;
    Ok(moved)
}
