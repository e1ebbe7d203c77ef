//! Chunk codecs: how a series' points are compressed, in the head and on disk.
//!
//! This is the core of the product's storage footprint, so it is built by hand
//! rather than borrowed: a bit writer and reader (`bits`), timestamps by
//! delta-of-delta with an adaptive Rice code in which a regular scrape costs one bit
//! (`rice`), and values by Gorilla XOR (`xor`), by a decimal transform that turns
//! values with few decimals into integers coded as deltas (`decimal`), or by deltas
//! of their raw float bits; a repeated value is stored once. These are streaming
//! (`stream`), so the head keeps its chunks in that form ([`HeadChunk`]). Sealed, a
//! chunk on an exact time grid stores just the grid, one jittering around a grid
//! codes the offsets from it, and decimal values may be coded around a fitted
//! level or rate. Noisy chunks also try the `pco` crate (`pcodec`); [`encode`]
//! keeps whichever candidate is smallest, and the first byte of every chunk names
//! its [`Encoding`].
//!
//! Deliberately not here: ordering, deduplication and merging of points (callers
//! pass ascending unique timestamps), checksums (the block and WAL layers own
//! integrity), and choosing chunk boundaries beyond the advice of [`TARGET_POINTS`].

mod bits;
mod decimal;
mod head;
mod pcodec;
mod rice;
mod scan;
mod stream;
mod varint;
mod xor;

#[cfg(test)]
mod tests;

use strata_core::{Point, TimeRange};

pub use head::HeadChunk;

/// Points per chunk the head should cut at.
///
/// 240 points is an hour at a 15 s scrape. Each chunk pays about 15 bytes of
/// header, grid and first values, so 240 points store 6% smaller than 120 on
/// node-exporter-like data (1.12 against 1.19 bytes per sample) while a head chunk
/// stays near 0.5 KiB and a query decodes at most 240 points (about 20 µs) per
/// chunk it touches. 480 points would save 3% more but double both.
pub const TARGET_POINTS: usize = 240;

/// Codecs that can describe many points in a few bytes (pco, constant values on a
/// time grid) take at most this many, so that decoding a corrupt count cannot
/// allocate more than a megabyte; it is far above any chunk size in use.
const MAX_DENSE_POINTS: usize = 1 << 16;

/// A chunk that cannot be decoded; the message says where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("corrupt chunk: {0}")]
pub struct ChunkError(pub String);

impl ChunkError {
    /// Cold, so that the checks of the decoding loops stay off its hot path.
    #[cold]
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// The codec of a chunk, stored in its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Encoding {
    /// Delta-of-delta timestamps, Gorilla XOR values.
    Xor = 1,
    /// Delta-of-delta timestamps, decimal-scaled values as integer deltas.
    Decimal = 2,
    /// Timestamp and value columns compressed by `pco`.
    Pco = 3,
    /// Delta-of-delta timestamps, the raw float bits of values as integer deltas.
    FloatBits = 4,
    /// Delta-of-delta timestamps, one value repeated.
    Constant = 5,
}

impl Encoding {
    pub const ALL: [Encoding; 5] = [
        Encoding::Xor,
        Encoding::Decimal,
        Encoding::Pco,
        Encoding::FloatBits,
        Encoding::Constant,
    ];

    /// The encoding named by a chunk's first byte.
    pub fn of(chunk: &[u8]) -> Result<Encoding, ChunkError> {
        match chunk.first() {
            Some(1) => Ok(Encoding::Xor),
            Some(2) => Ok(Encoding::Decimal),
            Some(3) => Ok(Encoding::Pco),
            Some(4) => Ok(Encoding::FloatBits),
            Some(5) => Ok(Encoding::Constant),
            Some(id) => Err(ChunkError::new(format!("unknown codec id {id}"))),
            None => Err(ChunkError::new("empty chunk")),
        }
    }
}

/// The hand-built codecs' result, in bytes per point, above which pco is tried
/// too. pco's column metadata (a few dozen bytes) only pays on noisy chunks, and
/// compressing with it halves `encode`'s speed, so quieter chunks skip it.
const PCO_WORTH_TRYING: usize = 2;

/// Encodes points (ascending, unique timestamps) with the codec that makes them
/// smallest.
pub fn encode(points: &[Point]) -> Vec<u8> {
    let own = stream::best_sealed(points);
    if own.len() < points.len() * PCO_WORTH_TRYING {
        return own;
    }
    match pcodec::encode(points) {
        Some(pco) if pco.len() < own.len() => pco,
        _ => own,
    }
}

/// Encodes points with one given codec, or `None` when it cannot take them
/// (decimal: a value does not scale exactly; float bits: the values are decimals,
/// which the decimal codec takes; constant: the values differ; pco: too many
/// points). For measurements and
/// tests; storage uses [`encode`].
pub fn encode_as(encoding: Encoding, points: &[Point]) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Pco => pcodec::encode(points),
        stream_encoding => stream::sealed_as(stream_encoding, points),
    }
}

/// Decodes a chunk made by [`encode`], appending its points to `out`. On error
/// `out` is left as it was.
pub fn decode_into(bytes: &[u8], out: &mut Vec<Point>) -> Result<(), ChunkError> {
    decode_range_into(bytes, TimeRange::ALL, out)
}

/// Decodes the points of a chunk made by [`encode`] that lie in `range`
/// (inclusive), appending them to `out`. Decoding stops at the first point past
/// `range.end`, so the rest of the chunk is neither decoded nor checked for
/// corruption. On error `out` is left as it was.
pub fn decode_range_into(
    bytes: &[u8],
    range: TimeRange,
    out: &mut Vec<Point>,
) -> Result<(), ChunkError> {
    let start = out.len();
    let body = bytes.get(1..).unwrap_or_default();
    let result = match Encoding::of(bytes)? {
        Encoding::Pco => pcodec::decode(body, range, out),
        encoding => stream::decode(encoding, body, range, out),
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}
