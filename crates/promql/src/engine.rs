//! The engine: parses an expression, evaluates it over a [`Querier`] as an instant or a
//! range query, and shapes the result as the Prometheus HTTP API does.

use crate::error::{ErrorKind, QueryError};
use crate::eval::{clamp_ms, Evaluator, Steps, Val};
use crate::value::{QueryOutput, Value, VectorSample};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, Expr};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_core::{Labels, Point, Querier, Series};

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus: 5m).
    pub lookback_delta: Duration,
    /// Samples a query may read from the store before it is stopped.
    pub max_samples: usize,
    /// Series a query may select before it is stopped (`METRICS_QUERY_MAX_SERIES`).
    pub max_series: usize,
    /// The step of a subquery written without one (`x[1h:]`): Prometheus uses the global
    /// evaluation interval.
    pub no_step_subquery_interval: Duration,
    /// Points a range query may return per series (Prometheus: 11,000).
    pub max_points_per_series: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            max_series: 10_000,
            no_step_subquery_interval: Duration::from_secs(60),
            max_points_per_series: 11_000,
        }
    }
}

/// Per-query controls: a deadline and a cancellation flag, both checked while evaluating.
#[derive(Debug, Clone, Default)]
pub struct QueryContext {
    pub deadline: Option<Instant>,
    pub cancel: Option<Arc<AtomicBool>>,
}

impl QueryContext {
    /// A context whose deadline is `timeout` from now.
    pub fn with_timeout(timeout: Duration) -> Self {
        QueryContext {
            deadline: Instant::now().checked_add(timeout),
            cancel: None,
        }
    }
}

/// The PromQL engine. It holds no data; every query reads from the store it is given.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

/// Parses an expression, reporting the parser's message as `bad_data`.
fn parse(expr: &str) -> Result<Expr, QueryError> {
    parser::parse(expr).map_err(QueryError::bad_data)
}

/// Checks that `expr` parses (for `/api/v1/parse_query`-style validation).
pub fn parse_check(expr: &str) -> Result<(), QueryError> {
    parse(expr).map(|_| ())
}

/// The expression pretty-printed (for `/api/v1/format_query`).
pub fn format_query(expr: &str) -> Result<String, QueryError> {
    parse(expr).map(|e| e.prettify())
}

impl Engine {
    /// An engine with these options; a zero lookback delta means the default (5m), as
    /// in Prometheus.
    pub fn new(mut opts: EngineOptions) -> Self {
        if opts.lookback_delta.is_zero() {
            opts.lookback_delta = EngineOptions::default().lookback_delta;
        }
        Engine { opts }
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `expr` at `t_ms`; the value has the expression's own type.
    pub fn instant(
        &self,
        store: &dyn Querier,
        expr: &str,
        t_ms: i64,
        ctx: &QueryContext,
    ) -> Result<QueryOutput, QueryError> {
        let e = parse(expr)?;
        let t_ms = clamp_ms(t_ms.into());
        let mut ev = Evaluator::new(store, &self.opts, ctx, t_ms, t_ms);
        let value = if e.value_type() == ValueType::Matrix {
            Value::Matrix(ev.matrix_at(&e, t_ms)?)
        } else {
            match ev.eval(&e, &Steps::instant(t_ms))? {
                Val::Scalar(v) => Value::Scalar {
                    t: t_ms,
                    v: v.first().copied().unwrap_or(f64::NAN),
                },
                Val::Str(v) => Value::String { t: t_ms, v },
                Val::Vector(sv) => {
                    let samples = sv.steps.into_iter().next().unwrap_or_default();
                    Value::Vector(
                        samples
                            .into_iter()
                            .map(|(id, v)| VectorSample {
                                labels: sv.series[id as usize].clone(),
                                t: t_ms,
                                v,
                            })
                            .collect(),
                    )
                }
            }
        };
        Ok(output(value, ev))
    }

    /// Evaluates `expr` at `start_ms, start_ms + step_ms, …, end_ms`; the value is always
    /// a matrix sorted by labels.
    pub fn range(
        &self,
        store: &dyn Querier,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        ctx: &QueryContext,
    ) -> Result<QueryOutput, QueryError> {
        let (start_ms, end_ms) = (clamp_ms(start_ms.into()), clamp_ms(end_ms.into()));
        if step_ms <= 0 {
            return Err(QueryError::bad_data(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if end_ms < start_ms {
            return Err(QueryError::bad_data(
                "end timestamp must not be before start time",
            ));
        }
        // Clamped times cannot overflow the subtraction.
        if (end_ms - start_ms) / step_ms >= self.opts.max_points_per_series as i64 {
            return Err(QueryError::bad_data(format!(
                "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
                self.opts.max_points_per_series
            )));
        }
        let e = parse(expr)?;
        let kind = e.value_type();
        if !matches!(kind, ValueType::Scalar | ValueType::Vector) {
            return Err(QueryError::bad_data(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                type_name(kind)
            )));
        }
        let steps = Steps {
            start: start_ms,
            end: end_ms,
            step: step_ms,
        };
        let mut ev = Evaluator::new(store, &self.opts, ctx, start_ms, end_ms);
        let matrix = match ev.eval(&e, &steps)? {
            Val::Scalar(v) => vec![Series {
                labels: Labels::empty(),
                points: v
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| Point {
                        t: steps.time(i),
                        v,
                    })
                    .collect(),
            }],
            Val::Vector(sv) => to_matrix(sv, &steps),
            Val::Str(_) => {
                return Err(QueryError::new(
                    ErrorKind::BadData,
                    "invalid expression type \"string\" for range query, must be Scalar or instant Vector",
                ))
            }
        };
        Ok(output(Value::Matrix(matrix), ev))
    }
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
        ValueType::Vector => "instant vector",
        ValueType::Matrix => "range vector",
    }
}

fn output(value: Value, ev: Evaluator<'_>) -> QueryOutput {
    QueryOutput {
        value,
        warnings: ev.warnings,
        infos: ev.infos,
        stats: ev.stats,
    }
}

/// Per-step vectors as series of points, one series per label set, sorted by labels.
fn to_matrix(sv: crate::eval::StepVectors, steps: &Steps) -> Vec<Series> {
    // Each series' points are counted first so that each is allocated once, exactly.
    let mut index: HashMap<&Labels, usize> = HashMap::new();
    let mut slot_of: Vec<usize> = Vec::with_capacity(sv.series.len());
    let mut out: Vec<Series> = Vec::new();
    for l in &sv.series {
        slot_of.push(*index.entry(l).or_insert_with(|| {
            out.push(Series {
                labels: l.clone(),
                points: Vec::new(),
            });
            out.len() - 1
        }));
    }
    let mut counts = vec![0usize; out.len()];
    for &(id, _) in sv.steps.iter().flatten() {
        counts[slot_of[id as usize]] += 1;
    }
    for (series, n) in out.iter_mut().zip(counts) {
        series.points.reserve_exact(n);
    }
    for (i, samples) in sv.steps.iter().enumerate() {
        let t = steps.time(i);
        for &(id, v) in samples {
            out[slot_of[id as usize]].points.push(Point { t, v });
        }
    }
    out.retain(|s| !s.points.is_empty());
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}
