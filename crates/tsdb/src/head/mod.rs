//! The head: the in-memory, mutable part of the store. Series live in shards chosen by
//! the hash of their labels, each shard behind its own lock, so concurrent appenders
//! rarely meet. A series id is `local index << 6 | shard`, stable for the series' life
//! in the head and written in the WAL. One label index serves the whole head
//! ([`index`]); it is locked only when series come and go, and by readers.
//!
//! Memory per series is kept small on purpose, since the head holds every active
//! series: the label set is the core's single buffer, series sit inline in fixed-size
//! pages of slots (no allocation of their own), label names and values are stored once
//! for the head, postings hold 4-byte refs, and the out-of-order buffer is empty (no
//! allocation) for series written in order.

mod copy;
mod index;
mod ranks;
mod series;
mod table;

pub use copy::{HeadCopies, HeadCopy};
pub use series::{FrozenSeries, InOrderChunks, MemSeries};

pub use self::index::SortedValues;

use self::index::{HeadIndex, UnlockedValues, NO_REF};
use self::ranks::Ranks;
use self::table::SlotTable;
use parking_lot::{RwLock, RwLockWriteGuard};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use strata_core::{Labels, Matcher, StorageError, TimeRange};

pub const SHARD_BITS: u32 = 6;
pub const SHARDS: usize = 1 << SHARD_BITS;

/// The shard a label hash belongs to.
pub fn shard_of(hash: u64) -> usize {
    (hash as usize) & (SHARDS - 1)
}

/// The key of a label hash in its shard's table: the shard's bits say nothing there.
fn hash_key(hash: u64) -> u32 {
    (hash >> SHARD_BITS) as u32
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

/// Asks the CPU to start loading every cache line of `*value`: a hint, no effect
/// on results.
#[inline(always)]
fn prefetch_bytes<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = (value as *const T).cast::<i8>();
        for offset in (0..std::mem::size_of::<T>()).step_by(64) {
            // SAFETY: SSE is part of every x86-64 CPU, and a prefetch never faults
            // nor reads into the program: any address is allowed.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Asks the CPU to start loading the first two cache lines of `bytes`: a hint, no
/// effect on results.
#[inline(always)]
fn prefetch_lines(bytes: &[u8]) {
    for line in bytes.chunks(64).take(2) {
        prefetch_bytes(&line[0]);
    }
}

/// Slots per page. A page is allocated whole and never moves, so growing a shard
/// neither copies its series nor leaves spare capacity behind, as a doubling vector
/// would; 256 slots waste at most one partly filled page per shard. A page whose
/// series all left is freed.
const PAGE_SLOTS: usize = 256;

/// The local id of a free slot.
const FREE: u32 = u32::MAX;

/// One series in its shard, with what the shard and the index know it by.
struct Slot {
    local: u32,
    head_ref: u32,
    series: MemSeries,
}

impl Slot {
    fn free() -> Slot {
        Slot {
            local: FREE,
            head_ref: NO_REF,
            series: MemSeries::new(Labels::empty()),
        }
    }
}

#[derive(Default)]
struct Shard {
    /// Label hash (its bits above the shard's, truncated to 32: half the table of a
    /// 64-bit key; a rare clash goes to `collisions`) → slot.
    by_hash: SlotTable,
    /// Series whose label hash collides with another's (practically never used).
    collisions: HashMap<Labels, u32>,
    /// Local id → slot. Local ids are never reused (the WAL names series by them),
    /// slots are.
    slot_of: MixMap<u32, u32>,
    pages: Vec<Vec<Slot>>,
    free: Vec<u32>,
    next_local: u32,
}

impl Shard {
    fn slot(&self, slot: u32) -> &Slot {
        let slot = slot as usize;
        &self.pages[slot / PAGE_SLOTS][slot % PAGE_SLOTS]
    }

    fn slot_mut(&mut self, slot: u32) -> &mut Slot {
        let slot = slot as usize;
        &mut self.pages[slot / PAGE_SLOTS][slot % PAGE_SLOTS]
    }

    fn get(&self, local: u32) -> Option<&Slot> {
        self.slot_of.get(&local).map(|&slot| self.slot(slot))
    }

    fn get_mut(&mut self, local: u32) -> Option<&mut MemSeries> {
        let slot = *self.slot_of.get(&local)?;
        Some(&mut self.slot_mut(slot).series)
    }

    /// Starts loading the slot of the series of label hash `hash` into the cache,
    /// if the table knows the hash (its entry should be in cache already).
    #[inline(always)]
    fn prefetch_found(&self, hash: u64) {
        if let Some(at) = self.by_hash.get(hash_key(hash)) {
            self.prefetch_slot(at);
        }
    }

    /// Starts loading slot `slot` into the cache, if it exists.
    #[inline(always)]
    fn prefetch_slot(&self, slot: u32) {
        let (page, at) = (slot as usize / PAGE_SLOTS, slot as usize % PAGE_SLOTS);
        if let Some(slot) = self.pages.get(page).and_then(|p| p.get(at)) {
            prefetch_bytes(slot);
        }
    }

    /// Series `local`, looked for first in `slot` (where [`Head::resolve_refs`] found
    /// it, which skips the id table), then by id.
    fn get_mut_at(&mut self, slot: u32, local: u32) -> Option<&mut MemSeries> {
        let (page, at) = (slot as usize / PAGE_SLOTS, slot as usize % PAGE_SLOTS);
        let found = self.pages.get(page).and_then(|p| p.get(at));
        if found.is_some_and(|s| s.local == local) {
            return Some(&mut self.slot_mut(slot).series);
        }
        self.get_mut(local)
    }

    fn live(&self) -> impl Iterator<Item = &Slot> {
        self.pages
            .iter()
            .flatten()
            .filter(|slot| slot.local != FREE)
    }

    fn live_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        self.pages
            .iter_mut()
            .flatten()
            .filter(|slot| slot.local != FREE)
    }

    /// The slot and local id of the series `labels` (of label hash `hash`).
    fn lookup(&self, hash: u64, labels: &Labels) -> Option<(u32, u32)> {
        if let Some(at) = self.by_hash.get(hash_key(hash)) {
            let slot = self.slot(at);
            if slot.series.labels == *labels {
                return Some((at, slot.local));
            }
        }
        if self.collisions.is_empty() {
            return None;
        }
        let at = *self.collisions.get(labels)?;
        Some((at, self.slot(at).local))
    }

    /// Adds a series, returning its slot.
    fn insert_series(&mut self, local: u32, hash: u64, labels: Labels, head_ref: u32) -> u32 {
        let slot = self.take_free_slot();
        if !self.by_hash.insert(hash_key(hash), slot) {
            self.collisions.insert(labels.clone(), slot);
        }
        self.slot_of.insert(local, slot);
        self.next_local = self.next_local.max(local + 1);
        *self.slot_mut(slot) = Slot {
            local,
            head_ref,
            series: MemSeries::new(labels),
        };
        slot
    }

    fn take_free_slot(&mut self) -> u32 {
        if let Some(slot) = self.free.pop() {
            return slot;
        }
        // A page released when its series all left, or a new one.
        let page = match self.pages.iter().position(Vec::is_empty) {
            Some(page) => page,
            None => {
                self.pages.push(Vec::new());
                self.pages.len() - 1
            }
        };
        self.pages[page] = (0..PAGE_SLOTS).map(|_| Slot::free()).collect();
        let first = u32::try_from(page * PAGE_SLOTS).expect("a shard holds fewer than 2^32 slots");
        // Lowest slot on top, so a page fills from its start.
        self.free.extend((first..first + PAGE_SLOTS as u32).rev());
        self.free.pop().expect("a page was just added")
    }

    /// Frees the pages whose slots are all free, keeping the others' free slots.
    fn release_free_pages(&mut self) {
        for page in &mut self.pages {
            if page.iter().all(|slot| slot.local == FREE) {
                *page = Vec::new();
            }
        }
        let pages = &self.pages;
        self.free
            .retain(|&slot| !pages[slot as usize / PAGE_SLOTS].is_empty());
        // Lowest slots on top, so series gather in the first pages.
        self.free.sort_unstable_by(|a, b| b.cmp(a));
    }

    /// Removes a series, returning its labels and head ref.
    fn remove_series(&mut self, local: u32) -> Option<(Labels, u32)> {
        let slot = self.slot_of.remove(&local)?;
        let removed = std::mem::replace(self.slot_mut(slot), Slot::free());
        let labels = removed.series.labels;
        if !self.by_hash.remove(hash_key(labels.hash64()), slot) {
            self.collisions.remove(&labels);
        }
        self.free.push(slot);
        Some((labels, removed.head_ref))
    }
}

pub struct Head {
    shards: Box<[RwLock<Shard>]>,
    /// Taken after a shard's lock, never before, by writers that create or drop series.
    index: RwLock<HeadIndex>,
    /// The series' places in label order, for reads.
    ranks: Ranks,
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

/// A series found or created by [`Head::resolve_refs`]: its id, and the slot it sat
/// in then, which saves the insert a look-up while series cannot leave the head.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeriesRef {
    pub id: u64,
    slot: u32,
}

impl SeriesRef {
    /// A sample of this series.
    pub fn sample(self, t: i64, v: f64) -> HeadSample {
        HeadSample {
            slot: self.slot,
            local: split_id(self.id).1,
            t,
            v,
        }
    }
}

/// One sample routed to a head series.
#[derive(Debug, Clone, Copy)]
pub struct HeadSample {
    /// Where the series was found, a hint checked against `local`.
    slot: u32,
    local: u32,
    t: i64,
    v: f64,
}

impl HeadSample {
    /// A sample of the series `id` (of the shard it is inserted into).
    pub fn of_id(id: u64, t: i64, v: f64) -> HeadSample {
        HeadSample {
            slot: FREE,
            local: split_id(id).1,
            t,
            v,
        }
    }
}

impl Default for Head {
    fn default() -> Self {
        Head {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            index: RwLock::default(),
            ranks: Ranks::default(),
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
        let mut refs = vec![SeriesRef::default(); wanted.len()];
        let created = self.resolve_refs(shard, wanted, &mut refs, max_series, on_created)?;
        for (id, r) in ids.iter_mut().zip(&refs) {
            *id = r.id;
        }
        Ok(created)
    }

    /// [`Head::resolve`], writing each series' [`SeriesRef`].
    pub fn resolve_refs(
        &self,
        shard: usize,
        wanted: &[(u64, &Labels)],
        refs: &mut [SeriesRef],
        max_series: usize,
        on_created: impl FnOnce(&[(u64, Labels)]),
    ) -> Result<u64, StorageError> {
        let found = |(slot, local)| SeriesRef {
            id: make_id(shard, local),
            slot,
        };
        // A look-up misses the cache twice (table entry, then slot): the entries of
        // the series two steps ahead and the slots of those one step ahead are
        // fetched meanwhile, so that the misses overlap.
        const AHEAD: usize = 4;
        let mut missing = Vec::new();
        {
            let s = self.shards[shard].read();
            for (i, (hash, labels)) in wanted.iter().enumerate() {
                if let Some((later, _)) = wanted.get(i + 2 * AHEAD) {
                    s.by_hash.prefetch(hash_key(*later));
                }
                if let Some((next, _)) = wanted.get(i + AHEAD) {
                    s.prefetch_found(*next);
                }
                match s.lookup(*hash, labels) {
                    Some(at) => refs[i] = found(at),
                    None => missing.push(i),
                }
            }
        }
        if missing.is_empty() {
            return Ok(0);
        }
        let mut s = self.shards[shard].write();
        let mut index: Option<RwLockWriteGuard<'_, HeadIndex>> = None;
        let mut created = Vec::new();
        let mut refused = None;
        for i in missing {
            let (hash, labels) = wanted[i];
            if let Some(at) = s.lookup(hash, labels) {
                refs[i] = found(at);
                continue;
            }
            if self.series.load(Ordering::Relaxed) >= max_series {
                refused = Some(labels.clone());
                break;
            }
            let local = s.next_local;
            let id = make_id(shard, local);
            let head_ref = index
                .get_or_insert_with(|| self.index.write())
                .add(id, labels);
            let slot = s.insert_series(local, hash, labels.clone(), head_ref);
            self.series.fetch_add(1, Ordering::Relaxed);
            refs[i] = SeriesRef { id, slot };
            created.push((id, labels.clone()));
        }
        drop(index);
        if !created.is_empty() {
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

    /// Adds samples to series of one shard (from [`Head::resolve_refs`]).
    ///
    /// A batch's series are scattered over memory, and appending to one reads and
    /// writes its whole slot: the slots of the samples a few places ahead are
    /// fetched meanwhile, so that their cache misses overlap.
    pub fn insert(&self, shard: usize, samples: &[HeadSample]) {
        const AHEAD: usize = 4;
        let mut s = self.shards[shard].write();
        let (mut n, mut ooo, mut min, mut max) = (0u64, 0u64, i64::MAX, i64::MIN);
        for (i, smp) in samples.iter().enumerate() {
            if let Some(next) = samples.get(i + AHEAD) {
                s.prefetch_slot(next.slot);
            }
            if let Some(series) = s.get_mut_at(smp.slot, smp.local) {
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
        if s.get(local).is_some_and(|x| x.series.labels == labels) {
            return;
        }
        let mut index = self.index.write();
        if let Some((old, head_ref)) = s.remove_series(local) {
            index.remove(head_ref, &old);
            self.series.fetch_sub(1, Ordering::Relaxed);
        }
        let head_ref = index.add(id, &labels);
        s.insert_series(local, hash, labels, head_ref);
        self.series.fetch_add(1, Ordering::Relaxed);
    }

    /// Replay: adds a sample by series id; false if the id is unknown.
    pub fn replay_sample(&self, id: u64, t: i64, v: f64) -> bool {
        let (shard, local) = split_id(id);
        let mut s = self.shards[shard].write();
        let Some(series) = s.get_mut(local) else {
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
        let (mut shards, mut index) = self.lock_all();
        self.drop_empty(&mut shards, &mut index);
        drop(index);
        let mut out = Vec::with_capacity(self.num_series());
        for s in &mut shards {
            out.extend(
                s.live_mut()
                    .map(|slot| FrozenSeries::take(&mut slot.series)),
            );
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
            for slot in s.live() {
                f(make_id(shard, slot.local), &slot.series.labels);
            }
        }
    }

    /// The ids of the series matching `matchers`, ordered by shard. Regexes scan a
    /// snapshot of the label values outside the index lock; the lock is held only to
    /// read postings.
    pub fn selected_ids(&self, matchers: &[Matcher]) -> Vec<u64> {
        let resolved = crate::index::resolve(&UnlockedValues(&self.index), matchers);
        let mut ids: Vec<u64> = {
            let index = self.index.read();
            crate::index::select_resolved(&*index, &resolved)
                .into_iter()
                .filter_map(|r| index.id(r))
                .collect()
        };
        ids.sort_unstable_by_key(|&id| split_id(id));
        ids
    }

    /// Calls `f` for each series of `ids` (ordered by shard) still in the head, with
    /// its place in label order if it has one, visiting each shard once. The slots are
    /// found first, then asked into the cache a few series ahead, and their open chunk
    /// and labels a few series after: each is a separate allocation and a cache miss,
    /// which without asking ahead took most of a read's copying.
    fn for_each_of(&self, ids: &[u64], mut f: impl FnMut(&MemSeries, Option<u32>)) {
        const AHEAD: usize = 4;
        for group in ids.chunk_by(|a, b| split_id(*a).0 == split_id(*b).0) {
            let s = self.shards[split_id(group[0]).0].read();
            // Read under the shard lock: no compaction renumbers refs meanwhile.
            let ranks = self.ranks.table();
            // A series dropped since the index was read is simply not found.
            let slots: Vec<&Slot> = group
                .iter()
                .filter_map(|&id| s.get(split_id(id).1))
                .collect();
            for (i, slot) in slots.iter().enumerate() {
                if let Some(far) = slots.get(i + 2 * AHEAD) {
                    prefetch_bytes(*far);
                }
                if let Some(near) = slots.get(i + AHEAD) {
                    prefetch_lines(near.series.chunk.open_bytes());
                    prefetch_lines(near.series.labels.as_bytes());
                }
                f(&slot.series, ranks.rank(slot.head_ref));
            }
        }
    }

    /// Copies each series of `ids` (see [`Head::selected_ids`]) that may have points
    /// in `range`, to be decoded without the head's locks (see [`HeadCopy`]), apart by
    /// whether it has a place in label order. Places order series as their labels do;
    /// series created since [`Head::rank_series`] last ran have none.
    pub fn copy_ids(&self, ids: &[u64], range: TimeRange) -> HeadCopies {
        let mut copies = HeadCopies::default();
        self.for_each_of(ids, |series, rank| copies.push(series, range, rank));
        copies
    }

    /// Whether [`Head::rank_series`] would build now.
    pub fn ranking_due(&self) -> bool {
        self.ranks.build_due()
    }

    /// Places every series in label order for [`Head::copy_ids`], when a read has
    /// found series without a place and no build has run too recently (see
    /// [`ranks`]); returns whether it did. It holds each shard's read lock only to
    /// clone its series' labels, and sorts them by comparing them: slower than a
    /// read's sort of byte keys, but the keys of every head series would take a
    /// hundred bytes each.
    pub fn rank_series(&self) -> bool {
        let Some(_claim) = self.ranks.claim_build() else {
            return false;
        };
        let (epoch, refs) = {
            let index = self.index.read();
            (index.compactions(), index.num_refs())
        };
        let mut series = Vec::new();
        for shard in self.shards.iter() {
            let s = shard.read();
            series.extend(
                s.live()
                    .filter(|slot| (slot.head_ref as usize) < refs)
                    .map(|slot| (slot.head_ref, slot.series.labels.clone())),
            );
        }
        series.sort_unstable_by(|a, b| a.1.cmp(&b.1));
        let placed: Vec<u32> = series.iter().map(|&(r, _)| r).collect();
        let index = self.index.read();
        self.ranks
            .install(epoch, index.compactions(), refs, &placed);
        true
    }

    /// Calls `f` with the labels of each matching series with data in `range`.
    pub fn series(&self, matchers: &[Matcher], range: TimeRange, mut f: impl FnMut(&Labels)) {
        self.for_each_of(&self.selected_ids(matchers), |series, _| {
            if series.has_data_in(range) {
                f(&series.labels);
            }
        });
    }

    /// Label names of the head's series, sorted, if the head's samples overlap
    /// `range`. Like a block, and like Prometheus's head, the head answers discovery as
    /// a whole: its series are those with samples since the previous cut.
    pub fn label_names(&self, range: TimeRange) -> Vec<String> {
        if self.overlaps(range) {
            self.index.read().names()
        } else {
            Vec::new()
        }
    }

    /// Values of label `name` among the head's series, sorted, if the head overlaps
    /// `range` (see [`Head::label_names`]). The list is shared, not copied.
    pub fn label_values(&self, name: &str, range: TimeRange) -> Option<SortedValues> {
        if self.overlaps(range) {
            index::sorted_values(&self.index, name)
        } else {
            None
        }
    }

    fn overlaps(&self, range: TimeRange) -> bool {
        self.bounds()
            .is_some_and(|(min, max)| range.overlaps(min, max))
    }

    /// Drops every series holding no samples (once its samples are in blocks), so a WAL
    /// checkpoint carries only live series; such a series gets a fresh id when it next
    /// receives a sample. The index is pruned in one pass, not per series. The caller
    /// excludes writers meanwhile. Returns how many series were dropped.
    pub fn drop_empty_series(&self) -> usize {
        let (mut shards, mut index) = self.lock_all();
        self.drop_empty(&mut shards, &mut index)
    }

    /// Every shard, then the index: the lock order of `resolve`.
    fn lock_all(
        &self,
    ) -> (
        Vec<RwLockWriteGuard<'_, Shard>>,
        RwLockWriteGuard<'_, HeadIndex>,
    ) {
        let shards = self.shards.iter().map(|s| s.write()).collect();
        (shards, self.index.write())
    }

    fn drop_empty(
        &self,
        shards: &mut [RwLockWriteGuard<'_, Shard>],
        index: &mut HeadIndex,
    ) -> usize {
        let mut dropped = 0;
        for s in shards.iter_mut() {
            let empty: Vec<u32> = s
                .live()
                .filter(|slot| slot.series.is_empty())
                .map(|slot| slot.local)
                .collect();
            for local in &empty {
                if let Some((_, head_ref)) = s.remove_series(*local) {
                    index.release(head_ref);
                }
            }
            if !empty.is_empty() {
                s.release_free_pages();
            }
            dropped += empty.len();
        }
        if let Some(renumbered) = index.compact() {
            for slot in shards.iter_mut().flat_map(|s| s.live_mut()) {
                slot.head_ref = renumbered[slot.head_ref as usize];
            }
            self.ranks.renumber(&renumbered, NO_REF);
        }
        self.series.fetch_sub(dropped, Ordering::Relaxed);
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::Point;

    impl Head {
        fn select(
            &self,
            matchers: &[Matcher],
            range: TimeRange,
            mut f: impl FnMut(&Labels, Vec<Point>),
        ) {
            let copies = self.copy_ids(&self.selected_ids(matchers), range);
            for copy in [&copies.ranked, &copies.unranked] {
                for i in 0..copy.len() {
                    let mut points = Vec::new();
                    copy.points_into(i, range, &mut points);
                    if !points.is_empty() {
                        f(copy.labels(i), points);
                    }
                }
            }
        }
    }

    fn labels(job: &str) -> Labels {
        Labels::new([("__name__", "up"), ("job", job)]).unwrap()
    }

    fn add(head: &Head, l: &Labels, t: i64, v: f64) -> u64 {
        let hash = l.hash64();
        let shard = shard_of(hash);
        let mut ids = [0u64];
        head.resolve(shard, &[(hash, l)], &mut ids, usize::MAX, |_| {})
            .unwrap();
        head.insert(shard, &[HeadSample::of_id(ids[0], t, v)]);
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
        let vals = head.label_values("job", TimeRange::new(16, 30)).unwrap();
        assert_eq!(vals.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert!(head.label_values("job", TimeRange::new(21, 30)).is_none());
        assert_eq!(head.label_names(TimeRange::ALL), ["__name__", "job"]);
        assert!(head.label_names(TimeRange::new(21, 30)).is_empty());
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
    fn colliding_hashes_stay_apart_and_survive_removal() {
        let mut s = Shard::default();
        let (a, b) = (labels("a"), labels("b"));
        // Equal in the 32 bits the table keeps, different above them.
        let (h1, h2) = (7 << SHARD_BITS, (1 << 40) | (7 << SHARD_BITS));
        s.insert_series(0, h1, a.clone(), 0);
        s.insert_series(1, h2, b.clone(), 1);
        assert_eq!(
            (s.lookup(h1, &a), s.lookup(h2, &b)),
            (Some((0, 0)), Some((1, 1)))
        );
        assert_eq!(s.remove_series(0).map(|r| r.1), Some(0));
        assert_eq!((s.lookup(h1, &a), s.lookup(h2, &b)), (None, Some((1, 1))));
        // The freed slot is reused; local ids are not.
        s.insert_series(s.next_local, 9 << SHARD_BITS, a.clone(), 2);
        assert_eq!(s.lookup(9 << SHARD_BITS, &a), Some((0, 2)));
        assert_eq!((s.live().count(), s.pages.len()), (2, 1));
    }

    #[test]
    fn pages_whose_series_all_left_are_freed_and_reused() {
        let mut s = Shard::default();
        let n = PAGE_SLOTS as u32 + 10;
        let all: Vec<Labels> = (0..n).map(|i| labels(&i.to_string())).collect();
        for (local, l) in (0..).zip(&all) {
            s.insert_series(local, l.hash64(), l.clone(), local);
        }
        for local in 0..PAGE_SLOTS as u32 {
            s.remove_series(local);
        }
        s.release_free_pages();
        assert!(s.pages[0].is_empty() && s.pages[1].len() == PAGE_SLOTS);
        // The second page's free slots come first, then the freed page again.
        for local in n..n + PAGE_SLOTS as u32 {
            let l = labels(&local.to_string());
            s.insert_series(local, l.hash64(), l, local);
        }
        assert_eq!(s.pages.len(), 2);
        assert!(s.pages.iter().all(|p| p.len() == PAGE_SLOTS));
        for (local, l) in (PAGE_SLOTS as u32..).zip(&all[PAGE_SLOTS..]) {
            assert_eq!(s.lookup(l.hash64(), l).map(|at| at.1), Some(local));
            assert_eq!(s.get(local).map(|x| x.head_ref), Some(local));
        }
    }

    /// Places follow label order, survive the renumbering of a freeze that drops idle
    /// series, and series created after a ranking have none until the next.
    #[test]
    fn places_follow_label_order_across_freezes() {
        let head = Head::new();
        // Created out of label order.
        let jobs: Vec<String> = (0..300)
            .map(|i| format!("job-{:03}", i * 7 % 300))
            .collect();
        let write = |jobs: &mut dyn Iterator<Item = &String>, t: i64| {
            for job in jobs {
                add(&head, &labels(job), t, 1.0);
            }
        };
        let placed = || {
            let every = Matcher::new(strata_core::MatchOp::Regex, "job", ".+").unwrap();
            let copies = head.copy_ids(&head.selected_ids(&[every]), TimeRange::ALL);
            let job = |copy: &HeadCopy, i| copy.labels(i).get("job").unwrap().to_owned();
            let ranked =
                (0..copies.ranked.len()).map(|i| (Some(copies.ranks[i]), job(&copies.ranked, i)));
            let unranked = (0..copies.unranked.len()).map(|i| (None, job(&copies.unranked, i)));
            let mut got: Vec<_> = ranked.chain(unranked).collect();
            got.sort();
            got
        };
        write(&mut jobs.iter(), 1);
        assert!(placed().iter().all(|(rank, _)| rank.is_none()));
        assert!(head.rank_series());
        let got = placed();
        assert!(got.iter().all(|(rank, _)| rank.is_some()));
        let mut sorted = jobs.clone();
        sorted.sort();
        assert_eq!(got.into_iter().map(|(_, j)| j).collect::<Vec<_>>(), sorted);

        // The even-numbered series go idle and leave at the second freeze.
        head.freeze();
        write(&mut jobs.iter().skip(1).step_by(2), 2);
        head.freeze();
        let new = "job-new".to_owned();
        write(&mut jobs.iter().skip(1).step_by(2).chain([&new]), 3);
        let got = placed();
        assert_eq!(got.len(), 151);
        // Unplaced sort first.
        assert_eq!(got[0], (None, new));
        let mut odd: Vec<String> = jobs.iter().skip(1).step_by(2).cloned().collect();
        odd.sort();
        assert_eq!(
            got[1..].iter().map(|(_, j)| j.clone()).collect::<Vec<_>>(),
            odd
        );
    }

    #[test]
    fn freeze_drops_idle_series_from_the_index_and_keeps_the_rest_selectable() {
        let head = Head::new();
        let jobs: Vec<String> = (0..300).map(|i| format!("job-{i:03}")).collect();
        for (i, job) in jobs.iter().enumerate() {
            add(&head, &labels(job), i as i64, 1.0);
        }
        head.freeze();
        // Only the odd jobs write again: the even ones are idle at the next freeze.
        for (i, job) in jobs.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
            add(&head, &labels(job), 1000 + i as i64, 2.0);
        }
        assert_eq!(head.freeze().len(), 150);
        assert_eq!(head.num_series(), 150);
        for (i, job) in jobs.iter().enumerate().skip(1).step_by(2) {
            add(&head, &labels(job), 2000 + i as i64, 3.0);
        }
        let regex = Matcher::new(strata_core::MatchOp::Regex, "job", "job-0[0-4].").unwrap();
        let mut got = Vec::new();
        head.select(&[regex], TimeRange::ALL, |l, p| {
            got.push((l.get("job").unwrap().to_owned(), p.len()))
        });
        got.sort();
        let want: Vec<(String, usize)> = (1..50).step_by(2).map(|i| (jobs[i].clone(), 1)).collect();
        assert_eq!(got, want);
        let vals = head.label_values("job", TimeRange::ALL).unwrap();
        let want: Vec<&str> = jobs.iter().skip(1).step_by(2).map(String::as_str).collect();
        assert_eq!(vals.iter().collect::<Vec<_>>(), want);
    }

    #[test]
    fn replay_replacing_a_series_reindexes_it() {
        let head = Head::new();
        let a = labels("a");
        let shard = shard_of(a.hash64());
        // Another series of the same shard, so that it can take a's id.
        let b = (0..)
            .map(|i| labels(&format!("b{i}")))
            .find(|l| shard_of(l.hash64()) == shard)
            .unwrap();
        let id = make_id(shard, 3);
        head.replay_series(id, a.clone());
        assert!(head.replay_sample(id, 1, 1.0));
        head.replay_series(id, b.clone());
        assert!(head.replay_sample(id, 2, 2.0));
        assert_eq!(head.num_series(), 1);
        let mut got = Vec::new();
        head.select(
            &[Matcher::equal("__name__", "up")],
            TimeRange::ALL,
            |l, p| got.push((l.clone(), p)),
        );
        assert_eq!(got, vec![(b, vec![Point { t: 2, v: 2.0 }])]);
        let mut got = 0;
        head.select(&[Matcher::equal("job", "a")], TimeRange::ALL, |_, _| {
            got += 1
        });
        assert_eq!(got, 0);
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
