//! Time ranges and durations as Prometheus writes them (`10s`, `5m`, `1h30m`, `90d`, `3y`).

use std::time::Duration;

/// An inclusive range of millisecond timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    pub start: i64,
    pub end: i64,
}

impl TimeRange {
    /// Every representable instant.
    pub const ALL: TimeRange = TimeRange {
        start: i64::MIN,
        end: i64::MAX,
    };

    pub fn new(start: i64, end: i64) -> TimeRange {
        TimeRange { start, end }
    }

    pub fn contains(&self, t: i64) -> bool {
        self.start <= t && t <= self.end
    }

    /// Whether `[min, max]` shares an instant with this range.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        min <= self.end && self.start <= max
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a Prometheus duration: one or more `<integer><unit>` terms with units
/// `y w d h m s ms` in that order, or a bare `0`.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: input.to_owned(),
        reason,
    };
    if input == "0" {
        return Ok(Duration::ZERO);
    }
    if input.is_empty() {
        return Err(err("empty"));
    }
    let mut rest = input;
    let mut total: u64 = 0;
    let mut last_unit = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err("expected a number"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| err("number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let idx = UNITS
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(|| err("unknown unit (use y, w, d, h, m, s or ms)"))?;
        if last_unit.is_some_and(|l| l >= idx) {
            return Err(err("units must go from largest to smallest, once each"));
        }
        last_unit = Some(idx);
        total = n
            .checked_mul(UNITS[idx].1)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| err("duration too large"))?;
    }
    Ok(Duration::from_millis(total))
}

/// Formats a duration the way Prometheus does (`1h30m`, `90d`, `0s`): years and weeks
/// only when they divide the whole duration.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        let exact_only = unit == "y" || unit == "w";
        if exact_only && !ms.is_multiple_of(size) {
            continue;
        }
        if ms >= size {
            out.push_str(&format!("{}{}", ms / size, unit));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("90d").unwrap(),
            Duration::from_secs(90 * 86400)
        );
        assert_eq!(
            parse_duration("3y").unwrap(),
            Duration::from_secs(3 * 365 * 86400)
        );
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in [
            "",
            "10",
            "s",
            "5x",
            "1m1h",
            "1s1s",
            "-1s",
            "99999999999999999999y",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for s in ["1h30m", "90d", "3y", "250ms", "2w", "9d"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
