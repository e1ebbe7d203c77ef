//! Sealed chunks through the `pco` crate: timestamps as i64, values as f64.
//!
//! pco finds deltas, common multiples and float decimal structure itself and
//! entropy-codes the result, so it tends to beat the streaming codecs on noisy
//! data at the price of slower coding and a few dozen bytes of metadata per
//! column. Layout: codec id, point count (varint), byte length of the timestamp
//! column (varint), the timestamp column, the value column.

use pco::standalone::{simple_compress, simple_decompress_into};
use pco::ChunkConfig;
use strata_core::{Point, TimeRange};

use super::varint::{get_uvarint, put_uvarint};
use super::{ChunkError, Encoding, MAX_DENSE_POINTS as MAX_POINTS};

/// The sealed chunk, or `None` when there are too many points or pco refuses.
pub(crate) fn encode(points: &[Point]) -> Option<Vec<u8>> {
    if points.len() > MAX_POINTS {
        return None;
    }
    let mut out = vec![Encoding::Pco as u8];
    put_uvarint(&mut out, points.len() as u64);
    if points.is_empty() {
        return Some(out);
    }
    let config = ChunkConfig::default();
    let times: Vec<i64> = points.iter().map(|p| p.t).collect();
    let values: Vec<f64> = points.iter().map(|p| p.v).collect();
    let times = simple_compress(&times, &config).ok()?;
    let values = simple_compress(&values, &config).ok()?;
    put_uvarint(&mut out, times.len() as u64);
    out.extend_from_slice(&times);
    out.extend_from_slice(&values);
    Some(out)
}

/// Appends the points within `range`; pco decodes whole columns, so the range
/// only filters.
pub(crate) fn decode(
    body: &[u8],
    range: TimeRange,
    out: &mut Vec<Point>,
) -> Result<(), ChunkError> {
    let (len, body) = get_uvarint(body, "point count")?;
    if len > MAX_POINTS as u64 {
        return Err(ChunkError::new(format!("{len} points exceed {MAX_POINTS}")));
    }
    let len = len as usize;
    if len == 0 {
        return if body.is_empty() {
            Ok(())
        } else {
            Err(ChunkError::new("bytes after an empty chunk"))
        };
    }
    let (times_len, body) = get_uvarint(body, "timestamp column length")?;
    if times_len > body.len() as u64 {
        return Err(ChunkError::new("timestamp column runs past the chunk"));
    }
    let (times_bytes, values_bytes) = body.split_at(times_len as usize);
    let mut times = vec![0i64; len];
    let mut values = vec![0f64; len];
    decompress_column(times_bytes, &mut times, "timestamps")?;
    decompress_column(values_bytes, &mut values, "values")?;
    out.extend(
        times
            .into_iter()
            .zip(values)
            .map(|(t, v)| Point { t, v })
            .filter(|p| range.contains(p.t)),
    );
    Ok(())
}

fn decompress_column<T: pco::data_types::Number>(
    bytes: &[u8],
    dst: &mut [T],
    what: &str,
) -> Result<(), ChunkError> {
    let progress = simple_decompress_into(bytes, dst)
        .map_err(|e| ChunkError::new(format!("pco {what}: {e}")))?;
    if progress.n_processed != dst.len() || !progress.finished {
        return Err(ChunkError::new(format!(
            "pco {what}: {} of {} numbers",
            progress.n_processed,
            dst.len()
        )));
    }
    Ok(())
}
