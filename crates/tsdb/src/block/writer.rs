//! Writes one block from series given in label order, streaming: chunks, the series
//! table and the postings go to their files as the series pass (the postings held
//! coded as runs until the end), so what a flush holds beyond its input is small next
//! to the data it writes.

use super::chunks::{stream_of, ChunksWriter};
use super::packed::PackedWriter;
use super::postings::PostingsWriter;
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

/// Coded index bytes are moved to their file in pieces of about this size.
const DRAIN: usize = 64 << 10;
use std::path::Path;
use strata_core::{Labels, Point, StorageError};

/// What a new block is, apart from its data.
#[derive(Debug, Clone)]
pub struct NewBlock<'a> {
    pub name: &'a str,
    pub seq: u64,
    pub level: u32,
    pub compacted_from: Vec<String>,
    /// Chunks hold at most this many points (a series' points are split evenly): a
    /// head cut keeps chunks short, so a query of recent data decodes few points, and
    /// compaction makes them long, which compresses best.
    pub chunk_points: usize,
}

/// The series of a block being written, walked twice: once for their labels (the
/// symbol table is needed first), then in [`series_order`] with their points. A source
/// produces its series as they are written, so a block of a million series never has
/// them all decoded at once.
pub trait SeriesSource {
    /// Calls `f` with the labels of every series, in any order (repeats are fine).
    fn each_labels(&mut self, f: &mut dyn FnMut(&Labels)) -> Result<(), StorageError>;

    /// The next series in [`series_order`], each label set once, with its points
    /// (ascending, unique; none leaves the series out); `None` after the last.
    fn next_series(&mut self) -> Result<Option<(Labels, Vec<Point>)>, StorageError>;
}

/// Label sets by index: a slice of them, or a view of series held elsewhere (so a
/// caller need not copy a million label sets into a slice).
pub trait LabelsByIndex {
    fn count(&self) -> usize;
    fn labels(&self, i: usize) -> &Labels;
}

impl LabelsByIndex for [Labels] {
    fn count(&self) -> usize {
        self.len()
    }

    fn labels(&self, i: usize) -> &Labels {
        &self[i]
    }
}

impl LabelsByIndex for Vec<Labels> {
    fn count(&self) -> usize {
        self.len()
    }

    fn labels(&self, i: usize) -> &Labels {
        &self[i]
    }
}

/// Writes the block `new.name` under `parent`. `labels` must be unique and in
/// [`series_order`];
/// `points_of(i)` gives the points (ascending, unique) of label set `i`; series without
/// points are left out. Returns `None` (and writes nothing) if no series has points.
pub fn write_block<L: LabelsByIndex + ?Sized>(
    parent: &Path,
    new: NewBlock<'_>,
    labels: &L,
    points_of: impl FnMut(usize) -> Result<Vec<Point>, StorageError>,
) -> Result<Option<BlockMeta>, StorageError> {
    let mut source = SliceSource {
        labels,
        points_of,
        next: 0,
    };
    write_series(parent, new, &mut source)
}

/// Labels by index, points from a function of the index.
struct SliceSource<'a, L: ?Sized, F> {
    labels: &'a L,
    points_of: F,
    next: usize,
}

impl<L, F> SeriesSource for SliceSource<'_, L, F>
where
    L: LabelsByIndex + ?Sized,
    F: FnMut(usize) -> Result<Vec<Point>, StorageError>,
{
    fn each_labels(&mut self, f: &mut dyn FnMut(&Labels)) -> Result<(), StorageError> {
        (0..self.labels.count()).for_each(|i| f(self.labels.labels(i)));
        Ok(())
    }

    fn next_series(&mut self) -> Result<Option<(Labels, Vec<Point>)>, StorageError> {
        if self.next >= self.labels.count() {
            return Ok(None);
        }
        let points = (self.points_of)(self.next)?;
        let labels = self.labels.labels(self.next).clone();
        self.next += 1;
        Ok(Some((labels, points)))
    }
}

/// Writes the block `new.name` under `parent` from `source`. Returns `None` (and
/// writes nothing) if no series has points.
pub fn write_series(
    parent: &Path,
    new: NewBlock<'_>,
    source: &mut impl SeriesSource,
) -> Result<Option<BlockMeta>, StorageError> {
    let symbols = symbol_table(source)?;
    let sym_index: HashMap<&str, u32> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| (&**s, i as u32))
        .collect();
    let symbol = |s: &str| {
        sym_index.get(s).copied().ok_or_else(|| {
            StorageError::Other(format!("{s:?} was not among the series' labels at first"))
        })
    };
    let tmp = parent.join(format!("{}{TMP_SUFFIX}", new.name));
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    fs::create_dir_all(&tmp)?;
    let mut files = BlockFiles::create(&tmp, &new)?;
    let mut refs = Vec::new();
    let mut prev: Option<Labels> = None;
    while let Some((labels, points)) = source.next_series()? {
        if prev
            .as_ref()
            .is_some_and(|p| series_order(p, &labels) != Ordering::Less)
        {
            return Err(StorageError::Other(format!(
                "series {labels} comes out of order or twice"
            )));
        }
        if !points.is_empty() {
            refs.clear();
            for label in labels.iter() {
                refs.extend([symbol(label.name)?, symbol(label.value)?]);
            }
            files.add(&refs, &points, new.chunk_points)?;
        }
        prev = Some(labels);
    }
    if files.meta.num_series == 0 {
        drop(files);
        fs::remove_dir_all(&tmp)?;
        return Ok(None);
    }
    let meta = files.finish(&tmp, &symbols)?;
    sync_dir(&tmp)?;
    fs::rename(&tmp, parent.join(new.name))?;
    sync_dir(parent)?;
    Ok(Some(meta))
}

/// A block's files as its series stream in.
struct BlockFiles {
    chunks: ChunksWriter,
    series: SeriesTableWriter,
    series_file: PackedWriter,
    postings: PostingsWriter,
    meta: BlockMeta,
    metas: Vec<ChunkMeta>,
}

impl BlockFiles {
    fn create(dir: &Path, new: &NewBlock<'_>) -> Result<BlockFiles, StorageError> {
        Ok(BlockFiles {
            chunks: ChunksWriter::create(&dir.join(CHUNKS))?,
            series: SeriesTableWriter::default(),
            series_file: PackedWriter::create(&dir.join(SERIES)),
            postings: PostingsWriter::default(),
            meta: BlockMeta {
                version: FORMAT_VERSION,
                min_t: i64::MAX,
                max_t: i64::MIN,
                num_series: 0,
                num_samples: 0,
                num_chunks: 0,
                seq: new.seq,
                level: new.level,
                compacted_from: new.compacted_from.clone(),
            },
            metas: Vec::new(),
        })
    }

    /// Adds a series: `refs` its label name and value symbols, alternating; `points`
    /// (not empty) its samples.
    fn add(
        &mut self,
        refs: &[u32],
        points: &[Point],
        chunk_points: usize,
    ) -> Result<(), StorageError> {
        let id = u32::try_from(self.meta.num_series)
            .ok()
            .filter(|&id| id < u32::MAX)
            .ok_or_else(|| StorageError::Other("more than 2^32 series in one block".into()))?;
        for pair in refs.chunks_exact(2) {
            self.postings.add((pair[0], pair[1]), id);
        }
        self.metas.clear();
        let starts = self.chunks.offsets();
        let parts: Vec<&[Point]> = chunk_parts(points, chunk_points).collect();
        for (k, part) in parts.iter().enumerate() {
            let bytes = chunk::encode(part);
            self.metas.push(ChunkMeta {
                min_t: part[0].t,
                max_t: part[part.len() - 1].t,
                offset: self.chunks.write(stream_of(k, parts.len()), &bytes)?,
                len: bytes.len() as u64,
            });
        }
        self.series.add(refs, &self.metas, starts);
        if self.series.pending() >= DRAIN {
            self.series.drain_to(&mut self.series_file)?;
        }
        let meta = &mut self.meta;
        meta.num_series += 1;
        meta.num_chunks += self.metas.len() as u64;
        meta.min_t = meta.min_t.min(points[0].t);
        meta.max_t = meta.max_t.max(points[points.len() - 1].t);
        meta.num_samples += points.len() as u64;
        Ok(())
    }

    /// Ends and syncs every file of the block in `dir`.
    fn finish(mut self, dir: &Path, symbols: &[Box<str>]) -> Result<BlockMeta, StorageError> {
        self.chunks.finish()?;
        self.series_file.write_all(&self.series.finish())?;
        self.series_file.finish()?;
        let mut postings_file = PackedWriter::create(&dir.join(POSTINGS));
        self.postings.write_to(&mut postings_file)?;
        postings_file.finish()?;
        write_symbols(&dir.join(SYMBOLS), symbols)?;
        let json = serde_json::to_vec_pretty(&self.meta)
            .map_err(|e| StorageError::Other(e.to_string()))?;
        let mut f = File::create(dir.join(META))?;
        f.write_all(&json)?;
        f.sync_all()?;
        Ok(self.meta)
    }
}

/// The symbols file: their count, then each with its length.
fn write_symbols(path: &Path, symbols: &[Box<str>]) -> std::io::Result<()> {
    let mut out = PackedWriter::create(path);
    let mut buf = Vec::new();
    put_uvarint(&mut buf, symbols.len() as u64);
    for s in symbols {
        put_bytes(&mut buf, s.as_bytes());
        if buf.len() >= DRAIN {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.finish()
}

/// `points` cut into the fewest chunks of at most `max_points` (and [`CHUNK_POINTS`]),
/// of equal length give or take one: no short tail chunk restarts its codec for a few
/// points.
fn chunk_parts(points: &[Point], max_points: usize) -> impl Iterator<Item = &[Point]> {
    let max_points = max_points.clamp(1, CHUNK_POINTS);
    let parts = points.len().div_ceil(max_points);
    let mut rest = points;
    (0..parts).map(move |k| {
        let (part, tail) = rest.split_at(rest.len().div_ceil(parts - k));
        rest = tail;
        part
    })
}

/// Every label name and value of the source's series, once each, sorted.
fn symbol_table(source: &mut impl SeriesSource) -> Result<Vec<Box<str>>, StorageError> {
    let mut set: HashSet<Box<str>> = HashSet::new();
    source.each_labels(&mut |labels| {
        for label in labels.iter() {
            for s in [label.name, label.value] {
                if !set.contains(s) {
                    set.insert(s.into());
                }
            }
        }
    })?;
    let mut symbols: Vec<Box<str>> = set.into_iter().collect();
    symbols.sort_unstable();
    Ok(symbols)
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
    fn chunks_split_evenly_under_the_limit() {
        let points: Vec<Point> = (0..1001).map(|t| Point { t, v: 0.0 }).collect();
        let sizes = |max| -> Vec<usize> { chunk_parts(&points, max).map(<[Point]>::len).collect() };
        assert_eq!(sizes(480), vec![334, 334, 333]);
        assert_eq!(sizes(2000), vec![1001]);
        assert_eq!(sizes(usize::MAX), vec![1001]);
        assert_eq!(sizes(0).len(), 1001);
        let joined: Vec<Point> = chunk_parts(&points, 7).flatten().copied().collect();
        assert_eq!(joined, points);
        assert!(chunk_parts(&[], 480).next().is_none());
    }
}
