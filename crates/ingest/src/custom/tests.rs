use super::*;
use crate::fixtures;
use proptest::prelude::*;

const T: i64 = 1753525800000;

fn rendered(d: &Decoded) -> Vec<String> {
    fixtures::rendered(&d.batch)
}

fn one(metric: &str) -> Decoded {
    let body = format!(r#"{{"custom_metrics":{{"metrics":[{metric}]}}}}"#);
    parse(body.as_bytes(), 9).unwrap()
}

fn rejected(metric: &str) -> String {
    let d = one(metric);
    assert!(d.batch.samples.is_empty(), "{metric}");
    assert_eq!(d.rejected.len(), 1, "{metric}");
    d.rejected[0].reason.clone()
}

#[test]
fn spec_sample_decodes_exactly() {
    let d = parse(fixtures::CUSTOM.as_bytes(), 0).unwrap();
    assert!(d.rejected.is_empty());
    let h = r#"model="momentum_transformer", service="ml-inference", source="prediction-service""#;
    let want = vec![
        format!(
            r#"predictions_generated_total{{confidence_tier="high", model="momentum_transformer", service="ml-inference", source="prediction-service", strategy="optimized", symbol="AAPL"}} 1247 {T}"#
        ),
        format!(r#"model_inference_duration_ms_bucket{{le="5.0", {h}}} 234 {T}"#),
        format!(r#"model_inference_duration_ms_bucket{{le="10.0", {h}}} 567 {T}"#),
        format!(r#"model_inference_duration_ms_bucket{{le="25.0", {h}}} 890 {T}"#),
        format!(r#"model_inference_duration_ms_bucket{{le="50.0", {h}}} 1123 {T}"#),
        format!(r#"model_inference_duration_ms_bucket{{le="100.0", {h}}} 1200 {T}"#),
        format!(r#"model_inference_duration_ms_bucket{{le="+Inf", {h}}} 1247 {T}"#),
        format!(r#"model_inference_duration_ms_sum{{{h}}} 18734.5 {T}"#),
        format!(r#"model_inference_duration_ms_count{{{h}}} 1247 {T}"#),
        format!(
            r#"trading_profit_loss_usd{{source="prediction-service", strategy="momentum_transformer", symbol="AAPL", time_horizon="1h", user_id="user_12345"}} 12847.32 {T}"#
        ),
    ];
    assert_eq!(rendered(&d), want);
    assert_eq!(
        fixtures::kinds(&d.batch),
        [
            ("predictions_generated_total", MetricType::Counter),
            ("model_inference_duration_ms", MetricType::Histogram),
            ("trading_profit_loss_usd", MetricType::Gauge),
        ]
    );
}

#[test]
fn timestamps_and_source() {
    let d = one(
        r#"{"name":"g","type":"gauge","value":1,"timestamp":"2025-07-26T10:30:00.5+00:00","labels":{"source":"mine"}}"#,
    );
    assert_eq!(
        rendered(&d),
        [format!(r#"g{{source="mine"}} 1 {}"#, T + 500)]
    );
    let d = one(r#"{"name":"g","type":"gauge","value":-1}"#);
    assert_eq!(rendered(&d), ["g{} -1 9"]);
}

#[test]
fn histogram_completion() {
    let d = one(r#"{"name":"h","type":"histogram","buckets":{"0.5":1,"1e1":3},"sum":4,"count":5}"#);
    assert_eq!(
        rendered(&d),
        [
            r#"h_bucket{le="0.5"} 1 9"#,
            r#"h_bucket{le="10.0"} 3 9"#,
            r#"h_bucket{le="+Inf"} 5 9"#,
            "h_sum{} 4 9",
            "h_count{} 5 9"
        ]
    );
    let d = one(r#"{"name":"h","type":"histogram","buckets":{"+Inf":2},"sum":4}"#);
    assert_eq!(rendered(&d)[2], "h_count{} 2 9");
}

#[test]
fn invalid_metrics_are_rejected_with_reasons() {
    let cases = [
        (
            r#"{"name":"a-b","type":"gauge","value":1}"#,
            "invalid metric name",
        ),
        (
            r#"{"name":"a","type":"summary","value":1}"#,
            "unknown type \"summary\"",
        ),
        (r#"{"name":"a","type":"gauge"}"#, "missing value"),
        (
            r#"{"name":"a","type":"counter","value":-1}"#,
            "cannot be negative",
        ),
        (r#"{"name":"a","type":"gauge","value":"1"}"#, "invalid type"),
        (
            r#"{"name":"a","type":"gauge","value":1,"lables":{}}"#,
            "unknown field `lables`",
        ),
        (
            r#"{"name":"a","type":"gauge","value":1,"labels":{"1x":"y"}}"#,
            "invalid label name",
        ),
        (
            r#"{"name":"a","type":"gauge","value":1,"labels":{"x":1}}"#,
            "invalid type",
        ),
        (
            r#"{"name":"a","type":"gauge","value":1,"timestamp":"yesterday"}"#,
            "invalid RFC 3339",
        ),
        (
            r#"{"name":"a","type":"gauge","value":1,"sum":2}"#,
            "histograms only",
        ),
        (r#"{"type":"gauge","value":1}"#, "missing field `name`"),
        (
            r#"{"name":"h","type":"histogram","buckets":{"1":5,"2":3},"sum":1,"count":5}"#,
            "must be cumulative",
        ),
        (
            r#"{"name":"h","type":"histogram","buckets":{"1":5,"+Inf":6},"sum":1,"count":5}"#,
            "differs",
        ),
        (
            r#"{"name":"h","type":"histogram","buckets":{"1":5},"sum":1,"count":4}"#,
            "below a bucket",
        ),
        (
            r#"{"name":"h","type":"histogram","buckets":{"1":5},"sum":1}"#,
            "needs count",
        ),
        (
            r#"{"name":"h","type":"histogram","buckets":{"x":5},"sum":1,"count":5}"#,
            "not a number",
        ),
        (
            r#"{"name":"h","type":"histogram","buckets":{"1":5,"1.0":5},"sum":1,"count":5}"#,
            "given twice",
        ),
        (
            r#"{"name":"h","type":"histogram","buckets":{"1":-5},"sum":1,"count":5}"#,
            "negative count",
        ),
        (
            r#"{"name":"h","type":"histogram","buckets":{"1":5},"count":5}"#,
            "missing sum",
        ),
        (
            r#"{"name":"h","type":"histogram","sum":1,"count":5}"#,
            "missing buckets",
        ),
        (
            r#"{"name":"h","type":"histogram","value":1,"buckets":{"1":5},"sum":1,"count":5}"#,
            "not value",
        ),
        (
            r#"{"name":"h","type":"histogram","buckets":{"1":5},"sum":1,"count":5,"labels":{"le":"x"}}"#,
            "reserved",
        ),
        ("[]", "must be an object, not an array"),
    ];
    for (metric, reason) in cases {
        let got = rejected(metric);
        assert!(got.contains(reason), "{metric}: {got}");
    }
}

#[test]
fn valid_items_survive_invalid_neighbours() {
    let body = r#"{"custom_metrics":{"metrics":[{"name":"a","type":"gauge","value":1},{"name":"b"},{"name":"c","type":"counter","value":2}]}}"#;
    let d = parse(body.as_bytes(), 1).unwrap();
    assert_eq!(rendered(&d), ["a{} 1 1", "c{} 2 1"]);
    assert_eq!(d.rejected.len(), 1);
    assert_eq!(d.rejected[0].item, 1);
}

#[test]
fn envelope_errors() {
    let e = parse(b"{\"custom_metrics\": {\"metrics\": [}", 0).unwrap_err();
    assert!(
        matches!(
            e,
            JsonError::Syntax {
                line: 1,
                column: 33,
                ..
            }
        ),
        "{e}"
    );
    let e = parse(b"{\"metrics\": []}", 0).unwrap_err();
    assert!(
        e.to_string().contains("missing field `custom_metrics`"),
        "{e}"
    );
    let e = parse(b"{\"custom_metrics\": {\"metrics\": {}}}", 0).unwrap_err();
    assert!(matches!(e, JsonError::Envelope(_)), "{e}");
    let e = parse(
        b"{\"custom_metrics\": {\"timestamp\": \"x\", \"metrics\": []}}",
        0,
    )
    .unwrap_err();
    assert!(e.to_string().contains("RFC 3339"), "{e}");
    assert!(parse(b"", 0).is_err());
}

proptest! {
    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse(&body, 0);
    }

    #[test]
    fn mutated_bodies_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let mut b = fixtures::CUSTOM.as_bytes().to_vec();
        for (at, byte) in edits {
            let i = at % b.len();
            b[i] = byte;
        }
        if let Ok(d) = parse(&b, 0) {
            prop_assert!(d.rejected.iter().all(|r| r.item < 3));
        }
    }
}
