//! Writes one block from series given in label order.

use super::chunks::ChunksWriter;
use super::packed;
use super::series::{ChunkMeta, SeriesTableWriter};
use super::{
    BlockMeta, CHUNKS, CHUNK_POINTS, FORMAT_VERSION, META, POSTINGS, SERIES, SYMBOLS, TMP_SUFFIX,
};
use crate::chunk;
use crate::encoding::{put_bytes, put_uvarint};
use crate::wal::sync_dir;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use strata_core::{Labels, Point, StorageError};

/// What a new block is, apart from its data.
#[derive(Debug, Clone)]
pub struct NewBlock<'a> {
    pub name: &'a str,
    pub seq: u64,
    pub level: u32,
    pub compacted_from: Vec<String>,
    /// Chunks never straddle a multiple of this many milliseconds, if given: a query of
    /// recent data then decodes only the points since the last boundary.
    pub chunk_window: Option<i64>,
}

/// Writes the block `new.name` under `parent`. `labels` must be unique and in
/// [`series_order`];
/// `points_of(i)` gives the points (ascending, unique) of `labels[i]`; series without
/// points are left out. Returns `None` (and writes nothing) if no series has points.
pub fn write_block(
    parent: &Path,
    new: NewBlock<'_>,
    labels: &[Labels],
    mut points_of: impl FnMut(usize) -> Result<Vec<Point>, StorageError>,
) -> Result<Option<BlockMeta>, StorageError> {
    let symbols = symbol_table(labels);
    let sym_index: HashMap<&str, u32> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, i as u32))
        .collect();
    let tmp = parent.join(format!("{}{TMP_SUFFIX}", new.name));
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    fs::create_dir_all(&tmp)?;

    let mut chunks = ChunksWriter::create(&tmp.join(CHUNKS))?;
    let mut series = SeriesTableWriter::default();
    let mut num_series = 0u32;
    let mut postings: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
    let mut meta = BlockMeta {
        version: FORMAT_VERSION,
        min_t: i64::MAX,
        max_t: i64::MIN,
        num_series: 0,
        num_samples: 0,
        num_chunks: 0,
        seq: new.seq,
        level: new.level,
        compacted_from: new.compacted_from,
    };
    let (mut refs, mut metas) = (Vec::new(), Vec::new());
    for (i, l) in labels.iter().enumerate() {
        let points = points_of(i)?;
        if points.is_empty() {
            continue;
        }
        refs.clear();
        for label in l.iter() {
            let pair = (sym_index[label.name], sym_index[label.value]);
            refs.extend([pair.0, pair.1]);
            postings.entry(pair).or_default().push(num_series);
        }
        metas.clear();
        for part in chunk_parts(&points, new.chunk_window) {
            let bytes = chunk::encode(part);
            metas.push(ChunkMeta {
                min_t: part[0].t,
                max_t: part[part.len() - 1].t,
                offset: chunks.offset(),
                len: bytes.len() as u64,
            });
            chunks.write(&bytes)?;
        }
        series.add(&refs, &metas);
        num_series = num_series
            .checked_add(1)
            .ok_or_else(|| StorageError::Other("more than 2^32 series in one block".into()))?;
        meta.num_chunks += metas.len() as u64;
        meta.min_t = meta.min_t.min(points[0].t);
        meta.max_t = meta.max_t.max(points[points.len() - 1].t);
        meta.num_samples += points.len() as u64;
    }
    if num_series == 0 {
        drop(chunks);
        fs::remove_dir_all(&tmp)?;
        return Ok(None);
    }
    meta.num_series = u64::from(num_series);
    chunks.finish()?;
    packed::write(&tmp.join(SERIES), &series.finish())?;
    let mut postings: Vec<_> = postings.into_iter().collect();
    postings.sort_unstable_by_key(|(pair, _)| *pair);
    packed::write(&tmp.join(POSTINGS), &super::postings::encode(&postings))?;
    let mut sym_buf = Vec::new();
    put_uvarint(&mut sym_buf, symbols.len() as u64);
    for s in &symbols {
        put_bytes(&mut sym_buf, s.as_bytes());
    }
    packed::write(&tmp.join(SYMBOLS), &sym_buf)?;
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| StorageError::Other(e.to_string()))?;
    let mut f = File::create(tmp.join(META))?;
    f.write_all(&json)?;
    f.sync_all()?;
    sync_dir(&tmp)?;
    fs::rename(&tmp, parent.join(new.name))?;
    sync_dir(parent)?;
    Ok(Some(meta))
}

/// `points` cut into chunks of at most [`CHUNK_POINTS`], none straddling a multiple of
/// `window`.
fn chunk_parts(points: &[Point], window: Option<i64>) -> impl Iterator<Item = &[Point]> {
    let mut rest = points;
    std::iter::from_fn(move || {
        let first = rest.first()?;
        let mut n = rest.len().min(CHUNK_POINTS);
        if let Some(w) = window {
            let w = w.max(1);
            let first_window = first.t.div_euclid(w);
            n = rest[..n].partition_point(|p| p.t.div_euclid(w) == first_window);
        }
        let (part, tail) = rest.split_at(n);
        rest = tail;
        Some(part)
    })
}

fn symbol_table(labels: &[Labels]) -> Vec<&str> {
    let mut set = HashSet::new();
    for l in labels {
        for label in l.iter() {
            set.insert(label.name);
            set.insert(label.value);
        }
    }
    let mut symbols: Vec<&str> = set.into_iter().collect();
    symbols.sort_unstable();
    symbols
}

/// The order of series in a block: by their encoded label bytes. Any total order
/// would do (compaction merges equal label sets; query results are sorted by labels
/// afterwards); this one is a plain memcmp, which matters when sorting millions.
pub(crate) fn series_order(a: &Labels, b: &Labels) -> Ordering {
    a.as_bytes().cmp(b.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_break_at_window_multiples_and_at_the_size_limit() {
        let points: Vec<Point> = (-5..3000).map(|t| Point { t: t * 10, v: 0.0 }).collect();
        let sizes = |window| -> Vec<(usize, i64)> {
            chunk_parts(&points, window)
                .map(|p| (p.len(), p[0].t))
                .collect()
        };
        assert_eq!(sizes(None), vec![(1024, -50), (1024, 10190), (957, 20430)]);
        assert_eq!(
            sizes(Some(10_000)),
            vec![(5, -50), (1000, 0), (1000, 10_000), (1000, 20_000)]
        );
        assert_eq!(sizes(Some(100_000)).len(), 4);
        assert!(chunk_parts(&[], Some(1)).next().is_none());
    }
}
