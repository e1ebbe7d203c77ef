//! Strata's data model and the storage traits between the pipeline and the stores.
//!
//! A [`Sample`] is a label set (with the metric name under `__name__`), a float64 value
//! and a millisecond timestamp; a [`Series`] is one label set with its points in time
//! order. [`Matcher`]s select series the Prometheus way. [`Appender`] and [`Querier`]
//! are the only things a stage knows of the store after it, so any store (the embedded
//! TSDB, the in-memory [`MemStorage`] used by tests) can stand behind the pipeline and
//! the query engine.
//!
//! This crate deliberately does no I/O, no parsing of wire formats and no evaluation;
//! it depends on no other crate of Strata's.

mod labels;
mod matcher;
mod memory;
mod metadata;
mod sample;
mod spare;
mod storage;
mod time;

pub use labels::{is_valid_label_name, is_valid_metric_name};
pub use labels::{Label, LabelError, Labels, LabelsBuilder, METRIC_NAME};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use memory::MemStorage;
pub use metadata::{metadata_of, MetricMetadata, MetricType};
pub use sample::{is_stale_nan, Point, Sample, Series, STALE_NAN};
pub use spare::SpareBuffers;
pub use storage::{
    each_series, AppendStats, Appender, Querier, SeriesVisitor, Storage, StorageError, WriteBatch,
};
pub use time::{format_duration, parse_duration, DurationError, TimeRange};
