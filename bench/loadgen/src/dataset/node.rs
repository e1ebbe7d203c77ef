//! Node-exporter-like series from a fleet of hosts scraped every 15 s: CPU, memory,
//! load, filesystem, network and disk metrics with node_exporter's names and labels,
//! counters that grow by realistic increments at realistic precision (CPU seconds in
//! hundredths, bytes as integers, memory in whole pages), plus the scrape's own series
//! and one request-latency histogram per host (for `histogram_quantile`).
//!
//! Each host has its own utilisation trajectory that drives its counters, so series of
//! one host move together as they do on a real machine.

use super::{round_to, Builder, Dataset};
use crate::rng::Rng;

#[derive(Debug, Clone)]
pub struct NodeParams {
    pub hosts: usize,
    pub points: usize,
    pub start_ms: i64,
    pub seed: u64,
}

pub const INTERVAL_MS: i64 = 15_000;
const STEP_S: f64 = INTERVAL_MS as f64 / 1000.0;
const CPUS: usize = 2;
/// node_exporter's CPU modes with their share of busy time (idle takes the rest).
const BUSY_MODES: [(&str, f64); 7] = [
    ("iowait", 0.05),
    ("irq", 0.01),
    ("nice", 0.01),
    ("softirq", 0.05),
    ("steal", 0.03),
    ("system", 0.25),
    ("user", 0.60),
];
const DATACENTERS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-south-1"];
const PAGE: f64 = 4096.0;
const BUCKETS: [&str; 11] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
];

pub fn generate(p: &NodeParams) -> Dataset {
    let mut b = Builder::new(p.points);
    for h in 0..p.hosts {
        Host::new(p, h).emit(&mut b);
    }
    b.finish(p.start_ms, INTERVAL_MS)
}

/// One machine: its identity, its random source and its utilisation over time.
struct Host<'a> {
    p: &'a NodeParams,
    rng: Rng,
    instance: String,
    dc: &'static str,
    /// Fraction of CPU time busy at each point, in [0.02, 0.95].
    busy: Vec<f64>,
    uptime_s: f64,
}

impl<'a> Host<'a> {
    fn new(p: &'a NodeParams, h: usize) -> Self {
        let mut rng = Rng::derive(p.seed, h as u64);
        let mut level = rng.range(0.05, 0.6);
        let busy = (0..p.points)
            .map(|_| {
                level = (level + 0.02 * rng.normal()).clamp(0.02, 0.95);
                level
            })
            .collect();
        Host {
            p,
            instance: format!("host-{h:05}:9100"),
            dc: DATACENTERS[h % DATACENTERS.len()],
            busy,
            uptime_s: rng.range(1e5, 3e7),
            rng,
        }
    }

    fn emit(mut self, b: &mut Builder) {
        let instance = self.instance.clone();
        let common = [("dc", self.dc), ("instance", &instance), ("job", "node")];
        self.cpu(b, &common);
        self.load(b, &common);
        self.memory(b, &common);
        self.filesystem(b, &common);
        self.network(b, &common);
        self.disk(b, &common);
        self.kernel(b, &common);
        self.scrape(b, &common);
        self.http_histogram(b, &common);
    }

    /// A counter starting at `start`, growing each step by `inc(rng, busy)` (clamped at
    /// zero), kept at `decimals` places.
    fn counter(
        &mut self,
        start: f64,
        decimals: i32,
        inc: impl Fn(&mut Rng, f64) -> f64,
    ) -> Vec<f64> {
        let mut v = round_to(start, decimals);
        let rng = &mut self.rng;
        self.busy
            .iter()
            .map(|&busy| {
                let now = v;
                v = round_to(v + inc(rng, busy).max(0.0), decimals);
                now
            })
            .collect()
    }

    /// A gauge whose value at each step is `f(rng, busy)`, kept at `decimals` places.
    fn gauge(&mut self, decimals: i32, mut f: impl FnMut(&mut Rng, f64) -> f64) -> Vec<f64> {
        let rng = &mut self.rng;
        self.busy
            .iter()
            .map(|&busy| round_to(f(rng, busy), decimals))
            .collect()
    }

    fn cpu(&mut self, b: &mut Builder, common: &[(&str, &str)]) {
        for cpu in 0..CPUS {
            let cpu_label = cpu.to_string();
            let idle_start = self.uptime_s * 0.7;
            let idle = self.counter(idle_start, 2, |r, busy| {
                STEP_S * (1.0 - busy) * (1.0 + 0.02 * r.normal())
            });
            b.add(
                "node_cpu_seconds_total",
                common,
                &[("cpu", &cpu_label), ("mode", "idle")],
                idle,
            );
            for (mode, share) in BUSY_MODES {
                let start = self.uptime_s * 0.3 * share;
                let values = self.counter(start, 2, |r, busy| {
                    STEP_S * busy * share * (1.0 + 0.3 * r.normal())
                });
                b.add(
                    "node_cpu_seconds_total",
                    common,
                    &[("cpu", &cpu_label), ("mode", mode)],
                    values,
                );
            }
        }
    }

    fn load(&mut self, b: &mut Builder, common: &[(&str, &str)]) {
        // Exponential moving averages of the run queue over 1, 5 and 15 minutes.
        for (name, minutes) in [
            ("node_load1", 1.0),
            ("node_load5", 5.0),
            ("node_load15", 15.0),
        ] {
            let alpha = 1.0 - (-STEP_S / (60.0 * minutes)).exp();
            let mut avg = self.busy[0] * CPUS as f64;
            let values = self.gauge(2, |r, busy| {
                let queue = busy * CPUS as f64 * (1.0 + 0.5 * r.normal()).max(0.0);
                avg += alpha * (queue - avg);
                avg
            });
            b.add(name, common, &[], values);
        }
    }

    fn memory(&mut self, b: &mut Builder, common: &[(&str, &str)]) {
        let total =
            [16.0, 32.0, 64.0][(self.rng.next_u64() % 3) as usize] * 1024.0 * 1024.0 * 1024.0;
        let pages = |x: f64| (x / PAGE).round() * PAGE;
        b.add(
            "node_memory_MemTotal_bytes",
            common,
            &[],
            vec![total; self.p.points],
        );
        b.add(
            "node_memory_SwapTotal_bytes",
            common,
            &[],
            vec![2.0 * 1024.0 * 1024.0 * 1024.0; self.p.points],
        );
        for (name, base, spread) in [
            ("node_memory_MemFree_bytes", 0.25, 0.05),
            ("node_memory_MemAvailable_bytes", 0.55, 0.05),
            ("node_memory_Buffers_bytes", 0.02, 0.002),
            ("node_memory_Cached_bytes", 0.30, 0.02),
            ("node_memory_Active_bytes", 0.35, 0.03),
            ("node_memory_Inactive_bytes", 0.20, 0.02),
            ("node_memory_Dirty_bytes", 0.0005, 0.0004),
            ("node_memory_SwapFree_bytes", 0.09, 0.0),
        ] {
            let values = self.gauge(0, |r, busy| {
                pages(total * (base * (1.2 - 0.4 * busy) + spread * r.normal()).clamp(0.0, 1.0))
            });
            b.add(name, common, &[], values);
        }
    }

    fn filesystem(&mut self, b: &mut Builder, common: &[(&str, &str)]) {
        for (device, fstype, mountpoint, size_gib) in [
            ("/dev/sda1", "ext4", "/", 100.0),
            ("/dev/nvme0n1p1", "xfs", "/data", 1000.0),
        ] {
            let own = [
                ("device", device),
                ("fstype", fstype),
                ("mountpoint", mountpoint),
            ];
            let size = size_gib * 1024.0 * 1024.0 * 1024.0;
            let mut free = size * self.rng.range(0.2, 0.8);
            let free_values = self.gauge(0, |r, busy| {
                // Slowly filling, now and then a cleanup frees space.
                free -= busy * 2e6 * r.unit();
                if r.chance(0.002) {
                    free += size * 0.05;
                }
                free = free.clamp(0.0, size);
                (free / PAGE).floor() * PAGE
            });
            let avail_values = free_values
                .iter()
                .map(|f| (f - size * 0.05).max(0.0))
                .collect();
            let mut files = 6_000_000.0 * self.rng.range(0.5, 0.9);
            let files_values = self.gauge(0, |r, _| {
                files -= (r.normal() * 20.0).round();
                files
            });
            b.add(
                "node_filesystem_size_bytes",
                common,
                &own,
                vec![size; self.p.points],
            );
            b.add("node_filesystem_free_bytes", common, &own, free_values);
            b.add("node_filesystem_avail_bytes", common, &own, avail_values);
            b.add("node_filesystem_files_free", common, &own, files_values);
        }
    }

    fn network(&mut self, b: &mut Builder, common: &[(&str, &str)]) {
        for (device, bytes_per_s) in [("eth0", 20e6), ("lo", 1e6)] {
            for direction in ["receive", "transmit"] {
                let start = self.uptime_s * bytes_per_s * 0.3;
                let bytes = self.counter(start, 0, |r, busy| {
                    STEP_S * bytes_per_s * busy * (1.0 + 0.3 * r.normal())
                });
                // Packets follow bytes at roughly 900 bytes a packet.
                let packets: Vec<f64> = bytes.iter().map(|x| (x / 900.0).floor()).collect();
                let (errs_start, drop_start) =
                    (self.rng.range(0.0, 50.0), self.rng.range(0.0, 500.0));
                let errs = self.counter(errs_start, 0, |r, _| f64::from(u8::from(r.chance(0.001))));
                let drop = self.counter(drop_start, 0, |r, _| f64::from(u8::from(r.chance(0.01))));
                let own = [("device", device)];
                b.add(
                    &format!("node_network_{direction}_bytes_total"),
                    common,
                    &own,
                    bytes,
                );
                b.add(
                    &format!("node_network_{direction}_packets_total"),
                    common,
                    &own,
                    packets,
                );
                b.add(
                    &format!("node_network_{direction}_errs_total"),
                    common,
                    &own,
                    errs,
                );
                b.add(
                    &format!("node_network_{direction}_drop_total"),
                    common,
                    &own,
                    drop,
                );
            }
        }
    }

    fn disk(&mut self, b: &mut Builder, common: &[(&str, &str)]) {
        for device in ["sda", "nvme0n1"] {
            let own = [("device", device)];
            for (op, ops_per_s) in [("reads", 40.0), ("writes", 120.0)] {
                let start = self.uptime_s * ops_per_s * 0.3;
                let completed = self.counter(start, 0, |r, busy| {
                    STEP_S * ops_per_s * busy * (1.0 + 0.4 * r.normal())
                });
                // About 16 KiB an operation, in whole sectors.
                let bytes: Vec<f64> = completed
                    .iter()
                    .map(|c| (c * 16.3).round() * 1024.0)
                    .collect();
                let bytes_name = if op == "reads" { "read" } else { "written" };
                b.add(
                    &format!("node_disk_{op}_completed_total"),
                    common,
                    &own,
                    completed,
                );
                b.add(
                    &format!("node_disk_{bytes_name}_bytes_total"),
                    common,
                    &own,
                    bytes,
                );
            }
            let io_time = self.counter(self.uptime_s * 0.05, 3, |r, busy| {
                (STEP_S * busy * 0.3 * (1.0 + 0.3 * r.normal())).min(STEP_S)
            });
            b.add("node_disk_io_time_seconds_total", common, &own, io_time);
        }
    }

    fn kernel(&mut self, b: &mut Builder, common: &[(&str, &str)]) {
        let uptime = self.uptime_s;
        for (name, per_s) in [
            ("node_context_switches_total", 4000.0),
            ("node_intr_total", 2500.0),
            ("node_forks_total", 5.0),
        ] {
            let values = self.counter(uptime * per_s * 0.5, 0, |r, busy| {
                STEP_S * per_s * (0.3 + busy) * (1.0 + 0.2 * r.normal())
            });
            b.add(name, common, &[], values);
        }
        let running = self.gauge(0, |r, busy| (1.0 + busy * 4.0 + r.normal()).max(1.0));
        let blocked = self.gauge(0, |r, _| f64::from(u8::from(r.chance(0.05))));
        let mut fds = self.rng.range(1000.0, 5000.0);
        let fd_values = self.gauge(0, |r, _| {
            fds = (fds + r.normal() * 10.0).max(100.0);
            fds
        });
        let sockets = self.gauge(0, |r, busy| 50.0 + busy * 400.0 + r.normal() * 5.0);
        let established = self.gauge(0, |r, busy| 30.0 + busy * 300.0 + r.normal() * 5.0);
        let offset = self.gauge(6, |r, _| r.normal() * 1e-4);
        let boot = ((self.p.start_ms as f64 / 1000.0) - uptime).floor();
        b.add("node_procs_running", common, &[], running);
        b.add("node_procs_blocked", common, &[], blocked);
        b.add("node_filefd_allocated", common, &[], fd_values);
        b.add("node_sockstat_TCP_inuse", common, &[], sockets);
        b.add("node_netstat_Tcp_CurrEstab", common, &[], established);
        b.add("node_timex_offset_seconds", common, &[], offset);
        b.add(
            "node_boot_time_seconds",
            common,
            &[],
            vec![boot; self.p.points],
        );
    }

    /// The series Prometheus adds to every scrape, and node_time_seconds, which carries
    /// the host's clock at full precision.
    fn scrape(&mut self, b: &mut Builder, common: &[(&str, &str)]) {
        let start_s = self.p.start_ms as f64 / 1000.0;
        let times = (0..self.p.points)
            .map(|i| start_s + i as f64 * STEP_S + self.rng.range(0.0, 0.005))
            .collect();
        let duration = self.gauge(9, |r, busy| 0.004 + 0.01 * busy + 0.002 * r.unit());
        b.add("node_time_seconds", common, &[], times);
        b.add("up", common, &[], vec![1.0; self.p.points]);
        b.add("scrape_duration_seconds", common, &[], duration);
        b.add(
            "scrape_samples_scraped",
            common,
            &[],
            vec![SERIES_PER_HOST as f64; self.p.points],
        );
    }

    /// `http_request_duration_seconds` for two handlers: log-normal latencies binned into
    /// cumulative buckets, with the matching `_sum` and `_count`.
    fn http_histogram(&mut self, b: &mut Builder, common: &[(&str, &str)]) {
        for (handler, per_s, median) in [
            ("/api/v1/query", 20.0, 0.02),
            ("/metrics", 1.0 / 15.0, 0.004),
        ] {
            let sigma = 1.0;
            let mean = median * (sigma * sigma / 2.0f64).exp();
            let cdf: Vec<f64> = BUCKETS
                .iter()
                .map(|le| match le.parse::<f64>() {
                    Ok(x) if x.is_finite() => normal_cdf((x.ln() - f64::ln(median)) / sigma),
                    _ => 1.0,
                })
                .collect();
            let mut counts = vec![vec![0.0; self.p.points]; BUCKETS.len()];
            let mut sums = vec![0.0; self.p.points];
            let mut cumulative = vec![0.0; BUCKETS.len()];
            let mut sum = 0.0;
            for (i, &busy) in self.busy.iter().enumerate() {
                for (c, total) in cumulative.iter().enumerate() {
                    counts[c][i] = *total;
                }
                sums[i] = sum;
                let n = (STEP_S * per_s * (0.5 + busy) * (1.0 + 0.2 * self.rng.normal()))
                    .round()
                    .max(0.0);
                for (c, total) in cumulative.iter_mut().enumerate() {
                    *total += (n * cdf[c]).round();
                }
                sum += n * mean * (1.0 + 0.1 * self.rng.normal()).max(0.0);
            }
            let count = counts[BUCKETS.len() - 1].clone();
            for (le, values) in BUCKETS.iter().zip(counts) {
                b.add(
                    "http_request_duration_seconds_bucket",
                    common,
                    &[("handler", handler), ("le", le)],
                    values,
                );
            }
            b.add(
                "http_request_duration_seconds_sum",
                common,
                &[("handler", handler)],
                sums,
            );
            b.add(
                "http_request_duration_seconds_count",
                common,
                &[("handler", handler)],
                count,
            );
        }
    }
}

/// Series each host contributes (checked by a test).
pub const SERIES_PER_HOST: usize =
    CPUS * 8 + 3 + 10 + 8 + 16 + 10 + 10 + 4 + 2 * (BUCKETS.len() + 2);

/// The standard normal CDF, via the Abramowitz–Stegun 7.1.26 approximation of erf
/// (absolute error below 1.5e-7, ample for bucket proportions).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Dataset {
        generate(&NodeParams {
            hosts: 3,
            points: 50,
            start_ms: 1_700_000_000_000,
            seed: 42,
        })
    }

    #[test]
    fn every_host_has_the_same_series_count() {
        let ds = small();
        assert_eq!(ds.series.len(), 3 * SERIES_PER_HOST);
        assert_eq!(ds.samples(), 3 * SERIES_PER_HOST * 50);
    }

    #[test]
    fn counters_never_decrease() {
        let ds = small();
        for (s, def) in ds.series.iter().enumerate() {
            if def.name.ends_with("_total")
                || def.name.ends_with("_bucket")
                || def.name.ends_with("_count")
            {
                for p in 1..ds.points {
                    assert!(
                        ds.value(s, p) >= ds.value(s, p - 1),
                        "{def:?} decreases at {p}"
                    );
                }
            }
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let ds = small();
        let buckets: Vec<usize> = (0..ds.series.len())
            .filter(|&s| ds.series[s].name == "http_request_duration_seconds_bucket")
            .collect();
        for group in buckets.chunks(BUCKETS.len()) {
            for p in 0..ds.points {
                for pair in group.windows(2) {
                    assert!(ds.value(pair[0], p) <= ds.value(pair[1], p));
                }
            }
        }
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(small().values, small().values);
    }

    #[test]
    fn normal_cdf_matches_known_points() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-4);
        assert!((normal_cdf(-1.96) - 0.025).abs() < 1e-4);
    }
}
