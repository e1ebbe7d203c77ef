//! Gorilla XOR coding of float values (Pelkonen et al., VLDB 2015, section 4.1.2).
//!
//! Each value is XORed with the previous one; an unchanged value costs one bit, and
//! the meaningful bits of the XOR reuse the previous leading/trailing-zero window
//! when they fit in it. It is exact for every bit pattern (NaN payloads, -0.0), so
//! it is the fallback for values the decimal transform cannot represent.

use super::bits::{ends_early, top, BitReader, BitWriter, PEEK_BITS};
use super::ChunkError;

/// Leading-zero counts are stored in 5 bits.
const MAX_LEADING: u32 = 31;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct XorEncoder {
    prev: u64,
    started: bool,
    /// The current window; `None` until the first non-zero XOR.
    window: Option<(u32, u32)>,
}

impl XorEncoder {
    pub(crate) fn write(&mut self, w: &mut BitWriter, v: f64) {
        let bits = v.to_bits();
        if !self.started {
            w.write_bits(bits, 64);
            self.started = true;
            self.prev = bits;
            return;
        }
        let x = bits ^ self.prev;
        self.prev = bits;
        if x == 0 {
            w.write_bit(false);
            return;
        }
        w.write_bit(true);
        let leading = x.leading_zeros().min(MAX_LEADING);
        let trailing = x.trailing_zeros();
        match self.window {
            Some((l, t)) if leading >= l && trailing >= t => {
                w.write_bit(false);
                w.write_bits(x >> t, 64 - l - t);
            }
            _ => {
                let significant = 64 - leading - trailing;
                w.write_bit(true);
                w.write_bits(u64::from(leading), 5);
                // 64 significant bits do not fit in 6 bits; 0 never occurs, so it stands in.
                w.write_bits(u64::from(significant % 64), 6);
                w.write_bits(x >> trailing, significant);
                self.window = Some((leading, trailing));
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct XorDecoder {
    state: XorEncoder,
}

/// What the next bits of a value say, as [`XorDecoder::parse`] reads them.
#[derive(Debug, Clone, Copy)]
enum Step {
    Same,
    /// The XOR with the previous value and the window it used.
    Changed(u64, (u32, u32)),
    /// A payload too wide for one word, to be read after the header with this window.
    Wide((u32, u32)),
    Corrupt(&'static str),
}

impl XorDecoder {
    /// Reads one value; the control bits, a new window's header and most XORs
    /// come from the reader's cached word.
    #[inline(always)]
    pub(crate) fn read(&mut self, r: &mut BitReader) -> Result<f64, ChunkError> {
        let s = &mut self.state;
        if !s.started {
            s.prev = r.read_bits(64)?;
            s.started = true;
            return Ok(f64::from_bits(s.prev));
        }
        // XOR payloads are long and vary in length, so they start on a fresh load.
        let window = s.window;
        let step = r
            .parse_fresh(|word| Self::parse(word, window))
            .ok_or_else(ends_early)?;
        let x = match step {
            Step::Same => 0,
            Step::Changed(x, window) => {
                s.window = Some(window);
                x
            }
            Step::Wide(window) => {
                s.window = Some(window);
                r.read_bits(64 - window.0 - window.1)? << window.1
            }
            Step::Corrupt(why) => return Err(ChunkError::new(why)),
        };
        s.prev ^= x;
        Ok(f64::from_bits(s.prev))
    }

    /// The bits a value takes from `word` and what they say. Control bits `0`
    /// repeat the value, `10` reuse the window, `11` bring a new one: 5 bits of
    /// leading zeros and 6 of length (0 standing for 64).
    #[inline(always)]
    fn parse(word: u64, window: Option<(u32, u32)>) -> (u32, Step) {
        if word >> 63 == 0 {
            return (1, Step::Same);
        }
        let (header, (leading, trailing)) = if (word << 1) >> 63 == 0 {
            match window {
                Some(window) => (2, window),
                None => return (2, Step::Corrupt("XOR window reused before it was set")),
            }
        } else {
            let leading = ((word >> 57) & 0x1f) as u32;
            let significant = match ((word >> 51) & 0x3f) as u32 {
                0 => 64,
                n => n,
            };
            if leading + significant > 64 {
                return (13, Step::Corrupt("XOR window exceeds 64 bits"));
            }
            (13, (leading, 64 - leading - significant))
        };
        let significant = 64 - leading - trailing;
        if header + significant > PEEK_BITS {
            return (header, Step::Wide((leading, trailing)));
        }
        let x = top(word << header, significant) << trailing;
        (header + significant, Step::Changed(x, (leading, trailing)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::STALE_NAN;

    #[test]
    fn every_bit_pattern_round_trips() {
        let values = [
            0.0,
            -0.0,
            f64::NAN,
            STALE_NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            f64::from_bits(1),
            f64::MAX,
            f64::MIN,
            1.5,
            1.5,
            -1.5,
            f64::from_bits(u64::MAX),
            f64::from_bits(0x8000_0000_0000_0001),
        ];
        let mut w = BitWriter::new();
        let mut enc = XorEncoder::default();
        for &v in &values {
            enc.write(&mut w, v);
        }
        let bytes = w.to_bytes();
        let mut r = BitReader::new(&bytes);
        let mut dec = XorDecoder::default();
        for &v in &values {
            assert_eq!(dec.read(&mut r).unwrap().to_bits(), v.to_bits());
        }
    }
}
