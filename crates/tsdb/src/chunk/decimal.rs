//! The decimal transform: values with few decimal digits become exact integers.
//!
//! Most metric values are counters, byte counts or numbers with two or three
//! decimals, whose float bits look random to XOR coding. Scaled by `10^exp` they are
//! integers whose deltas (or deltas of deltas, for counters) are small; divided by
//! their common `unit` (4096 for memory in pages, 1024 for disk bytes) they lose the
//! low bits that never change. A value is only scaled when `m as f64 / 10^exp` gives
//! back exactly its bits; -0.0, NaNs (the staleness marker included) and infinities
//! never are, and travel as "special" slots carrying their raw bits, so one stale
//! marker does not push a whole chunk to XOR.

use super::bits::{BitReader, BitWriter};
use super::rice::{IntDecoder, IntEncoder, Slot};
use super::ChunkError;

/// The largest exponent tried (it fits the 4-bit header field). Exporters print
/// durations in nanoseconds as 9 decimals; trying more costs little, since values
/// that are not decimals fail at the first exponent that overflows or mismatches.
pub(crate) const MAX_EXP: u8 = 15;

const POW10: [f64; MAX_EXP as usize + 1] = [
    1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// `v` scaled to an integer at `exp`, if that is exact.
pub(crate) fn scale(v: f64, exp: u8) -> Option<i64> {
    let x = v * POW10[usize::from(exp)];
    // The float range of i64 is [-2^63, 2^63); `as` would saturate outside it.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..LIMIT).contains(&x) {
        return None;
    }
    let m = nearest_int(x);
    // Dividing by 10^0 changes nothing, and a division is the slowest step here.
    let back = if exp == 0 { m as f64 } else { unscale(m, exp) };
    (back.to_bits() == v.to_bits()).then_some(m)
}

/// The integer nearest to `x` (in the range of i64), without a call to libm's
/// `round` (no rounding instruction in baseline x86-64), which cost 1% of ingest.
/// Which way a tie goes does not matter: a value that scales exactly lies far from one.
#[inline(always)]
fn nearest_int(x: f64) -> i64 {
    // From 2^52 on every float is an integer, and adding 0.5 could round away.
    const INTEGRAL: f64 = 4_503_599_627_370_496.0;
    if x.abs() >= INTEGRAL {
        return x as i64;
    }
    (x + 0.5f64.copysign(x)) as i64
}

pub(crate) fn unscale(m: i64, exp: u8) -> f64 {
    m as f64 / POW10[usize::from(exp)]
}

/// Values that are never scaled; they are stored raw.
pub(crate) fn is_special(v: f64) -> bool {
    !v.is_finite() || (v == 0.0 && v.is_sign_negative())
}

/// The smallest exponent at which every non-special value scales exactly.
pub(crate) fn exponent_for(values: impl Iterator<Item = f64> + Clone) -> Option<u8> {
    (0..=MAX_EXP).find(|&exp| {
        values
            .clone()
            .all(|v| is_special(v) || scale(v, exp).is_some())
    })
}

/// The largest common divisor of the scaled values, at least 1.
pub(crate) fn unit_for(values: impl Iterator<Item = f64>, exp: u8) -> i64 {
    let g = values
        .filter(|&v| !is_special(v))
        .filter_map(|v| scale(v, exp))
        .fold(0u64, |g, m| gcd(g, m.unsigned_abs()));
    i64::try_from(g).ok().filter(|&g| g > 0).unwrap_or(1)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// How decimal values map to the integers that are coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decimal {
    pub(crate) exp: u8,
    pub(crate) unit: i64,
}

impl Decimal {
    /// The coded integer of a non-special value, if it scales and divides.
    fn to_int(self, v: f64) -> Option<i64> {
        let m = scale(v, self.exp)?;
        // Most series have no common unit: skip the two divisions.
        if self.unit == 1 {
            return Some(m);
        }
        (m.checked_rem(self.unit)? == 0).then(|| m / self.unit)
    }
}

/// A line the coded integers are taken relative to: `base + slope * i` at point
/// `i`. Gauges that scatter around a level code their distance from it (order 0,
/// `base` the median); counters growing at a steady rate code how much each
/// increase differs from the usual one (order 1, `slope` the median increase),
/// which halves the variance that deltas of deltas would code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Trend {
    pub(crate) base: i64,
    pub(crate) slope: i64,
}

impl Trend {
    fn at(self, i: i64) -> i64 {
        self.base.wrapping_add(self.slope.wrapping_mul(i))
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct DecimalEncoder {
    decimal: Decimal,
    trend: Trend,
    index: i64,
    ints: IntEncoder,
}

impl DecimalEncoder {
    pub(crate) fn new(decimal: Decimal, trend: Trend, order: u8) -> Self {
        Self {
            decimal,
            trend,
            index: 0,
            ints: IntEncoder::new(order),
        }
    }

    /// The coded integers of the non-special values among `values`.
    pub(crate) fn ints(decimal: Decimal, values: &[f64]) -> Vec<i64> {
        values
            .iter()
            .filter(|v| !is_special(**v))
            .filter_map(|&v| decimal.to_int(v))
            .collect()
    }

    pub(crate) fn parts(&self) -> (Decimal, Trend, u8) {
        (self.decimal, self.trend, self.ints.order())
    }

    /// How `v` would be written, or `None` when this encoder cannot take it. Checking
    /// and writing are split so that a refused value writes nothing, and one
    /// conversion serves both.
    pub(crate) fn code(&self, v: f64) -> Option<DecimalCode> {
        if is_special(v) {
            return Some(DecimalCode::Special);
        }
        self.decimal.to_int(v).map(DecimalCode::Int)
    }

    /// Writes a value as [`Self::code`] gave it.
    pub(crate) fn write(&mut self, w: &mut BitWriter, code: DecimalCode, v: f64) {
        match code {
            DecimalCode::Int(q) => {
                let x = q.wrapping_sub(self.trend.at(self.index));
                self.ints.write(w, x);
            }
            DecimalCode::Special => {
                self.ints.write_special(w);
                w.write_bits(v.to_bits(), 64);
            }
        }
        self.index += 1;
    }
}

/// A value as a [`DecimalEncoder`] writes it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DecimalCode {
    /// The coded integer of a scaled value.
    Int(i64),
    /// A value never scaled, stored raw.
    Special,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct DecimalDecoder {
    unit: i64,
    /// `10^exp`, looked up once: [`unscale`] divides by the same float.
    divisor: f64,
    trend: Trend,
    /// The trend line at the next point.
    line: i64,
    ints: IntDecoder,
}

impl DecimalDecoder {
    pub(crate) fn new(decimal: Decimal, trend: Trend, order: u8) -> Result<Self, ChunkError> {
        if decimal.exp > MAX_EXP || decimal.unit < 1 {
            return Err(ChunkError::new(format!(
                "bad decimal exponent {} or unit {}",
                decimal.exp, decimal.unit
            )));
        }
        Ok(Self {
            unit: decimal.unit,
            divisor: POW10[usize::from(decimal.exp)],
            trend,
            line: trend.base,
            ints: IntDecoder::new(order),
        })
    }

    #[inline(always)]
    pub(crate) fn read(&mut self, r: &mut BitReader) -> Result<f64, ChunkError> {
        let v = match self.ints.read(r)? {
            // `unscale` of the scaled integer, with the divisor at hand.
            Slot::Int(x) => x.wrapping_add(self.line).wrapping_mul(self.unit) as f64 / self.divisor,
            Slot::Special => f64::from_bits(r.read_bits(64)?),
        };
        self.line = self.line.wrapping_add(self.trend.slope);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::STALE_NAN;

    #[test]
    fn exponent_is_the_smallest_exact_one() {
        assert_eq!(exponent_for([1.0, 2.0, 1e15].into_iter()), Some(0));
        assert_eq!(exponent_for([0.35, 12345.67].into_iter()), Some(2));
        assert_eq!(exponent_for([1.001, f64::NAN, -0.0].into_iter()), Some(3));
        assert_eq!(exponent_for([0.1 + 0.2].into_iter()), None);
        assert_eq!(exponent_for([1e300].into_iter()), None);
        assert_eq!(exponent_for([f64::MIN_POSITIVE].into_iter()), None);
        assert_eq!(exponent_for([0.004_123_456_789].into_iter()), Some(12));
    }

    #[test]
    fn scaling_is_bit_exact_or_refused() {
        assert_eq!(scale(-2.5, 1), Some(-25));
        assert_eq!(scale(0.0, 0), Some(0));
        assert_eq!(scale(9.3e18, 0), None);
        assert_eq!(scale(i64::MIN as f64, 0), Some(i64::MIN));
        assert!(is_special(-0.0) && is_special(STALE_NAN) && is_special(f64::NEG_INFINITY));
        assert!(!is_special(0.0));
    }

    /// `scale` as first written, with libm's `round`.
    fn scale_by_round(v: f64, exp: u8) -> Option<i64> {
        let m = (v * POW10[usize::from(exp)]).round();
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        if !(-LIMIT..LIMIT).contains(&m) {
            return None;
        }
        let m = m as i64;
        (unscale(m, exp).to_bits() == v.to_bits()).then_some(m)
    }

    proptest::proptest! {
        #[test]
        fn scaling_agrees_with_libm_rounding(
            digits in proptest::prelude::any::<i64>(),
            bits in proptest::prelude::any::<u64>(),
            exp in 0..=MAX_EXP,
            at in 0..=MAX_EXP,
        ) {
            // Decimals (which scale), raw bit patterns (which mostly do not), and
            // large integers around 2^52 and 2^63.
            let values = [
                unscale(digits >> (digits as u8 % 64), at),
                f64::from_bits(bits),
                (digits >> 10) as f64 + 0.5,
                ((1i64 << 52) + (digits >> 40)) as f64,
            ];
            for v in values {
                proptest::prop_assert_eq!(scale(v, exp), scale_by_round(v, exp), "{} at {}", v, exp);
            }
        }
    }

    #[test]
    fn unit_is_the_common_divisor() {
        let pages = [4096.0 * 3.0, 4096.0 * 10.0, f64::NAN, 0.0];
        assert_eq!(unit_for(pages.into_iter(), 0), 4096);
        assert_eq!(unit_for([0.25, 0.5].into_iter(), 2), 25);
        assert_eq!(unit_for([0.0, f64::NAN].into_iter(), 0), 1);
        assert_eq!(unit_for([i64::MIN as f64].into_iter(), 0), 1);
    }

    #[test]
    fn specials_and_scaled_values_round_trip() {
        let values = [
            STALE_NAN,
            0.25,
            -0.0,
            1.5,
            f64::INFINITY,
            2.75,
            f64::NAN,
            -3.0,
        ];
        let decimal = Decimal { exp: 2, unit: 25 };
        let trend = Trend { base: 3, slope: -2 };
        for order in [0, 1, 2] {
            let mut w = BitWriter::new();
            let mut enc = DecimalEncoder::new(decimal, trend, order);
            for &v in &values {
                let code = enc.code(v).expect("every value scales or is special");
                enc.write(&mut w, code, v);
            }
            let bytes = w.to_bytes();
            let mut r = BitReader::new(&bytes);
            let mut dec = DecimalDecoder::new(decimal, trend, order).unwrap();
            for &v in &values {
                assert_eq!(dec.read(&mut r).unwrap().to_bits(), v.to_bits());
            }
        }
    }
}
