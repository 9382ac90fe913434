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

/// Moves every schema-1 record to the current tables, with a carrier-id entry where the old
/// index named that record, and deletes the old tables, inside `txn` (nothing changes unless it
/// commits: a crash part-way leaves a schema-1 file, migrated again at the next open). Returns
/// how many records moved. A record that cannot be decoded is dropped with a warning rather than
/// failing the open; an old index entry that names no record, or another one, is dropped too.
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
            let rec = match decode_record(router_id, value.value()) {
                Ok(rec) => rec,
                Err(e) => {
                    tracing::warn!(error = %e, "migration: an undecodable record is dropped");
                    continue;
                }
            };
            let key = (rec.created, router_id);
            records.insert(key, value.value())?;
            let carrier_id = (rec.channel.as_str(), rec.channel_id.as_str());
            if old_index
                .get(carrier_id)?
                .is_some_and(|named| named.value() == router_id)
            {
                by_channel.insert(carrier_id, key)?;
            }
            moved += 1;
        }
    }
    txn.delete_table(RECORDS_V1)?;
    txn.delete_table(RECORDS_BY_CHANNEL_V1)?;
    txn.delete_table(RECORDS_BY_TIME_V1)?;
    Ok(moved)
}
