//! Random walks rounded to 3 decimals: the shape of many business and sensor gauges, and
//! a data set on which XOR-based float codecs do poorly.

use super::{round_to, Builder, Dataset};
use crate::rng::Rng;

#[derive(Debug, Clone)]
pub struct WalkParams {
    pub series: usize,
    pub points: usize,
    pub start_ms: i64,
    pub interval_ms: i64,
    pub seed: u64,
}

/// Groups of series, so that queries can aggregate `by (group)`.
const GROUPS: usize = 10;

pub fn generate(p: &WalkParams) -> Dataset {
    let mut b = Builder::new(p.points);
    for s in 0..p.series {
        let mut rng = Rng::derive(p.seed, s as u64);
        let mut v = round_to(rng.range(0.0, 1000.0), 3);
        let values = (0..p.points)
            .map(|_| {
                let now = v;
                v = round_to(v + rng.normal(), 3);
                now
            })
            .collect();
        let id = format!("{s:04}");
        let group = format!("g{}", s % GROUPS);
        b.add(
            "random_walk",
            &[("job", "walk")],
            &[("series", &id), ("group", &group)],
            values,
        );
    }
    b.finish(p.start_ms, p.interval_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_have_at_most_three_decimals() {
        let ds = generate(&WalkParams {
            series: 5,
            points: 200,
            start_ms: 0,
            interval_ms: 15_000,
            seed: 9,
        });
        assert_eq!(ds.samples(), 1000);
        for v in &ds.values {
            assert!((v * 1000.0 - (v * 1000.0).round()).abs() < 1e-6, "{v}");
        }
    }
}
