//! What the server needs of a store beyond reading and writing: flushing on demand and
//! its figures for the health and `/metrics` endpoints.

use serde::Serialize;
use strata_core::{AppendStats, MemStorage, Storage, StorageError, WriteBatch};
use strata_tsdb::Tsdb;

/// A figure a store reports about itself, e.g. `("series", 1200.0)`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreStat {
    pub name: &'static str,
    pub help: &'static str,
    pub value: f64,
    /// Counts since start (exposed as a `_total` counter) rather than a current level.
    pub counter: bool,
}

impl StoreStat {
    pub fn gauge(name: &'static str, help: &'static str, value: f64) -> StoreStat {
        StoreStat {
            name,
            help,
            value,
            counter: false,
        }
    }

    pub fn counter(name: &'static str, help: &'static str, value: f64) -> StoreStat {
        StoreStat {
            counter: true,
            ..StoreStat::gauge(name, help, value)
        }
    }
}

/// A figure as JSON: whole numbers without a fraction (`1200`, not `1200.0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure(pub f64);

impl Serialize for Figure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.fract() == 0.0 && (0.0..9.0e15).contains(&v) {
            s.serialize_u64(v as u64)
        } else {
            s.serialize_f64(v)
        }
    }
}

/// The figures by name, for JSON answers.
pub fn figures(stats: Vec<StoreStat>) -> std::collections::BTreeMap<&'static str, Figure> {
    stats
        .into_iter()
        .map(|s| (s.name, Figure(s.value)))
        .collect()
}

/// A store the server runs on.
pub trait Store: Storage {
    /// Which engine this is, for the health answer.
    fn engine(&self) -> &'static str;
    /// Makes everything written so far durable in its long-term form.
    fn flush(&self) -> Result<(), StorageError>;
    /// The store's figures, for health and `/metrics`.
    fn stats(&self) -> Vec<StoreStat>;

    /// Appends a batch and counts its distinct series (for the ingest answer).
    fn append_counting_series(
        &self,
        batch: &WriteBatch,
    ) -> Result<(AppendStats, usize), StorageError> {
        Ok((self.append(batch)?, batch.series_count()))
    }
}

/// The reference in-memory store: nothing to flush, no figures.
impl Store for MemStorage {
    fn engine(&self) -> &'static str {
        "memory"
    }

    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn stats(&self) -> Vec<StoreStat> {
        Vec::new()
    }
}

/// The embedded engine, the store `strata serve` runs on.
impl Store for Tsdb {
    fn engine(&self) -> &'static str {
        "tsdb"
    }

    fn flush(&self) -> Result<(), StorageError> {
        Tsdb::flush(self)
    }

    fn append_counting_series(
        &self,
        batch: &WriteBatch,
    ) -> Result<(AppendStats, usize), StorageError> {
        Tsdb::append_counting_series(self, batch)
    }

    fn stats(&self) -> Vec<StoreStat> {
        let s = Tsdb::stats(self);
        let n = |v: u64| v as f64;
        let mut out = vec![
            StoreStat::gauge(
                "head_series",
                "Series in the in-memory head.",
                n(s.head_series),
            ),
            StoreStat::gauge(
                "head_samples",
                "Samples in the in-memory head.",
                n(s.head_samples),
            ),
            StoreStat::gauge(
                "head_ooo_samples",
                "Out-of-order samples in the head.",
                n(s.head_ooo_samples),
            ),
            StoreStat::gauge("blocks", "Blocks on disk.", n(s.blocks)),
            StoreStat::gauge(
                "block_samples",
                "Samples in blocks on disk.",
                n(s.block_samples),
            ),
            StoreStat::gauge("block_bytes", "Bytes of blocks on disk.", n(s.block_bytes)),
            StoreStat::gauge("wal_bytes", "Bytes of the write-ahead log.", n(s.wal_bytes)),
            StoreStat::gauge(
                "last_compaction_seconds",
                "Duration of the last compaction.",
                s.last_compaction_seconds,
            ),
            StoreStat::counter(
                "wal_corruptions_repaired",
                "Torn or corrupt WAL tails cut at start-up.",
                n(s.wal_corruptions_repaired),
            ),
            StoreStat::counter(
                "wal_replayed_records",
                "WAL records replayed at start-up.",
                n(s.wal_replayed_records),
            ),
            StoreStat::counter(
                "wal_replay_unknown_series",
                "Replayed samples whose series record was lost with a damaged WAL tail.",
                n(s.wal_replay_unknown_series),
            ),
            StoreStat::counter(
                "samples_appended",
                "Samples appended since start.",
                n(s.samples_appended),
            ),
            StoreStat::counter(
                "series_created",
                "Series created since start.",
                n(s.series_created),
            ),
            StoreStat::counter(
                "head_cuts",
                "Head cuts into blocks since start.",
                n(s.head_cuts),
            ),
            StoreStat::counter(
                "compactions",
                "Block compactions since start.",
                n(s.compactions),
            ),
            StoreStat::counter(
                "compaction_seconds",
                "Time spent compacting since start.",
                s.compaction_seconds_total,
            ),
            StoreStat::counter(
                "blocks_dropped_by_retention",
                "Blocks dropped by retention since start.",
                n(s.blocks_dropped_by_retention),
            ),
            StoreStat::gauge(
                "blocks_quarantined",
                "Damaged blocks moved to quarantine/ at start-up.",
                n(s.blocks_quarantined),
            ),
            StoreStat::counter(
                "maintenance_errors",
                "Failed background maintenance runs since start.",
                n(s.maintenance_errors),
            ),
        ];
        out.extend(s.head_min_t.map(|t| {
            StoreStat::gauge(
                "head_min_time_ms",
                "Oldest sample time in the head.",
                t as f64,
            )
        }));
        out.extend(s.head_max_t.map(|t| {
            StoreStat::gauge(
                "head_max_time_ms",
                "Newest sample time in the head.",
                t as f64,
            )
        }));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_figures_render_as_integers() {
        let stats = vec![
            StoreStat::gauge("zero", "", 0.0),
            StoreStat::counter("count", "", 1200.0),
            StoreStat::gauge("seconds", "", 0.25),
            StoreStat::gauge("negative", "", -3.0),
        ];
        let json = serde_json::to_string(&figures(stats)).unwrap();
        assert_eq!(
            json,
            r#"{"count":1200,"negative":-3.0,"seconds":0.25,"zero":0}"#
        );
    }
}
