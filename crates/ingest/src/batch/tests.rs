use super::*;
use crate::fixtures;
use proptest::prelude::*;
use serde_json::json;

fn run(body: &Value, max: usize) -> Result<BatchDecoded, JsonError> {
    parse(
        body.to_string().as_bytes(),
        77,
        max,
        &mut EventMapper::new(100),
    )
}

#[test]
fn every_spec_sample_in_one_batch() {
    let custom: Value = serde_json::from_str(fixtures::CUSTOM).unwrap();
    let event: Value = serde_json::from_str(fixtures::EVENT).unwrap();
    let body = json!({"items": [
        {"format": "prometheus", "data": fixtures::PROMETHEUS},
        {"format": "custom", "data": custom},
        {"format": "events", "data": event},
        {"format": "statsd", "data": fixtures::STATSD},
        {"format": "openmetrics", "data": "up 1 2.5\n# EOF\n"},
        {"format": "custom", "data": fixtures::CUSTOM},
        {"format": "event", "data": fixtures::EVENT},
    ]});
    let d = run(&body, 10).unwrap();
    let samples: Vec<_> = d
        .items
        .iter()
        .map(|i| (i.format.as_str(), i.samples, i.error.as_deref()))
        .collect();
    assert_eq!(
        samples,
        [
            ("prometheus", 8, None),
            ("custom", 10, None),
            ("events", 18, None),
            ("statsd", 33, None),
            ("openmetrics", 1, None),
            ("custom", 10, None),
            // The same event id again: counted once.
            ("event", 0, None),
        ]
    );
    assert_eq!(d.batch.samples.len(), 8 + 10 + 18 + 33 + 1 + 10);
    let prom = prometheus::parse(
        fixtures::PROMETHEUS.as_bytes(),
        prometheus::Format::Text,
        77,
    )
    .unwrap();
    assert_eq!(d.batch.samples[..8], prom.samples[..]);
    assert_eq!(d.batch.samples[8 + 10 + 18 + 33].t, 2500);
    assert!(d.batch.metadata.iter().any(|m| m.metric == "events_total"));
}

#[test]
fn statsd_items_are_stateless_and_stamped_now() {
    let body = json!({"items": [
        {"format": "statsd", "data": "c:1|c\nc:2|c|@0.5\nbad\ng:+3|g"},
        {"format": "statsd", "data": "c:1|c"},
    ]});
    let d = run(&body, 10).unwrap();
    assert_eq!(
        fixtures::rendered(&d.batch),
        ["c{} 5 77", "g{} 3 77", "c{} 1 77"]
    );
    assert_eq!(d.items[0].rejected.len(), 1);
    assert_eq!(d.items[0].rejected[0].item, 3);
}

#[test]
fn item_errors_do_not_stop_the_batch() {
    let body = json!({"items": [
        {"format": "prometheus", "data": "a 1\nb{ 2\n"},
        {"format": "graphite", "data": "x"},
        {"format": "prometheus", "data": 5},
        {"data": "x"},
        {"format": "statsd"},
        7,
        {"format": "custom", "data": {"nope": 1}},
        {"format": "custom", "data": {"custom_metrics": {"metrics": [{"name": "ok", "type": "gauge", "value": 1}, {"name": "bad"}]}}},
        {"format": "events", "data": "{not json"},
    ]});
    let d = run(&body, 100).unwrap();
    let errors: Vec<_> = d
        .items
        .iter()
        .map(|i| i.error.clone().unwrap_or_default())
        .collect();
    assert!(errors[0].starts_with("line 2, column 4:"), "{}", errors[0]);
    assert!(errors[1].contains("unknown format \"graphite\""));
    assert_eq!(errors[2], "prometheus data must be a string, not a number");
    assert_eq!(errors[3], "missing \"format\"");
    assert_eq!(errors[4], "missing \"data\"");
    assert_eq!(errors[5], "an item must be an object, not a number");
    assert!(errors[6].contains("custom_metrics"), "{}", errors[6]);
    assert_eq!(errors[7], "");
    assert_eq!(d.items[7].samples, 1);
    assert_eq!(d.items[7].rejected[0].item, 1);
    assert!(errors[8].contains("invalid JSON"));
    assert_eq!(d.batch.samples.len(), 1);
}

#[test]
fn envelope_and_limits() {
    let body = json!({"items": [{"format": "statsd", "data": "a:1|c"}, {"format": "statsd", "data": "a:1|c"}]});
    assert_eq!(run(&body, 2).unwrap().items.len(), 2);
    assert_eq!(
        run(&body, 1).unwrap_err(),
        JsonError::TooManyItems { count: 2, limit: 1 }
    );
    let mut ev = EventMapper::new(1);
    assert!(matches!(
        parse(b"{\"items\": [", 0, 10, &mut ev),
        Err(JsonError::Syntax { .. })
    ));
    assert!(matches!(
        parse(b"{\"things\": []}", 0, 10, &mut ev),
        Err(JsonError::Envelope(_))
    ));
    assert!(matches!(
        parse(b"[]", 0, 10, &mut ev),
        Err(JsonError::Envelope(_))
    ));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse(&body, 0, 10, &mut EventMapper::new(4));
    }

    #[test]
    fn random_items_never_panic(items in proptest::collection::vec(("[a-z]{0,12}", "\\PC{0,40}"), 0..6)) {
        let items: Vec<Value> = items.into_iter().map(|(f, d)| json!({"format": f, "data": d})).collect();
        let n = items.len();
        let d = run(&json!({"items": items}), 10).unwrap();
        prop_assert_eq!(d.items.len(), n);
    }
}
