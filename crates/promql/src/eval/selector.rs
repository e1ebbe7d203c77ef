//! Selectors: instant vector selectors with lookback and staleness, and range-vector
//! arguments (range selectors and subqueries) with `offset` and `@`.

use super::{expected_step_buffers, Evaluator, Result, StepVectors, Steps};
use crate::error::{ErrorKind, QueryError};
use promql_parser::label::{MatchOp as ParserOp, Matcher as ParserMatcher, METRIC_NAME};
use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};
use std::ops::ControlFlow;
use std::time::{Duration, UNIX_EPOCH};
use strata_core::SeriesVisitor;
use strata_core::{is_stale_nan, Labels, MatchOp, Matcher, Point, Series, SpareBuffers, TimeRange};

/// A big selection's shared point buffer, kept for the next query (see [`SpareBuffers`]).
static SPARE_BUFFERS: SpareBuffers<Point> = SpareBuffers::new(8 << 20);

/// Series of at least this many points keep the store's vector; shorter ones are
/// copied into one shared buffer, sparing an allocation per series where that would
/// cost more than reading the series.
const OWN_VEC_POINTS: usize = 256;

/// Where a series' points are.
#[derive(Debug)]
enum Span {
    Shared(std::ops::Range<usize>),
    Own(Vec<Point>),
}

/// The points of many series: short series' in one shared buffer, long ones' in their
/// own vectors.
#[derive(Debug)]
pub(crate) struct PointLists {
    spans: Vec<Span>,
    shared: Vec<Point>,
    total: usize,
}

impl Default for PointLists {
    fn default() -> Self {
        PointLists {
            spans: Vec::new(),
            shared: SPARE_BUFFERS.take(),
            total: 0,
        }
    }
}

impl Drop for PointLists {
    fn drop(&mut self) {
        SPARE_BUFFERS.give_back(std::mem::take(&mut self.shared));
    }
}

impl PointLists {
    /// The points of series `i`.
    pub fn get(&self, i: usize) -> &[Point] {
        match &self.spans[i] {
            Span::Shared(r) => &self.shared[r.clone()],
            Span::Own(v) => v,
        }
    }

    /// The points of every series, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[Point]> + '_ {
        (0..self.spans.len()).map(|i| self.get(i))
    }

    /// The points held, over all series.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Adds the next series' points, taking the vector if it is long.
    pub fn push(&mut self, points: &mut Vec<Point>) {
        self.total += points.len();
        if points.len() >= OWN_VEC_POINTS {
            self.spans.push(Span::Own(std::mem::take(points)));
        } else {
            let start = self.shared.len();
            self.shared.extend_from_slice(points);
            self.spans.push(Span::Shared(start..self.shared.len()));
        }
    }

    /// Adds the next series' points without staleness markers (a range vector's window
    /// never holds one).
    pub fn push_without_stale(&mut self, points: &mut Vec<Point>) {
        points.retain(|p| !is_stale_nan(p.v));
        self.push(points);
    }

    /// The per-step samples of `series` series as point lists, each in step order.
    fn from_steps(series: usize, steps: &[Vec<(u32, f64)>], inner: &Steps) -> PointLists {
        let mut points = vec![Vec::new(); series];
        for (i, samples) in steps.iter().enumerate() {
            for &(id, v) in samples {
                points[id as usize].push(Point {
                    t: inner.time(i),
                    v,
                });
            }
        }
        let mut lists = PointLists::default();
        for p in &mut points {
            lists.push(p);
        }
        lists
    }
}

/// The series a selector read: their labels and points, in the store's order.
#[derive(Debug, Default)]
pub(crate) struct SeriesSet {
    pub labels: Vec<Labels>,
    pub points: PointLists,
}

impl SeriesSet {
    /// The set sorted by labels with repeated label sets left out (the first kept),
    /// for the union of several selections.
    fn sorted_unique(self) -> SeriesSet {
        let mut order: Vec<usize> = (0..self.labels.len()).collect();
        order.sort_by(|&a, &b| self.labels[a].cmp(&self.labels[b]));
        order.dedup_by(|b, a| self.labels[*a] == self.labels[*b]);
        let mut out = SeriesSet::default();
        for i in order {
            out.labels.push(self.labels[i].clone());
            out.points.push(&mut self.points.get(i).to_vec());
        }
        out
    }
}

/// A range-vector argument: its series loaded for all steps, and how to find each step's
/// window `(end - range, end]`.
pub(crate) struct MatrixArg {
    pub series: Vec<Labels>,
    pub points: PointLists,
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

    /// Calls `f(series id, step index, window)` for every non-empty window.
    pub fn for_each_window(
        &self,
        ev: &mut Evaluator<'_>,
        steps: &Steps,
        mut f: impl FnMut(usize, usize, &[Point]) -> Result<()>,
    ) -> Result<()> {
        for (id, pts) in self.points.iter().enumerate() {
            ev.check()?;
            let end = |t| self.range_end(t);
            each_window(pts, steps, self.range, end, |i, window| f(id, i, window))?;
        }
        Ok(())
    }
}

/// What the windows `(end - range, end]` of the steps of `s` span, each ending at the
/// step's time (or `at`) moved back by `offset`.
pub(crate) fn windows_span(s: &Steps, at: Option<i64>, offset: i64, range: i64) -> TimeRange {
    let first = at.unwrap_or(s.start) - offset;
    let last = at.unwrap_or(s.end) - offset;
    TimeRange::new(first - range + 1, last)
}

/// Calls `f(step index, window)` for each step of `steps` whose window of `pts`,
/// `(end - range, end]` with `end = range_end(step time)`, holds points: one walk over
/// the points with two cursors.
pub(crate) fn each_window(
    pts: &[Point],
    steps: &Steps,
    range: i64,
    range_end: impl Fn(i64) -> i64,
    mut f: impl FnMut(usize, &[Point]) -> Result<()>,
) -> Result<()> {
    let (mut lo, mut hi) = (0, 0);
    for i in 0..steps.len() {
        let end = range_end(steps.time(i));
        while hi < pts.len() && pts[hi].t <= end {
            hi += 1;
        }
        while lo < hi && pts[lo].t <= end - range {
            lo += 1;
        }
        if lo < hi {
            f(i, &pts[lo..hi])?;
        }
    }
    Ok(())
}

/// How an instant vector selector picks each step's sample: a series' latest point
/// within the lookback window `(t - lookback, t]` of the step's time `t` (moved by
/// `@` and `offset`), unless that point is a staleness marker.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lookback {
    at: Option<i64>,
    offset: i64,
    lookback: i64,
}

impl Lookback {
    fn time(&self, t: i64) -> i64 {
        self.at.unwrap_or(t) - self.offset
    }

    /// The points the steps of `s` may pick from.
    pub fn range(&self, s: &Steps) -> TimeRange {
        TimeRange::new(
            self.time(s.start)
                .saturating_sub(self.lookback)
                .saturating_add(1),
            self.time(s.end),
        )
    }

    /// Calls `f(step index, point)` for every step at which the series of `pts` has a
    /// sample, walking the points once with a cursor.
    pub fn each_step(&self, pts: &[Point], s: &Steps, mut f: impl FnMut(usize, Point)) {
        let mut j = 0;
        for i in 0..s.len() {
            let t = self.time(s.time(i));
            while j < pts.len() && pts[j].t <= t {
                j += 1;
            }
            if j > 0 {
                let p = pts[j - 1];
                if p.t > t - self.lookback && !is_stale_nan(p.v) {
                    f(i, p);
                }
            }
        }
    }
}

/// Where a selection's series go, as the store lends them (see
/// [`Evaluator::select_into`]).
pub(crate) trait SeriesSink {
    /// The label sets of the series that may come, in their order, before any of them.
    fn expect(&mut self, labels: &mut dyn ExactSizeIterator<Item = &Labels>);

    /// Series `index` of those expected, with its points; the sink may take them.
    fn series(&mut self, index: usize, labels: &Labels, points: &mut Vec<Point>);
}

/// A sink that keeps every series (a range vector's without staleness markers).
struct Collect {
    set: SeriesSet,
    for_range: bool,
}

impl SeriesSink for Collect {
    fn expect(&mut self, labels: &mut dyn ExactSizeIterator<Item = &Labels>) {
        self.set.labels.reserve(labels.len());
    }

    fn series(&mut self, _: usize, labels: &Labels, points: &mut Vec<Point>) {
        self.set.labels.push(labels.clone());
        if self.for_range {
            self.set.points.push_without_stale(points);
        } else {
            self.set.points.push(points);
        }
    }
}

/// A sink that walks each series as it comes into per-step vectors of picked values.
struct StepSink<F> {
    lookback: Lookback,
    steps: Steps,
    value: F,
    out: StepVectors,
}

impl<F: Fn(Point) -> f64> SeriesSink for StepSink<F> {
    fn expect(&mut self, labels: &mut dyn ExactSizeIterator<Item = &Labels>) {
        self.out.steps = expected_step_buffers(self.steps.len(), labels.len());
        self.out.series = labels.cloned().collect();
    }

    fn series(&mut self, index: usize, _: &Labels, points: &mut Vec<Point>) {
        let (steps, value) = (&mut self.out.steps, &self.value);
        self.lookback.each_step(points, &self.steps, |i, p| {
            steps[i].push((index as u32, value(p)))
        });
    }
}

/// How many series and samples a selection read, and whether the series limit
/// stopped it.
#[derive(Debug, Default)]
struct Admission {
    room: usize,
    series: usize,
    samples: usize,
    over: bool,
}

/// The store's visitor for one matcher set: checks the deadline and the series limit
/// before handing each series to the sink.
struct Streamed<'e, 'a> {
    ev: &'e mut Evaluator<'a>,
    sink: &'e mut dyn SeriesSink,
    admission: Admission,
    error: Option<QueryError>,
}

impl SeriesVisitor for Streamed<'_, '_> {
    fn expect(&mut self, labels: &mut dyn ExactSizeIterator<Item = &Labels>) -> ControlFlow<()> {
        self.sink.expect(labels);
        ControlFlow::Continue(())
    }

    fn series(
        &mut self,
        index: usize,
        labels: &Labels,
        points: &mut Vec<Point>,
    ) -> ControlFlow<()> {
        if let Err(e) = self.ev.check() {
            self.error = Some(e);
            return ControlFlow::Break(());
        }
        let a = &mut self.admission;
        if a.series == a.room {
            a.over = true;
            return ControlFlow::Break(());
        }
        a.series += 1;
        a.samples += points.len();
        self.sink.series(index, labels, points);
        ControlFlow::Continue(())
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

    /// Reads the series of `vs` with points in `range` into `sink`, enforcing the
    /// series and sample limits: straight from the store for one matcher set; for `or`
    /// alternatives, once their union is sorted with repeated label sets left out.
    pub fn select_into(
        &mut self,
        vs: &VectorSelector,
        range: TimeRange,
        sink: &mut dyn SeriesSink,
    ) -> Result<()> {
        let sets = matcher_sets(vs)?;
        if let [set] = sets.as_slice() {
            let room = self
                .opts
                .max_series
                .saturating_sub(self.stats.series_loaded);
            let a = self.stream(set, range, room, sink)?;
            // A selection stopped at the limit counts the series it stopped at.
            return self.settle(a.series + usize::from(a.over), a.samples);
        }
        let mut union = Collect {
            set: SeriesSet::default(),
            for_range: false,
        };
        let mut samples = 0;
        for set in &sets {
            samples += self.stream(set, range, usize::MAX, &mut union)?.samples;
        }
        let set = union.set.sorted_unique();
        self.settle(set.labels.len(), samples)?;
        sink.expect(&mut set.labels.iter());
        for (i, labels) in set.labels.iter().enumerate() {
            self.check()?;
            sink.series(i, labels, &mut set.points.get(i).to_vec());
        }
        Ok(())
    }

    /// Lends the series of one matcher set to `sink` as the store reads them, stopping
    /// after `room` series.
    fn stream(
        &mut self,
        matchers: &[Matcher],
        range: TimeRange,
        room: usize,
        sink: &mut dyn SeriesSink,
    ) -> Result<Admission> {
        let store = self.store;
        let mut visitor = Streamed {
            ev: self,
            sink,
            admission: Admission {
                room,
                ..Admission::default()
            },
            error: None,
        };
        store.select_each(matchers, range, &mut visitor)?;
        match visitor.error {
            Some(e) => Err(e),
            None => Ok(visitor.admission),
        }
    }

    /// Counts a selection's series and samples against the limits.
    fn settle(&mut self, series: usize, samples: usize) -> Result<()> {
        self.stats.series_loaded += series;
        if self.stats.series_loaded > self.opts.max_series {
            return Err(QueryError::new(
                ErrorKind::TooManySeries,
                format!(
                    "query would select more than {} series (the series limit, METRICS_QUERY_MAX_SERIES)",
                    self.opts.max_series
                ),
            ));
        }
        self.stats.samples_loaded += samples;
        self.hold_samples(samples)
    }

    /// The series of `vs` with points in `range`; a range vector's (`for_range`) read
    /// without staleness markers.
    fn select(
        &mut self,
        vs: &VectorSelector,
        range: TimeRange,
        for_range: bool,
    ) -> Result<SeriesSet> {
        let mut sink = Collect {
            set: SeriesSet::default(),
            for_range,
        };
        self.select_into(vs, range, &mut sink)?;
        Ok(sink.set)
    }

    /// An instant vector selector at every step (see [`Lookback`]), each series walked
    /// as the store lends it. `value` turns the chosen point into the sample value.
    pub fn vector_selector(
        &mut self,
        vs: &VectorSelector,
        s: &Steps,
        value: impl Fn(Point) -> f64,
    ) -> Result<StepVectors> {
        let lookback = self.lookback(vs);
        let mut sink = StepSink {
            lookback,
            steps: *s,
            value,
            out: StepVectors::default(),
        };
        if s.len() > 0 {
            self.select_into(vs, lookback.range(s), &mut sink)?;
        }
        Ok(sink.out)
    }

    /// How the instant vector selector `vs` picks each step's sample.
    pub fn lookback(&self, vs: &VectorSelector) -> Lookback {
        Lookback {
            at: self.at_time(&vs.at),
            offset: offset_ms(&vs.offset),
            lookback: millis(self.opts.lookback_delta),
        }
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
                let set = self.select(vs, windows_span(s, at, offset, range), true)?;
                Ok(MatrixArg {
                    series: set.labels,
                    points: set.points,
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
                let points = PointLists::from_steps(v.series.len(), &v.steps, &inner);
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
