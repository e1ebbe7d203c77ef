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

mod compare;
mod native;
mod pin;
mod script;
mod series;

pub use script::{parse_script, Command, EvalTime, Expectation, Expected};
pub use series::{parse_series_line, parse_values, SeriesLine};

use crate::{Engine, EngineOptions, QueryContext, QueryError, QueryOutput, Value};
use compare::{check_outcome, compare, middle_step};
use native::{nhcb_series, touched_native};
use pin::pinned_variants;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use strata_core::{Appender, Labels, MemStorage, Sample, WriteBatch};

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
        }
    }
}

fn run_eval(
    backend: &mut dyn TestBackend,
    expr: &str,
    time: EvalTime,
    expect: &Expectation,
    results: &[Expected],
) -> Result<(), String> {
    let t = match time {
        EvalTime::Range { start, end, step } => {
            return check_outcome(backend.range(expr, start, end, step), expect, results, time);
        }
        EvalTime::Instant(t) => t,
    };
    run_instant(backend, expr, t, expect, results)?;
    for (pinned, at) in pinned_variants(expr, t) {
        run_instant(backend, &pinned, at, expect, results)
            .map_err(|e| format!("as `{pinned}` at {at}ms: {e}"))?;
    }
    Ok(())
}

/// An instant eval, then (for unordered vectors and scalars) the same query as a range
/// query around `t`, whose middle step must agree.
fn run_instant(
    backend: &mut dyn TestBackend,
    expr: &str,
    t: i64,
    expect: &Expectation,
    results: &[Expected],
) -> Result<(), String> {
    let time = EvalTime::Instant(t);
    let got = backend.instant(expr, t);
    let value = match &got {
        Ok(out) => Some(out.value.clone()),
        Err(_) => None,
    };
    check_outcome(got, expect, results, time)?;
    let ordered = matches!(expect, Expectation::Success { ordered: true, .. });
    let Some(value) =
        value.filter(|v| !ordered && matches!(v, Value::Vector(_) | Value::Scalar { .. }))
    else {
        return Ok(());
    };
    let ranged = backend
        .range(expr, t - 60_000, t + 60_000, 60_000)
        .map_err(|e| format!("in range mode: unexpected error: {e}"))?;
    let middle = middle_step(&ranged.value, t, matches!(value, Value::Scalar { .. }));
    compare(&middle, results, false, time).map_err(|e| format!("in range mode: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SCRIPT: &str = "load 1m\n  m{a=\"x\"} 1+1x5 stale\n  h {{schema:0 sum:1 count:1}}\n\neval instant at 2m m\n  m{a=\"x\"} 3\n\neval range from 0 to 2m step 1m m * 2\n  {a=\"x\"} 2 4 6\n\neval_fail instant at 0m m{a=~\"(\"}\n\neval instant at 2m h\n  {} 1\n\neval instant at 2m m\n  m{a=\"x\"} 4\n";

    #[test]
    fn reports_passes_failures_and_skips() {
        let r = run_script("t", SCRIPT, &mut EngineBackend::new());
        assert_eq!(r.passed, 3, "{r:?}");
        assert_eq!(r.failed.len(), 1);
        assert_eq!(r.failed[0].line, 16);
        assert!(
            r.failed[0].reason.contains("expected 4"),
            "{}",
            r.failed[0].reason
        );
        // The native series line and the eval selecting it.
        assert_eq!(r.skipped.len(), 2);
    }

    #[test]
    fn pins_selectors_but_not_inside_subqueries() {
        let v = pinned_variants("sum(rate(x[5m])) + max_over_time(y[10m:1m])", 60_000);
        assert_eq!(v.len(), 5);
        assert_eq!(
            v[0].0,
            "sum(rate(x[5m] @ 60.000)) + max_over_time(y[10m:1m] @ 60.000)"
        );
        assert_eq!(
            v.iter().map(|x| x.1).collect::<Vec<_>>(),
            [-600_000, 0, 12_000, 60_000, 600_000]
        );
        assert!(pinned_variants("time() + x", 60_000).is_empty());
    }

    proptest! {
        #[test]
        fn random_scripts_never_panic(text in "(load 1m\n|eval instant at 1m |clear\n|m\\{a=\"b\"\\} |[0-9x+_ ]{0,6}|\n){0,12}") {
            let _ = run_script("p", &text, &mut EngineBackend::new());
        }

        #[test]
        fn mutated_scripts_never_panic(at in 0usize..SCRIPT.len(), junk in ".{0,4}") {
            let mut text = SCRIPT.to_owned();
            let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            text.insert_str(at, &junk);
            let _ = run_script("p", &text, &mut EngineBackend::new());
        }
    }
}
