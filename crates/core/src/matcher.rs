//! Label matchers, with Prometheus semantics: regexes are fully anchored, and a missing
//! label matches as the empty string.

use regex::Regex;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid regular expression {pattern:?} for label {name:?}: {reason}")]
pub struct MatcherError {
    pub name: String,
    pub pattern: String,
    pub reason: String,
}

/// Selects series whose label `name` relates to `value` by `op`.
#[derive(Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Regex>,
}

impl Matcher {
    pub fn new(op: MatchOp, name: &str, value: &str) -> Result<Matcher, MatcherError> {
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?s:{value})$")).map_err(|e| MatcherError {
                    name: name.to_owned(),
                    pattern: value.to_owned(),
                    reason: e.to_string(),
                })?,
            ),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            re,
        })
    }

    /// `name="value"`, which cannot fail.
    pub fn equal(name: &str, value: &str) -> Matcher {
        Matcher {
            name: name.to_owned(),
            op: MatchOp::Equal,
            value: value.to_owned(),
            re: None,
        }
    }

    /// Whether a label value (empty when the label is absent) matches.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            (_, None) => unreachable!("regex matchers always carry their regex"),
        }
    }

    /// Whether the empty string matches, i.e. whether series without the label match.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// Whether every label set in `labels` satisfies all matchers.
    pub fn all_match(matchers: &[Matcher], labels: &crate::Labels) -> bool {
        matchers
            .iter()
            .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
    }

    /// For a regex matcher that is a plain alternation of literals (`a|b|c`), those
    /// literals; an index can then look them up instead of scanning every value.
    pub fn set_matches(&self) -> Option<Vec<&str>> {
        if self.op != MatchOp::Regex {
            return None;
        }
        let special = |c: char| r".+*?()[]{}^$\".contains(c);
        if self.value.is_empty() || self.value.chars().any(special) {
            return None;
        }
        Some(self.value.split('|').collect())
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Labels;

    #[test]
    fn regex_is_anchored() {
        let m = Matcher::new(MatchOp::Regex, "a", "fo+").unwrap();
        assert!(m.matches("foo"));
        assert!(!m.matches("xfoo"));
        assert!(!m.matches("foox"));
    }

    #[test]
    fn missing_label_is_empty() {
        let l = Labels::new([("a", "1")]).unwrap();
        assert!(Matcher::all_match(&[Matcher::equal("b", "")], &l));
        assert!(!Matcher::all_match(&[Matcher::equal("a", "")], &l));
        let ne = Matcher::new(MatchOp::NotEqual, "b", "x").unwrap();
        assert!(Matcher::all_match(&[ne], &l));
    }

    #[test]
    fn bad_regex_names_label() {
        let e = Matcher::new(MatchOp::Regex, "job", "(").unwrap_err();
        assert_eq!(e.name, "job");
    }

    #[test]
    fn set_matches_only_for_literals() {
        let m = Matcher::new(MatchOp::Regex, "a", "x|y").unwrap();
        assert_eq!(m.set_matches(), Some(vec!["x", "y"]));
        let m = Matcher::new(MatchOp::Regex, "a", "x.*").unwrap();
        assert_eq!(m.set_matches(), None);
    }
}
