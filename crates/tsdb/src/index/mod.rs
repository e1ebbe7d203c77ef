//! The inverted index: postings (sorted series ids per label pair), the set operations
//! on them, the union of sorted value lists ([`sorted`]), and the evaluation of
//! Prometheus matchers over any [`LabelIndex`] (the head's label index and the blocks
//! both implement it).
//!
//! Evaluation has two steps so that an index behind a lock need not hold it while a
//! regex scans its values: [`resolve`] turns each matcher into the label values it
//! selects or excludes (reading values only), then [`select_resolved`] reads postings.

pub mod postings;
pub mod sorted;
pub mod strings;

pub use postings::{intersect, merge_union, subtract};

use strata_core::{MatchOp, Matcher};

/// The label values of an index: what resolving a matcher reads.
pub trait LabelValues {
    /// Calls `f` for every value of label `name`.
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str));

    /// Calls `f` for every value of label `name` that starts with `prefix` (at least;
    /// more is allowed). Indexes with sorted values find the range by binary search.
    fn for_each_value_with_prefix(&self, name: &str, prefix: &str, f: &mut dyn FnMut(&str)) {
        self.for_each_value(name, &mut |v| {
            if v.starts_with(prefix) {
                f(v)
            }
        });
    }
}

/// A literal string that every value a regex matcher accepts starts with (Prometheus
/// anchors the pattern at both ends): the pattern's leading plain characters, less the
/// last one if a quantifier follows (even `+`: `a+*` allows zero `a`s). Empty when the pattern
/// has an alternation anywhere, or starts with anything else.
pub fn literal_prefix(pattern: &str) -> &str {
    const SPECIAL: &str = r".+*?()[]{}^$\|";
    if pattern.contains('|') {
        return "";
    }
    let end = pattern
        .find(|c| SPECIAL.contains(c))
        .unwrap_or(pattern.len());
    let prefix = &pattern[..end];
    if pattern[end..].starts_with(['?', '*', '{', '+']) {
        let mut chars = prefix.chars();
        chars.next_back();
        return chars.as_str();
    }
    prefix
}

/// What matcher evaluation needs from an index. Ids are local to the index.
pub trait LabelIndex: LabelValues {
    /// Every series id, sorted.
    fn all_postings(&self) -> Vec<u32>;
    /// Appends the ids of series with `name="value"` (sorted) to `out`.
    fn postings(&self, name: &str, value: &str, out: &mut Vec<u32>);
}

/// A matcher turned into label values: series with label `name` set to one of `values`
/// are selected (`include`) or excluded (not `include`, for a matcher that also matches
/// series without the label).
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved<'m> {
    name: &'m str,
    include: bool,
    values: Values<'m>,
}

#[derive(Debug, Clone, PartialEq)]
enum Values<'m> {
    /// Taken from the matcher (its value, or the literals of `a|b|c`).
    Given(Vec<&'m str>),
    /// Found by scanning the index's values.
    Scanned(Vec<String>),
}

/// Resolves every matcher against the values of `index`.
pub fn resolve<'m>(index: &dyn LabelValues, matchers: &'m [Matcher]) -> Vec<Resolved<'m>> {
    matchers.iter().map(|m| resolve_one(index, m)).collect()
}

/// The values for which `m.matches(value)` is `include`, where `include` says whether
/// `m` selects series (it does not match the empty string) or excludes them.
fn resolve_one<'m>(index: &dyn LabelValues, m: &'m Matcher) -> Resolved<'m> {
    let include = !m.matches_empty();
    let values = match (m.op, include) {
        (MatchOp::Equal, true) | (MatchOp::NotEqual, false) => Values::Given(vec![&m.value]),
        _ => match m.set_matches().filter(|_| include) {
            Some(literals) => {
                Values::Given(literals.into_iter().filter(|v| !v.is_empty()).collect())
            }
            None => {
                let mut found = Vec::new();
                let mut keep = |v: &str| {
                    if m.matches(v) == include {
                        found.push(v.to_owned());
                    }
                };
                // Only a regex that selects can skip the values outside its prefix.
                match literal_prefix(&m.value) {
                    prefix if m.op == MatchOp::Regex && include && !prefix.is_empty() => {
                        index.for_each_value_with_prefix(&m.name, prefix, &mut keep)
                    }
                    _ => index.for_each_value(&m.name, &mut keep),
                }
                Values::Scanned(found)
            }
        },
    };
    Resolved {
        name: &m.name,
        include,
        values,
    }
}

/// Ids (sorted) of the series that satisfy every matcher, with Prometheus semantics: a
/// matcher that matches the empty string also selects series without the label.
pub fn select(index: &dyn LabelIndex, matchers: &[Matcher]) -> Vec<u32> {
    select_resolved(index, &resolve(index, matchers))
}

/// Ids (sorted) of the series that satisfy every resolved matcher.
pub fn select_resolved(index: &dyn LabelIndex, resolved: &[Resolved<'_>]) -> Vec<u32> {
    let mut result: Option<Vec<u32>> = None;
    let mut excluded: Vec<Vec<u32>> = Vec::new();
    for r in resolved {
        let p = postings_of(index, r);
        if r.include {
            result = Some(match result {
                None => p,
                Some(prev) => intersect(&prev, &p),
            });
            if result.as_ref().is_some_and(|r| r.is_empty()) {
                return Vec::new();
            }
        } else {
            excluded.push(p);
        }
    }
    let mut result = result.unwrap_or_else(|| index.all_postings());
    for e in excluded {
        result = subtract(&result, &e);
    }
    result
}

/// The union of the postings of `r`'s values.
fn postings_of(index: &dyn LabelIndex, r: &Resolved<'_>) -> Vec<u32> {
    let mut out = Vec::new();
    let lists = match &r.values {
        Values::Given(values) => {
            values
                .iter()
                .for_each(|v| index.postings(r.name, v, &mut out));
            values.len()
        }
        Values::Scanned(values) => {
            values
                .iter()
                .for_each(|v| index.postings(r.name, v, &mut out));
            values.len()
        }
    };
    if lists > 1 {
        postings::sort_dedup(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use strata_core::Labels;

    #[test]
    fn literal_prefixes() {
        let cases = [
            ("host-00[1-3][0-9]{2}:9100", "host-00"),
            ("00012.*", "00012"),
            ("ab?c", "a"),
            ("ab*", "a"),
            ("ab{0,2}", "a"),
            ("ab+", "a"),
            ("ab+*", "a"),
            ("a|b.*", ""),
            ("(ab).*", ""),
            ("\\.x", ""),
            ("é.", "é"),
            ("", ""),
        ];
        for (pattern, prefix) in cases {
            assert_eq!(literal_prefix(pattern), prefix, "{pattern}");
        }
    }

    proptest! {
        /// Every value a regex matches starts with the regex's literal prefix, so
        /// skipping the values without it loses nothing.
        #[test]
        fn matched_values_start_with_the_literal_prefix(
            pattern in r"[ab.*+?|()\[\]{}0-2,é]{0,7}",
            values in proptest::collection::vec("[abé]{0,5}", 0..30),
        ) {
            let Ok(m) = Matcher::new(MatchOp::Regex, "x", &pattern) else {
                return Ok(());
            };
            let prefix = literal_prefix(&pattern);
            for v in values.iter().filter(|v| m.matches(v)) {
                prop_assert!(v.starts_with(prefix), "{:?} matches {:?} without {:?}", v, pattern, prefix);
            }
        }
    }

    /// A brute-force index over a list of label sets.
    struct Naive(Vec<Labels>);

    impl LabelValues for Naive {
        fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
            let mut vals: Vec<&str> = self.0.iter().filter_map(|l| l.get(name)).collect();
            vals.sort();
            vals.dedup();
            vals.into_iter().for_each(f);
        }
    }

    impl LabelIndex for Naive {
        fn all_postings(&self) -> Vec<u32> {
            (0..self.0.len() as u32).collect()
        }
        fn postings(&self, name: &str, value: &str, out: &mut Vec<u32>) {
            let ids = (0..self.0.len()).filter(|&i| self.0[i].get(name) == Some(value));
            out.extend(ids.map(|i| i as u32));
        }
    }

    #[test]
    fn matchers_follow_prometheus_semantics() {
        let sets: Vec<Labels> = [
            vec![("__name__", "up"), ("job", "a")],
            vec![("__name__", "up"), ("job", "b"), ("env", "prod")],
            vec![("__name__", "up")],
            vec![("__name__", "down"), ("job", "a")],
        ]
        .into_iter()
        .map(|p| Labels::new(p).unwrap())
        .collect();
        let idx = Naive(sets.clone());
        let cases: Vec<Vec<Matcher>> = vec![
            vec![Matcher::equal("job", "")],
            vec![Matcher::new(MatchOp::NotEqual, "job", "a").unwrap()],
            vec![Matcher::new(MatchOp::Regex, "job", "a|").unwrap()],
            vec![Matcher::new(MatchOp::Regex, "job", "a|b").unwrap()],
            vec![Matcher::new(MatchOp::NotRegex, "job", "a.*").unwrap()],
            vec![Matcher::new(MatchOp::NotRegex, "job", ".*").unwrap()],
            vec![
                Matcher::new(MatchOp::NotEqual, "env", "").unwrap(),
                Matcher::equal("__name__", "up"),
            ],
            vec![
                Matcher::equal("__name__", "up"),
                Matcher::new(MatchOp::Regex, "env", "").unwrap(),
            ],
            vec![],
        ];
        for ms in cases {
            let want: Vec<u32> = (0..sets.len() as u32)
                .filter(|&i| Matcher::all_match(&ms, &sets[i as usize]))
                .collect();
            assert_eq!(select(&idx, &ms), want, "{ms:?}");
        }
    }
}
