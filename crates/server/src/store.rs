//! What the server needs of a store beyond reading and writing: flushing on demand and
//! its figures for the health and `/metrics` endpoints.

use serde::Serialize;
use strata_core::{MemStorage, Storage, StorageError};
use strata_tsdb::Tsdb;

/// A figure a store reports about itself, e.g. `("series", 1200.0)`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreStat {
    pub name: &'static str,
    pub help: &'static str,
    pub value: f64,
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

    fn stats(&self) -> Vec<StoreStat> {
        let s = Tsdb::stats(self);
        let stat = |name, help, value: u64| StoreStat {
            name,
            help,
            value: value as f64,
        };
        let mut out = vec![
            stat(
                "head_series",
                "Series in the in-memory head.",
                s.head_series,
            ),
            stat(
                "head_samples",
                "Samples in the in-memory head.",
                s.head_samples,
            ),
            stat(
                "head_ooo_samples",
                "Out-of-order samples in the head.",
                s.head_ooo_samples,
            ),
            stat("blocks", "Blocks on disk.", s.blocks),
            stat(
                "block_samples",
                "Samples in blocks on disk.",
                s.block_samples,
            ),
            stat("block_bytes", "Bytes of blocks on disk.", s.block_bytes),
            stat("wal_bytes", "Bytes of the write-ahead log.", s.wal_bytes),
            stat(
                "wal_corruptions_repaired",
                "Torn or corrupt WAL tails cut at start-up.",
                s.wal_corruptions_repaired,
            ),
            stat(
                "wal_replayed_records",
                "WAL records replayed at start-up.",
                s.wal_replayed_records,
            ),
            stat(
                "wal_replay_unknown_series",
                "Replayed samples whose series record was lost with a damaged WAL tail.",
                s.wal_replay_unknown_series,
            ),
            stat(
                "samples_appended",
                "Samples appended since start.",
                s.samples_appended,
            ),
            stat(
                "series_created",
                "Series created since start.",
                s.series_created,
            ),
            stat(
                "head_cuts",
                "Head cuts into blocks since start.",
                s.head_cuts,
            ),
            stat(
                "compactions",
                "Block compactions since start.",
                s.compactions,
            ),
            stat(
                "blocks_dropped_by_retention",
                "Blocks dropped by retention since start.",
                s.blocks_dropped_by_retention,
            ),
            stat(
                "maintenance_errors",
                "Failed background maintenance runs since start.",
                s.maintenance_errors,
            ),
        ];
        out.push(StoreStat {
            name: "compaction_seconds_total",
            help: "Time spent compacting since start.",
            value: s.compaction_seconds_total,
        });
        out.push(StoreStat {
            name: "last_compaction_seconds",
            help: "Duration of the last compaction.",
            value: s.last_compaction_seconds,
        });
        out.extend(s.head_min_t.map(|t| StoreStat {
            name: "head_min_time_ms",
            help: "Oldest sample time in the head.",
            value: t as f64,
        }));
        out.extend(s.head_max_t.map(|t| StoreStat {
            name: "head_max_time_ms",
            help: "Newest sample time in the head.",
            value: t as f64,
        }));
        out
    }
}
