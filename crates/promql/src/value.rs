//! The values a query returns, shaped like the Prometheus HTTP API's result types.

use strata_core::{Labels, Series};

/// One element of an instant vector: a series' labels with one value at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// The result of an expression: Prometheus's `scalar`, `string`, `vector` and `matrix`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vec<VectorSample>),
    Matrix(Vec<Series>),
}

impl Value {
    /// The Prometheus name of the result type (`resultType` in the HTTP API).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// What a query cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Samples read from the store.
    pub samples_loaded: usize,
    /// Series read from the store.
    pub series_loaded: usize,
}

/// A successful query: its value, its annotations and its cost.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutput {
    pub value: Value,
    /// Prometheus's warning annotations (`warnings` in the HTTP API).
    pub warnings: Vec<String>,
    /// Prometheus's info annotations (`infos` in the HTTP API).
    pub infos: Vec<String>,
    pub stats: QueryStats,
}
