//! Bit-granular writer and reader, most significant bit first.
//!
//! Every streaming codec of this module writes through these two types, so the
//! bounds checks that keep decoding of corrupt chunks panic-free live here once.

use super::ChunkError;

/// Appends bits to a byte buffer that grows in small steps: head chunks live in
/// memory by the million, so doubling growth would waste up to half of each.
///
/// The latest bits wait in a word inside the writer and reach the buffer 64 at a
/// time. A head chunk's writer sits in its series' slot, which an append reads
/// anyway, while the buffer is a separate allocation: touching it for every point
/// was the largest single cost of ingest (a cache miss per sample), and now happens
/// once per 64 bits.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    /// Whole words written so far, big-endian.
    bytes: Vec<u8>,
    /// The bits after `bytes`, right-aligned: the low `len_bits - 8 * bytes.len()`
    /// (always under 64).
    pending: u64,
    len_bits: usize,
}

impl BitWriter {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// An empty writer whose buffer holds `bytes` before it grows.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            ..Self::default()
        }
    }

    pub(crate) fn len_bits(&self) -> usize {
        self.len_bits
    }

    fn pending_bits(&self) -> u32 {
        (self.len_bits - self.bytes.len() * 8) as u32
    }

    /// Every bit written, the last byte padded with zeros.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len_bits.div_ceil(8));
        self.append_to(&mut out);
        out
    }

    /// Appends [`Self::to_bytes`] to `out`.
    pub(crate) fn append_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.bytes);
        let pending = self.pending_bits();
        if pending > 0 {
            let aligned = self.pending << (64 - pending);
            out.extend_from_slice(&aligned.to_be_bytes()[..pending.div_ceil(8) as usize]);
        }
    }

    /// The whole words written so far (the latest bits wait in the writer).
    pub(crate) fn words(&self) -> &[u8] {
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
    #[inline]
    pub(crate) fn write_bits(&mut self, value: u64, n: u32) {
        debug_assert!(n <= 64);
        let value = value & low_mask(n);
        let pending = self.pending_bits();
        self.len_bits += n as usize;
        if pending + n < 64 {
            // `n < 64` here, so the shift is defined.
            self.pending = (self.pending << n) | value;
            return;
        }
        // The word fills: its high bits are the pending ones, then the top of `value`.
        let rest = pending + n - 64;
        let word = match pending {
            0 => value >> rest,
            _ => (self.pending << (64 - pending)) | (value >> rest),
        };
        self.push_word(word);
        self.pending = value & low_mask(rest);
    }

    fn push_word(&mut self, word: u64) {
        if self.bytes.capacity() - self.bytes.len() < 8 {
            self.bytes.reserve_exact((self.bytes.len() / 8).max(16));
        }
        self.bytes.extend_from_slice(&word.to_be_bytes());
    }
}

/// The low `n <= 64` bits set.
#[inline(always)]
pub(crate) fn low_mask(n: u32) -> u64 {
    u64::MAX.checked_shr(64 - n).unwrap_or(0)
}

/// Bits a refilled [`BitReader`] holds valid unless the stream ends sooner: a
/// 64-bit load shifted by up to 7 bits of the current byte.
pub(crate) const PEEK_BITS: u32 = 57;

/// Reads bits written by [`BitWriter`]; running past the end is an error, never a panic.
///
/// The reader caches the next bits in a word, refilled by one unaligned
/// big-endian load. A field is parsed from the word and kept only if the bits
/// it used were valid ([`Self::parse`]), so Rice codes and XOR headers cost a few
/// register operations, and the fields of one point usually share one load.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The bits from `pos` on, most significant first; only the first `valid`
    /// are used (the rest are later bits or zeros past the end).
    word: u64,
    valid: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        let mut r = Self {
            bytes,
            pos: 0,
            word: 0,
            valid: 0,
        };
        r.refill();
        r
    }

    pub(crate) fn remaining_bits(&self) -> usize {
        self.bytes.len() * 8 - self.pos
    }

    /// Loads the word at the current position: [`PEEK_BITS`] valid bits, or all
    /// that remain.
    #[inline(always)]
    pub(crate) fn refill(&mut self) {
        let at = self.pos / 8;
        let word = match self.bytes.get(at..at + 8) {
            Some(eight) => u64::from_be_bytes(eight.try_into().unwrap_or_default()),
            None => self.tail(at),
        };
        self.word = word << (self.pos % 8);
        self.valid = PEEK_BITS.min(self.remaining_bits().min(64) as u32);
    }

    /// The last few bytes, zero-padded: the rare path of [`Self::refill`].
    #[cold]
    fn tail(&self, at: usize) -> u64 {
        let rest = self.bytes.get(at..).unwrap_or_default();
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        u64::from_be_bytes(word)
    }

    /// Parses one field at the current position: `field` gets the next bits
    /// (most significant first) and returns how many of them the field takes
    /// and its value. The value is kept, and its bits consumed, only when all
    /// those bits are valid, refilling once if they are not; `None` means the
    /// field needs more than [`PEEK_BITS`] bits or more than remain.
    #[inline(always)]
    pub(crate) fn parse<T>(&mut self, field: impl Fn(u64) -> (u32, T)) -> Option<T> {
        let (need, value) = field(self.word);
        if need <= self.valid {
            self.skip(need);
            return Some(value);
        }
        self.parse_fresh(field)
    }

    /// [`Self::parse`] from a fresh load, for fields that rarely fit what is
    /// left of the word: loading beats finding out by a mispredicted branch.
    #[inline(always)]
    pub(crate) fn parse_fresh<T>(&mut self, field: impl Fn(u64) -> (u32, T)) -> Option<T> {
        self.refill();
        let (need, value) = field(self.word);
        if need <= self.valid {
            self.skip(need);
            return Some(value);
        }
        None
    }

    #[inline(always)]
    fn skip(&mut self, n: u32) {
        debug_assert!(n <= self.valid && n < 64);
        self.pos += n as usize;
        self.word <<= n;
        self.valid -= n;
    }

    /// Reads `n <= 64` bits as the low bits of the result.
    #[inline(always)]
    pub(crate) fn read_bits(&mut self, n: u32) -> Result<u64, ChunkError> {
        debug_assert!(n <= 64);
        if n > PEEK_BITS {
            return self.read_wide(n);
        }
        self.parse(|word| (n, top(word, n))).ok_or_else(ends_early)
    }

    /// A field too wide for one word, in two reads.
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

pub(crate) fn ends_early() -> ChunkError {
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
        let bytes = w.to_bytes();
        let mut r = BitReader::new(&bytes);
        for &(v, n) in &fields {
            let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            assert_eq!(r.read_bits(n).unwrap(), v & mask, "field of {n} bits");
        }
        assert!(r.remaining_bits() < 8);
    }

    #[test]
    fn refills_hold_the_next_bits_and_zeros_past_the_end() {
        let bytes = [0b1011_0011, 0xff, 0, 0x80, 1, 2, 3, 4, 5];
        let mut r = BitReader::new(&bytes);
        let all = bytes
            .iter()
            .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
        for skip in [3, 5, 8, 17, 30, 6] {
            r.read_bits(skip).unwrap();
            r.refill();
            // The 72 bits of `bytes` at the top of a u128, less those consumed.
            let expected = (all << (128 - 72 + r.pos)) >> (128 - PEEK_BITS);
            let cached = u128::from(r.word >> (64 - PEEK_BITS));
            assert_eq!(cached, expected, "at bit {}", r.pos);
            assert_eq!(r.valid as usize, r.remaining_bits().min(57));
        }
        r.read_bits(3).unwrap();
        assert_eq!(r.remaining_bits(), 0);
        assert_eq!((r.word, r.valid), (0, 0));
        assert!(r.read_bits(1).is_err());
    }

    #[test]
    fn reading_past_the_end_is_an_error() {
        let mut r = BitReader::new(&[0xff]);
        assert!(r.read_bits(9).is_err());
        assert_eq!(r.read_bits(8).unwrap(), 0xff);
        assert!(r.read_bits(1).is_err());
    }

    proptest::proptest! {
        #[test]
        fn random_fields_round_trip_and_truncation_is_an_error(
            fields in proptest::collection::vec((proptest::prelude::any::<u64>(), 0u32..=64), 0..80),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let mut w = BitWriter::new();
            for &(v, n) in &fields {
                w.write_bits(v, n);
            }
            let mask = |v: u64, n: u32| if n == 64 { v } else { v & ((1u64 << n) - 1) };
            let all = w.to_bytes();
            proptest::prop_assert_eq!(all.len(), w.len_bits().div_ceil(8));
            let mut r = BitReader::new(&all);
            for &(v, n) in &fields {
                proptest::prop_assert_eq!(r.read_bits(n).unwrap(), mask(v, n));
            }
            // A stream cut short reads the fields before the cut, then fails.
            let bytes = &all[..cut.index(all.len() + 1)];
            let mut r = BitReader::new(bytes);
            let mut read = 0;
            for &(v, n) in &fields {
                match r.read_bits(n) {
                    Ok(x) => {
                        proptest::prop_assert_eq!(x, mask(v, n));
                        read += n as usize;
                    }
                    Err(_) => {
                        proptest::prop_assert!(read + n as usize > bytes.len() * 8);
                        break;
                    }
                }
            }
        }
    }
}
