//! Which series and queries involve native histograms, which Strata does not run.

use promql_parser::parser::{Expr, VectorSelector};
use strata_core::{Labels, METRIC_NAME};

/// The native histogram `load_with_nhcb` makes of a classic bucket series.
pub(super) fn nhcb_series(l: &Labels) -> Option<Labels> {
    let name = l.metric_name()?.strip_suffix("_bucket")?;
    l.get("le")?;
    let mut b = l.without(&["le"]).to_builder();
    b.set(METRIC_NAME, name);
    Some(b.build_unchecked())
}

/// The first native series any selector of `expr` selects.
pub(super) fn touched_native(expr: &str, native: &[Labels]) -> Option<Labels> {
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

fn collect_selectors<'e>(e: &'e Expr, out: &mut Vec<&'e VectorSelector>) {
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

fn selects(vs: &VectorSelector, l: &Labels) -> bool {
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
