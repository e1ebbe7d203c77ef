//! "Queryable within 100 ms of its acknowledgement": pushes one fresh series at a time
//! and polls for it from the moment the push is acknowledged until it appears, reporting
//! how long that took. It reads through an instant query, or through `/api/v1/export`
//! (raw samples) for a server whose PromQL endpoint is not there yet.

use crate::stats::{Report, Summary};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct ProbePlan {
    pub base_url: String,
    pub count: usize,
    pub timeout: Duration,
    pub target: Duration,
    pub read: ReadPath,
}

/// How the probe looks for its sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadPath {
    /// `GET /api/v1/query` (instant query at the sample's time).
    Query,
    /// `GET /api/v1/export` (VictoriaMetrics-style JSON lines of raw samples).
    Export,
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

/// Time from `acked` until the server answers with the sample, or None after
/// the plan's timeout.
async fn poll_until_visible(
    client: &reqwest::Client,
    plan: &ProbePlan,
    selector: &str,
    ts: i64,
    acked: Instant,
) -> anyhow::Result<Option<Duration>> {
    let time = format!("{}.{:03}", ts / 1000, ts % 1000);
    let request = match plan.read {
        ReadPath::Query => client
            .get(format!("{}/api/v1/query", plan.base_url))
            .query(&[("query", selector), ("time", &time)]),
        ReadPath::Export => client
            .get(format!("{}/api/v1/export", plan.base_url))
            .query(&[("match[]", selector)]),
    };
    loop {
        let req = request
            .try_clone()
            .expect("GET requests have no streaming body");
        let body = req.send().await?.bytes().await?;
        if holds_sample(plan.read, &body) {
            return Ok(Some(acked.elapsed()));
        }
        if acked.elapsed() > plan.timeout {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Whether an answer holds the probe's sample: a non-empty instant vector, or an export
/// line with a value.
fn holds_sample(read: ReadPath, body: &[u8]) -> bool {
    match read {
        ReadPath::Query => serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| {
            v["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        }),
        ReadPath::Export => body.split(|&b| b == b'\n').any(|line| {
            serde_json::from_slice::<serde_json::Value>(line)
                .is_ok_and(|v| v["values"].as_array().is_some_and(|a| !a.is_empty()))
        }),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_a_sample_in_either_answer() {
        let found = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}"#;
        let empty = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(holds_sample(ReadPath::Query, found));
        assert!(!holds_sample(ReadPath::Query, empty));
        assert!(!holds_sample(ReadPath::Query, b"<html>"));
        let line = br#"{"metric":{"__name__":"x"},"values":[1],"timestamps":[5]}"#;
        assert!(holds_sample(ReadPath::Export, line));
        assert!(!holds_sample(ReadPath::Export, b""));
        assert!(!holds_sample(ReadPath::Export, br#"{"status":"error"}"#));
    }
}
