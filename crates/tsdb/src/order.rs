//! Putting a select's parts in label order, the order queries answer in.
//!
//! Each part gets a key whose plain element order is its label set's order: a block's
//! parts their symbol refs (the symbol table is sorted), the head's parts a byte
//! string built from their labels. Keys are sorted most significant element first:
//! series of one metric share long runs of equal elements (the metric name, each
//! label's name), which a comparison sort would compare again and again, and which
//! this sort skips once per group.

use strata_core::{Labels, SpareBuffers};

/// A big select's key buffer, kept for the next (see [`SpareBuffers`]).
static SPARE_KEYS: SpareBuffers<u8> = SpareBuffers::new(2 << 20);

/// Groups this small are sorted by comparing their keys whole.
const SMALL_GROUP: usize = 16;

/// Indexes `0..n` of `labels` in label order (ties by index).
pub(crate) fn label_order<'a>(labels: impl ExactSizeIterator<Item = &'a Labels>) -> Vec<u32> {
    let n = labels.len();
    let mut keys = SPARE_KEYS.take();
    let mut key_ends = Vec::with_capacity(n);
    for l in labels {
        push_label_order_key(l, &mut keys);
        key_ends.push(keys.len());
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    sort_by_keys(&mut order, |i| {
        let i = i as usize;
        let start = if i == 0 { 0 } else { key_ends[i - 1] };
        &keys[start..key_ends[i]]
    });
    SPARE_KEYS.give_back(keys);
    order
}

/// Appends a byte string whose plain byte order is the order of label sets (label by
/// label, name then value, as `Labels`' `Ord`): each string with bytes 0 and 1 escaped
/// as `1 1` and `1 2`, then ended by a 0, which sorts before every byte of an escaped
/// string, so a string sorts before its extensions and a set before its extensions.
fn push_label_order_key(labels: &Labels, key: &mut Vec<u8>) {
    for s in labels.byte_pairs().flat_map(|(name, value)| [name, value]) {
        if s.iter().all(|&b| b > 1) {
            key.extend_from_slice(s);
        } else {
            for &b in s {
                if b <= 1 {
                    key.extend_from_slice(&[1, b + 1]);
                } else {
                    key.push(b);
                }
            }
        }
        key.push(0);
    }
}

/// Sorts `ids` by `key(id)` as slices order (element by element, a prefix first),
/// ties by id. A group of ids whose keys agree so far skips the prefix they all share,
/// is sorted by its next element alone, and splits into the groups that agree on it;
/// small groups are sorted by comparing what is left of their keys.
pub(crate) fn sort_by_keys<'k, T: Copy + Ord + Into<u64> + 'k>(
    ids: &mut [u32],
    key: impl Fn(u32) -> &'k [T],
) {
    // An element as a number, 0 past the key's end (a prefix sorts first).
    let digit = |id: u32, depth: usize| key(id).get(depth).map_or(0, |&x| x.into() + 1);
    let mut groups = vec![(0..ids.len(), 0)];
    let mut digits: Vec<(u64, u32)> = Vec::new();
    while let Some((range, mut depth)) = groups.pop() {
        let group = &mut ids[range.clone()];
        if group.len() <= SMALL_GROUP {
            // Every key in the group is at least `depth` long: they agree before it.
            group.sort_unstable_by(|&a, &b| key(a)[depth..].cmp(&key(b)[depth..]).then(a.cmp(&b)));
            continue;
        }
        let first = &key(group[0])[depth..];
        depth += group[1..]
            .iter()
            .map(|&i| common_prefix(first, &key(i)[depth..]))
            .min()
            .unwrap_or(0);
        digits.clear();
        digits.extend(group.iter().map(|&i| (digit(i, depth), i)));
        digits.sort_unstable();
        for (slot, &(_, i)) in group.iter_mut().zip(&digits) {
            *slot = i;
        }
        let mut at = range.start;
        for run in digits.chunk_by(|a, b| a.0 == b.0) {
            // Keys that have ended are equal and already in id order.
            if run.len() > 1 && run[0].0 != 0 {
                groups.push((at..at + run.len(), depth + 1));
            }
            at += run.len();
        }
    }
}

/// Sorts `ids` by `rank(id)` (ties keep their order), a byte of the ranks at a time
/// from the lowest: the head's places in label order are numbers, and thousands of
/// them sort in a few passes over the ids rather than a comparison sort's many.
pub(crate) fn sort_by_rank(ids: &mut Vec<u32>, rank: impl Fn(u32) -> u32) {
    let top = ids.iter().map(|&i| rank(i)).max().unwrap_or(0);
    let mut from = std::mem::take(ids);
    let mut to = vec![0; from.len()];
    let mut shift = 0;
    while shift < 32 && (shift == 0 || top >> shift != 0) {
        let digit = |i: u32| (rank(i) >> shift) as usize & 0xff;
        let mut starts = [0usize; 257];
        for &i in &from {
            starts[digit(i) + 1] += 1;
        }
        for d in 0..256 {
            starts[d + 1] += starts[d];
        }
        for &i in &from {
            let at = &mut starts[digit(i)];
            to[*at] = i;
            *at += 1;
        }
        std::mem::swap(&mut from, &mut to);
        shift += 8;
    }
    *ids = from;
}

/// How many leading elements `a` and `b` share, compared 16 at a time (a memcmp for
/// bytes and integers) while they agree.
fn common_prefix<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 16 <= n && a[i..i + 16] == b[i..i + 16] {
        i += 16;
    }
    i + a[i..n]
        .iter()
        .zip(&b[i..n])
        .take_while(|(x, y)| x == y)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn label_sets() -> impl Strategy<Value = Labels> {
        // Few names and values, with the escaped bytes, prefixes of one another,
        // non-ASCII and long (two-byte lengths), so that equal prefixes and every
        // escape are common.
        let value = prop_oneof!["[ab]{0,3}", "[a\u{0}\u{1}\u{2}é]{0,3}", "a{126,130}"];
        proptest::collection::btree_map("[ab_]{1,2}", value, 0..4)
            .prop_map(|m| Labels::new(m.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap())
    }

    proptest! {
        #[test]
        fn order_keys_sort_as_label_sets(a in label_sets(), b in label_sets()) {
            let key = |l: &Labels| {
                let mut k = Vec::new();
                push_label_order_key(l, &mut k);
                k
            };
            prop_assert_eq!(key(&a).cmp(&key(&b)), a.cmp(&b));
        }

        #[test]
        fn label_order_is_a_stable_sort_by_labels(sets in proptest::collection::vec(label_sets(), 0..80)) {
            let mut want: Vec<u32> = (0..sets.len() as u32).collect();
            want.sort_by(|&a, &b| sets[a as usize].cmp(&sets[b as usize]));
            prop_assert_eq!(label_order(sets.iter()), want);
        }

        #[test]
        fn sorting_by_rank_is_a_stable_sort_by_rank(
            ranks in proptest::collection::vec(prop_oneof![0u32..300, any::<u32>()], 0..300),
        ) {
            let mut want: Vec<u32> = (0..ranks.len() as u32).collect();
            want.sort_by_key(|&i| ranks[i as usize]);
            let mut got: Vec<u32> = (0..ranks.len() as u32).collect();
            sort_by_rank(&mut got, |i| ranks[i as usize]);
            prop_assert_eq!(got, want);
        }

        /// Keys of few distinct elements, with shared prefixes longer than the prefix
        /// scan's stride of 16 and keys that are prefixes of one another, in groups
        /// big enough to take every branch of the sort.
        #[test]
        fn sorting_by_keys_is_a_stable_sort_by_slices(
            keys in proptest::collection::vec(proptest::collection::vec(0u32..3, 0..6), 0..200),
            shared in proptest::collection::vec(0u32..3, 0..40),
        ) {
            let keys: Vec<Vec<u32>> = keys
                .into_iter()
                .map(|k| shared.iter().chain(&k).copied().collect())
                .collect();
            let mut want: Vec<u32> = (0..keys.len() as u32).collect();
            want.sort_by(|&a, &b| keys[a as usize].cmp(&keys[b as usize]));
            let mut got: Vec<u32> = (0..keys.len() as u32).collect();
            sort_by_keys(&mut got, |i| keys[i as usize].as_slice());
            prop_assert_eq!(got, want);
        }
    }
}
