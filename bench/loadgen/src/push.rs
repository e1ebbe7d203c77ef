//! Sends pre-built request bodies over N concurrent connections, one shard of series per
//! connection (so each series arrives in time order), and measures end-to-end samples/s:
//! from the first request sent to the last acknowledgement received.

use crate::stats::{Report, Summary};
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// One request to send and the samples it carries.
#[derive(Debug, Clone)]
pub struct Job {
    pub body: Bytes,
    pub samples: usize,
}

#[derive(Debug, Default)]
struct ShardOutcome {
    samples: usize,
    requests: usize,
    errors: usize,
    retries: usize,
    latencies: Vec<Duration>,
    first_error: Option<String>,
}

/// Back-pressure answers (429, 503) are retried after their Retry-After, this many times.
const MAX_RETRIES: usize = 100;

pub async fn push(
    client: &reqwest::Client,
    url: &str,
    headers: HeaderMap,
    shards: Vec<Vec<Job>>,
) -> Report {
    let started = Instant::now();
    let tasks: Vec<_> = shards
        .into_iter()
        .map(|jobs| {
            let (client, url, headers) = (client.clone(), url.to_string(), headers.clone());
            tokio::spawn(async move { push_shard(&client, &url, &headers, jobs).await })
        })
        .collect();
    let mut total = ShardOutcome::default();
    for task in tasks {
        let o = task.await.expect("a push task panicked");
        total.samples += o.samples;
        total.requests += o.requests;
        total.errors += o.errors;
        total.retries += o.retries;
        total.latencies.extend(o.latencies);
        total.first_error = total.first_error.or(o.first_error);
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut r = Report::default();
    r.add("samples", total.samples)
        .add("seconds", format!("{seconds:.3}"))
        .add(
            "samples_per_s",
            format!("{:.0}", total.samples as f64 / seconds),
        )
        .add("requests", total.requests)
        .add("errors", total.errors)
        .add("retries", total.retries)
        .add_summary("req_", &Summary::of(total.latencies));
    if let Some(e) = total.first_error {
        eprintln!("first error: {e}");
    }
    r
}

async fn push_shard(
    client: &reqwest::Client,
    url: &str,
    headers: &HeaderMap,
    jobs: Vec<Job>,
) -> ShardOutcome {
    let mut o = ShardOutcome::default();
    for job in jobs {
        o.requests += 1;
        let mut attempt = 0;
        loop {
            let t = Instant::now();
            let answer = client
                .post(url)
                .headers(headers.clone())
                .body(job.body.clone())
                .send()
                .await;
            match answer {
                Ok(resp) if resp.status().is_success() => {
                    // Read the (small) confirmation so the connection is reusable.
                    let _ = resp.bytes().await;
                    o.latencies.push(t.elapsed());
                    o.samples += job.samples;
                }
                Ok(resp) if is_backpressure(resp.status()) && attempt < MAX_RETRIES => {
                    attempt += 1;
                    o.retries += 1;
                    tokio::time::sleep(retry_after(resp.headers())).await;
                    continue;
                }
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    o.errors += 1;
                    o.first_error.get_or_insert(format!(
                        "HTTP {status}: {}",
                        text.chars().take(300).collect::<String>()
                    ));
                }
                Err(e) => {
                    o.errors += 1;
                    o.first_error.get_or_insert(e.to_string());
                }
            }
            break;
        }
    }
    o
}

fn is_backpressure(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
}

/// The server's Retry-After in seconds, capped to keep runs bounded.
fn retry_after(headers: &HeaderMap) -> Duration {
    let secs = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.05);
    Duration::from_secs_f64(secs.clamp(0.01, 1.0))
}
