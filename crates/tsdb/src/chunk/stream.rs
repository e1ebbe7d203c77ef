//! Streaming chunks: timestamps by delta-of-delta and values by XOR, decimal
//! deltas or float-bit deltas, interleaved point by point in one bit stream.
//!
//! Being appendable, this is the head's in-memory format; sealed as bytes it is
//! also the main candidate family of [`super::encode`]. A sealed chunk whose
//! timestamps are one exact grid stores just the grid (first timestamp and step)
//! instead of one bit per point; one whose timestamps jitter around a grid may
//! code their offsets from it (order-1 deltas of `t - i * step`), which is
//! cheaper than deltas of deltas when the jitter does not accumulate.
//!
//! Layout: codec id, point count (varint), a parameter byte (decimal exponent in
//! bits 0-3, delta order in bits 4-5, grid flag in bit 6, jittered-grid flag in
//! bit 7), the decimal unit (varint, decimal codec only), the grid start and/or
//! step (zig-zag varints, as flagged), then the bits.

use strata_core::{Point, TimeRange};

use super::bits::BitWriter;
use super::decimal::{exponent_for, unit_for, Decimal, DecimalEncoder, Trend};
use super::rice::IntEncoder;
use super::scan::{scan, TimeSource};
use super::varint::{get_uvarint, put_uvarint, unzigzag, zigzag};
use super::xor::XorEncoder;
use super::{ChunkError, Encoding, MAX_DENSE_POINTS};

const GRID_FLAG: u8 = 0x40;
const JITTERED_FLAG: u8 = 0x80;

/// How a stream codes its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueCodec {
    Xor,
    /// Decimal-scaled values less a trend line, themselves (`order` 0), as deltas
    /// (1) or as deltas of deltas (2).
    Decimal {
        decimal: Decimal,
        trend: Trend,
        order: u8,
    },
    /// The raw float bits as integers, as deltas or deltas of deltas: full-precision
    /// values that move little within one binary exponent (clocks, sums).
    FloatBits {
        order: u8,
    },
    /// One value, bit for bit, stored once.
    Constant,
}

impl ValueCodec {
    fn encoding(self) -> Encoding {
        match self {
            ValueCodec::Xor => Encoding::Xor,
            ValueCodec::Decimal { .. } => Encoding::Decimal,
            ValueCodec::FloatBits { .. } => Encoding::FloatBits,
            ValueCodec::Constant => Encoding::Constant,
        }
    }

    fn order(self) -> u8 {
        match self {
            ValueCodec::Xor | ValueCodec::Constant => 0,
            ValueCodec::Decimal { order, .. } | ValueCodec::FloatBits { order } => order,
        }
    }
}

/// Timestamps of a sealed chunk on one exact grid: `t0 + i * step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
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

    #[inline(always)]
    pub(crate) fn at(self, i: usize) -> i64 {
        self.t0.wrapping_add(self.step.wrapping_mul(i as i64))
    }
}

#[derive(Debug, Clone, Copy)]
enum Times {
    /// Deltas of deltas.
    PerPoint(IntEncoder),
    Grid(Grid),
    /// Deltas of the offsets from a grid through 0 with this step.
    Jittered {
        step: i64,
        offsets: IntEncoder,
    },
}

impl Times {
    fn per_point() -> Times {
        Times::PerPoint(IntEncoder::new(2))
    }

    fn jittered(step: i64) -> Times {
        Times::Jittered {
            step,
            offsets: IntEncoder::new(1),
        }
    }

    /// Writes the timestamp of point `i`, or returns false if it is off the grid.
    fn write(&mut self, w: &mut BitWriter, i: usize, t: i64) -> bool {
        match self {
            Times::PerPoint(enc) => enc.write(w, t),
            Times::Grid(grid) => return grid.at(i) == t,
            Times::Jittered { step, offsets } => {
                offsets.write(w, t.wrapping_sub(step.wrapping_mul(i as i64)))
            }
        }
        true
    }

    /// The cheapest coding of the timestamps of a sealed chunk.
    fn best_for(points: &[Point]) -> Times {
        if let Some(grid) = Grid::of(points) {
            return Times::Grid(grid);
        }
        let mut deltas: Vec<i64> = points
            .windows(2)
            .map(|w| w[1].t.wrapping_sub(w[0].t))
            .collect();
        if deltas.is_empty() {
            return Times::per_point();
        }
        let step = median(&mut deltas);
        let cost = |mut times: Times| {
            let mut w = BitWriter::new();
            for (i, p) in points.iter().enumerate() {
                times.write(&mut w, i, p.t);
            }
            w.len_bits()
        };
        let candidates = [Times::per_point(), Times::jittered(step)];
        candidates
            .into_iter()
            .min_by_key(|&t| cost(t))
            .unwrap_or_else(Times::per_point)
    }
}

#[derive(Debug, Clone, Copy)]
enum ValueEncoder {
    Xor(XorEncoder),
    Decimal(DecimalEncoder),
    FloatBits(IntEncoder),
    Constant(Option<u64>),
}

/// An appendable stream of points.
#[derive(Debug, Clone)]
pub(crate) struct StreamEncoder {
    bits: BitWriter,
    len: usize,
    times: Times,
    values: ValueEncoder,
}

impl StreamEncoder {
    /// An empty stream coding each timestamp, as the head needs.
    pub(crate) fn new(codec: ValueCodec) -> Self {
        Self::with_times(codec, Times::per_point())
    }

    /// [`Self::new`] with room for `bytes` of bits before the buffer grows.
    pub(crate) fn with_capacity(codec: ValueCodec, bytes: usize) -> Self {
        Self {
            bits: BitWriter::with_capacity(bytes),
            ..Self::new(codec)
        }
    }

    /// Bytes the stream's bits take.
    /// The stream's bytes in memory, but for its latest bits (see [`BitWriter::words`]).
    pub(crate) fn stored_bytes(&self) -> &[u8] {
        self.bits.words()
    }

    pub(crate) fn len_bytes(&self) -> usize {
        self.bits.len_bits().div_ceil(8)
    }

    fn with_times(codec: ValueCodec, times: Times) -> Self {
        let values = match codec {
            ValueCodec::Xor => ValueEncoder::Xor(XorEncoder::default()),
            ValueCodec::Decimal {
                decimal,
                trend,
                order,
            } => ValueEncoder::Decimal(DecimalEncoder::new(decimal, trend, order)),
            ValueCodec::FloatBits { order } => ValueEncoder::FloatBits(IntEncoder::new(order)),
            ValueCodec::Constant => ValueEncoder::Constant(None),
        };
        Self {
            bits: BitWriter::new(),
            len: 0,
            times,
            values,
        }
    }

    /// A stream of `points` with `codec` and `times`, or `None` if a value does not fit.
    fn build(codec: ValueCodec, times: Times, points: &[Point]) -> Option<Self> {
        Self::fill(Self::with_times(codec, times), points)
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

    /// The value codec, read back from the encoder rather than stored twice: head
    /// chunks exist by the million.
    pub(crate) fn codec(&self) -> ValueCodec {
        match &self.values {
            ValueEncoder::Xor(_) => ValueCodec::Xor,
            ValueEncoder::Decimal(d) => {
                let (decimal, trend, order) = d.parts();
                ValueCodec::Decimal {
                    decimal,
                    trend,
                    order,
                }
            }
            ValueEncoder::FloatBits(ints) => ValueCodec::FloatBits {
                order: ints.order(),
            },
            ValueEncoder::Constant(_) => ValueCodec::Constant,
        }
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
        let decimal = match &self.values {
            ValueEncoder::Decimal(d) => match d.code(v) {
                Some(code) => Some(code),
                None => return false,
            },
            ValueEncoder::Constant(Some(bits)) if *bits != v.to_bits() => return false,
            _ => None,
        };
        // Grid times write nothing, so a refusal leaves the stream untouched.
        if !self.times.write(&mut self.bits, self.len, t) {
            return false;
        }
        match &mut self.values {
            ValueEncoder::Xor(x) => x.write(&mut self.bits, v),
            ValueEncoder::Decimal(d) => {
                if let Some(code) = decimal {
                    d.write(&mut self.bits, code, v);
                }
            }
            ValueEncoder::FloatBits(ints) => ints.write(&mut self.bits, v.to_bits() as i64),
            ValueEncoder::Constant(first) => {
                if first.is_none() {
                    self.bits.write_bits(v.to_bits(), 64);
                    *first = Some(v.to_bits());
                }
            }
        }
        self.len += 1;
        true
    }

    /// The sealed chunk bytes.
    pub(crate) fn to_chunk(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.bits.len_bits().div_ceil(8));
        self.write_chunk(&mut out);
        out
    }

    /// Appends the sealed chunk bytes to `out`.
    pub(crate) fn write_chunk(&self, out: &mut Vec<u8>) {
        let codec = self.codec();
        out.push(codec.encoding() as u8);
        put_uvarint(out, self.len as u64);
        // Order 0 is taken around the base, order 1 along the slope; only that
        // part of the trend is stored.
        let (exp, decimal_params) = match codec {
            ValueCodec::Decimal {
                decimal,
                trend,
                order,
            } => {
                let line = match order {
                    0 => Some(trend.base),
                    1 => Some(trend.slope),
                    _ => None,
                };
                (decimal.exp, Some((decimal.unit as u64, line.map(zigzag))))
            }
            _ => (0, None),
        };
        let (t0, step, flag) = match self.times {
            Times::PerPoint(_) => (None, None, 0),
            Times::Grid(grid) => (Some(grid.t0), Some(grid.step), GRID_FLAG),
            Times::Jittered { step, .. } => (None, Some(step), JITTERED_FLAG),
        };
        out.push(exp | (codec.order() << 4) | flag);
        if let Some((unit, line)) = decimal_params {
            put_uvarint(out, unit);
            if let Some(line) = line {
                put_uvarint(out, line);
            }
        }
        for x in [t0, step].into_iter().flatten() {
            put_uvarint(out, zigzag(x));
        }
        self.bits.append_to(out);
    }

    /// Decodes this stream's own points.
    pub(crate) fn points(&self) -> Vec<Point> {
        let mut out = Vec::with_capacity(self.len);
        self.points_in(TimeRange::ALL, &mut out);
        out
    }

    /// Appends this stream's points within `range` to `out`.
    pub(crate) fn points_in(&self, range: TimeRange, out: &mut Vec<Point>) {
        let times = match self.times {
            Times::Grid(grid) => TimeSource::Grid(grid),
            Times::PerPoint(_) => TimeSource::PerPoint,
            Times::Jittered { step, .. } => TimeSource::Jittered { step },
        };
        // The stream was written by this encoder, so it decodes.
        let decoded = scan(
            self.codec(),
            times,
            self.len,
            &self.bits.to_bytes(),
            range,
            out,
        );
        debug_assert!(decoded.is_ok(), "own stream failed to decode: {decoded:?}");
    }
}

/// The smallest sealed streaming encoding of `points`.
pub(crate) fn best_sealed(points: &[Point]) -> Vec<u8> {
    best_of(points, |_| true, Times::best_for(points))
        .expect("XOR takes every value")
        .to_chunk()
}

/// The smallest appendable encoding of `points`, for the head. A trend fitted to
/// the first points would not hold for the rest, so the head codes plain deltas.
pub(crate) fn best_appendable(points: &[Point]) -> StreamEncoder {
    let trendless = |c: ValueCodec| match c {
        ValueCodec::Decimal { trend, order, .. } => order > 0 && trend == Trend::default(),
        _ => true,
    };
    best_of(points, trendless, Times::per_point()).expect("XOR takes every value")
}

/// The sealed chunk of one encoding's best variant, if it takes the points.
pub(crate) fn sealed_as(encoding: Encoding, points: &[Point]) -> Option<Vec<u8>> {
    best_of(
        points,
        |c| c.encoding() == encoding,
        Times::best_for(points),
    )
    .map(|s| s.to_chunk())
}

fn best_of(
    points: &[Point],
    wanted: impl Fn(ValueCodec) -> bool,
    times: Times,
) -> Option<StreamEncoder> {
    candidates(points)
        .filter(|&c| wanted(c))
        .filter_map(|c| StreamEncoder::build(c, times, points))
        .min_by_key(StreamEncoder::len_bits)
}

/// The value codecs worth trying: one repeated value; decimal deltas when every
/// value scales, else float-bit deltas; XOR always.
fn candidates(points: &[Point]) -> impl Iterator<Item = ValueCodec> {
    let constant = points.len() <= MAX_DENSE_POINTS
        && points
            .windows(2)
            .all(|w| w[0].v.to_bits() == w[1].v.to_bits());
    let values = points.iter().map(|p| p.v);
    let ints: Vec<ValueCodec> = match exponent_for(values.clone()) {
        Some(exp) => {
            let decimal = Decimal {
                exp,
                unit: unit_for(values.clone(), exp),
            };
            decimal_candidates(decimal, &values.collect::<Vec<_>>())
        }
        None => vec![
            ValueCodec::FloatBits { order: 1 },
            ValueCodec::FloatBits { order: 2 },
        ],
    };
    let mut all = ints;
    all.push(ValueCodec::Xor);
    if constant {
        all.push(ValueCodec::Constant);
    }
    all.into_iter()
}

/// Decimal codecs around the median level (order 0), along the median increase
/// and by plain deltas (order 1), and by deltas of deltas (order 2). Each trend
/// has only the part its order uses, as the header stores only that.
fn decimal_candidates(decimal: Decimal, values: &[f64]) -> Vec<ValueCodec> {
    let mut ints = DecimalEncoder::ints(decimal, values);
    let mut deltas: Vec<i64> = ints.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let level = Trend {
        base: median(&mut ints),
        slope: 0,
    };
    let rate = Trend {
        base: 0,
        slope: median(&mut deltas),
    };
    let plain = Trend::default();
    let mut variants = vec![(level, 0), (rate, 1), (plain, 2)];
    if rate != plain {
        variants.push((plain, 1));
    }
    variants
        .into_iter()
        .map(|(trend, order)| ValueCodec::Decimal {
            decimal,
            trend,
            order,
        })
        .collect()
}

/// The median (upper, for even counts), or 0 for no values.
fn median(xs: &mut [i64]) -> i64 {
    if xs.is_empty() {
        return 0;
    }
    let mid = xs.len() / 2;
    *xs.select_nth_unstable(mid).1
}

/// Decodes the points within `range` of a chunk body of `encoding` (the bytes
/// after the id).
pub(crate) fn decode(
    encoding: Encoding,
    body: &[u8],
    range: TimeRange,
    out: &mut Vec<Point>,
) -> Result<(), ChunkError> {
    let (len, body) = get_uvarint(body, "point count")?;
    let (&param, mut body) = body
        .split_first()
        .ok_or_else(|| ChunkError::new("missing parameter byte"))?;
    let (exp, order, flags) = (param & 0x0f, (param >> 4) & 0x03, param & 0xc0);
    let orders = match encoding {
        Encoding::Xor | Encoding::Constant => 0..=0,
        Encoding::Decimal => 0..=2,
        _ => 1..=2,
    };
    let exp_used = encoding == Encoding::Decimal || exp == 0;
    if !orders.contains(&order) || !exp_used || flags == GRID_FLAG | JITTERED_FLAG {
        return Err(ChunkError::new(format!("bad parameter byte {param:#04x}")));
    }
    let codec = match encoding {
        Encoding::Xor => ValueCodec::Xor,
        Encoding::Decimal => {
            let (unit, rest) = get_uvarint(body, "decimal unit")?;
            body = rest;
            let unit =
                i64::try_from(unit).map_err(|_| ChunkError::new("decimal unit too large"))?;
            let mut trend = Trend::default();
            if order < 2 {
                let (line, rest) = get_uvarint(body, "trend line")?;
                body = rest;
                match order {
                    0 => trend.base = unzigzag(line),
                    _ => trend.slope = unzigzag(line),
                }
            }
            ValueCodec::Decimal {
                decimal: Decimal { exp, unit },
                trend,
                order,
            }
        }
        Encoding::Constant => ValueCodec::Constant,
        _ => ValueCodec::FloatBits { order },
    };
    let times = match flags {
        GRID_FLAG => {
            let (t0, rest) = get_uvarint(body, "grid start")?;
            let (step, rest) = get_uvarint(rest, "grid step")?;
            body = rest;
            TimeSource::Grid(Grid {
                t0: unzigzag(t0),
                step: unzigzag(step),
            })
        }
        JITTERED_FLAG => {
            let (step, rest) = get_uvarint(body, "grid step")?;
            body = rest;
            TimeSource::Jittered {
                step: unzigzag(step),
            }
        }
        _ => TimeSource::PerPoint,
    };
    // Every point takes at least one bit unless a constant sits on a grid; either
    // way the allocation below stays bounded.
    let max_len = if codec == ValueCodec::Constant {
        MAX_DENSE_POINTS as u64
    } else {
        (body.len() as u64) * 8
    };
    if len > max_len {
        return Err(ChunkError::new(format!(
            "{len} points cannot fit in {} bytes",
            body.len()
        )));
    }
    scan(codec, times, len as usize, body, range, out)
}
