//! Request bodies for every wire format the benchmarks speak, cut from a data set
//! before any timing starts: Prometheus text (with millisecond timestamps), Prometheus
//! remote write (snappy-compressed protobuf) and OpenMetrics (for `promtool`'s backfill).

use crate::dataset::Dataset;
use bytes::Bytes;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::ops::Range;

/// One request's worth of a shard: these series at these points.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub series: Range<usize>,
    pub points: Range<usize>,
}

impl Span {
    pub fn samples(&self) -> usize {
        self.series.len() * self.points.len()
    }
}

/// Cuts a shard into requests of about `batch` samples. A request covers whole scrapes
/// (every series of the shard at some points) when a scrape fits, else a slice of one.
pub fn plan(series: Range<usize>, points: usize, batch: usize) -> Vec<Span> {
    let batch = batch.max(1);
    let n = series.len();
    if n == 0 {
        return Vec::new();
    }
    if n >= batch {
        let mut spans = Vec::new();
        for p in 0..points {
            for start in series.clone().step_by(batch) {
                spans.push(Span {
                    series: start..(start + batch).min(series.end),
                    points: p..p + 1,
                });
            }
        }
        return spans;
    }
    let per = batch / n;
    (0..points)
        .step_by(per)
        .map(|p| Span {
            series: series.clone(),
            points: p..(p + per).min(points),
        })
        .collect()
}

/// `name{label="value",…} ` of every series, rendered once and reused for every point.
pub fn series_prefixes(ds: &Dataset) -> Vec<String> {
    ds.series
        .iter()
        .map(|s| {
            let mut out = String::with_capacity(64);
            out.push_str(&s.name);
            out.push('{');
            for (i, (k, v)) in s.labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push_str("=\"");
                escape_label_value(v, &mut out);
                out.push('"');
            }
            out.push_str("} ");
            out
        })
        .collect()
}

fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A sample value as the text formats spell it.
fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Prometheus text 0.0.4 with millisecond timestamps, scrape by scrape.
pub fn prometheus_text(ds: &Dataset, prefixes: &[String], span: &Span) -> Bytes {
    let mut out = String::with_capacity(span.samples() * (prefixes[span.series.start].len() + 24));
    for p in span.points.clone() {
        let ts = ds.timestamp(p);
        for s in span.series.clone() {
            out.push_str(&prefixes[s]);
            push_value(&mut out, ds.value(s, p));
            let _ = writeln!(out, " {ts}");
        }
    }
    Bytes::from(out)
}

/// OpenMetrics text with second timestamps, time-major (what `promtool tsdb
/// create-blocks-from openmetrics` needs: each series in time order), ending in `# EOF`.
pub fn write_openmetrics(ds: &Dataset, out: &mut impl Write) -> io::Result<()> {
    let prefixes = series_prefixes(ds);
    let mut line = String::with_capacity(256);
    for p in 0..ds.points {
        let ts = ds.timestamp(p);
        for (s, prefix) in prefixes.iter().enumerate() {
            line.clear();
            line.push_str(prefix);
            push_value(&mut line, ds.value(s, p));
            let _ = writeln!(line, " {}.{:03}", ts.div_euclid(1000), ts.rem_euclid(1000));
            out.write_all(line.as_bytes())?;
        }
    }
    out.write_all(b"# EOF\n")
}

/// A remote-write `WriteRequest` (protobuf, block-snappy compressed), series by series.
pub fn remote_write(ds: &Dataset, span: &Span) -> Bytes {
    let mut request = Vec::with_capacity(span.samples() * 12 + span.series.len() * 160);
    let mut series_msg = Vec::new();
    let mut field = Vec::new();
    for s in span.series.clone() {
        series_msg.clear();
        for (name, value) in ds.series[s].all_labels() {
            field.clear();
            put_bytes(&mut field, 1, name.as_bytes());
            put_bytes(&mut field, 2, value.as_bytes());
            put_bytes(&mut series_msg, 1, &field);
        }
        for p in span.points.clone() {
            field.clear();
            put_key(&mut field, 1, WIRE_FIXED64);
            field.extend_from_slice(&ds.value(s, p).to_le_bytes());
            put_key(&mut field, 2, WIRE_VARINT);
            put_varint(&mut field, ds.timestamp(p) as u64);
            put_bytes(&mut series_msg, 2, &field);
        }
        put_bytes(&mut request, 1, &series_msg);
    }
    let compressed = snap::raw::Encoder::new()
        .compress_vec(&request)
        .expect("snappy accepts any input below 4 GiB");
    Bytes::from(compressed)
}

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, WIRE_LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{walk, WalkParams};
    use proptest::prelude::*;

    fn tiny() -> Dataset {
        walk(&WalkParams {
            series: 3,
            points: 4,
            start_ms: 1_000,
            interval_ms: 15_000,
            seed: 5,
        })
    }

    proptest! {
        #[test]
        fn plans_send_every_sample_once(series in 1usize..200, points in 1usize..50, batch in 1usize..500) {
            let spans = plan(0..series, points, batch);
            let mut seen = vec![0u8; series * points];
            for span in &spans {
                prop_assert!(span.samples() <= batch);
                for s in span.series.clone() {
                    for p in span.points.clone() {
                        seen[s * points + p] += 1;
                    }
                }
            }
            prop_assert!(seen.iter().all(|&n| n == 1));
        }

        #[test]
        fn varints_round_trip(v in any::<u64>()) {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            let (mut decoded, mut shift) = (0u64, 0);
            for b in &buf {
                decoded |= u64::from(b & 0x7f) << shift;
                shift += 7;
            }
            prop_assert_eq!(decoded, v);
            prop_assert_eq!(buf.last().map(|b| b & 0x80), Some(0));
        }
    }

    #[test]
    fn text_has_one_line_per_sample_with_ms_timestamps() {
        let ds = tiny();
        let prefixes = series_prefixes(&ds);
        let body = prometheus_text(
            &ds,
            &prefixes,
            &Span {
                series: 0..3,
                points: 1..3,
            },
        );
        let text = std::str::from_utf8(&body).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6);
        assert!(lines[0].starts_with("random_walk{group=\"g0\",job=\"walk\",series=\"0000\"} "));
        assert!(lines[0].ends_with(" 16000"));
        assert!(lines[5].ends_with(" 31000"));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        escape_label_value("a\"b\\c\nd", &mut out);
        assert_eq!(out, "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn openmetrics_uses_seconds_and_ends_with_eof() {
        let mut out = Vec::new();
        write_openmetrics(&tiny(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().next().unwrap().ends_with(" 1.000"));
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(text.lines().count(), 13);
    }

    /// Reads one protobuf field: (field number, wire type, payload or varint value).
    fn next_field<'a>(buf: &mut &'a [u8]) -> (u64, u8, &'a [u8], u64) {
        fn varint(buf: &mut &[u8]) -> u64 {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let b = buf[0];
                *buf = &buf[1..];
                v |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    return v;
                }
            }
        }
        let key = varint(buf);
        let wire = (key & 7) as u8;
        match wire {
            WIRE_VARINT => (key >> 3, wire, &[], varint(buf)),
            WIRE_FIXED64 => {
                let (head, rest) = buf.split_at(8);
                *buf = rest;
                (key >> 3, wire, head, 0)
            }
            _ => {
                let len = varint(buf) as usize;
                let (head, rest) = buf.split_at(len);
                *buf = rest;
                (key >> 3, wire, head, 0)
            }
        }
    }

    #[test]
    fn remote_write_decodes_back_to_the_data_set() {
        let ds = tiny();
        let body = remote_write(
            &ds,
            &Span {
                series: 1..3,
                points: 2..4,
            },
        );
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let mut buf = raw.as_slice();
        let mut series = 1;
        while !buf.is_empty() {
            let (field, _, mut ts_msg, _) = next_field(&mut buf);
            assert_eq!(field, 1);
            let (mut labels, mut points) = (Vec::new(), Vec::new());
            while !ts_msg.is_empty() {
                let (field, _, mut inner, _) = next_field(&mut ts_msg);
                let (mut a, mut b) = (None, None);
                while !inner.is_empty() {
                    match next_field(&mut inner) {
                        (1, WIRE_LEN, bytes, _) => {
                            a = Some(String::from_utf8(bytes.to_vec()).unwrap())
                        }
                        (2, WIRE_LEN, bytes, _) => {
                            b = Some(String::from_utf8(bytes.to_vec()).unwrap())
                        }
                        (1, WIRE_FIXED64, bytes, _) => {
                            a = Some(f64::from_le_bytes(bytes.try_into().unwrap()).to_string())
                        }
                        (2, WIRE_VARINT, _, v) => b = Some(v.to_string()),
                        other => panic!("unexpected field {other:?}"),
                    }
                }
                match field {
                    1 => labels.push((a.unwrap(), b.unwrap())),
                    2 => points.push((a.unwrap(), b.unwrap())),
                    other => panic!("unexpected TimeSeries field {other}"),
                }
            }
            let want_labels: Vec<(String, String)> = ds.series[series]
                .all_labels()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(labels, want_labels);
            let want_points: Vec<(String, String)> = (2..4)
                .map(|p| (ds.value(series, p).to_string(), ds.timestamp(p).to_string()))
                .collect();
            assert_eq!(points, want_points);
            series += 1;
        }
        assert_eq!(series, 3);
    }
}
