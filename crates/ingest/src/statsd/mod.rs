//! StatsD and DogStatsD: line parsing ([`parse_line`]) and aggregation between
//! flushes ([`Aggregator`]), following statsd_exporter's conventions.
//!
//! Mapping, line kind by line kind:
//! - **Names and tag keys** are sanitised to Prometheus names: every character but ASCII
//!   letters, digits and `_` becomes `_` (`system.cpu.usage` → `system_cpu_usage`), a
//!   leading digit gets a `_` prefix. Tags come as DogStatsD `|#k:v,k2:v2` and/or
//!   InfluxDB-style `name,k=v:1|c`; tag values are kept as sent. A DogStatsD tag without
//!   a value (`|#flag`, `|#k:`) is dropped and counted, as statsd_exporter does (an empty
//!   label value means "no label" in Prometheus anyway).
//! - **Counters** (`c`) keep their name as sent (no `_total` added, like statsd_exporter,
//!   so existing dashboards keep working) and are cumulative across flushes; `|@rate`
//!   scales each increment by `1/rate`. Negative increments are refused.
//! - **Gauges** (`g`) take the last value; a value written with a sign (`+3`, `-2`) changes
//!   the current value instead (so a negative absolute gauge needs `0` first, as in StatsD).
//! - **Timers** (`ms`) are recorded in seconds (value / 1000) in a cumulative histogram
//!   (`_bucket{le}`, `_sum`, `_count`) with [`StatsdConfig::timer_buckets`]; **histograms**
//!   (`h`) and **distributions** (`d`) likewise, values as given. A sampled observation
//!   (`|@0.1`) counts `int(1/rate)` times, like statsd_exporter.
//! - **Sets** (`s`) become a gauge of the number of distinct members seen in the flush
//!   interval (members are compared by a 64-bit hash).
//! - Packed values (`name:1:2:3|ms`) are several observations of one series.
//! - `|T<unix seconds>` stamps the series' next flushed sample with that time instead
//!   of the flush time; `|c:<container>` and unknown `|x` fields are ignored.
//! - DogStatsD events (`_e{…}`) and service checks (`_sc|…`) are counted and ignored, as are
//!   lines starting with `#` (so annotated examples can be sent verbatim).
//! - One name used with kinds of different families (a counter and a gauge) is refused
//!   for the later kind, as statsd_exporter refuses it.
//!
//! Every flush emits every held series (statsd_exporter exposes them all on every
//! scrape), so an idle counter keeps a flat line; [`StatsdConfig::series_ttl_ms`]
//! forgets idle series.

mod aggregate;
mod line;
mod name;

pub use aggregate::{Aggregator, StatsdConfig, StatsdStats};
pub use line::{parse_line, MetricKind, MetricLine, StatsdLine, Value};
