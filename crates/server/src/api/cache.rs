//! The result cache: answers of queries whose whole range lies in the past, kept for
//! `METRICS_CACHE_TTL`.
//!
//! A range is "in the past" when it ends before `now - horizon`, where the horizon is the
//! larger of the lookback delta and the hot tier's TTL: newer data may still be arriving
//! (scrapes, StatsD flushes, late pushes), so a query touching it is never cached.
//! Backfill older than the horizon is visible once the entry expires, after at most the TTL.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The size of a cached result, in points (samples of its series), which bounds the
/// cache's memory: an entry costs roughly 16 bytes a point.
pub trait Weigh {
    fn weight(&self) -> usize;
}

struct Entry<V> {
    at: Instant,
    weight: usize,
    value: Arc<V>,
}

/// Bounded by entries and by total weight; the oldest entries go first.
pub struct ResultCache<V> {
    ttl: Duration,
    horizon_ms: i64,
    max_entries: usize,
    max_weight: usize,
    inner: Mutex<Entries<V>>,
}

struct Entries<V> {
    map: HashMap<String, Entry<V>>,
    weight: usize,
}

impl<V: Weigh> ResultCache<V> {
    pub fn new(ttl: Duration, horizon: Duration, max_entries: usize, max_weight: usize) -> Self {
        ResultCache {
            ttl,
            horizon_ms: i64::try_from(horizon.as_millis()).unwrap_or(i64::MAX),
            max_entries,
            max_weight,
            inner: Mutex::new(Entries {
                map: HashMap::new(),
                weight: 0,
            }),
        }
    }

    /// Whether a query whose data ends at `end_ms` may be cached at `now_ms`.
    pub fn cacheable(&self, end_ms: i64, now_ms: i64) -> bool {
        !self.ttl.is_zero()
            && self.max_entries > 0
            && end_ms < now_ms.saturating_sub(self.horizon_ms)
    }

    pub fn get(&self, key: &str) -> Option<Arc<V>> {
        let mut inner = self.inner.lock();
        match inner.map.get(key) {
            Some(e) if e.at.elapsed() < self.ttl => Some(e.value.clone()),
            Some(_) => {
                inner.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `value` unless it alone outweighs the whole cache; makes room by dropping
    /// expired entries, then the oldest.
    pub fn insert(&self, key: String, value: Arc<V>) {
        let weight = value.weight();
        if weight > self.max_weight {
            return;
        }
        let mut inner = self.inner.lock();
        inner.remove(&key);
        let full =
            |i: &Entries<V>| i.map.len() >= self.max_entries || i.weight + weight > self.max_weight;
        if full(&inner) {
            let expired: Vec<String> = inner
                .map
                .iter()
                .filter(|(_, e)| e.at.elapsed() >= self.ttl)
                .map(|(k, _)| k.clone())
                .collect();
            expired.iter().for_each(|k| inner.remove(k));
        }
        while full(&inner) {
            let Some(oldest) = inner
                .map
                .iter()
                .min_by_key(|(_, e)| e.at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            inner.remove(&oldest);
        }
        inner.weight += weight;
        inner.map.insert(
            key,
            Entry {
                at: Instant::now(),
                weight,
                value,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }
}

impl<V> Entries<V> {
    fn remove(&mut self, key: &str) {
        if let Some(e) = self.map.remove(key) {
            self.weight -= e.weight;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weigh for usize {
        fn weight(&self) -> usize {
            *self
        }
    }

    #[test]
    fn only_closed_ranges_are_cacheable() {
        let c: ResultCache<usize> =
            ResultCache::new(Duration::from_secs(60), Duration::from_secs(300), 10, 100);
        let now = 1_000_000_000;
        assert!(c.cacheable(now - 300_001, now));
        assert!(!c.cacheable(now - 300_000, now));
        assert!(!c.cacheable(now, now));
        let off: ResultCache<usize> =
            ResultCache::new(Duration::ZERO, Duration::from_secs(300), 10, 100);
        assert!(!off.cacheable(0, now));
    }

    #[test]
    fn entries_expire_and_stay_bounded() {
        let c = ResultCache::new(Duration::from_secs(3600), Duration::ZERO, 2, 100);
        c.insert("a".into(), Arc::new(1usize));
        c.insert("b".into(), Arc::new(2));
        c.insert("c".into(), Arc::new(3));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("a"), None);
        assert_eq!(c.get("c").as_deref(), Some(&3));
        let expired = ResultCache::new(Duration::from_nanos(1), Duration::ZERO, 2, 100);
        expired.insert("a".into(), Arc::new(1usize));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(expired.get("a"), None);
    }

    #[test]
    fn total_weight_is_bounded() {
        let c = ResultCache::new(Duration::from_secs(3600), Duration::ZERO, 10, 10);
        c.insert("too big".into(), Arc::new(11usize));
        assert_eq!(c.len(), 0);
        c.insert("a".into(), Arc::new(6usize));
        c.insert("b".into(), Arc::new(3));
        c.insert("a".into(), Arc::new(6));
        assert_eq!(c.len(), 2, "replacing a key frees its old weight");
        c.insert("c".into(), Arc::new(4));
        assert_eq!(c.get("b"), None, "the oldest made room");
        assert_eq!(c.get("a").as_deref(), Some(&6));
        assert_eq!(c.get("c").as_deref(), Some(&4));
    }
}
