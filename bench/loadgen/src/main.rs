//! `strata-loadgen`: the load side of Strata's side-by-side benchmarks (`bench/*.sh`).
//!
//! It generates deterministic data sets (node-exporter-like fleets, random walks), turns
//! them into request bodies for each wire format *before* timing starts, and pushes them
//! over N connections to Strata, VictoriaMetrics (Prometheus text import) or Prometheus
//! (remote write); it writes OpenMetrics files for `promtool` backfill, sends StatsD over
//! UDP at a paced rate, times queries from concurrent clients, and probes how soon an
//! acknowledged sample becomes queryable. Every command prints one `key=value` line.
//!
//! It deliberately does not start or stop servers, nor compare them: the scripts do.
//! It runs on the same 2 cores as the server it measures; pre-built bodies keep its own
//! share small, but it is not zero.

mod dataset;
mod encode;
mod probe;
mod push;
mod query;
mod rng;
mod stats;
mod statsd;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use dataset::Dataset;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use std::io::BufWriter;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(about = "Data sets and load generators for Strata's benchmarks")]
struct Cli {
    /// Worker threads of the async runtime (the machine has 2 cores, shared with the server).
    #[arg(long, global = true, default_value_t = 2)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a data set's size and time range.
    Describe(DatasetArgs),
    /// Push a data set over HTTP and report samples/s.
    Push(PushArgs),
    /// Write a data set as OpenMetrics (seconds timestamps, `# EOF`) for promtool backfill.
    Openmetrics {
        #[command(flatten)]
        data: DatasetArgs,
        #[arg(long)]
        out: String,
    },
    /// Send StatsD lines over UDP at a paced rate.
    Statsd {
        #[arg(long, default_value = "127.0.0.1:8125")]
        addr: String,
        /// Offered lines per second.
        #[arg(long, default_value_t = 500_000.0)]
        rate: f64,
        /// Lines to send in total.
        #[arg(long, default_value_t = 2_000_000)]
        count: u64,
        /// Distinct metric names to cycle through.
        #[arg(long, default_value_t = 1000)]
        metrics: usize,
        #[arg(long, default_value_t = 16)]
        lines_per_packet: usize,
    },
    /// Time an HTTP GET (query, discovery) many times and report percentiles.
    Query {
        /// Full URL without the query string, e.g. http://127.0.0.1:9410/api/v1/query.
        #[arg(long)]
        url: String,
        /// Query parameter `name=value` (repeatable).
        #[arg(long = "param", value_parser = parse_param)]
        params: Vec<(String, String)>,
        #[arg(long, default_value_t = 100)]
        requests: usize,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        #[arg(long, default_value_t = 3)]
        warmup: usize,
    },
    /// Push fresh samples one at a time and measure ack-to-queryable latency.
    Probe {
        /// Server base URL, e.g. http://127.0.0.1:9410.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 50)]
        count: usize,
        #[arg(long, default_value_t = 100)]
        target_ms: u64,
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
        /// Where to look for the sample.
        #[arg(long, value_enum, default_value = "query")]
        read: probe::ReadPath,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DatasetKind {
    /// Node-exporter-like fleet, 15 s interval, 103 series per host.
    Node,
    /// Random walks rounded to 3 decimals.
    Walk,
}

#[derive(Args, Clone)]
struct DatasetArgs {
    #[arg(long, value_enum)]
    dataset: DatasetKind,
    /// Hosts of the node data set (625 hosts give 10,000 node_cpu_seconds_total series).
    #[arg(long, default_value_t = 625)]
    hosts: usize,
    /// Series of the walk data set.
    #[arg(long, default_value_t = 1000)]
    series: usize,
    /// Points per series (default: node 160, walk 2000).
    #[arg(long)]
    points: Option<usize>,
    /// Interval of the walk data set (45 s: 2,000 points span 25 h).
    #[arg(long, default_value_t = 45_000)]
    walk_interval_ms: i64,
    /// Timestamp of the last point (default: now, rounded down to the interval).
    #[arg(long)]
    end_ms: Option<i64>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl DatasetArgs {
    fn build(&self) -> Dataset {
        let (interval, default_points) = match self.dataset {
            DatasetKind::Node => (dataset::node::INTERVAL_MS, 160),
            DatasetKind::Walk => (self.walk_interval_ms.max(1), 2000),
        };
        let points = self.points.unwrap_or(default_points).max(1);
        let end = self
            .end_ms
            .unwrap_or_else(|| now_ms() / interval * interval);
        let start_ms = end - (points as i64 - 1) * interval;
        match self.dataset {
            DatasetKind::Node => dataset::node(&dataset::NodeParams {
                hosts: self.hosts,
                points,
                start_ms,
                seed: self.seed,
            }),
            DatasetKind::Walk => dataset::walk(&dataset::WalkParams {
                series: self.series,
                points,
                start_ms,
                interval_ms: interval,
                seed: self.seed,
            }),
        }
    }
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Format {
    /// Prometheus text with ms timestamps (Strata, VictoriaMetrics /api/v1/import/prometheus).
    Prometheus,
    /// Prometheus remote write 1.0 (snappy protobuf).
    RemoteWrite,
}

#[derive(Args)]
struct PushArgs {
    #[command(flatten)]
    data: DatasetArgs,
    /// Full URL, e.g. http://127.0.0.1:9410/api/v1/import/prometheus.
    #[arg(long)]
    url: String,
    #[arg(long, value_enum, default_value = "prometheus")]
    format: Format,
    /// Concurrent connections (each sends its own shard of series).
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Samples per request.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected name=value, got {s:?}"))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(120))
        .build()?;
    let report = match cli.command {
        Command::Describe(data) => {
            let ds = data.build();
            let mut r = stats::Report::default();
            r.add("series", ds.series.len())
                .add("points", ds.points)
                .add("samples", ds.samples())
                .add("start_ms", ds.start_ms)
                .add("end_ms", ds.end_ms())
                .add("interval_ms", ds.interval_ms);
            r
        }
        Command::Push(args) => {
            let (headers, shards) = prepare_push(&args)?;
            runtime.block_on(push::push(&client, &args.url, headers, shards))
        }
        Command::Openmetrics { data, out } => {
            let ds = data.build();
            let file = std::fs::File::create(&out).with_context(|| format!("creating {out}"))?;
            let mut w = BufWriter::with_capacity(1 << 20, file);
            encode::write_openmetrics(&ds, &mut w).with_context(|| format!("writing {out}"))?;
            std::io::Write::flush(&mut w)?;
            let mut r = stats::Report::default();
            r.add("samples", ds.samples()).add("file", out);
            r
        }
        Command::Statsd {
            addr,
            rate,
            count,
            metrics,
            lines_per_packet,
        } => statsd::run(&statsd::StatsdPlan {
            addr,
            rate: rate.max(1.0),
            count,
            metrics,
            lines_per_packet,
        })?,
        Command::Query {
            url,
            params,
            requests,
            concurrency,
            warmup,
        } => runtime.block_on(query::run(
            &client,
            &query::QueryPlan {
                url,
                params,
                requests,
                concurrency,
                warmup: warmup.max(1),
            },
        ))?,
        Command::Probe {
            url,
            count,
            target_ms,
            timeout_ms,
            read,
        } => runtime.block_on(probe::run(
            &client,
            &probe::ProbePlan {
                base_url: url.trim_end_matches('/').to_string(),
                count,
                timeout: Duration::from_millis(timeout_ms),
                target: Duration::from_millis(target_ms),
                read,
            },
        ))?,
    };
    println!("{report}");
    Ok(())
}

/// Builds every request body of a push before the clock starts.
fn prepare_push(args: &PushArgs) -> anyhow::Result<(HeaderMap, Vec<Vec<push::Job>>)> {
    let t = Instant::now();
    let ds = args.data.build();
    let prefixes = encode::series_prefixes(&ds);
    let shards: Vec<Vec<push::Job>> = ds
        .shards(args.concurrency)
        .into_iter()
        .map(|range| {
            encode::plan(range, ds.points, args.batch)
                .iter()
                .map(|span| push::Job {
                    body: match args.format {
                        Format::Prometheus => encode::prometheus_text(&ds, &prefixes, span),
                        Format::RemoteWrite => encode::remote_write(&ds, span),
                    },
                    samples: span.samples(),
                })
                .collect()
        })
        .collect();
    let bytes: usize = shards.iter().flatten().map(|j| j.body.len()).sum();
    let requests: usize = shards.iter().map(Vec::len).sum();
    eprintln!(
        "prepared {} samples of {} series in {requests} requests ({:.1} MB) in {:.1} s",
        ds.samples(),
        ds.series.len(),
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let mut headers = HeaderMap::new();
    match args.format {
        Format::Prometheus => {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
        }
        Format::RemoteWrite => {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-protobuf"),
            );
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
            headers.insert(
                "X-Prometheus-Remote-Write-Version",
                HeaderValue::from_static("0.1.0"),
            );
        }
    }
    Ok((headers, shards))
}
