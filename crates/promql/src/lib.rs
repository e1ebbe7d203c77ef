//! Strata's PromQL engine: Prometheus 3 query semantics over [`strata_core::Querier`].
//!
//! Expressions are parsed by the `promql-parser` crate; the evaluator is Strata's own,
//! written by hand over the core storage traits. It evaluates every node for all steps of
//! a query at once: series are read from the store once per selector, each step's window
//! is found with per-series cursors, and label sets are built once per series. It follows
//! Prometheus 3 exactly for float samples: the lookback delta and staleness markers,
//! left-open ranges, `offset` and `@`, subqueries, vector matching and its errors, every
//! aggregation and every float function. Queries can be cancelled, time out, and are
//! stopped when they would read too many series or samples.
//!
//! Deliberately not here: native histograms (rejected by the test harness, ignored by the
//! `histogram_*` functions), the HTTP API (the server crate shapes [`QueryOutput`] into
//! JSON), query planning across storage tiers, and result caching.
//!
//! [`promqltest`] runs Prometheus's own test scripts against any [`promqltest::TestBackend`].

mod engine;
mod error;
mod eval;
pub mod promqltest;
mod value;

pub use engine::{format_query, parse_check, Engine, EngineOptions, QueryContext};
pub use error::{ErrorKind, QueryError};
pub use value::{QueryOutput, QueryStats, Value, VectorSample};
