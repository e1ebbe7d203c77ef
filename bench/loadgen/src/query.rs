//! Times one HTTP read (a PromQL query, a label discovery call) many times from C
//! concurrent clients and reports latency percentiles, plus the size of the answer so
//! that the scripts can check that every server answered the same thing.

use crate::stats::{Report, Summary};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct QueryPlan {
    pub url: String,
    pub params: Vec<(String, String)>,
    pub requests: usize,
    pub concurrency: usize,
    pub warmup: usize,
}

#[derive(Debug, Default)]
struct ClientOutcome {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

pub async fn run(client: &reqwest::Client, plan: &QueryPlan) -> anyhow::Result<Report> {
    // The warm-up also fetches the answer whose size is reported.
    let mut results = answer_size(&fetch(client, plan).await?)?;
    for _ in 1..plan.warmup {
        results = answer_size(&fetch(client, plan).await?)?;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..plan.concurrency.max(1))
        .map(|_| {
            let (client, plan, next) = (client.clone(), plan.clone(), next.clone());
            tokio::spawn(async move {
                let mut o = ClientOutcome::default();
                while next.fetch_add(1, Ordering::Relaxed) < plan.requests {
                    let t = Instant::now();
                    match fetch(&client, &plan).await {
                        Ok(_) => o.latencies.push(t.elapsed()),
                        Err(e) => {
                            o.errors += 1;
                            o.first_error.get_or_insert(e.to_string());
                        }
                    }
                }
                o
            })
        })
        .collect();
    let mut all = ClientOutcome::default();
    for task in tasks {
        let o = task.await.expect("a query task panicked");
        all.latencies.extend(o.latencies);
        all.errors += o.errors;
        all.first_error = all.first_error.or(o.first_error);
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(e) = &all.first_error {
        eprintln!("first error: {e}");
    }
    let ok = all.latencies.len();
    let mut r = Report::default();
    r.add("ok", ok)
        .add("errors", all.errors)
        .add("results", results)
        .add("qps", format!("{:.1}", ok as f64 / seconds))
        .add_summary("", &Summary::of(all.latencies));
    Ok(r)
}

/// One request; an error unless the answer is 200 with a complete body.
async fn fetch(client: &reqwest::Client, plan: &QueryPlan) -> anyhow::Result<bytes::Bytes> {
    let resp = client.get(&plan.url).query(&plan.params).send().await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    if !status.is_success() {
        anyhow::bail!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    Ok(body)
}

/// How many items the Prometheus-style answer holds: series of a vector or matrix,
/// names or values of a discovery call.
fn answer_size(body: &[u8]) -> anyhow::Result<usize> {
    let v: serde_json::Value = serde_json::from_slice(body)?;
    if v["status"] != "success" {
        anyhow::bail!(
            "answer is not a success: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    let data = &v["data"];
    Ok(data["result"]
        .as_array()
        .or_else(|| data.as_array())
        .map_or(0, Vec::len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_size_counts_series_and_names() {
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2"]},{"metric":{},"value":[1,"3"]}]}}"#;
        assert_eq!(answer_size(vector).unwrap(), 2);
        let labels = br#"{"status":"success","data":["__name__","job","le"]}"#;
        assert_eq!(answer_size(labels).unwrap(), 3);
        let error = br#"{"status":"error","errorType":"bad_data","error":"x"}"#;
        assert!(answer_size(error).is_err());
        assert!(answer_size(b"not json").is_err());
    }
}
