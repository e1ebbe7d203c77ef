//! WAL record payloads: series (id + label set), samples (series id, t, v) and metric
//! metadata. Samples are encoded compactly because WAL bytes dominate at high ingest
//! rates: ids as varints, timestamps as zigzag deltas from the previous sample, and
//! values that are decimals with at most four fractional digits (most metric values:
//! counters, gauges like `23.45`) as `zigzag(digits) << 3 | scale` in a varint; any
//! other value (NaN, infinities, -0.0, long fractions) as scale 7 and its 8 raw bytes.

use crate::encoding::{put_bytes, put_uvarint, put_varint, unzigzag, zigzag, DecodeError, Decoder};
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
        put_value(out, s.v);
        prev_t = s.t;
    }
}

/// Powers of ten for the decimal scales 0..=4.
const SCALES: [f64; 5] = [1.0, 10.0, 100.0, 1_000.0, 10_000.0];
const RAW: u64 = 7;
/// Decimal digits beyond this magnitude may not convert back exactly.
const MAX_DIGITS: f64 = (1u64 << 52) as f64;

fn put_value(out: &mut Vec<u8>, v: f64) {
    if let Some(header) = decimal_header(v) {
        put_uvarint(out, header);
        return;
    }
    for (scale, &p) in SCALES.iter().enumerate() {
        let digits = v * p;
        if digits.fract() == 0.0 && digits.abs() < MAX_DIGITS {
            let digits = digits as i64;
            // Only if it reads back bit for bit (this also refuses -0.0).
            if (digits as f64 / p).to_bits() == v.to_bits() {
                put_uvarint(out, (zigzag(digits) << 3) | scale as u64);
                return;
            }
        }
    }
    put_uvarint(out, RAW);
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

/// The common case in one step: the nearest digits at the largest scale, trailing
/// zeros dropped for the smallest scale, kept only if they read back bit for bit.
fn decimal_header(v: f64) -> Option<u64> {
    let top = SCALES.len() - 1;
    let scaled = v * SCALES[top];
    // NaN passes here and fails the check below.
    if scaled.abs() >= MAX_DIGITS {
        return None;
    }
    // Rounded to nearest by a truncating cast (no libm call): the check below decides.
    let (mut digits, mut scale) = ((scaled + 0.5f64.copysign(scaled)) as i64, top);
    while scale > 0 && digits % 10 == 0 {
        digits /= 10;
        scale -= 1;
    }
    ((digits as f64 / SCALES[scale]).to_bits() == v.to_bits())
        .then(|| (zigzag(digits) << 3) | scale as u64)
}

fn get_value(d: &mut Decoder<'_>) -> Result<f64, DecodeError> {
    let header = d.uvarint()?;
    let scale = (header & 7) as usize;
    if header == RAW {
        return Ok(f64::from_bits(d.u64_le()?));
    }
    let p = SCALES.get(scale).ok_or(DecodeError("bad value scale"))?;
    Ok(unzigzag(header >> 3) as f64 / p)
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
                let v = get_value(&mut d)?;
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
        assert!(buf.len() <= 100 * 5 + 8, "{} bytes", buf.len());
        buf.clear();
        let s = (0..100).map(|i| RefSample {
            id: 1000,
            t: 1_700_000_000_000,
            v: (2000 + i) as f64 / 100.0,
        });
        encode_samples(&mut buf, s);
        // 2 bytes id, 1 byte time delta, 3 bytes value (raw bits would need 9).
        assert!(buf.len() <= 100 * 6 + 8, "{} bytes", buf.len());
    }

    proptest! {
        #[test]
        fn every_value_round_trips_bit_for_bit(bits in any::<u64>(), digits in -10_000_000i64..10_000_000, scale in 0u32..6) {
            let decimal = digits as f64 / 10f64.powi(scale as i32);
            for v in [f64::from_bits(bits), decimal, -0.0, f64::NAN, f64::INFINITY, strata_core::STALE_NAN] {
                let mut buf = Vec::new();
                put_value(&mut buf, v);
                let mut d = Decoder::new(&buf);
                prop_assert_eq!(get_value(&mut d).unwrap().to_bits(), v.to_bits());
                prop_assert!(d.is_empty());
            }
        }

        #[test]
        fn short_decimals_take_the_one_step_path(digits in -10_000_000i64..10_000_000, scale in 0usize..5) {
            let v = digits as f64 / SCALES[scale];
            let header = decimal_header(v);
            prop_assert!(header.is_some(), "{v}");
            let mut buf = Vec::new();
            put_uvarint(&mut buf, header.unwrap_or_default());
            prop_assert_eq!(get_value(&mut Decoder::new(&buf)).unwrap().to_bits(), v.to_bits());
            prop_assert!((header.unwrap_or_default() & 7) as usize <= scale, "{v}");
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
