//! Bit-granular writer and reader, most significant bit first.
//!
//! Every streaming codec of this module writes through these two types, so the
//! bounds checks that keep decoding of corrupt chunks panic-free live here once.

use super::ChunkError;

/// Appends bits to a byte buffer that grows in small steps: head chunks live in
/// memory by the million, so doubling growth would waste up to half of each.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    len_bits: usize,
}

impl BitWriter {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn len_bits(&self) -> usize {
        self.len_bits
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    pub(crate) fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes `n` ones; the unary part of the Rice code.
    pub(crate) fn write_ones(&mut self, mut n: u32) {
        while n > 0 {
            let take = n.min(64);
            self.write_bits(u64::MAX, take);
            n -= take;
        }
    }

    /// Writes the low `n` bits of `value` (`n <= 64`).
    pub(crate) fn write_bits(&mut self, value: u64, mut n: u32) {
        debug_assert!(n <= 64);
        while n > 0 {
            let used = (self.len_bits % 8) as u32;
            if used == 0 {
                self.push_zero_byte();
            }
            let free = 8 - used;
            let take = free.min(n);
            let chunk = ((value >> (n - take)) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= chunk << (free - take);
            n -= take;
            self.len_bits += take as usize;
        }
    }

    fn push_zero_byte(&mut self) {
        if self.bytes.len() == self.bytes.capacity() {
            self.bytes.reserve_exact((self.bytes.len() / 8).max(16));
        }
        self.bytes.push(0);
    }
}

/// Reads bits written by [`BitWriter`]; running past the end is an error, never a panic.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub(crate) fn remaining_bits(&self) -> usize {
        self.bytes.len() * 8 - self.pos
    }

    pub(crate) fn read_bit(&mut self) -> Result<bool, ChunkError> {
        let byte = *self
            .bytes
            .get(self.pos / 8)
            .ok_or_else(|| ChunkError::new("bit stream ends early"))?;
        let bit = (byte >> (7 - self.pos % 8)) & 1 == 1;
        self.pos += 1;
        Ok(bit)
    }

    /// Reads `n <= 64` bits as the low bits of the result.
    pub(crate) fn read_bits(&mut self, mut n: u32) -> Result<u64, ChunkError> {
        debug_assert!(n <= 64);
        if self.remaining_bits() < n as usize {
            return Err(ChunkError::new("bit stream ends early"));
        }
        let mut out = 0u64;
        while n > 0 {
            let byte = u64::from(self.bytes[self.pos / 8]);
            let avail = 8 - (self.pos % 8) as u32;
            let take = avail.min(n);
            let chunk = (byte >> (avail - take)) & ((1u64 << take) - 1);
            out = (out << take) | chunk;
            n -= take;
            self.pos += take as usize;
        }
        Ok(out)
    }

    /// Counts ones up to `max`, consuming the terminating zero when fewer than `max`.
    pub(crate) fn read_unary(&mut self, max: u32) -> Result<u32, ChunkError> {
        let mut n = 0;
        while n < max && self.read_bit()? {
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_at_every_alignment() {
        let fields: Vec<(u64, u32)> = (0..=64u32)
            .map(|n| (0xDEAD_BEEF_0123_4567u64.rotate_left(n), n))
            .collect();
        let mut w = BitWriter::new();
        for &(v, n) in &fields {
            w.write_bits(v, n);
        }
        let mut r = BitReader::new(w.as_bytes());
        for &(v, n) in &fields {
            let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            assert_eq!(r.read_bits(n).unwrap(), v & mask, "field of {n} bits");
        }
        assert!(r.remaining_bits() < 8);
    }

    #[test]
    fn unary_stops_at_zero_or_max() {
        let mut w = BitWriter::new();
        w.write_ones(70);
        w.write_bit(false);
        w.write_ones(3);
        let mut r = BitReader::new(w.as_bytes());
        assert_eq!(r.read_unary(100).unwrap(), 70);
        assert_eq!(r.read_unary(2).unwrap(), 2);
        assert!(r.read_bit().unwrap());
    }

    #[test]
    fn reading_past_the_end_is_an_error() {
        let mut r = BitReader::new(&[0xff]);
        assert!(r.read_bits(9).is_err());
        assert_eq!(r.read_bits(8).unwrap(), 0xff);
        assert!(r.read_bit().is_err());
    }
}
