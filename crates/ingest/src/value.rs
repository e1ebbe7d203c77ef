//! Numbers as Prometheus reads and writes them.
//!
//! Every decoder that produces `le` or `quantile` labels formats their bounds here, so a
//! bucket bound written `1`, `1.0` or `1e0` in any wire format ends up as the same series
//! (`le="1.0"`), exactly as Prometheus 3 normalises them when it scrapes.

/// Parses a sample value the way Prometheus's text parsers accept it: decimal floats,
/// `NaN`, `Inf`/`+Inf`/`-Inf` (any case, also `infinity`). Hexadecimal floats are refused.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    fast_float2::parse::<f64, _>(s).ok()
}

/// Formats a float as Prometheus formats bucket bounds and quantiles (Go's
/// `strconv.FormatFloat(f, 'g', -1, 64)`, then `.0` added to integral values):
/// `1` → `1.0`, `0.25` → `0.25`, `1e6` → `1e+06`, `∞` → `+Inf`.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let mut s = format_go_g(f);
    if !s.contains(['.', 'e']) {
        s.push_str(".0");
    }
    s
}

/// A cheap, conservative test that `s` is already what [`format_float`] would write
/// for its value, so normalising it can be skipped: `+Inf`, or a plain decimal with an
/// integer part of at most 6 digits (no leading zero), a fraction without trailing
/// zeros (or exactly `.0`), at most 3 leading zeros after `0.`, and at most 15
/// significant digits (which makes it the shortest round-tripping form). A `false`
/// only means "format it to know".
pub(crate) fn is_formatted_float(s: &str) -> bool {
    if s == "+Inf" {
        return true;
    }
    let b = s.as_bytes();
    let b = b.strip_prefix(b"-").unwrap_or(b);
    let Some(dot) = b.iter().position(|&c| c == b'.') else {
        return false;
    };
    let (int, frac) = (&b[..dot], &b[dot + 1..]);
    let digits = |d: &[u8]| !d.is_empty() && d.iter().all(u8::is_ascii_digit);
    if !digits(int) || !digits(frac) || int.len() > 6 || (int.len() > 1 && int[0] == b'0') {
        return false;
    }
    if int == b"0" {
        let zeros = frac.iter().take_while(|&&c| c == b'0').count();
        // `0.0` is canonical only unsigned; otherwise the exponent must stay >= -4.
        return if zeros == frac.len() {
            b.len() == s.len() && frac.len() == 1
        } else {
            zeros <= 3 && frac.len() - zeros <= 15 && frac.last() != Some(&b'0')
        };
    }
    let trailing_ok = frac == b"0" || frac.last() != Some(&b'0');
    let significant = int.len() + if frac == b"0" { 0 } else { frac.len() };
    trailing_ok && significant <= 15
}

/// Go's shortest `%g`: exponent form when the decimal exponent is below -4 or at least
/// 6, with a signed, at least two-digit exponent.
fn format_go_g(f: f64) -> String {
    if f == 0.0 {
        // Prometheus writes negative zero as `0.0` too.
        return "0".to_owned();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, like Go's -1 precision.
    let sci = format!("{:e}", f);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// Prometheus's default histogram buckets (seconds), used where a format gives none.
pub(crate) const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_like_prometheus() {
        let cases = [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-1.0, "-1.0"),
            (0.25, "0.25"),
            (5.0, "5.0"),
            (100.0, "100.0"),
            (123456.0, "123456.0"),
            (1e6, "1e+06"),
            (1e21, "1e+21"),
            (-0.0, "0.0"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456789.0, "1.23456789e+08"),
            (8.999999999999998, "8.999999999999998"),
            (-0.00099, "-0.00099"),
            (-8.999999999999979e-05, "-8.999999999999979e-05"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float(f), want, "{f}");
        }
    }

    #[test]
    fn parses_prometheus_values() {
        for (s, want) in [
            ("1", 1.0),
            ("-2.5", -2.5),
            ("1e3", 1000.0),
            ("+Inf", f64::INFINITY),
        ] {
            assert_eq!(parse_float(s), Some(want));
        }
        for s in ["-Inf", "-inf", "-INF"] {
            assert_eq!(parse_float(s), Some(f64::NEG_INFINITY));
        }
        for s in ["NaN", "nan", "NAN"] {
            assert!(parse_float(s).unwrap().is_nan());
        }
        for s in ["", "1x", "0x10", "--1", " 1"] {
            assert_eq!(parse_float(s), None, "{s:?}");
        }
    }

    #[test]
    fn recognises_formatted_floats() {
        for s in [
            "+Inf", "0.0", "1.0", "-1.0", "0.005", "0.25", "2.5", "100.0", "123456.0", "0.0001",
            "-0.00099",
        ] {
            assert!(is_formatted_float(s), "{s}");
            assert_eq!(format_float(parse_float(s).unwrap()), s);
        }
        for s in [
            "1",
            "1e3",
            "-0.0",
            "0.00001",
            "1234567.0",
            "01.5",
            "2.50",
            "1.",
            ".5",
            "+1.0",
            "inf",
            "NaN",
            "",
        ] {
            assert!(!is_formatted_float(s), "{s}");
        }
    }

    proptest! {
        #[test]
        fn recognised_floats_are_formatted(s in "-?[0-9]{1,7}\\.[0-9]{1,17}") {
            if is_formatted_float(&s) {
                prop_assert_eq!(format_float(parse_float(&s).unwrap()), s);
            }
        }

        #[test]
        fn formatted_floats_are_recognised(f in -1e6f64..1e6) {
            let s = format_float(f);
            if !s.contains('e') && s.len() <= 16 {
                prop_assert!(is_formatted_float(&s), "{}", s);
            }
        }

        #[test]
        fn formatted_floats_read_back(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
            prop_assert_eq!(parse_float(&format_float(f)), Some(f));
        }
    }
}
