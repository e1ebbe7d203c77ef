//! `strata serve`: opens the store, starts the HTTP API and the StatsD listeners, and
//! shuts down in order on SIGTERM/SIGINT (stop taking traffic, flush StatsD
//! aggregates, close the store).

use crate::api::{QueryApi, QueryApiConfig};
use crate::app::App;
use crate::config::Config;
use crate::datadir::{DataDirLock, LockError};
use crate::statsd;
use crate::store::Store;
use crate::web;
use std::net::SocketAddr;
use std::sync::Arc;
use strata_core::StorageError;
use strata_tsdb::{Options, Tsdb, WalSync};

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("cannot open the store: {0}")]
    Store(#[from] StorageError),
    #[error("cannot listen on {what} {addr}: {source}")]
    Listen {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP server failed: {0}")]
    Http(std::io::Error),
}

/// Runs the server until SIGTERM or SIGINT.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let tsdb = Arc::new(Tsdb::open(&config.data_dir, tsdb_options(&config))?);
    let store: Arc<dyn Store> = Arc::clone(&tsdb) as Arc<dyn Store>;
    let app = App::new(config.clone(), Arc::clone(&store));
    let query_api = QueryApi::new(store, query_api_config(&config));

    let http = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .map_err(|source| ServeError::Listen {
            what: "HTTP",
            addr: config.http_addr,
            source,
        })?;
    let statsd = match config.statsd_addr {
        Some(addr) => Some(start_statsd(&app, addr).await?),
        None => None,
    };
    tracing::info!(http = %config.http_addr, data_dir = %config.data_dir.display(), "Strata is ready");
    app.set_ready(true);

    let router = web::router(Arc::clone(&app), query_api);
    let shutting_down = {
        let app = Arc::clone(&app);
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            app.set_ready(false);
        }
    };
    let served = axum::serve(http, router)
        .with_graceful_shutdown(shutting_down)
        .await;

    if let Some(statsd) = statsd {
        statsd.stop().await;
    }
    flush_statsd(app).await;
    close(tsdb).await;
    served.map_err(ServeError::Http)
}

async fn start_statsd(app: &Arc<App>, addr: SocketAddr) -> Result<statsd::Statsd, ServeError> {
    statsd::start(Arc::clone(app), addr)
        .await
        .map_err(|source| ServeError::Listen {
            what: "StatsD",
            addr,
            source,
        })
}

/// Writes the StatsD aggregates of the last interval, then lets go of the app so that
/// the store can be closed.
async fn flush_statsd(app: Arc<App>) {
    let flushed = tokio::task::spawn_blocking(move || statsd::flush_aggregates(&app)).await;
    if let Ok(Err(e)) = flushed {
        tracing::error!(error = %e, "final StatsD flush failed");
    }
}

/// Closes the store once nothing else holds it; an HTTP connection still being torn
/// down may hold it a moment longer. Whatever happens, the WAL already holds every
/// acknowledged write.
async fn close(mut tsdb: Arc<Tsdb>) {
    for _ in 0..100 {
        match Arc::try_unwrap(tsdb) {
            Ok(tsdb) => {
                let closed = tokio::task::spawn_blocking(move || tsdb.close()).await;
                if let Ok(Err(e)) = closed {
                    tracing::error!(error = %e, "closing the store failed");
                }
                return;
            }
            Err(shared) => tsdb = shared,
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tracing::warn!("store still in use at exit; leaving it to the WAL");
}

fn tsdb_options(c: &Config) -> Options {
    Options {
        retention: c.warm_storage_retention,
        wal_sync: if c.wal_sync {
            WalSync::Always
        } else {
            WalSync::Off
        },
        block_duration: c.head_block_duration,
        max_head_series: c.max_head_series,
        ..Options::default()
    }
}

fn query_api_config(c: &Config) -> QueryApiConfig {
    QueryApiConfig {
        timeout: c.query_timeout,
        max_series: c.query_max_series,
        max_samples: c.query_max_samples,
        max_concurrent: c.max_concurrent_queries,
        eval_workers: c.query_workers,
        cache_ttl: c.cache_ttl,
        lookback_delta: c.query_lookback_delta,
        hot_storage_ttl: c.hot_storage_ttl,
        storage_retention: c.warm_storage_retention.unwrap_or_default(),
        ..QueryApiConfig::default()
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler cannot fail on Unix");
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
}
