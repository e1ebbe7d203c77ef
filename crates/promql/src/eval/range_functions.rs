//! Functions over range vectors: rates and deltas with Prometheus's extrapolation, the
//! `*_over_time` family, regressions and smoothing. Each is a pure function of one
//! series' window `(end - range, end]`.

use super::math::{linear_regression, quantile, quantile_warning, KahanSum, Mean, Variance};
use super::signature::raw_metric_name;
use super::{step_buffers, Evaluator, MatrixArg, Relabel, Result, StepVectors, Steps};
use crate::error::QueryError;
use promql_parser::parser::{Expr, VectorSelector};
use strata_core::{Labels, LabelsBuilder, Point};

/// One call of a range function: the window and what it needs to know about it.
struct Window<'a> {
    pts: &'a [Point],
    /// The step's evaluation time, even under `@` (`predict_linear` extrapolates from it,
    /// as Prometheus's `@`-unsafe functions do).
    t: i64,
    /// The window's inclusive end and its length, in milliseconds.
    end: i64,
    range: i64,
    /// The step's scalar arguments, in argument order.
    args: &'a [f64],
}

type RangeFn = fn(&Window<'_>, &mut Vec<String>) -> Result<Option<f64>>;

/// The function and the position of its range-vector argument, if `name` is one.
fn lookup(name: &str) -> Option<(RangeFn, usize)> {
    let f: RangeFn = match name {
        "rate" => |w, _| Ok(extrapolated_rate(w, true, true)),
        "increase" => |w, _| Ok(extrapolated_rate(w, true, false)),
        "delta" => |w, _| Ok(extrapolated_rate(w, false, false)),
        "irate" => |w, _| Ok(instant_value(w.pts, true)),
        "idelta" => |w, _| Ok(instant_value(w.pts, false)),
        "changes" => |w, _| Ok(Some(changes(w.pts))),
        "resets" => |w, _| {
            Ok(Some(
                w.pts.windows(2).filter(|p| p[1].v < p[0].v).count() as f64
            ))
        },
        "deriv" => |w, _| Ok((w.pts.len() >= 2).then(|| linear_regression(w.pts, w.pts[0].t).0)),
        "predict_linear" => |w, _| {
            Ok((w.pts.len() >= 2).then(|| {
                let (slope, intercept) = linear_regression(w.pts, w.t);
                slope * w.args[0] + intercept
            }))
        },
        "double_exponential_smoothing" => smoothing,
        "avg_over_time" => |w, _| Ok(Some(fold(w.pts, Mean::default(), Mean::add, |m| m.value()))),
        "sum_over_time" => |w, _| {
            Ok(Some(fold(w.pts, KahanSum::default(), KahanSum::add, |s| {
                s.value()
            })))
        },
        "count_over_time" => |w, _| Ok(Some(w.pts.len() as f64)),
        "min_over_time" => |w, _| Ok(Some(extreme(w.pts, |cur, best| cur < best))),
        "max_over_time" => |w, _| Ok(Some(extreme(w.pts, |cur, best| cur > best))),
        "stdvar_over_time" => |w, _| {
            Ok(Some(fold(w.pts, Variance::default(), Variance::add, |v| {
                v.value()
            })))
        },
        "stddev_over_time" => |w, _| {
            Ok(Some(fold(w.pts, Variance::default(), Variance::add, |v| {
                v.value().sqrt()
            })))
        },
        "last_over_time" => |w, _| Ok(w.pts.last().map(|p| p.v)),
        "present_over_time" => |_, _| Ok(Some(1.0)),
        "quantile_over_time" => |w, warnings| {
            let q = w.args[0];
            warnings.extend(quantile_warning(q));
            let mut values: Vec<f64> = w.pts.iter().map(|p| p.v).collect();
            Ok(Some(quantile(q, &mut values)))
        },
        "mad_over_time" => |w, _| {
            let mut values: Vec<f64> = w.pts.iter().map(|p| p.v).collect();
            let median = quantile(0.5, &mut values);
            let mut dev: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
            Ok(Some(quantile(0.5, &mut dev)))
        },
        _ => return None,
    };
    let matrix_pos = usize::from(name == "quantile_over_time");
    Some((f, matrix_pos))
}

/// Evaluates `name` if it is a range function (`Ok(None)` otherwise).
///
/// With `names_ignored` (the caller never reads metric names), a function that drops
/// them may leave them on when its series stay distinct without them, sparing a new
/// label set per series; the flag returned says whether it did.
pub(super) fn eval(
    ev: &mut Evaluator<'_>,
    name: &str,
    args: &[&Expr],
    s: &Steps,
    names_ignored: bool,
) -> Result<Option<(StepVectors, bool)>> {
    if name == "absent_over_time" {
        return absent_over_time(ev, args[0], s).map(|v| Some((v, false)));
    }
    let Some((f, matrix_pos)) = lookup(name) else {
        return Ok(None);
    };
    let mut scalars = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i != matrix_pos {
            scalars.push(ev.eval_scalar(a, s)?);
        }
    }
    let m = ev.matrix_arg(args[matrix_pos], s)?;
    let keep_name = name == "last_over_time";
    if matches!(name, "rate" | "increase") {
        warn_non_counters(ev, &m);
    }
    // A selector's series are distinct, and stay so without their name if they share it.
    let distinct = m.selector.is_some() && (keep_name || same_metric_name(&m.series));
    let names_left = distinct && names_ignored && !keep_name;
    let mut relabel = if distinct {
        Relabel::one_to_one(
            m.series
                .iter()
                .map(|l| {
                    if keep_name || names_left {
                        l.clone()
                    } else {
                        l.without_metric_name()
                    }
                })
                .collect(),
        )
    } else {
        Relabel::new(m.series.len())
    };
    let points = m.points.total();
    let mut steps = step_buffers(s.len(), m.series.len(), points);
    let mut warnings = Vec::new();
    let mut step_args = vec![0.0; scalars.len()];
    // Under `@` every step sees the same window: unless the function reads the step time
    // or its other arguments vary, compute each series once and repeat the value.
    let invariant = m.is_pinned()
        && name != "predict_linear"
        && scalars
            .iter()
            .all(|v| v.windows(2).all(|w| w[0].to_bits() == w[1].to_bits()));
    let walk = if invariant {
        Steps::instant(s.start)
    } else {
        *s
    };
    m.for_each_window(ev, &walk, |id, i, pts| {
        for (slot, values) in step_args.iter_mut().zip(&scalars) {
            *slot = values[i];
        }
        let w = Window {
            pts,
            t: s.time(i),
            end: m.range_end(s.time(i)),
            range: m.range,
            args: &step_args,
        };
        if let Some(v) = f(&w, &mut warnings)? {
            let labels = &m.series[id];
            let oid = relabel.get(id as u32, || {
                Ok(if keep_name {
                    labels.clone()
                } else {
                    labels.without_metric_name()
                })
            })?;
            if invariant {
                steps.iter_mut().for_each(|step| step.push((oid, v)));
            } else {
                steps[i].push((oid, v));
            }
        }
        Ok(())
    })?;
    for w in warnings {
        ev.warn(w);
    }
    for (i, step) in steps.iter().enumerate() {
        relabel.check_step(i, step)?;
    }
    let out = StepVectors {
        series: relabel.out.labels,
        steps,
    };
    Ok(Some((out, names_left)))
}

fn same_metric_name(series: &[Labels]) -> bool {
    let first = series.first().and_then(raw_metric_name);
    Labels::prefetching(series).all(|l| raw_metric_name(l) == first)
}

/// Prometheus's info annotation for `rate`/`increase` over names that do not look like
/// counters.
fn warn_non_counters(ev: &mut Evaluator<'_>, m: &MatrixArg) {
    if m.selector.is_none() {
        return;
    }
    let mut checked = None;
    for l in Labels::prefetching(&m.series) {
        let name = raw_metric_name(l);
        if name == checked {
            continue;
        }
        checked = name;
        if let Some(name) = name {
            info_if_not_counter(ev, name);
        }
    }
}

fn info_if_not_counter(ev: &mut Evaluator<'_>, name: &[u8]) {
    if !["_total", "_sum", "_count", "_bucket"]
        .iter()
        .any(|s| name.ends_with(s.as_bytes()))
    {
        let name = String::from_utf8_lossy(name);
        ev.info(format!(
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?}"
        ));
    }
}

/// A range function of one plain range selector, applied to each series as the store
/// lends it, for an aggregation that folds the values at once (see
/// `aggregate::fold_selector`) rather than holding the selection's points and the
/// function's step vectors whole. Only for what that cannot change: a function of the
/// selector alone that drops the metric name, over one metric name (so the series stay
/// distinct without it), without `@`.
pub(super) struct RangeWalk {
    f: RangeFn,
    is_rate: bool,
    range: i64,
    offset: i64,
    warnings: Vec<String>,
    error: Option<QueryError>,
}

impl RangeWalk {
    /// The walk of `name(args)` and its selector, if it is such a call.
    pub fn of<'e>(name: &str, args: &[&'e Expr]) -> Option<(RangeWalk, &'e VectorSelector)> {
        let (f, 0) = lookup(name)? else {
            return None;
        };
        if args.len() != 1 || name == "last_over_time" {
            return None;
        }
        let Expr::MatrixSelector(ms) = args[0] else {
            return None;
        };
        let vs = &ms.vs;
        if vs.name.is_none() || vs.at.is_some() {
            return None;
        }
        let walk = RangeWalk {
            f,
            is_rate: matches!(name, "rate" | "increase"),
            range: super::selector::millis(ms.range),
            offset: super::selector::offset_ms(&vs.offset),
            warnings: Vec::new(),
            error: None,
        };
        Some((walk, vs))
    }

    /// The points the windows of the steps of `s` take.
    pub fn range(&self, s: &Steps) -> strata_core::TimeRange {
        super::selector::windows_span(s, None, self.offset, self.range)
    }

    /// Calls `f(step index, value)` for each step where the function of the series'
    /// window has a value. Staleness markers are left out of `points`, as from every
    /// range vector. The first error stops the walk for good (see [`Self::finish`]).
    pub fn each_step(&mut self, points: &mut Vec<Point>, s: &Steps, mut f: impl FnMut(usize, f64)) {
        if self.error.is_some() {
            return;
        }
        points.retain(|p| !strata_core::is_stale_nan(p.v));
        let (func, warnings) = (self.f, &mut self.warnings);
        let end = |t| t - self.offset;
        let walked = super::selector::each_window(points, s, self.range, end, |i, pts| {
            let w = Window {
                pts,
                t: s.time(i),
                end: end(s.time(i)),
                range: self.range,
                args: &[],
            };
            if let Some(v) = func(&w, warnings)? {
                f(i, v);
            }
            Ok(())
        });
        self.error = walked.err();
    }

    /// Reports the walk's warnings, the counter check of `rate` and `increase` on the
    /// selector's name if any series came, and its first error.
    pub fn finish(self, ev: &mut Evaluator<'_>, vs: &VectorSelector, any: bool) -> Result<()> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.is_rate && any {
            if let Some(name) = &vs.name {
                info_if_not_counter(ev, name.as_bytes());
            }
        }
        for w in self.warnings {
            ev.warn(w);
        }
        Ok(())
    }
}

fn fold<A>(pts: &[Point], init: A, add: fn(&mut A, f64), value: fn(&A) -> f64) -> f64 {
    let mut acc = init;
    for p in pts {
        add(&mut acc, p.v);
    }
    value(&acc)
}

/// The extreme value by `better`; NaN only when every value is NaN.
fn extreme(pts: &[Point], better: fn(f64, f64) -> bool) -> f64 {
    let mut best = pts[0].v;
    for p in pts {
        if better(p.v, best) || best.is_nan() {
            best = p.v;
        }
    }
    best
}

fn changes(pts: &[Point]) -> f64 {
    pts.windows(2)
        .filter(|p| !(p[0].v == p[1].v || (p[0].v.is_nan() && p[1].v.is_nan())))
        .count() as f64
}

/// `rate`, `increase` and `delta`: the change over the window, corrected for counter
/// resets and extrapolated towards the window's edges the way Prometheus does.
fn extrapolated_rate(w: &Window<'_>, counter: bool, per_second: bool) -> Option<f64> {
    let pts = w.pts;
    if pts.len() < 2 {
        return None;
    }
    let (first, last) = (pts[0], pts[pts.len() - 1]);
    let mut result = last.v - first.v;
    if counter {
        let mut prev = 0.0;
        for p in pts {
            if p.v < prev {
                result += prev;
            }
            prev = p.v;
        }
    }
    let range_start = w.end - w.range;
    let mut to_start = (first.t - range_start) as f64 / 1000.0;
    let mut to_end = (w.end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg_gap = sampled / (pts.len() - 1) as f64;
    // Extrapolate to an edge only when a sample is about where the next would be
    // expected; otherwise assume the series starts or ends half a gap away.
    let threshold = avg_gap * 1.1;
    if to_start >= threshold {
        to_start = avg_gap / 2.0;
    }
    if counter && result > 0.0 && first.v >= 0.0 {
        // A counter does not go below zero: stop extrapolating where it would hit zero.
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_gap / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if per_second {
        factor /= w.range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` and `idelta`: from the last two samples.
fn instant_value(pts: &[Point], per_second: bool) -> Option<f64> {
    if pts.len() < 2 {
        return None;
    }
    let (prev, last) = (pts[pts.len() - 2], pts[pts.len() - 1]);
    let mut result = if per_second && last.v < prev.v {
        last.v // A counter reset.
    } else {
        last.v - prev.v
    };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    if per_second {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// `double_exponential_smoothing(v, sf, tf)` (Holt's linear method).
fn smoothing(w: &Window<'_>, _: &mut Vec<String>) -> Result<Option<f64>> {
    let (sf, tf) = (w.args[0], w.args[1]);
    for (what, f) in [("smoothing", sf), ("trend", tf)] {
        if !(f > 0.0 && f < 1.0) {
            return Err(QueryError::bad_data(format!(
                "invalid {what} factor. Expected: 0 < {} < 1, got: {f:.6}",
                if what == "smoothing" { "sf" } else { "tf" }
            )));
        }
    }
    let pts = w.pts;
    if pts.len() < 2 {
        return Ok(None);
    }
    let (mut s0, mut s1) = (0.0, pts[0].v);
    let mut b = pts[1].v - pts[0].v;
    for (i, p) in pts.iter().enumerate().skip(1) {
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let next = sf * p.v + (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = next;
    }
    Ok(Some(s1))
}

/// `absent_over_time(v[r])`: 1 at steps where no series has a sample in its window.
fn absent_over_time(ev: &mut Evaluator<'_>, arg: &Expr, s: &Steps) -> Result<StepVectors> {
    let m = ev.matrix_arg(arg, s)?;
    let mut present = vec![false; s.len()];
    m.for_each_window(ev, s, |_, i, _| {
        present[i] = true;
        Ok(())
    })?;
    let labels = m.selector.as_ref().map(absent_labels).unwrap_or_default();
    Ok(absent_result(labels, &present))
}

/// One series, `labels`, with value 1 at each step not marked present.
pub(super) fn absent_result(labels: Labels, present: &[bool]) -> StepVectors {
    StepVectors {
        series: vec![labels],
        steps: present
            .iter()
            .map(|&p| if p { Vec::new() } else { vec![(0, 1.0)] })
            .collect(),
    }
}

/// The labels `absent` reports: those the selector fixes with `=`, except any label
/// matched more than once.
pub(super) fn absent_labels(vs: &VectorSelector) -> Labels {
    let mut b = LabelsBuilder::new();
    let mut seen: Vec<&str> = Vec::new();
    for m in vs.matchers.matchers.iter() {
        if m.name == strata_core::METRIC_NAME {
            continue;
        }
        let equal = matches!(m.op, promql_parser::label::MatchOp::Equal);
        if equal && !seen.contains(&m.name.as_str()) {
            b.set(&m.name, &m.value);
            seen.push(&m.name);
        } else {
            b.del(&m.name);
        }
    }
    b.build_unchecked()
}
