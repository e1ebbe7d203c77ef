//! Label sets of series seen in earlier bodies, found by their text as written.
//!
//! The same exporters send the same series every interval. Looking a line's series
//! text (`name{label="value",…}`) up here skips unescaping, validating, sorting and
//! encoding its labels: the most expensive part of decoding a line.

use rustc_hash::FxHashMap;
use strata_core::Labels;

/// Which float label of a series is normalised: part of the cache key, as the same text
/// yields different labels under a histogram's, a summary's or no `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FloatLabel {
    None = 0,
    Le = 1,
    Quantile = 2,
}

impl FloatLabel {
    pub fn name(self) -> Option<&'static str> {
        match self {
            FloatLabel::None => None,
            FloatLabel::Le => Some("le"),
            FloatLabel::Quantile => Some("quantile"),
        }
    }
}

/// At most `capacity` series; when full it starts over, which keeps memory bounded
/// and costs one cold body when an exporter's series churn.
pub(crate) struct SeriesCache {
    by_text: [FxHashMap<Box<[u8]>, Labels>; 3],
    capacity: usize,
}

impl SeriesCache {
    pub fn new(capacity: usize) -> Self {
        SeriesCache {
            by_text: Default::default(),
            capacity,
        }
    }

    pub fn get(&self, mode: FloatLabel, text: &[u8]) -> Option<&Labels> {
        if self.capacity == 0 {
            return None;
        }
        self.by_text[mode as usize].get(text)
    }

    pub fn insert(&mut self, mode: FloatLabel, text: &[u8], labels: &Labels) {
        if self.capacity == 0 {
            return;
        }
        if self.len() >= self.capacity {
            self.by_text.iter_mut().for_each(FxHashMap::clear);
        }
        self.by_text[mode as usize].insert(text.into(), labels.clone());
    }

    pub fn len(&self) -> usize {
        self.by_text.iter().map(FxHashMap::len).sum()
    }
}
