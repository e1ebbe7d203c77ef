//! Selectors: instant vector selectors with lookback and staleness, and range-vector
//! arguments (range selectors and subqueries) with `offset` and `@`.

use super::{step_buffers, Evaluator, Result, StepVectors, Steps};
use crate::error::{ErrorKind, QueryError};
use promql_parser::label::{MatchOp as ParserOp, Matcher as ParserMatcher, METRIC_NAME};
use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};
use std::time::{Duration, UNIX_EPOCH};
use strata_core::{is_stale_nan, Labels, MatchOp, Matcher, Point, Series, TimeRange};

/// A range-vector argument: its series loaded for all steps, and how to find each step's
/// window `(end - range, end]`.
pub(crate) struct MatrixArg {
    pub series: Vec<Labels>,
    pub points: Vec<Vec<Point>>,
    pub range: i64,
    offset: i64,
    at: Option<i64>,
    /// The selector, when the argument is a plain range selector (not a subquery).
    pub selector: Option<VectorSelector>,
}

impl MatrixArg {
    /// The time a step's function call sees as "now" (`@` replaces the step time).
    pub fn call_time(&self, t: i64) -> i64 {
        self.at.unwrap_or(t)
    }

    /// Whether `@` fixes the window, the same for every step.
    pub fn is_pinned(&self) -> bool {
        self.at.is_some()
    }

    /// The inclusive end of the window for step time `t`.
    pub fn range_end(&self, t: i64) -> i64 {
        self.call_time(t) - self.offset
    }

    /// Calls `f(series id, step index, window)` for every non-empty window, walking each
    /// series once with two cursors.
    pub fn for_each_window(
        &self,
        ev: &mut Evaluator<'_>,
        steps: &Steps,
        mut f: impl FnMut(usize, usize, &[Point]) -> Result<()>,
    ) -> Result<()> {
        for (id, pts) in self.points.iter().enumerate() {
            ev.check()?;
            let (mut lo, mut hi) = (0, 0);
            for i in 0..steps.len() {
                let end = self.range_end(steps.time(i));
                while hi < pts.len() && pts[hi].t <= end {
                    hi += 1;
                }
                while lo < hi && pts[lo].t <= end - self.range {
                    lo += 1;
                }
                if lo < hi {
                    f(id, i, &pts[lo..hi])?;
                }
            }
        }
        Ok(())
    }
}

/// The series an instant vector selector read, and how each step picks its sample.
pub(crate) struct InstantSelection {
    pub series: Vec<Series>,
    at: Option<i64>,
    offset: i64,
    lookback: i64,
}

impl InstantSelection {
    /// The points held, over all series.
    pub fn points(&self) -> usize {
        self.series.iter().map(|s| s.points.len()).sum()
    }

    /// Calls `f(series id, step index, point)` for every step at which a series has a
    /// sample: its latest point within the lookback window `(t - lookback, t]`, unless
    /// that is a staleness marker. Series go in order, each walked once with a cursor
    /// and its points dropped after, so a big selection's points and what `f` builds
    /// from them are never all held at once. Returns the series' labels.
    pub fn walk(
        self,
        ev: &mut Evaluator<'_>,
        s: &Steps,
        mut f: impl FnMut(u32, usize, Point),
    ) -> Result<Vec<Labels>> {
        let eff = |t: i64| self.at.unwrap_or(t) - self.offset;
        let mut labels = Vec::with_capacity(self.series.len());
        for (id, ser) in self.series.into_iter().enumerate() {
            ev.check()?;
            labels.push(ser.labels);
            let pts = &ser.points;
            let mut j = 0;
            for i in 0..s.len() {
                let t = eff(s.time(i));
                while j < pts.len() && pts[j].t <= t {
                    j += 1;
                }
                if j > 0 {
                    let p = pts[j - 1];
                    if p.t > t - self.lookback && !is_stale_nan(p.v) {
                        f(id as u32, i, p);
                    }
                }
            }
        }
        Ok(labels)
    }
}

impl Evaluator<'_> {
    /// The `@` time of a selector or subquery, in milliseconds.
    pub fn at_time(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(match t.duration_since(UNIX_EPOCH) {
                Ok(d) => millis(d),
                Err(e) => -millis(e.duration()),
            }),
        }
    }

    /// Selects the series of `vs` with points in `range`, enforcing the series and
    /// sample limits.
    fn select(&mut self, vs: &VectorSelector, range: TimeRange) -> Result<Vec<Series>> {
        let sets = matcher_sets(vs)?;
        let mut out = Vec::new();
        for set in &sets {
            out.extend(self.store.select(set, range)?);
        }
        if sets.len() > 1 {
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            out.dedup_by(|a, b| a.labels == b.labels);
        }
        self.stats.series_loaded += out.len();
        if self.stats.series_loaded > self.opts.max_series {
            return Err(QueryError::new(
                ErrorKind::TooManySeries,
                format!(
                    "query would select more than {} series (the series limit, METRICS_QUERY_MAX_SERIES)",
                    self.opts.max_series
                ),
            ));
        }
        let loaded = out.iter().map(|s| s.points.len()).sum::<usize>();
        self.stats.samples_loaded += loaded;
        self.hold_samples(loaded)?;
        Ok(out)
    }

    /// An instant vector selector at every step: each series' latest sample within the
    /// lookback window `(t - lookback, t]`, unless that sample is a staleness marker.
    /// `value` turns the chosen point into the sample value.
    pub fn vector_selector(
        &mut self,
        vs: &VectorSelector,
        s: &Steps,
        value: impl Fn(Point) -> f64,
    ) -> Result<StepVectors> {
        let sel = self.select_instant(vs, s)?;
        let mut steps = step_buffers(s.len(), sel.series.len(), sel.points());
        let series = sel.walk(self, s, |id, i, p| steps[i].push((id, value(p))))?;
        Ok(StepVectors { series, steps })
    }

    /// Selects the series of an instant vector selector for every step of `s`.
    pub fn select_instant(&mut self, vs: &VectorSelector, s: &Steps) -> Result<InstantSelection> {
        let at = self.at_time(&vs.at);
        let offset = offset_ms(&vs.offset);
        let lookback = millis(self.opts.lookback_delta);
        let eff = |t: i64| at.unwrap_or(t) - offset;
        let series = if s.len() == 0 {
            Vec::new()
        } else {
            let range = TimeRange::new(
                eff(s.start).saturating_sub(lookback).saturating_add(1),
                eff(s.end),
            );
            self.select(vs, range)?
        };
        Ok(InstantSelection {
            series,
            at,
            offset,
            lookback,
        })
    }

    /// Loads a range-vector argument (a range selector or a subquery, maybe in
    /// parentheses) for every step of `s`.
    pub fn matrix_arg(&mut self, e: &Expr, s: &Steps) -> Result<MatrixArg> {
        match e {
            Expr::Paren(p) => self.matrix_arg(&p.expr, s),
            Expr::MatrixSelector(ms) => {
                let vs = &ms.vs;
                let at = self.at_time(&vs.at);
                let offset = offset_ms(&vs.offset);
                let range = millis(ms.range);
                let first = at.unwrap_or(s.start) - offset;
                let last = at.unwrap_or(s.end) - offset;
                let series = self.select(vs, TimeRange::new(first - range + 1, last))?;
                let (labels, points) = series
                    .into_iter()
                    .map(|mut s| {
                        s.points.retain(|p| !is_stale_nan(p.v));
                        (s.labels, s.points)
                    })
                    .unzip();
                Ok(MatrixArg {
                    series: labels,
                    points,
                    range,
                    offset,
                    at,
                    selector: Some(vs.clone()),
                })
            }
            Expr::Subquery(sq) => {
                let at = self.at_time(&sq.at);
                let offset = offset_ms(&sq.offset);
                let range = millis(sq.range);
                let step = match sq.step {
                    Some(d) if !d.is_zero() => millis(d),
                    _ => millis(self.opts.no_step_subquery_interval).max(1),
                };
                let first = at.unwrap_or(s.start) - offset - range;
                let last = at.unwrap_or(s.end) - offset;
                let inner = Steps {
                    start: first.div_euclid(step) * step
                        + if first.rem_euclid(step) == 0 { 0 } else { step },
                    end: last,
                    step,
                };
                if inner.len() > self.opts.max_samples {
                    return Err(QueryError::new(
                        ErrorKind::TooManySamples,
                        format!(
                            "subquery would evaluate {} steps, more than the samples limit of {}",
                            inner.len(),
                            self.opts.max_samples
                        ),
                    ));
                }
                let v = self.eval_vector(&sq.expr, &inner)?;
                self.hold_samples(v.steps.iter().map(Vec::len).sum())?;
                let mut points = vec![Vec::new(); v.series.len()];
                for (i, samples) in v.steps.iter().enumerate() {
                    for &(id, x) in samples {
                        points[id as usize].push(Point {
                            t: inner.time(i),
                            v: x,
                        });
                    }
                }
                Ok(MatrixArg {
                    series: v.series,
                    points,
                    range,
                    offset,
                    at,
                    selector: None,
                })
            }
            _ => Err(QueryError::bad_data(format!(
                "expected a range vector, got {e}"
            ))),
        }
    }
}

/// A duration in milliseconds, capped at [`MAX_MS`].
pub(crate) fn millis(d: Duration) -> i64 {
    clamp_ms(d.as_millis() as i128)
}

/// Capped times and durations: a sum of a few of them cannot overflow an `i64`.
pub(crate) const MAX_MS: i64 = 1 << 60;

/// A time or duration in milliseconds, capped to ±[`MAX_MS`] (36 million years).
pub(crate) fn clamp_ms(v: i128) -> i64 {
    v.clamp(-i128::from(MAX_MS), i128::from(MAX_MS)) as i64
}

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => millis(*d),
        Some(Offset::Neg(d)) => -millis(*d),
    }
}

/// The selector's matchers as Strata matchers: one set, or one per `or` alternative.
fn matcher_sets(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>> {
    let convert = |ms: &[ParserMatcher]| -> Result<Vec<Matcher>> {
        let mut out: Vec<Matcher> = ms.iter().map(convert_matcher).collect::<Result<_>>()?;
        if let Some(name) = &vs.name {
            out.push(Matcher::equal(METRIC_NAME, name));
        }
        Ok(out)
    };
    if vs.matchers.or_matchers.is_empty() {
        return Ok(vec![convert(&vs.matchers.matchers)?]);
    }
    vs.matchers
        .or_matchers
        .iter()
        .map(|set| {
            let mut all = vs.matchers.matchers.clone();
            all.extend(set.iter().cloned());
            convert(&all)
        })
        .collect()
}

fn convert_matcher(m: &ParserMatcher) -> Result<Matcher> {
    let op = match m.op {
        ParserOp::Equal => MatchOp::Equal,
        ParserOp::NotEqual => MatchOp::NotEqual,
        ParserOp::Re(_) => MatchOp::Regex,
        ParserOp::NotRe(_) => MatchOp::NotRegex,
    };
    Matcher::new(op, &m.name, &m.value)
        .or_else(|e| {
            // Go's regexp reads a `{` that opens no repetition as a literal; Rust's refuses it.
            let escaped = escape_literal_braces(&m.value);
            if escaped == m.value {
                return Err(e);
            }
            Matcher::new(op, &m.name, &escaped)
        })
        .map_err(|e| QueryError::bad_data(e.to_string()))
}

/// Escapes each `{` that does not open a repetition (`{n}`, `{n,}`, `{n,m}`).
fn escape_literal_braces(re: &str) -> String {
    let chars: Vec<char> = re.chars().collect();
    let mut out = String::with_capacity(re.len() + 2);
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                out.extend(&chars[i..(i + 2).min(chars.len())]);
                i += 2;
                continue;
            }
            '{' if !opens_repetition(&chars[i + 1..]) => out.push_str("\\{"),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn opens_repetition(rest: &[char]) -> bool {
    let digits = |from: usize| {
        rest[from..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut j = digits(0);
    if j == 0 {
        return false;
    }
    if rest.get(j) == Some(&',') {
        j += 1 + digits(j + 1);
    }
    rest.get(j) == Some(&'}')
}

impl Evaluator<'_> {
    /// A range-vector expression evaluated at one instant: each series' window.
    pub fn matrix_at(&mut self, e: &Expr, t: i64) -> Result<Vec<Series>> {
        let steps = Steps::instant(t);
        let m = self.matrix_arg(e, &steps)?;
        let mut out = Vec::new();
        m.for_each_window(self, &steps, |id, _, w| {
            out.push(Series {
                labels: m.series[id].clone(),
                points: w.to_vec(),
            });
            Ok(())
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_without_repetition_become_literal() {
        assert_eq!(escape_literal_braces("a{b}"), "a\\{b}");
        assert_eq!(escape_literal_braces("a{2}b{1,}c{1,3}"), "a{2}b{1,}c{1,3}");
        assert_eq!(escape_literal_braces("\\{x{"), "\\{x\\{");
    }
}
