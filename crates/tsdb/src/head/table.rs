//! A shard's table from label hash to slot: open addressing with linear probing in
//! one array of 8-byte entries.
//!
//! A general hash map costs two cache misses per look-up (control bytes, then the
//! bucket) and cannot be asked to fetch a key's place ahead of time. Here a key's
//! first probe is one known address, so resolving a batch prefetches the entries
//! of the series a few places ahead, then their slots, and the misses of a batch's
//! look-ups overlap instead of adding up.

use super::prefetch_bytes;

/// An entry: the key in the high half, the slot plus one in the low half; 0 is empty.
type Entry = u64;

const EMPTY: Entry = 0;

#[derive(Default)]
pub(super) struct SlotTable {
    entries: Box<[Entry]>,
    len: usize,
}

impl SlotTable {
    /// Where `key`'s probe starts. Keys are bits of a label hash, already uniform.
    fn home(&self, key: u32) -> usize {
        key as usize & (self.entries.len() - 1)
    }

    /// The slot of `key`, if present.
    pub(super) fn get(&self, key: u32) -> Option<u32> {
        if self.entries.is_empty() {
            return None;
        }
        let mask = self.entries.len() - 1;
        let mut at = self.home(key);
        loop {
            match self.entries[at] {
                EMPTY => return None,
                e if (e >> 32) as u32 == key => return Some(e as u32 - 1),
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// Starts loading the entry where `key`'s probe starts.
    #[inline(always)]
    pub(super) fn prefetch(&self, key: u32) {
        if !self.entries.is_empty() {
            prefetch_bytes(&self.entries[self.home(key)]);
        }
    }

    /// Adds `key → slot`; false (and no change) when `key` is present already.
    pub(super) fn insert(&mut self, key: u32, slot: u32) -> bool {
        // At most three quarters full, so that probes stay short.
        if (self.len + 1) * 4 > self.entries.len() * 3 {
            self.grow();
        }
        let mask = self.entries.len() - 1;
        let mut at = self.home(key);
        loop {
            match self.entries[at] {
                EMPTY => {
                    self.entries[at] = (u64::from(key) << 32) | (u64::from(slot) + 1);
                    self.len += 1;
                    return true;
                }
                e if (e >> 32) as u32 == key => return false,
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// Removes `key` if it maps to `slot`; returns whether it did.
    pub(super) fn remove(&mut self, key: u32, slot: u32) -> bool {
        if self.get(key) != Some(slot) {
            return false;
        }
        let mask = self.entries.len() - 1;
        let mut hole = self.home(key);
        while (self.entries[hole] >> 32) as u32 != key {
            hole = (hole + 1) & mask;
        }
        // Backward-shift deletion: move later entries of the run into the hole when
        // their probe would pass it, so no look-up stops early at a false empty.
        let mut at = hole;
        loop {
            at = (at + 1) & mask;
            let e = self.entries[at];
            if e == EMPTY {
                break;
            }
            let home = self.home((e >> 32) as u32);
            // `e` may move to the hole unless its home lies cyclically in (hole, at].
            let stays = if hole <= at {
                hole < home && home <= at
            } else {
                hole < home || home <= at
            };
            if !stays {
                self.entries[hole] = e;
                hole = at;
            }
        }
        self.entries[hole] = EMPTY;
        self.len -= 1;
        true
    }

    fn grow(&mut self) {
        let capacity = (self.entries.len() * 2).max(16);
        let old = std::mem::replace(&mut self.entries, vec![EMPTY; capacity].into_boxed_slice());
        self.len = 0;
        for e in old.iter().copied().filter(|&e| e != EMPTY) {
            self.insert((e >> 32) as u32, e as u32 - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        #[test]
        fn behaves_as_a_map(ops in proptest::collection::vec((any::<bool>(), 0u32..64, 0u32..1000), 0..400)) {
            // Keys whose low bits are (nearly) all ones: they share the last homes
            // of the array at every size, so their runs are long and wrap around.
            let mut table = SlotTable::default();
            let mut model: HashMap<u32, u32> = HashMap::new();
            for (add, k, slot) in ops {
                let key = (k << 16) | (0xffff - k % 3);
                if add {
                    let fresh = !model.contains_key(&key);
                    prop_assert_eq!(table.insert(key, slot), fresh);
                    model.entry(key).or_insert(slot);
                } else {
                    let present = model.get(&key).copied();
                    let target = present.unwrap_or(slot);
                    prop_assert_eq!(table.remove(key, target), present.is_some());
                    model.remove(&key);
                }
                prop_assert_eq!(table.len, model.len());
                for (&key, &slot) in &model {
                    prop_assert_eq!(table.get(key), Some(slot));
                }
            }
        }
    }

    #[test]
    fn a_key_whose_slot_differs_is_not_removed() {
        let mut table = SlotTable::default();
        assert!(table.insert(7, 1));
        assert!(!table.insert(7, 2));
        assert!(!table.remove(7, 2));
        assert_eq!(table.get(7), Some(1));
        assert!(table.remove(7, 1));
        assert_eq!(table.get(7), None);
    }
}
