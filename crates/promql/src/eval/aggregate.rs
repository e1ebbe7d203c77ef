//! Aggregation operators (`sum`, `topk`, `count_values`, …) with `by`/`without`.
//!
//! Each input series is assigned its group once, by hashing the grouping labels; each
//! step then only folds values into per-group accumulators.

use super::math::{format_float, nan_first, quantile, quantile_warning, KahanSum, Mean, Variance};
use super::range_functions::RangeWalk;
use super::selector::{Lookback, SeriesSink};
use super::signature::{LabelSubset, SigMap};
use super::{expected_step_buffers, Evaluator, Result, SeriesTable, StepVectors, Steps};
use crate::error::QueryError;
use promql_parser::parser::token::*;
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier, VectorSelector};
use std::collections::HashMap;
use strata_core::{is_valid_label_name, Labels, Point, TimeRange, METRIC_NAME};

/// The fold of one group at one step.
#[derive(Debug, Clone)]
enum Acc {
    Sum(KahanSum),
    Mean(Mean),
    Min(f64),
    Max(f64),
    Count(f64),
    Variance(Variance),
    Values(Vec<f64>),
}

impl Acc {
    fn new(op: TokenId, v: f64) -> Acc {
        let mut acc = match op {
            T_SUM => Acc::Sum(KahanSum::default()),
            T_AVG => Acc::Mean(Mean::default()),
            T_MIN => return Acc::Min(v),
            T_MAX => return Acc::Max(v),
            T_COUNT | T_GROUP => Acc::Count(0.0),
            T_STDDEV | T_STDVAR => Acc::Variance(Variance::default()),
            _ => Acc::Values(Vec::new()),
        };
        acc.add(v);
        acc
    }

    fn add(&mut self, v: f64) {
        match self {
            Acc::Sum(s) => s.add(v),
            Acc::Mean(m) => m.add(v),
            Acc::Min(m) => {
                if *m > v || m.is_nan() {
                    *m = v
                }
            }
            Acc::Max(m) => {
                if *m < v || m.is_nan() {
                    *m = v
                }
            }
            Acc::Count(c) => *c += 1.0,
            Acc::Variance(var) => var.add(v),
            Acc::Values(vs) => vs.push(v),
        }
    }

    fn value(&mut self, op: TokenId, param: f64) -> f64 {
        match self {
            Acc::Sum(s) => s.value(),
            Acc::Mean(m) => m.value(),
            Acc::Min(v) | Acc::Max(v) => *v,
            Acc::Count(c) => {
                if op == T_GROUP {
                    1.0
                } else {
                    *c
                }
            }
            Acc::Variance(v) if op == T_STDDEV => v.value().sqrt(),
            Acc::Variance(v) => v.value(),
            Acc::Values(vs) => quantile(param, vs),
        }
    }
}

/// Groups of an aggregation: each input series' group id and each group's labels.
#[derive(Default)]
struct Groups {
    of_series: Vec<u32>,
    labels: Vec<Labels>,
}

fn group(series: &[Labels], modifier: &Option<LabelModifier>) -> Groups {
    let subset = match modifier {
        None => LabelSubset::Only(Vec::new()),
        Some(LabelModifier::Include(l)) => LabelSubset::Only(l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => LabelSubset::AllBut(l.labels.clone()),
    };
    let mut by_hash: SigMap<u32> = SigMap::default();
    let mut labels = Vec::new();
    let of_series = subset
        .hashes(series)
        .into_iter()
        .zip(series)
        .map(|(h, l)| {
            *by_hash.entry(h).or_insert_with(|| {
                labels.push(subset.labels(l));
                labels.len() as u32 - 1
            })
        })
        .collect();
    Groups { of_series, labels }
}

pub(super) fn eval(ev: &mut Evaluator<'_>, a: &AggregateExpr, s: &Steps) -> Result<StepVectors> {
    let op = a.op.id();
    let param = match (&a.param, op) {
        (Some(p), T_COUNT_VALUES) => Param::Label(ev.eval_string(p, s)?),
        (Some(p), _) => Param::Scalar(ev.eval_scalar(p, s)?),
        (None, _) => Param::Scalar(vec![f64::NAN; s.len()]),
    };
    let by_name = matches!(&a.modifier, Some(LabelModifier::Include(l)) if l.labels.iter().any(|n| n == METRIC_NAME));
    let folds = !matches!(
        op,
        T_TOPK | T_BOTTOMK | T_LIMITK | T_LIMIT_RATIO | T_COUNT_VALUES
    );
    if let (Param::Scalar(p), true) = (&param, folds) {
        if let Some(vs) = plain_selector(&a.expr) {
            let lookback = ev.lookback(vs);
            return fold_selector(ev, op, p, vs, Walk::Instant(lookback), &a.modifier, s);
        }
        // Grouping by `__name__` reads the names a range function drops.
        if let Some((walk, vs)) = range_walk(&a.expr).filter(|_| !by_name) {
            return fold_selector(ev, op, p, vs, Walk::Range(walk), &a.modifier, s);
        }
    }
    // Only grouping by `__name__` and `limit_ratio` (which hashes whole label sets)
    // read the input's metric names; the others may get series that still carry the
    // names their expression dropped.
    let (input, names_left) = if by_name || op == T_LIMIT_RATIO {
        (ev.eval_vector(&a.expr, s)?, false)
    } else {
        ev.eval_vector_ignoring_names(&a.expr, s)?
    };
    let groups = group(&input.series, &a.modifier);
    match (op, param) {
        (T_TOPK | T_BOTTOMK | T_LIMITK | T_LIMIT_RATIO, Param::Scalar(p)) => {
            let out = select_series(ev, op, &p, input, &groups)?;
            Ok(if names_left {
                kept_without_names(out)
            } else {
                out
            })
        }
        (T_COUNT_VALUES, Param::Label(name)) => count_values(ev, &name, input, groups),
        (_, Param::Scalar(p)) => fold(ev, op, &p, input, groups),
        _ => Err(QueryError::bad_data(format!(
            "invalid parameter for aggregation {}",
            a.op
        ))),
    }
}

enum Param {
    Scalar(Vec<f64>),
    Label(String),
}

/// The folding aggregations: one output sample per group and step.
fn fold(
    ev: &mut Evaluator<'_>,
    op: TokenId,
    param: &[f64],
    input: StepVectors,
    groups: Groups,
) -> Result<StepVectors> {
    let mut accs: Vec<Option<Acc>> = vec![None; groups.labels.len()];
    let mut touched: Vec<u32> = Vec::new();
    let mut steps = Vec::with_capacity(input.steps.len());
    for (i, samples) in input.steps.iter().enumerate() {
        ev.check()?;
        if op == T_QUANTILE {
            if let Some(w) = quantile_warning(param[i]) {
                ev.warn(w);
            }
        }
        for &(id, v) in samples {
            let g = groups.of_series[id as usize];
            match &mut accs[g as usize] {
                Some(acc) => acc.add(v),
                slot => {
                    *slot = Some(Acc::new(op, v));
                    touched.push(g);
                }
            }
        }
        let out = touched
            .drain(..)
            .map(|g| {
                let acc = accs[g as usize].as_mut().map(|a| a.value(op, param[i]));
                accs[g as usize] = None;
                (g, acc.unwrap_or(f64::NAN))
            })
            .collect();
        steps.push(out);
    }
    Ok(StepVectors {
        series: groups.labels,
        steps,
    })
}

/// The vector selector `e` is, inside any parentheses.
fn plain_selector(e: &Expr) -> Option<&VectorSelector> {
    match e {
        Expr::Paren(p) => plain_selector(&p.expr),
        Expr::VectorSelector(vs) => Some(vs),
        _ => None,
    }
}

/// The walk of the range function call `e` is, inside any parentheses, if it can be
/// folded as its series come (see [`RangeWalk`]).
fn range_walk(e: &Expr) -> Option<(RangeWalk, &VectorSelector)> {
    match e {
        Expr::Paren(p) => range_walk(&p.expr),
        Expr::Call(c) => RangeWalk::of(
            c.func.name,
            &c.args.args.iter().map(|a| &**a).collect::<Vec<_>>(),
        ),
        _ => None,
    }
}

/// How [`fold_selector`] turns a series' points into its value at each step.
enum Walk {
    /// An instant vector selector's pick.
    Instant(Lookback),
    /// A range function of the series' window.
    Range(RangeWalk),
}

impl Walk {
    fn range(&self, s: &Steps) -> TimeRange {
        match self {
            Walk::Instant(lookback) => lookback.range(s),
            Walk::Range(walk) => walk.range(s),
        }
    }

    fn each_step(&mut self, points: &mut Vec<Point>, s: &Steps, mut f: impl FnMut(usize, f64)) {
        match self {
            Walk::Instant(lookback) => lookback.each_step(points, s, |i, p| f(i, p.v)),
            Walk::Range(walk) => walk.each_step(points, s, f),
        }
    }
}

/// [`fold`] over a vector selector, or a range function of a range selector (`walk`),
/// each series folded as the store lends it into per-group, per-step accumulators:
/// neither the selector's points nor its step vectors are ever held whole, and the
/// folding overlaps the store's decoding of the next series. Each accumulator sees its samples in series order, as in `fold`, and each
/// step lists its groups in the order `fold` would: by the first series that reached
/// them. When there are nearly as many groups as series, accumulators for every group
/// and step would outweigh the step vectors: then those are built and folded as usual.
fn fold_selector(
    ev: &mut Evaluator<'_>,
    op: TokenId,
    param: &[f64],
    vs: &VectorSelector,
    walk: Walk,
    modifier: &Option<LabelModifier>,
    s: &Steps,
) -> Result<StepVectors> {
    let mut sink = FoldSink {
        op,
        modifier,
        walk,
        steps: *s,
        lent: 0,
        series: Vec::new(),
        groups: Groups::default(),
        folded: Folded::Rows {
            accs: Vec::new(),
            first: Vec::new(),
        },
    };
    if s.len() > 0 {
        let range = sink.walk.range(s);
        ev.select_into(vs, range, &mut sink)?;
    }
    if let Walk::Range(walk) = sink.walk {
        walk.finish(ev, vs, sink.lent > 0)?;
    }
    let (n, groups) = (s.len(), sink.groups);
    let (mut accs, first) = match sink.folded {
        Folded::Steps(steps) => {
            let input = StepVectors {
                series: sink.series,
                steps,
            };
            return fold(ev, op, param, input, groups);
        }
        Folded::Rows { accs, first } => (accs, first),
    };
    let mut steps = Vec::with_capacity(n);
    let mut reached: Vec<(u32, u32)> = Vec::new();
    for (i, &p) in param.iter().enumerate().take(n) {
        ev.check()?;
        if op == T_QUANTILE {
            if let Some(w) = quantile_warning(p) {
                ev.warn(w);
            }
        }
        reached.clear();
        reached.extend(
            (0..groups.labels.len() as u32)
                .map(|g| (first[g as usize * n + i], g))
                .filter(|&(id, _)| id != u32::MAX),
        );
        reached.sort_unstable();
        steps.push(
            reached
                .iter()
                .map(|&(_, g)| {
                    let acc = accs[g as usize * n + i].as_mut();
                    (g, acc.map_or(f64::NAN, |a| a.value(op, p)))
                })
                .collect(),
        );
    }
    Ok(StepVectors {
        series: groups.labels,
        steps,
    })
}

/// What [`fold_selector`] folds into.
enum Folded {
    /// Per group, then step: an accumulator and the first series that reached it.
    Rows {
        accs: Vec<Option<Acc>>,
        first: Vec<u32>,
    },
    /// The selector's step vectors, folded once all series are in.
    Steps(Vec<Vec<(u32, f64)>>),
}

/// The sink of [`fold_selector`]: groups the series once they are known, then walks
/// each one as it comes.
struct FoldSink<'m> {
    op: TokenId,
    modifier: &'m Option<LabelModifier>,
    walk: Walk,
    steps: Steps,
    /// How many series came.
    lent: usize,
    series: Vec<Labels>,
    groups: Groups,
    folded: Folded,
}

impl SeriesSink for FoldSink<'_> {
    fn expect(&mut self, labels: &mut dyn ExactSizeIterator<Item = &Labels>) {
        self.series = labels.cloned().collect();
        self.groups = group(&self.series, self.modifier);
        let slots = self.groups.labels.len().saturating_mul(self.steps.len());
        // Against the step vectors of a sample per series and step.
        let step_vectors = self.series.len().saturating_mul(self.steps.len());
        self.folded = if slots.saturating_mul(std::mem::size_of::<Option<Acc>>())
            > step_vectors.saturating_mul(std::mem::size_of::<(u32, f64)>())
        {
            Folded::Steps(expected_step_buffers(self.steps.len(), self.series.len()))
        } else {
            Folded::Rows {
                accs: vec![None; slots],
                first: vec![u32::MAX; slots],
            }
        };
    }

    fn series(&mut self, index: usize, _: &Labels, points: &mut Vec<Point>) {
        let (n, op, id) = (self.steps.len(), self.op, index as u32);
        self.lent += 1;
        match &mut self.folded {
            Folded::Steps(steps) => self
                .walk
                .each_step(points, &self.steps, |i, v| steps[i].push((id, v))),
            Folded::Rows { accs, first } => {
                let row = self.groups.of_series[index] as usize * n;
                self.walk
                    .each_step(points, &self.steps, |i, v| match &mut accs[row + i] {
                        Some(acc) => acc.add(v),
                        slot => {
                            *slot = Some(Acc::new(op, v));
                            first[row + i] = id;
                        }
                    });
            }
        }
    }
}

/// `topk`, `bottomk`, `limitk` and `limit_ratio`: they keep input samples as they are.
fn select_series(
    ev: &mut Evaluator<'_>,
    op: TokenId,
    param: &[f64],
    input: StepVectors,
    groups: &Groups,
) -> Result<StepVectors> {
    let mut steps = Vec::with_capacity(input.steps.len());
    let hashes: Vec<f64> = if op == T_LIMIT_RATIO {
        input.series.iter().map(ratio_offset).collect()
    } else {
        Vec::new()
    };
    for (i, samples) in input.steps.iter().enumerate() {
        ev.check()?;
        let p = param[i];
        if op == T_LIMIT_RATIO {
            if p.is_nan() {
                return Err(QueryError::execution("Ratio value is NaN"));
            }
            if !(-1.0..=1.0).contains(&p) {
                ev.warn(format!(
                    "PromQL warning: ratio value should be between -1 and 1, got {}",
                    format_float(p)
                ));
            }
            let r = p.clamp(-1.0, 1.0);
            let keep = |o: f64| (r >= 0.0 && o < r) || (r < 0.0 && o >= 1.0 + r);
            steps.push(
                samples
                    .iter()
                    .filter(|&&(id, _)| keep(hashes[id as usize]))
                    .copied()
                    .collect(),
            );
            continue;
        }
        let k = if p.is_nan() || p < 1.0 {
            0
        } else {
            p.min(usize::MAX as f64) as usize
        };
        steps.push(if k == 0 {
            Vec::new()
        } else {
            pick_per_group(op, k, samples, groups)
        });
    }
    Ok(StepVectors {
        series: input.series,
        steps,
    })
}

/// `v` with only the series its steps name, each without the metric name its input
/// left on: series that were distinct with names stay distinct without them.
fn kept_without_names(v: StepVectors) -> StepVectors {
    let mut new_id = vec![u32::MAX; v.series.len()];
    let mut series = Vec::new();
    let mut steps = v.steps;
    for (id, _) in steps.iter_mut().flatten() {
        let slot = &mut new_id[*id as usize];
        if *slot == u32::MAX {
            *slot = series.len() as u32;
            series.push(v.series[*id as usize].without_metric_name());
        }
        *id = *slot;
    }
    StepVectors { series, steps }
}

/// The first `k` samples of each group: in input order for `limitk`, otherwise by
/// value (NaN last), groups in order of first appearance.
fn pick_per_group(
    op: TokenId,
    k: usize,
    samples: &[(u32, f64)],
    groups: &Groups,
) -> Vec<(u32, f64)> {
    let mut order: Vec<u32> = Vec::new();
    let mut members: HashMap<u32, Vec<(u32, f64)>> = HashMap::new();
    for &(id, v) in samples {
        let g = groups.of_series[id as usize];
        members
            .entry(g)
            .or_insert_with(|| {
                order.push(g);
                Vec::new()
            })
            .push((id, v));
    }
    let mut out = Vec::new();
    for g in order {
        let mut m = members.remove(&g).unwrap_or_default();
        match op {
            T_TOPK => m.sort_by(|a, b| nan_first(&b.1, &a.1)),
            T_BOTTOMK => m.sort_by(|a, b| nan_last(&a.1, &b.1)),
            _ => {}
        }
        m.truncate(k);
        out.extend(m);
    }
    out
}

fn nan_last(a: &f64, b: &f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// Where a series falls in [0, 1) for `limit_ratio`: Prometheus's label hash (xxHash64
/// of `name 0xff value 0xff …`) scaled down, so the choice is stable across queries.
fn ratio_offset(l: &Labels) -> f64 {
    let mut buf = Vec::new();
    for label in l.iter() {
        buf.extend_from_slice(label.name.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(label.value.as_bytes());
        buf.push(0xff);
    }
    xxhash_rust::xxh64::xxh64(&buf, 0) as f64 / u64::MAX as f64
}

/// `count_values("label", v)`: how many samples of each group have each value.
fn count_values(
    ev: &mut Evaluator<'_>,
    name: &str,
    input: StepVectors,
    groups: Groups,
) -> Result<StepVectors> {
    if !is_valid_label_name(name) {
        return Err(QueryError::bad_data(format!("invalid label name {name:?}")));
    }
    let mut out = SeriesTable::default();
    let mut ids: HashMap<(u32, u64), u32> = HashMap::new();
    let mut steps = Vec::with_capacity(input.steps.len());
    for samples in &input.steps {
        ev.check()?;
        let mut counts: Vec<(u32, f64)> = Vec::new();
        let mut slot: HashMap<u32, usize> = HashMap::new();
        for &(id, v) in samples {
            let g = groups.of_series[id as usize];
            let oid = *ids.entry((g, v.to_bits())).or_insert_with(|| {
                let mut b = groups.labels[g as usize].to_builder();
                b.set(name, &format_float(v));
                out.intern(b.build_unchecked())
            });
            let at = *slot.entry(oid).or_insert_with(|| {
                counts.push((oid, 0.0));
                counts.len() - 1
            });
            counts[at].1 += 1.0;
        }
        steps.push(counts);
    }
    Ok(StepVectors {
        series: out.labels,
        steps,
    })
}
