//! Streaming chunks: timestamps by delta-of-delta and values by XOR or decimal
//! deltas, interleaved point by point in one bit stream.
//!
//! Being appendable, this is the head's in-memory format; sealed as bytes it is
//! also two of the candidates [`super::encode`] chooses from. Layout: codec id,
//! point count (varint), a parameter byte for the decimal codec, then the bits.

use strata_core::Point;

use super::bits::{BitReader, BitWriter};
use super::decimal::{exponent_for, DecimalDecoder, DecimalEncoder};
use super::rice::{IntDecoder, IntEncoder, Slot};
use super::varint::{get_uvarint, put_uvarint};
use super::xor::{XorDecoder, XorEncoder};
use super::{ChunkError, Encoding};

/// How a stream codes its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueCodec {
    Xor,
    /// Values scaled by `10^exp`, coded as deltas (`order` 1) or deltas of deltas (2).
    Decimal {
        exp: u8,
        order: u8,
    },
}

#[derive(Debug, Clone, Copy)]
enum ValueEncoder {
    Xor(XorEncoder),
    Decimal(DecimalEncoder),
}

/// An appendable stream of points.
#[derive(Debug, Clone)]
pub(crate) struct StreamEncoder {
    codec: ValueCodec,
    bits: BitWriter,
    len: usize,
    times: IntEncoder,
    values: ValueEncoder,
}

impl StreamEncoder {
    pub(crate) fn new(codec: ValueCodec) -> Self {
        let values = match codec {
            ValueCodec::Xor => ValueEncoder::Xor(XorEncoder::default()),
            ValueCodec::Decimal { exp, order } => {
                ValueEncoder::Decimal(DecimalEncoder::new(exp, order))
            }
        };
        Self {
            codec,
            bits: BitWriter::new(),
            len: 0,
            times: IntEncoder::new(2),
            values,
        }
    }

    /// A stream of `points` with `codec`, or `None` if a value does not fit it.
    pub(crate) fn from_points(codec: ValueCodec, points: &[Point]) -> Option<Self> {
        let mut s = Self::new(codec);
        for p in points {
            if !s.try_append(p.t, p.v) {
                return None;
            }
        }
        Some(s)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn len_bits(&self) -> usize {
        self.bits.len_bits()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.bits.heap_bytes()
    }

    /// Appends a point, or returns false (writing nothing) when the value codec
    /// cannot represent `v`.
    pub(crate) fn try_append(&mut self, t: i64, v: f64) -> bool {
        if let ValueEncoder::Decimal(d) = &self.values {
            if !d.accepts(v) {
                return false;
            }
        }
        self.times.write(&mut self.bits, t);
        match &mut self.values {
            ValueEncoder::Xor(x) => x.write(&mut self.bits, v),
            ValueEncoder::Decimal(d) => d.write(&mut self.bits, v),
        }
        self.len += 1;
        true
    }

    /// Appends the sealed chunk bytes to `out`.
    pub(crate) fn write_chunk(&self, out: &mut Vec<u8>) {
        match self.codec {
            ValueCodec::Xor => out.push(Encoding::Xor as u8),
            ValueCodec::Decimal { .. } => out.push(Encoding::Decimal as u8),
        }
        put_uvarint(out, self.len as u64);
        if let ValueCodec::Decimal { exp, order } = self.codec {
            out.push(exp | (order << 4));
        }
        out.extend_from_slice(self.bits.as_bytes());
    }

    pub(crate) fn to_chunk(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.bits.as_bytes().len());
        self.write_chunk(&mut out);
        out
    }

    /// Decodes this stream's own points.
    pub(crate) fn points(&self) -> Vec<Point> {
        let mut out = Vec::with_capacity(self.len);
        // The stream was written by this encoder, so it decodes.
        if decode_bits(self.codec, self.len, self.bits.as_bytes(), &mut out).is_err() {
            debug_assert!(false, "head stream failed to decode");
        }
        out
    }
}

enum ValueDecoder {
    Xor(XorDecoder),
    Decimal(DecimalDecoder),
}

/// Decodes a chunk body of `encoding` (the bytes after the id).
pub(crate) fn decode(
    encoding: Encoding,
    body: &[u8],
    out: &mut Vec<Point>,
) -> Result<(), ChunkError> {
    let (len, body) = get_uvarint(body, "point count")?;
    let (codec, bits) = match encoding {
        Encoding::Xor => (ValueCodec::Xor, body),
        _ => {
            let (&param, bits) = body
                .split_first()
                .ok_or_else(|| ChunkError::new("missing decimal parameters"))?;
            let (exp, order) = (param & 0x0f, param >> 4);
            if order != 1 && order != 2 {
                return Err(ChunkError::new(format!("bad delta order {order}")));
            }
            (ValueCodec::Decimal { exp, order }, bits)
        }
    };
    // Every point takes at least two bits, which bounds the allocation below.
    if len > (bits.len() as u64) * 4 {
        return Err(ChunkError::new(format!(
            "{len} points cannot fit in {} bytes",
            bits.len()
        )));
    }
    decode_bits(codec, len as usize, bits, out)
}

fn decode_bits(
    codec: ValueCodec,
    len: usize,
    bits: &[u8],
    out: &mut Vec<Point>,
) -> Result<(), ChunkError> {
    let mut r = BitReader::new(bits);
    let mut times = IntDecoder::new(2);
    let mut values = match codec {
        ValueCodec::Xor => ValueDecoder::Xor(XorDecoder::default()),
        ValueCodec::Decimal { exp, order } => {
            ValueDecoder::Decimal(DecimalDecoder::new(exp, order)?)
        }
    };
    out.reserve(len);
    for i in 0..len {
        let point = read_point(&mut r, &mut times, &mut values)
            .map_err(|e| ChunkError::new(format!("point {i}: {}", e.0)))?;
        out.push(point);
    }
    if r.remaining_bits() >= 8 {
        return Err(ChunkError::new("trailing bytes after the last point"));
    }
    Ok(())
}

fn read_point(
    r: &mut BitReader,
    times: &mut IntDecoder,
    values: &mut ValueDecoder,
) -> Result<Point, ChunkError> {
    let t = match times.read(r)? {
        Slot::Int(t) => t,
        Slot::Special => return Err(ChunkError::new("value marker among timestamps")),
    };
    let v = match values {
        ValueDecoder::Xor(x) => x.read(r)?,
        ValueDecoder::Decimal(d) => d.read(r)?,
    };
    Ok(Point { t, v })
}

/// The smallest streaming encoding of `points` (XOR, or decimal deltas of either
/// order when every value scales).
pub(crate) fn best_stream(points: &[Point]) -> StreamEncoder {
    let mut best =
        StreamEncoder::from_points(ValueCodec::Xor, points).expect("XOR takes every value");
    if let Some(decimal) = best_decimal_stream(points) {
        if decimal.len_bits() <= best.len_bits() {
            best = decimal;
        }
    }
    best
}

/// The smaller decimal stream of the two delta orders, if every value scales.
pub(crate) fn best_decimal_stream(points: &[Point]) -> Option<StreamEncoder> {
    let exp = exponent_for(points.iter().map(|p| p.v))?;
    [1, 2]
        .into_iter()
        .filter_map(|order| StreamEncoder::from_points(ValueCodec::Decimal { exp, order }, points))
        .min_by_key(StreamEncoder::len_bits)
}
