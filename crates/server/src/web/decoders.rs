//! A pool of Prometheus text decoders with source affinity.
//!
//! A [`prometheus::Decoder`] decodes a body about twice as fast when it has seen the
//! previous body of the same source (it reuses that body's label sets, which also lets
//! the store recognise the series by pointer). Requests carry no source identity, and a
//! client's connections come and go, so a body is routed by its
//! [`prometheus::source_key`]: to the decoder that last served that key, else to the
//! least recently used free one. A request never waits for a decoder: when every one is
//! busy the body is decoded without a cache. Results are identical either way.

use parking_lot::{Mutex, MutexGuard};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use strata_core::WriteBatch;
use strata_ingest::prometheus::{self, Decoder, Format, ParseError};

/// Series remembered per decoder: a large scrape, while bounding the pool's memory (a
/// decoder holds the series texts of its last body).
const SERIES_PER_DECODER: usize = 16_384;

struct Slot {
    decoder: Mutex<Decoder>,
    /// The source key of the last body decoded here.
    key: AtomicU64,
    /// When it was last taken, on the pool's clock.
    used: AtomicU64,
}

pub struct PrometheusDecoders {
    slots: Box<[Slot]>,
    clock: AtomicU64,
}

impl PrometheusDecoders {
    /// A pool of `slots` decoders (at least one).
    pub fn new(slots: usize) -> Self {
        PrometheusDecoders {
            slots: (0..slots.max(1))
                .map(|_| Slot {
                    decoder: Mutex::new(Decoder::new(SERIES_PER_DECODER)),
                    key: AtomicU64::new(0),
                    used: AtomicU64::new(0),
                })
                .collect(),
            clock: AtomicU64::new(0),
        }
    }

    /// Decodes a body with the decoder of its source when one is free.
    pub fn parse(
        &self,
        body: &[u8],
        format: Format,
        now_ms: i64,
    ) -> Result<WriteBatch, ParseError> {
        match self.take(prometheus::source_key(body)) {
            Some(mut decoder) => decoder.parse(body, format, now_ms),
            None => prometheus::parse(body, format, now_ms),
        }
    }

    /// The free decoder that last served `key`, else the least recently used free one.
    fn take(&self, key: u64) -> Option<MutexGuard<'_, Decoder>> {
        let mine = self.slots.iter().position(|s| s.key.load(Relaxed) == key);
        let taken = mine
            .and_then(|i| Some((i, self.slots[i].decoder.try_lock()?)))
            .or_else(|| {
                let mut order: Vec<usize> = (0..self.slots.len()).collect();
                order.sort_unstable_by_key(|&i| self.slots[i].used.load(Relaxed));
                order
                    .into_iter()
                    .find_map(|i| Some((i, self.slots[i].decoder.try_lock()?)))
            });
        let (i, decoder) = taken?;
        self.slots[i].key.store(key, Relaxed);
        self.slots[i]
            .used
            .store(self.clock.fetch_add(1, Relaxed) + 1, Relaxed);
        Some(decoder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(job: &str) -> String {
        format!("# TYPE up gauge\nup{{job=\"{job}\"}} 1 1000\nup{{job=\"{job}2\"}} 0 1000\n")
    }

    fn cached(pool: &PrometheusDecoders) -> Vec<usize> {
        pool.slots
            .iter()
            .map(|s| s.decoder.lock().cached_series())
            .collect()
    }

    #[test]
    fn each_source_keeps_its_decoder() {
        let pool = PrometheusDecoders::new(2);
        let (a, b) = (body("a"), body("b"));
        let first = pool.parse(a.as_bytes(), Format::Text, 0).unwrap();
        pool.parse(b.as_bytes(), Format::Text, 0).unwrap();
        assert_eq!(cached(&pool), [2, 2]);
        let key = prometheus::source_key(a.as_bytes());
        let home = pool.slots.iter().position(|s| s.key.load(Relaxed) == key);
        let again = pool.parse(a.as_bytes(), Format::Text, 0).unwrap();
        assert_eq!(again, first);
        // Reused label sets: the same buffers as the first time.
        assert_eq!(
            again.samples[0].labels.as_bytes().as_ptr(),
            first.samples[0].labels.as_bytes().as_ptr()
        );
        assert_eq!(
            pool.slots.iter().position(|s| s.key.load(Relaxed) == key),
            home
        );
    }

    #[test]
    fn a_new_source_takes_the_least_recently_used_decoder() {
        let pool = PrometheusDecoders::new(2);
        for job in ["a", "b", "a", "c"] {
            pool.parse(body(job).as_bytes(), Format::Text, 0).unwrap();
        }
        let keys: Vec<u64> = pool.slots.iter().map(|s| s.key.load(Relaxed)).collect();
        assert!(keys.contains(&prometheus::source_key(body("a").as_bytes())));
        assert!(keys.contains(&prometheus::source_key(body("c").as_bytes())));
    }

    #[test]
    fn busy_decoders_are_never_waited_for() {
        let pool = PrometheusDecoders::new(2);
        let a = body("a");
        let want = prometheus::parse(a.as_bytes(), Format::Text, 0).unwrap();
        let first = pool.slots[0].decoder.lock();
        assert_eq!(pool.parse(a.as_bytes(), Format::Text, 0).unwrap(), want);
        let second = pool.slots[1].decoder.lock();
        assert_eq!(pool.parse(a.as_bytes(), Format::Text, 0).unwrap(), want);
        drop((first, second));
        assert_eq!(cached(&pool), [0, 2]);
    }
}
