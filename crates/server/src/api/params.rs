//! Request parameters shared by every read endpoint: the form (query string plus a
//! url-encoded POST body, as Prometheus merges them), timestamps, durations, limits and
//! the series selectors of `match[]`.
//!
//! The selector parser is ours rather than the PromQL engine's because discovery and
//! export need only `name{label op "value", …}`, and must not depend on the evaluator.

use super::response::ApiError;
use axum::extract::{FromRequest, Query, Request};
use axum::http::{header, Method};
use axum::Form;
use chrono::{DateTime, SecondsFormat, Utc};
use strata_core::{is_valid_label_name, is_valid_metric_name, MatchOp, Matcher, METRIC_NAME};

/// The earliest instant Prometheus accepts (its `MinTime`), in milliseconds.
pub const MIN_TIME_MS: i64 = (i64::MIN / 1000 + 62_135_596_801) * 1000;
/// The latest instant Prometheus accepts (its `MaxTime`), in milliseconds.
pub const MAX_TIME_MS: i64 = (i64::MAX / 1000 - 62_135_596_801) * 1000 + 999;

/// How Prometheus spells [`MIN_TIME_MS`] and [`MAX_TIME_MS`]; clients send them back verbatim.
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// All parameters of a request: those of a url-encoded POST body, then the query string's.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bad = |e: &dyn std::fmt::Display| ApiError::bad_data(format!("invalid form: {e}"));
        let Query(from_url) =
            Query::<Vec<(String, String)>>::try_from_uri(req.uri()).map_err(|e| bad(&e))?;
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let mut pairs = Vec::new();
        if req.method() == Method::POST && is_form {
            let Form(body) = Form::<Vec<(String, String)>>::from_request(req, state)
                .await
                .map_err(|e| bad(&e))?;
            pairs = body;
        }
        // Body values come first so they win over the URL's, as in Go's `Request.Form`.
        pairs.extend(from_url);
        Ok(Params(pairs))
    }
}

impl Params {
    /// The first value of `name`, if given and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A required timestamp.
    pub fn time(&self, name: &str) -> Result<i64, ApiError> {
        let raw = self
            .0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        parse_time(raw.unwrap_or("")).map_err(|e| invalid_param(name, e))
    }

    /// An optional timestamp, `default` when absent.
    pub fn time_or(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(_) => self.time(name),
        }
    }

    /// An optional duration in milliseconds.
    pub fn duration(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|raw| parse_duration_ms(raw).map_err(|e| invalid_param(name, e)))
            .transpose()
    }

    /// A result limit: 0 (no limit) when absent.
    pub fn limit(&self, name: &str) -> Result<usize, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(0);
        };
        let n: i64 = raw
            .parse()
            .map_err(|_| invalid_param(name, format!("cannot parse {raw:?} to a valid limit")))?;
        usize::try_from(n).map_err(|_| invalid_param(name, "limit must be non-negative".into()))
    }

    /// The series selectors of every `match[]`, each one a set of matchers that must all hold.
    pub fn selectors(&self) -> Result<Vec<Vec<Matcher>>, ApiError> {
        self.all("match[]")
            .map(|s| parse_selector(s).map_err(|e| invalid_param("match[]", e.to_string())))
            .collect()
    }
}

/// The error Prometheus gives for a parameter it cannot read.
pub fn invalid_param(name: &str, reason: String) -> ApiError {
    ApiError::bad_data(format!("invalid parameter {name:?}: {reason}"))
}

/// Parses a timestamp: unix seconds with an optional fraction, or RFC 3339. Milliseconds
/// are the resolution; finer fractions are rounded as Prometheus rounds them.
pub fn parse_time(raw: &str) -> Result<i64, String> {
    let err = || format!("cannot parse {raw:?} to a valid timestamp");
    if let Ok(secs) = raw.parse::<f64>() {
        if !secs.is_finite() {
            return Err(err());
        }
        let whole = secs.trunc();
        let frac_ms = ((secs - whole) * 1000.0).round();
        let ms = whole * 1000.0 + frac_ms;
        if ms < MIN_TIME_MS as f64 || ms > MAX_TIME_MS as f64 {
            return Err(err());
        }
        return Ok(ms as i64);
    }
    match raw {
        MIN_TIME_FORMATTED => return Ok(MIN_TIME_MS),
        MAX_TIME_FORMATTED => return Ok(MAX_TIME_MS),
        _ => {}
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.timestamp_millis())
        .map_err(|_| err())
}

/// Parses a duration: seconds as a float, or a Prometheus duration (`5m`, `1h30m`).
/// Returns milliseconds; fractions of a millisecond are cut, as Prometheus cuts them.
pub fn parse_duration_ms(raw: &str) -> Result<i64, String> {
    if let Ok(secs) = raw.parse::<f64>() {
        let nanos = secs * 1e9;
        if !nanos.is_finite() || nanos >= i64::MAX as f64 || nanos <= i64::MIN as f64 {
            return Err(format!(
                "cannot parse {raw:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(nanos as i64 / 1_000_000);
    }
    strata_core::parse_duration(raw)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .ok_or_else(|| format!("cannot parse {raw:?} to a valid duration"))
}

/// Formats a millisecond timestamp as RFC 3339 in UTC, as the spec's API writes times.
pub fn format_rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Why a series selector was refused, with the 1-based column where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("1:{col}: parse error: {reason}")]
pub struct SelectorError {
    pub col: usize,
    pub reason: String,
}

/// Parses a series selector: `name`, `name{matchers}` or `{matchers}`, where a matcher is
/// `label op "value"` with `op` one of `= != =~ !~`, values quoted with `"`, `'` or a
/// backtick (raw), and Prometheus 3's quoted names (`{"my.metric", "a.b"="c"}`).
/// Like Prometheus, a selector must hold a matcher that does not match the empty string.
pub fn parse_selector(input: &str) -> Result<Vec<Matcher>, SelectorError> {
    let mut p = SelectorParser { input, pos: 0 };
    let matchers = p.selector()?;
    p.skip_space();
    if p.pos < input.len() {
        return Err(p.error("unexpected characters after the selector"));
    }
    if matchers.iter().all(Matcher::matches_empty) {
        return Err(SelectorError {
            col: 1,
            reason: "vector selector must contain at least one non-empty matcher".into(),
        });
    }
    Ok(matchers)
}

/// Parses the inside of a selector's braces: `a="b", c=~"d"`, possibly empty.
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, SelectorError> {
    let mut p = SelectorParser { input, pos: 0 };
    let matchers = p.matcher_list(None)?;
    p.skip_space();
    if p.pos < input.len() {
        return Err(p.error("unexpected characters after the matchers"));
    }
    Ok(matchers)
}

struct SelectorParser<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> SelectorParser<'a> {
    fn error(&self, reason: &str) -> SelectorError {
        SelectorError {
            col: self.input[..self.pos].chars().count() + 1,
            reason: reason.to_owned(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.input[self.pos..].starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    fn selector(&mut self) -> Result<Vec<Matcher>, SelectorError> {
        self.skip_space();
        let name = match self.peek() {
            Some('{') => None,
            Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                Some(self.identifier(true))
            }
            Some(_) => return Err(self.error("expected a metric name or '{'")),
            None => return Err(self.error("no expression found in input")),
        };
        let mut matchers = Vec::new();
        if let Some(n) = name {
            matchers.push(Matcher::equal(METRIC_NAME, n));
        }
        self.skip_space();
        if self.eat("{") {
            matchers.extend(self.matcher_list(name)?);
            self.skip_space();
            if !self.eat("}") {
                return Err(self.error("expected ',' or '}' after a label matcher"));
            }
        }
        Ok(matchers)
    }

    /// Matchers separated by commas, with an optional trailing comma, up to (not past) `}`.
    fn matcher_list(&mut self, metric: Option<&str>) -> Result<Vec<Matcher>, SelectorError> {
        let mut out = Vec::new();
        let mut has_name = metric.is_some();
        loop {
            self.skip_space();
            if matches!(self.peek(), None | Some('}')) {
                return Ok(out);
            }
            let m = self.matcher()?;
            if m.name == METRIC_NAME && m.op == MatchOp::Equal {
                if has_name {
                    return Err(self.error("metric name must not be set twice"));
                }
                has_name = true;
            }
            out.push(m);
            self.skip_space();
            if !self.eat(",") {
                return Ok(out);
            }
        }
    }

    fn matcher(&mut self) -> Result<Matcher, SelectorError> {
        let start = self.pos;
        let name = match self.peek() {
            Some('"' | '\'' | '`') => self.string()?,
            Some(c) if c.is_ascii_alphabetic() || c == '_' => self.identifier(false).to_owned(),
            _ => return Err(self.error("expected a label name")),
        };
        self.skip_space();
        let op = if self.eat("=~") {
            MatchOp::Regex
        } else if self.eat("!~") {
            MatchOp::NotRegex
        } else if self.eat("!=") {
            MatchOp::NotEqual
        } else if self.eat("=") {
            MatchOp::Equal
        } else if matches!(self.peek(), None | Some(',' | '}'))
            && self.input[start..].starts_with(['"', '\'', '`'])
        {
            // A bare quoted string is a metric name (Prometheus 3's UTF-8 names).
            return Ok(Matcher::equal(METRIC_NAME, &name));
        } else {
            return Err(self.error("expected a matching operator (=, !=, =~ or !~)"));
        };
        self.skip_space();
        if !matches!(self.peek(), Some('"' | '\'' | '`')) {
            return Err(self.error("expected a quoted label value"));
        }
        let value = self.string()?;
        Matcher::new(op, &name, &value).map_err(|e| SelectorError {
            col: self.input[..start].chars().count() + 1,
            reason: e.to_string(),
        })
    }

    fn identifier(&mut self, metric: bool) -> &'a str {
        let input: &'a str = self.input;
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || (metric && c == ':'))
        {
            self.pos += 1;
        }
        &input[start..self.pos]
    }

    /// A quoted string with Go's escapes (`"…"`, `'…'`) or raw (backticks).
    fn string(&mut self) -> Result<String, SelectorError> {
        let quote = self.bump().ok_or_else(|| self.error("expected a string"))?;
        let mut out = String::new();
        loop {
            let c = self
                .bump()
                .ok_or_else(|| self.error("unterminated quoted string"))?;
            match c {
                c if c == quote => return Ok(out),
                '\\' if quote != '`' => out.push(self.escape(quote)?),
                '\n' if quote != '`' => return Err(self.error("newline in a quoted string")),
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self, quote: char) -> Result<char, SelectorError> {
        let c = self
            .bump()
            .ok_or_else(|| self.error("unterminated escape sequence"))?;
        Ok(match c {
            'a' => '\x07',
            'b' => '\x08',
            'f' => '\x0c',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\x0b',
            '\\' => '\\',
            c if c == quote => c,
            'x' => self.code_point(2, 16)?,
            'u' => self.code_point(4, 16)?,
            'U' => self.code_point(8, 16)?,
            '0'..='7' => {
                self.pos -= 1;
                self.code_point(3, 8)?
            }
            _ => return Err(self.error("unknown escape sequence")),
        })
    }

    fn code_point(&mut self, digits: usize, radix: u32) -> Result<char, SelectorError> {
        let text = self
            .input
            .get(self.pos..self.pos + digits)
            .filter(|t| t.chars().all(|c| c.is_digit(radix)))
            .ok_or_else(|| self.error("malformed escape sequence"))?;
        self.pos += digits;
        u32::from_str_radix(text, radix)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| self.error("escape sequence is an invalid Unicode code point"))
    }
}

/// Checks a label name taken from a URL path, as `/api/v1/label/<name>/values` does.
pub fn check_label_name(name: &str) -> Result<(), ApiError> {
    if is_valid_label_name(name) || (name == METRIC_NAME) {
        Ok(())
    } else {
        Err(ApiError::bad_data(format!("invalid label name: {name:?}")))
    }
}

/// Checks a metric name given as a plain parameter (not a selector).
pub fn check_metric_name(name: &str) -> Result<(), ApiError> {
    if is_valid_metric_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_data(format!("invalid metric name: {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn show(ms: &[Matcher]) -> Vec<String> {
        ms.iter().map(|m| m.to_string()).collect()
    }

    #[test]
    fn selectors_of_every_shape() {
        assert_eq!(show(&parse_selector("up").unwrap()), [r#"__name__="up""#]);
        assert_eq!(
            show(&parse_selector(r#" up { job = "a" , env!~'p.*', } "#).unwrap()),
            [r#"__name__="up""#, r#"job="a""#, r#"env!~"p.*""#]
        );
        assert_eq!(
            show(&parse_selector(r#"{__name__=~"x.*"}"#).unwrap()),
            [r#"__name__=~"x.*""#]
        );
        assert_eq!(
            show(&parse_selector(r#"{"my.metric", "a.b"="c"}"#).unwrap()),
            [r#"__name__="my.metric""#, r#"a.b="c""#]
        );
        assert_eq!(
            show(&parse_selector("a:b_c{x=`\\d+`}").unwrap()),
            [r#"__name__="a:b_c""#, r#"x="\\d+""#]
        );
    }

    #[test]
    fn escapes_decode() {
        let m = parse_selector(r#"x{a="q\"\\\n\x41\u00e9\101"}"#).unwrap();
        assert_eq!(m[1].value, "q\"\\\nAéA");
        let m = parse_selector(r"x{a='it\'s'}").unwrap();
        assert_eq!(m[1].value, "it's");
    }

    #[test]
    fn bad_selectors_say_where_and_why() {
        let cases = [
            ("", "1:1: parse error: no expression found in input"),
            (
                "{}",
                "1:1: parse error: vector selector must contain at least one non-empty matcher",
            ),
            (
                r#"{a=""}"#,
                "1:1: parse error: vector selector must contain at least one non-empty matcher",
            ),
            (
                "up{",
                "1:4: parse error: expected ',' or '}' after a label matcher",
            ),
            (
                r#"up{a="b""#,
                "1:9: parse error: expected ',' or '}' after a label matcher",
            ),
            (
                r#"up{a="b}"#,
                "1:9: parse error: unterminated quoted string",
            ),
            ("up{a=b}", "1:6: parse error: expected a quoted label value"),
            (
                r#"up{a=="b"}"#,
                "1:6: parse error: expected a quoted label value",
            ),
            (
                r#"up{a>"b"}"#,
                "1:5: parse error: expected a matching operator (=, !=, =~ or !~)",
            ),
            (
                r#"up{__name__="x"}"#,
                "1:16: parse error: metric name must not be set twice",
            ),
            (r#"up{a="\q"}"#, "1:9: parse error: unknown escape sequence"),
            (
                "up x",
                "1:4: parse error: unexpected characters after the selector",
            ),
            ("1up", "1:1: parse error: expected a metric name or '{'"),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_selector(input).unwrap_err().to_string(),
                want,
                "{input}"
            );
        }
        let e = parse_selector(r#"up{a=~"("}"#).unwrap_err();
        assert_eq!(e.col, 4);
        assert!(e.reason.contains("invalid regular expression"), "{e}");
    }

    #[test]
    fn times_in_both_notations() {
        assert_eq!(parse_time("1435781451.781"), Ok(1_435_781_451_781));
        assert_eq!(parse_time("1435781451"), Ok(1_435_781_451_000));
        assert_eq!(parse_time("-1.5"), Ok(-1500));
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z"),
            Ok(1_435_781_451_781)
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51.781+02:00"),
            Ok(1_435_781_451_781)
        );
        assert_eq!(parse_time(MIN_TIME_FORMATTED), Ok(MIN_TIME_MS));
        assert_eq!(parse_time(MAX_TIME_FORMATTED), Ok(MAX_TIME_MS));
        for bad in ["", "abc", "NaN", "Inf", "1e300", "2015-07-01"] {
            assert_eq!(
                parse_time(bad),
                Err(format!("cannot parse {bad:?} to a valid timestamp"))
            );
        }
    }

    #[test]
    fn durations_in_both_notations() {
        assert_eq!(parse_duration_ms("15"), Ok(15_000));
        assert_eq!(parse_duration_ms("0.5"), Ok(500));
        assert_eq!(parse_duration_ms("1m30s"), Ok(90_000));
        assert_eq!(parse_duration_ms("-3"), Ok(-3000));
        assert!(parse_duration_ms("1e300")
            .unwrap_err()
            .contains("overflows"));
        assert_eq!(
            parse_duration_ms("5x"),
            Err(r#"cannot parse "5x" to a valid duration"#.into())
        );
    }

    #[test]
    fn rfc3339_in_utc() {
        assert_eq!(
            format_rfc3339(1_435_781_451_781),
            "2015-07-01T20:10:51.781Z"
        );
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
    }

    /// Renders matchers back into selector syntax, quoting values with escapes.
    fn render(name: &str, labels: &[(String, u8, String)]) -> String {
        let ops = ["=", "!=", "=~", "!~"];
        let inner: Vec<String> = labels
            .iter()
            .map(|(n, op, v)| format!("{n}{}{v:?}", ops[*op as usize % 4]))
            .collect();
        format!("{name}{{{}}}", inner.join(","))
    }

    proptest! {
        #[test]
        fn round_trips_generated_selectors(
            name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,10}",
            labels in proptest::collection::vec(("[a-z][a-z0-9_]{0,6}", 0u8..4, "[ -~é\n\t]{0,8}"), 0..4),
        ) {
            let labels: Vec<_> = labels.into_iter().filter(|(n, _, _)| n != "__name__").collect();
            let text = render(&name, &labels);
            match parse_selector(&text) {
                Ok(ms) => {
                    prop_assert_eq!(&ms[0].value, &name);
                    prop_assert_eq!(ms.len(), labels.len() + 1);
                    for (m, (n, _, v)) in ms[1..].iter().zip(&labels) {
                        prop_assert_eq!(&m.name, n);
                        prop_assert_eq!(&m.value, v);
                    }
                }
                // Generated regexes may be invalid; the error must then be about the regex.
                Err(e) => prop_assert!(e.reason.contains("regular expression"), "{}: {}", text, e),
            }
        }

        #[test]
        fn never_panics_on_mutated_input(
            base in prop::sample::select(vec![r#"up{job="a",x=~"b.*"}"#, r#"{__name__!~'x\n'}"#, "m:x{a=`q`}"]),
            pos in 0usize..24,
            byte in any::<u8>(),
        ) {
            let mut bytes = base.as_bytes().to_vec();
            let pos = pos.min(bytes.len());
            bytes.insert(pos, byte);
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_selector(&text);
            let _ = parse_matchers(&text);
        }

        #[test]
        fn never_panics_on_random_input(text in "\\PC{0,40}") {
            let _ = parse_selector(&text);
            let _ = parse_time(&text);
            let _ = parse_duration_ms(&text);
        }
    }
}
