//! "Queryable within 100 ms of its acknowledgement": pushes one fresh series at a time
//! and polls an instant query for it from the moment the push is acknowledged until it
//! appears, reporting how long that took.

use crate::stats::{Report, Summary};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct ProbePlan {
    pub base_url: String,
    pub count: usize,
    pub timeout: Duration,
    pub target: Duration,
}

pub async fn run(client: &reqwest::Client, plan: &ProbePlan) -> anyhow::Result<Report> {
    let run_id = now_ms();
    let (mut acks, mut visible) = (Vec::new(), Vec::new());
    let mut misses = 0;
    for i in 0..plan.count {
        let ts = now_ms();
        let selector = format!("strata_probe{{run=\"{run_id}\",probe=\"{i}\"}}");
        let sent = Instant::now();
        let resp = client
            .post(format!("{}/api/v1/import/prometheus", plan.base_url))
            .body(format!("{selector} {i} {ts}\n"))
            .send()
            .await?;
        let status = resp.status();
        let _ = resp.bytes().await?;
        anyhow::ensure!(status.is_success(), "push {i} answered HTTP {status}");
        let acked = Instant::now();
        acks.push(acked - sent);
        match poll_until_visible(client, plan, &selector, ts, acked).await? {
            Some(d) => visible.push(d),
            None => misses += 1,
        }
    }
    let within = visible.iter().filter(|d| **d <= plan.target).count();
    let mut r = Report::default();
    r.add("probes", plan.count)
        .add("within_target", within)
        .add("target_ms", plan.target.as_millis())
        .add("never_visible", misses)
        .add_summary("visible_", &Summary::of(visible))
        .add_summary("ack_", &Summary::of(acks));
    Ok(r)
}

/// Time from `acked` until the instant query at `ts` returns the series, or None after
/// the plan's timeout.
async fn poll_until_visible(
    client: &reqwest::Client,
    plan: &ProbePlan,
    selector: &str,
    ts: i64,
    acked: Instant,
) -> anyhow::Result<Option<Duration>> {
    let url = format!("{}/api/v1/query", plan.base_url);
    let time = format!("{}.{:03}", ts / 1000, ts % 1000);
    loop {
        let body = client
            .get(&url)
            .query(&[("query", selector), ("time", &time)])
            .send()
            .await?
            .bytes()
            .await?;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if v["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
        {
            return Ok(Some(acked.elapsed()));
        }
        if acked.elapsed() > plan.timeout {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
