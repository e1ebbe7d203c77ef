//! Latency summaries (nearest-rank percentiles) and the one-line `key=value` reports
//! that the bench scripts parse.

use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    pub fn of(mut samples: Vec<Duration>) -> Summary {
        if samples.is_empty() {
            return Summary::default();
        }
        samples.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let total: f64 = samples.iter().map(|&d| ms(d)).sum();
        Summary {
            count: samples.len(),
            p50_ms: ms(percentile(&samples, 50.0)),
            p99_ms: ms(percentile(&samples, 99.0)),
            mean_ms: total / samples.len() as f64,
            max_ms: ms(samples[samples.len() - 1]),
        }
    }
}

/// Nearest-rank percentile of sorted, non-empty `samples`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `key=value` pairs on one line, in insertion order.
#[derive(Debug, Default)]
pub struct Report(Vec<(String, String)>);

impl Report {
    pub fn add(&mut self, key: &str, value: impl fmt::Display) -> &mut Self {
        self.0.push((key.to_string(), value.to_string()));
        self
    }

    pub fn add_ms(&mut self, key: &str, ms: f64) -> &mut Self {
        self.add(key, format!("{ms:.3}"))
    }

    pub fn add_summary(&mut self, prefix: &str, s: &Summary) -> &mut Self {
        self.add_ms(&format!("{prefix}p50_ms"), s.p50_ms)
            .add_ms(&format!("{prefix}p99_ms"), s.p99_ms)
            .add_ms(&format!("{prefix}mean_ms"), s.mean_ms)
            .add_ms(&format!("{prefix}max_ms"), s.max_ms)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let s = Summary::of(samples);
        assert_eq!(s.count, 100);
        assert_eq!(s.p50_ms, 50.0);
        assert_eq!(s.p99_ms, 99.0);
        assert_eq!(s.max_ms, 100.0);
        assert!((s.mean_ms - 50.5).abs() < 1e-9);
    }

    #[test]
    fn single_sample_is_every_percentile() {
        let s = Summary::of(vec![Duration::from_millis(7)]);
        assert_eq!((s.p50_ms, s.p99_ms), (7.0, 7.0));
        assert_eq!(Summary::of(Vec::new()), Summary::default());
    }

    #[test]
    fn reports_print_key_value_pairs() {
        let mut r = Report::default();
        r.add("samples", 10).add_ms("p50_ms", 1.23456);
        assert_eq!(r.to_string(), "samples=10 p50_ms=1.235");
    }
}
