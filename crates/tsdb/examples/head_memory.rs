//! Measures the head's memory per series at high cardinality: live heap bytes (counted
//! by a wrapping allocator, so allocator slack is excluded) and resident memory, after
//! each stage of a node-exporter-like load: series created, first sample, more samples,
//! and a freeze (the head's samples taken out for a block, as a flush does).
//!
//! `cargo run --release -p strata-tsdb --example head_memory -- [hosts] [points]`
//! (defaults: 10,000 hosts × 103 series = 1.03M series, 4 points each, as the `card` set
//! of `bench/ingest.sh`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use strata_core::{Labels, Matcher, TimeRange};
use strata_tsdb::chunk::HeadChunk;
use strata_tsdb::head::{shard_of, Head, HeadSample, InOrderChunks, MemSeries, SHARD_BITS};

/// Counts live heap bytes as requested by the program.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SERIES_PER_HOST: usize = 103;
const DCS: [&str; 4] = ["eu-west", "eu-central", "us-east", "us-west"];

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or(0)
        * 1024
}

/// Labels shaped like node-exporter's: a metric name shared by hosts, the host's
/// identity (dc, instance, job) and, for most series, a per-metric label.
fn series_labels(host: usize, k: usize) -> Labels {
    let name = format!("node_metric_{:02}_bytes", k / 4);
    let instance = format!("host-{host:05}:9100");
    let device = format!("dev{}", k % 4);
    let mut pairs = vec![
        ("__name__", name.as_str()),
        ("dc", DCS[host % DCS.len()]),
        ("instance", instance.as_str()),
        ("job", "node"),
    ];
    if !k.is_multiple_of(5) {
        pairs.push(("device", device.as_str()));
    }
    Labels::new(pairs).expect("valid labels")
}

struct Stage {
    heap: usize,
    rss: usize,
}

impl Stage {
    fn now() -> Stage {
        Stage {
            heap: LIVE.load(Ordering::Relaxed),
            rss: rss_bytes(),
        }
    }

    fn report(&self, what: &str, since: &Stage, n: usize) {
        println!(
            "{what:<40} heap {:>7.1} B/series, RSS {:>7.1} B/series",
            (self.heap as f64 - since.heap as f64) / n as f64,
            (self.rss as f64 - since.rss as f64) / n as f64
        );
    }
}

fn append_round(head: &Head, ids: &[u64], t: i64, k: usize) {
    for (i, &id) in ids.iter().enumerate() {
        let shard = (id as usize) & ((1 << SHARD_BITS) - 1);
        let v = if i % 2 == 0 {
            (k * (i % 7 + 1)) as f64
        } else {
            ((i * 31 + k * 17) % 10_000) as f64 / 100.0
        };
        head.insert(shard, &[HeadSample::of_id(id, t, v)]);
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let hosts = args.first().copied().unwrap_or(10_000);
    let points = args.get(1).copied().unwrap_or(4).max(1);
    let n = hosts * SERIES_PER_HOST;
    println!(
        "sizes: MemSeries {} B, InOrderChunks {} B, HeadChunk {} B",
        std::mem::size_of::<MemSeries>(),
        std::mem::size_of::<InOrderChunks>(),
        std::mem::size_of::<HeadChunk>()
    );

    let start = Stage::now();
    let labels: Vec<Labels> = (0..hosts)
        .flat_map(|h| (0..SERIES_PER_HOST).map(move |k| series_labels(h, k)))
        .collect();
    let built = Stage::now();
    built.report("label sets (the caller's copies)", &start, n);

    let head = Head::new();
    let mut ids = vec![0u64; n];
    for (l, id) in labels.iter().zip(ids.iter_mut()) {
        let hash = l.hash64();
        let mut out = [0u64];
        head.resolve(shard_of(hash), &[(hash, l)], &mut out, usize::MAX, |_| {})
            .expect("no series limit");
        *id = out[0];
    }
    drop(labels);
    let created = Stage::now();
    created.report("series created (labels owned by head)", &start, n);

    let t0 = 1_700_000_000_000i64;
    append_round(&head, &ids, t0, 0);
    let first = Stage::now();
    first.report("+ first sample", &created, n);
    for k in 1..points {
        append_round(&head, &ids, t0 + k as i64 * 15_000, k);
    }
    let all = Stage::now();
    all.report(&format!("+ samples 2..={points}"), &first, n);
    all.report("head in total", &start, n);

    let time = |what: &str, f: &dyn Fn() -> usize| {
        let began = std::time::Instant::now();
        let found = f();
        println!(
            "{what}: {found} in {:.2} ms",
            began.elapsed().as_secs_f64() * 1e3
        );
    };
    let regex = Matcher::new(
        strata_core::MatchOp::Regex,
        "instance",
        "host-00[1-3][0-9]{2}:9100",
    )
    .expect("valid regex");
    let metric = Matcher::equal("__name__", "node_metric_07_bytes");
    for _ in 0..3 {
        time("select 300 series by name and instance regex", &|| {
            let ids = head.selected_ids(&[metric.clone(), regex.clone()]);
            let copies = head.copy_ids(&ids, TimeRange::ALL);
            copies.ranked.len() + copies.unranked.len()
        });
    }
    time("label_values(instance)", &|| {
        head.label_values("instance", TimeRange::ALL)
            .map_or(0, |values| values.len())
    });

    let frozen = head.freeze();
    let after = Stage::now();
    after.report("+ freeze (frozen series held too)", &all, n);
    drop(frozen);
    Stage::now().report("head after the frozen series dropped", &start, n);
}
