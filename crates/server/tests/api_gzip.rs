//! gzip answers of the read APIs: a client that accepts gzip gets the same JSON,
//! compressed; a client that does not, and any tiny answer, get identity.

#[path = "api_util.rs"]
mod util;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use std::io::Read;
use std::sync::Arc;
use strata_core::{Labels, MemStorage, Sample};
use strata_server::api::{QueryApiConfig, GZIP_MIN_BYTES};
use tower::ServiceExt;
use util::*;

/// 200 series of `load`, a sample a minute for an hour: answers of many kilobytes.
fn big_store() -> Arc<MemStorage> {
    let samples = (0..200)
        .flat_map(|i| {
            let labels =
                Labels::new([("__name__", "load"), ("host", &format!("host-{i:03}"))]).unwrap();
            (0..60).map(move |m| Sample {
                labels: labels.clone(),
                t: m * 60_000,
                v: (i * 1000 + m * 15) as f64,
            })
        })
        .collect();
    store_of_samples(samples)
}

struct Answer {
    status: StatusCode,
    encoding: Option<String>,
    vary: Option<String>,
    bytes: Vec<u8>,
}

async fn fetch(app: &axum::Router, uri: &str, accept: Option<&str>) -> Answer {
    let mut req = Request::get(uri);
    if let Some(accept) = accept {
        req = req.header(header::ACCEPT_ENCODING, accept);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let header_of = |name| {
        resp.headers()
            .get(name)
            .map(|v: &header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let (encoding, vary) = (header_of(header::CONTENT_ENCODING), header_of(header::VARY));
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        encoding,
        vary,
        bytes,
    }
}

fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut out)
        .expect("a valid gzip stream");
    out
}

const RANGE: &str = "/api/v1/query_range?query=load&start=0&end=3540&step=60";

#[tokio::test]
async fn gzip_answers_decode_to_the_same_json() {
    let app = app_with(big_store(), QueryApiConfig::default());
    let plain = fetch(&app, RANGE, None).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.encoding, None, "no Accept-Encoding gets identity");
    assert!(plain.bytes.len() > 100_000);

    // Grafana's header; the answer is gzip, much smaller, and the same JSON inside.
    let gz = fetch(&app, RANGE, Some("gzip, deflate, br")).await;
    assert_eq!(gz.status, StatusCode::OK);
    assert_eq!(gz.encoding.as_deref(), Some("gzip"));
    assert!(gz.vary.unwrap_or_default().contains("accept-encoding"));
    assert!(
        gz.bytes.len() * 4 < plain.bytes.len(),
        "{} of {}",
        gz.bytes.len(),
        plain.bytes.len()
    );
    assert_eq!(gunzip(&gz.bytes), String::from_utf8(plain.bytes).unwrap());
}

#[tokio::test]
async fn every_read_api_compresses_large_answers() {
    let app = app_with(big_store(), QueryApiConfig::default());
    for uri in [
        "/api/v1/query?query=load&time=3540",
        "/api/v1/series?match[]=load",
        "/api/v1/label/host/values",
        "/api/v1/export?match[]=load",
    ] {
        let plain = fetch(&app, uri, None).await;
        let gz = fetch(&app, uri, Some("gzip")).await;
        assert_eq!(gz.status, StatusCode::OK, "{uri}");
        assert_eq!(gz.encoding.as_deref(), Some("gzip"), "{uri}");
        assert_eq!(gunzip(&gz.bytes).as_bytes(), plain.bytes, "{uri}");
    }
}

#[tokio::test]
async fn small_answers_and_refused_encodings_stay_identity() {
    let app = app();
    let small = fetch(&app, "/api/v1/query?query=up&time=60", Some("gzip")).await;
    assert_eq!(small.status, StatusCode::OK);
    assert!(small.bytes.len() < GZIP_MIN_BYTES as usize);
    assert_eq!(small.encoding, None);
    json(std::str::from_utf8(&small.bytes).unwrap());

    let app = app_with(big_store(), QueryApiConfig::default());
    for accept in ["identity", "gzip;q=0", "br"] {
        let a = fetch(&app, RANGE, Some(accept)).await;
        assert_eq!(a.encoding, None, "{accept}");
        json(std::str::from_utf8(&a.bytes).unwrap());
    }
}

#[tokio::test]
async fn errors_are_readable_with_gzip_accepted() {
    let app = app_with(big_store(), QueryApiConfig::default());
    let a = fetch(&app, "/api/v1/query?query=sum(", Some("gzip")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.encoding, None);
    assert_eq!(
        json(std::str::from_utf8(&a.bytes).unwrap())["errorType"],
        "bad_data"
    );
}
