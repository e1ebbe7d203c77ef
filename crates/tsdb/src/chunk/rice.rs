//! Integer sequences as delta or delta-of-delta residuals, adaptive-Rice coded.
//!
//! Timestamps (order 2) and decimal-scaled values (order 0, 1 or 2) share this coder.
//! The Rice parameter `k` follows the running mean of recent residuals, the way
//! LOCO-I does, so a steady scrape interval (residual 0 with `k = 0`) costs one bit
//! while jittered or noisy series settle near their entropy without any per-chunk
//! tables, which keeps the coder streaming. The first `order` residuals (the first
//! value and first delta) carry the series' scale rather than its noise, so they
//! are written in a length-prefixed raw form and do not move `k`. Huge outliers
//! escape after [`MAX_QUOTIENT`] ones. The escape also carries a "special" marker
//! that a value codec uses for floats it cannot scale.

use super::bits::{ends_early, low_mask, BitReader, BitWriter, PEEK_BITS};
use super::varint::{unzigzag, zigzag};
use super::ChunkError;

/// Unary quotients from this length on are written as an escape instead.
const MAX_QUOTIENT: u32 = 20;
/// Bits of the length field in the raw form: lengths 0..=64, and the special marker.
const LEN_BITS: u32 = 7;
const SPECIAL_LEN: u64 = (1 << LEN_BITS) - 1;
/// Rice parameters above this take [`read_long_rice`]; below, the quotient and
/// low bits fit one word.
const LONG_K: u32 = PEEK_BITS / 3;
/// Halving period of the running mean: short enough to follow a change of regime
/// within a chunk.
const WINDOW: u32 = 16;

/// One decoded residual slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Slot {
    Int(i64),
    Special,
}

/// The running mean that picks the Rice parameter; encoder and decoder keep
/// identical copies.
#[derive(Debug, Clone, Copy, Default)]
struct Adapt {
    sum: u64,
    count: u32,
}

impl Adapt {
    /// The smallest `k` with `2^k >= ceil(sum / 2 / count)`, or 0 when that mean
    /// is at most 1. 2^k near half the mean residual measured smallest on the
    /// bench's data (ln 2 times the mean is the textbook choice for geometric
    /// residuals). Found from bit lengths rather than by dividing: a division per
    /// residual was the largest cost of decoding.
    #[inline(always)]
    fn k(&self) -> u32 {
        let scaled = self.sum / 2;
        let count = u64::from(self.count.max(1));
        // ceil(s / c) <= 2^k exactly when s <= c * 2^k.
        if scaled <= count {
            return 0;
        }
        // c * 2^k spans [2^(b-1+k), 2^(b+k)) and s spans [2^(a-1), 2^a), so the
        // answer is a - b or a - b + 1; `count << (a - b)` stays below 2^a. As
        // s < 2^63 and c >= 1, k is at most 63.
        let a = bit_len(scaled);
        let b = bit_len(count);
        a - b + u32::from(scaled > count << (a - b))
    }

    fn update(&mut self, zz: u64) {
        self.sum = self.sum.saturating_add(zz);
        self.count += 1;
        if self.count >= WINDOW {
            self.sum /= 2;
            self.count /= 2;
        }
    }
}

fn bit_len(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// Encoder state of one integer sequence.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IntEncoder {
    order: u8,
    seen: u8,
    prev: i64,
    prev_delta: i64,
    adapt: Adapt,
}

impl IntEncoder {
    /// `order` 0 codes the integers themselves, 1 their deltas, 2 deltas of deltas.
    pub(crate) fn new(order: u8) -> Self {
        debug_assert!(order <= 2);
        Self {
            order,
            seen: 0,
            prev: 0,
            prev_delta: 0,
            adapt: Adapt::default(),
        }
    }

    pub(crate) fn order(&self) -> u8 {
        self.order
    }

    pub(crate) fn write(&mut self, w: &mut BitWriter, x: i64) {
        let delta = x.wrapping_sub(self.prev);
        let residual = match (self.order, self.seen) {
            (0, _) | (_, 0) => x,
            (1, _) | (_, 1) => delta,
            _ => delta.wrapping_sub(self.prev_delta),
        };
        let zz = zigzag(residual);
        if self.seen < self.order {
            write_raw(w, zz);
        } else {
            let k = self.adapt.k();
            let q = zz >> k;
            if q < u64::from(MAX_QUOTIENT) && q as u32 + 1 + k <= 64 {
                // The unary quotient, its closing zero and the low bits in one write.
                let ones = ((1u64 << q) - 1) << k << 1;
                w.write_bits(ones | (zz & low_mask(k)), q as u32 + 1 + k);
            } else if q < u64::from(MAX_QUOTIENT) {
                w.write_ones(q as u32);
                w.write_bit(false);
                w.write_bits(zz, k);
            } else {
                w.write_ones(MAX_QUOTIENT);
                write_raw(w, zz);
            }
            self.adapt.update(zz);
        }
        self.prev_delta = if self.seen == 0 { 0 } else { delta };
        self.prev = x;
        self.seen = self.seen.saturating_add(1);
    }

    /// Marks a slot the integer sequence skips (its state does not change).
    pub(crate) fn write_special(&self, w: &mut BitWriter) {
        if self.seen >= self.order {
            w.write_ones(MAX_QUOTIENT);
        }
        w.write_bits(SPECIAL_LEN, LEN_BITS);
    }
}

/// Decoder mirror of [`IntEncoder`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct IntDecoder {
    state: IntEncoder,
}

impl IntDecoder {
    pub(crate) fn new(order: u8) -> Self {
        Self {
            state: IntEncoder::new(order),
        }
    }

    #[inline(always)]
    pub(crate) fn read(&mut self, r: &mut BitReader) -> Result<Slot, ChunkError> {
        let s = &mut self.state;
        if s.seen < s.order {
            return self.read_leading(r);
        }
        let Some(zz) = read_rice(r, s.adapt.k())? else {
            return Ok(Slot::Special);
        };
        s.adapt.update(zz);
        let residual = unzigzag(zz);
        // Past the leading residuals (`seen >= order`), each order has one rule.
        let x = match s.order {
            0 => residual,
            1 => s.prev.wrapping_add(residual),
            _ => {
                s.prev_delta = s.prev_delta.wrapping_add(residual);
                s.prev.wrapping_add(s.prev_delta)
            }
        };
        if s.order == 1 {
            s.prev_delta = residual;
        }
        s.prev = x;
        s.seen = s.seen.saturating_add(1);
        Ok(Slot::Int(x))
    }

    /// The first `order` residuals, raw: the first value, then the first delta.
    #[cold]
    fn read_leading(&mut self, r: &mut BitReader) -> Result<Slot, ChunkError> {
        let s = &mut self.state;
        let Some(zz) = read_raw(r)? else {
            return Ok(Slot::Special);
        };
        let residual = unzigzag(zz);
        let (x, delta) = match s.seen {
            0 => (residual, 0),
            _ => (s.prev.wrapping_add(residual), residual),
        };
        s.prev_delta = delta;
        s.prev = x;
        s.seen += 1;
        Ok(Slot::Int(x))
    }
}

/// One Rice-coded residual with parameter `k`, or `None` for the special marker.
/// The unary quotient and the `k` low bits usually come from the cached word.
#[inline(always)]
fn read_rice(r: &mut BitReader, k: u32) -> Result<Option<u64>, ChunkError> {
    if k > LONG_K {
        return read_long_rice(r, k);
    }
    let parsed = r.parse(|word| {
        let q = (!word).leading_zeros();
        if q >= MAX_QUOTIENT {
            return (MAX_QUOTIENT, None);
        }
        // Shifted by `q`, the word starts with the unary's closing zero, so the
        // top `k + 1` bits are the `k` low bits of the residual.
        let zz = (u64::from(q) << k) | ((word << q) >> (63 - k));
        (q + 1 + k, Some(zz))
    });
    match parsed {
        Some(Some(zz)) => Ok(Some(zz)),
        Some(None) => read_raw(r),
        None => Err(ends_early()),
    }
}

/// A residual with a large `k` (float bits, noise), which rarely fits what is
/// left of the word: its quotient and its low bits are read from fresh loads.
/// `k` changes slowly, so the choice of this path predicts well.
#[inline(always)]
fn read_long_rice(r: &mut BitReader, k: u32) -> Result<Option<u64>, ChunkError> {
    let q = r
        .parse_fresh(|word| {
            let q = (!word).leading_zeros().min(MAX_QUOTIENT);
            (q + u32::from(q < MAX_QUOTIENT), q)
        })
        .ok_or_else(ends_early)?;
    if q == MAX_QUOTIENT {
        return read_raw(r);
    }
    Ok(Some((u64::from(q) << k) | r.read_bits(k)?))
}

/// Length-prefixed form: the bit length, then the bits below the leading one.
fn write_raw(w: &mut BitWriter, zz: u64) {
    let len = 64 - zz.leading_zeros();
    w.write_bits(u64::from(len), LEN_BITS);
    if len > 1 {
        w.write_bits(zz, len - 1);
    }
}

/// Returns `None` for the special marker.
fn read_raw(r: &mut BitReader) -> Result<Option<u64>, ChunkError> {
    let len = r.read_bits(LEN_BITS)?;
    match len {
        SPECIAL_LEN => Ok(None),
        0 => Ok(Some(0)),
        1..=64 => {
            let low = r.read_bits(len as u32 - 1)?;
            Ok(Some((1u64 << (len - 1)) | low))
        }
        _ => Err(ChunkError::new(format!("bad integer length {len}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(order: u8, slots: &[Slot]) -> usize {
        let mut w = BitWriter::new();
        let mut enc = IntEncoder::new(order);
        for s in slots {
            match *s {
                Slot::Int(x) => enc.write(&mut w, x),
                Slot::Special => enc.write_special(&mut w),
            }
        }
        let bytes = w.to_bytes();
        let mut r = BitReader::new(&bytes);
        let mut dec = IntDecoder::new(order);
        for (i, s) in slots.iter().enumerate() {
            assert_eq!(dec.read(&mut r).unwrap(), *s, "slot {i}, order {order}");
        }
        w.len_bits()
    }

    #[test]
    fn rice_parameter_matches_the_divided_mean() {
        let by_division = |a: Adapt| {
            let mean = (a.sum / 2).div_ceil(u64::from(a.count.max(1)));
            if mean <= 1 {
                0
            } else {
                (64 - (mean - 1).leading_zeros()).min(63)
            }
        };
        let sums = (0..5000u64)
            .chain((0..64).flat_map(|b| [1u64 << b, (1u64 << b) - 1, (1u64 << b) + 1]))
            .chain([u64::MAX, u64::MAX - 1, u64::MAX / 3]);
        for sum in sums {
            for count in 0..=WINDOW {
                let a = Adapt { sum, count };
                assert_eq!(a.k(), by_division(a), "sum {sum}, count {count}");
            }
        }
    }

    #[test]
    fn extremes_round_trip_in_both_orders() {
        let xs = [
            0,
            i64::MAX,
            i64::MIN,
            -1,
            i64::MAX,
            1,
            i64::MIN,
            i64::MIN,
            0,
        ];
        let slots: Vec<Slot> = xs.iter().map(|&x| Slot::Int(x)).collect();
        for order in [0, 1, 2] {
            round_trip(order, &slots);
        }
    }

    #[test]
    fn specials_anywhere_round_trip() {
        let slots = [
            Slot::Special,
            Slot::Int(5),
            Slot::Special,
            Slot::Int(7),
            Slot::Int(9),
            Slot::Special,
            Slot::Int(1 << 40),
        ];
        for order in [0, 1, 2] {
            round_trip(order, &slots);
        }
    }

    #[test]
    fn regular_timestamps_cost_one_bit_each() {
        let slots: Vec<Slot> = (0..1000)
            .map(|i| Slot::Int(1_700_000_000_000 + i * 15_000))
            .collect();
        let bits = round_trip(2, &slots);
        // The raw first timestamp (48 bits) and first delta (21), then a bit each.
        assert_eq!(bits, 48 + 21 + 998);
    }
}
