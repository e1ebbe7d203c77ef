//! `GET /metrics`: Strata's own metrics in Prometheus text format.

use crate::api::QueryApi;
use crate::app::App;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;
use std::sync::Arc;
use strata_ingest::statsd::StatsdStats;

pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics(State((app, api)): State<(Arc<App>, Arc<QueryApi>)>) -> impl IntoResponse {
    let mut out = String::with_capacity(8192);
    let _ = writeln!(
        out,
        "# HELP strata_build_info Strata's version.\n# TYPE strata_build_info gauge\n\
         strata_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        out,
        "# HELP strata_uptime_seconds Time since start.\n# TYPE strata_uptime_seconds gauge\n\
         strata_uptime_seconds {}",
        app.uptime().as_secs_f64()
    );
    app.counters.write_metrics(&mut out);
    write_statsd(&mut out, &app.statsd.lock().stats());
    for stat in tokio::task::spawn_blocking({
        let app = Arc::clone(&app);
        move || app.store.stats()
    })
    .await
    .unwrap_or_default()
    {
        let name = format!("strata_storage_{}", stat.name);
        let _ = writeln!(
            out,
            "# HELP {name} {}\n# TYPE {name} gauge\n{name} {}",
            stat.help, stat.value
        );
    }
    api.write_metrics(&mut out);
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], out)
}

fn write_statsd(out: &mut String, s: &StatsdStats) {
    let figures = [
        (
            "lines_accepted_total",
            "counter",
            "StatsD lines aggregated.",
            s.lines_accepted,
        ),
        (
            "lines_rejected_total",
            "counter",
            "StatsD lines refused.",
            s.lines_rejected,
        ),
        (
            "events_ignored_total",
            "counter",
            "DogStatsD events skipped.",
            s.events_ignored,
        ),
        (
            "service_checks_ignored_total",
            "counter",
            "DogStatsD service checks skipped.",
            s.service_checks_ignored,
        ),
        (
            "tags_dropped_total",
            "counter",
            "DogStatsD tags without a value dropped.",
            s.tags_dropped,
        ),
        (
            "series",
            "gauge",
            "StatsD series held by the aggregator.",
            s.series,
        ),
    ];
    for (name, kind, help, value) in figures {
        let _ = writeln!(
            out,
            "# HELP strata_statsd_{name} {help}\n# TYPE strata_statsd_{name} {kind}\nstrata_statsd_{name} {value}"
        );
    }
}
