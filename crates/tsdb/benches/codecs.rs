//! Chunk codec benchmarks on realistic, deterministically generated series.
//!
//! Prints a table of bytes per sample for every codec, data set and chunk size,
//! then runs criterion for encode/decode/append speed (points per second).
//! `cargo bench -p strata-tsdb --bench codecs -- --table-only` prints just the table;
//! `-- --decode-only` prints decode speeds, each the fastest of many passes so
//! that a busy machine disturbs them little.
//!
//! The data sets follow the shapes of the side-by-side benchmark (bench/loadgen):
//! node-exporter-like hosts at 15 s (counters at their exporters' precision, page-
//! multiple memory gauges, constants, histograms, full-precision clocks), with the
//! grid timestamps a push sends and with the few-ms jitter of real scrapes; random
//! walks with N(0,1) steps rounded to 3 decimals; gauges with 2 or 3 decimals.

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput};
use strata_core::Point;
use strata_tsdb::chunk::{decode_into, encode, encode_as, Encoding, HeadChunk, TARGET_POINTS};

const INTERVAL_MS: i64 = 15_000;
const START_MS: i64 = 1_764_000_000_000;

/// SplitMix64, so every run measures the very same data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0xA24B_AED4_963E_E407) ^ 0x5DEE_CE66)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// One data set: series of values on a shared time axis.
struct DataSet {
    name: &'static str,
    series: Vec<Vec<Point>>,
}

impl DataSet {
    fn samples(&self) -> usize {
        self.series.iter().map(Vec::len).sum()
    }

    /// Every series cut into chunks of `size` points.
    fn chunks(&self, size: usize) -> impl Iterator<Item = &[Point]> {
        self.series.iter().flat_map(move |s| s.chunks(size))
    }
}

fn timestamps(points: usize, jitter_ms: i64, rng: &mut Rng) -> Vec<i64> {
    (0..points as i64)
        .map(|i| {
            let jitter = if jitter_ms > 0 {
                (rng.next_u64() % (jitter_ms as u64 + 1)) as i64
            } else {
                0
            };
            START_MS + i * INTERVAL_MS + jitter
        })
        .collect()
}

fn with_times(ts: &[i64], values: Vec<f64>) -> Vec<Point> {
    ts.iter()
        .zip(values)
        .map(|(&t, v)| Point { t, v })
        .collect()
}

/// A node_exporter-like host: about 100 series driven by one utilisation curve.
fn node_host(rng: &mut Rng, points: usize, jitter_ms: i64) -> Vec<Vec<Point>> {
    let ts = timestamps(points, jitter_ms, rng);
    let step = INTERVAL_MS as f64 / 1000.0;
    let mut level = rng.range(0.05, 0.6);
    let busy: Vec<f64> = (0..points)
        .map(|_| {
            level = (level + 0.02 * rng.normal()).clamp(0.02, 0.95);
            level
        })
        .collect();
    let uptime = rng.range(1e5, 3e7);
    let mut out: Vec<Vec<f64>> = Vec::new();
    let counter = |rng: &mut Rng, start: f64, decimals: i32, inc: &dyn Fn(&mut Rng, f64) -> f64| {
        let mut v = round_to(start, decimals);
        busy.iter()
            .map(|&b| {
                let now = v;
                v = round_to(v + inc(rng, b).max(0.0), decimals);
                now
            })
            .collect::<Vec<f64>>()
    };
    let gauge = |rng: &mut Rng, decimals: i32, f: &mut dyn FnMut(&mut Rng, f64) -> f64| {
        busy.iter()
            .map(|&b| round_to(f(rng, b), decimals))
            .collect::<Vec<f64>>()
    };
    // CPU seconds in hundredths: idle and seven busy modes on two CPUs.
    for _cpu in 0..2 {
        out.push(counter(rng, uptime * 0.7, 2, &|r, b| {
            step * (1.0 - b) * (1.0 + 0.02 * r.normal())
        }));
        for share in [0.05, 0.01, 0.01, 0.05, 0.03, 0.25, 0.60] {
            out.push(counter(rng, uptime * 0.3 * share, 2, &|r, b| {
                step * b * share * (1.0 + 0.3 * r.normal())
            }));
        }
    }
    // Load averages: moving averages with two decimals.
    for minutes in [1.0, 5.0, 15.0] {
        let alpha = 1.0 - f64::exp(-step / (60.0 * minutes));
        let mut avg = busy[0] * 2.0;
        out.push(gauge(rng, 2, &mut |r, b| {
            avg += alpha * (b * 2.0 * (1.0 + 0.5 * r.normal()).max(0.0) - avg);
            avg
        }));
    }
    // Memory: two constants and eight noisy gauges in whole pages.
    let total = [16.0, 32.0, 64.0][(rng.next_u64() % 3) as usize] * 1024.0 * 1024.0 * 1024.0;
    out.push(vec![total; points]);
    out.push(vec![2.0 * 1024.0 * 1024.0 * 1024.0; points]);
    for (base, spread) in [
        (0.25, 0.05),
        (0.55, 0.05),
        (0.02, 0.002),
        (0.30, 0.02),
        (0.35, 0.03),
        (0.20, 0.02),
        (0.0005, 0.0004),
        (0.09, 0.0),
    ] {
        out.push(gauge(rng, 0, &mut |r, b| {
            let x = total * (base * (1.2 - 0.4 * b) + spread * r.normal()).clamp(0.0, 1.0);
            (x / 4096.0).round() * 4096.0
        }));
    }
    // Filesystems: size constant, free space slowly shrinking, inodes wandering.
    for size_gib in [100.0, 1000.0] {
        let size = size_gib * 1024.0 * 1024.0 * 1024.0;
        let mut free = size * rng.range(0.2, 0.8);
        let free_values = gauge(rng, 0, &mut |r, b| {
            free -= b * 2e6 * r.unit();
            if r.chance(0.002) {
                free += size * 0.05;
            }
            free = free.clamp(0.0, size);
            (free / 4096.0).floor() * 4096.0
        });
        let avail = free_values
            .iter()
            .map(|f| (f - size * 0.05).max(0.0))
            .collect();
        let mut files = 6e6 * rng.range(0.5, 0.9);
        out.push(vec![size; points]);
        out.push(free_values);
        out.push(avail);
        out.push(gauge(rng, 0, &mut |r, _| {
            files -= (r.normal() * 20.0).round();
            files
        }));
    }
    // Network: byte counters, packets, rare errors and drops.
    for bytes_per_s in [20e6, 1e6, 20e6, 1e6] {
        let bytes = counter(rng, uptime * bytes_per_s * 0.3, 0, &|r, b| {
            step * bytes_per_s * b * (1.0 + 0.3 * r.normal())
        });
        out.push(bytes.iter().map(|x| (x / 900.0).floor()).collect());
        out.push(bytes);
        let (errs, drops) = (rng.range(0.0, 50.0), rng.range(0.0, 500.0));
        out.push(counter(rng, errs, 0, &|r, _| {
            f64::from(u8::from(r.chance(0.001)))
        }));
        out.push(counter(rng, drops, 0, &|r, _| {
            f64::from(u8::from(r.chance(0.01)))
        }));
    }
    // Disks: operations, bytes in KiB multiples, busy seconds in thousandths.
    for _disk in 0..2 {
        for ops_per_s in [40.0, 120.0] {
            let done = counter(rng, uptime * ops_per_s * 0.3, 0, &|r, b| {
                step * ops_per_s * b * (1.0 + 0.4 * r.normal())
            });
            out.push(done.iter().map(|c| (c * 16.3).round() * 1024.0).collect());
            out.push(done);
        }
        out.push(counter(rng, uptime * 0.05, 3, &|r, b| {
            (step * b * 0.3 * (1.0 + 0.3 * r.normal())).min(step)
        }));
    }
    // Kernel counters and small integer gauges; clock offset in microseconds.
    for per_s in [4000.0, 2500.0, 5.0] {
        out.push(counter(rng, uptime * per_s * 0.5, 0, &|r, b| {
            step * per_s * (0.3 + b) * (1.0 + 0.2 * r.normal())
        }));
    }
    out.push(gauge(rng, 0, &mut |r, b| {
        (1.0 + b * 4.0 + r.normal()).max(1.0)
    }));
    out.push(gauge(rng, 0, &mut |r, _| {
        f64::from(u8::from(r.chance(0.05)))
    }));
    let mut fds = rng.range(1000.0, 5000.0);
    out.push(gauge(rng, 0, &mut |r, _| {
        fds = (fds + r.normal() * 10.0).max(100.0);
        fds
    }));
    out.push(gauge(rng, 0, &mut |r, b| {
        50.0 + b * 400.0 + r.normal() * 5.0
    }));
    out.push(gauge(rng, 0, &mut |r, b| {
        30.0 + b * 300.0 + r.normal() * 5.0
    }));
    out.push(gauge(rng, 6, &mut |r, _| r.normal() * 1e-4));
    out.push(vec![(START_MS as f64 / 1000.0 - uptime).floor(); points]);
    // Scrape series: the host clock at full precision, up, duration, sample count.
    out.push(
        (0..points)
            .map(|i| START_MS as f64 / 1000.0 + i as f64 * step + rng.range(0.0, 0.005))
            .collect(),
    );
    out.push(vec![1.0; points]);
    out.push(gauge(rng, 9, &mut |r, b| {
        0.004 + 0.01 * b + 0.002 * r.unit()
    }));
    out.push(vec![103.0; points]);
    // A request-latency histogram for two handlers: cumulative buckets, sum, count.
    for (per_s, median) in [(20.0, 0.02), (1.0 / 15.0, 0.004)] {
        let shares = [
            0.01, 0.03, 0.1, 0.25, 0.5, 0.75, 0.9, 0.97, 0.99, 0.998, 1.0,
        ];
        let mut cumulative = [0.0; 11];
        let mut buckets: Vec<Vec<f64>> = (0..11).map(|_| Vec::with_capacity(points)).collect();
        let mut sums = Vec::with_capacity(points);
        let mut sum = 0.0;
        for &b in &busy {
            for (bucket, total) in buckets.iter_mut().zip(&cumulative) {
                bucket.push(*total);
            }
            sums.push(sum);
            let n = (step * per_s * (0.5 + b) * (1.0 + 0.2 * rng.normal()))
                .round()
                .max(0.0);
            for (total, share) in cumulative.iter_mut().zip(shares) {
                *total += (n * share).round();
            }
            sum += n * median * 1.65 * (1.0 + 0.1 * rng.normal()).max(0.0);
        }
        out.push(buckets[10].clone());
        out.extend(buckets);
        out.push(sums);
    }
    out.into_iter()
        .map(|values| with_times(&ts, values))
        .collect()
}

fn node(hosts: usize, points: usize, jitter_ms: i64, name: &'static str) -> DataSet {
    let mut rng = Rng::new(1);
    let series = (0..hosts)
        .flat_map(|_| node_host(&mut rng, points, jitter_ms))
        .collect();
    DataSet { name, series }
}

/// Random walks with standard normal steps, rounded to 3 decimals.
fn walks(series: usize, points: usize) -> DataSet {
    let mut rng = Rng::new(2);
    let ts = timestamps(points, 0, &mut rng);
    let series = (0..series)
        .map(|_| {
            let mut v = round_to(rng.range(0.0, 1000.0), 3);
            let values = (0..points)
                .map(|_| {
                    let now = v;
                    v = round_to(v + rng.normal(), 3);
                    now
                })
                .collect();
            with_times(&ts, values)
        })
        .collect();
    DataSet {
        name: "walk-3dec",
        series,
    }
}

/// Mean-reverting gauges with 2 or 3 decimals (temperatures, ratios, latencies).
fn decimals(series: usize, points: usize) -> DataSet {
    let mut rng = Rng::new(3);
    let ts = timestamps(points, 0, &mut rng);
    let series = (0..series)
        .map(|s| {
            let digits = 2 + (s % 2) as i32;
            let mean = rng.range(0.0, 100.0);
            let spread = rng.range(0.01, 2.0);
            let mut x = mean;
            let values = (0..points)
                .map(|_| {
                    x += 0.2 * (mean - x) + spread * rng.normal();
                    round_to(x, digits)
                })
                .collect();
            with_times(&ts, values)
        })
        .collect();
    DataSet {
        name: "decimals-2-3",
        series,
    }
}

fn data_sets() -> Vec<DataSet> {
    vec![
        node(40, 960, 0, "node-grid"),
        node(40, 960, 5, "node-jitter5ms"),
        walks(400, 960),
        decimals(400, 960),
    ]
}

/// How one candidate turns a chunk of points into bytes.
#[derive(Clone, Copy)]
enum Candidate {
    Only(Encoding),
    /// The best of the hand-built codecs, without pco.
    BestOwn,
    Best,
    Head,
}

impl Candidate {
    const ALL: [Candidate; 7] = [
        Candidate::Only(Encoding::Xor),
        Candidate::Only(Encoding::Decimal),
        Candidate::Only(Encoding::FloatBits),
        Candidate::Only(Encoding::Pco),
        Candidate::BestOwn,
        Candidate::Best,
        Candidate::Head,
    ];

    fn name(self) -> &'static str {
        match self {
            Candidate::Only(Encoding::Xor) => "xor",
            Candidate::Only(Encoding::Decimal) => "decimal",
            Candidate::Only(Encoding::Pco) => "pco",
            Candidate::Only(Encoding::FloatBits) => "floatbits",
            Candidate::Only(Encoding::Constant) => "constant",
            Candidate::BestOwn => "best-own",
            Candidate::Best => "best",
            Candidate::Head => "head",
        }
    }

    /// The encoded chunk; a codec that cannot take it falls back to XOR.
    fn encode(self, points: &[Point]) -> Vec<u8> {
        match self {
            Candidate::Only(e) => encode_as(e, points)
                .unwrap_or_else(|| encode_as(Encoding::Xor, points).expect("XOR takes all")),
            Candidate::BestOwn => Encoding::ALL
                .into_iter()
                .filter(|&e| e != Encoding::Pco)
                .filter_map(|e| encode_as(e, points))
                .min_by_key(Vec::len)
                .expect("XOR takes all"),
            Candidate::Best => encode(points),
            Candidate::Head => head_of(points).to_bytes(),
        }
    }
}

fn head_of(points: &[Point]) -> HeadChunk {
    let mut head = HeadChunk::new();
    for p in points {
        head.append(p.t, p.v);
    }
    head
}

fn print_table(sets: &[DataSet]) {
    println!("bytes/sample (16 raw); chunk = points per chunk; enc/dec = M points/s");
    println!(
        "head KiB = one head chunk of `chunk` points, heap plus the {}-byte struct",
        std::mem::size_of::<HeadChunk>()
    );
    println!(
        "{:<15} {:>5} {:>7} {:>7} {:>7} {:>7} {:>8} {:>7} {:>7} {:>9} {:>9} {:>9}",
        "data set",
        "chunk",
        "xor",
        "decimal",
        "fbits",
        "pco",
        "best-own",
        "best",
        "head",
        "enc best",
        "dec best",
        "head KiB"
    );
    for set in sets {
        for size in [120, 240, 480, 1024] {
            let n = set.samples() as f64;
            let mut line = format!("{:<15} {:>5}", set.name, size);
            for c in Candidate::ALL {
                let bytes: usize = set.chunks(size).map(|ch| c.encode(ch).len()).sum();
                line += &format!(" {:>7.3}", bytes as f64 / n);
                if matches!(c, Candidate::BestOwn) {
                    line.push(' ');
                }
            }
            let started = Instant::now();
            let encoded: Vec<Vec<u8>> = set.chunks(size).map(encode).collect();
            let enc = n / started.elapsed().as_secs_f64() / 1e6;
            let started = Instant::now();
            let mut out = Vec::with_capacity(size);
            for chunk in &encoded {
                out.clear();
                decode_into(chunk, &mut out).expect("decodes");
            }
            let dec = n / started.elapsed().as_secs_f64() / 1e6;
            // Head memory per series with one full chunk: heap plus the struct.
            let heads: usize = set
                .series
                .iter()
                .map(|s| head_of(&s[..size.min(s.len())]).memory_bytes())
                .sum();
            let per_series =
                heads as f64 / set.series.len() as f64 + std::mem::size_of::<HeadChunk>() as f64;
            line += &format!(" {enc:>9.2} {dec:>9.2} {:>9.3}", per_series / 1024.0);
            println!("{line}");
        }
        print_winners(set);
    }
}

/// Which codec `encode` picked, as shares of the chunks at the target size.
fn print_winners(set: &DataSet) {
    let mut counts = [0usize; 5];
    let mut total = 0;
    for chunk in set.chunks(TARGET_POINTS) {
        let bytes = encode(chunk);
        let i = Encoding::ALL
            .iter()
            .position(|&e| Encoding::of(&bytes).ok() == Some(e))
            .expect("known encoding");
        counts[i] += 1;
        total += 1;
    }
    let share = |i: usize| 100.0 * counts[i] as f64 / total as f64;
    println!(
        "{:<15} winners at {TARGET_POINTS}: xor {:.1}%, decimal {:.1}%, pco {:.1}%, float bits {:.1}%, constant {:.1}%",
        set.name,
        share(0),
        share(1),
        share(2),
        share(3),
        share(4)
    );
}

fn bench_speed(c: &mut Criterion, sets: &[DataSet]) {
    for set in sets {
        let chunks: Vec<&[Point]> = set.chunks(TARGET_POINTS).take(400).collect();
        let points: usize = chunks.iter().map(|c| c.len()).sum();
        let mut group = c.benchmark_group(format!("codecs/{}", set.name));
        group.throughput(Throughput::Elements(points as u64));
        for cand in Candidate::ALL {
            group.bench_function(BenchmarkId::new("encode", cand.name()), |b| {
                b.iter(|| {
                    for chunk in &chunks {
                        black_box(cand.encode(chunk));
                    }
                })
            });
            let encoded: Vec<Vec<u8>> = chunks.iter().map(|ch| cand.encode(ch)).collect();
            group.bench_function(BenchmarkId::new("decode", cand.name()), |b| {
                let mut out = Vec::with_capacity(TARGET_POINTS);
                b.iter(|| {
                    for chunk in &encoded {
                        out.clear();
                        decode_into(chunk, &mut out).expect("decodes");
                        black_box(&out);
                    }
                })
            });
        }
        group.finish();
    }
}

/// Decode speed of every candidate on every data set at [`TARGET_POINTS`], in M
/// points per second. Each group of [`GROUP`] chunks counts with its fastest of
/// [`PASSES`] decodes: a group takes a fraction of a millisecond, so some pass
/// of each runs without being preempted on a busy machine.
fn print_decode_speeds(sets: &[DataSet]) {
    const PASSES: usize = 25;
    const GROUP: usize = 25;
    println!("decode M points/s at {TARGET_POINTS} points per chunk, fastest of {PASSES} passes");
    let mut header = format!("{:<15}", "data set");
    for cand in Candidate::ALL {
        header += &format!(" {:>9}", cand.name());
    }
    println!("{header}");
    let mut out = Vec::with_capacity(TARGET_POINTS);
    let mut decode_group = |group: &[Vec<u8>]| {
        let started = Instant::now();
        for chunk in group {
            out.clear();
            decode_into(chunk, &mut out).expect("decodes");
            black_box(&out);
        }
        started.elapsed().as_secs_f64()
    };
    for set in sets {
        let mut line = format!("{:<15}", set.name);
        for cand in Candidate::ALL {
            let encoded: Vec<Vec<u8>> = set.chunks(TARGET_POINTS).map(|c| cand.encode(c)).collect();
            let seconds: f64 = encoded
                .chunks(GROUP)
                .map(|group| {
                    (0..PASSES)
                        .map(|_| decode_group(group))
                        .fold(f64::INFINITY, f64::min)
                })
                .sum();
            line += &format!(" {:>9.1}", set.samples() as f64 / seconds / 1e6);
        }
        println!("{line}");
    }
}

fn main() {
    let sets = data_sets();
    if std::env::args().any(|a| a == "--decode-only") {
        print_decode_speeds(&sets);
        return;
    }
    print_table(&sets);
    if std::env::args().any(|a| a == "--table-only") {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_speed(&mut c, &sets);
    c.final_summary();
}
