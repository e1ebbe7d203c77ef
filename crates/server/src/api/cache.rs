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

pub struct ResultCache<V> {
    ttl: Duration,
    horizon_ms: i64,
    max_entries: usize,
    entries: Mutex<HashMap<String, (Instant, Arc<V>)>>,
}

impl<V> ResultCache<V> {
    pub fn new(ttl: Duration, horizon: Duration, max_entries: usize) -> Self {
        ResultCache {
            ttl,
            horizon_ms: i64::try_from(horizon.as_millis()).unwrap_or(i64::MAX),
            max_entries,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a query whose data ends at `end_ms` may be cached at `now_ms`.
    pub fn cacheable(&self, end_ms: i64, now_ms: i64) -> bool {
        !self.ttl.is_zero()
            && self.max_entries > 0
            && end_ms < now_ms.saturating_sub(self.horizon_ms)
    }

    pub fn get(&self, key: &str) -> Option<Arc<V>> {
        let mut entries = self.entries.lock();
        match entries.get(key) {
            Some((at, v)) if at.elapsed() < self.ttl => Some(v.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn insert(&self, key: String, value: Arc<V>) {
        let mut entries = self.entries.lock();
        if entries.len() >= self.max_entries {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        if entries.len() >= self.max_entries {
            // Still full of live entries: drop the oldest one.
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_closed_ranges_are_cacheable() {
        let c: ResultCache<u8> =
            ResultCache::new(Duration::from_secs(60), Duration::from_secs(300), 10);
        let now = 1_000_000_000;
        assert!(c.cacheable(now - 300_001, now));
        assert!(!c.cacheable(now - 300_000, now));
        assert!(!c.cacheable(now, now));
        let off: ResultCache<u8> = ResultCache::new(Duration::ZERO, Duration::from_secs(300), 10);
        assert!(!off.cacheable(0, now));
    }

    #[test]
    fn entries_expire_and_stay_bounded() {
        let c = ResultCache::new(Duration::from_secs(3600), Duration::ZERO, 2);
        c.insert("a".into(), Arc::new(1));
        c.insert("b".into(), Arc::new(2));
        c.insert("c".into(), Arc::new(3));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("a"), None);
        assert_eq!(c.get("c").as_deref(), Some(&3));
        let expired = ResultCache::new(Duration::from_nanos(1), Duration::ZERO, 2);
        expired.insert("a".into(), Arc::new(1));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(expired.get("a"), None);
    }
}
