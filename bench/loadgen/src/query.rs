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
    // The warm-up also fetches the answer whose size and value sum are reported.
    let mut answer = Answer::of(&fetch(client, plan).await?)?;
    for _ in 1..plan.warmup {
        answer = Answer::of(&fetch(client, plan).await?)?;
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
        .add("results", answer.size)
        .add("value_sum", format!("{:.6e}", answer.value_sum))
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

/// What a Prometheus-style answer holds: how many items (series of a vector or matrix,
/// names or values of a discovery call) and the sum of every sample value, so that
/// answers from different servers can be compared beyond their size.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Answer {
    size: usize,
    value_sum: f64,
}

impl Answer {
    fn of(body: &[u8]) -> anyhow::Result<Answer> {
        let v: serde_json::Value = serde_json::from_slice(body)?;
        if v["status"] != "success" {
            anyhow::bail!(
                "answer is not a success: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
        let data = &v["data"];
        let Some(items) = data["result"].as_array().or_else(|| data.as_array()) else {
            return Ok(Answer {
                size: 0,
                value_sum: 0.0,
            });
        };
        let mut points: Vec<&serde_json::Value> = Vec::new();
        for item in items {
            if item["value"].is_array() {
                points.push(&item["value"]);
            }
            if let Some(values) = item["values"].as_array() {
                points.extend(values);
            }
        }
        let value_sum = points
            .iter()
            .filter_map(|point| point.get(1)?.as_str()?.parse::<f64>().ok())
            .fold(0.0, |sum, v| sum + v);
        Ok(Answer {
            size: items.len(),
            value_sum,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_count_items_and_sum_values() {
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2"]},{"metric":{},"value":[1,"3.5"]}]}}"#;
        assert_eq!(
            Answer::of(vector).unwrap(),
            Answer {
                size: 2,
                value_sum: 5.5
            }
        );
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]}]}}"#;
        assert_eq!(
            Answer::of(matrix).unwrap(),
            Answer {
                size: 1,
                value_sum: 3.0
            }
        );
        let labels = br#"{"status":"success","data":["__name__","job","le"]}"#;
        assert_eq!(
            Answer::of(labels).unwrap(),
            Answer {
                size: 3,
                value_sum: 0.0
            }
        );
        let error = br#"{"status":"error","errorType":"bad_data","error":"x"}"#;
        assert!(Answer::of(error).is_err());
        assert!(Answer::of(b"not json").is_err());
    }
}
