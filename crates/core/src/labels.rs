//! Label sets: sorted, validated, compact and cheap to clone.
//!
//! A [`Labels`] is one reference-counted byte buffer holding each label as
//! `varint(len) name varint(len) value`, sorted by name. One allocation per series keeps
//! the head small and makes cloning a label set (one per sample in a write batch) a
//! reference-count increment. The metric name is the label `__name__`, as in Prometheus.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// Why a label set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("invalid label name {0:?}: must match [a-zA-Z_][a-zA-Z0-9_]*")]
    InvalidName(String),
    #[error("invalid metric name {0:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*")]
    InvalidMetricName(String),
    #[error("duplicate label name {0:?}")]
    Duplicate(String),
    #[error("malformed encoded label set")]
    Malformed,
}

/// One label, borrowed from its [`Labels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

// Character classes of names, as bit flags in a byte table: parsers validate every
// name of every line, so this is on the ingest hot path.
const NAME_START: u8 = 1;
const NAME_REST: u8 = 2;
const METRIC_START: u8 = 4;
const METRIC_REST: u8 = 8;

const NAME_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let alpha = c.is_ascii_alphabetic() || c == b'_';
        let digit = c.is_ascii_digit();
        if alpha {
            t[b] |= NAME_START | NAME_REST | METRIC_START | METRIC_REST;
        }
        if digit {
            t[b] |= NAME_REST | METRIC_REST;
        }
        if c == b':' {
            t[b] |= METRIC_START | METRIC_REST;
        }
        b += 1;
    }
    t
};

fn is_name_of_class(name: &str, start: u8, rest: u8) -> bool {
    match name.as_bytes().split_first() {
        Some((first, tail)) => {
            NAME_CLASS[*first as usize] & start != 0
                && tail.iter().all(|b| NAME_CLASS[*b as usize] & rest != 0)
        }
        None => false,
    }
}

/// True for a valid Prometheus label name.
pub fn is_valid_label_name(name: &str) -> bool {
    is_name_of_class(name, NAME_START, NAME_REST)
}

/// True for a valid Prometheus metric name.
pub fn is_valid_metric_name(name: &str) -> bool {
    is_name_of_class(name, METRIC_START, METRIC_REST)
}

/// A sorted set of labels with unique names and non-empty values.
#[derive(Clone, Default)]
pub struct Labels {
    buf: Arc<[u8]>,
}

impl Labels {
    /// Builds a validated label set from pairs in any order. Empty values drop the label.
    pub fn new<N: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Labels, LabelError> {
        let mut b = LabelsBuilder::new();
        for (n, v) in pairs {
            b.push(n.as_ref(), v.as_ref());
        }
        b.build()
    }

    /// Builds a validated label set from borrowed pairs, sorting them in place: the
    /// allocation-free path for parsers (one allocation, for the result).
    pub fn from_pairs(pairs: &mut [(&str, &str)]) -> Result<Labels, LabelError> {
        for (n, v) in pairs.iter() {
            check_label(n, v)?;
        }
        pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(LabelError::Duplicate(w[0].0.to_owned()));
        }
        Ok(encode(pairs.iter().map(|(n, v)| (*n, *v))))
    }

    /// A label set from pairs a store kept in name order, their names validated when
    /// the set was first built: checks only that names strictly ascend. Being `&str`,
    /// the pairs need no UTF-8 check, which [`Labels::from_bytes`] spends most time on.
    pub fn from_sorted_pairs<'a>(
        pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Result<Labels, LabelError> {
        let mut names = pairs.clone().map(|(n, _)| n);
        if let Some(mut prev) = names.next() {
            for n in names {
                if n <= prev {
                    return Err(LabelError::Malformed);
                }
                prev = n;
            }
        }
        Ok(encode(pairs))
    }

    /// The empty label set.
    pub fn empty() -> Labels {
        Labels::default()
    }

    /// Iterates the labels in name order.
    pub fn iter(&self) -> LabelIter<'_> {
        LabelIter { rest: &self.buf }
    }

    /// The labels as raw `(name, value)` bytes, in name order. Comparing and hashing
    /// need only bytes, and [`Labels::iter`] checks each string's UTF-8 again, which
    /// costs more than that work. The pairs order as the label sets do, so
    /// `a.byte_pairs().cmp(b.byte_pairs()) == a.cmp(&b)`.
    pub fn byte_pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Clone + '_ {
        let mut rest = self.as_bytes();
        std::iter::from_fn(move || {
            let (name, r) = read_bytes(rest)?;
            let (value, r) = read_bytes(r)?;
            rest = r;
            Some((name, value))
        })
    }

    /// `sets` in turn, each asked into the cache a few sets ahead: a pass over the
    /// label sets of thousands of series (grouping, naming) otherwise waits on a cache
    /// miss for each, their buffers being separate allocations. A hint only.
    pub fn prefetching(sets: &[Labels]) -> impl Iterator<Item = &Labels> {
        const AHEAD: usize = 8;
        sets.iter().enumerate().map(move |(i, l)| {
            if let Some(ahead) = sets.get(i + AHEAD) {
                ahead.prefetch();
            }
            l
        })
    }

    /// Asks the CPU to start loading the set's first bytes: a hint, no effect on results.
    #[inline(always)]
    fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            // SAFETY: SSE is part of every x86-64 CPU, and a prefetch never faults nor
            // reads into the program: any address is allowed.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(self.buf.as_ptr().cast::<i8>()) };
        }
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|l| l.name == name).map(|l| l.value)
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// A stable 64-bit hash of the label set (xxh3 of its encoding); equal sets hash equal
    /// in every process and version, so it may be persisted.
    pub fn hash64(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&self.buf)
    }

    /// The encoded form, for persisting. [`Labels::from_bytes`] reads it back.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Reads back an encoding made by [`Labels::as_bytes`], checking its structure, order
    /// and UTF-8 (not name syntax: it was validated when first built).
    pub fn from_bytes(bytes: &[u8]) -> Result<Labels, LabelError> {
        let mut rest = bytes;
        let mut prev: Option<&str> = None;
        while !rest.is_empty() {
            let (name, r) = read_str(rest).ok_or(LabelError::Malformed)?;
            let (_, r) = read_str(r).ok_or(LabelError::Malformed)?;
            if prev.is_some_and(|p| p >= name) {
                return Err(LabelError::Malformed);
            }
            prev = Some(name);
            rest = r;
        }
        Ok(Labels { buf: bytes.into() })
    }

    /// A builder starting from this set, to add, change or drop labels.
    pub fn to_builder(&self) -> LabelsBuilder {
        let mut b = LabelsBuilder::new();
        for l in self.iter() {
            b.pairs.push((l.name.to_owned(), l.value.to_owned()));
        }
        b
    }

    /// The set without the named labels.
    pub fn without(&self, names: &[impl AsRef<str>]) -> Labels {
        self.filtered(|n| !names.iter().any(|x| x.as_ref() == n))
    }

    /// The set with only the named labels.
    pub fn keep(&self, names: &[impl AsRef<str>]) -> Labels {
        self.filtered(|n| names.iter().any(|x| x.as_ref() == n))
    }

    /// The set without its metric name.
    pub fn without_metric_name(&self) -> Labels {
        self.filtered(|n| n != METRIC_NAME)
    }

    fn filtered(&self, keep: impl Fn(&str) -> bool + Clone) -> Labels {
        encode(
            self.iter()
                .filter(move |l| keep(l.name))
                .map(|l| (l.name, l.value)),
        )
    }
}

impl PartialEq for Labels {
    /// Identity first: decoders and the head hand out shared label sets, and
    /// `Arc<[u8]>`'s equality compares the bytes even for one allocation (std's pointer
    /// shortcut needs a sized type). That compare was 3% of ingest CPU.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.buf, &other.buf) || self.buf == other.buf
    }
}

impl Eq for Labels {}

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.buf.hash(state)
    }
}

impl Ord for Labels {
    /// Label by label, name then value, as Prometheus orders label sets (compared as
    /// bytes, which order as the strings do, without checking UTF-8 again).
    fn cmp(&self, other: &Self) -> Ordering {
        self.byte_pairs().cmp(other.byte_pairs())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Labels {
    /// Prometheus notation: `name{a="b", c="d"}`, values escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for l in self.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Iterator over a label set, in name order.
#[derive(Clone)]
pub struct LabelIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = Label<'a>;

    fn next(&mut self) -> Option<Label<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        // The buffer was written by this module (or checked by `from_bytes`), so both reads succeed.
        let (name, r) = read_str(self.rest)?;
        let (value, r) = read_str(r)?;
        self.rest = r;
        Some(Label { name, value })
    }
}

/// Collects labels in any order and builds a sorted, checked [`Labels`].
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    pairs: Vec<(String, String)>,
}

impl LabelsBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a label; a second label of the same name is an error at [`Self::build`].
    pub fn push(&mut self, name: &str, value: &str) -> &mut Self {
        self.pairs.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets a label, replacing any of the same name; an empty value removes it.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.pairs.retain(|(n, _)| n != name);
        if !value.is_empty() {
            self.pairs.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// Removes a label.
    pub fn del(&mut self, name: &str) -> &mut Self {
        self.pairs.retain(|(n, _)| n != name);
        self
    }

    /// The current value of a label.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Validates names, sorts and encodes. Labels with empty values are dropped.
    pub fn build(mut self) -> Result<Labels, LabelError> {
        for (n, v) in &self.pairs {
            check_label(n, v)?;
        }
        self.pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = self.pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(LabelError::Duplicate(w[0].0.clone()));
        }
        Ok(self.encode())
    }

    /// Sorts and encodes without checking name syntax, for label sets computed by the
    /// query engine; later labels of the same name win.
    pub fn build_unchecked(mut self) -> Labels {
        self.pairs.reverse();
        self.pairs.sort_by(|a, b| a.0.cmp(&b.0));
        self.pairs.dedup_by(|later, earlier| later.0 == earlier.0);
        self.encode()
    }

    fn encode(self) -> Labels {
        encode(self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
    }
}

fn check_label(name: &str, value: &str) -> Result<(), LabelError> {
    if name == METRIC_NAME {
        if !is_valid_metric_name(value) {
            return Err(LabelError::InvalidMetricName(value.to_owned()));
        }
    } else if !is_valid_label_name(name) {
        return Err(LabelError::InvalidName(name.to_owned()));
    }
    Ok(())
}

/// Encodes sorted pairs, leaving out empty values, straight into the shared buffer (one
/// allocation: parsers build a label set per series they have not seen).
fn encode<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> Labels {
    let pairs = pairs.filter(|(_, v)| !v.is_empty());
    let size: usize = pairs
        .clone()
        .map(|(n, v)| encoded_len(n) + encoded_len(v))
        .sum();
    let mut buf: Arc<[u8]> = Arc::default();
    if size > 0 {
        // SAFETY: zeroed memory is a valid `[u8]`.
        buf = unsafe { Arc::<[u8]>::new_zeroed_slice(size).assume_init() };
        let out = Arc::get_mut(&mut buf).expect("a new Arc is unique");
        let mut at = 0;
        for (n, v) in pairs {
            at = put_str(out, at, n);
            at = put_str(out, at, v);
        }
        debug_assert_eq!(at, size);
    }
    Labels { buf }
}

fn encoded_len(s: &str) -> usize {
    let mut n = s.len();
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len + s.len()
}

/// Writes `s` with its varint length at `out[at..]`, returning the end.
fn put_str(out: &mut [u8], mut at: usize, s: &str) -> usize {
    let mut n = s.len();
    while n >= 0x80 {
        out[at] = (n as u8) | 0x80;
        n >>= 7;
        at += 1;
    }
    out[at] = n as u8;
    at += 1;
    out[at..at + s.len()].copy_from_slice(s.as_bytes());
    at + s.len()
}

fn read_str(buf: &[u8]) -> Option<(&str, &[u8])> {
    let (s, rest) = read_bytes(buf)?;
    Some((std::str::from_utf8(s).ok()?, rest))
}

/// The first length-prefixed string of `buf` and the rest; `None` at the end or at a
/// bad length (never, for a buffer this module wrote).
fn read_bytes(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut len = 0usize;
    let mut shift = 0;
    let mut i = 0;
    loop {
        let b = *buf.get(i)?;
        i += 1;
        len |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
    let end = i.checked_add(len)?;
    Some((buf.get(i..end)?, &buf[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sorted_pairs_read_back_and_disorder_is_refused() {
        let l = Labels::new([("__name__", "up"), ("a", "1"), ("b", "2")]).unwrap();
        let again = Labels::from_sorted_pairs(l.iter().map(|l| (l.name, l.value))).unwrap();
        assert_eq!(again, l);
        let swapped = [("b", "2"), ("a", "1")];
        assert!(Labels::from_sorted_pairs(swapped.into_iter()).is_err());
        let repeated = [("a", "1"), ("a", "2")];
        assert!(Labels::from_sorted_pairs(repeated.into_iter()).is_err());
    }

    #[test]
    fn sorted_and_validated() {
        let l = Labels::new([("b", "2"), ("__name__", "up"), ("a", "1")]).unwrap();
        let names: Vec<_> = l.iter().map(|l| l.name).collect();
        assert_eq!(names, ["__name__", "a", "b"]);
        assert_eq!(l.metric_name(), Some("up"));
        assert_eq!(l.to_string(), r#"up{a="1", b="2"}"#);
        assert!(matches!(
            Labels::new([("1a", "x")]),
            Err(LabelError::InvalidName(_))
        ));
        assert!(matches!(
            Labels::new([("__name__", "a-b")]),
            Err(LabelError::InvalidMetricName(_))
        ));
        assert!(matches!(
            Labels::new([("a", "x"), ("a", "y")]),
            Err(LabelError::Duplicate(_))
        ));
    }

    #[test]
    fn from_pairs_sorts_and_checks() {
        let mut pairs = [("job", "x"), ("__name__", "up")];
        let l = Labels::from_pairs(&mut pairs).unwrap();
        assert_eq!(l, Labels::new([("__name__", "up"), ("job", "x")]).unwrap());
        let mut dup = [("a", "1"), ("a", "2")];
        assert!(Labels::from_pairs(&mut dup).is_err());
    }

    #[test]
    fn empty_values_drop_the_label() {
        let l = Labels::new([("a", ""), ("b", "1")]).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l.get("a"), None);
    }

    #[test]
    fn long_values_round_trip() {
        let v = "x".repeat(70_000);
        let l = Labels::new([("a", v.as_str())]).unwrap();
        assert_eq!(l.get("a"), Some(v.as_str()));
        assert_eq!(Labels::from_bytes(l.as_bytes()).unwrap(), l);
    }

    proptest! {
        #[test]
        fn byte_pairs_order_as_labels(
            a in proptest::collection::btree_map("[ab_]{1,2}", "[aé\u{0}]{1,3}|a{120,140}", 0..4),
            b in proptest::collection::btree_map("[ab_]{1,2}", "[aé\u{0}]{1,3}|a{120,140}", 0..4),
        ) {
            let a = Labels::new(a).unwrap();
            let b = Labels::new(b).unwrap();
            prop_assert_eq!(a.byte_pairs().cmp(b.byte_pairs()), a.cmp(&b));
            let checked: Vec<(&[u8], &[u8])> =
                a.iter().map(|l| (l.name.as_bytes(), l.value.as_bytes())).collect();
            prop_assert_eq!(a.byte_pairs().collect::<Vec<_>>(), checked);
        }

        #[test]
        fn from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(l) = Labels::from_bytes(&bytes) {
                prop_assert_eq!(l.iter().count(), l.len());
            }
        }

        #[test]
        fn encoding_round_trips(pairs in proptest::collection::btree_map("[a-z_][a-z0-9_]{0,8}", ".{1,12}", 0..6)) {
            let l = Labels::new(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap();
            prop_assert_eq!(Labels::from_bytes(l.as_bytes()).unwrap(), l.clone());
            let back: Vec<_> = l.iter().map(|x| (x.name.to_owned(), x.value.to_owned())).collect();
            let want: Vec<_> = pairs.into_iter().collect();
            prop_assert_eq!(back, want);
        }
    }
}
