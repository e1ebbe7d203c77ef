//! JSON text exactly as Prometheus writes it, so clients that compare bytes (and Grafana,
//! which parses strings) see no difference: Go's string escaping, timestamps as seconds
//! with millisecond fractions, and sample values as strings in Go's shortest `'f'` format.
//!
//! Written by hand rather than through serde because values are strings in one place,
//! floats in another, and the hot path (large matrices) should not build a DOM.

use std::fmt::Write;
use strata_core::Labels;

/// Appends `s` as a JSON string, escaped as Go's `encoding/json` does (including `<`, `>`
/// and `&`, and the line and paragraph separators).
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut rest = s;
    while let Some(i) = escape_at(rest.as_bytes()) {
        out.push_str(&rest[..i]);
        let c = rest[i..].chars().next().unwrap_or_default();
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        rest = &rest[i + c.len_utf8()..];
    }
    out.push_str(rest);
    out.push('"');
}

/// Where the first character to escape starts in `s` (UTF-8), if anywhere. A byte
/// scan: label values and names rarely need escaping, and decoding every character to
/// find out was a tenth of answering a label-values request.
fn escape_at(s: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let i = from + s[from..].iter().position(|&b| ESCAPED[usize::from(b)])?;
        // 0xE2 starts U+2028 and U+2029 (E2 80 A8/A9), but other characters too.
        if s[i] != 0xE2 || matches!(s.get(i + 1..i + 3), Some([0x80, 0xA8 | 0xA9])) {
            return Some(i);
        }
        from = i + 1;
    }
}

/// The bytes that start a character Go escapes, and 0xE2 (see [`escape_at`]).
static ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'&' as usize] = true;
    table[0xE2] = true;
    table
};

/// Appends a millisecond timestamp as Prometheus does: unix seconds, then a three-digit
/// millisecond fraction only when it is not zero (`1435781451.781`, `1.500`, `-0.001`).
pub fn write_timestamp(out: &mut String, t_ms: i64) {
    if t_ms < 0 {
        out.push('-');
    }
    let abs = t_ms.unsigned_abs();
    write_digits(out, abs / 1000, 0);
    let frac = abs % 1000;
    if frac != 0 {
        out.push('.');
        write_digits(out, frac, 3);
    }
}

/// Appends `n` in decimal, zero-padded to at least `width` digits. By hand rather than
/// through `fmt`: a large matrix writes millions of numbers.
fn write_digits(out: &mut String, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut start = buf.len();
    while n > 0 || start == buf.len() {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    start = start.min(buf.len() - width.min(buf.len()));
    for &b in &buf[start..] {
        out.push(char::from(b));
    }
}

/// Appends a float as Go's `strconv.FormatFloat(v, 'f', -1, 64)`, with Prometheus's
/// spellings of the specials: `NaN`, `+Inf`, `-Inf`. Not quoted.
pub fn write_float_bare(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else if !write_short_decimal(out, v) {
        // Rust's `Display` for f64 is the shortest round-tripping decimal without an
        // exponent, which is exactly Go's 'f' with precision -1.
        let _ = write!(out, "{v}");
    }
}

/// Powers of ten as exact floats, for the fraction digits tried by [`write_short_decimal`].
const POW10: [f64; 7] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];

/// Appends `v` the way `Display` would, when it is a decimal of at most six fraction
/// digits well inside the exact-integer range (counters and most gauges), and says
/// whether it did. The fewest fraction digits `k` whose nearest decimal `m / 10^k` reads
/// back as exactly `v` give the shortest round-tripping text; below 2^50, `v * 10^k`
/// rounds to that `m`, and only one `k`-digit decimal can read back as `v`.
fn write_short_decimal(out: &mut String, v: f64) -> bool {
    const LIMIT: f64 = (1u64 << 50) as f64;
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return true;
    }
    for (k, &p) in POW10.iter().enumerate() {
        let scaled = v * p;
        if scaled.abs() >= LIMIT {
            return false;
        }
        let m = scaled.round();
        if m / p == v {
            if m < 0.0 {
                out.push('-');
            }
            let m = m.abs() as u64;
            let unit = 10u64.pow(k as u32);
            write_digits(out, m / unit, 0);
            if k > 0 {
                out.push('.');
                write_digits(out, m % unit, k);
            }
            return true;
        }
    }
    false
}

/// Appends a float as a quoted JSON string, as sample values are written.
pub fn write_float(out: &mut String, v: f64) {
    out.push('"');
    write_float_bare(out, v);
    out.push('"');
}

/// Appends `[<seconds>,"<value>"]`, one sample of a vector or matrix.
pub fn write_sample(out: &mut String, t_ms: i64, v: f64) {
    out.push('[');
    write_timestamp(out, t_ms);
    out.push(',');
    write_float(out, v);
    out.push(']');
}

/// Appends `items` between `open` and `close` (`[]` or `{}`), comma-separated, each
/// written by `write`.
pub fn write_list<T>(
    out: &mut String,
    (open, close): (char, char),
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut String, T),
) {
    out.push(open);
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(out, item);
    }
    out.push(close);
}

/// Appends a label set as a JSON object in label order.
pub fn write_labels(out: &mut String, labels: &Labels) {
    write_list(out, ('{', '}'), labels.iter(), |out, l| {
        write_str(out, l.name);
        out.push(':');
        write_str(out, l.value);
    });
}

/// Appends a JSON array of strings.
pub fn write_str_array<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) {
    write_list(out, ('[', ']'), items, write_str);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn float(v: f64) -> String {
        let mut s = String::new();
        write_float_bare(&mut s, v);
        s
    }

    fn ts(t: i64) -> String {
        let mut s = String::new();
        write_timestamp(&mut s, t);
        s
    }

    #[test]
    fn floats_as_go_formats_them() {
        assert_eq!(float(1.0), "1");
        assert_eq!(float(0.1), "0.1");
        assert_eq!(float(-2.5), "-2.5");
        assert_eq!(float(1e21), "1000000000000000000000");
        assert_eq!(float(1e-7), "0.0000001");
        assert_eq!(float(-0.0), "-0");
        assert_eq!(float(0.05), "0.05");
        assert_eq!(float(-1234.567), "-1234.567");
        assert_eq!(float(100.0), "100");
        assert_eq!(float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(float(1e-6), "0.000001");
        assert_eq!(float(1125899906842623.0), "1125899906842623");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(strata_core::STALE_NAN), "NaN");
    }

    #[test]
    fn timestamps_as_prometheus_writes_them() {
        assert_eq!(ts(1_435_781_451_781), "1435781451.781");
        assert_eq!(ts(1_500), "1.500");
        assert_eq!(ts(1_005), "1.005");
        assert_eq!(ts(60_000), "60");
        assert_eq!(ts(0), "0");
        assert_eq!(ts(-1), "-0.001");
        assert_eq!(ts(-1_500), "-1.500");
        assert_eq!(ts(i64::MIN), "-9223372036854775.808");
        assert_eq!(ts(i64::MAX), "9223372036854775.807");
    }

    #[test]
    fn strings_escaped_like_go() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\nd<e>&\u{1}\u{2028}é");
        assert_eq!(s, r#""a\"b\\c\nd\u003ce\u003e\u0026\u0001\u2028é""#);
    }

    proptest! {
        #[test]
        fn strings_are_valid_json(s in "\\PC*|[\\x00-\\x1f\"\\\\<>&]*") {
            let mut out = String::new();
            write_str(&mut out, &s);
            let back: String = serde_json::from_str(&out).unwrap();
            prop_assert_eq!(back, s);
        }

        /// The byte scan escapes exactly the characters Go escapes.
        #[test]
        fn strings_escape_what_go_escapes(s in "[a\u{2026}-\u{202a}\u{e2}\x00-\x1f\"\\\\<>&é]*") {
            let mut want = String::from('"');
            for c in s.chars() {
                match c {
                    '"' | '\\' | '\n' | '\r' | '\t' => want.extend(c.escape_default()),
                    c if c < ' ' || "<>&\u{2028}\u{2029}".contains(c) => {
                        want.push_str(&format!("\\u{:04x}", c as u32))
                    }
                    c => want.push(c),
                }
            }
            want.push('"');
            let mut got = String::new();
            write_str(&mut got, &s);
            prop_assert_eq!(got, want);
        }

        #[test]
        fn finite_floats_round_trip(v in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
            prop_assert_eq!(float(v).parse::<f64>().unwrap(), v);
        }

        #[test]
        fn floats_as_display_writes_them(v in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
            prop_assert_eq!(float(v), format!("{v}"));
        }

        #[test]
        fn decimals_as_display_writes_them(m in -(1i64 << 53)..(1i64 << 53), k in 0usize..9) {
            let v = m as f64 / 10f64.powi(k as i32);
            prop_assert_eq!(float(v), format!("{v}"));
        }

        #[test]
        fn timestamps_read_back(t in any::<i64>()) {
            let text = ts(t);
            let (secs, frac) = text.trim_start_matches('-').split_once('.').unwrap_or((text.trim_start_matches('-'), "0"));
            let abs = secs.parse::<u64>().unwrap() as u128 * 1000 + frac.parse::<u128>().unwrap();
            prop_assert_eq!(abs, t.unsigned_abs() as u128);
        }
    }
}
