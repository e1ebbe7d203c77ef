//! The decoding loop of streaming chunks: one pass over the bit stream that
//! reads each point's timestamp and value and appends the points of a time range.
//!
//! The loop is generic over its time column and value column, so each of the
//! twelve pairs compiles to its own loop without a per-point dispatch, and a
//! query's range ends the loop at the first point past its end: the rest of the
//! chunk is neither decoded nor checked.

use strata_core::{Point, TimeRange};

use super::bits::BitReader;
use super::decimal::DecimalDecoder;
use super::rice::{IntDecoder, Slot};
use super::stream::{Grid, ValueCodec};
use super::xor::XorDecoder;
use super::ChunkError;

/// How a chunk's timestamps are read back.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TimeSource {
    /// Deltas of deltas, one per point.
    PerPoint,
    /// An exact grid: no bits per point.
    Grid(Grid),
    /// Deltas of the offsets from a grid through 0 with this step.
    Jittered { step: i64 },
}

/// Appends the points of the bit stream `bits` (`len` points) that fall in
/// `range` to `out`. On error `out` may hold some of the points.
pub(crate) fn scan(
    codec: ValueCodec,
    times: TimeSource,
    len: usize,
    bits: &[u8],
    range: TimeRange,
    out: &mut Vec<Point>,
) -> Result<(), ChunkError> {
    let scan = Scan {
        r: BitReader::new(bits),
        len,
        range,
    };
    match times {
        TimeSource::PerPoint => scan.with_values(DodTimes(IntDecoder::new(2)), codec, out),
        TimeSource::Grid(grid) => scan.with_values(GridTimes(grid), codec, out),
        TimeSource::Jittered { step } => scan.with_values(
            JitteredTimes {
                step,
                offsets: IntDecoder::new(1),
            },
            codec,
            out,
        ),
    }
}

/// A column of timestamps in the bit stream.
trait TimeColumn {
    fn time(&mut self, r: &mut BitReader, i: usize) -> Result<i64, ChunkError>;
}

/// A column of values in the bit stream.
trait ValueColumn {
    fn value(&mut self, r: &mut BitReader) -> Result<f64, ChunkError>;
}

struct GridTimes(Grid);

impl TimeColumn for GridTimes {
    #[inline(always)]
    fn time(&mut self, _: &mut BitReader, i: usize) -> Result<i64, ChunkError> {
        Ok(self.0.at(i))
    }
}

struct DodTimes(IntDecoder);

impl TimeColumn for DodTimes {
    #[inline(always)]
    fn time(&mut self, r: &mut BitReader, _: usize) -> Result<i64, ChunkError> {
        read_int(r, &mut self.0, "timestamps")
    }
}

struct JitteredTimes {
    step: i64,
    offsets: IntDecoder,
}

impl TimeColumn for JitteredTimes {
    #[inline(always)]
    fn time(&mut self, r: &mut BitReader, i: usize) -> Result<i64, ChunkError> {
        let offset = read_int(r, &mut self.offsets, "timestamps")?;
        Ok(offset.wrapping_add(self.step.wrapping_mul(i as i64)))
    }
}

impl ValueColumn for XorDecoder {
    #[inline(always)]
    fn value(&mut self, r: &mut BitReader) -> Result<f64, ChunkError> {
        self.read(r)
    }
}

impl ValueColumn for DecimalDecoder {
    #[inline(always)]
    fn value(&mut self, r: &mut BitReader) -> Result<f64, ChunkError> {
        self.read(r)
    }
}

struct FloatBitsValues(IntDecoder);

impl ValueColumn for FloatBitsValues {
    #[inline(always)]
    fn value(&mut self, r: &mut BitReader) -> Result<f64, ChunkError> {
        Ok(f64::from_bits(
            read_int(r, &mut self.0, "float bits")? as u64
        ))
    }
}

/// The one value, read with the first point.
struct ConstantValue(Option<f64>);

impl ValueColumn for ConstantValue {
    #[inline(always)]
    fn value(&mut self, r: &mut BitReader) -> Result<f64, ChunkError> {
        match self.0 {
            Some(v) => Ok(v),
            None => Ok(*self.0.insert(f64::from_bits(r.read_bits(64)?))),
        }
    }
}

/// Reads from a sequence that has no special slots.
#[inline(always)]
fn read_int(r: &mut BitReader, ints: &mut IntDecoder, what: &str) -> Result<i64, ChunkError> {
    match ints.read(r)? {
        Slot::Int(x) => Ok(x),
        Slot::Special => Err(ChunkError::new(format!("value marker among {what}"))),
    }
}

struct Scan<'a> {
    r: BitReader<'a>,
    len: usize,
    range: TimeRange,
}

impl Scan<'_> {
    fn with_values<T: TimeColumn>(
        self,
        times: T,
        codec: ValueCodec,
        out: &mut Vec<Point>,
    ) -> Result<(), ChunkError> {
        match codec {
            ValueCodec::Xor => self.run(times, XorDecoder::default(), out),
            ValueCodec::Decimal {
                decimal,
                trend,
                order,
            } => self.run(times, DecimalDecoder::new(decimal, trend, order)?, out),
            ValueCodec::FloatBits { order } => {
                self.run(times, FloatBitsValues(IntDecoder::new(order)), out)
            }
            ValueCodec::Constant => self.run(times, ConstantValue(None), out),
        }
    }

    fn run<T: TimeColumn, V: ValueColumn>(
        mut self,
        mut times: T,
        mut values: V,
        out: &mut Vec<Point>,
    ) -> Result<(), ChunkError> {
        let r = &mut self.r;
        let TimeRange { start, end } = self.range;
        out.reserve(self.len);
        for i in 0..self.len {
            let at = |e: ChunkError| ChunkError::new(format!("point {i}: {}", e.0));
            let t = times.time(r, i).map_err(at)?;
            if t > end {
                return Ok(());
            }
            let v = values.value(r).map_err(at)?;
            if t >= start {
                out.push(Point { t, v });
            }
        }
        if r.remaining_bits() >= 8 {
            return Err(ChunkError::new("trailing bytes after the last point"));
        }
        Ok(())
    }
}
