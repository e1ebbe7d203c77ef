//! The head's label index, one for the whole head: every label name and value stored
//! once, each value with its postings, the sorted list of the series that carry it.
//!
//! Postings hold 4-byte head refs rather than series ids. Refs are handed out in
//! creation order, so a new series is a push at the end of each of its lists; a freeze
//! that drops idle series renumbers the survivors densely, keeping their order, so refs
//! stay below the number of series created since the previous freeze.
//!
//! It changes only when series come and go: appends to existing series never touch it,
//! and selection evaluates a regex once per distinct value, not once per shard.
//!
//! Each name also keeps its values in order ([`ValueOrder`]), for discovery's sorted
//! answers and for regex scans, and hands them out as a shared snapshot: readers scan
//! and merge outside the index lock, so a scan of a million values never holds up the
//! creation of series (which needs the lock for writing).

use crate::index::strings::StringList;
use crate::index::{LabelIndex, LabelValues};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use strata_core::Labels;

/// The id of a ref whose series left the head (until the next compaction).
const GONE: u64 = u64::MAX;

/// A ref that no longer exists after [`HeadIndex::compact`].
pub(super) const NO_REF: u32 = u32::MAX;

/// Label values in order, shared by the index and the readers that took them.
pub type SortedValues = Arc<StringList>;

#[derive(Default)]
pub(super) struct HeadIndex {
    /// Label name → its values.
    labels: HashMap<Box<str>, NameValues>,
    /// Ref → series id ([`GONE`] once the series is released).
    ids: Vec<u64>,
    /// Refs released since the last compaction.
    released: usize,
    /// Compactions so far: the refs' numbering changes with each.
    compactions: u64,
}

/// The values of one label name.
#[derive(Default)]
struct NameValues {
    /// Value → refs of the series with that label, sorted.
    postings: HashMap<Box<str>, Vec<u32>>,
    /// The values in order. Readers update it under the index's read lock, hence the
    /// mutex; writers, holding the write lock, reach it without locking.
    order: Mutex<ValueOrder>,
}

/// The values of a name in order, maintained lazily: a new value is pushed to `added`
/// (the cost of ingesting a new series stays one push), and the first reader after it
/// merges `added` into `sorted` outside the index lock and stores the result back.
#[derive(Default)]
struct ValueOrder {
    /// Sorted values as of the last merge (or every value, when not `stale`).
    sorted: SortedValues,
    /// Values added since `sorted` was made, in no order.
    added: StringList,
    /// A value was removed without updating `sorted`: the next reader rebuilds it.
    stale: bool,
    /// Counts changes of `sorted` and removals from `added`, so that a reader stores
    /// its merge back only if nothing it read has changed meanwhile.
    version: u64,
}

/// What a reader takes of a name's [`ValueOrder`] under the lock.
pub(super) struct OrderSnapshot {
    name: Box<str>,
    version: u64,
    /// How many of `added` the reader took.
    added: usize,
    kind: SnapshotKind,
}

enum SnapshotKind {
    /// `sorted` was up to date.
    Ready(SortedValues),
    /// `sorted` and the values added since, to merge.
    Merge(SortedValues, StringList),
    /// Every value, to sort.
    Rebuild(StringList),
}

impl OrderSnapshot {
    /// The values in order: at once when they were, else merged or sorted now (outside
    /// the lock). The flag says whether the index should store the result back.
    fn into_sorted(self) -> (SortedValues, Option<(Box<str>, u64, usize)>) {
        let sorted = match self.kind {
            SnapshotKind::Ready(sorted) => return (sorted, None),
            SnapshotKind::Merge(sorted, added) => {
                StringList::union(&sorted, &sorted_unique(&added))
            }
            SnapshotKind::Rebuild(all) => sorted_unique(&all).into_iter().collect(),
        };
        (
            Arc::new(sorted),
            Some((self.name, self.version, self.added)),
        )
    }
}

fn sorted_unique(list: &StringList) -> Vec<&str> {
    let mut strs: Vec<&str> = list.iter().collect();
    strs.sort_unstable();
    strs.dedup();
    strs
}

impl HeadIndex {
    /// Indexes a new series and returns its ref.
    pub(super) fn add(&mut self, id: u64, labels: &Labels) -> u32 {
        let r = u32::try_from(self.ids.len())
            .ok()
            .filter(|&r| r != NO_REF)
            .expect("fewer than 2^32 - 1 series created between two head freezes");
        self.ids.push(id);
        for l in labels.iter() {
            // The newest ref is the largest: a push keeps the list sorted.
            postings_mut(&mut self.labels, l.name, l.value).push(r);
        }
        r
    }

    /// Removes a series from its postings at once (a replay replacing a series).
    pub(super) fn remove(&mut self, r: u32, labels: &Labels) {
        for l in labels.iter() {
            let Some(values) = self.labels.get_mut(l.name) else {
                continue;
            };
            if let Some(list) = values.postings.get_mut(l.value) {
                if let Ok(i) = list.binary_search(&r) {
                    list.remove(i);
                }
                if list.is_empty() {
                    values.postings.remove(l.value);
                    // Rebuilt by the next reader: replays remove one series at a time.
                    let order = values.order.get_mut();
                    order.stale = true;
                    order.version += 1;
                }
            }
            if values.postings.is_empty() {
                self.labels.remove(l.name);
            }
        }
        self.release(r);
    }

    /// Marks a series as gone; its postings are dropped by the next [`Self::compact`],
    /// and until then lookups skip it.
    pub(super) fn release(&mut self, r: u32) {
        if let Some(id) = self.ids.get_mut(r as usize) {
            if *id != GONE {
                *id = GONE;
                self.released += 1;
            }
        }
    }

    /// Drops released refs from every list and renumbers the rest densely, in order.
    /// Returns the new ref of each old one ([`NO_REF`] for released ones), or `None` if
    /// nothing was released (refs unchanged).
    pub(super) fn compact(&mut self) -> Option<Vec<u32>> {
        if self.released == 0 {
            return None;
        }
        let mut renumbered = Vec::with_capacity(self.ids.len());
        let mut next = 0u32;
        for id in &self.ids {
            if *id == GONE {
                renumbered.push(NO_REF);
            } else {
                renumbered.push(next);
                next += 1;
            }
        }
        self.ids.retain(|&id| id != GONE);
        self.ids.shrink_to_fit();
        self.labels.retain(|_, values| {
            let before = values.postings.len();
            values.postings.retain(|_, list| {
                list.retain_mut(|r| {
                    *r = renumbered[*r as usize];
                    *r != NO_REF
                });
                list.shrink_to_fit();
                !list.is_empty()
            });
            if values.postings.len() < before {
                values.drop_gone_from_order();
            }
            !values.postings.is_empty()
        });
        self.released = 0;
        self.compactions += 1;
        Some(renumbered)
    }

    /// Compactions so far (see [`HeadIndex::compact`]).
    pub(super) fn compactions(&self) -> u64 {
        self.compactions
    }

    /// Refs handed out since the last compaction: every ref is below it.
    pub(super) fn num_refs(&self) -> usize {
        self.ids.len()
    }

    /// The series id of a ref, unless it was released.
    pub(super) fn id(&self, r: u32) -> Option<u64> {
        self.ids.get(r as usize).copied().filter(|&id| id != GONE)
    }

    /// Every label name, sorted.
    pub(super) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.labels.keys().map(|n| n.to_string()).collect();
        names.sort_unstable();
        names
    }

    /// What a reader needs to put the values of `name` in order outside the lock.
    fn order_snapshot(&self, name: &str) -> Option<OrderSnapshot> {
        let values = self.labels.get(name)?;
        let order = values.order.lock();
        let kind = if order.stale {
            SnapshotKind::Rebuild(values.postings.keys().map(|v| &**v).collect())
        } else if order.added.is_empty() {
            SnapshotKind::Ready(order.sorted.clone())
        } else {
            SnapshotKind::Merge(order.sorted.clone(), order.added.clone())
        };
        Some(OrderSnapshot {
            name: name.into(),
            version: order.version,
            added: order.added.len(),
            kind,
        })
    }

    /// Stores a reader's merge back, unless the order changed since its snapshot.
    /// Returns the list it replaced, for the caller to free after releasing the lock.
    fn store_order(
        &self,
        name: &str,
        version: u64,
        added: usize,
        sorted: SortedValues,
    ) -> Option<SortedValues> {
        let values = self.labels.get(name)?;
        let mut order = values.order.lock();
        if order.version != version {
            return None;
        }
        order.added = order.added.iter().skip(added).collect();
        order.stale = false;
        order.version += 1;
        Some(std::mem::replace(&mut order.sorted, sorted))
    }
}

impl NameValues {
    /// Drops values without postings from the order (after a compaction, which holds
    /// the write lock and is linear in the index anyway).
    fn drop_gone_from_order(&mut self) {
        let postings = &self.postings;
        let order = self.order.get_mut();
        if !order.stale {
            order.sorted = Arc::new(order.sorted.filtered(|v| postings.contains_key(v)));
        }
        order.added = order.added.filtered(|v| postings.contains_key(v));
        order.version += 1;
    }
}

/// The values of label `name` in the index behind `index`, sorted. The lock is held
/// only to take a snapshot and, after merging new values outside it, to store the
/// merge back for the next reader.
pub(super) fn sorted_values(index: &RwLock<HeadIndex>, name: &str) -> Option<SortedValues> {
    let snapshot = index.read().order_snapshot(name)?;
    let (sorted, store) = snapshot.into_sorted();
    if let Some((name, version, added)) = store {
        let replaced = index
            .read()
            .store_order(&name, version, added, sorted.clone());
        drop(replaced);
    }
    Some(sorted)
}

/// The head index's values read through [`sorted_values`], so that resolving matchers
/// scans them outside the index lock.
pub(super) struct UnlockedValues<'a>(pub &'a RwLock<HeadIndex>);

impl LabelValues for UnlockedValues<'_> {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
        for v in sorted_values(self.0, name).iter().flat_map(|v| v.iter()) {
            f(v);
        }
    }

    fn for_each_value_with_prefix(&self, name: &str, prefix: &str, f: &mut dyn FnMut(&str)) {
        if let Some(values) = sorted_values(self.0, name) {
            values.with_prefix(prefix).for_each(f);
        }
    }
}

impl LabelValues for HeadIndex {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
        if let Some(values) = self.labels.get(name) {
            values.postings.keys().for_each(|v| f(v));
        }
    }
}

impl LabelIndex for HeadIndex {
    fn all_postings(&self) -> Vec<u32> {
        (0..self.ids.len() as u32)
            .filter(|&r| self.ids[r as usize] != GONE)
            .collect()
    }
    fn postings(&self, name: &str, value: &str, out: &mut Vec<u32>) {
        if let Some(list) = self.labels.get(name).and_then(|v| v.postings.get(value)) {
            out.extend_from_slice(list);
        }
    }
}

/// The postings list of `name="value"`, created if needed; allocates the key strings
/// only for a new name or value, and then queues the value for ordering.
fn postings_mut<'a>(
    map: &'a mut HashMap<Box<str>, NameValues>,
    name: &str,
    value: &str,
) -> &'a mut Vec<u32> {
    if !map.contains_key(name) {
        map.insert(name.into(), NameValues::default());
    }
    let values = map.get_mut(name).expect("inserted above");
    if !values.postings.contains_key(value) {
        values.order.get_mut().added.push(value);
        values.postings.insert(value.into(), Vec::new());
    }
    values.postings.get_mut(value).expect("inserted above")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{select, select_resolved};
    use proptest::prelude::*;
    use strata_core::{MatchOp, Matcher};

    fn labels(job: &str, instance: &str) -> Labels {
        Labels::new([("job", job), ("instance", instance)]).unwrap()
    }

    #[test]
    fn released_series_vanish_and_compaction_renumbers_in_order() {
        let mut idx = HeadIndex::default();
        let sets = [labels("a", "1"), labels("a", "2"), labels("b", "1")];
        let refs: Vec<u32> = sets
            .iter()
            .enumerate()
            .map(|(i, l)| idx.add(100 + i as u64, l))
            .collect();
        assert_eq!(refs, [0, 1, 2]);
        assert_eq!(select(&idx, &[Matcher::equal("job", "a")]), [0, 1]);

        idx.release(0);
        assert_eq!(idx.id(0), None);
        assert_eq!(idx.all_postings(), [1, 2]);
        assert_eq!(idx.compact(), Some(vec![NO_REF, 0, 1]));
        assert_eq!(idx.compact(), None);
        assert_eq!(select(&idx, &[Matcher::equal("job", "a")]), [0]);
        assert_eq!(select(&idx, &[Matcher::equal("instance", "1")]), [1]);
        assert_eq!((idx.id(0), idx.id(1)), (Some(101), Some(102)));

        idx.remove(1, &sets[2]);
        assert_eq!(idx.names(), ["instance", "job"]);
        let idx = RwLock::new(idx);
        assert_eq!(values_of(&idx, "job"), ["a"]);
        assert!(sorted_values(&idx, "absent").is_none());
    }

    /// Values read for a regex are scanned with the index lock free: a writer could
    /// take it at every value.
    #[test]
    fn regex_scans_run_outside_the_lock() {
        struct CheckUnlocked<'a>(&'a RwLock<HeadIndex>);
        impl LabelValues for CheckUnlocked<'_> {
            fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
                UnlockedValues(self.0).for_each_value(name, &mut |v| {
                    assert!(self.0.try_write().is_some(), "lock held while scanning {v}");
                    f(v)
                });
            }
            fn for_each_value_with_prefix(&self, name: &str, p: &str, f: &mut dyn FnMut(&str)) {
                UnlockedValues(self.0).for_each_value_with_prefix(name, p, &mut |v| {
                    assert!(self.0.try_write().is_some(), "lock held while scanning {v}");
                    f(v)
                });
            }
        }
        let idx = RwLock::new(HeadIndex::default());
        for (i, job) in ["a1", "a2", "b1"].iter().enumerate() {
            idx.write().add(i as u64, &labels(job, "x"));
        }
        for pattern in ["a.", ".1"] {
            let ms = [Matcher::new(MatchOp::Regex, "job", pattern).unwrap()];
            let resolved = crate::index::resolve(&CheckUnlocked(&idx), &ms);
            assert_eq!(select_resolved(&*idx.read(), &resolved).len(), 2);
        }
    }

    fn values_of(idx: &RwLock<HeadIndex>, name: &str) -> Vec<String> {
        let values = sorted_values(idx, name).unwrap_or_default();
        values.iter().map(|v| v.to_string()).collect()
    }

    /// The sorted values of the series in `series` (those still in the postings).
    fn brute_values(series: &[&Labels], name: &str) -> Vec<String> {
        let set: std::collections::BTreeSet<&str> =
            series.iter().filter_map(|l| l.get(name)).collect();
        set.into_iter().map(str::to_owned).collect()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(u8, u8),
        /// Removes the n-th live series at once (a replay replacing it).
        Remove(usize),
        /// Releases the n-th live series; compacts when the flag is set (a freeze).
        Release(usize, bool),
        /// Checks selection and values (reading stores merges back into the index).
        Read,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..4, 0u8..6).prop_map(|(j, i)| Op::Add(j, i)),
            1 => any::<usize>().prop_map(Op::Remove),
            1 => (any::<usize>(), any::<bool>()).prop_map(|(n, c)| Op::Release(n, c)),
            1 => Just(Op::Read),
        ]
    }

    proptest! {
        /// Whatever series come and go, selecting by ref and mapping refs to ids finds
        /// exactly the live series a brute-force filter finds, whether matchers are
        /// resolved under the lock or outside it; and the sorted values of each name are
        /// those of the series still indexed, however reads and changes interleave.
        #[test]
        fn selection_and_values_match_a_scan_of_the_live_series(
            ops in proptest::collection::vec(op(), 1..60),
            value in 0u8..6,
        ) {
            let idx = RwLock::new(HeadIndex::default());
            // Live series: (id, labels, ref); released ones stay indexed until compacted.
            let mut live: Vec<(u64, Labels, u32)> = Vec::new();
            let mut released: Vec<Labels> = Vec::new();
            let mut next_id = 0u64;
            let last = ops.len() - 1;
            for (k, op) in ops.into_iter().enumerate() {
                // Reads store merges back, so checking after every change would never
                // let new values pile up unmerged.
                let check = matches!(op, Op::Read) || k == last;
                match op {
                    Op::Add(j, i) => {
                        let l = labels(&format!("j{j}"), &format!("i{i}"));
                        let r = idx.write().add(next_id, &l);
                        live.push((next_id, l, r));
                        next_id += 1;
                    }
                    Op::Remove(n) if !live.is_empty() => {
                        let (_, l, r) = live.remove(n % live.len());
                        idx.write().remove(r, &l);
                    }
                    Op::Release(n, compact) if !live.is_empty() => {
                        let (_, l, r) = live.remove(n % live.len());
                        idx.write().release(r);
                        released.push(l);
                        if compact {
                            if let Some(renumbered) = idx.write().compact() {
                                released.clear();
                                for s in &mut live {
                                    s.2 = renumbered[s.2 as usize];
                                    prop_assert_ne!(s.2, NO_REF);
                                }
                            }
                        }
                    }
                    _ => {}
                }
                if !check {
                    continue;
                }
                let matchers = [
                    vec![Matcher::equal("instance", &format!("i{value}"))],
                    vec![Matcher::new(MatchOp::Regex, "job", "j[02]").unwrap()],
                    vec![Matcher::new(MatchOp::NotEqual, "job", "j1").unwrap()],
                ];
                for ms in &matchers {
                    let want: Vec<u64> = live
                        .iter()
                        .filter(|s| Matcher::all_match(ms, &s.1))
                        .map(|s| s.0)
                        .collect();
                    let resolved = crate::index::resolve(&UnlockedValues(&idx), ms);
                    let index = idx.read();
                    for refs in [select(&*index, ms), select_resolved(&*index, &resolved)] {
                        let mut got: Vec<u64> =
                            refs.into_iter().filter_map(|r| index.id(r)).collect();
                        got.sort_unstable();
                        prop_assert_eq!(&got, &want, "{:?}", ms);
                    }
                }
                let indexed: Vec<&Labels> =
                    live.iter().map(|s| &s.1).chain(released.iter()).collect();
                for name in ["job", "instance"] {
                    prop_assert_eq!(values_of(&idx, name), brute_values(&indexed, name));
                }
            }
        }
    }
}
