//! Chunk codecs (placeholder interface; the codec work replaces the insides).

use strata_core::Point;

#[derive(Debug, thiserror::Error)]
#[error("corrupt chunk: {0}")]
pub struct ChunkError(pub String);

/// An appendable in-order chunk for the head.
#[derive(Debug, Default, Clone)]
pub struct HeadChunk {
    points: Vec<Point>,
}

impl HeadChunk {
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends a point; the caller guarantees `t` is greater than the last timestamp.
    pub fn append(&mut self, t: i64, v: f64) {
        self.points.push(Point { t, v });
    }
    pub fn len(&self) -> usize {
        self.points.len()
    }
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
    pub fn min_t(&self) -> Option<i64> {
        self.points.first().map(|p| p.t)
    }
    pub fn max_t(&self) -> Option<i64> {
        self.points.last().map(|p| p.t)
    }
    pub fn last(&self) -> Option<Point> {
        self.points.last().copied()
    }
    /// Decodes every point in time order.
    pub fn points(&self) -> Vec<Point> {
        self.points.clone()
    }
    /// Heap bytes used.
    pub fn memory_bytes(&self) -> usize {
        self.points.capacity() * 16
    }
}

/// Encodes points (ascending, unique timestamps) with the best codec for them.
pub fn encode(points: &[Point]) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.len() * 16);
    for p in points {
        out.extend_from_slice(&p.t.to_le_bytes());
        out.extend_from_slice(&p.v.to_bits().to_le_bytes());
    }
    out
}

/// Decodes a chunk made by [`encode`], appending to `out`.
pub fn decode_into(bytes: &[u8], out: &mut Vec<Point>) -> Result<(), ChunkError> {
    if bytes.len() % 16 != 0 {
        return Err(ChunkError("length".into()));
    }
    for c in bytes.chunks_exact(16) {
        let t = i64::from_le_bytes(c[..8].try_into().unwrap());
        let v = f64::from_bits(u64::from_le_bytes(c[8..].try_into().unwrap()));
        out.push(Point { t, v });
    }
    Ok(())
}
