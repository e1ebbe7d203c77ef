//! Streaming chunks: timestamps by delta-of-delta and values by XOR, decimal
//! deltas or float-bit deltas, interleaved point by point in one bit stream.
//!
//! Being appendable, this is the head's in-memory format; sealed as bytes it is
//! also the main candidate family of [`super::encode`]. A sealed chunk whose
//! timestamps are one exact grid stores just the grid (first timestamp and step)
//! instead of one bit per point.
//!
//! Layout: codec id, point count (varint), a parameter byte (decimal exponent in
//! bits 0-3, delta order in bits 4-5, grid flag in bit 6), the decimal unit
//! (varint, decimal codec only), the grid (two zig-zag varints, if flagged), then
//! the bits.

use strata_core::Point;

use super::bits::{BitReader, BitWriter};
use super::decimal::{exponent_for, unit_for, Decimal, DecimalDecoder, DecimalEncoder};
use super::rice::{IntDecoder, IntEncoder, Slot};
use super::varint::{get_uvarint, put_uvarint, unzigzag, zigzag};
use super::xor::{XorDecoder, XorEncoder};
use super::{ChunkError, Encoding};

/// How a stream codes its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueCodec {
    Xor,
    /// Decimal-scaled values as deltas (`order` 1) or deltas of deltas (2).
    Decimal {
        decimal: Decimal,
        order: u8,
    },
    /// The raw float bits as integers, as deltas or deltas of deltas: full-precision
    /// values that move little within one binary exponent (clocks, sums).
    FloatBits {
        order: u8,
    },
}

impl ValueCodec {
    fn encoding(self) -> Encoding {
        match self {
            ValueCodec::Xor => Encoding::Xor,
            ValueCodec::Decimal { .. } => Encoding::Decimal,
            ValueCodec::FloatBits { .. } => Encoding::FloatBits,
        }
    }

    fn order(self) -> u8 {
        match self {
            ValueCodec::Xor => 0,
            ValueCodec::Decimal { order, .. } | ValueCodec::FloatBits { order } => order,
        }
    }
}

/// Timestamps of a sealed chunk on one exact grid: `t0 + i * step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Grid {
    t0: i64,
    step: i64,
}

impl Grid {
    fn of(points: &[Point]) -> Option<Grid> {
        let (first, second) = (points.first()?, points.get(1)?);
        let step = second.t.wrapping_sub(first.t);
        points
            .windows(2)
            .all(|w| w[1].t.wrapping_sub(w[0].t) == step)
            .then_some(Grid { t0: first.t, step })
    }

    fn at(self, i: usize) -> i64 {
        self.t0.wrapping_add(self.step.wrapping_mul(i as i64))
    }
}

#[derive(Debug, Clone, Copy)]
enum Times {
    PerPoint(IntEncoder),
    Grid(Grid),
}

#[derive(Debug, Clone, Copy)]
enum ValueEncoder {
    Xor(XorEncoder),
    Decimal(DecimalEncoder),
    FloatBits(IntEncoder),
}

/// An appendable stream of points.
#[derive(Debug, Clone)]
pub(crate) struct StreamEncoder {
    codec: ValueCodec,
    bits: BitWriter,
    len: usize,
    times: Times,
    values: ValueEncoder,
}

impl StreamEncoder {
    /// An empty stream coding each timestamp, as the head needs.
    pub(crate) fn new(codec: ValueCodec) -> Self {
        Self::with_times(codec, Times::PerPoint(IntEncoder::new(2)))
    }

    fn with_times(codec: ValueCodec, times: Times) -> Self {
        let values = match codec {
            ValueCodec::Xor => ValueEncoder::Xor(XorEncoder::default()),
            ValueCodec::Decimal { decimal, order } => {
                ValueEncoder::Decimal(DecimalEncoder::new(decimal, order))
            }
            ValueCodec::FloatBits { order } => ValueEncoder::FloatBits(IntEncoder::new(order)),
        };
        Self {
            codec,
            bits: BitWriter::new(),
            len: 0,
            times,
            values,
        }
    }

    /// A sealed stream of `points` with `codec`, or `None` if a value does not fit it.
    fn sealed(codec: ValueCodec, points: &[Point]) -> Option<Self> {
        let times = match Grid::of(points) {
            Some(grid) => Times::Grid(grid),
            None => Times::PerPoint(IntEncoder::new(2)),
        };
        Self::fill(Self::with_times(codec, times), points)
    }

    /// An appendable stream of `points` with `codec`.
    fn appendable(codec: ValueCodec, points: &[Point]) -> Option<Self> {
        Self::fill(Self::new(codec), points)
    }

    fn fill(mut self, points: &[Point]) -> Option<Self> {
        points
            .iter()
            .all(|p| self.try_append(p.t, p.v))
            .then_some(self)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn len_bits(&self) -> usize {
        self.bits.len_bits()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.bits.heap_bytes()
    }

    /// Appends a point, or returns false (writing nothing) when the value codec
    /// cannot represent `v` or `t` is off the grid.
    pub(crate) fn try_append(&mut self, t: i64, v: f64) -> bool {
        if let ValueEncoder::Decimal(d) = &self.values {
            if !d.accepts(v) {
                return false;
            }
        }
        match &mut self.times {
            Times::PerPoint(enc) => enc.write(&mut self.bits, t),
            Times::Grid(grid) => {
                if grid.at(self.len) != t {
                    return false;
                }
            }
        }
        match &mut self.values {
            ValueEncoder::Xor(x) => x.write(&mut self.bits, v),
            ValueEncoder::Decimal(d) => d.write(&mut self.bits, v),
            ValueEncoder::FloatBits(ints) => ints.write(&mut self.bits, v.to_bits() as i64),
        }
        self.len += 1;
        true
    }

    /// The sealed chunk bytes.
    pub(crate) fn to_chunk(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.bits.as_bytes().len());
        out.push(self.codec.encoding() as u8);
        put_uvarint(&mut out, self.len as u64);
        let (exp, unit) = match self.codec {
            ValueCodec::Decimal { decimal, .. } => (decimal.exp, Some(decimal.unit)),
            _ => (0, None),
        };
        let grid = match self.times {
            Times::Grid(grid) => Some(grid),
            Times::PerPoint(_) => None,
        };
        out.push(exp | (self.codec.order() << 4) | (u8::from(grid.is_some()) << 6));
        if let Some(unit) = unit {
            put_uvarint(&mut out, unit as u64);
        }
        if let Some(grid) = grid {
            put_uvarint(&mut out, zigzag(grid.t0));
            put_uvarint(&mut out, zigzag(grid.step));
        }
        out.extend_from_slice(self.bits.as_bytes());
        out
    }

    /// Decodes this stream's own points.
    pub(crate) fn points(&self) -> Vec<Point> {
        let mut out = Vec::with_capacity(self.len);
        let times = match self.times {
            Times::Grid(grid) => TimeSource::Grid(grid),
            Times::PerPoint(_) => TimeSource::PerPoint(IntDecoder::new(2)),
        };
        // The stream was written by this encoder, so it decodes.
        let decoded = decode_bits(self.codec, times, self.len, self.bits.as_bytes(), &mut out);
        debug_assert!(decoded.is_ok(), "own stream failed to decode: {decoded:?}");
        out
    }
}

/// The smallest sealed streaming encoding of `points`.
pub(crate) fn best_sealed(points: &[Point]) -> Vec<u8> {
    best_of(points, StreamEncoder::sealed).to_chunk()
}

/// The smallest appendable encoding of `points`, for the head.
pub(crate) fn best_appendable(points: &[Point]) -> StreamEncoder {
    best_of(points, StreamEncoder::appendable)
}

/// The sealed chunk of one encoding's best variant, if it takes the points.
pub(crate) fn sealed_as(encoding: Encoding, points: &[Point]) -> Option<Vec<u8>> {
    candidates(points)
        .filter(|c| c.encoding() == encoding)
        .filter_map(|c| StreamEncoder::sealed(c, points))
        .min_by_key(StreamEncoder::len_bits)
        .map(|s| s.to_chunk())
}

fn best_of(
    points: &[Point],
    build: impl Fn(ValueCodec, &[Point]) -> Option<StreamEncoder>,
) -> StreamEncoder {
    candidates(points)
        .filter_map(|c| build(c, points))
        .min_by_key(StreamEncoder::len_bits)
        .expect("XOR takes every value")
}

/// The value codecs worth trying: decimal deltas when every value scales, else
/// float-bit deltas; XOR always.
fn candidates(points: &[Point]) -> impl Iterator<Item = ValueCodec> {
    let values = points.iter().map(|p| p.v);
    let ints: Vec<ValueCodec> = match exponent_for(values.clone()) {
        Some(exp) => {
            let decimal = Decimal {
                exp,
                unit: unit_for(values, exp),
            };
            vec![
                ValueCodec::Decimal { decimal, order: 1 },
                ValueCodec::Decimal { decimal, order: 2 },
            ]
        }
        None => vec![
            ValueCodec::FloatBits { order: 1 },
            ValueCodec::FloatBits { order: 2 },
        ],
    };
    std::iter::once(ValueCodec::Xor).chain(ints)
}

enum TimeSource {
    PerPoint(IntDecoder),
    Grid(Grid),
}

enum ValueDecoder {
    Xor(XorDecoder),
    Decimal(DecimalDecoder),
    FloatBits(IntDecoder),
}

/// Decodes a chunk body of `encoding` (the bytes after the id).
pub(crate) fn decode(
    encoding: Encoding,
    body: &[u8],
    out: &mut Vec<Point>,
) -> Result<(), ChunkError> {
    let (len, body) = get_uvarint(body, "point count")?;
    let (&param, mut body) = body
        .split_first()
        .ok_or_else(|| ChunkError::new("missing parameter byte"))?;
    let (exp, order, gridded) = (param & 0x0f, (param >> 4) & 0x03, param & 0x40 != 0);
    if param & 0x80 != 0 || (encoding == Encoding::Xor) != (order == 0) || order > 2 {
        return Err(ChunkError::new(format!("bad parameter byte {param:#04x}")));
    }
    let codec = match encoding {
        Encoding::Xor => ValueCodec::Xor,
        Encoding::Decimal => {
            let (unit, rest) = get_uvarint(body, "decimal unit")?;
            body = rest;
            let unit =
                i64::try_from(unit).map_err(|_| ChunkError::new("decimal unit too large"))?;
            ValueCodec::Decimal {
                decimal: Decimal { exp, unit },
                order,
            }
        }
        _ => ValueCodec::FloatBits { order },
    };
    let times = if gridded {
        let (t0, rest) = get_uvarint(body, "grid start")?;
        let (step, rest) = get_uvarint(rest, "grid step")?;
        body = rest;
        TimeSource::Grid(Grid {
            t0: unzigzag(t0),
            step: unzigzag(step),
        })
    } else {
        TimeSource::PerPoint(IntDecoder::new(2))
    };
    // Every point takes at least one bit, which bounds the allocation below.
    if len > (body.len() as u64) * 8 {
        return Err(ChunkError::new(format!(
            "{len} points cannot fit in {} bytes",
            body.len()
        )));
    }
    decode_bits(codec, times, len as usize, body, out)
}

fn decode_bits(
    codec: ValueCodec,
    mut times: TimeSource,
    len: usize,
    bits: &[u8],
    out: &mut Vec<Point>,
) -> Result<(), ChunkError> {
    let mut r = BitReader::new(bits);
    let mut values = match codec {
        ValueCodec::Xor => ValueDecoder::Xor(XorDecoder::default()),
        ValueCodec::Decimal { decimal, order } => {
            ValueDecoder::Decimal(DecimalDecoder::new(decimal, order)?)
        }
        ValueCodec::FloatBits { order } => ValueDecoder::FloatBits(IntDecoder::new(order)),
    };
    out.reserve(len);
    for i in 0..len {
        let point = read_point(&mut r, i, &mut times, &mut values)
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
    i: usize,
    times: &mut TimeSource,
    values: &mut ValueDecoder,
) -> Result<Point, ChunkError> {
    let t = match times {
        TimeSource::Grid(grid) => grid.at(i),
        TimeSource::PerPoint(dec) => match dec.read(r)? {
            Slot::Int(t) => t,
            Slot::Special => return Err(ChunkError::new("value marker among timestamps")),
        },
    };
    let v = match values {
        ValueDecoder::Xor(x) => x.read(r)?,
        ValueDecoder::Decimal(d) => d.read(r)?,
        ValueDecoder::FloatBits(ints) => match ints.read(r)? {
            Slot::Int(bits) => f64::from_bits(bits as u64),
            Slot::Special => return Err(ChunkError::new("marker among float bits")),
        },
    };
    Ok(Point { t, v })
}
