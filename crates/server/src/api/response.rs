//! The Prometheus API envelope: `{"status":"success","data":…,"warnings":[…],"infos":[…]}`
//! and `{"status":"error","errorType":…,"error":…}` with Prometheus's status codes.

use super::json;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The `errorType` values of the Prometheus API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    BadData,
    Execution,
    Timeout,
    Canceled,
    Internal,
    Unavailable,
    NotFound,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Internal => "internal",
            ErrorType::Unavailable => "unavailable",
            ErrorType::NotFound => "not_found",
        }
    }

    /// The status Prometheus answers with (499 is its "client closed request").
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout | ErrorType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Canceled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

/// A failed read request: what kind of failure, and a message for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorType,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_data(message: impl Into<String>) -> Self {
        Self::new(ErrorType::BadData, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorType::Internal, message)
    }

    /// The Prometheus error body.
    pub fn body(&self) -> String {
        let mut out = String::from(r#"{"status":"error","errorType":"#);
        json::write_str(&mut out, self.kind.as_str());
        out.push_str(r#","error":"#);
        json::write_str(&mut out, &self.message);
        out.push('}');
        out
    }
}

impl From<strata_core::StorageError> for ApiError {
    fn from(e: strata_core::StorageError) -> Self {
        let kind = match e {
            strata_core::StorageError::Backpressure { .. } => ErrorType::Unavailable,
            _ => ErrorType::Internal,
        };
        ApiError::new(kind, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.kind.status(), self.body())
    }
}

/// A successful answer whose `data` is already JSON text.
#[derive(Debug, Clone, Default)]
pub struct Success {
    pub data: String,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl Success {
    pub fn new(data: String) -> Self {
        Success {
            data,
            ..Default::default()
        }
    }

    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = warnings;
        self
    }

    /// The envelope; `warnings` and `infos` only when there are some, as Prometheus omits them.
    pub fn body(&self) -> String {
        let mut out = String::with_capacity(self.data.len() + 64);
        out.push_str(r#"{"status":"success","data":"#);
        out.push_str(&self.data);
        for (key, list) in [("warnings", &self.warnings), ("infos", &self.infos)] {
            if !list.is_empty() {
                out.push_str(",\"");
                out.push_str(key);
                out.push_str("\":");
                json::write_str_array(&mut out, list.iter().map(String::as_str));
            }
        }
        out.push('}');
        out
    }
}

impl IntoResponse for Success {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, self.body())
    }
}

/// A JSON body with its content type.
pub fn json_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_match_prometheus() {
        let ok = Success::new("[]".into());
        assert_eq!(ok.body(), r#"{"status":"success","data":[]}"#);
        let warned = Success::new("[]".into()).with_warnings(vec!["w<1>".into()]);
        assert_eq!(
            warned.body(),
            r#"{"status":"success","data":[],"warnings":["w\u003c1\u003e"]}"#
        );
        let err = ApiError::bad_data("invalid \"x\"");
        assert_eq!(
            err.body(),
            r#"{"status":"error","errorType":"bad_data","error":"invalid \"x\""}"#
        );
    }

    #[test]
    fn statuses_match_prometheus() {
        let codes: Vec<u16> = [
            ErrorType::BadData,
            ErrorType::Execution,
            ErrorType::Timeout,
            ErrorType::Canceled,
            ErrorType::Internal,
            ErrorType::Unavailable,
        ]
        .iter()
        .map(|k| k.status().as_u16())
        .collect();
        assert_eq!(codes, [400, 422, 503, 499, 500, 503]);
    }
}
