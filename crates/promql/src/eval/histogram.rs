//! `histogram_quantile` over classic (`le`-labelled) bucket series, with the bucket
//! repairs Prometheus applies: merged duplicate bounds and forced monotonicity.

use super::math::{almost_equal, quantile_warning};
use super::signature::LabelsMap;
use super::{Evaluator, Relabel, Result, StepVectors};
use strata_core::Labels;

/// Differences this small between cumulative bucket counts are float noise.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

/// `histogram_quantile(φ, buckets)` at every step.
pub(super) fn histogram_quantile(
    ev: &mut Evaluator<'_>,
    q: &[f64],
    input: StepVectors,
) -> Result<StepVectors> {
    // Each series' histogram (its labels without `le`) and bucket bound.
    let mut histograms: LabelsMap<u32> = LabelsMap::default();
    let mut keys: Vec<Labels> = Vec::new();
    let mut of_series: Vec<Option<(u32, f64)>> = Vec::with_capacity(input.series.len());
    let mut present = vec![false; input.series.len()];
    for &(id, _) in input.steps.iter().flatten() {
        present[id as usize] = true;
    }
    for (id, l) in input.series.iter().enumerate() {
        let Some(upper) = l.get("le").and_then(parse_le) else {
            of_series.push(None);
            if present[id] {
                ev.warn(format!(
                    "PromQL warning: bucket label \"le\" is missing or has a malformed value of {:?} for metric name {:?}",
                    l.get("le").unwrap_or_default(),
                    l.metric_name().unwrap_or_default()
                ));
            }
            continue;
        };
        let key = l.without(&["le"]);
        let h = *histograms.entry(key.clone()).or_insert_with(|| {
            keys.push(key);
            keys.len() as u32 - 1
        });
        of_series.push(Some((h, upper)));
    }
    let mut relabel = Relabel::new(keys.len());
    let mut out_ids = Vec::with_capacity(keys.len());
    for (h, key) in keys.iter().enumerate() {
        out_ids.push(relabel.get(h as u32, || Ok(key.without_metric_name()))?);
    }
    let mut buckets: Vec<Vec<Bucket>> = vec![Vec::new(); histograms.len()];
    let mut steps = Vec::with_capacity(input.steps.len());
    let mut forced = false;
    for (i, samples) in input.steps.iter().enumerate() {
        ev.check()?;
        if let Some(w) = quantile_warning(q[i]) {
            ev.warn(w);
        }
        let mut touched = Vec::new();
        for &(id, v) in samples {
            if let Some((h, upper)) = of_series[id as usize] {
                if buckets[h as usize].is_empty() {
                    touched.push(h);
                }
                buckets[h as usize].push(Bucket { upper, count: v });
            }
        }
        let mut out = Vec::with_capacity(touched.len());
        for h in touched {
            let mut b = std::mem::take(&mut buckets[h as usize]);
            let (v, f) = bucket_quantile(q[i], &mut b);
            forced |= f;
            out.push((out_ids[h as usize], v));
            b.clear();
            buckets[h as usize] = b;
        }
        relabel.check_step(i, &out)?;
        steps.push(out);
    }
    if forced {
        ev.info("PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)".to_owned());
    }
    Ok(StepVectors {
        series: relabel.out.labels,
        steps,
    })
}

/// Parses an `le` value as Go's `strconv.ParseFloat` would.
fn parse_le(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// The quantile of one histogram, and whether its buckets had to be made monotonic.
fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    buckets.sort_by(|a, b| a.upper.total_cmp(&b.upper));
    if !buckets.last().is_some_and(|b| b.upper == f64::INFINITY) {
        return (f64::NAN, false);
    }
    coalesce(buckets);
    let forced = ensure_monotonic(buckets);
    if buckets.len() < 2 {
        return (f64::NAN, forced);
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let n = buckets.len();
    let b = buckets[..n - 1]
        .iter()
        .position(|b| b.count >= rank)
        .unwrap_or(n - 1);
    if b == n - 1 {
        return (buckets[n - 2].upper, forced);
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return (buckets[0].upper, forced);
    }
    let (mut start, end, mut count) = (0.0, buckets[b].upper, buckets[b].count);
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

/// Merges buckets with the same bound (sorted input), adding their counts.
fn coalesce(buckets: &mut Vec<Bucket>) {
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.drain(..) {
        match out.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => out.push(b),
        }
    }
    *buckets = out;
}

/// Removes decreases in the cumulative counts and float noise; true if a real decrease
/// had to be removed.
fn ensure_monotonic(buckets: &mut [Bucket]) -> bool {
    let mut forced = false;
    let mut prev = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        let cur = b.count;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, SMALL_DELTA_TOLERANCE) {
            b.count = prev;
            continue;
        }
        if cur < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = cur;
    }
    forced
}
