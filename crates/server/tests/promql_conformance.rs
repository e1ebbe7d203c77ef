//! Runs every Prometheus promqltest script in `shared/promql` through the REAL `strata`
//! binary: data is loaded by POSTing Prometheus text with timestamps to
//! `/api/v1/internal/metrics/prometheus`, queries go through `/api/v1/query` and
//! `/api/v1/query_range`, and the JSON answers are read back into values for the
//! script's checks. `clear` starts a fresh server on a fresh data directory.
//!
//! The text format cannot carry everything a script loads: Prometheus's staleness marker
//! is one exact NaN bit pattern (the text format's `NaN` is an ordinary NaN), and a
//! series needs a legacy metric name. Such samples are left out of the load, and a failed
//! eval after such a load (until the next `clear`) is reported as skipped with the reason.
//!
//! Each script also runs in-process (engine over `MemStorage`). The test fails if any
//! eval fails through the API that the engine passes in-process, and prints per-file and
//! total counts. A missing script directory fails loudly.

mod common;

use common::StrataProcess;
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;
use strata_core::{
    is_stale_nan, is_valid_label_name, is_valid_metric_name, LabelsBuilder, Point, Sample, Series,
    WriteBatch,
};
use strata_promql::promqltest::{parse_script, run_script, Command, EngineBackend, TestBackend};
use strata_promql::{ErrorKind, QueryError, QueryOutput, QueryStats, Value, VectorSample};

/// Flags for the server under test: keep 1970's samples (no retention), no StatsD, no
/// series limit (scripts select freely), and no result cache (scripts load more data
/// into ranges they already queried, which a closed-range cache would not see).
const SERVER_ARGS: &[&str] = &[
    "--statsd-addr",
    "off",
    "--warm-storage-retention",
    "0",
    "--query-max-series",
    "100000000",
    "--cache-ttl",
    "0",
    "--wal-sync",
    "false",
];

/// Lines per ingest request, to stay well under the body size limit.
const LINES_PER_REQUEST: usize = 20_000;

struct HttpBackend {
    server: StrataProcess,
    client: reqwest::blocking::Client,
    /// For each `load` so far, why some of its samples could not be sent.
    lossy_loads: Vec<Option<String>>,
}

impl HttpBackend {
    fn new() -> Self {
        HttpBackend {
            server: StrataProcess::start(SERVER_ARGS),
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("an HTTP client"),
            lossy_loads: Vec::new(),
        }
    }

    fn post_text(&self, body: String) -> Result<(), String> {
        let resp = self
            .client
            .post(format!(
                "{}/api/v1/internal/metrics/prometheus",
                self.server.http_url()
            ))
            .header("Content-Type", "text/plain; version=0.0.4")
            .body(body)
            .send()
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("ingest answered {status}: {text}"))
        }
    }

    fn get(&self, path: &str, params: &[(&str, String)]) -> Result<QueryOutput, QueryError> {
        let resp = self
            .client
            .get(format!("{}{path}", self.server.http_url()))
            .query(params)
            .send()
            .map_err(|e| QueryError::new(ErrorKind::Internal, format!("request failed: {e}")))?;
        let body: Json = resp.json().map_err(|e| {
            QueryError::new(ErrorKind::Internal, format!("answer is not JSON: {e}"))
        })?;
        read_answer(&body)
    }
}

impl TestBackend for HttpBackend {
    fn clear(&mut self) {
        self.server = StrataProcess::start(SERVER_ARGS);
    }

    fn load(&mut self, batch: WriteBatch) -> Result<(), String> {
        let mut lossy = None;
        let mut lines = Vec::with_capacity(batch.samples.len());
        for s in &batch.samples {
            match text_line(s) {
                Ok(line) => lines.push(line),
                Err(reason) => lossy = Some(reason),
            }
        }
        self.lossy_loads.push(lossy);
        for chunk in lines.chunks(LINES_PER_REQUEST) {
            self.post_text(chunk.concat())?;
        }
        Ok(())
    }

    fn instant(&mut self, expr: &str, t_ms: i64) -> Result<QueryOutput, QueryError> {
        self.get(
            "/api/v1/query",
            &[("query", expr.to_owned()), ("time", seconds(t_ms))],
        )
    }

    fn range(
        &mut self,
        expr: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput, QueryError> {
        let params = [
            ("query", expr.to_owned()),
            ("start", seconds(start)),
            ("end", seconds(end)),
            ("step", format!("{step}ms")),
        ];
        self.get("/api/v1/query_range", &params)
    }
}

/// A millisecond time as exact decimal seconds.
fn seconds(t_ms: i64) -> String {
    let sign = if t_ms < 0 { "-" } else { "" };
    let abs = t_ms.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

/// One sample as a line of Prometheus text with its timestamp, or why it cannot be one.
fn text_line(s: &Sample) -> Result<String, String> {
    if is_stale_nan(s.v) {
        return Err("needs stale NaN (the text format cannot carry the staleness marker)".into());
    }
    let name = s.labels.metric_name().unwrap_or_default();
    if !is_valid_metric_name(name) {
        return Err(format!("needs a legacy metric name, not {name:?}"));
    }
    let mut line = String::from(name);
    line.push('{');
    for l in s.labels.iter().filter(|l| l.name != "__name__") {
        if !is_valid_label_name(l.name) {
            return Err(format!("needs a legacy label name, not {:?}", l.name));
        }
        let value = l
            .value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(line, "{}=\"{value}\",", l.name);
    }
    let value = if s.v.is_nan() {
        "NaN".to_owned()
    } else if s.v.is_infinite() {
        if s.v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{:e}", s.v)
    };
    let _ = writeln!(line, "}} {value} {}", s.t);
    Ok(line)
}

/// Reads a Prometheus API answer back into the engine's types.
fn read_answer(body: &Json) -> Result<QueryOutput, QueryError> {
    let strings = |key: &str| -> Vec<String> {
        body[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    if body["status"] != "success" {
        let kind = match body["errorType"].as_str() {
            Some("bad_data") => ErrorKind::BadData,
            Some("execution") => ErrorKind::Execution,
            Some("timeout") => ErrorKind::Timeout,
            Some("canceled") => ErrorKind::Canceled,
            _ => ErrorKind::Internal,
        };
        let message = body["error"].as_str().unwrap_or_default();
        // The API names the parameter, as Prometheus does; scripts expect the engine's words.
        let message = message
            .strip_prefix("invalid parameter \"query\": ")
            .unwrap_or(message);
        return Err(QueryError::new(kind, message));
    }
    let bad = |what: &str| {
        QueryError::new(
            ErrorKind::Internal,
            format!("malformed answer ({what}): {body}"),
        )
    };
    let data = &body["data"];
    let result = &data["result"];
    let value = match data["resultType"].as_str() {
        Some("scalar") => {
            let (t, v) = read_point(result).ok_or_else(|| bad("scalar"))?;
            Value::Scalar { t, v }
        }
        Some("string") => {
            let t = result[0].as_f64().map(|s| (s * 1000.0).round() as i64);
            let v = result[1].as_str().map(str::to_owned);
            let (Some(t), Some(v)) = (t, v) else {
                return Err(bad("string"));
            };
            Value::String { t, v }
        }
        Some("vector") => Value::Vector(
            result
                .as_array()
                .ok_or_else(|| bad("vector"))?
                .iter()
                .map(|s| {
                    let (t, v) = read_point(&s["value"]).ok_or_else(|| bad("vector sample"))?;
                    Ok(VectorSample {
                        labels: read_labels(&s["metric"]),
                        t,
                        v,
                    })
                })
                .collect::<Result<_, QueryError>>()?,
        ),
        Some("matrix") => Value::Matrix(
            result
                .as_array()
                .ok_or_else(|| bad("matrix"))?
                .iter()
                .map(|s| {
                    let points = s["values"]
                        .as_array()
                        .ok_or_else(|| bad("matrix values"))?
                        .iter()
                        .map(|p| {
                            read_point(p)
                                .map(|(t, v)| Point { t, v })
                                .ok_or_else(|| bad("matrix point"))
                        })
                        .collect::<Result<_, QueryError>>()?;
                    Ok(Series {
                        labels: read_labels(&s["metric"]),
                        points,
                    })
                })
                .collect::<Result<_, QueryError>>()?,
        ),
        _ => return Err(bad("resultType")),
    };
    Ok(QueryOutput {
        value,
        warnings: strings("warnings"),
        infos: strings("infos"),
        stats: QueryStats::default(),
    })
}

/// `[<seconds>, "<value>"]`.
fn read_point(p: &Json) -> Option<(i64, f64)> {
    let t = (p[0].as_f64()? * 1000.0).round() as i64;
    let v = match p[1].as_str()? {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().ok()?,
    };
    Some((t, v))
}

fn read_labels(m: &Json) -> strata_core::Labels {
    let mut b = LabelsBuilder::new();
    for (k, v) in m.as_object().into_iter().flatten() {
        b.push(k, v.as_str().unwrap_or_default());
    }
    b.build_unchecked()
}

/// Script lines after a lossy load, up to the next `clear`, with the load's reason.
fn lossy_regions(text: &str, lossy_loads: &[Option<String>]) -> Vec<(usize, usize, String)> {
    let mut regions = Vec::new();
    let mut loads = lossy_loads.iter();
    let mut open: Option<(usize, String)> = None;
    for (line, cmd) in parse_script(text) {
        match cmd {
            Ok(Command::Load { .. }) => {
                if let (None, Some(Some(reason))) = (&open, loads.next()) {
                    open = Some((line, reason.clone()));
                }
            }
            Ok(Command::Clear) => {
                if let Some((from, reason)) = open.take() {
                    regions.push((from, line, reason));
                }
            }
            _ => {}
        }
    }
    if let Some((from, reason)) = open {
        regions.push((from, usize::MAX, reason));
    }
    regions
}

#[derive(Default)]
struct Totals {
    passed: usize,
    failed: usize,
    skipped: usize,
    engine_failures: usize,
}

#[test]
fn prometheus_test_scripts_through_the_http_api() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/promql"
    ));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("promqltest scripts NOT FOUND at {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "NO .test files in {}", dir.display());

    let mut totals = Totals::default();
    let mut regressions = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable script");
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let in_process = run_script(&name, &text, &mut EngineBackend::new());
        let engine_failed: BTreeSet<usize> = in_process.failed.iter().map(|f| f.line).collect();

        let mut backend = HttpBackend::new();
        let report = run_script(&name, &text, &mut backend);
        let regions = lossy_regions(&text, &backend.lossy_loads);
        let (mut failed, mut skipped, mut engine) = (0, report.skipped.len(), 0);
        for f in &report.failed {
            if let Some((_, _, reason)) =
                regions.iter().find(|(a, b, _)| (*a..*b).contains(&f.line))
            {
                skipped += 1;
                println!("  SKIP {name}:{} {reason}", f.line);
            } else if engine_failed.contains(&f.line) {
                engine += 1;
                println!(
                    "  FAIL (engine, in-process too) {name}:{} {}",
                    f.line, f.reason
                );
            } else {
                failed += 1;
                println!("  FAIL (API only) {name}:{} {}", f.line, f.reason);
                regressions.push(format!("{name}:{} {}", f.line, f.reason));
            }
        }
        println!(
            "{name}: {} passed, {} failed through the API only, {engine} failed in the engine too, {skipped} skipped",
            report.passed, failed
        );
        totals.passed += report.passed;
        totals.failed += failed;
        totals.skipped += skipped;
        totals.engine_failures += engine;
    }
    println!(
        "promqltest through the HTTP API, total: {} passed, {} failed through the API only, {} failed in the engine too, {} skipped",
        totals.passed, totals.failed, totals.engine_failures, totals.skipped
    );
    assert!(
        regressions.is_empty(),
        "{} evals fail through the HTTP API that pass in-process:\n{}",
        regressions.len(),
        regressions.join("\n")
    );
}
