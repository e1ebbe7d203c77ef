//! The `stats` parameter of `/api/v1/query` and `/api/v1/query_range`: Prometheus adds
//! `"stats":{"timings":{…},"samples":{…}}` to `data` when it is given any value.
//!
//! The timings are measured here, around the engine. The sample counts are this
//! request's evaluation as the engine reports it: `samplesRead` and
//! `totalQueryableSamples` are the samples read from the store (Prometheus counts a
//! range selector's window again at every step in the latter; the engine reads each
//! sample once and does not count per step), and `peakSamples` is what the engine's
//! samples limit holds against, the samples it loaded, or the result when that is
//! larger (the engine does not report samples made by subqueries). An answer from the
//! result cache evaluated nothing and says so: zero samples, zero evaluation time.
//! Per-step counts (`stats=all` with Prometheus's per-step feature) are not produced.

use super::json;
use std::time::Duration;
use strata_promql::{QueryOutput, Value};

/// Where one query request's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Parsing and checking the expression.
    pub preparation: Duration,
    /// Waiting for admission and for an evaluation worker.
    pub queue: Duration,
    /// The engine's evaluation.
    pub eval: Duration,
    /// From the request's start until its result was ready.
    pub total: Duration,
}

/// Samples counted for one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleCounts {
    pub read: usize,
    pub peak: usize,
}

impl SampleCounts {
    /// The counts of a fresh evaluation of `out`.
    pub fn of(out: &QueryOutput) -> Self {
        SampleCounts {
            read: out.stats.samples_loaded,
            peak: out.stats.samples_loaded.max(result_samples(&out.value)),
        }
    }
}

/// The samples a result holds.
fn result_samples(value: &Value) -> usize {
    match value {
        Value::Scalar { .. } | Value::String { .. } => 1,
        Value::Vector(v) => v.len(),
        Value::Matrix(m) => m.iter().map(|s| s.points.len()).sum(),
    }
}

/// Appends the `stats` object, its keys in Prometheus's order.
pub fn write(out: &mut String, t: &Timings, samples: SampleCounts) {
    out.push_str("{\"timings\":{");
    let timings = [
        ("evalTotalTime", t.eval),
        // The engine sorts as it goes; there is no separate sorting step to time.
        ("resultSortTime", Duration::ZERO),
        ("queryPreparationTime", t.preparation),
        ("innerEvalTime", t.eval),
        ("execQueueTime", t.queue),
        ("execTotalTime", t.total),
    ];
    for (i, (key, d)) in timings.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::write_str(out, key);
        out.push(':');
        json::write_float_bare(out, d.as_secs_f64());
    }
    out.push_str("},\"samples\":{\"totalQueryableSamples\":");
    json::write_float_bare(out, samples.read as f64);
    out.push_str(",\"samplesRead\":");
    json::write_float_bare(out, samples.read as f64);
    out.push_str(",\"peakSamples\":");
    json::write_float_bare(out, samples.peak as f64);
    out.push_str("}}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_order_as_prometheus_writes_them() {
        let t = Timings {
            preparation: Duration::from_micros(12),
            queue: Duration::from_millis(3),
            eval: Duration::from_micros(2500),
            total: Duration::from_micros(5600),
        };
        let mut out = String::new();
        write(&mut out, &t, SampleCounts { read: 40, peak: 42 });
        assert_eq!(
            out,
            "{\"timings\":{\"evalTotalTime\":0.0025,\"resultSortTime\":0,\
             \"queryPreparationTime\":0.000012,\"innerEvalTime\":0.0025,\
             \"execQueueTime\":0.003,\"execTotalTime\":0.0056},\
             \"samples\":{\"totalQueryableSamples\":40,\"samplesRead\":40,\"peakSamples\":42}}"
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["samples"]["peakSamples"], 42);
    }
}
