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
//! Deliberately not here: native histograms (the store has none; the native-only
//! `histogram_*` functions fail with a clear error and the test harness skips scripts'
//! native-histogram cases), Prometheus's experimental delayed `__name__` removal, the HTTP
//! API (the server crate shapes [`QueryOutput`] into JSON), query planning across storage
//! tiers, and result caching.
//!
//! ```
//! use strata_core::{Appender, Labels, MemStorage, Sample, WriteBatch};
//! use strata_promql::{Engine, QueryContext, Value};
//!
//! let store = MemStorage::new();
//! let labels = Labels::new([("__name__", "up"), ("job", "api")]).unwrap();
//! let samples = (0..10)
//!     .map(|m| Sample { labels: labels.clone(), t: m * 60_000, v: m as f64 })
//!     .collect();
//! store.append(&WriteBatch { samples, metadata: vec![] }).unwrap();
//!
//! let out = Engine::default()
//!     .instant(&store, "sum by (job) (rate(up[5m]))", 540_000, &QueryContext::default())
//!     .unwrap();
//! let Value::Vector(v) = out.value else { unreachable!() };
//! assert!((v[0].v - 1.0 / 60.0).abs() < 1e-12);
//! ```
//!
//! [`promqltest`] runs Prometheus's own test scripts against any [`promqltest::TestBackend`]:
//! this engine over an in-memory store, or a whole server through its HTTP API.

mod engine;
mod error;
mod eval;
pub mod promqltest;
mod value;

pub use engine::{format_query, parse_check, Engine, EngineOptions, QueryContext};
pub use error::{ErrorKind, QueryError};
pub use value::{QueryOutput, QueryStats, Value, VectorSample};
