//! Set operations on postings lists (sorted, duplicate-free series ids).

/// Ids in both lists.
pub fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    let mut rest = large;
    for &x in small {
        // Galloping would help very skewed sizes; binary search on the rest is close.
        match rest.binary_search(&x) {
            Ok(i) => {
                out.push(x);
                rest = &rest[i + 1..];
            }
            Err(i) => rest = &rest[i..],
        }
        if rest.is_empty() {
            break;
        }
    }
    out
}

/// Ids in `a` but not in `b`.
pub fn subtract(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// Ids in either list.
pub fn merge_union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Sorts `ids` and drops duplicates: the union of several postings lists appended one
/// after another. When the ids are dense enough (a regex selecting hundreds of values,
/// each with its own list) a bitmap of every id up to the largest does it in two linear
/// passes, where sorting would compare each id about log n times.
pub fn sort_dedup(ids: &mut Vec<u32>) {
    let Some(&max) = ids.iter().max() else {
        return;
    };
    let words = max as usize / 64 + 1;
    if words > ids.len() {
        ids.sort_unstable();
        ids.dedup();
        return;
    }
    let mut bits = vec![0u64; words];
    for &id in ids.iter() {
        bits[id as usize / 64] |= 1 << (id % 64);
    }
    ids.clear();
    for (w, mut word) in bits.into_iter().enumerate() {
        while word != 0 {
            ids.push(w as u32 * 64 + word.trailing_zeros());
            word &= word - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #[test]
        fn set_ops_match_btreeset(a in proptest::collection::btree_set(0u32..200, 0..60),
                                  b in proptest::collection::btree_set(0u32..200, 0..60)) {
            let va: Vec<u32> = a.iter().copied().collect();
            let vb: Vec<u32> = b.iter().copied().collect();
            prop_assert_eq!(intersect(&va, &vb), a.intersection(&b).copied().collect::<Vec<_>>());
            prop_assert_eq!(subtract(&va, &vb), a.difference(&b).copied().collect::<Vec<_>>());
            prop_assert_eq!(merge_union(&va, &vb), a.union(&b).copied().collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>());
        }

        /// Sparse ids (sorted) or dense ones (bitmap) come out sorted and unique.
        #[test]
        fn sort_dedup_matches_btreeset(
            ids in proptest::collection::vec(prop_oneof![0u32..300, any::<u32>()], 0..200),
        ) {
            let mut got = ids.clone();
            sort_dedup(&mut got);
            prop_assert_eq!(got, ids.iter().copied().collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>());
        }
    }
}
