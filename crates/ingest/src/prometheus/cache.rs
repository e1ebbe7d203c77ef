//! Label sets of the series of the previous body, in the order they came.
//!
//! A source sends the same series in the same order every interval. Comparing the start
//! of a line with the series text (`name{label="value",…}`) at the same place in the
//! previous body, and reusing that label set when they match, skips scanning,
//! unescaping, validating, sorting and encoding its labels: the most expensive part of
//! decoding a line. Reusing the label set itself (a shared buffer) also lets the store
//! recognise the series by pointer instead of comparing its bytes. The previous body is kept as one contiguous buffer and walked in order, so
//! the check streams through memory instead of probing a hash table (which, past a
//! few thousand series, costs more in cache misses than it saves). A series added to
//! or missing from the body costs only that line; bodies from unrelated sources simply
//! miss, at the price of recording their series.

use rustc_hash::FxHashMap;
use strata_core::Labels;

/// Which float label of a series is normalised: part of the match, as the same text
/// yields different labels under a histogram's, a summary's or no `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FloatLabel {
    None,
    Le,
    Quantile,
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

/// The series of one body, in order: their texts end to end, and per series where its
/// text ends, its normalisation and its label set.
#[derive(Default)]
struct Recorded {
    text: Vec<u8>,
    series: Vec<(usize, FloatLabel, Labels)>,
}

impl Recorded {
    fn clear(&mut self) {
        self.text.clear();
        self.series.clear();
    }

    /// Keeps the first `n` series.
    fn truncate(&mut self, n: usize) {
        self.series.truncate(n);
        self.text
            .truncate(n.checked_sub(1).map_or(0, |last| self.series[last].0));
    }

    fn push(&mut self, mode: FloatLabel, text: &[u8], labels: &Labels) {
        self.text.extend_from_slice(text);
        self.series.push((self.text.len(), mode, labels.clone()));
    }

    /// The label set of series `i`, if its text is `text`.
    fn matches_exactly(&self, i: usize, mode: FloatLabel, text: &[u8]) -> Option<&Labels> {
        let (end, m, labels) = self.series.get(i)?;
        let start = i.checked_sub(1).map_or(0, |p| self.series[p].0);
        (*m == mode && &self.text[start..*end] == text).then_some(labels)
    }

    /// The label set of series `i` and the length of its text, if `line` starts with
    /// that series text followed by what can only follow a complete series text: blanks
    /// and then no `{` (`up {…}` is the series `up{…}`, not `up`).
    fn matches(&self, i: usize, mode: FloatLabel, line: &[u8]) -> Option<(usize, &Labels)> {
        let (end, m, labels) = self.series.get(i)?;
        let start = i.checked_sub(1).map_or(0, |p| self.series[p].0);
        let text = &self.text[start..*end];
        if *m != mode || !line.starts_with(text) {
            return None;
        }
        let after = &line[text.len()..];
        let value = after.iter().position(|b| !matches!(b, b' ' | b'\t'))?;
        (value > 0 && after[value] != b'{').then_some((text.len(), labels))
    }
}

fn built_key(mode: FloatLabel, text: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(text, mode as u64)
}

/// Remembers at most `capacity` series of the previous body (0: nothing).
pub(crate) struct SeriesCache {
    capacity: usize,
    previous: Recorded,
    current: Recorded,
    /// Where in `previous` the next line is expected.
    cursor: usize,
    /// While the body repeats the previous one line for line, its series are
    /// `previous[..repeated]` and are not copied into `current` (the common case: a
    /// source sending the same series every time).
    in_step: bool,
    repeated: usize,
    /// The index in `previous` of the latest line's [`Self::get`] match.
    last_match: Option<usize>,
    /// Series of the current body whose label set was built here, by a hash of their
    /// text and normalisation: a body holding several scrapes repeats each series, and
    /// gets one label set per series (one shared buffer, which the store resolves once).
    built: FxHashMap<u64, usize>,
}

impl SeriesCache {
    pub fn new(capacity: usize) -> Self {
        SeriesCache {
            capacity,
            previous: Recorded::default(),
            current: Recorded::default(),
            cursor: 0,
            in_step: true,
            repeated: 0,
            last_match: None,
            built: FxHashMap::default(),
        }
    }

    /// Starts a body: the series recorded so far become the ones to match.
    pub fn start_body(&mut self) {
        if self.capacity == 0 {
            return;
        }
        if self.in_step {
            self.previous.truncate(self.repeated);
        } else {
            std::mem::swap(&mut self.previous, &mut self.current);
        }
        self.current.clear();
        self.built.clear();
        self.cursor = 0;
        self.in_step = true;
        self.repeated = 0;
        self.last_match = None;
    }

    /// The label set of the series expected next and the length of its text, if `line`
    /// starts with that text (or the one after: a series may have gone missing since).
    pub fn get(&mut self, mode: FloatLabel, line: &[u8]) -> Option<(usize, Labels)> {
        self.last_match = None;
        for skip in 0..2 {
            let i = self.cursor + skip;
            if let Some((len, labels)) = self.previous.matches(i, mode, line) {
                self.cursor = i + 1;
                self.last_match = Some(i);
                return Some((len, labels.clone()));
            }
        }
        None
    }

    /// The label set built earlier in this body for series text `text`, if any.
    pub fn get_built(&self, mode: FloatLabel, text: &[u8]) -> Option<Labels> {
        if self.built.is_empty() {
            return None;
        }
        let i = *self.built.get(&built_key(mode, text))?;
        self.current.matches_exactly(i, mode, text).cloned()
    }

    /// Records a series of the current body found by [`Self::get`] or [`Self::get_built`].
    pub fn record(&mut self, mode: FloatLabel, text: &[u8], labels: &Labels) {
        if self.in_step && self.last_match == Some(self.repeated) {
            self.repeated += 1;
            return;
        }
        self.leave_step();
        if self.current.series.len() < self.capacity {
            self.current.push(mode, text, labels);
        }
    }

    /// Records a series of the current body whose label set was just built.
    pub fn record_built(&mut self, mode: FloatLabel, text: &[u8], labels: &Labels) {
        self.leave_step();
        if self.current.series.len() < self.capacity {
            self.built
                .insert(built_key(mode, text), self.current.series.len());
            self.current.push(mode, text, labels);
        }
    }

    /// The body no longer repeats the previous one: copy the series it did repeat.
    fn leave_step(&mut self) {
        if !self.in_step {
            return;
        }
        self.in_step = false;
        let end = self
            .repeated
            .checked_sub(1)
            .map_or(0, |last| self.previous.series[last].0);
        self.current
            .text
            .extend_from_slice(&self.previous.text[..end]);
        self.current
            .series
            .extend_from_slice(&self.previous.series[..self.repeated]);
    }

    /// Series recorded from the latest body.
    pub fn len(&self) -> usize {
        if self.in_step {
            self.repeated
        } else {
            self.current.series.len()
        }
    }
}
