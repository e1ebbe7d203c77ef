//! Samples, points and series.

use crate::labels::Labels;

/// The bit pattern Prometheus writes to mark a series as stale. It is a NaN, so it
/// compares unequal to everything; use [`is_stale_nan`] to recognise it.
pub const STALE_NAN: f64 = f64::from_bits(0x7ff0_0000_0000_0002);

/// True when `v` is exactly Prometheus's staleness marker (not any NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN.to_bits()
}

/// One value of one series at one instant: a millisecond timestamp and a float64.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t: i64,
    pub v: f64,
}

/// A point with the label set of its series: the unit every ingest format produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// A series as read back from a store: its labels and its points in ascending time.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<Point>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_nan_is_only_the_marker() {
        assert!(is_stale_nan(STALE_NAN));
        assert!(!is_stale_nan(f64::NAN));
        assert!(STALE_NAN.is_nan());
    }
}
