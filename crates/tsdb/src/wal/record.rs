//! WAL record payloads: series (id + label set), samples (series id, t, v) and metric
//! metadata. Samples are encoded compactly because WAL bytes dominate at high ingest
//! rates: ids as varints, timestamps as zigzag deltas from the previous sample, and
//! values as a varint of their bit-reversed IEEE bits (small integers and round
//! decimals have trailing zero mantissa bits, which the reversal turns into few bytes).

use crate::encoding::{put_bytes, put_uvarint, put_varint, DecodeError, Decoder};
use strata_core::{Labels, MetricMetadata};

const SERIES: u8 = 1;
const SAMPLES: u8 = 2;
const METADATA: u8 = 3;

/// A sample as the WAL stores it: the head's series id instead of its labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    pub id: u64,
    pub t: i64,
    pub v: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Series(Vec<(u64, Labels)>),
    Samples(Vec<RefSample>),
    Metadata(Vec<MetricMetadata>),
}

pub fn encode_series<'a>(
    out: &mut Vec<u8>,
    series: impl ExactSizeIterator<Item = (u64, &'a Labels)>,
) {
    out.push(SERIES);
    put_uvarint(out, series.len() as u64);
    for (id, labels) in series {
        put_uvarint(out, id);
        put_bytes(out, labels.as_bytes());
    }
}

pub fn encode_samples(out: &mut Vec<u8>, samples: impl ExactSizeIterator<Item = RefSample>) {
    out.push(SAMPLES);
    put_uvarint(out, samples.len() as u64);
    let mut prev_t = 0i64;
    for s in samples {
        put_uvarint(out, s.id);
        put_varint(out, s.t.wrapping_sub(prev_t));
        put_uvarint(out, s.v.to_bits().reverse_bits());
        prev_t = s.t;
    }
}

pub fn encode_metadata<'a>(
    out: &mut Vec<u8>,
    metadata: impl ExactSizeIterator<Item = &'a MetricMetadata>,
) {
    out.push(METADATA);
    put_uvarint(out, metadata.len() as u64);
    for m in metadata {
        put_bytes(out, m.metric.as_bytes());
        put_bytes(out, m.kind.as_str().as_bytes());
        put_bytes(out, m.help.as_bytes());
        put_bytes(out, m.unit.as_bytes());
    }
}

pub fn decode(payload: &[u8]) -> Result<Record, DecodeError> {
    let mut d = Decoder::new(payload);
    let kind = d.u8()?;
    let n = d.len()?;
    let record = match kind {
        SERIES => {
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let id = d.uvarint()?;
                let labels = Labels::from_bytes(d.len_bytes()?)
                    .map_err(|_| DecodeError("malformed label set"))?;
                out.push((id, labels));
            }
            Record::Series(out)
        }
        SAMPLES => {
            let mut out = Vec::with_capacity(n);
            let mut t = 0i64;
            for _ in 0..n {
                let id = d.uvarint()?;
                t = t.wrapping_add(d.varint()?);
                let v = f64::from_bits(d.uvarint()?.reverse_bits());
                out.push(RefSample { id, t, v });
            }
            Record::Samples(out)
        }
        METADATA => {
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let metric = utf8(d.len_bytes()?)?;
                let kind = utf8(d.len_bytes()?)?
                    .parse()
                    .map_err(|_| DecodeError("unknown metric type"))?;
                let help = utf8(d.len_bytes()?)?;
                let unit = utf8(d.len_bytes()?)?;
                out.push(MetricMetadata {
                    metric,
                    kind,
                    help,
                    unit,
                });
            }
            Record::Metadata(out)
        }
        _ => return Err(DecodeError("unknown record type")),
    };
    if !d.is_empty() {
        return Err(DecodeError("trailing bytes after record"));
    }
    Ok(record)
}

fn utf8(b: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError("invalid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use strata_core::MetricType;

    #[test]
    fn records_round_trip() {
        let l = Labels::new([("__name__", "up"), ("job", "a")]).unwrap();
        let mut buf = Vec::new();
        encode_series(&mut buf, [(7u64, &l)].into_iter());
        assert_eq!(decode(&buf).unwrap(), Record::Series(vec![(7, l)]));

        let samples = [
            RefSample {
                id: 1,
                t: 1000,
                v: 1.0,
            },
            RefSample {
                id: 300,
                t: -5,
                v: 0.123,
            },
            RefSample {
                id: 2,
                t: i64::MAX,
                v: f64::NAN.copysign(-1.0),
            },
        ];
        buf.clear();
        encode_samples(&mut buf, samples.iter().copied());
        let Record::Samples(back) = decode(&buf).unwrap() else {
            panic!("not samples")
        };
        assert_eq!(back.len(), 3);
        for (a, b) in samples.iter().zip(&back) {
            assert_eq!((a.id, a.t, a.v.to_bits()), (b.id, b.t, b.v.to_bits()));
        }

        let m = MetricMetadata {
            metric: "up".into(),
            kind: MetricType::Gauge,
            help: "Is it up".into(),
            unit: "".into(),
        };
        buf.clear();
        encode_metadata(&mut buf, [&m].into_iter());
        assert_eq!(decode(&buf).unwrap(), Record::Metadata(vec![m]));
    }

    #[test]
    fn round_values_are_small() {
        let mut buf = Vec::new();
        let s = (0..100).map(|i| RefSample {
            id: 1000,
            t: 1_700_000_000_000,
            v: i as f64,
        });
        encode_samples(&mut buf, s);
        assert!(buf.len() < 100 * 7, "{} bytes", buf.len());
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
