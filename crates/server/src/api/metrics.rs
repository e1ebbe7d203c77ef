//! The read APIs' own metrics, written in Prometheus text format for `/metrics`: requests
//! by endpoint and outcome, their durations, cache hits and misses, refusals by reason.

use super::response::ErrorType;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the duration histogram's buckets.
const BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct ApiMetrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    durations: Mutex<BTreeMap<&'static str, Histogram>>,
    refusals: Mutex<BTreeMap<&'static str, u64>>,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

impl ApiMetrics {
    /// Records one finished request of `endpoint`: `None` for success, else its error type.
    pub fn observe(&self, endpoint: &'static str, error: Option<ErrorType>, took: Duration) {
        let outcome = error.map_or("success", ErrorType::as_str);
        *self.requests.lock().entry((endpoint, outcome)).or_default() += 1;
        let secs = took.as_secs_f64();
        let mut durations = self.durations.lock();
        let h = durations.entry(endpoint).or_default();
        for (count, bound) in h.counts.iter_mut().zip(BUCKETS) {
            if secs <= bound {
                *count += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Records a query stopped by a protection: `concurrency`, `timeout`, `max_series`, `max_samples`.
    pub fn refused(&self, reason: &'static str) {
        *self.refusals.lock().entry(reason).or_default() += 1;
    }

    pub fn cache_lookup(&self, hit: bool) {
        let counter = if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Appends every metric; `in_flight` and `cache_entries` are sampled by the caller.
    pub fn write(&self, out: &mut String, in_flight: usize, cache_entries: usize) {
        out.push_str(
            "# HELP strata_query_requests_total Read API requests by endpoint and outcome.\n",
        );
        out.push_str("# TYPE strata_query_requests_total counter\n");
        for ((endpoint, outcome), n) in self.requests.lock().iter() {
            let _ = writeln!(
                out,
                "strata_query_requests_total{{endpoint=\"{endpoint}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        out.push_str("# HELP strata_query_duration_seconds Read API request durations.\n");
        out.push_str("# TYPE strata_query_duration_seconds histogram\n");
        for (endpoint, h) in self.durations.lock().iter() {
            for (count, bound) in h.counts.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "strata_query_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "strata_query_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "strata_query_duration_seconds_sum{{endpoint=\"{endpoint}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "strata_query_duration_seconds_count{{endpoint=\"{endpoint}\"}} {}",
                h.count
            );
        }
        out.push_str(
            "# HELP strata_query_refusals_total Queries stopped by a protection, by reason.\n",
        );
        out.push_str("# TYPE strata_query_refusals_total counter\n");
        for reason in ["concurrency", "timeout", "max_series", "max_samples"] {
            let n = self.refusals.lock().get(reason).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "strata_query_refusals_total{{reason=\"{reason}\"}} {n}"
            );
        }
        out.push_str("# HELP strata_query_cache_requests_total Result cache lookups by result.\n");
        out.push_str("# TYPE strata_query_cache_requests_total counter\n");
        let _ = writeln!(
            out,
            "strata_query_cache_requests_total{{result=\"hit\"}} {}",
            self.cache_hits.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "strata_query_cache_requests_total{{result=\"miss\"}} {}",
            self.cache_misses.load(Ordering::Relaxed)
        );
        out.push_str("# HELP strata_query_cache_entries Results held in the query cache.\n");
        out.push_str("# TYPE strata_query_cache_entries gauge\n");
        let _ = writeln!(out, "strata_query_cache_entries {cache_entries}");
        out.push_str("# HELP strata_query_in_flight Read requests evaluating now.\n");
        out.push_str("# TYPE strata_query_in_flight gauge\n");
        let _ = writeln!(out, "strata_query_in_flight {in_flight}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_counts_and_buckets() {
        let m = ApiMetrics::default();
        m.observe("query", None, Duration::from_millis(3));
        m.observe("query", Some(ErrorType::BadData), Duration::from_millis(30));
        m.refused("timeout");
        m.cache_lookup(true);
        let mut out = String::new();
        m.write(&mut out, 2, 1);
        for line in [
            r#"strata_query_requests_total{endpoint="query",outcome="success"} 1"#,
            r#"strata_query_requests_total{endpoint="query",outcome="bad_data"} 1"#,
            r#"strata_query_duration_seconds_bucket{endpoint="query",le="0.005"} 1"#,
            r#"strata_query_duration_seconds_bucket{endpoint="query",le="0.05"} 2"#,
            r#"strata_query_duration_seconds_count{endpoint="query"} 2"#,
            r#"strata_query_refusals_total{reason="timeout"} 1"#,
            r#"strata_query_cache_requests_total{result="hit"} 1"#,
            "strata_query_in_flight 2",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line} in\n{out}");
        }
    }
}
