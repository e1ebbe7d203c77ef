//! The evaluator: walks the `promql-parser` AST once per query, computing every node for
//! all steps of the query at once.
//!
//! An instant query is a range query of one step. A vector-valued node yields a
//! [`StepVectors`]: a table of label sets plus, per step, `(series id, value)` pairs, so
//! label sets are built once per series rather than once per step and per-series work
//! (grouping keys, matching signatures) is cached by id. Range vectors exist only as
//! function arguments ([`MatrixArg`]): their series are loaded once for the whole query
//! and each step's window is found with a per-series cursor.

mod aggregate;
mod binary;
mod functions;
mod histogram;
pub(crate) mod math;
mod range_functions;
mod signature;

use crate::engine::{EngineOptions, QueryContext};
use crate::error::{ErrorKind, QueryError};
use crate::value::QueryStats;
use promql_parser::label::{MatchOp as ParserOp, Matcher as ParserMatcher, METRIC_NAME};
use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Instant, UNIX_EPOCH};
use strata_core::{is_stale_nan, Labels, MatchOp, Matcher, Point, Querier, TimeRange};

pub(crate) type Result<T> = std::result::Result<T, QueryError>;

/// The evaluation instants of a query: `start, start+step, …, end` (milliseconds).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Steps {
    pub fn instant(t: i64) -> Steps {
        Steps {
            start: t,
            end: t,
            step: 1,
        }
    }

    pub fn len(&self) -> usize {
        if self.end < self.start {
            0
        } else {
            ((self.end - self.start) / self.step + 1) as usize
        }
    }

    pub fn time(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// An instant vector at every step: a series table and per step `(series id, value)`.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepVectors {
    pub series: Vec<Labels>,
    pub steps: Vec<Vec<(u32, f64)>>,
}

impl StepVectors {
    fn empty(n: usize) -> Self {
        StepVectors {
            series: Vec::new(),
            steps: vec![Vec::new(); n],
        }
    }
}

/// The value of a node at every step.
pub(crate) enum Val {
    Scalar(Vec<f64>),
    Str(String),
    Vector(StepVectors),
}

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

/// Label sets built by a node, each stored once and found again by value.
#[derive(Default)]
pub(crate) struct SeriesTable {
    pub labels: Vec<Labels>,
    index: HashMap<Labels, u32>,
}

impl SeriesTable {
    pub fn intern(&mut self, l: Labels) -> u32 {
        if let Some(&id) = self.index.get(&l) {
            return id;
        }
        let id = self.labels.len() as u32;
        self.index.insert(l.clone(), id);
        self.labels.push(l);
        id
    }
}

/// Maps input series to output series (once per input series) and rejects a step that
/// would hold two samples of one output series, as Prometheus does after functions.
pub(crate) struct Relabel {
    pub out: SeriesTable,
    map: Vec<u32>,
    collided: bool,
    stamp: Vec<usize>,
}

impl Relabel {
    pub fn new(inputs: usize) -> Self {
        Relabel {
            out: SeriesTable::default(),
            map: vec![u32::MAX; inputs],
            collided: false,
            stamp: Vec::new(),
        }
    }

    /// The output id of input series `id`, computing its labels with `f` the first time.
    pub fn get(&mut self, id: u32, f: impl FnOnce() -> Result<Labels>) -> Result<u32> {
        let slot = self.map[id as usize];
        if slot != u32::MAX {
            return Ok(slot);
        }
        let before = self.out.labels.len();
        let out = self.out.intern(f()?);
        self.collided |= self.out.labels.len() == before;
        self.map[id as usize] = out;
        Ok(out)
    }

    /// Checks that step `i`'s samples name each output series at most once.
    pub fn check_step(&mut self, i: usize, samples: &[(u32, f64)]) -> Result<()> {
        if !self.collided {
            return Ok(());
        }
        self.stamp.resize(self.out.labels.len(), usize::MAX);
        for &(id, _) in samples {
            if self.stamp[id as usize] == i {
                return Err(QueryError::execution(
                    "vector cannot contain metrics with the same labelset",
                ));
            }
            self.stamp[id as usize] = i;
        }
        Ok(())
    }
}

/// The state of one query's evaluation.
pub(crate) struct Evaluator<'a> {
    store: &'a dyn Querier,
    opts: &'a EngineOptions,
    ctx: &'a QueryContext,
    /// The query's own start and end, for `@ start()` and `@ end()`.
    query_start: i64,
    query_end: i64,
    pub stats: QueryStats,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    ticks: u32,
}

impl<'a> Evaluator<'a> {
    pub fn new(
        store: &'a dyn Querier,
        opts: &'a EngineOptions,
        ctx: &'a QueryContext,
        query_start: i64,
        query_end: i64,
    ) -> Self {
        Evaluator {
            store,
            opts,
            ctx,
            query_start,
            query_end,
            stats: QueryStats::default(),
            warnings: Vec::new(),
            infos: Vec::new(),
            ticks: 0,
        }
    }

    /// Stops the work when the query is cancelled or its deadline has passed. Called in
    /// every evaluation loop; the clock is read only every 64th call.
    pub fn check(&mut self) -> Result<()> {
        if let Some(c) = &self.ctx.cancel {
            if c.load(Ordering::Relaxed) {
                return Err(QueryError::new(ErrorKind::Canceled, "query was canceled"));
            }
        }
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks % 64 == 1 {
            if let Some(d) = self.ctx.deadline {
                if Instant::now() >= d {
                    return Err(QueryError::new(
                        ErrorKind::Timeout,
                        "query timed out in query execution",
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn warn(&mut self, msg: String) {
        if !self.warnings.contains(&msg) {
            self.warnings.push(msg);
        }
    }

    pub fn info(&mut self, msg: String) {
        if !self.infos.contains(&msg) {
            self.infos.push(msg);
        }
    }

    pub fn eval(&mut self, e: &Expr, s: &Steps) -> Result<Val> {
        self.check()?;
        match e {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; s.len()])),
            Expr::StringLiteral(l) => Ok(Val::Str(l.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, s),
            Expr::Unary(u) => match self.eval(&u.expr, s)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(v) => Ok(Val::Vector(self.map_vector(
                    v,
                    |l| Ok(l.without_metric_name()),
                    |_, x| Some(-x),
                )?)),
                Val::Str(_) => Err(QueryError::bad_data(
                    "unary minus is not defined on strings",
                )),
            },
            Expr::Binary(b) => binary::eval(self, b, s),
            Expr::Aggregate(a) => aggregate::eval(self, a, s).map(Val::Vector),
            Expr::Call(c) => functions::eval(self, c, s),
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.vector_selector(vs, s, |p| p.v)?)),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => Err(QueryError::bad_data(
                "a range vector cannot be used here: it must be a function argument",
            )),
            Expr::Extension(_) => Err(QueryError::bad_data(
                "extension expressions are not supported",
            )),
        }
    }

    pub fn eval_vector(&mut self, e: &Expr, s: &Steps) -> Result<StepVectors> {
        match self.eval(e, s)? {
            Val::Vector(v) => Ok(v),
            _ => Err(QueryError::bad_data(format!(
                "expected an instant vector, got {e}"
            ))),
        }
    }

    pub fn eval_scalar(&mut self, e: &Expr, s: &Steps) -> Result<Vec<f64>> {
        match self.eval(e, s)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(QueryError::bad_data(format!("expected a scalar, got {e}"))),
        }
    }

    pub fn eval_string(&mut self, e: &Expr, s: &Steps) -> Result<String> {
        match self.eval(e, s)? {
            Val::Str(v) => Ok(v),
            _ => Err(QueryError::bad_data(format!("expected a string, got {e}"))),
        }
    }

    /// Applies `relabel` to each series and `value` to each sample (with its step index),
    /// dropping samples for which `value` gives `None`.
    pub fn map_vector(
        &mut self,
        input: StepVectors,
        mut relabel: impl FnMut(&Labels) -> Result<Labels>,
        mut value: impl FnMut(usize, f64) -> Option<f64>,
    ) -> Result<StepVectors> {
        let mut r = Relabel::new(input.series.len());
        let mut steps = Vec::with_capacity(input.steps.len());
        for (i, samples) in input.steps.into_iter().enumerate() {
            self.check()?;
            let mut out = Vec::with_capacity(samples.len());
            for (id, v) in samples {
                if let Some(v) = value(i, v) {
                    let oid = r.get(id, || relabel(&input.series[id as usize]))?;
                    out.push((oid, v));
                }
            }
            r.check_step(i, &out)?;
            steps.push(out);
        }
        Ok(StepVectors {
            series: r.out.labels,
            steps,
        })
    }

    /// The `@` time of a selector or subquery, in milliseconds.
    pub fn at_time(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(match t.duration_since(UNIX_EPOCH) {
                Ok(d) => d.as_millis() as i64,
                Err(e) => -(e.duration().as_millis() as i64),
            }),
        }
    }

    /// Selects the series of `vs` with points in `range`, enforcing the series and
    /// sample limits.
    fn select(
        &mut self,
        vs: &VectorSelector,
        range: TimeRange,
    ) -> Result<Vec<strata_core::Series>> {
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
        self.stats.samples_loaded += out.iter().map(|s| s.points.len()).sum::<usize>();
        if self.stats.samples_loaded > self.opts.max_samples {
            return Err(QueryError::new(
                ErrorKind::TooManySamples,
                format!(
                    "query processing would load too many samples into memory in query execution (the samples limit is {})",
                    self.opts.max_samples
                ),
            ));
        }
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
        let at = self.at_time(&vs.at);
        let offset = offset_ms(&vs.offset);
        let eff = |t: i64| at.unwrap_or(t) - offset;
        let lookback = self.opts.lookback_delta.as_millis() as i64;
        let n = s.len();
        if n == 0 {
            return Ok(StepVectors::empty(0));
        }
        let range = TimeRange::new(
            eff(s.start).saturating_sub(lookback).saturating_add(1),
            eff(s.end),
        );
        let series = self.select(vs, range)?;
        let mut steps = vec![Vec::new(); n];
        for (id, ser) in series.iter().enumerate() {
            self.check()?;
            let pts = &ser.points;
            let mut j = 0;
            for (i, step) in steps.iter_mut().enumerate() {
                let t = eff(s.time(i));
                while j < pts.len() && pts[j].t <= t {
                    j += 1;
                }
                if j > 0 {
                    let p = pts[j - 1];
                    if p.t > t - lookback && !is_stale_nan(p.v) {
                        step.push((id as u32, value(p)));
                    }
                }
            }
        }
        Ok(StepVectors {
            series: series.into_iter().map(|s| s.labels).collect(),
            steps,
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
                let range = ms.range.as_millis() as i64;
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
                let range = sq.range.as_millis() as i64;
                let step = match sq.step {
                    Some(d) if !d.is_zero() => d.as_millis() as i64,
                    _ => self.opts.no_step_subquery_interval.as_millis().max(1) as i64,
                };
                let first = at.unwrap_or(s.start) - offset - range;
                let last = at.unwrap_or(s.end) - offset;
                let inner = Steps {
                    start: first.div_euclid(step) * step
                        + if first.rem_euclid(step) == 0 { 0 } else { step },
                    end: last,
                    step,
                };
                let v = self.eval_vector(&sq.expr, &inner)?;
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

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
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
    Matcher::new(op, &m.name, &m.value).map_err(|e| QueryError::bad_data(e.to_string()))
}

impl Evaluator<'_> {
    /// A range-vector expression evaluated at one instant: each series' window.
    pub fn matrix_at(&mut self, e: &Expr, t: i64) -> Result<Vec<strata_core::Series>> {
        let steps = Steps::instant(t);
        let m = self.matrix_arg(e, &steps)?;
        let mut out = Vec::new();
        m.for_each_window(self, &steps, |id, _, w| {
            out.push(strata_core::Series {
                labels: m.series[id].clone(),
                points: w.to_vec(),
            });
            Ok(())
        })?;
        Ok(out)
    }
}
