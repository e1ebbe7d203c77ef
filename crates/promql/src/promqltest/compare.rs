//! Checking a query's outcome against an eval's expectations.

use super::script::{EvalTime, Expectation, Expected};
use super::series::SeriesLine;
use crate::eval::math::almost_equal;
use crate::{QueryError, QueryOutput, Value, VectorSample};
use std::collections::HashMap;
use strata_core::Labels;

pub(super) fn check_outcome(
    got: Result<QueryOutput, QueryError>,
    expect: &Expectation,
    results: &[Expected],
    time: EvalTime,
) -> Result<(), String> {
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
    compare(&out.value, results, ordered, time)
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
pub(super) fn middle_step(v: &Value, t: i64, scalar: bool) -> Value {
    let Value::Matrix(m) = v else {
        return v.clone();
    };
    let mut samples = Vec::new();
    for s in m {
        if let Some(p) = s.points.iter().find(|p| p.t == t) {
            samples.push(VectorSample {
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

pub(super) fn compare(
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
            same_count(want.len(), samples.len())
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
            same_count(want.len(), series.len())
        }
    }
}

/// Every expected series was found: the result has no more and no fewer.
fn same_count(want: usize, got: usize) -> Result<(), String> {
    if got != want {
        return Err(format!("expected {want} series, got {got}"));
    }
    Ok(())
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
