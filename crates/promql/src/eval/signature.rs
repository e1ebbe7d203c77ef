//! Hashes of label subsets: the keys that vector matching and grouping compare, computed
//! without building the subset as a label set; and the hash maps keyed by them.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use strata_core::{Labels, LabelsBuilder, METRIC_NAME};
use xxhash_rust::xxh3::{xxh3_64, Xxh3DefaultBuilder};

/// Keys that already are hashes pass through unchanged.
#[derive(Default)]
pub(crate) struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxh3_64(bytes);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by a signature hash.
pub(crate) type SigMap<V> = HashMap<u64, V, BuildHasherDefault<PrehashedHasher>>;
/// A set of signature hashes.
pub(crate) type SigSet = HashSet<u64, BuildHasherDefault<PrehashedHasher>>;
/// A map keyed by label sets, hashed with xxh3 rather than SipHash.
pub(crate) type LabelsMap<V> = HashMap<Labels, V, Xxh3DefaultBuilder>;

/// Which labels of a series take part in a key.
#[derive(Debug, Clone)]
pub(crate) enum LabelSubset {
    /// Only these labels (`on`, `by`).
    Only(Vec<String>),
    /// Every label except these and the metric name (`ignoring`, `without`, no modifier).
    AllBut(Vec<String>),
}

impl LabelSubset {
    pub fn includes(&self, name: &[u8]) -> bool {
        let named = |names: &[String]| names.iter().any(|n| n.as_bytes() == name);
        match self {
            LabelSubset::Only(names) => named(names),
            LabelSubset::AllBut(names) => name != METRIC_NAME.as_bytes() && !named(names),
        }
    }

    /// The hash of the subset's names and values, for each label set.
    pub fn hashes(&self, series: &[Labels]) -> Vec<u64> {
        let mut buf = Vec::new();
        Labels::prefetching(series)
            .map(|l| {
                buf.clear();
                for (name, value) in l.byte_pairs().filter(|(n, _)| self.includes(n)) {
                    buf.extend_from_slice(name);
                    buf.push(0xff);
                    buf.extend_from_slice(value);
                    buf.push(0xff);
                }
                xxh3_64(&buf)
            })
            .collect()
    }

    /// The subset as a label set.
    pub fn labels(&self, l: &Labels) -> Labels {
        let mut b = LabelsBuilder::new();
        for label in l.iter().filter(|x| self.includes(x.name.as_bytes())) {
            b.push(label.name, label.value);
        }
        b.build_unchecked()
    }
}

/// The metric name of `l` as bytes, if it has one.
pub(crate) fn raw_metric_name(l: &Labels) -> Option<&[u8]> {
    l.byte_pairs()
        .find_map(|(n, v)| (n == METRIC_NAME.as_bytes()).then_some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label_sets() -> impl proptest::strategy::Strategy<Value = Labels> {
        use proptest::prelude::*;
        let value = prop_oneof!["[ab]{0,3}", "[aé]{0,3}", "a{126,130}"];
        proptest::collection::btree_map("__name__|[ab_]{1,2}", value, 0..4)
            .prop_filter_map("a valid label set", |m| {
                Labels::new(m.iter().map(|(k, v)| (k.as_str(), v.as_str()))).ok()
            })
    }

    proptest::proptest! {
        #[test]
        fn raw_metric_name_is_the_metric_name(l in label_sets()) {
            proptest::prop_assert_eq!(raw_metric_name(&l), l.metric_name().map(str::as_bytes));
        }
    }

    #[test]
    fn subsets_ignore_other_labels() {
        let a = Labels::new([("__name__", "x"), ("job", "a"), ("i", "1")]).unwrap();
        let b = Labels::new([("__name__", "y"), ("job", "a"), ("i", "2")]).unwrap();
        let both = [a.clone(), b];
        let on_job = LabelSubset::Only(vec!["job".into()]).hashes(&both);
        assert_eq!(on_job[0], on_job[1]);
        let ignoring_i = LabelSubset::AllBut(vec!["i".into()]);
        let h = ignoring_i.hashes(&both);
        assert_eq!(h[0], h[1]);
        assert_eq!(ignoring_i.labels(&a).to_string(), r#"{job="a"}"#);
        let all = LabelSubset::AllBut(vec![]).hashes(&both);
        assert_ne!(all[0], all[1]);
    }
}
