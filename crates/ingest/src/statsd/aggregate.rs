//! Aggregating StatsD lines between flushes, statsd_exporter style.

use super::line::{parse_line, MetricKind, MetricLine, StatsdLine, Value};
use super::name::sanitize;
use crate::histogram::{with_name, Histogram, HistogramSeries};
use crate::value::DEFAULT_BUCKETS;
use crate::Rejection;
use rustc_hash::{FxHashMap, FxHashSet};
use strata_core::{Labels, MetricMetadata, MetricType, Sample, WriteBatch};

/// How StatsD metrics become series.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsdConfig {
    /// Histogram bucket upper bounds for `ms` timers (in seconds, as timers are recorded
    /// in seconds), and for `h` and `d` values as sent. Default: Prometheus's default
    /// buckets, as statsd_exporter uses.
    pub timer_buckets: Vec<f64>,
    /// A series not updated for this many milliseconds is forgotten at the next flush
    /// (statsd_exporter's `ttl`); 0 keeps every series for the process's lifetime.
    pub series_ttl_ms: i64,
}

impl Default for StatsdConfig {
    fn default() -> Self {
        StatsdConfig {
            timer_buckets: DEFAULT_BUCKETS.to_vec(),
            series_ttl_ms: 0,
        }
    }
}

/// Counts of what an [`Aggregator`] has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatsdStats {
    pub lines_accepted: u64,
    pub lines_rejected: u64,
    /// DogStatsD events (`_e{…}`), not metrics.
    pub events_ignored: u64,
    /// DogStatsD service checks (`_sc|…`), not metrics.
    pub service_checks_ignored: u64,
    /// Lines starting with `#`.
    pub comments_ignored: u64,
    /// DogStatsD tags without a value, left out of the labels.
    pub tags_dropped: u64,
    /// Series currently held.
    pub series: u64,
}

/// The longest excerpt of a bad line quoted in its rejection.
const EXCERPT: usize = 80;

/// What one series accumulates.
enum State {
    Counter {
        labels: Labels,
        total: f64,
    },
    Gauge {
        labels: Labels,
        value: f64,
    },
    Observer {
        series: HistogramSeries,
        hist: Histogram,
    },
    Set {
        labels: Labels,
        members: FxHashSet<u64>,
    },
}

impl State {
    fn family(&self) -> &'static str {
        match self {
            State::Counter { .. } => "counter",
            State::Gauge { .. } => "gauge",
            State::Observer { .. } => "timer/histogram/distribution",
            State::Set { .. } => "set",
        }
    }
}

fn family_of(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Counter => "counter",
        MetricKind::Gauge => "gauge",
        MetricKind::Timer | MetricKind::Histogram | MetricKind::Distribution => {
            "timer/histogram/distribution"
        }
        MetricKind::Set => "set",
    }
}

struct Entry {
    state: State,
    /// The latest `|T` timestamp since the last flush.
    explicit_t: Option<i64>,
    last_seen_ms: i64,
}

/// Accumulates StatsD lines and turns them into samples at each flush.
pub struct Aggregator {
    bounds: Vec<f64>,
    ttl_ms: i64,
    /// The raw text of a line's series (type, name, tags as sent) → entry. Lines of a
    /// known series are found without building their labels.
    by_key: FxHashMap<Box<[u8]>, usize>,
    /// Different texts can name one series (tags in another order): they share an entry.
    by_labels: FxHashMap<Labels, usize>,
    entries: Vec<Entry>,
    announced: FxHashSet<String>,
    new_metadata: Vec<MetricMetadata>,
    key: Vec<u8>,
    stats: StatsdStats,
}

impl Aggregator {
    pub fn new(config: StatsdConfig) -> Self {
        let mut bounds: Vec<f64> = config
            .timer_buckets
            .into_iter()
            .filter(|b| b.is_finite())
            .collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        Aggregator {
            bounds,
            ttl_ms: config.series_ttl_ms,
            by_key: FxHashMap::default(),
            by_labels: FxHashMap::default(),
            entries: Vec::new(),
            announced: FxHashSet::default(),
            new_metadata: Vec::new(),
            key: Vec::with_capacity(128),
            stats: StatsdStats::default(),
        }
    }

    /// Parses a packet (multi-line, `\n` separated); bad lines are returned, the rest kept.
    /// A rejection's `item` is the 1-based line number within the packet.
    pub fn ingest(&mut self, packet: &[u8], now_ms: i64) -> Vec<Rejection> {
        let mut rejected = Vec::new();
        let mut rest = packet;
        let mut line_no = 0;
        while !rest.is_empty() {
            line_no += 1;
            let (raw, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            rest = next;
            if let Err(reason) = self.ingest_line(raw.trim_ascii(), now_ms) {
                self.stats.lines_rejected += 1;
                let excerpt = String::from_utf8_lossy(&raw[..raw.len().min(EXCERPT)]);
                rejected.push(Rejection {
                    item: line_no,
                    reason: format!("{reason}: {excerpt:?}"),
                });
            }
        }
        rejected
    }

    fn ingest_line(&mut self, raw: &[u8], now_ms: i64) -> Result<(), String> {
        if raw.is_empty() {
            return Ok(());
        }
        let line = std::str::from_utf8(raw).map_err(|_| "invalid UTF-8".to_owned())?;
        if line.starts_with('#') {
            self.stats.comments_ignored += 1;
            return Ok(());
        }
        match parse_line(line)? {
            StatsdLine::Metric(m) => {
                self.apply(&m, now_ms)?;
                self.stats.lines_accepted += 1;
            }
            StatsdLine::Event => self.stats.events_ignored += 1,
            StatsdLine::ServiceCheck => self.stats.service_checks_ignored += 1,
        }
        Ok(())
    }

    fn apply(&mut self, m: &MetricLine<'_>, now_ms: i64) -> Result<(), String> {
        self.key.clear();
        self.key.push(m.kind as u8);
        self.key.extend_from_slice(m.name.as_bytes());
        self.key.push(b',');
        self.key.extend_from_slice(m.influx_tags.as_bytes());
        self.key.push(b'|');
        self.key.extend_from_slice(m.dog_tags.as_bytes());
        let idx = match self.by_key.get(self.key.as_slice()) {
            Some(&i) => i,
            None => self.new_series(m, now_ms)?,
        };
        let entry = &mut self.entries[idx];
        entry.last_seen_ms = now_ms;
        if m.timestamp_ms.is_some() {
            entry.explicit_t = m.timestamp_ms;
        }
        // statsd_exporter repeats a sampled observation int(1/rate) times.
        let repeats = (1.0 / m.sample_rate).trunc().max(1.0);
        let divisor = if m.kind == MetricKind::Timer {
            1000.0
        } else {
            1.0
        };
        for v in m.values() {
            match (&mut entry.state, v) {
                (State::Counter { total, .. }, Value::Number(x)) => *total += x / m.sample_rate,
                (State::Gauge { value, .. }, Value::Number(x)) => *value = x,
                (State::Gauge { value, .. }, Value::Delta(x)) => *value += x,
                (State::Observer { hist, .. }, Value::Number(x)) => {
                    hist.observe(&self.bounds, x / divisor, repeats)
                }
                (State::Set { members, .. }, Value::Member(x)) => {
                    members.insert(xxhash_rust::xxh3::xxh3_64(x.as_bytes()));
                }
                // `parse_line` gives each kind only its own value forms.
                _ => {}
            }
        }
        Ok(())
    }

    /// Finds or creates the entry of a line whose text was not seen before.
    fn new_series(&mut self, m: &MetricLine<'_>, now_ms: i64) -> Result<usize, String> {
        let name = sanitize(m.name);
        let mut tag_names = Vec::new();
        for (k, v) in m.tags() {
            tag_names.push((sanitize(k), v));
        }
        self.stats.tags_dropped += m.valueless_tags() as u64;
        let base = Labels::new(tag_names.iter().map(|(k, v)| (k.as_str(), *v)))
            .map_err(|e| format!("metric {name}: {e}"))?;
        let labels = with_name(&base, &name, None).map_err(|e| format!("metric {name}: {e}"))?;
        let idx = match self.by_labels.get(&labels) {
            Some(&i) => {
                let held = self.entries[i].state.family();
                if held != family_of(m.kind) {
                    return Err(format!(
                        "metric {name} is a {held}, not a {}",
                        family_of(m.kind)
                    ));
                }
                i
            }
            None => {
                let state = self.new_state(m.kind, &name, &base, labels.clone())?;
                self.announce(&name, &state);
                self.entries.push(Entry {
                    state,
                    explicit_t: None,
                    last_seen_ms: now_ms,
                });
                self.by_labels.insert(labels, self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        self.by_key.insert(self.key.as_slice().into(), idx);
        Ok(idx)
    }

    fn new_state(
        &self,
        kind: MetricKind,
        name: &str,
        base: &Labels,
        labels: Labels,
    ) -> Result<State, String> {
        Ok(match kind {
            MetricKind::Counter => State::Counter { labels, total: 0.0 },
            MetricKind::Gauge => State::Gauge { labels, value: 0.0 },
            MetricKind::Set => State::Set {
                labels,
                members: FxHashSet::default(),
            },
            MetricKind::Timer | MetricKind::Histogram | MetricKind::Distribution => {
                State::Observer {
                    series: HistogramSeries::new(name, base, &self.bounds)
                        .map_err(|e| format!("metric {name}: {e}"))?,
                    hist: Histogram::new(&self.bounds),
                }
            }
        })
    }

    fn announce(&mut self, name: &str, state: &State) {
        if self.announced.contains(name) {
            return;
        }
        self.announced.insert(name.to_owned());
        let kind = match state {
            State::Counter { .. } => MetricType::Counter,
            State::Gauge { .. } | State::Set { .. } => MetricType::Gauge,
            State::Observer { .. } => MetricType::Histogram,
        };
        self.new_metadata.push(MetricMetadata {
            metric: name.to_owned(),
            kind,
            ..Default::default()
        });
    }

    /// Every held series as samples at `now_ms` (or its latest `|T` timestamp since the
    /// last flush); metadata of families first seen since the last flush. Set counts
    /// restart; counters and histograms stay cumulative; series idle past the TTL are
    /// forgotten first.
    pub fn flush(&mut self, now_ms: i64) -> WriteBatch {
        self.evict_idle(now_ms);
        let mut samples = Vec::with_capacity(self.entries.len());
        for e in &mut self.entries {
            let t = e.explicit_t.take().unwrap_or(now_ms);
            let mut push = |labels: &Labels, v: f64| {
                samples.push(Sample {
                    labels: labels.clone(),
                    t,
                    v,
                })
            };
            match &mut e.state {
                State::Counter { labels, total } => push(labels, *total),
                State::Gauge { labels, value } => push(labels, *value),
                State::Set { labels, members } => {
                    push(labels, members.len() as f64);
                    members.clear();
                }
                State::Observer { series, hist } => hist.samples(series, t, &mut samples),
            }
        }
        WriteBatch {
            samples,
            metadata: std::mem::take(&mut self.new_metadata),
        }
    }

    fn evict_idle(&mut self, now_ms: i64) {
        let ttl = self.ttl_ms;
        let idle = |e: &Entry| ttl > 0 && now_ms.saturating_sub(e.last_seen_ms) >= ttl;
        if !self.entries.iter().any(idle) {
            return;
        }
        let mut remap = Vec::with_capacity(self.entries.len());
        let mut kept = 0;
        for e in &self.entries {
            remap.push((!idle(e)).then(|| {
                kept += 1;
                kept - 1
            }));
        }
        self.entries.retain(|e| !idle(e));
        let relink = |i: &mut usize| match remap[*i] {
            Some(new) => {
                *i = new;
                true
            }
            None => false,
        };
        self.by_key.retain(|_, i| relink(i));
        self.by_labels.retain(|_, i| relink(i));
    }

    pub fn lines_accepted(&self) -> u64 {
        self.stats.lines_accepted
    }

    pub fn lines_rejected(&self) -> u64 {
        self.stats.lines_rejected
    }

    /// All counters, and the number of series held.
    pub fn stats(&self) -> StatsdStats {
        StatsdStats {
            series: self.entries.len() as u64,
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests;
