//! Reads a block through memory maps. Index files are checksummed on open, so later
//! decoding errors mean a bug or a file changed underneath us; they are reported as
//! [`StorageError::Corrupt`] naming the block, never a panic.

use super::chunks::{ChunksLayout, FrameCursor};
use super::packed::{self, PackedError};
use super::series::{ChunkMeta, EntryCursor, SeriesTable};
use super::{postings, BlockMeta, CHUNKS, FORMAT_VERSION, META, POSTINGS, SERIES, SYMBOLS};
use crate::chunk;
use crate::encoding::{DecodeError, Decoder};
use crate::index::{LabelIndex, LabelValues};
use memmap2::Mmap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use strata_core::{Labels, Matcher, Point, StorageError, TimeRange};

#[derive(Debug, Clone, PartialEq)]
pub struct SeriesEntry {
    pub labels: Labels,
    pub chunks: Vec<ChunkMeta>,
}

impl SeriesEntry {
    pub fn overlaps(&self, range: TimeRange) -> bool {
        self.chunks.iter().any(|c| range.overlaps(c.min_t, c.max_t))
    }
}

pub struct Block {
    dir: PathBuf,
    name: String,
    meta: BlockMeta,
    /// Every symbol's text, back to back, checked as UTF-8 once at open.
    symbols: String,
    /// Where each symbol starts in `symbols`, and a final entry where the last ends.
    sym_offsets: Vec<u32>,
    series: Vec<u8>,
    series_table: SeriesTable,
    postings: Vec<u8>,
    postings_table: usize,
    /// Each label name's symbol and its contiguous entries of the postings table, in
    /// name order: found once at open, since discovery asks for them on every request.
    names: Vec<(u32, std::ops::Range<usize>)>,
    chunks: Mmap,
    chunks_layout: ChunksLayout,
    bytes: u64,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("name", &self.name)
            .field("meta", &self.meta)
            .finish()
    }
}

/// Reads a block's series, cheapest in ascending index order: each group of the series
/// table is then decoded once (see [`SeriesTable::cursor`]).
/// A series of a block, as [`Block::each_series_in`] lends it.
pub struct LentSeries<'a> {
    pub labels: Labels,
    pub chunks: &'a [ChunkMeta],
    /// The symbols of its label names and values, in label order. The symbol table is
    /// sorted, so within one block these slices order series as their labels do.
    pub order_key: &'a [u32],
}

pub struct SeriesReader<'a> {
    block: &'a Block,
    cursor: EntryCursor<'a>,
    pairs: Vec<(&'a str, &'a str)>,
}

impl SeriesReader<'_> {
    /// Series `i`, or `None` if `range` is given and no chunk of it overlaps the range;
    /// its labels are only resolved then, since symbol lookups cost more than chunks.
    pub fn read(
        &mut self,
        i: u32,
        range: Option<TimeRange>,
    ) -> Result<Option<SeriesEntry>, StorageError> {
        Ok(self.read_in_place(i, range)?.map(|series| SeriesEntry {
            labels: series.labels,
            chunks: series.chunks.to_vec(),
        }))
    }

    /// As [`SeriesReader::read`], lending the chunks instead of copying them.
    pub fn read_in_place(
        &mut self,
        i: u32,
        range: Option<TimeRange>,
    ) -> Result<Option<LentSeries<'_>>, StorageError> {
        let block = self.block;
        match self.decode(i, range) {
            Ok(true) => Ok(Some(LentSeries {
                labels: self.labels(i)?,
                chunks: &self.cursor.chunks,
                order_key: &self.cursor.refs,
            })),
            Ok(false) => Ok(None),
            Err(e) => Err(block.corrupt(format!("series {i}: {e}"))),
        }
    }

    /// Decodes entry `i`; false if `range` is given and no chunk overlaps it.
    fn decode(&mut self, i: u32, range: Option<TimeRange>) -> Result<bool, DecodeError> {
        self.cursor.seek(i as usize)?;
        let chunks = &self.cursor.chunks;
        Ok(range.is_none_or(|r| chunks.iter().any(|c| r.overlaps(c.min_t, c.max_t))))
    }

    /// The labels of the entry just decoded.
    fn labels(&mut self, i: u32) -> Result<Labels, StorageError> {
        let block = self.block;
        self.pairs.clear();
        for pair in self.cursor.refs.chunks_exact(2) {
            let symbol = |r: u32| {
                block
                    .symbol(u64::from(r))
                    .map_err(|e| block.corrupt(format!("series {i}: {e}")))
            };
            self.pairs.push((symbol(pair[0])?, symbol(pair[1])?));
        }
        Labels::from_sorted_pairs(self.pairs.iter().copied())
            .map_err(|_| block.corrupt(format!("series {i}: malformed labels")))
    }
}

/// The symbols file as one text and each symbol's start (plus the end of the last),
/// checked to be UTF-8 and strictly ascending.
fn symbol_text(file: &[u8]) -> Result<(String, Vec<u32>), DecodeError> {
    let mut d = Decoder::new(file);
    let n = d.len()?;
    let mut text = String::with_capacity(file.len());
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0);
    let mut previous: &[u8] = &[];
    for i in 0..n {
        let bytes = d.len_bytes()?;
        // Symbol order is label order: readers order a block's series by their refs.
        if i > 0 && bytes <= previous {
            return Err(DecodeError("symbols out of order"));
        }
        previous = bytes;
        text.push_str(std::str::from_utf8(bytes).map_err(|_| DecodeError("symbol is not UTF-8"))?);
        offsets.push(u32::try_from(text.len()).map_err(|_| DecodeError("symbols exceed 4 GiB"))?);
    }
    Ok((text, offsets))
}

fn map(path: &Path) -> Result<Mmap, StorageError> {
    let f = File::open(path)?;
    // SAFETY: block files are immutable once renamed into place; the store never
    // writes to them, and deletes them only by unlinking (the mapping stays valid).
    Ok(unsafe { Mmap::map(&f)? })
}

/// Reads the trailing `u64` count of a body and the start of its fixed-size table.
fn table_of(body: &[u8], entry: usize, what: &str) -> Result<(usize, usize), String> {
    let n = body
        .len()
        .checked_sub(8)
        .map(|at| u64::from_le_bytes(body[at..].try_into().unwrap_or_default()))
        .ok_or(format!("{what}: no table"))?;
    let size = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_mul(entry))
        .ok_or(format!("{what}: bad table"))?;
    let start = (body.len() - 8)
        .checked_sub(size)
        .ok_or(format!("{what}: table exceeds file"))?;
    Ok((n as usize, start))
}

impl Block {
    pub fn open(dir: &Path) -> Result<Block, StorageError> {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let corrupt = |e: String| StorageError::Corrupt(format!("block {name}: {e}"));
        let meta: BlockMeta = serde_json::from_slice(&fs::read(dir.join(META))?)
            .map_err(|e| corrupt(format!("meta.json: {e}")))?;
        if meta.version != FORMAT_VERSION {
            return Err(StorageError::Other(format!(
                "block {name}: format version {} is not supported (this build reads version \
                 {FORMAT_VERSION}); move the block out of the data directory to open without it",
                meta.version
            )));
        }
        let read = |file: &str| {
            packed::read(&dir.join(file)).map_err(|e| match e {
                PackedError::Io(e) => StorageError::Io(e),
                PackedError::Damaged(why) => corrupt(format!("{file}: {why}")),
            })
        };
        let (symbols, sym_offsets) =
            symbol_text(&read(SYMBOLS)?).map_err(|e| corrupt(format!("{SYMBOLS}: {e}")))?;
        let series = read(SERIES)?;
        let postings = read(POSTINGS)?;
        let chunks = map(&dir.join(CHUNKS))?;

        let series_table =
            SeriesTable::open(&series).map_err(|e| corrupt(format!("series: {e}")))?;
        if series_table.len() as u64 != meta.num_series {
            return Err(corrupt(format!(
                "series: {} series, meta.json says {}",
                series_table.len(),
                meta.num_series
            )));
        }
        let (postings_count, postings_table) =
            table_of(&postings, postings::ENTRY, POSTINGS).map_err(corrupt)?;
        let names = name_ranges(
            &postings[postings_table..],
            postings_count,
            sym_offsets.len() - 1,
        )
        .map_err(|e| corrupt(format!("{POSTINGS}: {e}")))?;
        let chunks_layout = ChunksLayout::open(&chunks).map_err(corrupt)?;
        let bytes = [SYMBOLS, SERIES, POSTINGS, CHUNKS, META]
            .iter()
            .filter_map(|f| fs::metadata(dir.join(f)).ok())
            .map(|m| m.len())
            .sum();
        Ok(Block {
            dir: dir.to_owned(),
            name,
            meta,
            symbols,
            sym_offsets,
            series,
            series_table,
            postings,
            postings_table,
            names,
            chunks,
            chunks_layout,
            bytes,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// Bytes on disk.
    pub fn size_bytes(&self) -> u64 {
        self.bytes
    }

    pub fn num_series(&self) -> usize {
        self.series_table.len()
    }

    fn corrupt(&self, what: impl std::fmt::Display) -> StorageError {
        StorageError::Corrupt(format!("block {}: {what}", self.name))
    }

    fn symbol(&self, i: u64) -> Result<&str, DecodeError> {
        let i = usize::try_from(i).map_err(|_| DecodeError("symbol out of range"))?;
        match self.sym_offsets.get(i..i.saturating_add(2)) {
            Some(&[start, end]) => Ok(&self.symbols[start as usize..end as usize]),
            _ => Err(DecodeError("symbol out of range")),
        }
    }

    /// The index of symbol `s`, if the block has it.
    fn find_symbol(&self, s: &str) -> Option<u32> {
        let (mut lo, mut hi) = (0usize, self.sym_offsets.len() - 1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.symbol(mid as u64).ok()?.cmp(s) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid as u32),
            }
        }
        None
    }

    /// The series at index `i` (series are in [`super::series_order`]).
    pub fn series(&self, i: u32) -> Result<SeriesEntry, StorageError> {
        self.series_reader()
            .read(i, None)?
            .ok_or_else(|| self.corrupt(format!("series {i}: missing")))
    }

    /// The series at index `i` if it has a chunk overlapping `range`.
    pub fn series_in(&self, i: u32, range: TimeRange) -> Result<Option<SeriesEntry>, StorageError> {
        self.series_reader().read(i, Some(range))
    }

    /// Calls `f` with each series matching `matchers` that has a chunk overlapping
    /// `range`, in index order (each group of the series table decoded once).
    pub fn each_series_in(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
        mut f: impl FnMut(LentSeries<'_>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        if !range.overlaps(self.meta.min_t, self.meta.max_t) {
            return Ok(());
        }
        let mut reader = self.series_reader();
        for id in crate::index::select(self, matchers) {
            if let Some(series) = reader.read_in_place(id, Some(range))? {
                f(series)?;
            }
        }
        Ok(())
    }

    /// A reader for many series in ascending index order (a postings list's order).
    pub fn series_reader(&self) -> SeriesReader<'_> {
        SeriesReader {
            block: self,
            cursor: self.series_table.cursor(&self.series),
            pairs: Vec::with_capacity(8),
        }
    }

    /// Appends the points of `chunks` within `range` to `out`, in time order.
    pub fn read_points(
        &self,
        chunks: &[ChunkMeta],
        range: TimeRange,
        out: &mut Vec<Point>,
    ) -> Result<(), StorageError> {
        self.read_points_with(chunks, range, &mut FrameCursor::default(), out)
    }

    /// [`Block::read_points`] for a reader going through many series in order, which
    /// keeps `cursor` (one per block) from one call to the next.
    pub fn read_points_with(
        &self,
        chunks: &[ChunkMeta],
        range: TimeRange,
        cursor: &mut FrameCursor,
        out: &mut Vec<Point>,
    ) -> Result<(), StorageError> {
        for c in chunks.iter().filter(|c| range.overlaps(c.min_t, c.max_t)) {
            self.chunks_layout
                .with_chunk(&self.chunks, c.offset, c.len, cursor, |bytes| {
                    chunk::decode_range_into(bytes, range, out)
                })
                .map_err(|e| self.corrupt(e))?
                .map_err(|e| self.corrupt(format!("chunk at {}: {e}", c.offset)))?;
        }
        Ok(())
    }

    fn postings_entry(&self, i: usize) -> (u32, u32, u64) {
        table_entry(&self.postings[self.postings_table..], i)
    }

    /// Table entries of label name symbol `name`: a contiguous range.
    fn name_range(&self, name: u32) -> std::ops::Range<usize> {
        match self.names.binary_search_by_key(&name, |(n, _)| *n) {
            Ok(i) => self.names[i].1.clone(),
            Err(_) => 0..0,
        }
    }

    fn decode_postings(&self, offset: u64, out: &mut Vec<u32>) -> Result<(), DecodeError> {
        let list = usize::try_from(offset)
            .ok()
            .and_then(|o| self.postings.get(o..self.postings_table))
            .ok_or(DecodeError("bad postings offset"))?;
        let from = out.len();
        let result = postings::decode_list(Decoder::new(list), self.num_series() as u32, out);
        if result.is_err() {
            out.truncate(from);
        }
        result
    }

    /// Every label name in the block, sorted.
    pub fn label_names(&self) -> Vec<&str> {
        self.names
            .iter()
            .filter_map(|(name, _)| self.symbol(u64::from(*name)).ok())
            .collect()
    }

    /// Every value of label `name` in the block, sorted.
    pub fn label_values(&self, name: &str) -> Vec<&str> {
        self.values_of(name).collect()
    }

    fn values_of(&self, name: &str) -> impl Iterator<Item = &str> {
        let entries = self.find_symbol(name).map_or(0..0, |n| self.name_range(n));
        self.values_in(entries)
    }

    /// The values of table entries `entries`.
    fn values_in(&self, entries: std::ops::Range<usize>) -> impl Iterator<Item = &str> {
        entries.filter_map(|i| self.value_at(i))
    }

    fn value_at(&self, entry: usize) -> Option<&str> {
        self.symbol(u64::from(self.postings_entry(entry).1)).ok()
    }
}

/// Entry `i` of a postings table: name symbol, value symbol, list offset.
fn table_entry(table: &[u8], i: usize) -> (u32, u32, u64) {
    let e = &table[postings::ENTRY * i..postings::ENTRY * (i + 1)];
    let u32_at = |o: usize| u32::from_le_bytes([e[o], e[o + 1], e[o + 2], e[o + 3]]);
    (
        u32_at(0),
        u32_at(4),
        u64::from_le_bytes(e[8..16].try_into().unwrap_or_default()),
    )
}

/// Each label name's symbol with its entries in a postings table of `count` entries,
/// checking that the entries are in strictly ascending (name, value) order of symbols
/// below `symbols`: lookups and discovery's sorted answers rely on it.
fn name_ranges(
    table: &[u8],
    count: usize,
    symbols: usize,
) -> Result<Vec<(u32, std::ops::Range<usize>)>, String> {
    let mut names: Vec<(u32, std::ops::Range<usize>)> = Vec::new();
    let mut prev: Option<(u32, u32)> = None;
    for i in 0..count {
        let (name, value, _) = table_entry(table, i);
        if name as usize >= symbols || value as usize >= symbols {
            return Err(format!("entry {i}: symbol out of range"));
        }
        if prev.is_some_and(|p| p >= (name, value)) {
            return Err(format!("entry {i}: out of order"));
        }
        prev = Some((name, value));
        match names.last_mut() {
            Some((last, entries)) if *last == name => entries.end = i + 1,
            _ => names.push((name, i..i + 1)),
        }
    }
    Ok(names)
}

/// The first index in `0..n` for which `pred` is false (`pred` true then false).
fn partition(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

impl LabelValues for Block {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
        self.values_of(name).for_each(f);
    }

    fn for_each_value_with_prefix(&self, name: &str, prefix: &str, f: &mut dyn FnMut(&str)) {
        let Some(name) = self.find_symbol(name) else {
            return;
        };
        let entries = self.name_range(name);
        let value = |i: usize| self.value_at(entries.start + i).unwrap_or_default();
        let start = partition(entries.len(), |i| value(i) < prefix);
        let len = partition(entries.len() - start, |i| {
            value(start + i).starts_with(prefix)
        });
        let first = entries.start + start;
        self.values_in(first..first + len).for_each(f);
    }
}

impl LabelIndex for Block {
    fn all_postings(&self) -> Vec<u32> {
        (0..self.num_series() as u32).collect()
    }

    fn postings(&self, name: &str, value: &str, out: &mut Vec<u32>) {
        let (Some(n), Some(v)) = (self.find_symbol(name), self.find_symbol(value)) else {
            return;
        };
        let range = self.name_range(n);
        let at =
            range.start + partition(range.len(), |i| self.postings_entry(range.start + i).1 < v);
        if at < range.end {
            let (_, value, offset) = self.postings_entry(at);
            if value == v {
                if let Err(e) = self.decode_postings(offset, out) {
                    tracing::error!(block = %self.name, error = %e, "corrupt postings list");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::writer::{write_block, NewBlock};
    use super::*;
    use crate::index;
    use strata_core::{MatchOp, Matcher};

    fn new(name: &str) -> NewBlock<'_> {
        NewBlock {
            name,
            seq: 1,
            level: 0,
            compacted_from: vec![],
            chunk_points: crate::block::CHUNK_POINTS,
        }
    }

    #[test]
    fn written_block_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut labels: Vec<Labels> = (0..50)
            .map(|i| {
                Labels::new([
                    ("__name__", "m"),
                    ("i", &i.to_string()),
                    ("even", if i % 2 == 0 { "y" } else { "n" }),
                ])
                .unwrap()
            })
            .collect();
        labels.push(Labels::new([("__name__", "empty")]).unwrap());
        labels.sort_by(super::super::series_order);
        let points = |i: usize| -> Vec<Point> {
            if labels[i].metric_name() == Some("empty") {
                return vec![];
            }
            (0..3000)
                .map(|k| Point {
                    t: k * 15_000 + i as i64,
                    v: k as f64 * 0.5,
                })
                .collect()
        };
        let meta = write_block(dir.path(), new("b1"), &labels, |i| Ok(points(i)))
            .unwrap()
            .unwrap();
        assert_eq!(meta.num_series, 50);
        assert_eq!(meta.num_samples, 150_000);
        let b = Block::open(&dir.path().join("b1")).unwrap();
        assert_eq!(b.num_series(), 50);
        let even = index::select(&b, &[Matcher::equal("even", "y")]);
        assert_eq!(even.len(), 25);
        let re = index::select(&b, &[Matcher::new(MatchOp::Regex, "i", "1|2|3").unwrap()]);
        assert_eq!(re.len(), 3);
        for id in re {
            let s = b.series(id).unwrap();
            assert_eq!(b.series_in(id, TimeRange::ALL).unwrap().as_ref(), Some(&s));
            assert_eq!(b.series_in(id, TimeRange::new(-10, -1)).unwrap(), None);
            let i = labels.iter().position(|l| *l == s.labels).unwrap();
            let mut got = Vec::new();
            b.read_points(&s.chunks, TimeRange::new(15_000 * 1500, i64::MAX), &mut got)
                .unwrap();
            assert_eq!(got, points(i)[1500..].to_vec());
        }
        assert_eq!(b.label_names(), ["__name__", "even", "i"]);
        assert_eq!(b.label_values("even"), ["n", "y"]);
        let mut i_values: Vec<String> = (0..50).map(|i| i.to_string()).collect();
        i_values.sort();
        assert_eq!(b.label_values("i"), i_values);
        assert!(b.label_values("absent").is_empty());
        for prefix in ["", "1", "2", "4", "49", "5", "x"] {
            let mut got = Vec::new();
            b.for_each_value_with_prefix("i", prefix, &mut |v| got.push(v.to_owned()));
            let want: Vec<&String> = i_values.iter().filter(|v| v.starts_with(prefix)).collect();
            assert_eq!(got.iter().collect::<Vec<_>>(), want, "{prefix}");
        }
        let re = Matcher::new(MatchOp::Regex, "i", "1.").unwrap();
        assert_eq!(index::select(&b, &[re]).len(), 10);
        assert!(index::select(&b, &[Matcher::equal("__name__", "empty")]).is_empty());
    }

    /// Readers order a block's series by symbol refs, so symbols out of order (or
    /// repeated) are damage, refused with the reason; the same symbols in order read.
    #[test]
    fn symbols_out_of_order_are_refused() {
        let file = |symbols: &[&str]| {
            let mut buf = Vec::new();
            crate::encoding::put_uvarint(&mut buf, symbols.len() as u64);
            for s in symbols {
                crate::encoding::put_bytes(&mut buf, s.as_bytes());
            }
            buf
        };
        let (text, offsets) = symbol_text(&file(&["a", "ab", "b"])).unwrap();
        assert_eq!((text.as_str(), offsets), ("aabb", vec![0, 1, 3, 4]));
        for bad in [&["b", "a"][..], &["a", "a"], &["ab", "a"]] {
            let e = symbol_text(&file(bad)).unwrap_err();
            assert_eq!(e.0, "symbols out of order", "{bad:?}");
        }
    }

    #[test]
    fn corrupt_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let labels = vec![Labels::new([("a", "1")]).unwrap()];
        write_block(dir.path(), new("b"), &labels, |_| {
            Ok(vec![Point { t: 1, v: 1.0 }])
        })
        .unwrap();
        let path = dir.path().join("b");
        for file in [SYMBOLS, SERIES, POSTINGS] {
            let p = path.join(file);
            let orig = fs::read(&p).unwrap();
            for pos in 0..orig.len() {
                let mut bad = orig.clone();
                bad[pos] ^= 0x41;
                fs::write(&p, &bad).unwrap();
                assert!(Block::open(&path).is_err(), "{file} byte {pos}");
            }
            fs::write(&p, &orig).unwrap();
        }
        let p = path.join(CHUNKS);
        let orig = fs::read(&p).unwrap();
        let mut bad = orig.clone();
        bad[0] ^= 0x41;
        fs::write(&p, &bad).unwrap();
        let b = Block::open(&path).unwrap();
        let s = b.series(0).unwrap();
        assert!(b
            .read_points(&s.chunks, TimeRange::ALL, &mut Vec::new())
            .is_err());
    }
}
