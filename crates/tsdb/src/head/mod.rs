//! The head: the in-memory, mutable part of the store. Series live in shards chosen by
//! the hash of their labels, each shard behind its own lock with its own postings, so
//! concurrent appenders rarely meet. A series id is `local index << 6 | shard`, stable
//! for the series' life in the head and written in the WAL.
//!
//! Memory per series is kept small on purpose: the label set is the core's single
//! buffer, postings hold 4-byte local ids, and the out-of-order buffer is empty (no
//! allocation) for series written in order.

mod series;

pub use series::{InOrderChunks, MemSeries};

use crate::index::{self, LabelIndex};
use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use strata_core::{Labels, Matcher, Point, StorageError, TimeRange};

pub const SHARD_BITS: u32 = 6;
pub const SHARDS: usize = 1 << SHARD_BITS;

/// The shard a label hash belongs to.
pub fn shard_of(hash: u64) -> usize {
    (hash as usize) & (SHARDS - 1)
}

fn split_id(id: u64) -> (usize, u32) {
    ((id as usize) & (SHARDS - 1), (id >> SHARD_BITS) as u32)
}

fn make_id(shard: usize, local: u32) -> u64 {
    (u64::from(local) << SHARD_BITS) | shard as u64
}

/// Keys here are already hashes or dense ids: one multiply spreads them for the table.
#[derive(Default)]
struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type MixMap<K, V> = HashMap<K, V, BuildHasherDefault<MixHasher>>;

#[derive(Default)]
struct Shard {
    by_hash: MixMap<u64, u32>,
    /// Series whose label hash collides with another's (practically never used).
    collisions: HashMap<Labels, u32>,
    /// Boxed: a series is a few hundred bytes, and a table of inline values wastes
    /// its spare capacity at that size.
    series: MixMap<u32, Box<MemSeries>>,
    postings: HashMap<Box<str>, HashMap<Box<str>, Vec<u32>>>,
    next_local: u32,
}

impl Shard {
    fn lookup(&self, hash: u64, labels: &Labels) -> Option<u32> {
        let local = *self.by_hash.get(&hash)?;
        if self.series.get(&local).is_some_and(|s| &s.labels == labels) {
            Some(local)
        } else {
            self.collisions.get(labels).copied()
        }
    }

    fn insert_series(&mut self, local: u32, hash: u64, labels: Labels) {
        match self.by_hash.get(&hash) {
            Some(other) if *other != local => {
                self.collisions.insert(labels.clone(), local);
            }
            _ => {
                self.by_hash.insert(hash, local);
            }
        }
        for l in labels.iter() {
            let list = postings_list(&mut self.postings, l.name, l.value);
            // Local ids only grow, except on replay: keep the list sorted either way.
            match list.last() {
                Some(&last) if last > local => {
                    if let Err(i) = list.binary_search(&local) {
                        list.insert(i, local);
                    }
                }
                _ => list.push(local),
            }
        }
        self.next_local = self.next_local.max(local + 1);
        self.series.insert(local, Box::new(MemSeries::new(labels)));
    }

    fn remove_series(&mut self, local: u32) {
        let Some(s) = self.series.remove(&local) else {
            return;
        };
        let hash = s.labels.hash64();
        if self.by_hash.get(&hash) == Some(&local) {
            self.by_hash.remove(&hash);
        }
        self.collisions.remove(&s.labels);
        for l in s.labels.iter() {
            let Some(values) = self.postings.get_mut(l.name) else {
                continue;
            };
            if let Some(list) = values.get_mut(l.value) {
                if let Ok(i) = list.binary_search(&local) {
                    list.remove(i);
                }
                if list.is_empty() {
                    values.remove(l.value);
                }
            }
            if values.is_empty() {
                self.postings.remove(l.name);
            }
        }
    }
}

impl LabelIndex for Shard {
    fn all_postings(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.series.keys().copied().collect();
        ids.sort_unstable();
        ids
    }
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
        if let Some(values) = self.postings.get(name) {
            values.keys().for_each(|v| f(v));
        }
    }
    fn postings(&self, name: &str, value: &str, out: &mut Vec<u32>) {
        if let Some(list) = self.postings.get(name).and_then(|v| v.get(value)) {
            out.extend_from_slice(list);
        }
    }
}

/// The postings list of `name="value"`, created if needed; allocates the key strings
/// only for a new name or value.
fn postings_list<'a, T: Default>(
    map: &'a mut HashMap<Box<str>, HashMap<Box<str>, T>>,
    name: &str,
    value: &str,
) -> &'a mut T {
    if !map.contains_key(name) {
        map.insert(name.into(), HashMap::new());
    }
    let values = map.get_mut(name).expect("inserted above");
    if !values.contains_key(value) {
        values.insert(value.into(), T::default());
    }
    values.get_mut(value).expect("inserted above")
}

/// A series taken out of the head to be written into a block.
pub struct FrozenSeries {
    pub labels: Labels,
    pub chunk: InOrderChunks,
    pub ooo: Vec<Point>,
}

impl FrozenSeries {
    pub fn points_in(&self, range: TimeRange) -> Vec<Point> {
        series::points_in(&self.chunk, &self.ooo, range)
    }
    pub fn bounds(&self) -> Option<(i64, i64)> {
        series::bounds(&self.chunk, &self.ooo)
    }
}

pub struct Head {
    shards: Box<[RwLock<Shard>]>,
    /// Head series per label name and value, across shards: discovery reads it
    /// without visiting every shard. Changes only when series come and go.
    label_counts: RwLock<LabelCounts>,
    series: AtomicUsize,
    samples: AtomicU64,
    ooo_samples: AtomicU64,
    min_t: AtomicI64Min,
    max_t: AtomicI64Max,
}

/// An atomic minimum that starts at `i64::MAX` (empty).
struct AtomicI64Min(AtomicI64);
impl Default for AtomicI64Min {
    fn default() -> Self {
        Self(AtomicI64::new(i64::MAX))
    }
}
/// An atomic maximum that starts at `i64::MIN` (empty).
struct AtomicI64Max(AtomicI64);
impl Default for AtomicI64Max {
    fn default() -> Self {
        Self(AtomicI64::new(i64::MIN))
    }
}

type LabelCounts = HashMap<Box<str>, HashMap<Box<str>, u32>>;

fn count_labels<'a>(counts: &mut LabelCounts, sets: impl Iterator<Item = &'a Labels>, add: bool) {
    for labels in sets {
        for l in labels.iter() {
            if add {
                *postings_list(counts, l.name, l.value) += 1;
                continue;
            }
            let Some(values) = counts.get_mut(l.name) else {
                continue;
            };
            if let Some(n) = values.get_mut(l.value) {
                *n -= 1;
                if *n == 0 {
                    values.remove(l.value);
                }
            }
            if values.is_empty() {
                counts.remove(l.name);
            }
        }
    }
}

/// One sample routed to a head series.
#[derive(Debug, Clone, Copy)]
pub struct HeadSample {
    pub local: u32,
    pub t: i64,
    pub v: f64,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            label_counts: RwLock::default(),
            series: AtomicUsize::new(0),
            samples: AtomicU64::new(0),
            ooo_samples: AtomicU64::new(0),
            min_t: AtomicI64Min::default(),
            max_t: AtomicI64Max::default(),
        }
    }
}

impl Head {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn num_series(&self) -> usize {
        self.series.load(Ordering::Relaxed)
    }

    pub fn num_samples(&self) -> u64 {
        self.samples.load(Ordering::Relaxed)
    }

    pub fn num_ooo_samples(&self) -> u64 {
        self.ooo_samples.load(Ordering::Relaxed)
    }

    /// Time range of the samples in the head, if it holds any.
    pub fn bounds(&self) -> Option<(i64, i64)> {
        let (min, max) = (
            self.min_t.0.load(Ordering::Relaxed),
            self.max_t.0.load(Ordering::Relaxed),
        );
        (min <= max).then_some((min, max))
    }

    /// Finds or creates the series `wanted` (label hash, labels) of one shard, writing
    /// their ids to `ids`. Creation is refused beyond `max_series`. `on_created` is called
    /// with the new series while the shard is still locked, so their WAL records are
    /// queued before any other writer can reference them.
    pub fn resolve(
        &self,
        shard: usize,
        wanted: &[(u64, &Labels)],
        ids: &mut [u64],
        max_series: usize,
        on_created: impl FnOnce(&[(u64, Labels)]),
    ) -> Result<u64, StorageError> {
        let mut missing = Vec::new();
        {
            let s = self.shards[shard].read();
            for (i, (hash, labels)) in wanted.iter().enumerate() {
                match s.lookup(*hash, labels) {
                    Some(local) => ids[i] = make_id(shard, local),
                    None => missing.push(i),
                }
            }
        }
        if missing.is_empty() {
            return Ok(0);
        }
        let mut s = self.shards[shard].write();
        let mut created = Vec::new();
        let mut refused = None;
        for i in missing {
            let (hash, labels) = wanted[i];
            if let Some(local) = s.lookup(hash, labels) {
                ids[i] = make_id(shard, local);
                continue;
            }
            if self.series.load(Ordering::Relaxed) >= max_series {
                refused = Some(labels.clone());
                break;
            }
            let local = s.next_local;
            s.insert_series(local, hash, labels.clone());
            self.series.fetch_add(1, Ordering::Relaxed);
            ids[i] = make_id(shard, local);
            created.push((ids[i], labels.clone()));
        }
        if !created.is_empty() {
            count_labels(
                &mut self.label_counts.write(),
                created.iter().map(|c| &c.1),
                true,
            );
            on_created(&created);
        }
        match refused {
            Some(labels) => Err(StorageError::Backpressure {
                what: format!("head series limit {max_series} reached, series {labels} refused"),
                retry_after: std::time::Duration::from_secs(30),
            }),
            None => Ok(created.len() as u64),
        }
    }

    /// Adds samples to series of one shard (ids from [`Head::resolve`]).
    pub fn insert(&self, shard: usize, samples: impl Iterator<Item = HeadSample>) {
        let mut s = self.shards[shard].write();
        let (mut n, mut ooo, mut min, mut max) = (0u64, 0u64, i64::MAX, i64::MIN);
        for smp in samples {
            if let Some(series) = s.series.get_mut(&smp.local) {
                ooo += u64::from(series.append(smp.t, smp.v));
                n += 1;
                min = min.min(smp.t);
                max = max.max(smp.t);
            }
        }
        drop(s);
        self.note_samples(n, ooo, min, max);
    }

    fn note_samples(&self, n: u64, ooo: u64, min: i64, max: i64) {
        if n > 0 {
            self.samples.fetch_add(n, Ordering::Relaxed);
            self.ooo_samples.fetch_add(ooo, Ordering::Relaxed);
            self.min_t.0.fetch_min(min, Ordering::Relaxed);
            self.max_t.0.fetch_max(max, Ordering::Relaxed);
        }
    }

    /// Replay: (re)creates a series under the id the WAL gave it.
    pub fn replay_series(&self, id: u64, labels: Labels) {
        let (shard, local) = split_id(id);
        let hash = labels.hash64();
        if shard_of(hash) != shard {
            tracing::warn!(id, %labels, "WAL series id does not match its labels; skipped");
            return;
        }
        let mut s = self.shards[shard].write();
        if s.series.get(&local).is_some_and(|x| x.labels == labels) {
            return;
        }
        let mut counts = self.label_counts.write();
        if let Some(old) = s.series.get(&local) {
            count_labels(&mut counts, std::iter::once(&old.labels), false);
            s.remove_series(local);
            self.series.fetch_sub(1, Ordering::Relaxed);
        }
        count_labels(&mut counts, std::iter::once(&labels), true);
        s.insert_series(local, hash, labels);
        self.series.fetch_add(1, Ordering::Relaxed);
    }

    /// Replay: adds a sample by series id; false if the id is unknown.
    pub fn replay_sample(&self, id: u64, t: i64, v: f64) -> bool {
        let (shard, local) = split_id(id);
        let mut s = self.shards[shard].write();
        let Some(series) = s.series.get_mut(&local) else {
            return false;
        };
        let ooo = series.append(t, v);
        drop(s);
        self.note_samples(1, u64::from(ooo), t, t);
        true
    }

    /// Takes every sample out of the head (the series stay, empty) and drops series that
    /// had no samples since the previous freeze. The caller excludes writers meanwhile.
    pub fn freeze(&self) -> Vec<FrozenSeries> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let mut s = shard.write();
            let mut idle = Vec::new();
            for (&local, series) in s.series.iter_mut() {
                if series.is_empty() {
                    idle.push(local);
                    continue;
                }
                let mut ooo = std::mem::take(&mut series.ooo);
                series::normalize(&mut ooo);
                out.push(FrozenSeries {
                    labels: series.labels.clone(),
                    chunk: std::mem::take(&mut series.chunk),
                    ooo,
                });
            }
            let mut counts = self.label_counts.write();
            for local in &idle {
                if let Some(series) = s.series.get(local) {
                    count_labels(&mut counts, std::iter::once(&series.labels), false);
                }
                s.remove_series(*local);
            }
            self.series.fetch_sub(idle.len(), Ordering::Relaxed);
        }
        self.samples.store(0, Ordering::Relaxed);
        self.ooo_samples.store(0, Ordering::Relaxed);
        self.min_t.0.store(i64::MAX, Ordering::Relaxed);
        self.max_t.0.store(i64::MIN, Ordering::Relaxed);
        out
    }

    /// Calls `f` with every series' id and labels (for checkpoints).
    pub fn for_each_series(&self, mut f: impl FnMut(u64, &Labels)) {
        for (shard, s) in self.shards.iter().enumerate() {
            let s = s.read();
            for (&local, series) in &s.series {
                f(make_id(shard, local), &series.labels);
            }
        }
    }

    /// Calls `f` for each matching series with its points in `range` (non-empty only).
    pub fn select(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
        mut f: impl FnMut(&Labels, Vec<Point>),
    ) {
        for shard in &self.shards {
            let s = shard.read();
            for local in index::select(&*s, matchers) {
                if let Some(series) = s.series.get(&local) {
                    let pts = series.points_in(range);
                    if !pts.is_empty() {
                        f(&series.labels, pts);
                    }
                }
            }
        }
    }

    /// Calls `f` with the labels of each matching series with data in `range`.
    pub fn series(&self, matchers: &[Matcher], range: TimeRange, mut f: impl FnMut(&Labels)) {
        for shard in &self.shards {
            let s = shard.read();
            for local in index::select(&*s, matchers) {
                if let Some(series) = s.series.get(&local).filter(|x| x.has_data_in(range)) {
                    f(&series.labels);
                }
            }
        }
    }

    /// Label names of the head's series if the head's samples overlap `range`.
    /// Like a block, and like Prometheus's head, the head answers discovery as a whole:
    /// its series are those with samples since the previous cut.
    pub fn label_names(&self, range: TimeRange, out: &mut HashSet<String>) {
        if self.overlaps(range) {
            let counts = self.label_counts.read();
            out.extend(
                counts
                    .keys()
                    .filter(|n| !out.contains(&***n))
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>(),
            );
        }
    }

    /// Values of label `name` among the head's series if the head overlaps `range`
    /// (see [`Head::label_names`]).
    pub fn label_values(&self, name: &str, range: TimeRange, out: &mut HashSet<String>) {
        if self.overlaps(range) {
            let counts = self.label_counts.read();
            if let Some(values) = counts.get(name) {
                for v in values.keys() {
                    if !out.contains(&**v) {
                        out.insert(v.to_string());
                    }
                }
            }
        }
    }

    fn overlaps(&self, range: TimeRange) -> bool {
        self.bounds()
            .is_some_and(|(min, max)| range.overlaps(min, max))
    }

    /// Drops every series holding no samples (once its samples are in blocks), so a WAL
    /// checkpoint carries only live series; such a series gets a fresh id when it next
    /// receives a sample. Postings are pruned in one pass per shard, not per series. The
    /// caller excludes writers meanwhile. Returns how many series were dropped.
    pub fn drop_empty_series(&self) -> usize {
        let mut dropped = 0;
        for shard in &self.shards {
            let mut s = shard.write();
            let mut empty: Vec<u32> = s
                .series
                .iter()
                .filter(|(_, x)| x.is_empty())
                .map(|(&local, _)| local)
                .collect();
            if empty.is_empty() {
                continue;
            }
            empty.sort_unstable();
            let mut counts = self.label_counts.write();
            for local in &empty {
                let Some(x) = s.series.remove(local) else {
                    continue;
                };
                let hash = x.labels.hash64();
                if s.by_hash.get(&hash) == Some(local) {
                    s.by_hash.remove(&hash);
                }
                s.collisions.remove(&x.labels);
                count_labels(&mut counts, std::iter::once(&x.labels), false);
            }
            if s.series.is_empty() {
                s.postings.clear();
            } else {
                for values in s.postings.values_mut() {
                    for list in values.values_mut() {
                        list.retain(|l| empty.binary_search(l).is_err());
                    }
                    values.retain(|_, list| !list.is_empty());
                }
                s.postings.retain(|_, values| !values.is_empty());
            }
            self.series.fetch_sub(empty.len(), Ordering::Relaxed);
            dropped += empty.len();
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(job: &str) -> Labels {
        Labels::new([("__name__", "up"), ("job", job)]).unwrap()
    }

    fn add(head: &Head, l: &Labels, t: i64, v: f64) -> u64 {
        let hash = l.hash64();
        let shard = shard_of(hash);
        let mut ids = [0u64];
        head.resolve(shard, &[(hash, l)], &mut ids, usize::MAX, |_| {})
            .unwrap();
        let local = split_id(ids[0]).1;
        head.insert(shard, [HeadSample { local, t, v }].into_iter());
        ids[0]
    }

    #[test]
    fn resolve_is_stable_and_select_filters() {
        let head = Head::new();
        let a = add(&head, &labels("a"), 10, 1.0);
        assert_eq!(add(&head, &labels("a"), 20, 2.0), a);
        add(&head, &labels("b"), 15, 3.0);
        assert_eq!(head.num_series(), 2);
        assert_eq!(head.num_samples(), 3);
        assert_eq!(head.bounds(), Some((10, 20)));
        let mut got = Vec::new();
        head.select(&[Matcher::equal("job", "a")], TimeRange::ALL, |l, p| {
            got.push((l.clone(), p))
        });
        assert_eq!(
            got,
            vec![(
                labels("a"),
                vec![Point { t: 10, v: 1.0 }, Point { t: 20, v: 2.0 }]
            )]
        );
        let mut vals = HashSet::new();
        head.label_values("job", TimeRange::new(16, 30), &mut vals);
        assert_eq!(vals.len(), 2);
        let mut vals = HashSet::new();
        head.label_values("job", TimeRange::new(21, 30), &mut vals);
        assert!(vals.is_empty());
    }

    #[test]
    fn limit_refuses_new_series_only() {
        let head = Head::new();
        let l = labels("a");
        add(&head, &l, 1, 1.0);
        let other = labels("b");
        let h = other.hash64();
        let err = head
            .resolve(shard_of(h), &[(h, &other)], &mut [0], 1, |_| {})
            .unwrap_err();
        assert!(matches!(err, StorageError::Backpressure { .. }));
        let h = l.hash64();
        head.resolve(shard_of(h), &[(h, &l)], &mut [0], 1, |_| {})
            .unwrap();
    }

    #[test]
    fn freeze_takes_samples_and_drops_idle_series() {
        let head = Head::new();
        add(&head, &labels("a"), 1, 1.0);
        let frozen = head.freeze();
        assert_eq!(frozen.len(), 1);
        assert_eq!(head.num_series(), 1);
        assert_eq!(head.num_samples(), 0);
        assert!(head.freeze().is_empty());
        assert_eq!(head.num_series(), 0);
        let mut n = 0;
        head.select(&[], TimeRange::ALL, |_, _| n += 1);
        assert_eq!(n, 0);
    }

    #[test]
    fn replay_uses_the_given_ids() {
        let head = Head::new();
        let l = labels("a");
        let id = make_id(shard_of(l.hash64()), 41);
        head.replay_series(id, l.clone());
        assert!(head.replay_sample(id, 5, 1.0));
        assert!(!head.replay_sample(id + (1 << SHARD_BITS), 5, 1.0));
        assert_eq!(add(&head, &l, 6, 2.0), id);
        let next = add(&head, &labels("zz"), 1, 1.0);
        assert_ne!(next, id);
    }
}
