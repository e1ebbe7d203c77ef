//! The server's configuration: command-line flags over `METRICS_*` environment
//! variables over a YAML file over defaults.
//!
//! clap reads flags and environment variables into one [`Settings`] of `Option`s (a flag
//! beats its variable); the YAML file deserializes into the same struct, and
//! [`Settings::or`] fills what the command line left unset. [`Config::resolve`] then
//! applies the defaults and checks every value, so a bad setting is reported once, by
//! name, before anything starts.

use clap::Args;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use strata_core::{format_duration, parse_duration};

/// Every setting, as given on the command line, in the environment or in the YAML file.
/// `None` means "not given here".
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Directory of the embedded store (WAL, blocks). [default: ./data]
    #[arg(long, env = "METRICS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Address of the HTTP API. [default: 127.0.0.1:9410]
    #[arg(long, env = "METRICS_HTTP_ADDR", value_name = "ADDR")]
    pub http_addr: Option<String>,

    /// Address of the StatsD listener, UDP and TCP on the same port; `off` disables it.
    /// [default: 127.0.0.1:8125]
    #[arg(long, env = "METRICS_STATSD_ADDR", value_name = "ADDR|off")]
    pub statsd_addr: Option<String>,

    /// Log filter, e.g. `info` or `strata_server=debug,info`. [default: info]
    #[arg(long, env = "METRICS_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,

    /// Ingest requests allowed to queue (receiving their body or waiting for a worker)
    /// beyond those being worked on; past it requests get 429 with Retry-After.
    /// [default: 10000]
    #[arg(long, env = "METRICS_INGESTION_BUFFER_SIZE", value_name = "REQUESTS")]
    pub ingestion_buffer_size: Option<usize>,

    /// How often StatsD aggregates are written to the store. [default: 10s]
    #[arg(
        long,
        env = "METRICS_INGESTION_FLUSH_INTERVAL",
        value_name = "DURATION"
    )]
    pub ingestion_flush_interval: Option<String>,

    /// Most samples per store append when StatsD aggregates are flushed. [default: 1000]
    #[arg(long, env = "METRICS_INGESTION_MAX_BATCH_SIZE", value_name = "SAMPLES")]
    pub ingestion_max_batch_size: Option<usize>,

    /// Ingest requests decoded and appended at the same time. [default: 8]
    #[arg(long, env = "METRICS_INGESTION_WORKERS", value_name = "N")]
    pub ingestion_workers: Option<usize>,

    /// Most items in one request to /api/v1/internal/metrics/batch. [default: 10000]
    #[arg(long, env = "METRICS_BATCH_MAX_ITEMS", value_name = "ITEMS")]
    pub batch_max_items: Option<usize>,

    /// Largest accepted request body, before and after Content-Encoding decoding
    /// (bytes, or with a KiB/MiB/GiB suffix). [default: 64MiB]
    #[arg(long, env = "METRICS_MAX_BODY_SIZE", value_name = "SIZE")]
    pub max_body_size: Option<String>,

    /// Event ids remembered to count a repeated event once. [default: 1000000]
    #[arg(long, env = "METRICS_EVENTS_REMEMBERED_IDS", value_name = "N")]
    pub events_remembered_ids: Option<usize>,

    /// StatsD timer/histogram bucket upper bounds in seconds, comma-separated.
    /// [default: 0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10]
    #[arg(long, env = "METRICS_STATSD_TIMER_BUCKETS", value_name = "LIST")]
    pub statsd_timer_buckets: Option<String>,

    /// Age below which data is "hot": still arriving, never served from the query cache,
    /// and reported as `hot_storage` by the spec's query API. [default: 300s]
    #[arg(long, env = "METRICS_HOT_STORAGE_TTL", value_name = "DURATION")]
    pub hot_storage_ttl: Option<String>,

    /// Retention of the embedded store: whole blocks older than this are dropped;
    /// `0` keeps data forever. [default: 90d]
    #[arg(long, env = "METRICS_WARM_STORAGE_RETENTION", value_name = "DURATION")]
    pub warm_storage_retention: Option<String>,

    /// Retention of the cold tier (Parquet archives; reported, no cold tier yet). [default: 3y]
    #[arg(long, env = "METRICS_COLD_STORAGE_RETENTION", value_name = "DURATION")]
    pub cold_storage_retention: Option<String>,

    /// Compression effort, 1 (fastest) to 9 (smallest); checked and reported, while the
    /// embedded store picks the smallest codec per chunk on its own. [default: 6]
    #[arg(long, env = "METRICS_COMPRESSION_LEVEL", value_name = "1-9")]
    pub compression_level: Option<u32>,

    /// fsync the WAL before acknowledging a write. `false` trades the last moments of
    /// acknowledged samples on a crash for throughput. [default: true]
    #[arg(long, env = "METRICS_WAL_SYNC", value_name = "BOOL", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub wal_sync: Option<bool>,

    /// Most series in the in-memory head; beyond it writes get 429. [default: 2000000]
    #[arg(long, env = "METRICS_MAX_HEAD_SERIES", value_name = "SERIES")]
    pub max_head_series: Option<usize>,

    /// Time span of the head cut into one on-disk block. [default: 2h]
    #[arg(long, env = "METRICS_HEAD_BLOCK_DURATION", value_name = "DURATION")]
    pub head_block_duration: Option<String>,

    /// Longest a query may run. [default: 30s]
    #[arg(long, env = "METRICS_QUERY_TIMEOUT", value_name = "DURATION")]
    pub query_timeout: Option<String>,

    /// Most series one query may select. [default: 10000]
    #[arg(long, env = "METRICS_QUERY_MAX_SERIES", value_name = "SERIES")]
    pub query_max_series: Option<usize>,

    /// Most samples one query may load. [default: 50000000]
    #[arg(long, env = "METRICS_QUERY_MAX_SAMPLES", value_name = "SAMPLES")]
    pub query_max_samples: Option<usize>,

    /// How far back an instant selector looks for a sample. [default: 5m]
    #[arg(long, env = "METRICS_QUERY_LOOKBACK_DELTA", value_name = "DURATION")]
    pub query_lookback_delta: Option<String>,

    /// Time a cached result of a closed time range is kept. [default: 300s]
    #[arg(long, env = "METRICS_CACHE_TTL", value_name = "DURATION")]
    pub cache_ttl: Option<String>,

    /// Read requests admitted at the same time; more wait up to 2 s, then get 503.
    /// [default: 100]
    #[arg(long, env = "METRICS_MAX_CONCURRENT_QUERIES", value_name = "N")]
    pub max_concurrent_queries: Option<usize>,

    /// Evaluations of admitted read requests running at the same time; the others
    /// wait their turn in arrival order. [default: the number of cores]
    #[arg(long, env = "METRICS_QUERY_WORKERS", value_name = "N")]
    pub query_workers: Option<usize>,

    /// Retention per class of metrics (YAML file only: `retention_policies:`).
    #[arg(skip)]
    pub retention_policies: Option<BTreeMap<String, RetentionPolicySettings>>,
}

/// One entry of the YAML `retention_policies` block, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicySettings {
    pub raw_retention: String,
    pub aggregated_1m_retention: String,
    pub aggregated_1h_retention: String,
    pub aggregated_1d_retention: String,
}

/// A setting that was refused: which one, and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid setting {setting}: {reason}")]
    Invalid { setting: String, reason: String },
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

/// A refused setting; an environment variable name also gets its flag, so the message
/// helps whichever way the value was given.
fn invalid(setting: &str, reason: impl Into<String>) -> ConfigError {
    let setting = match setting.strip_prefix("METRICS_") {
        Some(rest) => format!(
            "{setting} (--{})",
            rest.to_ascii_lowercase().replace('_', "-")
        ),
        None => setting.to_owned(),
    };
    ConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
}

/// Fills each unset field of `$a` from `$b`.
macro_rules! fill_unset {
    ($a:ident, $b:ident; $($field:ident),* $(,)?) => {
        $( if $a.$field.is_none() { $a.$field = $b.$field; } )*
    };
}

impl Settings {
    /// These settings, with anything unset taken from `fallback`.
    pub fn or(mut self, fallback: Settings) -> Settings {
        fill_unset!(self, fallback;
            data_dir, http_addr, statsd_addr, log_level,
            ingestion_buffer_size, ingestion_flush_interval, ingestion_max_batch_size,
            ingestion_workers, batch_max_items, max_body_size, events_remembered_ids,
            statsd_timer_buckets, hot_storage_ttl, warm_storage_retention,
            cold_storage_retention, compression_level, wal_sync, max_head_series,
            head_block_duration, query_timeout, query_max_series, query_max_samples,
            query_lookback_delta, cache_ttl, max_concurrent_queries, query_workers,
            retention_policies,
        );
        self
    }

    /// Reads a YAML config file whose keys are the flag names with `_` for `-`.
    pub fn from_yaml_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        if text.trim().is_empty() {
            return Ok(Settings::default());
        }
        serde_yaml_ng::from_str(&text).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }
}

/// Retention of one class of metrics, per resolution.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RetentionPolicy {
    #[serde(serialize_with = "ser_duration")]
    pub raw: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub aggregated_1m: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub aggregated_1h: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub aggregated_1d: Duration,
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

/// The resolved configuration: defaults applied, every value checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub http_addr: SocketAddr,
    /// `None` when StatsD is off.
    pub statsd_addr: Option<SocketAddr>,
    pub log_level: String,
    pub ingestion_buffer_size: usize,
    pub ingestion_flush_interval: Duration,
    pub ingestion_max_batch_size: usize,
    pub ingestion_workers: usize,
    pub batch_max_items: usize,
    pub max_body_size: usize,
    pub events_remembered_ids: usize,
    pub statsd_timer_buckets: Vec<f64>,
    pub hot_storage_ttl: Duration,
    /// `None` keeps data forever.
    pub warm_storage_retention: Option<Duration>,
    pub cold_storage_retention: Duration,
    pub compression_level: u32,
    pub wal_sync: bool,
    pub max_head_series: usize,
    pub head_block_duration: Duration,
    pub query_timeout: Duration,
    pub query_max_series: usize,
    pub query_max_samples: usize,
    pub query_lookback_delta: Duration,
    pub cache_ttl: Duration,
    pub max_concurrent_queries: usize,
    pub query_workers: usize,
    pub retention_policies: BTreeMap<String, RetentionPolicy>,
}

const DEFAULT_TIMER_BUCKETS: &str = "0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10";

impl Config {
    /// Applies defaults to `s` and checks every value.
    pub fn resolve(s: Settings) -> Result<Config, ConfigError> {
        let warm = duration(
            "METRICS_WARM_STORAGE_RETENTION",
            s.warm_storage_retention,
            "90d",
        )?;
        Ok(Config {
            data_dir: s.data_dir.unwrap_or_else(|| PathBuf::from("./data")),
            http_addr: socket_addr(
                "METRICS_HTTP_ADDR",
                s.http_addr.as_deref().unwrap_or("127.0.0.1:9410"),
            )?,
            statsd_addr: match s.statsd_addr.as_deref().unwrap_or("127.0.0.1:8125") {
                "off" => None,
                addr => Some(socket_addr("METRICS_STATSD_ADDR", addr)?),
            },
            log_level: log_filter(s.log_level.unwrap_or_else(|| "info".to_owned()))?,
            ingestion_buffer_size: positive(
                "METRICS_INGESTION_BUFFER_SIZE",
                s.ingestion_buffer_size,
                10_000,
            )?,
            ingestion_flush_interval: nonzero_duration(
                "METRICS_INGESTION_FLUSH_INTERVAL",
                s.ingestion_flush_interval,
                "10s",
            )?,
            ingestion_max_batch_size: positive(
                "METRICS_INGESTION_MAX_BATCH_SIZE",
                s.ingestion_max_batch_size,
                1000,
            )?,
            ingestion_workers: positive("METRICS_INGESTION_WORKERS", s.ingestion_workers, 8)?,
            batch_max_items: positive("METRICS_BATCH_MAX_ITEMS", s.batch_max_items, 10_000)?,
            max_body_size: byte_size("METRICS_MAX_BODY_SIZE", s.max_body_size.as_deref())?,
            events_remembered_ids: positive(
                "METRICS_EVENTS_REMEMBERED_IDS",
                s.events_remembered_ids,
                1_000_000,
            )?,
            statsd_timer_buckets: buckets(
                "METRICS_STATSD_TIMER_BUCKETS",
                s.statsd_timer_buckets
                    .as_deref()
                    .unwrap_or(DEFAULT_TIMER_BUCKETS),
            )?,
            hot_storage_ttl: nonzero_duration(
                "METRICS_HOT_STORAGE_TTL",
                s.hot_storage_ttl,
                "300s",
            )?,
            warm_storage_retention: (!warm.is_zero()).then_some(warm),
            cold_storage_retention: duration(
                "METRICS_COLD_STORAGE_RETENTION",
                s.cold_storage_retention,
                "3y",
            )?,
            compression_level: match s.compression_level.unwrap_or(6) {
                level @ 1..=9 => level,
                other => {
                    return Err(invalid(
                        "METRICS_COMPRESSION_LEVEL",
                        format!("{other} is outside 1..=9"),
                    ))
                }
            },
            wal_sync: s.wal_sync.unwrap_or(true),
            max_head_series: positive("METRICS_MAX_HEAD_SERIES", s.max_head_series, 2_000_000)?,
            head_block_duration: nonzero_duration(
                "METRICS_HEAD_BLOCK_DURATION",
                s.head_block_duration,
                "2h",
            )?,
            query_timeout: nonzero_duration("METRICS_QUERY_TIMEOUT", s.query_timeout, "30s")?,
            query_max_series: positive("METRICS_QUERY_MAX_SERIES", s.query_max_series, 10_000)?,
            query_max_samples: positive(
                "METRICS_QUERY_MAX_SAMPLES",
                s.query_max_samples,
                50_000_000,
            )?,
            query_lookback_delta: nonzero_duration(
                "METRICS_QUERY_LOOKBACK_DELTA",
                s.query_lookback_delta,
                "5m",
            )?,
            cache_ttl: duration("METRICS_CACHE_TTL", s.cache_ttl, "300s")?,
            max_concurrent_queries: positive(
                "METRICS_MAX_CONCURRENT_QUERIES",
                s.max_concurrent_queries,
                100,
            )?,
            query_workers: positive(
                "METRICS_QUERY_WORKERS",
                s.query_workers,
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )?,
            retention_policies: retention_policies(s.retention_policies.unwrap_or_default())?,
        })
    }
}

fn log_filter(filter: String) -> Result<String, ConfigError> {
    match tracing_subscriber::EnvFilter::try_new(&filter) {
        Ok(_) => Ok(filter),
        Err(e) => Err(invalid("METRICS_LOG_LEVEL", format!("{filter:?}: {e}"))),
    }
}

fn duration(setting: &str, value: Option<String>, default: &str) -> Result<Duration, ConfigError> {
    let text = value.as_deref().unwrap_or(default);
    parse_duration(text).map_err(|e| invalid(setting, e.to_string()))
}

fn nonzero_duration(
    setting: &str,
    value: Option<String>,
    default: &str,
) -> Result<Duration, ConfigError> {
    let d = duration(setting, value, default)?;
    if d.is_zero() {
        return Err(invalid(setting, "must be greater than zero"));
    }
    Ok(d)
}

fn positive(setting: &str, value: Option<usize>, default: usize) -> Result<usize, ConfigError> {
    match value.unwrap_or(default) {
        0 => Err(invalid(setting, "must be greater than zero")),
        n => Ok(n),
    }
}

fn socket_addr(setting: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse().map_err(|_| {
        invalid(
            setting,
            format!("{text:?} is not an address like 127.0.0.1:9410"),
        )
    })
}

/// Parses `123`, `64KiB`, `64MiB`, `1GiB` (also `KB`/`MB`/`GB`, read as binary units).
fn byte_size(setting: &str, text: Option<&str>) -> Result<usize, ConfigError> {
    const DEFAULT: usize = 64 << 20;
    let Some(text) = text else {
        return Ok(DEFAULT);
    };
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let shift = match text[digits..].trim() {
        "" | "B" => 0,
        "KiB" | "KB" | "K" => 10,
        "MiB" | "MB" | "M" => 20,
        "GiB" | "GB" | "G" => 30,
        _ => {
            return Err(invalid(
                setting,
                format!("{text:?} is not a size like 1048576, 512KiB or 64MiB"),
            ))
        }
    };
    let n: usize = text[..digits]
        .parse()
        .map_err(|_| invalid(setting, format!("{text:?} has no valid number")))?;
    match n.checked_mul(1 << shift) {
        Some(0) => Err(invalid(setting, "must be greater than zero")),
        Some(size) => Ok(size),
        None => Err(invalid(setting, format!("{text:?} is too large"))),
    }
}

fn buckets(setting: &str, text: &str) -> Result<Vec<f64>, ConfigError> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        let b: f64 = part
            .parse()
            .map_err(|_| invalid(setting, format!("{part:?} is not a number")))?;
        if !b.is_finite() || out.last().is_some_and(|&prev| prev >= b) {
            return Err(invalid(
                setting,
                "bucket bounds must be finite and strictly increasing",
            ));
        }
        out.push(b);
    }
    Ok(out)
}

fn retention_policies(
    policies: BTreeMap<String, RetentionPolicySettings>,
) -> Result<BTreeMap<String, RetentionPolicy>, ConfigError> {
    policies
        .into_iter()
        .map(|(name, p)| {
            let field = |key: &str, value: &str| {
                let setting = format!("retention_policies.{name}.{key}");
                parse_duration(value).map_err(|e| invalid(&setting, e.to_string()))
            };
            let policy = RetentionPolicy {
                raw: field("raw_retention", &p.raw_retention)?,
                aggregated_1m: field("aggregated_1m_retention", &p.aggregated_1m_retention)?,
                aggregated_1h: field("aggregated_1h_retention", &p.aggregated_1h_retention)?,
                aggregated_1d: field("aggregated_1d_retention", &p.aggregated_1d_retention)?,
            };
            Ok((name, policy))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let c = Config::resolve(Settings::default()).unwrap();
        assert_eq!(c.ingestion_buffer_size, 10_000);
        assert_eq!(c.ingestion_flush_interval, Duration::from_secs(10));
        assert_eq!(c.ingestion_max_batch_size, 1000);
        assert_eq!(c.ingestion_workers, 8);
        assert_eq!(c.hot_storage_ttl, Duration::from_secs(300));
        assert_eq!(
            c.warm_storage_retention,
            Some(Duration::from_secs(90 * 86400))
        );
        assert_eq!(
            c.cold_storage_retention,
            Duration::from_secs(3 * 365 * 86400)
        );
        assert_eq!(c.compression_level, 6);
        assert_eq!(c.query_timeout, Duration::from_secs(30));
        assert_eq!(c.query_max_series, 10_000);
        assert_eq!(c.cache_ttl, Duration::from_secs(300));
        assert_eq!(c.max_concurrent_queries, 100);
        assert_eq!(
            c.query_workers,
            std::thread::available_parallelism().unwrap().get()
        );
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:9410");
        assert_eq!(c.statsd_addr.unwrap().to_string(), "127.0.0.1:8125");
        assert!(c.wal_sync);
        assert_eq!(c.max_body_size, 64 << 20);
    }

    #[test]
    fn command_line_wins_over_file() {
        let cli = Settings {
            query_timeout: Some("5s".into()),
            ..Settings::default()
        };
        let file = Settings {
            query_timeout: Some("1m".into()),
            cache_ttl: Some("1m".into()),
            ..Settings::default()
        };
        let c = Config::resolve(cli.or(file)).unwrap();
        assert_eq!(c.query_timeout, Duration::from_secs(5));
        assert_eq!(c.cache_ttl, Duration::from_secs(60));
    }

    #[test]
    fn bad_settings_are_named() {
        let cases: [(Settings, &str); 6] = [
            (
                Settings {
                    warm_storage_retention: Some("90x".into()),
                    ..Default::default()
                },
                "METRICS_WARM_STORAGE_RETENTION",
            ),
            (
                Settings {
                    ingestion_workers: Some(0),
                    ..Default::default()
                },
                "METRICS_INGESTION_WORKERS",
            ),
            (
                Settings {
                    compression_level: Some(12),
                    ..Default::default()
                },
                "METRICS_COMPRESSION_LEVEL",
            ),
            (
                Settings {
                    http_addr: Some("nowhere".into()),
                    ..Default::default()
                },
                "METRICS_HTTP_ADDR",
            ),
            (
                Settings {
                    max_body_size: Some("12 parsecs".into()),
                    ..Default::default()
                },
                "METRICS_MAX_BODY_SIZE",
            ),
            (
                Settings {
                    statsd_timer_buckets: Some("0.1,0.05".into()),
                    ..Default::default()
                },
                "METRICS_STATSD_TIMER_BUCKETS",
            ),
        ];
        for (settings, name) in cases {
            let err = Config::resolve(settings).unwrap_err().to_string();
            assert!(err.contains(name), "{err} should name {name}");
        }
    }

    #[test]
    fn sizes_and_off() {
        assert_eq!(byte_size("x", Some("512KiB")).unwrap(), 512 << 10);
        assert_eq!(byte_size("x", Some("100")).unwrap(), 100);
        assert!(byte_size("x", Some("0")).is_err());
        assert!(byte_size("x", Some("MiB")).is_err());
        let off = Settings {
            statsd_addr: Some("off".into()),
            warm_storage_retention: Some("0".into()),
            ..Default::default()
        };
        let c = Config::resolve(off).unwrap();
        assert!(c.statsd_addr.is_none());
        assert!(c.warm_storage_retention.is_none());
    }

    #[test]
    fn yaml_file_with_retention_policies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.yaml");
        std::fs::write(
            &path,
            "query_timeout: 12s\nretention_policies:\n  high_frequency:\n    raw_retention: \"24h\"\n    \
             aggregated_1m_retention: \"7d\"\n    aggregated_1h_retention: \"30d\"\n    \
             aggregated_1d_retention: \"1y\"\n",
        )
        .unwrap();
        let c = Config::resolve(Settings::from_yaml_file(&path).unwrap()).unwrap();
        assert_eq!(c.query_timeout, Duration::from_secs(12));
        assert_eq!(
            c.retention_policies["high_frequency"].raw,
            Duration::from_secs(86400)
        );

        std::fs::write(&path, "query_timout: 12s\n").unwrap();
        let err = Settings::from_yaml_file(&path).unwrap_err().to_string();
        assert!(err.contains("query_timout"), "{err}");

        std::fs::write(
            &path,
            "retention_policies:\n  x:\n    raw_retention: 1q\n    aggregated_1m_retention: 1d\n    \
             aggregated_1h_retention: 1d\n    aggregated_1d_retention: 1d\n",
        )
        .unwrap();
        let err = Config::resolve(Settings::from_yaml_file(&path).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("retention_policies.x.raw_retention"), "{err}");
    }
}
