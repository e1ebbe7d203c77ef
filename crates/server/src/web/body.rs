//! Reading an ingest request's body: the size limit (raw and decoded), the
//! Content-Encoding and the Content-Type an endpoint accepts.

use super::report::IngestError;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use http_body_util::LengthLimitError;
use std::borrow::Cow;

/// Reads the whole body, refusing it as soon as it passes `limit` bytes.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, IngestError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let source = e.into_inner();
        if source.downcast_ref::<LengthLimitError>().is_some() {
            IngestError::TooLarge { limit }
        } else {
            IngestError::CorruptBody(format!("reading the request failed: {source}"))
        }
    })
}

/// The raw body, checked against the size limit and stripped of its Content-Encoding.
pub fn decode<'a>(
    headers: &HeaderMap,
    raw: &'a [u8],
    limit: usize,
) -> Result<Cow<'a, [u8]>, IngestError> {
    let encoding = header_str(headers, header::CONTENT_ENCODING)?;
    let decoded = strata_ingest::encoding::decode_body(encoding, raw, limit)?;
    if decoded.len() > limit {
        return Err(IngestError::TooLarge { limit });
    }
    Ok(decoded)
}

/// The media type of the request (`text/plain` of `text/plain; version=0.0.4`), if any.
pub fn media_type(headers: &HeaderMap) -> Result<Option<String>, IngestError> {
    Ok(header_str(headers, header::CONTENT_TYPE)?.map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }))
}

/// Media types the Prometheus text endpoint reads. A missing Content-Type is text.
pub fn check_text(media_type: Option<&str>) -> Result<(), IngestError> {
    match media_type {
        None
        | Some(
            "text/plain"
            | "application/openmetrics-text"
            | "application/x-www-form-urlencoded"
            | "application/octet-stream",
        ) => Ok(()),
        Some(other) => Err(IngestError::UnsupportedMediaType(other.to_owned())),
    }
}

/// Media types the JSON endpoints read. curl's `-d` sends
/// `application/x-www-form-urlencoded`, so that is read as JSON too.
pub fn check_json(media_type: Option<&str>) -> Result<(), IngestError> {
    match media_type {
        None
        | Some(
            "application/json"
            | "application/x-ndjson"
            | "application/jsonl"
            | "text/plain"
            | "application/x-www-form-urlencoded",
        ) => Ok(()),
        Some(other) => Err(IngestError::UnsupportedMediaType(other.to_owned())),
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Result<Option<&str>, IngestError> {
    headers
        .get(&name)
        .map(|v| {
            v.to_str()
                .map_err(|_| IngestError::CorruptBody(format!("{name} header is not ASCII")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        let mut h = HeaderMap::new();
        assert_eq!(media_type(&h).unwrap(), None);
        h.insert(
            header::CONTENT_TYPE,
            "Text/Plain; version=0.0.4".parse().unwrap(),
        );
        assert_eq!(media_type(&h).unwrap().as_deref(), Some("text/plain"));
        assert!(check_text(Some("text/plain")).is_ok());
        assert!(check_text(Some("application/x-protobuf")).is_err());
        assert!(check_json(Some("application/json")).is_ok());
        assert!(check_json(Some("image/png")).is_err());
    }
}
