//! Strata's own ingest figures: what each format received, stored and refused.
//! Plain atomics, so the hot paths pay one relaxed add per figure.

use serde::Serialize;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The ways metrics arrive, one set of counters each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Prometheus,
    Custom,
    Events,
    Batch,
    Statsd,
}

impl Source {
    pub const ALL: [Source; 5] = [
        Source::Prometheus,
        Source::Custom,
        Source::Events,
        Source::Batch,
        Source::Statsd,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Prometheus => "prometheus",
            Source::Custom => "custom",
            Source::Events => "events",
            Source::Batch => "batch",
            Source::Statsd => "statsd",
        }
    }
}

/// Counters of one source.
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// HTTP requests, StatsD packets or TCP chunks received.
    pub requests: AtomicU64,
    /// Requests refused whole (4xx/5xx).
    pub failed_requests: AtomicU64,
    /// Bytes received, before Content-Encoding decoding.
    pub bytes: AtomicU64,
    /// Samples stored.
    pub samples: AtomicU64,
    /// Series the store had not seen before.
    pub new_series: AtomicU64,
    /// Items or lines refused while the rest of their request was kept.
    pub rejected_items: AtomicU64,
}

/// A point-in-time copy of [`SourceCounters`], for JSON.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SourceSnapshot {
    pub requests: u64,
    pub failed_requests: u64,
    pub bytes: u64,
    pub samples: u64,
    pub new_series: u64,
    pub rejected_items: u64,
}

impl SourceCounters {
    pub fn snapshot(&self) -> SourceSnapshot {
        SourceSnapshot {
            requests: self.requests.load(Relaxed),
            failed_requests: self.failed_requests.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            samples: self.samples.load(Relaxed),
            new_series: self.new_series.load(Relaxed),
            rejected_items: self.rejected_items.load(Relaxed),
        }
    }
}

/// Reads one counter of a snapshot.
type SnapshotField = fn(&SourceSnapshot) -> u64;

/// Counters of every source, plus the StatsD flush loop's.
#[derive(Debug, Default)]
pub struct Counters {
    sources: [SourceCounters; 5],
    pub statsd_flushes: AtomicU64,
    pub statsd_flush_errors: AtomicU64,
    pub storage_errors: AtomicU64,
}

impl Counters {
    pub fn source(&self, source: Source) -> &SourceCounters {
        &self.sources[source as usize]
    }

    /// Writes the counters in Prometheus text format.
    pub fn write_metrics(&self, out: &mut String) {
        let families: [(&str, &str, SnapshotField); 6] = [
            (
                "strata_ingest_requests_total",
                "Requests (HTTP), packets (StatsD UDP) or reads (StatsD TCP) received.",
                |s| s.requests,
            ),
            (
                "strata_ingest_failed_requests_total",
                "Requests refused whole.",
                |s| s.failed_requests,
            ),
            (
                "strata_ingest_bytes_total",
                "Bytes received, before decompression.",
                |s| s.bytes,
            ),
            ("strata_ingest_samples_total", "Samples stored.", |s| {
                s.samples
            }),
            ("strata_ingest_new_series_total", "Series created.", |s| {
                s.new_series
            }),
            (
                "strata_ingest_rejected_items_total",
                "Items or lines refused while the rest of their request was stored.",
                |s| s.rejected_items,
            ),
        ];
        let snapshots: Vec<_> = Source::ALL
            .iter()
            .map(|&src| (src, self.source(src).snapshot()))
            .collect();
        for (name, help, get) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (src, snap) in &snapshots {
                let _ = writeln!(out, "{name}{{format=\"{}\"}} {}", src.as_str(), get(snap));
            }
        }
        let singles = [
            (
                "strata_statsd_flushes_total",
                "StatsD aggregate flushes to the store.",
                &self.statsd_flushes,
            ),
            (
                "strata_statsd_flush_errors_total",
                "StatsD flushes the store refused.",
                &self.statsd_flush_errors,
            ),
            (
                "strata_storage_append_errors_total",
                "Appends the store refused.",
                &self.storage_errors,
            ),
        ];
        for (name, help, value) in singles {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Relaxed)
            );
        }
    }
}
