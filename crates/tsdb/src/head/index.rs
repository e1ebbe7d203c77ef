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

use crate::index::LabelIndex;
use std::collections::HashMap;
use strata_core::Labels;

/// The id of a ref whose series left the head (until the next compaction).
const GONE: u64 = u64::MAX;

/// A ref that no longer exists after [`HeadIndex::compact`].
pub(super) const NO_REF: u32 = u32::MAX;

#[derive(Default)]
pub(super) struct HeadIndex {
    /// Label name → value → refs of the series with that label, sorted.
    labels: HashMap<Box<str>, HashMap<Box<str>, Vec<u32>>>,
    /// Ref → series id ([`GONE`] once the series is released).
    ids: Vec<u64>,
    /// Refs released since the last compaction.
    released: usize,
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
            if let Some(list) = values.get_mut(l.value) {
                if let Ok(i) = list.binary_search(&r) {
                    list.remove(i);
                }
                if list.is_empty() {
                    values.remove(l.value);
                }
            }
            if values.is_empty() {
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
            values.retain(|_, list| {
                list.retain_mut(|r| {
                    *r = renumbered[*r as usize];
                    *r != NO_REF
                });
                list.shrink_to_fit();
                !list.is_empty()
            });
            !values.is_empty()
        });
        self.released = 0;
        Some(renumbered)
    }

    /// The series id of a ref, unless it was released.
    pub(super) fn id(&self, r: u32) -> Option<u64> {
        self.ids.get(r as usize).copied().filter(|&id| id != GONE)
    }

    pub(super) fn for_each_name(&self, mut f: impl FnMut(&str)) {
        self.labels.keys().for_each(|n| f(n));
    }
}

impl LabelIndex for HeadIndex {
    fn all_postings(&self) -> Vec<u32> {
        (0..self.ids.len() as u32)
            .filter(|&r| self.ids[r as usize] != GONE)
            .collect()
    }
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
        if let Some(values) = self.labels.get(name) {
            values.keys().for_each(|v| f(v));
        }
    }
    fn postings(&self, name: &str, value: &str, out: &mut Vec<u32>) {
        if let Some(list) = self.labels.get(name).and_then(|v| v.get(value)) {
            out.extend_from_slice(list);
        }
    }
}

/// The postings list of `name="value"`, created if needed; allocates the key strings
/// only for a new name or value.
fn postings_mut<'a>(
    map: &'a mut HashMap<Box<str>, HashMap<Box<str>, Vec<u32>>>,
    name: &str,
    value: &str,
) -> &'a mut Vec<u32> {
    if !map.contains_key(name) {
        map.insert(name.into(), HashMap::new());
    }
    let values = map.get_mut(name).expect("inserted above");
    if !values.contains_key(value) {
        values.insert(value.into(), Vec::new());
    }
    values.get_mut(value).expect("inserted above")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::select;
    use strata_core::Matcher;

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
        let mut names = Vec::new();
        idx.for_each_name(|n| names.push(n.to_owned()));
        names.sort();
        assert_eq!(names, ["instance", "job"]);
        let mut values = Vec::new();
        idx.for_each_value("job", &mut |v| values.push(v.to_owned()));
        assert_eq!(values, ["a"]);
    }
}
