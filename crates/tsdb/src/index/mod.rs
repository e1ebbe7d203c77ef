//! The inverted index: postings (sorted series ids per label pair), the set operations
//! on them, and the evaluation of Prometheus matchers over any [`LabelIndex`] (the head's
//! label index and the blocks both implement it).

pub mod postings;

pub use postings::{intersect, merge_union, subtract};

use strata_core::{MatchOp, Matcher};

/// What matcher evaluation needs from an index. Ids are local to the index.
pub trait LabelIndex {
    /// Every series id, sorted.
    fn all_postings(&self) -> Vec<u32>;
    /// Calls `f` for every value of label `name`.
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str));
    /// Appends the ids of series with `name="value"` (sorted) to `out`.
    fn postings(&self, name: &str, value: &str, out: &mut Vec<u32>);
}

/// Ids (sorted) of the series that satisfy every matcher, with Prometheus semantics: a
/// matcher that matches the empty string also selects series without the label.
pub fn select(index: &dyn LabelIndex, matchers: &[Matcher]) -> Vec<u32> {
    let mut result: Option<Vec<u32>> = None;
    let mut excluded: Vec<Vec<u32>> = Vec::new();
    for m in matchers {
        if m.matches_empty() {
            // Select by exclusion: drop series whose value is set and does not match.
            excluded.push(postings_where(index, m, false));
        } else {
            let p = postings_where(index, m, true);
            result = Some(match result {
                None => p,
                Some(r) => intersect(&r, &p),
            });
        }
        if result.as_ref().is_some_and(|r| r.is_empty()) {
            return Vec::new();
        }
    }
    let mut result = result.unwrap_or_else(|| index.all_postings());
    for e in excluded {
        result = subtract(&result, &e);
    }
    result
}

/// Union of postings of the values of `m.name` for which `m.matches(value) == want`.
fn postings_where(index: &dyn LabelIndex, m: &Matcher, want: bool) -> Vec<u32> {
    let mut out = Vec::new();
    let mut lists = 0usize;
    match (m.op, want) {
        (MatchOp::Equal, true) | (MatchOp::NotEqual, false) => {
            index.postings(&m.name, &m.value, &mut out);
            return out;
        }
        _ => {}
    }
    let literal_set = if want { m.set_matches() } else { None };
    match literal_set {
        Some(values) => {
            for v in values.into_iter().filter(|v| !v.is_empty()) {
                index.postings(&m.name, v, &mut out);
                lists += 1;
            }
        }
        None => {
            let mut values = Vec::new();
            index.for_each_value(&m.name, &mut |v| {
                if m.matches(v) == want {
                    values.push(v.to_owned());
                }
            });
            for v in &values {
                index.postings(&m.name, v, &mut out);
            }
            lists = values.len();
        }
    }
    if lists > 1 {
        out.sort_unstable();
        out.dedup();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::Labels;

    /// A brute-force index over a list of label sets.
    struct Naive(Vec<Labels>);

    impl LabelIndex for Naive {
        fn all_postings(&self) -> Vec<u32> {
            (0..self.0.len() as u32).collect()
        }
        fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
            let mut vals: Vec<&str> = self.0.iter().filter_map(|l| l.get(name)).collect();
            vals.sort();
            vals.dedup();
            vals.into_iter().for_each(f);
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
