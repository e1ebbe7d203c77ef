use super::*;
use crate::fixtures::{self, rendered};
use proptest::prelude::*;

fn text(body: &str) -> Result<WriteBatch, ParseError> {
    parse(body.as_bytes(), Format::Text, 42)
}

fn om(body: &str) -> Result<WriteBatch, ParseError> {
    parse(body.as_bytes(), Format::OpenMetrics, 42)
}

fn err(r: Result<WriteBatch, ParseError>) -> (usize, usize, String) {
    let e = r.unwrap_err();
    (e.line, e.column, e.reason)
}

#[test]
fn spec_sample_decodes_exactly() {
    let b = text(fixtures::PROMETHEUS).unwrap();
    let t = 1722076800000i64;
    let want = [
        format!(
            r#"http_requests_total{{endpoint="/predict", method="POST", service="ml-inference", status="200"}} 1247 {t}"#
        ),
        format!(
            r#"http_request_duration_seconds_bucket{{endpoint="/predict", le="0.01", service="ml-inference"}} 234 {t}"#
        ),
        format!(
            r#"http_request_duration_seconds_bucket{{endpoint="/predict", le="0.05", service="ml-inference"}} 456 {t}"#
        ),
        format!(
            r#"http_request_duration_seconds_bucket{{endpoint="/predict", le="0.1", service="ml-inference"}} 789 {t}"#
        ),
        format!(
            r#"http_request_duration_seconds_bucket{{endpoint="/predict", le="+Inf", service="ml-inference"}} 1247 {t}"#
        ),
        format!(
            r#"http_request_duration_seconds_sum{{endpoint="/predict", service="ml-inference"}} 23.456 {t}"#
        ),
        format!(
            r#"http_request_duration_seconds_count{{endpoint="/predict", service="ml-inference"}} 1247 {t}"#
        ),
        format!(
            r#"prediction_accuracy{{model="momentum_transformer", service="ml-inference", strategy="default"}} 0.742 {t}"#
        ),
    ];
    assert_eq!(rendered(&b), want);
    let md: Vec<_> = b
        .metadata
        .iter()
        .map(|m| (m.metric.as_str(), m.kind, m.help.as_str()))
        .collect();
    assert_eq!(
        md,
        [
            (
                "http_requests_total",
                MetricType::Counter,
                "Total number of HTTP requests"
            ),
            (
                "http_request_duration_seconds",
                MetricType::Histogram,
                "HTTP request duration in seconds"
            ),
            (
                "prediction_accuracy",
                MetricType::Gauge,
                "Current prediction accuracy"
            ),
        ]
    );
}

#[test]
fn missing_timestamps_take_the_default() {
    let b = text("a 1\nb{x=\"y\"} 2 -5\n").unwrap();
    assert_eq!(rendered(&b), ["a{} 1 42", "b{x=\"y\"} 2 -5"]);
}

#[test]
fn special_values() {
    let b = text("a NaN\nb +Inf\nc -Inf\nd inf\ne -1.5e-3\nf Nan\n").unwrap();
    let v: Vec<f64> = b.samples.iter().map(|s| s.v).collect();
    assert!(v[0].is_nan() && v[5].is_nan());
    assert_eq!(
        &v[1..5],
        [f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, -0.0015]
    );
}

#[test]
fn escaped_label_values_and_help() {
    let b = text("# HELP m a \\\\ b \\n c \\\"\nm{a=\"x\\\"y\\\\z\\nw\"} 1\n").unwrap();
    assert_eq!(b.samples[0].labels.get("a"), Some("x\"y\\z\nw"));
    assert_eq!(b.metadata[0].help, "a \\ b \n c \\\"");
    let b = om("# HELP m a \\\" b\nm 1\n# EOF\n").unwrap();
    assert_eq!(b.metadata[0].help, "a \" b");
}

#[test]
fn le_and_quantile_are_normalised_for_their_families_only() {
    let body = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1e3\"} 1\nh_bucket{le=\"+inf\"} 1\n\
                # TYPE s summary\ns{quantile=\"0.50\"} 1\ns_sum{quantile=\"1\"} 1\n\
                # TYPE g gauge\ng{le=\"1\"} 1\n";
    let b = text(body).unwrap();
    let got: Vec<_> = b
        .samples
        .iter()
        .map(|s| {
            s.labels
                .get("le")
                .or(s.labels.get("quantile"))
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(got, ["1.0", "1000.0", "+Inf", "0.5", "1", "1"]);
}

#[test]
fn openmetrics_specifics() {
    let body =
        "# TYPE c counter\n# UNIT c seconds\n# HELP c help\nc_total 1 1.5\nc_created 1.7e9\n\
                # TYPE g gauge\ng_created 3\n# EOF\n";
    let b = om(body).unwrap();
    assert_eq!(rendered(&b), ["c_total{} 1 1500", "g_created{} 3 42"]);
    assert_eq!(
        b.metadata[0],
        MetricMetadata {
            metric: "c".into(),
            kind: MetricType::Counter,
            help: "help".into(),
            unit: "seconds".into()
        }
    );
    assert_eq!(om("a 1 1.001\n# EOF").unwrap().samples[0].t, 1001);
    assert_eq!(text("c_created 5\n").unwrap().samples.len(), 1);
}

#[test]
fn openmetrics_errors() {
    assert_eq!(
        err(om("a 1\n")),
        (1, 1, "OpenMetrics body does not end with \"# EOF\"".into())
    );
    assert_eq!(err(om("")).0, 1);
    assert_eq!(
        err(om("a 1\n# EOF\nb 2\n")),
        (3, 1, "unexpected content after \"# EOF\"".into())
    );
    assert_eq!(err(om("# random comment\n# EOF\n")).0, 1);
    assert_eq!(err(om("# TYPE a untyped\n# EOF\n")).1, 10);
    assert!(err(om("a 1 1e400\n# EOF\n"))
        .2
        .contains("invalid timestamp"));
    assert!(om("a 1\n# EOF\n\n").is_ok());
}

#[test]
fn text_comments_and_types() {
    let b = text("# just a comment\n#HELP x\n# TYPE u untyped\nu 1\n# EOF\n").unwrap();
    assert_eq!(b.samples.len(), 1);
    assert_eq!(b.metadata[0].kind, MetricType::Unknown);
    assert_eq!(
        err(text("# TYPE a info\n")),
        (1, 10, "unknown metric type \"info\"".into())
    );
    assert_eq!(err(text("# TYPE a\n")).1, 9);
    assert_eq!(err(text("# HELP\n")).1, 7);
    assert_eq!(err(text("# TYPE 1a counter\n")).1, 8);
}

#[test]
fn syntax_errors_reject_the_whole_body_with_position() {
    let cases = [
        (
            "a 1\nb{x=\"1\",x=\"2\"} 1\n",
            (2, 9),
            "duplicate label name \"x\"",
        ),
        (
            "a{__name__=\"b\"} 1\n",
            (1, 3),
            "duplicate label name \"__name__\"",
        ),
        ("a 1\n\nb{c=\"d\" 1\n", (3, 9), "expected ',' or '}'"),
        ("a 1 1.5\n", (1, 5), "invalid timestamp \"1.5\""),
        ("a one\n", (1, 3), "invalid value \"one\""),
        ("  a\n", (1, 4), "expected a space and the sample value"),
        ("a 1\r\nb 2 3 4\r\n", (2, 7), "expected end of line"),
        (
            "ok 1\nb{c=\"\u{e9}\"} 1\n\u{e9} 1\n",
            (3, 1),
            "expected a metric name",
        ),
    ];
    for (body, (line, column), reason) in cases {
        let e = text(body).unwrap_err();
        assert_eq!((e.line, e.column), (line, column), "{body:?}: {e}");
        assert!(e.reason.contains(reason), "{body:?}: {e}");
    }
    let e = parse(b"a 1\nb{c=\"\xff\"} 1\n", Format::Text, 0).unwrap_err();
    assert_eq!(
        (e.line, e.column, e.reason.as_str()),
        (2, 6, "invalid UTF-8")
    );
    assert_eq!(e.to_string(), "line 2, column 6: invalid UTF-8");
}

#[test]
fn detects_the_format() {
    assert_eq!(detect_format(None, b"a 1\n"), Format::Text);
    assert_eq!(detect_format(None, b"a 1\n# EOF\n"), Format::OpenMetrics);
    assert_eq!(detect_format(None, b"# EOF"), Format::OpenMetrics);
    assert_eq!(detect_format(None, b"a 1 # EOF\n"), Format::Text);
    let ct = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    assert_eq!(detect_format(Some(ct), b"a 1\n"), Format::OpenMetrics);
    assert_eq!(
        detect_format(Some("text/plain; version=0.0.4"), b"a 1"),
        Format::Text
    );
}

#[test]
fn decoder_cache_gives_identical_results() {
    let mut d = Decoder::new(1000);
    let first = d
        .parse(fixtures::PROMETHEUS.as_bytes(), Format::Text, 1)
        .unwrap();
    assert_eq!(d.cached_series(), 8);
    let again = d
        .parse(fixtures::PROMETHEUS.as_bytes(), Format::Text, 1)
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(
        first,
        parse(fixtures::PROMETHEUS.as_bytes(), Format::Text, 1).unwrap()
    );
    // The same series text means another label set under another # TYPE.
    let typed = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\n";
    let untyped = "h_bucket{le=\"1\"} 1\n";
    assert_eq!(
        d.parse(typed.as_bytes(), Format::Text, 0).unwrap().samples[0]
            .labels
            .get("le"),
        Some("1.0")
    );
    assert_eq!(
        d.parse(untyped.as_bytes(), Format::Text, 0)
            .unwrap()
            .samples[0]
            .labels
            .get("le"),
        Some("1")
    );
}

#[test]
fn decoder_cache_is_bounded() {
    let mut d = Decoder::new(3);
    let body: String = (0..10).map(|i| format!("m{{i=\"{i}\"}} 1\n")).collect();
    for _ in 0..2 {
        let b = d.parse(body.as_bytes(), Format::Text, 0).unwrap();
        assert_eq!(d.cached_series(), 3);
        assert_eq!(b, parse(body.as_bytes(), Format::Text, 0).unwrap());
    }
}

#[test]
fn decoder_cache_survives_added_and_missing_series() {
    let mut d = Decoder::new(100);
    let body = |skip: usize, extra: bool| -> String {
        let mut b: String = (0..6)
            .filter(|i| *i != skip)
            .map(|i| format!("m{{i=\"{i}\"}} {i}\n"))
            .collect();
        if extra {
            b.insert_str(0, "new 1\n");
        }
        b
    };
    for (skip, extra) in [
        (9, false),
        (2, false),
        (9, true),
        (0, true),
        (5, false),
        (1, false),
    ] {
        let b = body(skip, extra);
        let want = parse(b.as_bytes(), Format::Text, 0).unwrap();
        assert_eq!(d.parse(b.as_bytes(), Format::Text, 0).unwrap(), want, "{b}");
    }
}

#[test]
fn cached_series_text_must_end_where_the_series_ends() {
    let mut d = Decoder::new(100);
    d.parse(b"up 1\nm{a=\"1\"} 2\n", Format::Text, 0).unwrap();
    // Same starts, other series: labels after blanks, or a longer name or label set.
    let body = "up {a=\"b\"} 1\nm{a=\"1\"}x 2\n";
    assert_eq!(
        d.parse(body.as_bytes(), Format::Text, 0),
        parse(body.as_bytes(), Format::Text, 0)
    );
    let body = "up {a=\"b\"} 1\nm{a=\"1\"} 2\n";
    let b = d.parse(body.as_bytes(), Format::Text, 0).unwrap();
    assert_eq!(b, parse(body.as_bytes(), Format::Text, 0).unwrap());
    assert_eq!(b.samples[0].labels.get("a"), Some("b"));
    // A cached series with a bad value is still refused, at the value.
    let e = d.parse(b"up {a=\"b\"} x\n", Format::Text, 0).unwrap_err();
    assert_eq!((e.line, e.column), (1, 12), "{e}");
}

#[test]
fn a_series_repeated_in_a_body_shares_one_label_set() {
    let mut d = Decoder::new(100);
    let body = "a{x=\"1\"} 1 1\nb 2 1\na{x=\"1\"} 3 2\nb 4 2\na{x=\"1\"} 5 3\n";
    let b = d.parse(body.as_bytes(), Format::Text, 0).unwrap();
    assert_eq!(b, parse(body.as_bytes(), Format::Text, 0).unwrap());
    let buffer = |i: usize| b.samples[i].labels.as_bytes().as_ptr();
    assert_eq!((buffer(0), buffer(1)), (buffer(2), buffer(3)));
    assert_eq!(buffer(0), buffer(4));
    // The next body reuses the same buffers.
    let again = d.parse(body.as_bytes(), Format::Text, 0).unwrap();
    assert_eq!(again.samples[4].labels.as_bytes().as_ptr(), buffer(0));
}

#[test]
fn source_key_names_the_first_series() {
    let a = source_key(b"# HELP up x\n# TYPE up gauge\nup{job=\"a\"} 1 1000\nother 2\n");
    assert_eq!(a, source_key(b"\nup{job=\"a\"} 7 2000\n"));
    assert_ne!(a, source_key(b"up{job=\"b\"} 1 1000\n"));
    assert_eq!(source_key(b"up 1\n"), source_key(b"  up\t2 3\n"));
    assert_ne!(source_key(b"up 1\n"), source_key(b"upx 1\n"));
    // Anything has a key.
    for body in [&b""[..], b"#", b"{", b"}{ x", b"\n\n"] {
        source_key(body);
    }
}

fn shared_file(name: &str) -> Vec<u8> {
    let path = format!("{}/../../../shared/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("test data {path} is missing: {e}"))
}

#[test]
fn shared_data_files_decode() {
    let prom = shared_file("alltypes.237mfs.prom.txt");
    let b = parse(&prom, Format::Text, 7).unwrap();
    assert_eq!(b.metadata.len(), 237);
    let lines = prom
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty() && l[0] != b'#');
    assert_eq!(b.samples.len(), lines.count());
    // The file ends with `# EOF`, so detection reads it as OpenMetrics; it parses so too.
    let fmt = detect_format(Some("text/plain; version=0.0.4"), &prom);
    assert_eq!(parse(&prom, fmt, 7).unwrap().samples.len(), b.samples.len());

    let om_body = shared_file("alltypes.5mfs.om.txt");
    let fmt = detect_format(None, &om_body);
    assert_eq!(fmt, Format::OpenMetrics);
    let b = parse(&om_body, fmt, 7).unwrap();
    assert_eq!(b.metadata.len(), 5);
    assert!(b
        .samples
        .iter()
        .all(|s| !s.labels.metric_name().unwrap().ends_with("_created")));
    let buckets = b
        .samples
        .iter()
        .filter(|s| s.labels.metric_name() == Some("rpc_durations_histogram_seconds_bucket"))
        .count();
    assert_eq!(buckets, 21);
    let info = &b.samples[0];
    assert_eq!(info.labels.to_string(), "go_build_info{}");
}

/// Writes samples in text format, escaping label values, for the round-trip property.
fn write_text(samples: &[Sample]) -> String {
    let mut out = String::new();
    for s in samples {
        out.push_str(s.labels.metric_name().unwrap());
        out.push('{');
        for l in s.labels.iter().filter(|l| l.name != METRIC_NAME) {
            let v = l
                .value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            out.push_str(&format!("{}=\"{}\",", l.name, v));
        }
        out.push_str(&format!("}} {} {}\n", format_float(s.v), s.t));
    }
    out
}

fn arb_sample() -> impl Strategy<Value = Sample> {
    (
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
        proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,8}", "\\PC{1,10}", 0..5),
        any::<f64>().prop_filter("not NaN", |v| !v.is_nan()),
        any::<i64>(),
    )
        .prop_filter_map("reserved label", |(name, labels, v, t)| {
            let mut pairs: Vec<(String, String)> = labels.into_iter().collect();
            pairs.push((METRIC_NAME.into(), name));
            Labels::new(pairs)
                .ok()
                .map(|labels| Sample { labels, t, v })
        })
}

fn mutate(body: &[u8], edits: &[(usize, u8)]) -> Vec<u8> {
    let mut b = body.to_vec();
    for &(at, byte) in edits {
        if b.is_empty() {
            break;
        }
        let i = at % b.len();
        match byte % 3 {
            0 => b[i] = byte,
            1 => {
                b.remove(i);
            }
            _ => b.insert(i, byte),
        }
    }
    b
}

proptest! {
    #[test]
    fn round_trip(samples in proptest::collection::vec(arb_sample(), 0..20)) {
        let body = write_text(&samples);
        let b = parse(body.as_bytes(), Format::Text, 0).unwrap();
        prop_assert_eq!(b.samples, samples);
    }

    #[test]
    fn cached_decoding_equals_plain(
        pool in proptest::collection::vec(arb_sample(), 1..10),
        bodies in proptest::collection::vec(proptest::collection::vec(any::<proptest::sample::Index>(), 0..12), 1..5),
        capacity in 0usize..12,
    ) {
        // Bodies drawn from one pool of series, reordered, repeated and thinned, so the
        // cache both hits and misses.
        let mut d = Decoder::new(capacity);
        for picks in bodies {
            let samples: Vec<Sample> = picks.iter().map(|i| i.get(&pool).clone()).collect();
            let body = write_text(&samples);
            let plain = parse(body.as_bytes(), Format::Text, 0).unwrap();
            prop_assert_eq!(d.parse(body.as_bytes(), Format::Text, 0).unwrap(), plain);
        }
    }

    #[test]
    fn cached_decoding_of_mutated_bodies_equals_plain(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        om in any::<bool>(),
    ) {
        // A decoder warmed on the original body sees mostly cache hits, and must refuse
        // or read each mutation exactly as a fresh parse does.
        let format = if om { Format::OpenMetrics } else { Format::Text };
        let om_file = shared_file("alltypes.5mfs.om.txt");
        let body: &[u8] = if om { &om_file } else { fixtures::PROMETHEUS.as_bytes() };
        let mut d = Decoder::new(1000);
        d.parse(body, format, 0).unwrap();
        let mutated = mutate(body, &edits);
        prop_assert_eq!(d.parse(&mutated, format, 0), parse(&mutated, format, 0));
        prop_assert_eq!(d.parse(body, format, 0), parse(body, format, 0));
    }

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256), om in any::<bool>()) {
        let format = if om { Format::OpenMetrics } else { Format::Text };
        let _ = parse(&body, format, 0);
    }

    #[test]
    fn mutated_bodies_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let om_file = shared_file("alltypes.5mfs.om.txt");
        for body in [fixtures::PROMETHEUS.as_bytes(), &om_file] {
            let mutated = mutate(body, &edits);
            for format in [Format::Text, Format::OpenMetrics] {
                if let Err(e) = parse(&mutated, format, 0) {
                    prop_assert!(e.line >= 1 && e.column >= 1);
                }
            }
        }
    }
}
