//! A runner for Prometheus's promqltest scripts (the `.test` files of Prometheus's
//! `promql/promqltest`), against any [`TestBackend`]: Strata's engine over a
//! [`MemStorage`] ([`EngineBackend`]), or a server through its HTTP API.
//!
//! It implements `load` (with the full series notation), `clear`, and `eval`,
//! `eval_ordered`, `eval_fail` (with `expected_fail_message`/`expected_fail_regexp`),
//! `eval_warn` and `eval_info`, for instant and range queries. Like Prometheus's runner it
//! also re-runs each passing unordered instant eval as a range query and checks the
//! middle step. Native histograms are out of Strata's scope: series written in `{{…}}`
//! notation are not loaded, and evals that expect such results or select such series
//! (including the native copies `load_with_nhcb` would make) are reported as skipped.

mod script;
mod series;

pub use script::{parse_script, Command, EvalTime, Expectation, Expected};
pub use series::{parse_series_line, parse_values, SeriesLine};

use crate::eval::math::almost_equal;
use crate::{Engine, EngineOptions, QueryContext, QueryError, QueryOutput, Value};
use promql_parser::parser::Expr;
use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use strata_core::{Appender, Labels, MemStorage, Sample, WriteBatch, METRIC_NAME};

/// Where a script's data goes and its queries run.
pub trait TestBackend {
    /// Removes all loaded data.
    fn clear(&mut self);
    fn load(&mut self, batch: WriteBatch) -> Result<(), String>;
    fn instant(&mut self, expr: &str, t_ms: i64) -> Result<QueryOutput, QueryError>;
    fn range(
        &mut self,
        expr: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput, QueryError>;
}

/// Strata's engine over an in-memory store.
pub struct EngineBackend {
    engine: Engine,
    store: MemStorage,
}

impl EngineBackend {
    /// The engine as Prometheus's test runner configures its own (5m lookback, 1m
    /// subquery step), with no series limit.
    pub fn new() -> Self {
        EngineBackend {
            engine: Engine::new(EngineOptions {
                max_series: usize::MAX,
                ..EngineOptions::default()
            }),
            store: MemStorage::new(),
        }
    }
}

impl Default for EngineBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl TestBackend for EngineBackend {
    fn clear(&mut self) {
        self.store = MemStorage::new();
    }

    fn load(&mut self, batch: WriteBatch) -> Result<(), String> {
        self.store
            .append(&batch)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn instant(&mut self, expr: &str, t_ms: i64) -> Result<QueryOutput, QueryError> {
        self.engine
            .instant(&self.store, expr, t_ms, &QueryContext::default())
    }

    fn range(
        &mut self,
        expr: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput, QueryError> {
        self.engine.range(
            &self.store,
            expr,
            start,
            end,
            step,
            &QueryContext::default(),
        )
    }
}

/// One failed or skipped command, by the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub line: usize,
    pub reason: String,
}

/// What running one script gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptReport {
    pub name: String,
    /// Evals that passed.
    pub passed: usize,
    pub failed: Vec<Outcome>,
    pub skipped: Vec<Outcome>,
}

impl fmt::Display for ScriptReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} passed, {} failed, {} skipped",
            self.name,
            self.passed,
            self.failed.len(),
            self.skipped.len()
        )
    }
}

/// Runs a script; every command's result lands in the report, nothing panics out.
pub fn run_script(name: &str, text: &str, backend: &mut dyn TestBackend) -> ScriptReport {
    let mut report = ScriptReport {
        name: name.to_owned(),
        ..ScriptReport::default()
    };
    let mut state = State::default();
    for (line, cmd) in parse_script(text) {
        let cmd = match cmd {
            Ok(c) => c,
            Err(e) => {
                report.failed.push(Outcome {
                    line,
                    reason: format!("invalid command: {e}"),
                });
                continue;
            }
        };
        let run = catch_unwind(AssertUnwindSafe(|| {
            run_command(&cmd, line, backend, &mut state, &mut report)
        }));
        if run.is_err() {
            report.failed.push(Outcome {
                line,
                reason: "the backend panicked".into(),
            });
        }
    }
    report
}

/// What earlier commands left behind.
#[derive(Default)]
struct State {
    /// Series that are native histograms in Prometheus and were not loaded.
    native: Vec<Labels>,
    /// A `load_with_nhcb` is in effect.
    nhcb: bool,
}

fn run_command(
    cmd: &Command,
    line: usize,
    backend: &mut dyn TestBackend,
    state: &mut State,
    report: &mut ScriptReport,
) {
    let mut fail = |reason: String| report.failed.push(Outcome { line, reason });
    match cmd {
        Command::Clear => {
            backend.clear();
            *state = State::default();
        }
        Command::Load {
            interval,
            with_nhcb,
            series,
            native,
        } => {
            let mut batch = WriteBatch::default();
            for (_, s) in series {
                for (k, v) in s.values.iter().enumerate() {
                    if let Some(v) = v {
                        batch.samples.push(Sample {
                            labels: s.labels.clone(),
                            t: k as i64 * interval,
                            v: *v,
                        });
                    }
                }
                if *with_nhcb {
                    state.native.extend(nhcb_series(&s.labels));
                }
            }
            state.nhcb |= *with_nhcb;
            for (n, s) in native {
                state.native.push(s.labels.clone());
                report.skipped.push(Outcome {
                    line: *n,
                    reason: format!("native histogram series {} not loaded", s.labels),
                });
            }
            if let Err(e) = backend.load(batch) {
                fail(format!("load failed: {e}"));
            }
        }
        Command::Eval {
            expr,
            time,
            expect,
            results,
            native,
        } => {
            let skip = if *native {
                Some("expects native histogram results".to_owned())
            } else {
                touched_native(expr, &state.native)
                    .map(|l| format!("selects native histogram series {l}"))
            };
            if let Some(reason) = skip {
                report.skipped.push(Outcome { line, reason });
                return;
            }
            match run_eval(backend, expr, *time, expect, results) {
                Ok(()) => report.passed += 1,
                Err(reason) => report.failed.push(Outcome {
                    line,
                    reason: format!("{expr}: {reason}"),
                }),
            }
            if state.nhcb && expr.contains("_bucket") {
                report.skipped.push(Outcome {
                    line,
                    reason: "its native-histogram (NHCB) variant is not run".into(),
                });
            }
        }
    }
}

/// The native histogram `load_with_nhcb` makes of a classic bucket series.
fn nhcb_series(l: &Labels) -> Option<Labels> {
    let name = l.metric_name()?.strip_suffix("_bucket")?;
    l.get("le")?;
    let mut b = l.without(&["le"]).to_builder();
    b.set(METRIC_NAME, name);
    Some(b.build_unchecked())
}

/// The first native series any selector of `expr` selects.
fn touched_native(expr: &str, native: &[Labels]) -> Option<Labels> {
    if native.is_empty() {
        return None;
    }
    let e = promql_parser::parser::parse(expr).ok()?;
    let mut selectors = Vec::new();
    collect_selectors(&e, &mut selectors);
    native
        .iter()
        .find(|l| selectors.iter().any(|vs| selects(vs, l)))
        .cloned()
}

fn collect_selectors<'e>(e: &'e Expr, out: &mut Vec<&'e promql_parser::parser::VectorSelector>) {
    match e {
        Expr::Aggregate(a) => {
            collect_selectors(&a.expr, out);
            if let Some(p) = &a.param {
                collect_selectors(p, out);
            }
        }
        Expr::Unary(u) => collect_selectors(&u.expr, out),
        Expr::Binary(b) => {
            collect_selectors(&b.lhs, out);
            collect_selectors(&b.rhs, out);
        }
        Expr::Paren(p) => collect_selectors(&p.expr, out),
        Expr::Subquery(s) => collect_selectors(&s.expr, out),
        Expr::VectorSelector(vs) => out.push(vs),
        Expr::MatrixSelector(ms) => out.push(&ms.vs),
        Expr::Call(c) => c.args.args.iter().for_each(|a| collect_selectors(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn selects(vs: &promql_parser::parser::VectorSelector, l: &Labels) -> bool {
    let all = |ms: &[promql_parser::label::Matcher]| {
        ms.iter().all(|m| m.is_match(l.get(&m.name).unwrap_or("")))
    };
    let name_ok = vs
        .name
        .as_deref()
        .is_none_or(|n| l.metric_name() == Some(n));
    let m = &vs.matchers;
    name_ok
        && all(&m.matchers)
        && (m.or_matchers.is_empty() || m.or_matchers.iter().any(|g| all(g)))
}

fn run_eval(
    backend: &mut dyn TestBackend,
    expr: &str,
    time: EvalTime,
    expect: &Expectation,
    results: &[Expected],
) -> Result<(), String> {
    let got = match time {
        EvalTime::Instant(t) => backend.instant(expr, t),
        EvalTime::Range { start, end, step } => backend.range(expr, start, end, step),
    };
    let (ordered, warn, info) = match expect {
        Expectation::Fail { message, regexp } => return check_failure(got, message, regexp),
        Expectation::Success {
            ordered,
            warn,
            info,
        } => (*ordered, *warn, *info),
    };
    let out = got.map_err(|e| format!("unexpected error: {e}"))?;
    if warn && out.warnings.is_empty() {
        return Err("expected warnings, got none".into());
    }
    if !warn && !out.warnings.is_empty() {
        return Err(format!("unexpected warnings: {:?}", out.warnings));
    }
    if info && out.infos.is_empty() {
        return Err("expected info annotations, got none".into());
    }
    compare(&out.value, results, ordered, time)?;
    if let (EvalTime::Instant(t), false) = (time, ordered) {
        if matches!(out.value, Value::Vector(_) | Value::Scalar { .. }) {
            let ranged = backend
                .range(expr, t - 60_000, t + 60_000, 60_000)
                .map_err(|e| format!("in range mode: unexpected error: {e}"))?;
            let middle = middle_step(&ranged.value, t, matches!(out.value, Value::Scalar { .. }));
            compare(&middle, results, false, time).map_err(|e| format!("in range mode: {e}"))?;
        }
    }
    Ok(())
}

fn check_failure(
    got: Result<QueryOutput, QueryError>,
    message: &Option<String>,
    regexp: &Option<String>,
) -> Result<(), String> {
    let err = match got {
        Ok(out) => return Err(format!("expected an error, got {}", out.value.type_name())),
        Err(e) => e.message,
    };
    if let Some(m) = message {
        if *m != err {
            return Err(format!("expected error {m:?}, got {err:?}"));
        }
    }
    if let Some(r) = regexp {
        let re = regex::Regex::new(r).map_err(|e| format!("invalid expected_fail_regexp: {e}"))?;
        if !re.is_match(&err) {
            return Err(format!("error {err:?} does not match {r:?}"));
        }
    }
    Ok(())
}

/// The instant vector (or scalar) at time `t` of a range query's matrix.
fn middle_step(v: &Value, t: i64, scalar: bool) -> Value {
    let Value::Matrix(m) = v else {
        return v.clone();
    };
    let mut samples = Vec::new();
    for s in m {
        if let Some(p) = s.points.iter().find(|p| p.t == t) {
            samples.push(crate::VectorSample {
                labels: s.labels.clone(),
                t,
                v: p.v,
            });
        }
    }
    match (scalar, samples.first()) {
        (true, Some(s)) => Value::Scalar { t, v: s.v },
        _ => Value::Vector(samples),
    }
}

fn same_float(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || almost_equal(a, b, 1e-6)
}

fn compare(
    got: &Value,
    expected: &[Expected],
    ordered: bool,
    time: EvalTime,
) -> Result<(), String> {
    match got {
        Value::Scalar { v, .. } => match expected {
            [Expected::Scalar(x)] if same_float(*x, *v) => Ok(()),
            _ => Err(format!("expected {expected:?}, got scalar {v}")),
        },
        Value::String { v, .. } => match expected {
            [Expected::String(x)] if x == v => Ok(()),
            _ => Err(format!("expected {expected:?}, got string {v:?}")),
        },
        Value::Vector(samples) => {
            let want = expected_series(expected)?;
            for (i, s) in samples.iter().enumerate() {
                let Some(&(pos, line)) = want.get(&s.labels) else {
                    return Err(format!("unexpected series {} {} in result", s.labels, s.v));
                };
                let [Some(x)] = line.values[..] else {
                    return Err(format!("expected exactly one value for {}", line.labels));
                };
                if !same_float(x, s.v) {
                    return Err(format!("expected {x} for {}, got {}", s.labels, s.v));
                }
                if ordered && pos != i {
                    return Err(format!(
                        "expected {} at position {pos}, got it at {i}",
                        s.labels
                    ));
                }
            }
            if samples.len() != want.len() {
                return Err(format!(
                    "expected {} series, got {}",
                    want.len(),
                    samples.len()
                ));
            }
            Ok(())
        }
        Value::Matrix(series) => {
            let want = expected_series(expected)?;
            for s in series {
                let Some(&(_, line)) = want.get(&s.labels) else {
                    return Err(format!("unexpected series {} in result", s.labels));
                };
                let expected_points = expected_points(line, time)?;
                let got: Vec<(i64, f64)> = s.points.iter().map(|p| (p.t, p.v)).collect();
                let matches = got.len() == expected_points.len()
                    && got
                        .iter()
                        .zip(&expected_points)
                        .all(|(g, e)| e.0.is_none_or(|t| t == g.0) && same_float(e.1, g.1));
                if !matches {
                    return Err(format!(
                        "for {}: expected {expected_points:?}, got {got:?}",
                        s.labels
                    ));
                }
            }
            if series.len() != want.len() {
                return Err(format!(
                    "expected {} series, got {}",
                    want.len(),
                    series.len()
                ));
            }
            Ok(())
        }
    }
}

/// Expected points of a matrix: at `start + i*step` for range queries; any time for the
/// raw samples an instant range-vector query returns.
fn expected_points(line: &SeriesLine, time: EvalTime) -> Result<Vec<(Option<i64>, f64)>, String> {
    let mut out = Vec::new();
    for (i, v) in line.values.iter().enumerate() {
        let t = match time {
            EvalTime::Range { start, end, step } => {
                let t = start + i as i64 * step;
                if t > end {
                    return Err(format!(
                        "expected {} points for {}, but the query range cannot return this many",
                        line.values.len(),
                        line.labels
                    ));
                }
                Some(t)
            }
            EvalTime::Instant(_) => None,
        };
        if let Some(v) = v {
            out.push((t, *v));
        }
    }
    Ok(out)
}

/// Expected series by labels, with their position.
fn expected_series(
    expected: &[Expected],
) -> Result<HashMap<&Labels, (usize, &SeriesLine)>, String> {
    let mut out = HashMap::new();
    for (i, e) in expected.iter().enumerate() {
        match e {
            Expected::Series(s) => {
                out.insert(&s.labels, (i, s));
            }
            other => return Err(format!("expected {other:?}, got a vector")),
        }
    }
    Ok(out)
}
