//! Strata's embedded time-series engine, written by hand because it is the product's core.
//!
//! Writes go to a write-ahead log first ([`wal`]; group commit, checksummed segments) and
//! then to the in-memory [`head`], where each series keeps a compressed in-order chunk
//! ([`chunk`]) and a small out-of-order buffer. A background thread cuts the head into
//! immutable, time-partitioned [`block`]s on disk (symbols, series, postings, chunks),
//! merges small blocks into larger ones ([`compaction`]) and drops whole blocks past the
//! retention period ([`retention`]). [`Tsdb`] ties it together behind the core's
//! `Appender` and `Querier` traits: any order and any age of samples are accepted, and the
//! last write of a series and timestamp wins everywhere.
//!
//! It deliberately does not: parse wire formats, evaluate PromQL, aggregate, or replicate;
//! nor delete individual series or samples (retention drops whole blocks).

pub mod block;
pub mod chunk;
pub mod compaction;
mod db;
mod encoding;
pub mod head;
pub mod index;
mod merge;
mod order;
mod parallel;
pub mod retention;
pub mod wal;

pub use db::{Options, Tsdb, TsdbStats};
pub use wal::WalSync;
