//! The `strata` server: the binary's configuration, its HTTP API (ingest, health,
//! admin, `/metrics`, and the read APIs of [`api`]), and the StatsD listeners, wired to
//! the embedded store.
//!
//! Decoding lives in `strata-ingest`, storage in `strata-tsdb` and evaluation in
//! `strata-promql`; this crate deliberately only moves bytes between sockets and those
//! crates, applies limits, maps errors to HTTP statuses and counts what happened.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod counters;
pub mod serve;
pub mod statsd;
pub mod store;
pub mod web;
