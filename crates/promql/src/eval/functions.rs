//! Function calls: dispatch, and the functions over instant vectors and scalars
//! (math, clamping, dates, labels, sorting, `absent`, `scalar`, `vector`, …).

use super::histogram::histogram_quantile;
use super::math::{go_max, go_min};
use super::range_functions::{absent_labels, absent_result};
use super::{range_functions, Evaluator, Result, StepVectors, Steps, Val};
use crate::error::QueryError;
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use promql_parser::parser::{Call, Expr};
use regex::Regex;
use std::cmp::Ordering;
use strata_core::{is_valid_label_name, Labels};

pub(super) fn eval(ev: &mut Evaluator<'_>, c: &Call, s: &Steps) -> Result<Val> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
    if let Some((v, _)) = range_functions::eval(ev, name, &args, s, false)? {
        return Ok(Val::Vector(v));
    }
    if let Some(f) = math_function(name) {
        let v = ev.eval_vector(args[0], s)?;
        return drop_name_map(ev, v, |_, x| Some(f(x)));
    }
    if let Some(f) = date_function(name) {
        return date(ev, f, args.first().copied(), s);
    }
    match name {
        "time" => Ok(Val::Scalar(
            (0..s.len()).map(|i| s.time(i) as f64 / 1000.0).collect(),
        )),
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; s.len()])),
        "vector" => {
            let x = ev.eval_scalar(args[0], s)?;
            Ok(Val::Vector(StepVectors {
                series: vec![Labels::empty()],
                steps: x.into_iter().map(|v| vec![(0, v)]).collect(),
            }))
        }
        "scalar" => {
            let v = ev.eval_vector(args[0], s)?;
            Ok(Val::Scalar(
                v.steps
                    .iter()
                    .map(|st| if st.len() == 1 { st[0].1 } else { f64::NAN })
                    .collect(),
            ))
        }
        "round" => {
            let to = match args.get(1) {
                Some(a) => ev.eval_scalar(a, s)?,
                None => vec![1.0; s.len()],
            };
            let v = ev.eval_vector(args[0], s)?;
            drop_name_map(ev, v, |i, x| {
                // Dividing by the inverse is what Prometheus does; it rounds better.
                let inv = 1.0 / to[i];
                Some((x * inv + 0.5).floor() / inv)
            })
        }
        "clamp" | "clamp_min" | "clamp_max" => clamp(ev, name, &args, s),
        "timestamp" => timestamp(ev, args[0], s),
        "label_replace" => label_replace(ev, &args, s),
        "label_join" => label_join(ev, &args, s),
        "sort" | "sort_desc" => {
            let mut v = ev.eval_vector(args[0], s)?;
            let desc = name == "sort_desc";
            for step in &mut v.steps {
                step.sort_by(|a, b| by_value_nan_last(a.1, b.1, desc));
            }
            Ok(Val::Vector(v))
        }
        "sort_by_label" | "sort_by_label_desc" => sort_by_label(ev, name, &args, s),
        "absent" => {
            let v = ev.eval_vector(args[0], s)?;
            let labels = match args[0] {
                Expr::VectorSelector(vs) => absent_labels(vs),
                _ => Labels::empty(),
            };
            let present: Vec<bool> = v.steps.iter().map(|st| !st.is_empty()).collect();
            Ok(Val::Vector(absent_result(labels, &present)))
        }
        "histogram_quantile" => {
            let q = ev.eval_scalar(args[0], s)?;
            let v = ev.eval_vector(args[1], s)?;
            histogram_quantile(ev, &q, v).map(Val::Vector)
        }
        // These read only native histograms, which Strata does not store: say so rather
        // than answer with a silently empty vector.
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
        | "histogram_stdvar" | "histogram_fraction" => Err(QueryError::execution(format!(
            "{name}() works on native histograms, which Strata does not support yet"
        ))),
        _ => Err(QueryError::bad_data(format!(
            "function {name:?} is not supported"
        ))),
    }
}

fn math_function(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |x| x * 180.0 / std::f64::consts::PI,
        "rad" => |x| x * std::f64::consts::PI / 180.0,
        "sgn" => |x| {
            if x < 0.0 {
                -1.0
            } else if x > 0.0 {
                1.0
            } else {
                x
            }
        },
        _ => return None,
    })
}

/// Maps values and drops the metric name, as most functions do.
fn drop_name_map(
    ev: &mut Evaluator<'_>,
    v: StepVectors,
    f: impl FnMut(usize, f64) -> Option<f64>,
) -> Result<Val> {
    ev.map_vector(v, |l| Ok(l.without_metric_name()), f)
        .map(Val::Vector)
}

fn clamp(ev: &mut Evaluator<'_>, name: &str, args: &[&Expr], s: &Steps) -> Result<Val> {
    let v = ev.eval_vector(args[0], s)?;
    let a = ev.eval_scalar(args[1], s)?;
    let b = match args.get(2) {
        Some(e) => ev.eval_scalar(e, s)?,
        None => Vec::new(),
    };
    drop_name_map(ev, v, |i, x| match name {
        "clamp_min" => Some(go_max(a[i], x)),
        "clamp_max" => Some(go_min(a[i], x)),
        // clamp(v, min, max) is empty when max < min (not when either is NaN).
        _ => {
            (b[i] >= a[i] || a[i].is_nan() || b[i].is_nan()).then(|| go_max(a[i], go_min(b[i], x)))
        }
    })
}

/// `timestamp(v)`: for a plain selector the timestamps of the samples themselves,
/// otherwise the evaluation time.
fn timestamp(ev: &mut Evaluator<'_>, arg: &Expr, s: &Steps) -> Result<Val> {
    let mut inner = arg;
    while let Expr::Paren(p) = inner {
        inner = &p.expr;
    }
    let (v, from_samples) = match inner {
        Expr::VectorSelector(vs) => (ev.vector_selector(vs, s, |p| p.t as f64 / 1000.0)?, true),
        _ => (ev.eval_vector(arg, s)?, false),
    };
    drop_name_map(ev, v, |i, x| {
        Some(if from_samples {
            x
        } else {
            s.time(i) as f64 / 1000.0
        })
    })
}

fn date_function(name: &str) -> Option<fn(DateTime<Utc>) -> f64> {
    Some(match name {
        "year" => |t| t.year() as f64,
        "month" => |t| t.month() as f64,
        "day_of_month" => |t| t.day() as f64,
        "day_of_year" => |t| t.ordinal() as f64,
        "day_of_week" => |t| t.weekday().num_days_from_sunday() as f64,
        "hour" => |t| t.hour() as f64,
        "minute" => |t| t.minute() as f64,
        "days_in_month" => |t| {
            let (y, m) = (t.year(), t.month());
            let first = NaiveDate::from_ymd_opt(y, m, 1);
            let next = if m == 12 {
                NaiveDate::from_ymd_opt(y + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(y, m + 1, 1)
            };
            match (first, next) {
                (Some(a), Some(b)) => (b - a).num_days() as f64,
                _ => f64::NAN,
            }
        },
        _ => return None,
    })
}

/// The date functions: of each sample's value as Unix seconds, or of the evaluation time
/// when called without argument.
fn date(
    ev: &mut Evaluator<'_>,
    f: fn(DateTime<Utc>) -> f64,
    arg: Option<&Expr>,
    s: &Steps,
) -> Result<Val> {
    let at = |secs: f64| {
        DateTime::from_timestamp(secs as i64, 0)
            .map(f)
            .unwrap_or(f64::NAN)
    };
    match arg {
        None => Ok(Val::Vector(StepVectors {
            series: vec![Labels::empty()],
            steps: (0..s.len())
                .map(|i| vec![(0, at(s.time(i).div_euclid(1000) as f64))])
                .collect(),
        })),
        Some(a) => {
            let v = ev.eval_vector(a, s)?;
            drop_name_map(ev, v, |_, x| Some(at(x)))
        }
    }
}

fn string_arg(ev: &mut Evaluator<'_>, args: &[&Expr], i: usize, s: &Steps) -> Result<String> {
    match args.get(i) {
        Some(a) => ev.eval_string(a, s),
        None => Err(QueryError::bad_data("missing string argument")),
    }
}

fn check_destination(func: &str, dst: &str) -> Result<()> {
    if is_valid_label_name(dst) {
        Ok(())
    } else {
        Err(QueryError::bad_data(format!(
            "invalid destination label name in {func}(): {dst}"
        )))
    }
}

/// `label_replace(v, dst, replacement, src, regex)`.
fn label_replace(ev: &mut Evaluator<'_>, args: &[&Expr], s: &Steps) -> Result<Val> {
    let dst = string_arg(ev, args, 1, s)?;
    let replacement = string_arg(ev, args, 2, s)?;
    let src = string_arg(ev, args, 3, s)?;
    let pattern = string_arg(ev, args, 4, s)?;
    let re = Regex::new(&format!("^(?s:{pattern})$")).map_err(|_| {
        QueryError::bad_data(format!(
            "invalid regular expression in label_replace(): {pattern}"
        ))
    })?;
    check_destination("label_replace", &dst)?;
    let v = ev.eval_vector(args[0], s)?;
    ev.map_vector(
        v,
        |l| {
            let Some(caps) = re.captures(l.get(&src).unwrap_or("")) else {
                return Ok(l.clone());
            };
            let mut value = String::new();
            caps.expand(&replacement, &mut value);
            let mut b = l.to_builder();
            b.set(&dst, &value);
            Ok(b.build_unchecked())
        },
        |_, x| Some(x),
    )
    .map(Val::Vector)
}

/// `label_join(v, dst, separator, src...)`.
fn label_join(ev: &mut Evaluator<'_>, args: &[&Expr], s: &Steps) -> Result<Val> {
    let dst = string_arg(ev, args, 1, s)?;
    let sep = string_arg(ev, args, 2, s)?;
    let srcs = (3..args.len())
        .map(|i| string_arg(ev, args, i, s))
        .collect::<Result<Vec<_>>>()?;
    check_destination("label_join", &dst)?;
    let v = ev.eval_vector(args[0], s)?;
    ev.map_vector(
        v,
        |l| {
            let joined: Vec<&str> = srcs.iter().map(|n| l.get(n).unwrap_or("")).collect();
            let mut b = l.to_builder();
            b.set(&dst, &joined.join(&sep));
            Ok(b.build_unchecked())
        },
        |_, x| Some(x),
    )
    .map(Val::Vector)
}

/// Ascending or descending by value, NaN last either way.
fn by_value_nan_last(a: f64, b: f64, desc: bool) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if desc => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// `sort_by_label(v, label...)`: by the given labels in natural order, then by the whole
/// label set.
fn sort_by_label(ev: &mut Evaluator<'_>, name: &str, args: &[&Expr], s: &Steps) -> Result<Val> {
    let names = (1..args.len())
        .map(|i| string_arg(ev, args, i, s))
        .collect::<Result<Vec<_>>>()?;
    let mut v = ev.eval_vector(args[0], s)?;
    let desc = name == "sort_by_label_desc";
    let series = &v.series;
    for step in &mut v.steps {
        step.sort_by(|a, b| {
            let o = series[a.0 as usize].cmp(&series[b.0 as usize]);
            if desc {
                o.reverse()
            } else {
                o
            }
        });
        step.sort_by(|a, b| {
            let (la, lb) = (&series[a.0 as usize], &series[b.0 as usize]);
            for n in &names {
                let (x, y) = (la.get(n).unwrap_or(""), lb.get(n).unwrap_or(""));
                if x == y {
                    continue;
                }
                let less = natural_less(x, y);
                return if less != desc {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
            }
            Ordering::Equal
        });
    }
    Ok(Val::Vector(v))
}

/// Natural order: runs of digits compare as numbers, other runs as strings.
fn natural_less(a: &str, b: &str) -> bool {
    let (ca, cb) = (chunks(a), chunks(b));
    for (i, x) in ca.iter().enumerate() {
        let Some(y) = cb.get(i) else {
            return false;
        };
        let last_a = i == ca.len() - 1;
        let last_b = i == cb.len() - 1;
        let equal = match (x.parse::<i64>(), y.parse::<i64>()) {
            (Ok(p), Ok(q)) if p != q => return p < q,
            (Ok(_), Ok(_)) => true,
            _ if x == y => true,
            _ => return x < y,
        };
        if equal {
            if last_a {
                return true;
            }
            if last_b {
                return false;
            }
        }
    }
    false
}

fn chunks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = s.as_bytes();
    for i in 1..=bytes.len() {
        if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
            out.push(&s[start..i]);
            start = i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        assert!(natural_less("cpu2", "cpu10"));
        assert!(!natural_less("cpu10", "cpu2"));
        assert!(natural_less("a", "b"));
    }
}
