//! The state every endpoint and listener shares: configuration, the store, the
//! stateful decoders and the counters.

use crate::config::Config;
use crate::counters::{Counters, Source};
use crate::store::Store;
use crate::web::decoders::PrometheusDecoders;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use strata_core::{AppendStats, StorageError, WriteBatch};
use strata_ingest::events::EventMapper;
use strata_ingest::statsd::{Aggregator, StatsdConfig};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub counters: Counters,
    /// Prometheus text decoders, each remembering the series of its source's last push.
    pub prometheus: PrometheusDecoders,
    /// Event ids and cumulative event counters live across requests.
    pub events: Mutex<EventMapper>,
    /// Held from mapping events to appending them (see the ingest endpoints).
    pub event_writes: Mutex<()>,
    /// StatsD aggregates between flushes (also when StatsD is off, so the state is uniform).
    pub statsd: Mutex<Aggregator>,
    started: Instant,
    started_at: SystemTime,
    ready: AtomicBool,
    workers: Arc<Semaphore>,
    /// Ingest requests admitted: reading their body, waiting for a worker, or working.
    admitted: AtomicUsize,
    /// The store's last append error, until an append succeeds again.
    last_storage_error: Mutex<Option<String>>,
    storage_failing: AtomicBool,
}

/// An admitted ingest request; dropping it leaves room for another.
pub struct Admission<'a> {
    admitted: &'a AtomicUsize,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.admitted.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request's turn to decode and append; dropping it frees the worker.
pub struct Turn {
    _permit: OwnedSemaphorePermit,
}

/// Every ingest worker is busy and the queue is full.
#[derive(Debug, thiserror::Error)]
#[error(
    "{admitted} ingest requests are already in progress or queued \
     (METRICS_INGESTION_WORKERS + METRICS_INGESTION_BUFFER_SIZE)"
)]
pub struct Busy {
    pub admitted: usize,
}

impl App {
    pub fn new(config: Config, store: Arc<dyn Store>) -> Arc<App> {
        let statsd = Aggregator::new(StatsdConfig {
            timer_buckets: config.statsd_timer_buckets.clone(),
            ..StatsdConfig::default()
        });
        Arc::new(App {
            // Twice the workers: sources that share a slot evict each other's series.
            prometheus: PrometheusDecoders::new(config.ingestion_workers * 2),
            events: Mutex::new(EventMapper::new(config.events_remembered_ids)),
            event_writes: Mutex::new(()),
            statsd: Mutex::new(statsd),
            workers: Arc::new(Semaphore::new(config.ingestion_workers)),
            config,
            store,
            counters: Counters::default(),
            started: Instant::now(),
            started_at: SystemTime::now(),
            ready: AtomicBool::new(false),
            admitted: AtomicUsize::new(0),
            last_storage_error: Mutex::new(None),
            storage_failing: AtomicBool::new(false),
        })
    }

    /// Admits an ingest request, or refuses it at once when the workers are busy and
    /// the queue is full. Admission comes before reading the body, so the queue bounds
    /// the bodies held in memory.
    pub fn admit(&self) -> Result<Admission<'_>, Busy> {
        let admitted = self.admitted.fetch_add(1, Ordering::Relaxed);
        let admission = Admission {
            admitted: &self.admitted,
        };
        if admitted >= self.config.ingestion_workers + self.config.ingestion_buffer_size {
            return Err(Busy { admitted });
        }
        Ok(admission)
    }

    /// Waits for a worker to decode and append; taken after the body has arrived, so a
    /// slow client never holds one.
    pub async fn worker(&self) -> Turn {
        let permit = Arc::clone(&self.workers)
            .acquire_owned()
            .await
            .expect("the worker semaphore is never closed");
        Turn { _permit: permit }
    }

    /// Appends on a blocking thread (the store waits for fsync) and counts the outcome;
    /// also returns the number of distinct series in the batch.
    pub fn append_blocking(
        &self,
        source: Source,
        batch: &WriteBatch,
    ) -> Result<(AppendStats, usize), StorageError> {
        if batch.is_empty() {
            return Ok((AppendStats::default(), 0));
        }
        match self.store.append_counting_series(batch) {
            Ok((stats, series)) => {
                if self.storage_failing.load(Ordering::Relaxed) {
                    self.storage_failing.store(false, Ordering::Relaxed);
                    *self.last_storage_error.lock() = None;
                }
                let c = self.counters.source(source);
                c.samples.fetch_add(stats.samples, Ordering::Relaxed);
                c.new_series.fetch_add(stats.new_series, Ordering::Relaxed);
                Ok((stats, series))
            }
            Err(e) => {
                self.counters.storage_errors.fetch_add(1, Ordering::Relaxed);
                // Back-pressure and expired samples are the caller's problem, not the store's.
                if !matches!(
                    e,
                    StorageError::Backpressure { .. } | StorageError::OutOfRetention(_)
                ) {
                    *self.last_storage_error.lock() = Some(e.to_string());
                    self.storage_failing.store(true, Ordering::Relaxed);
                }
                Err(e)
            }
        }
    }

    pub fn last_storage_error(&self) -> Option<String> {
        self.last_storage_error.lock().clone()
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }

    /// Whether the server takes traffic: set once listening, cleared when shutting down.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}

/// Milliseconds since the Unix epoch: the timestamp of samples that carry none.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
