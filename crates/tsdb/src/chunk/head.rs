//! The head's appendable chunk, compressed as it grows.

use strata_core::{Point, TimeRange};

use super::decimal::{Decimal, Trend};
use super::stream::{best_appendable, StreamEncoder, ValueCodec};

/// After this many points the value codec is chosen again on what the series has
/// shown so far; earlier choices rest on a handful of points.
const REVIEW_AT: usize = 32;

/// An in-order chunk being appended to, held as the streaming bit format.
///
/// Values start on the decimal transform. A value that does not scale at the
/// current exponent and unit re-encodes the chunk once with the best streaming
/// codec for all its points (a larger exponent, a smaller unit, or XOR or float-bit
/// deltas when no exponent is exact); that happens a few times per chunk at most,
/// since exponents only grow, units only shrink to divisors, and the float codecs
/// take everything.
#[derive(Debug, Clone)]
pub struct HeadChunk {
    stream: StreamEncoder,
    /// First timestamp and last point, kept unpacked for the head's bookkeeping;
    /// meaningless while the stream is empty (no `Option`: chunks exist by the million).
    min_t: i64,
    last: Point,
    /// Whether the codec still has to be chosen again at [`REVIEW_AT`] points: not
    /// for a chunk that took over its predecessor's codec, chosen on a full chunk.
    review: bool,
}

impl Default for HeadChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl HeadChunk {
    pub fn new() -> Self {
        let codec = ValueCodec::Decimal {
            decimal: Decimal { exp: 0, unit: 1 },
            trend: Trend::default(),
            order: 2,
        };
        Self::with_stream(StreamEncoder::new(codec), true)
    }

    /// An empty chunk on this one's value codec. A series' next chunk mostly holds
    /// values like its last one's, and choosing the codec again (several trial
    /// encodings) would cost more than appending the chunk's points. For the same
    /// reason it reserves this chunk's size at once: growing in small steps cost a
    /// reallocation every 16 bytes, 2% of ingest.
    pub fn successor(&self) -> Self {
        let stream = StreamEncoder::with_capacity(self.stream.codec(), self.stream.len_bytes());
        Self::with_stream(stream, self.review && self.len() < REVIEW_AT)
    }

    fn with_stream(stream: StreamEncoder, review: bool) -> Self {
        Self {
            stream,
            min_t: 0,
            last: Point { t: 0, v: 0.0 },
            review,
        }
    }

    /// Appends a point; the caller guarantees `t` is greater than the last timestamp.
    pub fn append(&mut self, t: i64, v: f64) {
        if !self.stream.try_append(t, v) {
            let mut points = self.stream.points();
            points.push(Point { t, v });
            self.stream = best_appendable(&points);
        } else if self.review && self.stream.len() == REVIEW_AT {
            self.stream = best_appendable(&self.stream.points());
        }
        if self.stream.len() == 1 {
            self.min_t = t;
        }
        self.last = Point { t, v };
    }

    pub fn len(&self) -> usize {
        self.stream.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stream.len() == 0
    }

    pub fn min_t(&self) -> Option<i64> {
        (!self.is_empty()).then_some(self.min_t)
    }

    pub fn max_t(&self) -> Option<i64> {
        self.last().map(|last| last.t)
    }

    pub fn last(&self) -> Option<Point> {
        (!self.is_empty()).then_some(self.last)
    }

    /// Decodes every point in time order.
    pub fn points(&self) -> Vec<Point> {
        self.stream.points()
    }

    /// The chunk's bytes in memory, but for its latest bits, which live in the chunk
    /// itself: a reader about to decode many chunks asks for these ahead.
    pub fn stored_bytes(&self) -> &[u8] {
        self.stream.stored_bytes()
    }

    /// Appends the points within `range` to `out`, decoding no further than its end.
    pub fn points_in(&self, range: TimeRange, out: &mut Vec<Point>) {
        self.stream.points_in(range, out);
    }

    /// Heap bytes owned by the chunk (its bit stream), not counting
    /// `size_of::<HeadChunk>()` itself.
    pub fn memory_bytes(&self) -> usize {
        self.stream.heap_bytes()
    }

    /// The chunk as sealed bytes for [`super::decode_into`], by copying the stream
    /// (no re-encoding). [`super::encode`] of [`Self::points`] is usually smaller
    /// and costs a decode and several encodes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.stream.to_chunk()
    }

    /// Appends [`Self::to_bytes`] to `out`.
    pub fn write_chunk(&self, out: &mut Vec<u8>) {
        self.stream.write_chunk(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::decode_into;
    use strata_core::STALE_NAN;

    fn check(points: &[Point]) -> HeadChunk {
        let mut head = HeadChunk::new();
        for p in points {
            head.append(p.t, p.v);
        }
        let bits = |ps: &[Point]| ps.iter().map(|p| (p.t, p.v.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&head.points()), bits(points));
        let mut sealed = Vec::new();
        decode_into(&head.to_bytes(), &mut sealed).unwrap();
        assert_eq!(bits(&sealed), bits(points));
        assert_eq!(head.len(), points.len());
        assert_eq!(head.min_t(), points.first().map(|p| p.t));
        assert_eq!(head.last().map(|p| p.t), points.last().map(|p| p.t));
        head
    }

    #[test]
    fn empty_head_has_no_bounds() {
        let head = check(&[]);
        assert!(head.is_empty() && head.max_t().is_none() && head.last().is_none());
    }

    #[test]
    fn values_needing_more_decimals_or_xor_re_encode() {
        let values = [1.0, 2.0, 2.5, 2.75, STALE_NAN, -0.0, 3.125, 0.1 + 0.2, 4.0];
        let points: Vec<Point> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| Point {
                t: i as i64 * 15_000,
                v,
            })
            .collect();
        check(&points);
    }

    #[test]
    fn a_counter_head_stays_small() {
        let points: Vec<Point> = (0..120)
            .map(|i| Point {
                t: 1_700_000_000_000 + i * 15_000,
                v: 1000.0 + i as f64 * 0.25,
            })
            .collect();
        let head = check(&points);
        assert!(head.memory_bytes() <= 64, "{} bytes", head.memory_bytes());
    }

    #[test]
    fn extreme_timestamps_round_trip() {
        let points =
            [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX].map(|t| Point { t, v: 1.0 });
        check(&points);
    }
}
