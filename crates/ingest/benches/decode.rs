//! Throughput of every decoder, in samples (or lines) per second on one core.
//!
//! Run with `cargo bench -p strata-ingest`. Bodies are generated here to look like
//! real traffic: a node-exporter-like scrape of ~10k lines, the spec's JSON formats,
//! and a StatsD packet stream of known series.
//!
//! Times are the benchmark thread's CPU time, not wall time: on a machine shared with
//! other work (CI, parallel builds) wall time measures the scheduler, while CPU time
//! is what "per core" means. Decoded batches are dropped outside the timing, as the
//! store keeps their label sets rather than freeing them.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::fmt::Write;
use std::hint::black_box;
use std::time::Duration;
use strata_ingest::events::EventMapper;
use strata_ingest::prometheus::{self, Format};
use strata_ingest::statsd::{Aggregator, StatsdConfig};
use strata_ingest::{custom, encoding};

/// CPU time consumed by the calling thread.
struct ThreadCpuTime;

fn thread_cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, d: &Duration) -> f64 {
        d.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Values are nanoseconds, as wall time's are: its formatter fits.
        WallTime.formatter()
    }
}

type Bench = Criterion<ThreadCpuTime>;

const MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];

/// A node-exporter-like scrape: per-CPU counters, per-device network, disk and
/// filesystem series, and a histogram; `om` writes OpenMetrics (counters `_total`,
/// `# EOF`).
fn node_exporter_body(om: bool) -> (String, u64) {
    let mut b = String::new();
    let mut samples = 0u64;
    let family = |b: &mut String, name: &str, kind: &str, help: &str| {
        writeln!(b, "# HELP {name} {help}").unwrap();
        writeln!(b, "# TYPE {name} {kind}").unwrap();
    };
    let counter = if om { "_total" } else { "" };
    family(
        &mut b,
        "node_cpu_seconds",
        "counter",
        "Seconds the CPUs spent in each mode.",
    );
    for cpu in 0..192 {
        for (i, mode) in MODES.iter().enumerate() {
            let v = 1000.0 * cpu as f64 + i as f64 * 17.25 + 0.01;
            writeln!(
                b,
                "node_cpu_seconds{counter}{{cpu=\"{cpu}\",mode=\"{mode}\"}} {v}"
            )
            .unwrap();
            samples += 1;
        }
    }
    for metric in [
        "receive_bytes",
        "transmit_bytes",
        "receive_packets",
        "transmit_packets",
        "receive_errs",
        "transmit_drop",
    ] {
        family(
            &mut b,
            &format!("node_network_{metric}"),
            "counter",
            "Network device statistic.",
        );
        for dev in 0..100 {
            writeln!(
                b,
                "node_network_{metric}{counter}{{device=\"veth{dev:04x}\"}} {}",
                1.234567e9 + dev as f64
            )
            .unwrap();
            samples += 1;
        }
    }
    for metric in [
        "avail_bytes",
        "free_bytes",
        "size_bytes",
        "files",
        "files_free",
        "readonly",
    ] {
        family(
            &mut b,
            &format!("node_filesystem_{metric}"),
            "gauge",
            "Filesystem statistic.",
        );
        for fs in 0..150 {
            writeln!(
                b,
                "node_filesystem_{metric}{{device=\"/dev/sd{fs}\",fstype=\"ext4\",mountpoint=\"/var/lib/docker/overlay2/{fs:08}/merged\"}} {}",
                5.36870912e10 - fs as f64 * 4096.0
            )
            .unwrap();
            samples += 1;
        }
    }
    for metric in [
        "reads_completed",
        "writes_completed",
        "read_bytes",
        "written_bytes",
        "io_time_seconds",
    ] {
        family(
            &mut b,
            &format!("node_disk_{metric}"),
            "counter",
            "Disk statistic.",
        );
        for disk in 0..200 {
            writeln!(
                b,
                "node_disk_{metric}{counter}{{device=\"nvme{disk}n1\"}} {}",
                98765 + disk
            )
            .unwrap();
            samples += 1;
        }
    }
    family(
        &mut b,
        "http_request_duration_seconds",
        "histogram",
        "Request latency.",
    );
    for handler in 0..400 {
        for le in [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
        ] {
            writeln!(b, "http_request_duration_seconds_bucket{{handler=\"/api/v1/h{handler}\",method=\"GET\",le=\"{le}\"}} {}", handler * 3).unwrap();
            samples += 1;
        }
        writeln!(b, "http_request_duration_seconds_sum{{handler=\"/api/v1/h{handler}\",method=\"GET\"}} 12.5").unwrap();
        writeln!(b, "http_request_duration_seconds_count{{handler=\"/api/v1/h{handler}\",method=\"GET\"}} {}", handler * 3).unwrap();
        samples += 2;
    }
    if om {
        b.push_str("# EOF\n");
    }
    (b, samples)
}

fn bench_prometheus(c: &mut Bench) {
    let mut g = c.benchmark_group("prometheus");
    for (name, om) in [("text", false), ("openmetrics", true)] {
        let (body, samples) = node_exporter_body(om);
        let format = if om {
            Format::OpenMetrics
        } else {
            Format::Text
        };
        assert_eq!(
            prometheus::parse(body.as_bytes(), format, 0)
                .unwrap()
                .samples
                .len() as u64,
            samples
        );
        g.throughput(Throughput::Elements(samples));
        g.bench_function(name, |b| {
            b.iter_with_large_drop(|| {
                prometheus::parse(black_box(body.as_bytes()), format, 1).unwrap()
            })
        });
    }
    let (body, samples) = node_exporter_body(false);
    g.throughput(Throughput::Elements(samples));
    g.bench_function("text_repeat_scrape", |b| {
        // A decoder kept across bodies (per source or thread): the series are known.
        let mut decoder = prometheus::Decoder::new(100_000);
        b.iter_with_large_drop(|| {
            decoder
                .parse(black_box(body.as_bytes()), Format::Text, 1)
                .unwrap()
        })
    });
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut e, body.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    g.throughput(Throughput::Elements(samples));
    g.bench_function("text_gzip", |b| {
        b.iter_with_large_drop(|| {
            let raw = encoding::decode_body(Some("gzip"), black_box(&gz), 64 << 20).unwrap();
            prometheus::parse(&raw, Format::Text, 1).unwrap()
        })
    });
    g.finish();
}

fn custom_body(metrics: usize) -> (String, u64) {
    let mut items = Vec::new();
    let mut samples = 0;
    for i in 0..metrics {
        if i % 10 == 0 {
            items.push(format!(
                r#"{{"name":"model_inference_duration_ms","type":"histogram","buckets":{{"5":1,"10":2,"25":3,"50":4,"100":5,"+Inf":6}},"sum":123.5,"count":6,"labels":{{"service":"ml-inference","model":"m{i}"}}}}"#
            ));
            samples += 8;
        } else {
            items.push(format!(
                r#"{{"name":"predictions_generated_total","type":"counter","value":{i},"labels":{{"service":"ml-inference","model":"m{i}","strategy":"optimized","symbol":"AAPL"}}}}"#
            ));
            samples += 1;
        }
    }
    let body = format!(
        r#"{{"custom_metrics":{{"timestamp":"2025-07-26T10:30:00Z","source":"prediction-service","metrics":[{}]}}}}"#,
        items.join(",")
    );
    (body, samples)
}

fn events_body(events: usize) -> String {
    (0..events)
        .map(|i| {
            format!(
                r#"{{"event_metrics":{{"event_id":"evt_{i}","timestamp":"2025-07-26T10:30:00Z","event_type":"prediction_completed","source_service":"ml-inference","duration_ms":{},"success":true,"metrics":{{"prediction_confidence":0.78,"feature_count":23,"model_version":"v2.1.3"}},"labels":{{"symbol":"S{}"}},"context":{{"request_id":"req_{i}"}}}}}}"#,
                i % 500,
                i % 50
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn bench_json(c: &mut Bench) {
    let mut g = c.benchmark_group("json");
    let (body, samples) = custom_body(1000);
    assert!(custom::parse(body.as_bytes(), 0)
        .unwrap()
        .rejected
        .is_empty());
    g.throughput(Throughput::Elements(samples));
    g.bench_function("custom", |b| {
        b.iter_with_large_drop(|| custom::parse(black_box(body.as_bytes()), 1).unwrap())
    });
    let body = events_body(1000);
    let per_event = EventMapper::new(0)
        .map(body.as_bytes(), 0)
        .unwrap()
        .decoded
        .batch
        .samples
        .len();
    g.throughput(Throughput::Elements(per_event as u64));
    g.bench_function("events", |b| {
        // Remembering no ids keeps every iteration's events new.
        let mut m = EventMapper::new(0);
        b.iter_with_large_drop(|| m.map(black_box(body.as_bytes()), 1).unwrap())
    });
    g.finish();
}

/// 10k StatsD lines over 1000 known series of every kind, as a busy agent sends them.
fn statsd_packet() -> (String, u64) {
    let mut p = String::new();
    for i in 0..10_000 {
        let s = i % 1000;
        let line = match i % 5 {
            0 => format!("service.requests:1|c|#service:svc{s},endpoint:/predict,status:200"),
            1 => format!(
                "service.response_time:{}|ms|@0.5|#service:svc{s},endpoint:/predict",
                i % 250
            ),
            2 => format!(
                "system.cpu.usage:{}.5|g|#service:svc{s},instance:i-{s}",
                i % 100
            ),
            3 => format!("queue.depth,host=h{s}:+1|g"),
            _ => format!("payload.size:{}|h|#service:svc{s}", i % 4096),
        };
        p.push_str(&line);
        p.push('\n');
    }
    (p, 10_000)
}

fn bench_statsd(c: &mut Bench) {
    let mut g = c.benchmark_group("statsd");
    let (packet, lines) = statsd_packet();
    g.throughput(Throughput::Elements(lines));
    g.bench_function("ingest_lines", |b| {
        let mut agg = Aggregator::new(StatsdConfig::default());
        assert!(agg.ingest(packet.as_bytes(), 0).is_empty());
        b.iter(|| agg.ingest(black_box(packet.as_bytes()), 1))
    });
    g.bench_function("parse_line", |b| {
        b.iter(|| {
            for line in packet.lines() {
                black_box(strata_ingest::statsd::parse_line(line).unwrap());
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench_prometheus, bench_json, bench_statsd
}
criterion_main!(benches);
