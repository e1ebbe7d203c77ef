//! The `@`-pinned variants of an instant eval that Prometheus's runner also checks.

use promql_parser::parser::{AtModifier, Expr};
use std::time::{Duration, UNIX_EPOCH};

/// Functions whose result depends on the evaluation time even when their arguments are
/// pinned with `@`.
const AT_UNSAFE_FUNCTIONS: [&str; 11] = [
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

/// Prometheus's runner also checks that pinning every selector and subquery with
/// `@ t` gives the same result at other evaluation times: the query rewritten that way,
/// with the times to run it at. None when a function depends on the evaluation time.
pub(super) fn pinned_variants(expr: &str, t: i64) -> Vec<(String, i64)> {
    let Ok(mut e) = promql_parser::parser::parse(expr) else {
        return Vec::new();
    };
    let Some(at) = UNIX_EPOCH.checked_add(Duration::from_millis(t.max(0) as u64)) else {
        return Vec::new();
    };
    if t < 0 || pin(&mut e, &AtModifier::At(at)) {
        return Vec::new();
    }
    let times = if t == 0 {
        vec![0, 10, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    };
    let text = e.to_string();
    times.into_iter().map(|at| (text.clone(), at)).collect()
}

/// Sets `@` on every selector and subquery lacking one (not inside subqueries); true if
/// an `@`-unsafe function is met.
fn pin(e: &mut Expr, at: &AtModifier) -> bool {
    match e {
        Expr::VectorSelector(vs) => {
            vs.at.get_or_insert_with(|| at.clone());
            false
        }
        Expr::MatrixSelector(ms) => {
            ms.vs.at.get_or_insert_with(|| at.clone());
            false
        }
        Expr::Subquery(sq) => {
            sq.at.get_or_insert_with(|| at.clone());
            false
        }
        Expr::Call(c) => {
            let mut unsafe_fn = AT_UNSAFE_FUNCTIONS.contains(&c.func.name);
            for a in c.args.args.iter_mut() {
                unsafe_fn |= pin(a, at);
            }
            unsafe_fn
        }
        Expr::Aggregate(a) => {
            let mut unsafe_fn = pin(&mut a.expr, at);
            if let Some(p) = &mut a.param {
                unsafe_fn |= pin(p, at);
            }
            unsafe_fn
        }
        Expr::Unary(u) => pin(&mut u.expr, at),
        Expr::Binary(b) => pin(&mut b.lhs, at) | pin(&mut b.rhs, at),
        Expr::Paren(p) => pin(&mut p.expr, at),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => false,
    }
}
