//! Hashes of label subsets: the keys that vector matching and grouping compare, computed
//! without building the subset as a label set.

use strata_core::{Labels, LabelsBuilder, METRIC_NAME};
use xxhash_rust::xxh3::Xxh3;

/// Which labels of a series take part in a key.
#[derive(Debug, Clone)]
pub(crate) enum LabelSubset {
    /// Only these labels (`on`, `by`).
    Only(Vec<String>),
    /// Every label except these and the metric name (`ignoring`, `without`, no modifier).
    AllBut(Vec<String>),
}

impl LabelSubset {
    pub fn includes(&self, name: &str) -> bool {
        match self {
            LabelSubset::Only(names) => names.iter().any(|n| n == name),
            LabelSubset::AllBut(names) => name != METRIC_NAME && !names.iter().any(|n| n == name),
        }
    }

    /// The hash of the subset's names and values.
    pub fn hash(&self, l: &Labels) -> u64 {
        let mut h = Xxh3::new();
        for label in l.iter().filter(|x| self.includes(x.name)) {
            h.update(label.name.as_bytes());
            h.update(&[0xff]);
            h.update(label.value.as_bytes());
            h.update(&[0xff]);
        }
        h.digest()
    }

    /// The subset as a label set.
    pub fn labels(&self, l: &Labels) -> Labels {
        let mut b = LabelsBuilder::new();
        for label in l.iter().filter(|x| self.includes(x.name)) {
            b.push(label.name, label.value);
        }
        b.build_unchecked()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_ignore_other_labels() {
        let a = Labels::new([("__name__", "x"), ("job", "a"), ("i", "1")]).unwrap();
        let b = Labels::new([("__name__", "y"), ("job", "a"), ("i", "2")]).unwrap();
        let on_job = LabelSubset::Only(vec!["job".into()]);
        assert_eq!(on_job.hash(&a), on_job.hash(&b));
        let ignoring_i = LabelSubset::AllBut(vec!["i".into()]);
        assert_eq!(ignoring_i.hash(&a), ignoring_i.hash(&b));
        assert_eq!(ignoring_i.labels(&a).to_string(), r#"{job="a"}"#);
        let all = LabelSubset::AllBut(vec![]);
        assert_ne!(all.hash(&a), all.hash(&b));
    }
}
