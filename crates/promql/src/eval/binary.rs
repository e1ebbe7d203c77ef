//! Binary operators: arithmetic, comparisons (with `bool`), set operators, and vector
//! matching with `on`/`ignoring` and `group_left`/`group_right`.

use super::signature::{LabelSubset, SigMap, SigSet};
use super::{Evaluator, Result, SeriesTable, StepVectors, Steps, Val};
use crate::error::QueryError;
use promql_parser::label::METRIC_NAME;
use promql_parser::parser::token::*;
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};
use std::collections::HashSet;
use strata_core::Labels;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    fn from_token(id: TokenId) -> Result<Op> {
        Ok(match id {
            T_ADD => Op::Add,
            T_SUB => Op::Sub,
            T_MUL => Op::Mul,
            T_DIV => Op::Div,
            T_MOD => Op::Mod,
            T_POW => Op::Pow,
            T_ATAN2 => Op::Atan2,
            T_EQLC => Op::Eq,
            T_NEQ => Op::Ne,
            T_GTR => Op::Gt,
            T_LSS => Op::Lt,
            T_GTE => Op::Ge,
            T_LTE => Op::Le,
            T_LAND => Op::And,
            T_LOR => Op::Or,
            T_LUNLESS => Op::Unless,
            other => {
                return Err(QueryError::bad_data(format!(
                    "unsupported binary operator {}",
                    TokenType::new(other)
                )))
            }
        })
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    /// Arithmetic results are new quantities, so they lose the metric name.
    fn drops_name(self) -> bool {
        matches!(
            self,
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod | Op::Pow | Op::Atan2
        )
    }

    /// The result value and, for comparisons, whether the comparison holds (the value is
    /// then the left operand).
    fn apply(self, l: f64, r: f64) -> (f64, bool) {
        match self {
            Op::Add => (l + r, true),
            Op::Sub => (l - r, true),
            Op::Mul => (l * r, true),
            Op::Div => (l / r, true),
            Op::Mod => (l % r, true),
            Op::Pow => (go_pow(l, r), true),
            Op::Atan2 => (l.atan2(r), true),
            Op::Eq => (l, l == r),
            Op::Ne => (l, l != r),
            Op::Gt => (l, l > r),
            Op::Lt => (l, l < r),
            Op::Ge => (l, l >= r),
            Op::Le => (l, l <= r),
            Op::And | Op::Or | Op::Unless => (l, true),
        }
    }
}

/// Go's `math.Pow`, which differs from C's `pow` for a base of -1 and infinite exponents.
fn go_pow(x: f64, y: f64) -> f64 {
    if x == -1.0 && y.is_infinite() {
        return 1.0;
    }
    x.powf(y)
}

pub(super) fn eval(ev: &mut Evaluator<'_>, b: &BinaryExpr, s: &Steps) -> Result<Val> {
    let op = Op::from_token(b.op.id())?;
    if let Some(m) = &b.modifier {
        if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
            return Err(QueryError::bad_data(
                "fill modifiers are not part of Prometheus 3 PromQL and are not supported",
            ));
        }
    }
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&b.lhs, s)?;
    let rhs = ev.eval(&b.rhs, s)?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
            l.iter()
                .zip(&r)
                .map(|(&l, &r)| match op.apply(l, r) {
                    (_, keep) if op.is_comparison() => f64::from(u8::from(keep)),
                    (v, _) => v,
                })
                .collect(),
        )),
        (Val::Vector(v), Val::Scalar(x)) => vector_scalar(ev, op, return_bool, v, &x, false),
        (Val::Scalar(x), Val::Vector(v)) => vector_scalar(ev, op, return_bool, v, &x, true),
        (Val::Vector(l), Val::Vector(r)) => {
            let modifier = b.modifier.clone().unwrap_or_default();
            match op {
                Op::And | Op::Or | Op::Unless => set_op(ev, op, &modifier, l, r),
                _ => vector_vector(ev, op, &modifier, l, r),
            }
            .map(Val::Vector)
        }
        _ => Err(QueryError::bad_data(
            "binary operators are not defined on strings",
        )),
    }
}

/// A vector and a scalar; `swapped` when the scalar is on the left.
fn vector_scalar(
    ev: &mut Evaluator<'_>,
    op: Op,
    return_bool: bool,
    v: StepVectors,
    x: &[f64],
    swapped: bool,
) -> Result<Val> {
    let drop_name = op.drops_name() || return_bool;
    let out = ev.map_vector(
        v,
        |l| {
            Ok(if drop_name {
                l.without_metric_name()
            } else {
                l.clone()
            })
        },
        |i, v| {
            let (l, r) = if swapped { (x[i], v) } else { (v, x[i]) };
            let (mut value, keep) = op.apply(l, r);
            // A comparison keeps the vector's value, whichever side it is on.
            if op.is_comparison() {
                value = v;
            }
            match (return_bool, keep) {
                (true, k) => Some(f64::from(u8::from(k))),
                (false, true) => Some(value),
                (false, false) => None,
            }
        },
    )?;
    Ok(Val::Vector(out))
}

fn matching_subset(m: &BinModifier) -> LabelSubset {
    match &m.matching {
        Some(LabelModifier::Include(l)) => LabelSubset::Only(l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => LabelSubset::AllBut(l.labels.clone()),
        None => LabelSubset::AllBut(Vec::new()),
    }
}

/// `and`, `or`, `unless`: many-to-many, keyed by the matching signature.
fn set_op(
    ev: &mut Evaluator<'_>,
    op: Op,
    m: &BinModifier,
    lhs: StepVectors,
    rhs: StepVectors,
) -> Result<StepVectors> {
    let subset = matching_subset(m);
    let lsig = subset.hashes(&lhs.series);
    let rsig = subset.hashes(&rhs.series);
    let offset = lhs.series.len() as u32;
    let mut steps = Vec::with_capacity(lhs.steps.len());
    let mut sigs = SigSet::default();
    for (ls, rs) in lhs.steps.iter().zip(&rhs.steps) {
        ev.check()?;
        sigs.clear();
        let out: Vec<(u32, f64)> = match op {
            Op::And | Op::Unless => {
                sigs.extend(rs.iter().map(|&(id, _)| rsig[id as usize]));
                let want = op == Op::And;
                ls.iter()
                    .filter(|&&(id, _)| sigs.contains(&lsig[id as usize]) == want)
                    .copied()
                    .collect()
            }
            _ => {
                sigs.extend(ls.iter().map(|&(id, _)| lsig[id as usize]));
                let mut out = ls.clone();
                out.extend(
                    rs.iter()
                        .filter(|&&(id, _)| !sigs.contains(&rsig[id as usize]))
                        .map(|&(id, v)| (id + offset, v)),
                );
                out
            }
        };
        steps.push(out);
    }
    let mut series = lhs.series;
    if op == Op::Or {
        series.extend(rhs.series);
    }
    Ok(StepVectors { series, steps })
}

/// How the result of one match is labelled.
struct ResultLabels<'m> {
    op: Op,
    one_to_one: bool,
    subset: &'m LabelSubset,
    include: &'m [String],
    return_bool: bool,
}

impl ResultLabels<'_> {
    fn build(&self, many: &Labels, one: &Labels) -> Labels {
        let base = match (self.one_to_one, self.subset) {
            (true, LabelSubset::Only(names)) => many.keep(names),
            (true, LabelSubset::AllBut(names)) => many.without(names),
            (false, _) => many.clone(),
        };
        let mut b = base.to_builder();
        if self.op.drops_name() || self.return_bool {
            b.del(METRIC_NAME);
        }
        for name in self.include {
            match one.get(name) {
                Some(v) => b.set(name, v),
                None => b.del(name),
            };
        }
        b.build_unchecked()
    }
}

/// Two ids as one well-spread map key.
fn mix(a: u32, b: u32) -> u64 {
    ((u64::from(a) << 32) | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Arithmetic and comparisons between two vectors, one-to-one or with a "one" side.
fn vector_vector(
    ev: &mut Evaluator<'_>,
    op: Op,
    m: &BinModifier,
    lhs: StepVectors,
    rhs: StepVectors,
) -> Result<StepVectors> {
    let subset = matching_subset(m);
    let (one_to_many, include) = match &m.card {
        VectorMatchCardinality::OneToMany(l) => (true, l.labels.clone()),
        VectorMatchCardinality::ManyToOne(l) => (false, l.labels.clone()),
        _ => (false, Vec::new()),
    };
    let one_to_one = matches!(m.card, VectorMatchCardinality::OneToOne);
    let labels = ResultLabels {
        op,
        one_to_one,
        subset: &subset,
        include: &include,
        return_bool: m.return_bool,
    };
    // The loop runs over the "many" side; for group_right that is the right operand.
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let many_sig = subset.hashes(&many.series);
    let one_sig = subset.hashes(&one.series);
    let one_side = if one_to_many { "left" } else { "right" };
    let mut out = SeriesTable::default();
    // Result series by (many, one) pair; one-to-one results depend on the many side only.
    let mut out_of_many = vec![u32::MAX; if one_to_one { many.series.len() } else { 0 }];
    let mut out_of_pair: SigMap<u32> = SigMap::default();
    let mut steps = Vec::with_capacity(many.steps.len());
    let mut by_sig: SigMap<(u32, f64)> = SigMap::default();
    // Per step: the signatures matched (one-to-one), or the (signature, result) pairs.
    let mut matched = SigSet::default();
    let mut matched_pairs: HashSet<(u64, u32), Xxh3DefaultBuilder> = HashSet::default();
    for (ms, os) in many.steps.iter().zip(&one.steps) {
        ev.check()?;
        let mut step = Vec::new();
        if ms.is_empty() || os.is_empty() {
            steps.push(step);
            continue;
        }
        by_sig.clear();
        matched.clear();
        matched_pairs.clear();
        for &(id, v) in os {
            if let Some((prev, _)) = by_sig.insert(one_sig[id as usize], (id, v)) {
                let group = subset.labels(&one.series[id as usize]);
                return Err(QueryError::execution(format!(
                    "found duplicate series for the match group {group} on the {one_side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    one.series[prev as usize], one.series[id as usize]
                )));
            }
        }
        for &(mid, mv) in ms {
            let sig = many_sig[mid as usize];
            let Some(&(oid, ov)) = by_sig.get(&sig) else {
                continue;
            };
            let (l, r) = if one_to_many { (ov, mv) } else { (mv, ov) };
            let (mut value, keep) = op.apply(l, r);
            if m.return_bool {
                value = f64::from(u8::from(keep));
            } else if !keep {
                continue;
            }
            let mut result =
                || out.intern(labels.build(&many.series[mid as usize], &one.series[oid as usize]));
            let id = if one_to_one {
                let slot = &mut out_of_many[mid as usize];
                if *slot == u32::MAX {
                    *slot = result();
                }
                *slot
            } else {
                *out_of_pair.entry(mix(mid, oid)).or_insert_with(result)
            };
            if one_to_one && !matched.insert(sig) {
                return Err(QueryError::execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
            if !one_to_one && !matched_pairs.insert((sig, id)) {
                return Err(QueryError::execution(
                    "multiple matches for labels: grouping labels must ensure unique matches",
                ));
            }
            step.push((id, value));
        }
        steps.push(step);
    }
    Ok(StepVectors {
        series: out.labels,
        steps,
    })
}
