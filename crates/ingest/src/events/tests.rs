use super::*;
use crate::fixtures;
use proptest::prelude::*;

const T: i64 = 1753525800000;

fn rendered(d: &EventsDecoded) -> Vec<String> {
    fixtures::rendered(&d.decoded.batch)
}

fn event(id: &str, extra: &str) -> String {
    format!(
        r#"{{"event_metrics":{{"event_id":"{id}","event_type":"e","source_service":"s"{extra}}}}}"#
    )
}

#[test]
fn spec_sample_maps_exactly() {
    let mut m = EventMapper::new(100);
    let d = m.map(fixtures::EVENT.as_bytes(), 0).unwrap();
    assert!(d.decoded.rejected.is_empty());
    assert_eq!((d.events, d.duplicates), (1, 0));
    let base = [
        ("event_type", "prediction_completed"),
        ("model_name", "momentum_transformer"),
        ("model_version", "v2.1.3"),
        ("prediction_horizon", "60min"),
        ("source_service", "ml-inference"),
        ("success", "true"),
        ("symbol", "AAPL"),
        ("user_id", "user_12345"),
    ];
    let labels = |name: &str, le: Option<&str>| {
        Labels::new(
            base.iter()
                .copied()
                .chain(le.map(|le| ("le", le)))
                .chain([("__name__", name)]),
        )
        .unwrap()
    };
    let mut want = vec![format!("{} 1 {T}", labels("events_total", None))];
    for le in DEFAULT_BUCKETS.iter().copied().chain([f64::INFINITY]) {
        let count = u8::from(0.156 <= le);
        want.push(format!(
            "{} {count} {T}",
            labels(
                "event_duration_seconds_bucket",
                Some(&crate::format_float(le))
            )
        ));
    }
    want.push(format!(
        "{} 0.156 {T}",
        labels("event_duration_seconds_sum", None)
    ));
    want.push(format!(
        "{} 1 {T}",
        labels("event_duration_seconds_count", None)
    ));
    for (field, v) in [
        ("feature_count", "23"),
        ("prediction_confidence", "0.78"),
        ("strategy_confidence", "0.85"),
    ] {
        want.push(format!(
            "{} {v} {T}",
            labels(&format!("event_{field}"), None)
        ));
    }
    assert_eq!(rendered(&d), want);
    for s in &d.decoded.batch.samples {
        for id in ["request_id", "session_id", "correlation_id"] {
            assert_eq!(s.labels.get(id), None);
        }
    }
    assert_eq!(
        fixtures::kinds(&d.decoded.batch),
        [
            ("events_total", MetricType::Counter),
            ("event_duration_seconds", MetricType::Histogram),
            ("event_feature_count", MetricType::Gauge),
            ("event_prediction_confidence", MetricType::Gauge),
            ("event_strategy_confidence", MetricType::Gauge),
        ]
    );
}

#[test]
fn counters_are_cumulative_and_ids_deduplicated() {
    let mut m = EventMapper::new(100);
    let body = format!("{}\n{}\n{}", event("a", ""), event("b", ""), event("a", ""));
    let d = m.map(body.as_bytes(), 5).unwrap();
    assert_eq!((d.events, d.duplicates), (2, 1));
    assert_eq!(
        rendered(&d),
        [
            r#"events_total{event_type="e", source_service="s"} 1 5"#,
            r#"events_total{event_type="e", source_service="s"} 2 5"#
        ]
    );
    let d = m
        .map(
            format!("[{}, {}]", event("b", ""), event("c", "")).as_bytes(),
            6,
        )
        .unwrap();
    assert_eq!((d.events, d.duplicates), (1, 1));
    assert_eq!(
        rendered(&d),
        [r#"events_total{event_type="e", source_service="s"} 3 6"#]
    );
}

#[test]
fn remembered_ids_are_bounded() {
    let mut m = EventMapper::new(2);
    for id in ["a", "b", "c"] {
        m.map(event(id, "").as_bytes(), 0).unwrap();
    }
    assert_eq!(
        m.map(event("a", "").as_bytes(), 0).unwrap().duplicates,
        0,
        "a was forgotten"
    );
    assert_eq!(m.map(event("c", "").as_bytes(), 0).unwrap().duplicates, 1);
}

#[test]
fn booleans_and_failures() {
    let mut m = EventMapper::new(10);
    let d = m
        .map(
            event("x", r#","success":false,"metrics":{"cached":true}"#).as_bytes(),
            1,
        )
        .unwrap();
    assert_eq!(
        rendered(&d),
        [
            r#"events_total{event_type="e", source_service="s", success="false"} 1 1"#,
            r#"event_cached{event_type="e", source_service="s", success="false"} 1 1"#
        ]
    );
}

#[test]
fn invalid_events_are_rejected_and_leave_no_state() {
    let cases = [
        (r#","duration_ms":-1"#, "must not be negative"),
        (r#","timestamp":"now""#, "RFC 3339"),
        (
            r#","metrics":{"x":null}"#,
            "must be a number, string or boolean",
        ),
        (r#","metrics":{"bad-name":1}"#, "not a valid metric name"),
        (r#","labels":{"event_type":"dup"}"#, "duplicate label name"),
        (r#","labels":{"1x":"y"}"#, "invalid label name"),
        (r#","labels":{"le":"y"}"#, "reserved"),
        (r#","labels":{"n":1}"#, "invalid type"),
        (r#","extra":1"#, "unknown field `extra`"),
    ];
    let mut m = EventMapper::new(10);
    for (extra, reason) in cases {
        let body = format!("[{}, 7]", event("same", extra));
        let d = m.map(body.as_bytes(), 0).unwrap();
        assert_eq!(d.decoded.rejected.len(), 2, "{extra}");
        assert_eq!(d.decoded.rejected[0].item, 0);
        assert!(
            d.decoded.rejected[0].reason.contains(reason),
            "{extra}: {:?}",
            d.decoded.rejected[0]
        );
        assert_eq!(
            d.decoded.rejected[1].reason,
            "an event must be an object, not a number"
        );
    }
    let d = m.map(event("same", "").as_bytes(), 0).unwrap();
    assert_eq!(d.events, 1, "a refused event's id is not remembered");
    assert_eq!(
        rendered(&d),
        [r#"events_total{event_type="e", source_service="s"} 1 0"#]
    );
}

#[test]
fn envelope_errors() {
    let mut m = EventMapper::new(10);
    let e = m.map(br#"{"event_type":"x"}"#, 0).unwrap_err();
    assert!(e.to_string().contains("event_metrics"), "{e}");
    assert!(matches!(
        m.map(b"{\"event_metrics\": ", 0),
        Err(JsonError::Syntax { .. })
    ));
    assert!(matches!(m.map(b"[1,", 0), Err(JsonError::Syntax { .. })));
    assert!(m.map(b"", 0).is_err());
    let d = m
        .map(event("z", r#","duration_ms":-1"#).as_bytes(), 0)
        .unwrap();
    assert_eq!(d.decoded.rejected[0].item, 0);
    assert!(m.map(b"  \n", 0).is_err());
    let d = m.map(b"[]", 0).unwrap();
    assert_eq!(d, EventsDecoded::default());
}

proptest! {
    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = EventMapper::new(4).map(&body, 0);
    }

    #[test]
    fn mutated_bodies_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let mut b = fixtures::EVENT.as_bytes().to_vec();
        for (at, byte) in edits {
            let i = at % b.len();
            b[i] = byte;
        }
        let _ = EventMapper::new(4).map(&b, 0);
    }
}
