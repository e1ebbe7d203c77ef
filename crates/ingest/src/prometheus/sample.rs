//! Scanning one sample line: `name{label="value",…} value [timestamp] [# exemplar]`.
//!
//! The scanner borrows everything from the line; only label values containing escapes
//! are unescaped, into a scratch buffer reused across lines, so the common line costs no
//! allocation until its label set is built.

use super::cursor::{metric_name, Cursor, LineError, LineResult, LABEL_NAME_BYTES};
use crate::value::parse_float;
use std::ops::Range;

/// Where a label value's text is: in the line as written, or unescaped into the scratch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Text {
    Line(Range<usize>),
    Scratch(Range<usize>),
}

impl Text {
    pub fn resolve<'a>(&self, line: &'a str, scratch: &'a str) -> &'a str {
        match self {
            Text::Line(r) => &line[r.clone()],
            Text::Scratch(r) => &scratch[r.clone()],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LabelSpan {
    pub name: Range<usize>,
    pub value: Text,
}

/// Scans the series text `name{…}` at the start of a line, appending its labels to
/// `spans`; returns the metric name and where the series text ends.
#[inline]
pub(crate) fn scan_series<'a>(
    line: &'a str,
    spans: &mut Vec<LabelSpan>,
    scratch: &mut String,
) -> LineResult<(&'a str, usize)> {
    let mut c = Cursor::new(line);
    let name = metric_name(&mut c)?;
    let after_name = c.pos;
    c.skip_blanks();
    if c.peek() == Some(b'{') {
        scan_labels(&mut c, spans, scratch)?;
    } else {
        c.pos = after_name;
    }
    Ok((name, c.pos))
}

/// What follows the series text: the value and the optional timestamp.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tail<'a> {
    pub value: f64,
    /// The timestamp token and its position, read by the format's rules.
    pub timestamp: Option<(usize, &'a str)>,
}

/// Scans ` value [timestamp] [# exemplar]` from `series_end` to the end of the line
/// (an exemplar's labels are checked with `spans` and `scratch` as scratch space).
#[inline]
pub(crate) fn scan_tail<'a>(
    line: &'a str,
    series_end: usize,
    spans: &mut Vec<LabelSpan>,
    scratch: &mut String,
) -> LineResult<Tail<'a>> {
    let mut c = Cursor::new(line);
    c.pos = series_end;
    if c.skip_blanks() == 0 || c.at_end() {
        return Err(c.unexpected("a space and the sample value"));
    }
    let value = float_token(&mut c, "value")?;
    let mut blanks = c.skip_blanks();
    let mut timestamp = None;
    if !c.at_end() && c.peek() != Some(b'#') {
        timestamp = Some((c.pos, c.token()));
        blanks = c.skip_blanks();
    }
    if c.peek() == Some(b'#') && blanks > 0 {
        skip_exemplar(&mut c, spans, scratch)?;
    }
    if !c.at_end() {
        return Err(c.unexpected("end of line"));
    }
    Ok(Tail { value, timestamp })
}

#[inline]
fn float_token(c: &mut Cursor<'_>, what: &str) -> LineResult<f64> {
    let at = c.pos;
    let tok = c.token();
    parse_float(tok).ok_or_else(|| LineError::new(at, format!("invalid {what} {tok:?}")))
}

/// Checks and drops an exemplar (` # {labels} value [timestamp]`): Strata does not
/// store exemplars, but a malformed one is still a syntax error.
fn skip_exemplar(
    c: &mut Cursor<'_>,
    spans: &mut Vec<LabelSpan>,
    scratch: &mut String,
) -> LineResult<()> {
    let (spans_len, scratch_len) = (spans.len(), scratch.len());
    c.expect(b'#', "'#'")?;
    c.skip_blanks();
    if c.peek() != Some(b'{') {
        return Err(c.unexpected("'{' opening the exemplar's labels"));
    }
    scan_labels(c, spans, scratch)?;
    spans.truncate(spans_len);
    scratch.truncate(scratch_len);
    if c.skip_blanks() == 0 || c.at_end() {
        return Err(c.unexpected("a space and the exemplar value"));
    }
    float_token(c, "exemplar value")?;
    c.skip_blanks();
    if !c.at_end() {
        float_token(c, "exemplar timestamp")?;
        c.skip_blanks();
    }
    Ok(())
}

/// Scans `{name="value",…}` (a trailing comma allowed), the cursor on the `{`.
pub(crate) fn scan_labels(
    c: &mut Cursor<'_>,
    spans: &mut Vec<LabelSpan>,
    scratch: &mut String,
) -> LineResult<()> {
    c.expect(b'{', "'{'")?;
    loop {
        c.skip_blanks();
        if c.peek() == Some(b'}') {
            c.pos += 1;
            return Ok(());
        }
        let start = c.pos;
        let name = c.take_class(&LABEL_NAME_BYTES);
        match name.as_bytes().first() {
            None => return Err(c.unexpected("a label name or '}'")),
            Some(b) if b.is_ascii_digit() => {
                return Err(LineError::new(
                    start,
                    format!("invalid label name {name:?}: must not start with a digit"),
                ))
            }
            Some(_) => {}
        }
        c.skip_blanks();
        c.expect(b'=', "'=' after the label name")?;
        c.skip_blanks();
        c.expect(b'"', "'\"' opening the label value")?;
        let value = label_value(c, scratch)?;
        spans.push(LabelSpan {
            name: start..start + name.len(),
            value,
        });
        c.skip_blanks();
        match c.peek() {
            Some(b',') => c.pos += 1,
            Some(b'}') => {}
            _ => return Err(c.unexpected("',' or '}' after the label value")),
        }
    }
}

/// The end of a label value's plain run. Most values are short, where a plain loop
/// beats the set-up of a vectorised search; long ones go to `memchr`.
fn find_quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const SHORT: usize = 24;
    let head = &bytes[..bytes.len().min(SHORT)];
    match head.iter().position(|&b| b == b'"' || b == b'\\') {
        Some(i) => Some(i),
        None if bytes.len() <= SHORT => None,
        None => memchr::memchr2(b'"', b'\\', &bytes[SHORT..]).map(|i| i + SHORT),
    }
}

/// Reads a quoted label value after its opening quote, up to and past the closing one.
/// `\\`, `\"` and `\n` are unescaped; any other backslash is kept as written, as
/// Prometheus does.
#[inline]
fn label_value(c: &mut Cursor<'_>, scratch: &mut String) -> LineResult<Text> {
    let open = c.pos - 1;
    let unterminated = || LineError::new(open, "unterminated label value");
    let bytes = c.line.as_bytes();
    let start = c.pos;
    let first = find_quote_or_backslash(&bytes[start..]).ok_or_else(unterminated)?;
    if bytes[start + first] == b'"' {
        c.pos = start + first + 1;
        return Ok(Text::Line(start..start + first));
    }
    let from = scratch.len();
    let mut pos = start;
    loop {
        let i = pos + find_quote_or_backslash(&bytes[pos..]).ok_or_else(unterminated)?;
        scratch.push_str(&c.line[pos..i]);
        if bytes[i] == b'"' {
            c.pos = i + 1;
            return Ok(Text::Scratch(from..scratch.len()));
        }
        let escaped = c.line[i + 1..].chars().next().ok_or_else(unterminated)?;
        match escaped {
            'n' => scratch.push('\n'),
            '\\' | '"' => scratch.push(escaped),
            other => {
                scratch.push('\\');
                scratch.push(other);
            }
        }
        pos = i + 1 + escaped.len_utf8();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scanned sample line.
    #[derive(Debug)]
    struct SampleLine<'a> {
        name: &'a str,
        series_end: usize,
        value: f64,
        timestamp: Option<(usize, &'a str)>,
    }

    fn scan(line: &str) -> LineResult<(SampleLine<'_>, Vec<(String, String)>)> {
        let (mut spans, mut scratch) = (Vec::new(), String::new());
        let (name, series_end) = scan_series(line, &mut spans, &mut scratch)?;
        let spans_len = spans.len();
        let tail = scan_tail(line, series_end, &mut spans, &mut scratch)?;
        assert_eq!(spans.len(), spans_len, "an exemplar's labels are dropped");
        let s = SampleLine {
            name,
            series_end,
            value: tail.value,
            timestamp: tail.timestamp,
        };
        let labels = spans
            .iter()
            .map(|l| {
                (
                    line[l.name.clone()].to_owned(),
                    l.value.resolve(line, &scratch).to_owned(),
                )
            })
            .collect();
        Ok((s, labels))
    }

    #[test]
    fn plain_and_labelled_lines() {
        let (s, l) = scan("up 1").unwrap();
        assert_eq!(
            (s.name, s.value, s.timestamp, s.series_end),
            ("up", 1.0, None, 2)
        );
        assert!(l.is_empty());
        let (s, l) = scan(r#"a_b:c { x="1" , y = "2", } -3.5e2 123"#).unwrap();
        assert_eq!(s.value, -350.0);
        assert_eq!(s.timestamp, Some((34, "123")));
        assert_eq!(l, [("x".into(), "1".into()), ("y".into(), "2".into())]);
    }

    #[test]
    fn escapes() {
        let (_, l) = scan(r#"m{a="x\\y\"z\nw",b="q\tr",c="é\é"} 1"#).unwrap();
        assert_eq!(l[0].1, "x\\y\"z\nw");
        assert_eq!(l[1].1, "q\\tr");
        assert_eq!(l[2].1, "é\\é");
    }

    #[test]
    fn exemplars_are_checked_and_dropped() {
        let (s, l) = scan(r#"m_bucket{le="1"} 3 # {id="x"} 0.5 1.7e9"#).unwrap();
        assert_eq!((s.value, s.timestamp), (3.0, None));
        assert_eq!(l.len(), 1);
        let (s, _) = scan(r#"m 3 1000 # {id="x"} 0.5"#).unwrap();
        assert_eq!(s.timestamp, Some((4, "1000")));
        assert!(scan(r#"m 3 # {id="x"}"#).is_err());
        assert!(scan(r#"m 3 # id 1"#).is_err());
    }

    #[test]
    fn errors_point_at_the_problem() {
        let cases = [
            ("1m 1", 0, "must not start with a digit"),
            ("m{1a=\"x\"} 1", 2, "must not start with a digit"),
            ("m{a=x} 1", 4, "expected '\"'"),
            ("m{a=\"x} 1", 4, "unterminated"),
            ("m{a=\"x\" b=\"y\"} 1", 8, "expected ',' or '}'"),
            ("m", 1, "expected a space and the sample value"),
            ("m{}", 3, "expected a space"),
            ("m abc", 2, "invalid value \"abc\""),
            ("m 1 2 3", 6, "expected end of line"),
            ("m{a=\"\\", 4, "unterminated"),
            ("{a=\"b\"} 1", 0, "expected a metric name"),
        ];
        for (line, pos, reason) in cases {
            let e = scan(line).unwrap_err();
            assert_eq!(e.pos, pos, "{line}: {e:?}");
            assert!(e.reason.contains(reason), "{line}: {e:?}");
        }
    }
}
