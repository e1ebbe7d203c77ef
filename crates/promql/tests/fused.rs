//! Aggregations straight over a vector selector, or over a range function of a range
//! selector, are folded series by series, without the selector's step vectors; they
//! must answer exactly as the general fold does. The general fold is reached by
//! wrapping the argument (`x + 0` and `f(x[1m]) * 1` keep every value).

use proptest::prelude::*;
use strata_core::{Appender, Labels, MemStorage, Sample, WriteBatch, STALE_NAN};
use strata_promql::{Engine, QueryContext, Value};

/// `x{g, i}`: `series` series in `groups` groups; each sample is present or not, a
/// staleness marker, NaN or a value, from `cells` (cycled).
fn store(series: usize, groups: usize, cells: &[u8]) -> MemStorage {
    let s = MemStorage::new();
    let mut batch = WriteBatch::default();
    let mut cell = cells.iter().cycle();
    for i in 0..series {
        let l = Labels::new([
            ("__name__", "x".to_owned()),
            ("g", (i % groups).to_string()),
            ("i", i.to_string()),
        ])
        .unwrap();
        for m in 0..30i64 {
            let c = *cell.next().unwrap_or(&0);
            let v = match c % 8 {
                0 => continue,
                1 => STALE_NAN,
                2 => f64::NAN,
                k => (f64::from(c) - 128.0) * 1.5f64.powi(i32::from(k)),
            };
            batch.samples.push(Sample {
                labels: l.clone(),
                t: m * 20_000,
                v,
            });
        }
    }
    s.append(&batch).unwrap();
    s
}

/// The query's answer as text, bit-exact for values (NaN included).
fn answer(store: &MemStorage, q: &str, range: bool) -> String {
    let engine = Engine::default();
    let ctx = QueryContext::default();
    let out = if range {
        engine.range(store, q, 0, 700_000, 15_000, &ctx)
    } else {
        engine.instant(store, q, 400_000, &ctx)
    }
    .unwrap();
    let mut text = format!("{:?} {:?}\n", out.warnings, out.infos);
    match out.value {
        Value::Vector(v) => v.iter().for_each(|s| {
            text += &format!("{} {:x}\n", s.labels, s.v.to_bits());
        }),
        Value::Matrix(m) => m.iter().for_each(|s| {
            text += &format!("{}", s.labels);
            s.points
                .iter()
                .for_each(|p| text += &format!(" {}:{:x}", p.t, p.v.to_bits()));
            text.push('\n');
        }),
        other => text += &format!("{other:?}"),
    }
    text
}

proptest! {
    #[test]
    fn fused_folds_answer_as_the_general_fold(
        series in 1usize..12,
        groups in 1usize..12,
        cells in proptest::collection::vec(any::<u8>(), 1..64),
        op in prop_oneof![
            Just("sum"), Just("avg"), Just("min"), Just("max"), Just("count"),
            Just("group"), Just("stddev"), Just("stdvar"), Just("quantile(0.3,"),
        ],
        modifier in prop_oneof![Just(""), Just(" by (g)"), Just(" without (g)"), Just(" by (i)")],
        function in prop_oneof![
            Just(""), Just("rate"), Just("increase"), Just("delta"), Just("irate"),
            Just("idelta"), Just("changes"), Just("resets"), Just("deriv"),
            Just("avg_over_time"), Just("sum_over_time"), Just("count_over_time"),
            Just("min_over_time"), Just("max_over_time"), Just("stddev_over_time"),
            Just("present_over_time"),
        ],
        range in any::<bool>(),
    ) {
        let store = store(series, groups, &cells);
        let call = |arg: &str| match op.split_once('(') {
            Some((name, param)) => format!("{name}{modifier} ({param} {arg})"),
            None => format!("{op}{modifier} ({arg})"),
        };
        let (fused, general) = match function {
            "" => ("x".to_owned(), "x + 0".to_owned()),
            f => (format!("{f}(x[1m] offset 20s)"), format!("{f}(x[1m] offset 20s) * 1")),
        };
        prop_assert_eq!(answer(&store, &call(&fused), range), answer(&store, &call(&general), range));
    }
}
