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

/// Bits that one [`BitReader::peek`] always holds valid (the rest are zero): a
/// 64-bit load shifted by up to 7 bits of the current byte.
pub(crate) const PEEK_BITS: u32 = 57;

/// Reads bits written by [`BitWriter`]; running past the end is an error, never a panic.
///
/// Every read is a peek at the next 64 bits (one unaligned big-endian load) and
/// a consume that checks the length, so fields of up to [`PEEK_BITS`] bits and
/// unary runs cost a few instructions each instead of a loop over bytes.
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

    /// The next bits, most significant first: at least [`PEEK_BITS`] of them,
    /// zeros past the end of the stream.
    #[inline(always)]
    pub(crate) fn peek(&self) -> u64 {
        let at = self.pos / 8;
        let word = match self.bytes.get(at..at + 8) {
            Some(eight) => u64::from_be_bytes(eight.try_into().unwrap_or_default()),
            None => self.peek_tail(at),
        };
        word << (self.pos % 8)
    }

    /// The last few bytes, zero-padded: the rare path of [`Self::peek`].
    #[cold]
    fn peek_tail(&self, at: usize) -> u64 {
        let rest = self.bytes.get(at..).unwrap_or_default();
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        u64::from_be_bytes(word)
    }

    /// Moves past `n` bits, or fails if fewer remain.
    #[inline(always)]
    pub(crate) fn consume(&mut self, n: u32) -> Result<(), ChunkError> {
        if n as usize > self.remaining_bits() {
            return Err(ends_early());
        }
        self.pos += n as usize;
        Ok(())
    }

    /// Reads `n <= 64` bits as the low bits of the result.
    #[inline(always)]
    pub(crate) fn read_bits(&mut self, n: u32) -> Result<u64, ChunkError> {
        debug_assert!(n <= 64);
        if n > PEEK_BITS {
            return self.read_wide(n);
        }
        let bits = top(self.peek(), n);
        self.consume(n)?;
        Ok(bits)
    }

    /// A field too wide for one peek, in two reads.
    #[cold]
    fn read_wide(&mut self, n: u32) -> Result<u64, ChunkError> {
        let high = self.read_bits(32)?;
        let low = self.read_bits(n - 32)?;
        Ok((high << (n - 32)) | low)
    }
}

/// The top `n < 64` bits of `word` as an integer; 0 for `n == 0`, which a plain
/// `word >> (64 - n)` cannot express.
#[inline(always)]
pub(crate) fn top(word: u64, n: u32) -> u64 {
    debug_assert!(n < 64);
    (word >> 1) >> (63 - n)
}

fn ends_early() -> ChunkError {
    ChunkError::new("bit stream ends early")
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
    fn peeks_hold_the_next_bits_and_zeros_past_the_end() {
        let bytes = [0b1011_0011, 0xff, 0, 0x80, 1, 2, 3, 4, 5];
        let mut r = BitReader::new(&bytes);
        let all = bytes
            .iter()
            .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
        for skip in [3, 5, 8, 17, 30, 6] {
            r.consume(skip).unwrap();
            // The 72 bits of `bytes` at the top of a u128, less those consumed.
            let expected = (all << (128 - 72 + r.pos)) >> (128 - PEEK_BITS);
            let peeked = u128::from(r.peek() >> (64 - PEEK_BITS));
            assert_eq!(peeked, expected, "at bit {}", r.pos);
        }
        r.consume(3).unwrap();
        assert_eq!(r.remaining_bits(), 0);
        assert_eq!(r.peek(), 0);
        assert!(r.consume(1).is_err());
    }

    #[test]
    fn reading_past_the_end_is_an_error() {
        let mut r = BitReader::new(&[0xff]);
        assert!(r.read_bits(9).is_err());
        assert_eq!(r.read_bits(8).unwrap(), 0xff);
        assert!(r.read_bits(1).is_err());
    }
}
