//! `/api/v1/export` streams in time windows: a large export arrives in many pieces,
//! holds every sample exactly once in time order, and round-trips through
//! `/api/v1/import/prometheus` into another server.

#[path = "api_util.rs"]
mod util;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use strata_core::{Labels, MemStorage, Sample};
use strata_server::api::{QueryApi, QueryApiConfig};
use strata_server::app::App;
use strata_server::config::{Config, Settings};
use tower::ServiceExt;
use util::{enc, store_of_samples};

/// Each series' points, by its labels as `name=value` pairs.
type Exported = BTreeMap<Vec<(String, String)>, Vec<(i64, f64)>>;

fn config_of(window_samples: usize) -> QueryApiConfig {
    QueryApiConfig {
        export_window_samples: window_samples,
        ..QueryApiConfig::default()
    }
}

/// The whole server (ingest and read APIs) over one in-memory store.
fn server(store: Arc<MemStorage>, window_samples: usize) -> Router {
    let config = Config::resolve(Settings::default()).unwrap();
    let app = App::new(config, store.clone());
    strata_server::web::router(app, QueryApi::new(store, config_of(window_samples)))
}

fn store_of(series: &Exported) -> Arc<MemStorage> {
    let samples = series
        .iter()
        .flat_map(|(labels, points)| {
            let labels = Labels::new(labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))).unwrap();
            points.iter().map(move |&(t, v)| Sample {
                labels: labels.clone(),
                t,
                v,
            })
        })
        .collect();
    store_of_samples(samples)
}

/// A minute boundary 20 days ago: recent enough for the ingest's retention check.
fn base_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (now - 20 * 86_400_000) / 60_000 * 60_000
}

/// 40 series: most every 15 s for 30,000 s from `base`, some with a ten-day gap in the
/// middle.
fn large_data(base: i64) -> Exported {
    (0..40)
        .map(|i| {
            let labels = vec![
                ("__name__".to_owned(), "node_load".to_owned()),
                ("host".to_owned(), format!("h{i:02}")),
            ];
            let gap = if i % 4 == 0 { 10 * 86_400_000 } else { 0 };
            let points = (0..2000)
                .map(|k| {
                    let t = base + k * 15_000 + if k >= 1000 { gap } else { 0 };
                    (t, (i * 1000 + k) as f64 / 8.0)
                })
                .collect();
            (labels, points)
        })
        .collect()
}

/// GETs `uri`; the body's frames, as they arrived.
async fn frames(app: &Router, uri: &str) -> (StatusCode, Vec<Vec<u8>>) {
    let resp = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            out.push(data.to_vec());
        }
    }
    (status, out)
}

/// Reads JSON lines back into series, checking each series' lines follow in time.
fn parse(text: &str) -> Exported {
    let mut out = Exported::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let labels = v["metric"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(n, v)| (n.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let ts = v["timestamps"].as_array().unwrap();
        let vs = values_of(line);
        assert_eq!(ts.len(), vs.len(), "{line}");
        let points: &mut Vec<(i64, f64)> = out.entry(labels).or_default();
        for (t, v) in ts.iter().zip(vs) {
            let t = t.as_i64().unwrap();
            assert!(
                points.last().is_none_or(|p| p.0 < t),
                "out of order: {line}"
            );
            points.push((t, v));
        }
    }
    out
}

/// A line's values, read from the text by Rust's float parser: serde_json's default
/// parser may miss the nearest float by one unit in the last place.
fn values_of(line: &str) -> Vec<f64> {
    let start = line.find("\"values\":[").unwrap() + "\"values\":[".len();
    let len = line[start..].find(']').unwrap();
    line[start..start + len]
        .split(',')
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().unwrap())
        .collect()
}

/// The Prometheus text of exported series, with millisecond timestamps.
fn as_prometheus_text(series: &Exported) -> String {
    let mut out = String::new();
    for (labels, points) in series {
        let name = &labels.iter().find(|(n, _)| n == "__name__").unwrap().1;
        let rest: Vec<String> = labels
            .iter()
            .filter(|(n, _)| n != "__name__")
            .map(|(n, v)| format!("{n}=\"{v}\""))
            .collect();
        for (t, v) in points {
            out.push_str(&format!("{name}{{{}}} {v} {t}\n", rest.join(",")));
        }
    }
    out
}

#[tokio::test]
async fn large_export_streams_in_pieces_and_round_trips_through_import() {
    let data = large_data(base_ms());
    let source = server(store_of(&data), 5_000);
    let uri = format!("/api/v1/export?match[]={}", enc("{__name__=~\"node_.*\"}"));
    let (status, pieces) = frames(&source, &uri).await;
    assert_eq!(status, StatusCode::OK);
    // 80,000 samples at about 5,000 a piece.
    assert!(pieces.len() >= 10, "{} pieces", pieces.len());
    let text = String::from_utf8(pieces.concat()).unwrap();
    assert_eq!(parse(&text), data);

    let target_store = Arc::new(MemStorage::new());
    let target = server(target_store, 5_000);
    let req = Request::post("/api/v1/import/prometheus")
        .body(Body::from(as_prometheus_text(&parse(&text))))
        .unwrap();
    let resp = target.clone().oneshot(req).await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let (_, again) = frames(&target, &uri).await;
    assert_eq!(parse(&String::from_utf8(again.concat()).unwrap()), data);
}

#[tokio::test]
async fn a_time_range_cuts_the_export() {
    let base = base_ms();
    let data = large_data(base);
    let app = server(store_of(&data), 3_000);
    let (start, end) = (base + 100_000, base + 200_500);
    let uri = format!(
        "/api/v1/export?match[]=node_load&start={}&end={}.{}",
        start / 1000,
        end / 1000,
        end % 1000
    );
    let (_, pieces) = frames(&app, &uri).await;
    let got = parse(&String::from_utf8(pieces.concat()).unwrap());
    let want: Exported = data
        .into_iter()
        .map(|(l, p)| {
            (
                l,
                p.into_iter()
                    .filter(|p| (start..=end).contains(&p.0))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(got, want);
}

fn exported_through(data: &Exported, window_samples: usize, query: &str) -> Exported {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = server(store_of(data), window_samples);
    let (status, pieces) = runtime.block_on(frames(&app, query));
    assert_eq!(status, StatusCode::OK);
    parse(&String::from_utf8(pieces.concat()).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the windows (tiny or large) and the gaps in the data, every sample is
    /// exported once, in time order.
    #[test]
    fn every_sample_exported_once(
        series in prop::collection::vec(
            prop::collection::btree_map(
                prop_oneof![-5_000_000i64..5_000_000, 1_700_000_000_000i64..1_700_000_100_000],
                -1e6f64..1e6,
                1..60,
            ),
            1..6,
        ),
        window_samples in 1usize..200,
    ) {
        let data: Exported = series
            .into_iter()
            .enumerate()
            .map(|(i, points)| {
                let labels = vec![("__name__".to_owned(), "m".to_owned()), ("i".to_owned(), i.to_string())];
                (labels, points.into_iter().collect())
            })
            .collect();
        prop_assert_eq!(exported_through(&data, window_samples, "/api/v1/export?match[]=m"), data);
    }
}
