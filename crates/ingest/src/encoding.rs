//! Content-Encoding of request bodies: identity, gzip, deflate, zstd and snappy.
//!
//! Decompression stops as soon as the output passes the caller's limit, so a small
//! compressed body cannot expand into gigabytes (a "zip bomb"). Snappy accepts both the
//! framed stream format and the raw block format that Prometheus remote write uses; a
//! framed stream is recognised by its stream-identifier chunk.

use std::borrow::Cow;
use std::io::Read;

/// Why a body could not be decoded; each maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    /// The encoding is not one Strata reads (HTTP 415).
    #[error("unsupported Content-Encoding {0:?}: use identity, gzip, deflate, zstd or snappy")]
    Unsupported(String),
    /// The decoded body would exceed the limit (HTTP 413).
    #[error("decoded body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// The body is not valid data of its encoding (HTTP 400).
    #[error("corrupt body: {0}")]
    Corrupt(String),
}

/// The first bytes of a framed snappy stream: the stream-identifier chunk.
const SNAPPY_STREAM_HEADER: &[u8] = b"\xff\x06\x00\x00sNaPpY";

/// Decodes `body` per its Content-Encoding header (absent, empty or `identity`: as is).
pub fn decode_body<'a>(
    content_encoding: Option<&str>,
    body: &'a [u8],
    max_decoded_len: usize,
) -> Result<Cow<'a, [u8]>, EncodingError> {
    let encoding = content_encoding.map(str::trim).unwrap_or("");
    let decoded = match encoding.to_ascii_lowercase().as_str() {
        "" | "identity" => {
            if body.len() > max_decoded_len {
                return Err(EncodingError::TooLarge {
                    limit: max_decoded_len,
                });
            }
            return Ok(Cow::Borrowed(body));
        }
        "gzip" | "x-gzip" => {
            read_limited(flate2::read::MultiGzDecoder::new(body), max_decoded_len)?
        }
        "deflate" => read_limited(flate2::read::ZlibDecoder::new(body), max_decoded_len)?,
        "zstd" => {
            let decoder = zstd::stream::read::Decoder::new(body).map_err(corrupt)?;
            read_limited(decoder, max_decoded_len)?
        }
        "snappy" if body.starts_with(SNAPPY_STREAM_HEADER) => {
            read_limited(snap::read::FrameDecoder::new(body), max_decoded_len)?
        }
        "snappy" => snappy_block(body, max_decoded_len)?,
        _ => return Err(EncodingError::Unsupported(encoding.to_owned())),
    };
    Ok(Cow::Owned(decoded))
}

fn corrupt(e: impl std::fmt::Display) -> EncodingError {
    EncodingError::Corrupt(e.to_string())
}

/// Reads at most `limit + 1` bytes: one byte over proves the body too large without
/// decompressing the rest.
fn read_limited(reader: impl Read, limit: usize) -> Result<Vec<u8>, EncodingError> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(corrupt)?;
    if out.len() > limit {
        return Err(EncodingError::TooLarge { limit });
    }
    Ok(out)
}

/// A raw snappy block declares its decoded length up front: check it before allocating.
fn snappy_block(body: &[u8], limit: usize) -> Result<Vec<u8>, EncodingError> {
    let len = snap::raw::decompress_len(body).map_err(corrupt)?;
    if len > limit {
        return Err(EncodingError::TooLarge { limit });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    const BODY: &[u8] = b"http_requests_total{code=\"200\"} 1027 1395066363000\n";

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn snappy_framed(data: &[u8]) -> Vec<u8> {
        let mut e = snap::write::FrameEncoder::new(Vec::new());
        e.write_all(data).unwrap();
        e.into_inner().unwrap()
    }

    fn encoded() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("gzip", gzip(BODY)),
            ("deflate", deflate(BODY)),
            ("zstd", zstd::encode_all(BODY, 3).unwrap()),
            (
                "snappy",
                snap::raw::Encoder::new().compress_vec(BODY).unwrap(),
            ),
            ("snappy", snappy_framed(BODY)),
        ]
    }

    #[test]
    fn every_encoding_round_trips() {
        assert!(matches!(
            decode_body(None, BODY, 1 << 20).unwrap(),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            &*decode_body(Some(" Identity "), BODY, 1 << 20).unwrap(),
            BODY
        );
        for (name, data) in encoded() {
            assert_eq!(
                &*decode_body(Some(name), &data, 1 << 20).unwrap(),
                BODY,
                "{name}"
            );
            let upper = name.to_ascii_uppercase();
            assert_eq!(&*decode_body(Some(&upper), &data, 1 << 20).unwrap(), BODY);
        }
    }

    #[test]
    fn limits_hold_for_every_encoding() {
        let limit = BODY.len() - 1;
        assert_eq!(
            decode_body(None, BODY, limit),
            Err(EncodingError::TooLarge { limit })
        );
        for (name, data) in encoded() {
            assert_eq!(
                decode_body(Some(name), &data, limit),
                Err(EncodingError::TooLarge { limit }),
                "{name}"
            );
            assert!(decode_body(Some(name), &data, BODY.len()).is_ok());
        }
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let zeros = vec![0u8; 64 << 20];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 1 << 20);
        assert_eq!(
            decode_body(Some("gzip"), &bomb, 1 << 20),
            Err(EncodingError::TooLarge { limit: 1 << 20 })
        );
    }

    #[test]
    fn unknown_and_corrupt() {
        assert_eq!(
            decode_body(Some("br"), BODY, 100),
            Err(EncodingError::Unsupported("br".into()))
        );
        for name in ["gzip", "deflate", "zstd", "snappy"] {
            assert!(
                matches!(
                    decode_body(Some(name), BODY, 1 << 20),
                    Err(EncodingError::Corrupt(_))
                ),
                "{name}"
            );
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            for name in ["gzip", "deflate", "zstd", "snappy"] {
                let _ = decode_body(Some(name), &body, 1 << 16);
            }
        }

        #[test]
        fn mutated_streams_never_panic(at in any::<usize>(), byte in any::<u8>()) {
            for (name, mut data) in encoded() {
                let i = at % data.len();
                data[i] = byte;
                let _ = decode_body(Some(name), &data, 1 << 16);
            }
        }
    }
}
