//! Configuration through the real binary: flags over environment over file over
//! defaults, and bad settings stopping start-up with exit code 2 and their name.

mod common;

use common::{run_strata, StrataProcess};

/// The effective retention and StatsD flush interval, as the health endpoint reports them.
fn effective(strata: &StrataProcess) -> (String, String) {
    let health = strata.get("/api/v1/internal/metrics/health").json;
    (
        health["settings"]["warm_storage_retention"].as_str().unwrap().to_owned(),
        health["statsd"]["flush_interval"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

#[test]
fn flags_over_environment_over_file_over_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strata.yaml");
    std::fs::write(
        &file,
        "warm_storage_retention: 10d\ningestion_flush_interval: 11s\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let env = [
        ("METRICS_WARM_STORAGE_RETENTION", "20d"),
        ("METRICS_INGESTION_FLUSH_INTERVAL", "12s"),
    ];
    let flags = [
        "--config",
        file,
        "--warm-storage-retention",
        "30d",
        "--ingestion-flush-interval",
        "13s",
    ];

    let all = StrataProcess::start_with_env(&flags, &env);
    assert_eq!(effective(&all), ("30d".into(), "13s".into()));
    let env_and_file = StrataProcess::start_with_env(&["--config", file], &env);
    assert_eq!(effective(&env_and_file), ("20d".into(), "12s".into()));
    let file_only = StrataProcess::start(&["--config", file]);
    assert_eq!(effective(&file_only), ("10d".into(), "11s".into()));
    let defaults = StrataProcess::start(&[]);
    assert_eq!(effective(&defaults), ("90d".into(), "10s".into()));
}

#[test]
fn retention_policies_block_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strata.yaml");
    std::fs::write(
        &file,
        "retention_policies:\n  business_metrics:\n    raw_retention: \"7d\"\n    \
         aggregated_1m_retention: \"30d\"\n    aggregated_1h_retention: \"1y\"\n    \
         aggregated_1d_retention: \"3y\"\n",
    )
    .unwrap();
    let strata = StrataProcess::start(&["--config", file.to_str().unwrap()]);
    let health = strata.get("/api/v1/internal/metrics/health").json;
    let policy = &health["settings"]["retention_policies"]["business_metrics"];
    assert_eq!(
        policy["raw"], "1w",
        "durations are formatted the Prometheus way"
    );
    assert_eq!(policy["aggregated_1d"], "3y");
}

#[test]
fn bad_settings_stop_start_up_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let bad_key = dir.path().join("bad_key.yaml");
    std::fs::write(&bad_key, "query_timout: 5s\n").unwrap();
    let bad_value = dir.path().join("bad_value.yaml");
    std::fs::write(&bad_value, "cache_ttl: forever\n").unwrap();
    let base = ["serve", "--data-dir", data, "--http-addr", "127.0.0.1:0"];
    let cases: Vec<(Vec<&str>, Vec<(&str, &str)>, &str)> = vec![
        (
            vec![],
            vec![("METRICS_WARM_STORAGE_RETENTION", "ninety days")],
            "METRICS_WARM_STORAGE_RETENTION",
        ),
        (
            vec!["--query-timeout", "5x"],
            vec![],
            "METRICS_QUERY_TIMEOUT",
        ),
        (
            vec!["--compression-level", "42"],
            vec![],
            "METRICS_COMPRESSION_LEVEL",
        ),
        (
            vec![],
            vec![("METRICS_INGESTION_WORKERS", "many")],
            "--ingestion-workers",
        ),
        (
            vec!["--ingestion-workers", "0"],
            vec![],
            "METRICS_INGESTION_WORKERS",
        ),
        (
            vec!["--statsd-addr", "localhost"],
            vec![],
            "METRICS_STATSD_ADDR",
        ),
        (
            vec!["--config", bad_key.to_str().unwrap()],
            vec![],
            "query_timout",
        ),
        (
            vec!["--config", bad_value.to_str().unwrap()],
            vec![],
            "METRICS_CACHE_TTL",
        ),
        (
            vec!["--config", "/nonexistent/strata.yaml"],
            vec![],
            "/nonexistent/strata.yaml",
        ),
    ];
    for (flags, env, named) in cases {
        let args: Vec<&str> = base.iter().copied().chain(flags.iter().copied()).collect();
        let out = run_strata(&args, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?} {env:?}: {stderr}");
        assert!(
            stderr.contains(named),
            "{flags:?} {env:?} should name {named}: {stderr}"
        );
    }
}

#[test]
fn help_documents_every_spec_setting() {
    let out = run_strata(&["serve", "--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "METRICS_INGESTION_BUFFER_SIZE",
        "METRICS_INGESTION_FLUSH_INTERVAL",
        "METRICS_INGESTION_MAX_BATCH_SIZE",
        "METRICS_INGESTION_WORKERS",
        "METRICS_HOT_STORAGE_TTL",
        "METRICS_WARM_STORAGE_RETENTION",
        "METRICS_COLD_STORAGE_RETENTION",
        "METRICS_COMPRESSION_LEVEL",
        "METRICS_QUERY_TIMEOUT",
        "METRICS_QUERY_MAX_SERIES",
        "METRICS_CACHE_TTL",
        "METRICS_MAX_CONCURRENT_QUERIES",
    ] {
        assert!(help.contains(var), "--help lacks {var}");
    }
}

#[test]
fn a_busy_port_fails_start_up_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = run_strata(
        &[
            "serve",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--http-addr",
            &addr,
            "--statsd-addr",
            "off",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&addr));
}
