//! Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text.
//!
//! [`parse`] reads a whole body into samples and family metadata, or refuses it whole at
//! the first syntax error (a scrape or push is all or nothing, as in Prometheus), with a
//! [`ParseError`] naming line, column and reason.
//!
//! Decisions, where the formats leave room or Prometheus has a convention:
//! - Timestamps are integer milliseconds in text format and float seconds in OpenMetrics
//!   (rounded to the nearest millisecond, so `1.001` is 1001 ms despite float error). A
//!   sample without one gets the caller's `default_ts_ms`.
//! - Values are Go-style floats: decimals, `NaN`, `Inf`/`+Inf`/`-Inf` in any case.
//! - Label values unescape `\\`, `\"` and `\n`; any other backslash is kept as written.
//!   Empty label values mean "no such label" (Prometheus semantics).
//! - `le` of a histogram's `_bucket` samples and `quantile` of a summary's samples are
//!   normalised to Prometheus's float formatting (`le="1"` → `le="1.0"`), as Prometheus 3
//!   does when scraping, so the same bucket always is the same series whatever the
//!   exporter wrote. Other labels are never rewritten.
//! - OpenMetrics `_created` samples of counters, histograms and summaries are dropped
//!   (Prometheus's default); in text format there is no such convention and they are kept.
//! - OpenMetrics bodies must end with `# EOF` and have nothing but blanks after it.
//! - Exemplars (` # {labels} value [ts]`) are checked for syntax and dropped, in both formats.
//! - Metric and label names are the classic Prometheus names; Prometheus 3's quoted
//!   UTF-8 names (`{"my.metric"}`) are refused, as Strata's label model does not hold them.
//! - `\r` before a line feed is ignored; blank lines are skipped; in text format, comments
//!   other than `HELP`/`TYPE` are ignored, while OpenMetrics allows only `HELP`, `TYPE`,
//!   `UNIT` and `EOF`.

mod cache;
mod cursor;
mod sample;

use cache::{FloatLabel, SeriesCache};
use cursor::{metric_name, Cursor, LineError, LineResult};
use rustc_hash::FxHashMap;
use sample::{scan_series, scan_tail, LabelSpan, Text};
use strata_core::{
    LabelError, Labels, MetricMetadata, MetricType, Sample, WriteBatch, METRIC_NAME,
};

use crate::value::{format_float, is_formatted_float, parse_float};

/// Which of the two text formats a body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

/// Chooses the format: OpenMetrics when the Content-Type says
/// `application/openmetrics-text` or the body's last line is `# EOF`, text otherwise.
/// (Some exporters end text-format bodies with `# EOF` too; such bodies parse the same
/// either way unless they carry timestamps, which OpenMetrics reads as seconds.)
pub fn detect_format(content_type: Option<&str>, body: &[u8]) -> Format {
    let declared_om = content_type.is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/openmetrics-text")
        })
    });
    if declared_om || ends_with_eof_line(body) {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

fn ends_with_eof_line(body: &[u8]) -> bool {
    let end = body
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let trimmed = &body[..end];
    trimmed.ends_with(b"# EOF") && (trimmed.len() == 5 || trimmed[trimmed.len() - 6] == b'\n')
}

/// A key for the source of a body, to give bodies from one source the same
/// [`Decoder`]: a hash of the series text of its first sample line (a source starts
/// every push with the same series). Any body has a key; a body without sample lines
/// hashes its first bytes.
pub fn source_key(body: &[u8]) -> u64 {
    const MAX_KEY: usize = 1024;
    let first_sample = body
        .split(|&b| b == b'\n')
        .map(|line| line.trim_ascii_start())
        .find(|line| !line.is_empty() && line[0] != b'#')
        .unwrap_or(body);
    let blank = memchr::memchr2(b' ', b'\t', first_sample).unwrap_or(first_sample.len());
    let end = match memchr::memchr(b'{', &first_sample[..blank]) {
        Some(_) => memchr::memchr(b'}', first_sample).map_or(first_sample.len(), |i| i + 1),
        None => blank,
    };
    xxhash_rust::xxh3::xxh3_64(&first_sample[..end.min(MAX_KEY)])
}

/// A syntax error: the whole body is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {reason}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based byte column within the line.
    pub column: usize,
    pub reason: String,
}

/// Parses a whole body. Samples without a timestamp get `default_ts_ms`.
pub fn parse(body: &[u8], format: Format, default_ts_ms: i64) -> Result<WriteBatch, ParseError> {
    Decoder::new(0).parse(body, format, default_ts_ms)
}

/// A parser that remembers the label sets of the previous body's series, so the next
/// body from the same source (the next scrape or push) decodes faster. Keep one per
/// source (or per connection) for the best effect; results are identical to [`parse`].
pub struct Decoder {
    cache: SeriesCache,
}

impl Decoder {
    /// Remembers at most `max_series` series of a body (0: none, which is [`parse`]).
    pub fn new(max_series: usize) -> Self {
        Decoder {
            cache: SeriesCache::new(max_series),
        }
    }

    /// Parses a whole body, as [`parse`].
    pub fn parse(
        &mut self,
        body: &[u8],
        format: Format,
        default_ts_ms: i64,
    ) -> Result<WriteBatch, ParseError> {
        let text = std::str::from_utf8(body).map_err(|e| utf8_error(body, e))?;
        self.cache.start_body();
        let mut parser = Parser::new(format, default_ts_ms, &mut self.cache);
        // One sample per line at most: reserving up front avoids regrowing a large vector.
        let lines = memchr::memchr_iter(b'\n', body).count() + 1;
        parser.batch.samples.reserve(lines);
        parser.parse(text)?;
        Ok(parser.batch)
    }

    /// How many series it remembers from the latest body.
    pub fn cached_series(&self) -> usize {
        self.cache.len()
    }
}

fn utf8_error(body: &[u8], e: std::str::Utf8Error) -> ParseError {
    let valid = &body[..e.valid_up_to()];
    let line_start = memchr::memrchr(b'\n', valid).map_or(0, |i| i + 1);
    ParseError {
        line: memchr::memchr_iter(b'\n', valid).count() + 1,
        column: valid.len() - line_start + 1,
        reason: "invalid UTF-8".to_owned(),
    }
}

/// Bounds how many distinct `le`/`quantile` spellings one parse remembers.
const MAX_CACHED_FLOATS: usize = 1024;

struct Parser<'c> {
    cache: &'c mut SeriesCache,
    format: Format,
    default_ts_ms: i64,
    batch: WriteBatch,
    /// Family name → index into `batch.metadata`.
    families: FxHashMap<String, usize>,
    /// The family named by the latest HELP/TYPE/UNIT line.
    current: Option<usize>,
    /// The previous sample's name and its family, as consecutive samples mostly share it.
    last_name: String,
    last_family: (MetricType, Option<&'static str>),
    /// Bucket bounds and quantiles as written → as Prometheus formats them.
    normal_floats: FxHashMap<String, String>,
    spans: Vec<LabelSpan>,
    scratch: String,
    /// Reused label-pair buffer (see [`recycle`]).
    pairs: Vec<(&'static str, &'static str)>,
}

impl<'c> Parser<'c> {
    fn new(format: Format, default_ts_ms: i64, cache: &'c mut SeriesCache) -> Self {
        Parser {
            cache,
            format,
            default_ts_ms,
            batch: WriteBatch::default(),
            families: FxHashMap::default(),
            current: None,
            last_name: String::new(),
            last_family: (MetricType::Unknown, None),
            normal_floats: FxHashMap::default(),
            spans: Vec::with_capacity(16),
            scratch: String::new(),
            pairs: Vec::with_capacity(16),
        }
    }

    fn parse(&mut self, text: &str) -> Result<(), ParseError> {
        let mut rest = text;
        let mut line_no = 0;
        let mut saw_eof = false;
        while !rest.is_empty() {
            line_no += 1;
            let (line, next) = match memchr::memchr(b'\n', rest.as_bytes()) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, ""),
            };
            rest = next;
            let line = line.strip_suffix('\r').unwrap_or(line);
            let at = |e: LineError| ParseError {
                line: line_no,
                column: e.pos + 1,
                reason: e.reason,
            };
            if saw_eof {
                if line.trim().is_empty() {
                    continue;
                }
                return Err(at(LineError::new(0, "unexpected content after \"# EOF\"")));
            }
            let indented = matches!(line.as_bytes().first(), Some(b' ' | b'\t'));
            let lead = match self.format {
                Format::Text if indented => line.len() - line.trim_start_matches([' ', '\t']).len(),
                _ => 0,
            };
            let shifted = |mut e: LineError| {
                e.pos += lead;
                at(e)
            };
            let line = &line[lead..];
            match line.as_bytes().first() {
                None => {}
                Some(b'#') => saw_eof = self.comment(line).map_err(shifted)?,
                Some(_) => self.sample(line).map_err(shifted)?,
            }
        }
        if self.format == Format::OpenMetrics && !saw_eof {
            return Err(ParseError {
                line: line_no.max(1),
                column: 1,
                reason: "OpenMetrics body does not end with \"# EOF\"".to_owned(),
            });
        }
        Ok(())
    }

    /// Reads a comment line; returns true for OpenMetrics's `# EOF`.
    fn comment(&mut self, line: &str) -> LineResult<bool> {
        let om = self.format == Format::OpenMetrics;
        let mut c = Cursor::new(line);
        c.pos = 1;
        let blanks = c.skip_blanks();
        let keyword = c.take_while(|b| b.is_ascii_alphabetic());
        let known = matches!(keyword, "HELP" | "TYPE") || (om && keyword == "UNIT");
        if om && keyword == "EOF" && blanks > 0 && c.rest().trim().is_empty() {
            return Ok(true);
        }
        if blanks == 0 || !known || !matches!(c.peek(), None | Some(b' ' | b'\t')) {
            return if om {
                Err(LineError::new(
                    0,
                    "OpenMetrics allows only \"# HELP\", \"# TYPE\", \"# UNIT\" and \"# EOF\" comments",
                ))
            } else {
                Ok(false)
            };
        }
        if c.skip_blanks() == 0 {
            return Err(c.unexpected("a metric name"));
        }
        let name = metric_name(&mut c)?;
        if !c.at_end() && c.skip_blanks() == 0 {
            return Err(c.unexpected("a space after the metric name"));
        }
        let idx = self.family(name);
        let md = &mut self.batch.metadata[idx];
        match keyword {
            "TYPE" => {
                let at = c.pos;
                let kind = c.token();
                md.kind = metric_type(kind, self.format)
                    .ok_or_else(|| LineError::new(at, format!("unknown metric type {kind:?}")))?;
                c.skip_blanks();
                if !c.at_end() {
                    return Err(c.unexpected("end of line after the metric type"));
                }
            }
            "HELP" => md.help = unescape_help(c.rest(), om),
            _ => md.unit = c.rest().to_owned(),
        }
        self.current = Some(idx);
        self.last_name.clear();
        Ok(false)
    }

    /// The metadata entry of a family, created on first mention.
    fn family(&mut self, name: &str) -> usize {
        if let Some(&i) = self.families.get(name) {
            return i;
        }
        let i = self.batch.metadata.len();
        self.batch.metadata.push(MetricMetadata {
            metric: name.to_owned(),
            ..Default::default()
        });
        self.families.insert(name.to_owned(), i);
        i
    }

    fn sample(&mut self, line: &str) -> LineResult<()> {
        self.spans.clear();
        self.scratch.clear();
        // Before any `# TYPE` line every family is unknown, whatever the name: the
        // name is then read only if the series text has to be scanned.
        let (kind, suffix) = match self.current {
            None => (MetricType::Unknown, None),
            Some(_) => {
                let name = metric_name(&mut Cursor::new(line))?;
                if name != self.last_name {
                    self.last_family = self.family_of(name);
                    self.last_name.clear();
                    self.last_name.push_str(name);
                }
                self.last_family
            }
        };
        let mode = match (kind, suffix) {
            (MetricType::Histogram | MetricType::GaugeHistogram, Some("_bucket")) => FloatLabel::Le,
            (MetricType::Summary, Some("")) => FloatLabel::Quantile,
            _ => FloatLabel::None,
        };
        // A series text seen in the previous body was valid then and is valid now: only
        // the value and timestamp after it are left to read.
        let cached = self.cache.get(mode, line.as_bytes());
        let (name, series_end) = match &cached {
            Some((end, _)) => ("", *end),
            None => scan_series(line, &mut self.spans, &mut self.scratch)?,
        };
        let tail = scan_tail(line, series_end, &mut self.spans, &mut self.scratch)?;
        let has_created = matches!(
            kind,
            MetricType::Counter
                | MetricType::Histogram
                | MetricType::Summary
                | MetricType::GaugeHistogram
        );
        if self.format == Format::OpenMetrics && suffix == Some("_created") && has_created {
            return Ok(());
        }
        let t = match tail.timestamp {
            None => self.default_ts_ms,
            Some((at, tok)) => timestamp_ms(tok, self.format)
                .ok_or_else(|| LineError::new(at, format!("invalid timestamp {tok:?}")))?,
        };
        let series_text = &line.as_bytes()[..series_end];
        let reused = match cached {
            Some((_, labels)) => Some(labels),
            None => self.cache.get_built(mode, series_text),
        };
        let labels = match reused {
            Some(labels) => {
                self.cache.record(mode, series_text, &labels);
                labels
            }
            None => {
                if let Some(label) = mode.name() {
                    self.normalise_float_label(line, label);
                }
                let labels = self.labels(line, name)?;
                self.cache.record_built(mode, series_text, &labels);
                labels
            }
        };
        self.batch.samples.push(Sample {
            labels,
            t,
            v: tail.value,
        });
        Ok(())
    }

    /// The type of the current family and the sample name's suffix, when the sample
    /// belongs to it.
    fn family_of(&self, name: &str) -> (MetricType, Option<&'static str>) {
        const SUFFIXES: [&str; 9] = [
            "", "_bucket", "_sum", "_count", "_total", "_created", "_gcount", "_gsum", "_info",
        ];
        let Some(md) = self.current.map(|i| &self.batch.metadata[i]) else {
            return (MetricType::Unknown, None);
        };
        let suffix = name
            .strip_prefix(md.metric.as_str())
            .and_then(|rest| SUFFIXES.iter().find(|s| **s == rest).copied());
        (md.kind, suffix)
    }

    /// Rewrites the value of label `name` (if present and a float) in Prometheus's
    /// float formatting. Bounds repeat across a body, so their formatting is cached.
    fn normalise_float_label(&mut self, line: &str, name: &str) {
        // `le` and `quantile` usually come last.
        let Some(i) = self
            .spans
            .iter()
            .rposition(|s| &line[s.name.clone()] == name)
        else {
            return;
        };
        let raw = self.spans[i].value.resolve(line, &self.scratch);
        if is_formatted_float(raw) {
            return;
        }
        let normal = match self.normal_floats.get(raw) {
            Some(normal) => normal,
            None => {
                let Some(f) = parse_float(raw) else {
                    return;
                };
                if self.normal_floats.len() >= MAX_CACHED_FLOATS {
                    self.normal_floats.clear();
                }
                self.normal_floats
                    .entry(raw.to_owned())
                    .or_insert(format_float(f))
            }
        };
        if normal == raw {
            return;
        }
        let from = self.scratch.len();
        self.scratch.push_str(normal);
        self.spans[i].value = Text::Scratch(from..self.scratch.len());
    }

    fn labels(&mut self, line: &str, name: &str) -> LineResult<Labels> {
        let mut pairs = recycle(std::mem::take(&mut self.pairs));
        pairs.push((METRIC_NAME, name));
        for s in &self.spans {
            pairs.push((&line[s.name.clone()], s.value.resolve(line, &self.scratch)));
        }
        let result = Labels::from_pairs(&mut pairs);
        self.pairs = recycle(pairs);
        result.map_err(|e| self.label_error(line, e))
    }

    fn label_error(&self, line: &str, e: LabelError) -> LineError {
        let pos = match &e {
            LabelError::Duplicate(dup) => self
                .spans
                .iter()
                .filter(|s| &line[s.name.clone()] == dup)
                .nth(usize::from(dup != METRIC_NAME))
                .map_or(0, |s| s.name.start),
            _ => 0,
        };
        LineError::new(pos, e.to_string())
    }
}

/// Empties a pair buffer and gives it back with a new lifetime, keeping its allocation
/// (the in-place `collect` reuses it), so building a label set allocates only the result.
fn recycle<'b>(mut pairs: Vec<(&str, &str)>) -> Vec<(&'b str, &'b str)> {
    pairs.clear();
    pairs.into_iter().map(|_| ("", "")).collect()
}

fn metric_type(s: &str, format: Format) -> Option<MetricType> {
    let kind: MetricType = s.parse().ok()?;
    let allowed = match format {
        Format::Text => matches!(
            (s, kind),
            ("untyped", _)
                | (
                    _,
                    MetricType::Counter
                        | MetricType::Gauge
                        | MetricType::Histogram
                        | MetricType::Summary
                )
        ),
        Format::OpenMetrics => s != "untyped",
    };
    allowed.then_some(kind)
}

fn timestamp_ms(tok: &str, format: Format) -> Option<i64> {
    match format {
        Format::Text => tok.parse().ok(),
        Format::OpenMetrics => {
            let ms = (parse_float(tok)? * 1000.0).round();
            // i64::MAX as f64 rounds up to 2^63, which is out of range: compare with <.
            (ms.is_finite() && ms >= i64::MIN as f64 && ms < i64::MAX as f64).then_some(ms as i64)
        }
    }
}

/// HELP text escapes: `\\` and `\n`, and in OpenMetrics also `\"`.
fn unescape_help(s: &str, om: bool) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some('"') if om => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests;
