//! Query errors, classified the way the Prometheus HTTP API reports them (`errorType`).

use std::fmt;

/// What kind of failure a query met; the HTTP layer maps each to an `errorType` and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The expression does not parse, or an argument is invalid.
    BadData,
    /// The expression is valid but cannot be evaluated on this data (e.g. many-to-many matching).
    Execution,
    /// The deadline passed before evaluation finished.
    Timeout,
    /// The caller cancelled the query.
    Canceled,
    /// The query would load more samples than the engine allows.
    TooManySamples,
    /// The query would select more series than the engine allows.
    TooManySeries,
    /// A store failure or a bug.
    Internal,
}

impl ErrorKind {
    /// The `errorType` string of the Prometheus HTTP API.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadData => "bad_data",
            ErrorKind::Execution | ErrorKind::TooManySamples | ErrorKind::TooManySeries => {
                "execution"
            }
            ErrorKind::Timeout => "timeout",
            ErrorKind::Canceled => "canceled",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed query: its kind and a message for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    pub kind: ErrorKind,
    pub message: String,
}

impl QueryError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        QueryError {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_data(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadData, message)
    }

    pub fn execution(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Execution, message)
    }
}

impl From<strata_core::StorageError> for QueryError {
    fn from(e: strata_core::StorageError) -> Self {
        QueryError::new(ErrorKind::Internal, format!("storage error: {e}"))
    }
}
