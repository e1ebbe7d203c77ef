//! The union of sorted lists of label names or values, one list per source (a block,
//! the head, frozen series): a k-way merge that compares each string only against the
//! other lists' heads, rather than hashing every string of every source.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The sorted, duplicate-free union of `runs`, each sorted (duplicates within a run are
/// allowed). A run out of order is not an error: the result is then the runs' strings
/// deduplicated where equal ones meet, in merge order.
pub fn union<'a>(runs: &[&[&'a str]]) -> Vec<&'a str> {
    let runs: Vec<&[&str]> = runs.iter().copied().filter(|r| !r.is_empty()).collect();
    let total: usize = runs.iter().map(|r| r.len()).sum();
    let mut out: Vec<&str> = Vec::with_capacity(total);
    let mut push = |s: &'a str| {
        if out.last() != Some(&s) {
            out.push(s);
        }
    };
    match runs.as_slice() {
        [] => {}
        [only] => only.iter().for_each(|s| push(s)),
        _ => {
            // (head string, run, position of the head in its run)
            let mut heads: BinaryHeap<Reverse<(&str, usize, usize)>> = runs
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.first().map(|s| Reverse((*s, i, 0))))
                .collect();
            while let Some(Reverse((s, run, at))) = heads.pop() {
                push(s);
                if let Some(next) = runs[run].get(at + 1) {
                    heads.push(Reverse((next, run, at + 1)));
                }
            }
        }
    }
    out
}

/// The strings as owned values, for the storage traits' answers.
pub fn to_owned(strs: &[&str]) -> Vec<String> {
    strs.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn merges_and_deduplicates() {
        let a = ["a", "c", "e"];
        let b = ["b", "c", "c", "f"];
        let c: [&str; 0] = [];
        assert_eq!(union(&[&a, &b, &c]), ["a", "b", "c", "e", "f"]);
        assert_eq!(union(&[&b]), ["b", "c", "f"]);
        assert!(union(&[]).is_empty());
    }

    proptest! {
        /// Whatever the runs, the union is what a `BTreeSet` of every string gives.
        #[test]
        fn union_is_the_sorted_set_of_all_runs(
            runs in proptest::collection::vec(
                proptest::collection::vec("[ab\u{0}é]{0,3}", 0..20), 0..6),
        ) {
            let sorted: Vec<Vec<&str>> = runs
                .iter()
                .map(|r| {
                    let mut r: Vec<&str> = r.iter().map(String::as_str).collect();
                    r.sort();
                    r
                })
                .collect();
            let slices: Vec<&[&str]> = sorted.iter().map(Vec::as_slice).collect();
            let want: Vec<&str> = runs.iter().flatten().map(String::as_str)
                .collect::<BTreeSet<_>>().into_iter().collect();
            prop_assert_eq!(union(&slices), want);
        }

        /// Runs out of order never make it panic, and every string still appears.
        #[test]
        fn unsorted_runs_lose_nothing(
            runs in proptest::collection::vec(
                proptest::collection::vec("[abc]{0,2}", 0..10), 0..5),
        ) {
            let lists: Vec<Vec<&str>> =
                runs.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
            let slices: Vec<&[&str]> = lists.iter().map(Vec::as_slice).collect();
            let got: BTreeSet<&str> = union(&slices).into_iter().collect();
            let want: BTreeSet<&str> = lists.iter().flatten().copied().collect();
            prop_assert_eq!(got, want);
        }
    }
}
