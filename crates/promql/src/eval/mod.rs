//! The evaluator: walks the `promql-parser` AST once per query, computing every node for
//! all steps of the query at once.
//!
//! An instant query is a range query of one step. A vector-valued node yields a
//! [`StepVectors`]: a table of label sets plus, per step, `(series id, value)` pairs, so
//! label sets are built once per series rather than once per step and per-series work
//! (grouping keys, matching signatures) is cached by id. Range vectors exist only as
//! function arguments ([`MatrixArg`]): their series are loaded once for the
//! whole query and each step's window is found with a per-series cursor.

mod aggregate;
mod binary;
mod functions;
mod histogram;
pub(crate) mod math;
mod range_functions;
mod selector;
mod signature;

pub(crate) use selector::{clamp_ms, MatrixArg};

use crate::engine::{EngineOptions, QueryContext};
use crate::error::{ErrorKind, QueryError};
use crate::value::QueryStats;
use promql_parser::parser::Expr;
use signature::LabelsMap;
use std::sync::atomic::Ordering;
use std::time::Instant;
use strata_core::{Labels, Querier};

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

/// The value of a node at every step.
pub(crate) enum Val {
    Scalar(Vec<f64>),
    Str(String),
    Vector(StepVectors),
}

/// Label sets built by a node, each stored once and found again by value.
#[derive(Default)]
pub(crate) struct SeriesTable {
    pub labels: Vec<Labels>,
    index: LabelsMap<u32>,
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

    /// A mapping known to keep distinct input series distinct: output id = input id.
    pub fn one_to_one(out: Vec<Labels>) -> Self {
        Relabel {
            map: (0..out.len() as u32).collect(),
            out: SeriesTable {
                labels: out,
                index: LabelsMap::default(),
            },
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
    held_samples: usize,
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
            held_samples: 0,
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

    /// Accounts for `n` more samples held in memory (read from the store or produced by a
    /// subquery) and stops the query past the samples limit.
    pub fn hold_samples(&mut self, n: usize) -> Result<()> {
        self.held_samples += n;
        if self.held_samples > self.opts.max_samples {
            return Err(QueryError::new(
                ErrorKind::TooManySamples,
                format!(
                    "query processing would load too many samples into memory in query execution (the samples limit is {})",
                    self.opts.max_samples
                ),
            ));
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

    /// [`Self::eval_vector`] for a caller that never reads metric names (an aggregation
    /// not grouping by `__name__`): a range function over one metric's series may then
    /// leave their names on rather than build every label set anew. The flag says
    /// whether it did; the names are then to be treated as gone.
    pub fn eval_vector_ignoring_names(
        &mut self,
        e: &Expr,
        s: &Steps,
    ) -> Result<(StepVectors, bool)> {
        match e {
            Expr::Paren(p) => self.eval_vector_ignoring_names(&p.expr, s),
            Expr::Call(c) => {
                self.check()?;
                let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
                match range_functions::eval(self, c.func.name, &args, s, true)? {
                    Some(v) => Ok(v),
                    None => Ok((self.eval_vector(e, s)?, false)),
                }
            }
            _ => Ok((self.eval_vector(e, s)?, false)),
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
}

/// One sample buffer per step, each sized for every series when that is not far more
/// than the `points` the series hold: growing them one push at a time would copy each
/// step's samples several times over, but sparse series must not reserve steps × series.
pub(crate) fn step_buffers(steps: usize, series: usize, points: usize) -> Vec<Vec<(u32, f64)>> {
    let dense = steps.saturating_mul(series) <= points.max(1 << 16).saturating_mul(4);
    let capacity = if dense { series } else { 0 };
    (0..steps).map(|_| Vec::with_capacity(capacity)).collect()
}

/// [`step_buffers`] for series whose points are not known yet (a selection streamed
/// from the store): as if each had a sample at every step, up to 2M samples (24 MB).
pub(crate) fn expected_step_buffers(steps: usize, series: usize) -> Vec<Vec<(u32, f64)>> {
    step_buffers(steps, series, steps.saturating_mul(series).min(1 << 19))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_count_inclusive_ends() {
        let s = Steps {
            start: -60,
            end: 60,
            step: 60,
        };
        assert_eq!(s.len(), 3);
        assert_eq!(s.time(2), 60);
        assert_eq!(Steps::instant(5).len(), 1);
    }
}
