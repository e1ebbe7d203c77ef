//! The series notation of test scripts: `metric{label="value"} 1 2+3x4 _ stale`, and
//! its values alone (`1+1x3`, `_x2`, `Inf`).

use strata_core::{Labels, LabelsBuilder, METRIC_NAME, STALE_NAN};

/// One value of an expanded sequence: `None` where the notation leaves a gap (`_`).
pub type SeqValue = Option<f64>;

/// A parsed series line: its labels and its expanded values.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesLine {
    pub labels: Labels,
    pub values: Vec<SeqValue>,
}

/// Whether a line uses native-histogram notation (`{{…}}`), which Strata does not run.
pub fn is_native_histogram(line: &str) -> bool {
    line.contains("{{")
}

/// Parses `metric{a="b", …} values…`; the label part may be only a name or only braces.
pub fn parse_series_line(line: &str) -> Result<SeriesLine, String> {
    let line = line.trim();
    let split = label_part_end(line)?;
    let (head, rest) = line.split_at(split);
    let labels = parse_labels(head)?;
    let mut values = Vec::new();
    for token in rest.split_whitespace() {
        values.extend(parse_values(token)?);
    }
    Ok(SeriesLine { labels, values })
}

/// The byte index where the label part ends.
fn label_part_end(line: &str) -> Result<usize, String> {
    let brace = line.find('{');
    let space = line.find(char::is_whitespace).unwrap_or(line.len());
    match brace {
        Some(b) if b <= space => {
            let mut quoted = false;
            let mut escaped = false;
            for (i, c) in line[b..].char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' if quoted => escaped = true,
                    '"' => quoted = !quoted,
                    '}' if !quoted => return Ok(b + i + 1),
                    _ => {}
                }
            }
            Err(format!("unclosed '{{' in series {line:?}"))
        }
        _ => Ok(space),
    }
}

/// Parses `name`, `{…}` or `name{…}` into a label set.
pub fn parse_labels(s: &str) -> Result<Labels, String> {
    let s = s.trim();
    let (name, body) = match s.find('{') {
        Some(b) => {
            if !s.ends_with('}') {
                return Err(format!("label set {s:?} does not end with '}}'"));
            }
            (&s[..b], &s[b + 1..s.len() - 1])
        }
        None => (s, ""),
    };
    let mut b = LabelsBuilder::new();
    if !name.is_empty() {
        b.push(METRIC_NAME, name);
    }
    let mut rest = body.trim();
    while !rest.is_empty() {
        let (key, after) = take_name(rest)?;
        let after = after.trim_start();
        if let Some(after_eq) = after.strip_prefix('=') {
            let (value, after) = take_quoted(after_eq.trim_start())?;
            b.push(&key, &value);
            rest = after.trim_start();
        } else {
            // A lone quoted name inside the braces is the metric name.
            b.push(METRIC_NAME, &key);
            rest = after;
        }
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    b.build().map_err(|e| format!("invalid labels {s:?}: {e}"))
}

fn take_name(s: &str) -> Result<(String, &str), String> {
    if s.starts_with('"') {
        return take_quoted(s);
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(s.len());
    if end == 0 {
        return Err(format!("expected a label name at {s:?}"));
    }
    Ok((s[..end].to_owned(), &s[end..]))
}

/// A double- or single-quoted string with Go escapes, and the text after it.
fn take_quoted(s: &str) -> Result<(String, &str), String> {
    let quote = s
        .chars()
        .next()
        .filter(|c| *c == '"' || *c == '\'')
        .ok_or_else(|| format!("expected a quoted string at {s:?}"))?;
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let (_, e) = chars
                    .next()
                    .ok_or_else(|| format!("unterminated escape in {s:?}"))?;
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    other => other,
                });
            }
            c if c == quote => return Ok((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    Err(format!("unterminated string {s:?}"))
}

/// Parses a number as the test language writes it (`1`, `-2.5e3`, `Inf`, `NaN`).
pub fn parse_number(s: &str) -> Result<f64, String> {
    let lower = s.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        "inf" => Ok(if lower.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        "nan" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| format!("invalid number {s:?}")),
    }
}

/// Expands one value token: `_`, `_xN`, `stale`, `v`, `vxN`, `a+bxN` or `a-bxN`.
pub fn parse_values(token: &str) -> Result<Vec<SeqValue>, String> {
    let (head, times) = match token.rfind('x') {
        Some(i) if i + 1 < token.len() && token[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            let n: usize = token[i + 1..]
                .parse()
                .map_err(|_| format!("invalid repeat count in {token:?}"))?;
            (&token[..i], Some(n))
        }
        _ => (token, None),
    };
    if n_too_large(times) {
        return Err(format!("repeat count too large in {token:?}"));
    }
    if head == "_" {
        return Ok(vec![None; times.unwrap_or(1)]);
    }
    if head == "stale" {
        return match times {
            None => Ok(vec![Some(STALE_NAN)]),
            Some(_) => Err(format!("'stale' cannot be repeated: {token:?}")),
        };
    }
    let Some(n) = times else {
        return Ok(vec![Some(parse_number(head)?)]);
    };
    // The increment is the signed number after the first sign not opening the value and
    // not belonging to an exponent.
    let bytes = head.as_bytes();
    let split = (1..bytes.len())
        .find(|&i| matches!(bytes[i], b'+' | b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
    let (start, step) = match split {
        Some(i) => (parse_number(&head[..i])?, parse_number(&head[i..])?),
        None => (parse_number(head)?, 0.0),
    };
    Ok((0..=n).map(|k| Some(start + step * k as f64)).collect())
}

fn n_too_large(n: Option<usize>) -> bool {
    n.is_some_and(|n| n > 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn expands_sequences() {
        let s = parse_series_line(r#"m{a="b"} 1 2+3x2 _ stale -1-1x1 _x2 1x1"#).unwrap();
        assert_eq!(s.labels.to_string(), r#"m{a="b"}"#);
        let v: Vec<String> = s.values.iter().map(|v| format!("{v:?}")).collect();
        assert_eq!(
            v[..6],
            [
                "Some(1.0)",
                "Some(2.0)",
                "Some(5.0)",
                "Some(8.0)",
                "None",
                "Some(NaN)"
            ]
        );
        assert_eq!(
            s.values[6..],
            [Some(-1.0), Some(-2.0), None, None, Some(1.0), Some(1.0)]
        );
    }

    #[test]
    fn parses_label_forms() {
        assert_eq!(parse_labels("{}").unwrap(), Labels::empty());
        assert_eq!(parse_labels("up").unwrap().to_string(), "up{}");
        let l = parse_labels(r#"{a="x,}\"y", b='z'}"#).unwrap();
        assert_eq!(l.get("a"), Some("x,}\"y"));
        assert_eq!(l.get("b"), Some("z"));
        assert_eq!(parse_values("1e-3").unwrap(), [Some(0.001)]);
        assert_eq!(parse_values("-Inf").unwrap(), [Some(f64::NEG_INFINITY)]);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [r#"m{a="b" 1"#, "m{a=b} 1", "m 1+", "m abc", "m{1a=\"x\"} 1"] {
            assert!(parse_series_line(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = parse_series_line(&s);
        }

        #[test]
        fn mutated_lines_never_panic(cut in 0usize..40, insert in "[{}\"x_+\\-0-9 ]{0,3}") {
            let base = r#"m{a="b", c="d"} 1+2x3 _x2 stale"#;
            let cut = cut.min(base.len());
            let mutated = format!("{}{}{}", &base[..cut], insert, &base[cut..]);
            let _ = parse_series_line(&mutated);
        }
    }
}
