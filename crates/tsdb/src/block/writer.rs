//! Writes one block from series given in label order.

use super::{
    BlockMeta, CHUNKS, CHUNK_POINTS, FORMAT_VERSION, META, POSTINGS, SERIES, SYMBOLS, TMP_SUFFIX,
};
use crate::chunk;
use crate::encoding::{put_bytes, put_uvarint, put_varint};
use crate::wal::sync_dir;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use strata_core::{Labels, Point, StorageError};

/// What a new block is, apart from its data.
#[derive(Debug, Clone)]
pub struct NewBlock<'a> {
    pub name: &'a str,
    pub seq: u64,
    pub level: u32,
    pub compacted_from: Vec<String>,
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

    let mut chunks = BufWriter::with_capacity(1 << 20, File::create(tmp.join(CHUNKS))?);
    let mut chunk_offset = 0u64;
    let mut series_buf = Vec::new();
    let mut series_offsets: Vec<u64> = Vec::new();
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
    for (i, l) in labels.iter().enumerate() {
        let points = points_of(i)?;
        if points.is_empty() {
            continue;
        }
        let index = series_offsets.len() as u32;
        series_offsets.push(series_buf.len() as u64);
        put_uvarint(&mut series_buf, l.len() as u64);
        for label in l.iter() {
            let pair = (sym_index[label.name], sym_index[label.value]);
            put_uvarint(&mut series_buf, u64::from(pair.0));
            put_uvarint(&mut series_buf, u64::from(pair.1));
            postings.entry(pair).or_default().push(index);
        }
        let parts = points.chunks(CHUNK_POINTS);
        put_uvarint(&mut series_buf, parts.len() as u64);
        let mut prev_max = 0i64;
        for part in parts {
            let bytes = chunk::encode(part);
            chunks.write_all(&bytes)?;
            chunks.write_all(&crc32c::crc32c(&bytes).to_le_bytes())?;
            let (min, max) = (part[0].t, part[part.len() - 1].t);
            put_varint(&mut series_buf, min.wrapping_sub(prev_max));
            put_uvarint(&mut series_buf, max.wrapping_sub(min) as u64);
            put_uvarint(&mut series_buf, chunk_offset);
            put_uvarint(&mut series_buf, bytes.len() as u64);
            chunk_offset += bytes.len() as u64 + 4;
            prev_max = max;
            meta.num_chunks += 1;
        }
        meta.min_t = meta.min_t.min(points[0].t);
        meta.max_t = meta.max_t.max(points[points.len() - 1].t);
        meta.num_samples += points.len() as u64;
    }
    if series_offsets.is_empty() {
        drop(chunks);
        fs::remove_dir_all(&tmp)?;
        return Ok(None);
    }
    meta.num_series = series_offsets.len() as u64;
    chunks
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;

    for off in &series_offsets {
        series_buf.extend_from_slice(&off.to_le_bytes());
    }
    series_buf.extend_from_slice(&(series_offsets.len() as u64).to_le_bytes());
    write_checked(&tmp.join(SERIES), series_buf)?;
    write_checked(&tmp.join(POSTINGS), encode_postings(postings))?;
    let mut sym_buf = Vec::new();
    put_uvarint(&mut sym_buf, symbols.len() as u64);
    for s in &symbols {
        put_bytes(&mut sym_buf, s.as_bytes());
    }
    write_checked(&tmp.join(SYMBOLS), sym_buf)?;
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| StorageError::Other(e.to_string()))?;
    let mut f = File::create(tmp.join(META))?;
    f.write_all(&json)?;
    f.sync_all()?;
    sync_dir(&tmp)?;
    fs::rename(&tmp, parent.join(new.name))?;
    sync_dir(parent)?;
    Ok(Some(meta))
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

/// Lists, then the table of `(name sym u32, value sym u32, offset u64)` and its length.
fn encode_postings(postings: HashMap<(u32, u32), Vec<u32>>) -> Vec<u8> {
    let mut keys: Vec<_> = postings.into_iter().collect();
    keys.sort_unstable_by_key(|(k, _)| *k);
    let mut buf = Vec::new();
    let mut table = Vec::with_capacity(keys.len() * 16);
    for ((name, value), list) in &keys {
        table.extend_from_slice(&name.to_le_bytes());
        table.extend_from_slice(&value.to_le_bytes());
        table.extend_from_slice(&(buf.len() as u64).to_le_bytes());
        put_uvarint(&mut buf, list.len() as u64);
        let mut prev = 0u32;
        for &id in list {
            put_uvarint(&mut buf, u64::from(id - prev));
            prev = id;
        }
    }
    buf.extend_from_slice(&table);
    buf.extend_from_slice(&(keys.len() as u64).to_le_bytes());
    buf
}

/// Writes `body` followed by its crc32c, and syncs.
fn write_checked(path: &Path, mut body: Vec<u8>) -> std::io::Result<()> {
    let crc = crc32c::crc32c(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    let mut f = File::create(path)?;
    f.write_all(&body)?;
    f.sync_all()
}
