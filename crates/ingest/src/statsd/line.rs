//! Parsing one StatsD / DogStatsD line:
//! `name[,k=v…]:value[:value…]|type[|@rate][|#k:v,…][|T<unix seconds>][|c:<container>]`.

use crate::value::parse_float;

/// The StatsD metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// `c`
    Counter,
    /// `g`
    Gauge,
    /// `ms`
    Timer,
    /// `h`
    Histogram,
    /// `d` (DogStatsD)
    Distribution,
    /// `s`
    Set,
}

/// What a line is.
#[derive(Debug, Clone, PartialEq)]
pub enum StatsdLine<'a> {
    Metric(MetricLine<'a>),
    /// A DogStatsD event (`_e{…}`): not a metric, ignored.
    Event,
    /// A DogStatsD service check (`_sc|…`): not a metric, ignored.
    ServiceCheck,
}

/// A metric line, borrowed from its text. Values and tags are checked by [`parse_line`]
/// and read through [`MetricLine::values`] and [`MetricLine::tags`].
#[derive(Debug, Clone, PartialEq)]
pub struct MetricLine<'a> {
    /// The name as sent, InfluxDB-style tags removed.
    pub name: &'a str,
    pub kind: MetricKind,
    /// The colon-separated values (`1:2:3` when packed).
    pub raw_values: &'a str,
    /// The `@rate`, 1 when absent; in (0, 1].
    pub sample_rate: f64,
    /// InfluxDB-style tags after the name, `k=v,k2=v2` (may be empty).
    pub influx_tags: &'a str,
    /// DogStatsD tags, `k:v,k2:v2` (may be empty).
    pub dog_tags: &'a str,
    /// The DogStatsD `|T` timestamp, in milliseconds.
    pub timestamp_ms: Option<i64>,
}

/// One value of a line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Number(f64),
    /// A gauge value written with a sign: a change of the current value.
    Delta(f64),
    /// A set member.
    Member(&'a str),
}

impl<'a> MetricLine<'a> {
    /// The values, in order (already checked, so none is lost).
    pub fn values(&self) -> impl Iterator<Item = Value<'a>> + '_ {
        let kind = self.kind;
        self.raw_values
            .split(':')
            .filter_map(move |v| parse_value(v, kind).ok())
    }

    /// The tags as (name, value) pairs, InfluxDB-style first. DogStatsD tags without a
    /// value (`|#flag`) or with an empty one are left out, as statsd_exporter does.
    pub fn tags(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        let influx = split_nonempty(self.influx_tags).map(|t| t.split_once('=').unwrap_or((t, "")));
        let dog = split_nonempty(self.dog_tags)
            .filter_map(|t| t.split_once(':'))
            .filter(|(_, v)| !v.is_empty());
        influx.chain(dog)
    }

    /// How many DogStatsD tags [`Self::tags`] leaves out for having no value.
    pub fn valueless_tags(&self) -> usize {
        split_nonempty(self.dog_tags)
            .filter(|t| t.split_once(':').is_none_or(|(_, v)| v.is_empty()))
            .count()
    }
}

fn split_nonempty(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').filter(|t| !t.is_empty())
}

/// Parses one line (without its line feed).
pub fn parse_line(line: &str) -> Result<StatsdLine<'_>, String> {
    if line.starts_with("_e{") {
        return Ok(StatsdLine::Event);
    }
    if line.starts_with("_sc|") {
        return Ok(StatsdLine::ServiceCheck);
    }
    let (head, fields) = line
        .split_once('|')
        .ok_or("missing '|' and the metric type")?;
    let (name_part, raw_values) = head
        .split_once(':')
        .ok_or("missing ':' between the name and the value")?;
    let (name, influx_tags) = name_part.split_once(',').unwrap_or((name_part, ""));
    if name.is_empty() {
        return Err("empty metric name".into());
    }
    if let Some(bad) = split_nonempty(influx_tags).find(|t| !t.contains('=') || t.starts_with('='))
    {
        return Err(format!(
            "malformed InfluxDB-style tag {bad:?}: expected key=value"
        ));
    }
    let mut fields = fields.split('|');
    let kind = match fields.next().unwrap_or("") {
        "c" => MetricKind::Counter,
        "g" => MetricKind::Gauge,
        "ms" => MetricKind::Timer,
        "h" => MetricKind::Histogram,
        "d" => MetricKind::Distribution,
        "s" => MetricKind::Set,
        other => {
            return Err(format!(
                "unknown metric type {other:?} (use c, g, ms, h, d or s)"
            ))
        }
    };
    let mut m = MetricLine {
        name,
        kind,
        raw_values,
        sample_rate: 1.0,
        influx_tags,
        dog_tags: "",
        timestamp_ms: None,
    };
    for field in fields {
        read_field(&mut m, field)?;
    }
    for v in raw_values.split(':') {
        parse_value(v, kind)?;
    }
    Ok(StatsdLine::Metric(m))
}

/// Reads one `|…` field after the type. Unknown fields (such as DogStatsD's `|c:`
/// container id) are ignored, so newer clients keep working.
fn read_field<'a>(m: &mut MetricLine<'a>, field: &'a str) -> Result<(), String> {
    if let Some(rate) = field.strip_prefix('@') {
        m.sample_rate = parse_float(rate)
            .filter(|r| *r > 0.0 && *r <= 1.0)
            .ok_or_else(|| format!("invalid sample rate {rate:?}: must be in (0, 1]"))?;
    } else if let Some(tags) = field.strip_prefix('#') {
        if !m.dog_tags.is_empty() {
            return Err("DogStatsD tags given twice".into());
        }
        m.dog_tags = tags;
    } else if let Some(ts) = field.strip_prefix('T') {
        let secs: i64 = ts
            .parse()
            .map_err(|_| format!("invalid timestamp {ts:?}: expected Unix seconds"))?;
        m.timestamp_ms = Some(
            secs.checked_mul(1000)
                .ok_or_else(|| format!("timestamp {ts:?} out of range"))?,
        );
    }
    Ok(())
}

fn parse_value(v: &str, kind: MetricKind) -> Result<Value<'_>, String> {
    if v.is_empty() {
        return Err("empty value".into());
    }
    if kind == MetricKind::Set {
        return Ok(Value::Member(v));
    }
    let f = parse_float(v)
        .filter(|f| f.is_finite())
        .ok_or_else(|| format!("invalid value {v:?}: expected a finite number"))?;
    match kind {
        MetricKind::Gauge if v.starts_with(['+', '-']) => Ok(Value::Delta(f)),
        MetricKind::Counter if f < 0.0 => Err(format!("counter increment {v} is negative")),
        _ => Ok(Value::Number(f)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(line: &str) -> MetricLine<'_> {
        match parse_line(line) {
            Ok(StatsdLine::Metric(m)) => m,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn every_type_and_field() {
        let m =
            metric("service.requests:1|c|@0.5|#service:ml,endpoint:/predict|T1700000000|c:abc|x");
        assert_eq!(m.name, "service.requests");
        assert_eq!(m.kind, MetricKind::Counter);
        assert_eq!(m.sample_rate, 0.5);
        assert_eq!(m.timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(
            m.tags().collect::<Vec<_>>(),
            [("service", "ml"), ("endpoint", "/predict")]
        );
        for (line, kind) in [
            ("a:1|g", MetricKind::Gauge),
            ("a:1|ms", MetricKind::Timer),
            ("a:1|h", MetricKind::Histogram),
            ("a:1|d", MetricKind::Distribution),
            ("a:x|s", MetricKind::Set),
        ] {
            assert_eq!(metric(line).kind, kind);
        }
    }

    #[test]
    fn values_packing_and_relative_gauges() {
        let m = metric("t:1:2.5:3|ms");
        assert_eq!(
            m.values().collect::<Vec<_>>(),
            [Value::Number(1.0), Value::Number(2.5), Value::Number(3.0)]
        );
        let m = metric("g:+4:-2:7|g");
        assert_eq!(
            m.values().collect::<Vec<_>>(),
            [Value::Delta(4.0), Value::Delta(-2.0), Value::Number(7.0)]
        );
        assert_eq!(
            metric("s:u1:u2|s").values().collect::<Vec<_>>(),
            [Value::Member("u1"), Value::Member("u2")]
        );
    }

    #[test]
    fn influx_and_valueless_tags() {
        let m = metric("cpu,host=a,region=eu:1|c|#flag,env:,team:x");
        assert_eq!(m.name, "cpu");
        assert_eq!(
            m.tags().collect::<Vec<_>>(),
            [("host", "a"), ("region", "eu"), ("team", "x")]
        );
        assert_eq!(m.valueless_tags(), 2);
    }

    #[test]
    fn events_and_service_checks() {
        assert_eq!(parse_line("_e{5,4}:title|text|#a:b"), Ok(StatsdLine::Event));
        assert_eq!(parse_line("_sc|svc|0"), Ok(StatsdLine::ServiceCheck));
    }

    #[test]
    fn bad_lines() {
        let cases = [
            ("a", "missing '|'"),
            ("a|c", "missing ':'"),
            (":1|c", "empty metric name"),
            ("a:1|x", "unknown metric type \"x\""),
            ("a:1|", "unknown metric type \"\""),
            ("a:|c", "empty value"),
            ("a:1::2|c", "empty value"),
            ("a:x|c", "invalid value \"x\""),
            ("a:nan|g", "finite"),
            ("a:-1|c", "negative"),
            ("a:1|c|@0", "invalid sample rate"),
            ("a:1|c|@2", "invalid sample rate"),
            ("a:1|c|@x", "invalid sample rate"),
            ("a:1|c|Tx", "invalid timestamp"),
            ("a:1|c|T99999999999999999", "out of range"),
            ("a:1|c|#a:b|#c:d", "twice"),
            ("a,b:1|c", "malformed InfluxDB-style tag"),
            ("a,=b:1|c", "malformed InfluxDB-style tag"),
        ];
        for (line, reason) in cases {
            let e = parse_line(line).unwrap_err();
            assert!(e.contains(reason), "{line}: {e}");
        }
    }
}
