//! A block's chunks file: chunks gathered into frames of about [`FRAME`] bytes, each
//! compressed with zstd (chunks of neighbouring series share much: a metric's chunk
//! headers, grids and repeated values; zstd takes 10-15 % more off the codecs' output),
//! then a frame table, then the frame counts.
//!
//! Chunks go to two streams of frames, each in series order: a series' last chunk to
//! [`LATEST`], its others to [`OLDER`]. A query of recent data then decompresses the
//! frames of last chunks only, not older chunks that happen to share their frame. A
//! chunk's offset is within its stream's uncompressed bytes, with the stream in the top
//! bit ([`place`]); a frame never splits a chunk. Each frame carries the crc32c of its
//! compressed bytes, checked whenever it is decompressed. The last few frames
//! decompressed of each stream are cached: a query reads a block's series in order, in
//! batches that two threads may decode at once.

use parking_lot::Mutex;
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Uncompressed bytes per frame: larger compresses a little better, smaller costs less
/// to decompress for a single chunk.
pub(crate) const FRAME: usize = 16 << 10;
const LEVEL: i32 = 3;
/// No frame is larger (chunks hold at most a few thousand points), so a damaged frame
/// table cannot make a reader allocate more.
const MAX_FRAME: u64 = 16 << 20;
/// A table entry: uncompressed start, file offset, compressed length, crc32c.
const ENTRY: usize = 24;

/// The stream of chunks that are not their series' last.
pub(crate) const OLDER: usize = 0;
/// The stream of each series' last chunk.
pub(crate) const LATEST: usize = 1;
const STREAM_BIT: u64 = 1 << 63;

/// The stream chunk `k` of a series with `n` chunks goes to.
pub(crate) fn stream_of(k: usize, n: usize) -> usize {
    if k + 1 == n {
        LATEST
    } else {
        OLDER
    }
}

/// A chunk's offset as stored: its offset within `stream`, the stream in the top bit.
pub(crate) fn place(stream: usize, offset: u64) -> u64 {
    if stream == LATEST {
        offset | STREAM_BIT
    } else {
        offset
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameEntry {
    start: u64,
    file_offset: u64,
    packed_len: u32,
    crc: u32,
}

impl FrameEntry {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.start.to_le_bytes());
        out.extend_from_slice(&self.file_offset.to_le_bytes());
        out.extend_from_slice(&self.packed_len.to_le_bytes());
        out.extend_from_slice(&self.crc.to_le_bytes());
    }

    fn decode(e: &[u8]) -> FrameEntry {
        let u64_at = |o: usize| u64::from_le_bytes(e[o..o + 8].try_into().unwrap_or_default());
        let u32_at = |o: usize| u32::from_le_bytes(e[o..o + 4].try_into().unwrap_or_default());
        FrameEntry {
            start: u64_at(0),
            file_offset: u64_at(8),
            packed_len: u32_at(16),
            crc: u32_at(20),
        }
    }
}

/// One stream being written: the frame being filled and those already written.
#[derive(Default)]
struct StreamWriter {
    /// Uncompressed bytes so far (the next chunk's offset in the stream).
    len: u64,
    frame: Vec<u8>,
    frames: Vec<FrameEntry>,
}

/// Writes a chunks file, compressing frames as chunks stream through.
pub(crate) struct ChunksWriter {
    out: BufWriter<File>,
    file_len: u64,
    streams: [StreamWriter; 2],
    compressor: zstd::bulk::Compressor<'static>,
}

thread_local! {
    /// A decompression context per thread: creating one per frame costs as much as
    /// decompressing a small frame.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// Decompresses `packed`, which must expand to exactly `size` bytes.
fn decompress(packed: &[u8], size: usize) -> Option<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            *cell = zstd::bulk::Decompressor::new().ok();
        }
        let data = cell.as_mut()?.decompress(packed, size).ok()?;
        (data.len() == size).then_some(data)
    })
}

impl ChunksWriter {
    pub(crate) fn create(path: &Path) -> io::Result<ChunksWriter> {
        Ok(ChunksWriter {
            out: BufWriter::with_capacity(1 << 20, File::create(path)?),
            file_len: 0,
            streams: Default::default(),
            compressor: zstd::bulk::Compressor::new(LEVEL)?,
        })
    }

    /// Where the next chunk of each stream will be written, as offsets in the stream.
    pub(crate) fn offsets(&self) -> [u64; 2] {
        [self.streams[OLDER].len, self.streams[LATEST].len]
    }

    /// Writes a chunk to `stream`; returns its [`place`].
    pub(crate) fn write(&mut self, stream: usize, chunk: &[u8]) -> io::Result<u64> {
        let s = &mut self.streams[stream];
        let at = place(stream, s.len);
        s.frame.extend_from_slice(chunk);
        s.len += chunk.len() as u64;
        if s.frame.len() >= FRAME {
            self.flush_frame(stream)?;
        }
        Ok(at)
    }

    fn flush_frame(&mut self, stream: usize) -> io::Result<()> {
        let s = &mut self.streams[stream];
        if s.frame.is_empty() {
            return Ok(());
        }
        if s.frame.len() as u64 > MAX_FRAME {
            return Err(io::Error::other(format!(
                "a chunk frame of {} bytes exceeds the limit of {MAX_FRAME}",
                s.frame.len()
            )));
        }
        let packed = self.compressor.compress(&s.frame)?;
        s.frames.push(FrameEntry {
            start: s.len - s.frame.len() as u64,
            file_offset: self.file_len,
            packed_len: packed.len() as u32,
            crc: crc32c::crc32c(&packed),
        });
        self.out.write_all(&packed)?;
        self.file_len += packed.len() as u64;
        s.frame.clear();
        Ok(())
    }

    /// Writes the last frames, the frame table of each stream (each closed by an entry
    /// holding only the stream's length) and the frame counts, and syncs.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.flush_frame(OLDER)?;
        self.flush_frame(LATEST)?;
        let mut table = Vec::new();
        for s in &self.streams {
            for f in &s.frames {
                f.encode(&mut table);
            }
            let close = FrameEntry {
                start: s.len,
                file_offset: 0,
                packed_len: 0,
                crc: 0,
            };
            close.encode(&mut table);
        }
        for s in &self.streams {
            table.extend_from_slice(&(s.frames.len() as u64).to_le_bytes());
        }
        self.out.write_all(&table)?;
        self.out
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()
    }
}

/// How many decompressed frames of each stream are kept: one for each thread that may
/// be reading the block's series in order, and some to spare.
const CACHED_FRAMES: usize = 4;

/// The frames of a stream decompressed last: (frame index, bytes), replaced in turn.
#[derive(Default)]
struct RecentFrames {
    frames: [Option<(usize, Arc<[u8]>)>; CACHED_FRAMES],
    next: usize,
}

impl RecentFrames {
    fn get(&self, i: usize) -> Option<Arc<[u8]>> {
        self.frames
            .iter()
            .flatten()
            .find(|(cached, _)| *cached == i)
            .map(|(_, data)| data.clone())
    }

    fn put(&mut self, i: usize, data: Arc<[u8]>) {
        self.frames[self.next] = Some((i, data));
        self.next = (self.next + 1) % CACHED_FRAMES;
    }
}

/// The frame of each stream a reader used last, kept by the reader: chunks read in
/// series order mostly share a frame, and finding it again (a search of the frame
/// table, the cache's lock, a count that the reading threads share) cost a tenth of
/// reading a block's short chunks. Good for any block: it holds frames of one block
/// at a time.
#[derive(Default)]
pub struct FrameCursor([Option<HeldFrame>; 2]);

struct HeldFrame {
    /// The [`ChunksLayout::id`] of the frame's file.
    layout: u64,
    /// The frame's start in its stream.
    start: u64,
    data: Arc<[u8]>,
}

impl FrameCursor {
    /// The held frame's bytes from `offset` of `stream` on, if it holds that offset.
    fn bytes_at(&self, layout: &ChunksLayout, stream: usize, offset: u64) -> Option<&[u8]> {
        let held = self.0[stream].as_ref().filter(|h| h.layout == layout.id)?;
        let from = usize::try_from(offset.checked_sub(held.start)?).ok()?;
        held.data.get(from..).filter(|rest| !rest.is_empty())
    }
}

/// The frame tables of a chunks file, and the frames decompressed last per stream.
pub(crate) struct ChunksLayout {
    /// Unique in the process, so that a [`FrameCursor`] knows its frame's file.
    id: u64,
    /// Per stream: its frames, then the closing entry.
    streams: [Vec<FrameEntry>; 2],
    cache: Mutex<[RecentFrames; 2]>,
}

impl std::fmt::Debug for ChunksLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let frames = self.streams.each_ref().map(|s| s.len() - 1);
        write!(f, "ChunksLayout({frames:?} frames)")
    }
}

impl ChunksLayout {
    /// Reads and checks the frame tables of a chunks file.
    pub(crate) fn open(file: &[u8]) -> Result<ChunksLayout, String> {
        let bad = |what: &str| format!("chunks: {what}");
        let at = file.len().checked_sub(16).ok_or(bad("too short"))?;
        let count = |o: usize| u64::from_le_bytes(file[o..o + 8].try_into().unwrap_or_default());
        let (older, latest) = (count(at), count(at + 8));
        let entries = older
            .checked_add(latest)
            .and_then(|n| n.checked_add(2))
            .and_then(|n| usize::try_from(n).ok()?.checked_mul(ENTRY))
            .ok_or(bad("bad frame counts"))?;
        let table = at
            .checked_sub(entries)
            .ok_or(bad("frame table exceeds the file"))?;
        let mut all = file[table..at].chunks_exact(ENTRY).map(FrameEntry::decode);
        let streams: [Vec<FrameEntry>; 2] =
            [older, latest].map(|n| all.by_ref().take(n as usize + 1).collect());
        for s in &streams {
            check_stream(s, table as u64).map_err(bad)?;
        }
        static OPENED: AtomicU64 = AtomicU64::new(0);
        Ok(ChunksLayout {
            id: OPENED.fetch_add(1, Ordering::Relaxed),
            streams,
            cache: Mutex::default(),
        })
    }

    /// Calls `f` with the chunk at [`place`] `at`, `len` bytes long, from the frame
    /// `cursor` holds if it holds the chunk, else from the frame it then holds.
    pub(crate) fn with_chunk<R>(
        &self,
        file: &[u8],
        at: u64,
        len: u64,
        cursor: &mut FrameCursor,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, String> {
        let stream = usize::from(at & STREAM_BIT != 0);
        let offset = at & !STREAM_BIT;
        if cursor.bytes_at(self, stream, offset).is_none() {
            cursor.0[stream] = Some(self.frame_of(file, stream, offset)?);
        }
        let bytes = cursor
            .bytes_at(self, stream, offset)
            .zip(usize::try_from(len).ok())
            .and_then(|(rest, len)| rest.get(..len))
            .filter(|b| !b.is_empty())
            .ok_or_else(|| format!("chunk at {offset}: crosses its frame's end"))?;
        Ok(f(bytes))
    }

    /// The frame of `stream` holding `offset`.
    fn frame_of(&self, file: &[u8], stream: usize, offset: u64) -> Result<HeldFrame, String> {
        let frames = &self.streams[stream];
        // The last frame starting at or before `offset`.
        let i = frames.partition_point(|fr| fr.start <= offset);
        if i == 0 || i == frames.len() {
            return Err(format!("chunk at {offset}: outside the chunk data"));
        }
        Ok(HeldFrame {
            layout: self.id,
            start: frames[i - 1].start,
            data: self.frame(file, stream, i - 1)?,
        })
    }

    /// Frame `i` of `stream`, decompressed (from the cache if it was one of the last).
    fn frame(&self, file: &[u8], stream: usize, i: usize) -> Result<Arc<[u8]>, String> {
        if let Some(data) = self.cache.lock()[stream].get(i) {
            return Ok(data);
        }
        let (this, next) = (self.streams[stream][i], self.streams[stream][i + 1]);
        let from = this.file_offset as usize;
        let packed = &file[from..from + this.packed_len as usize];
        if crc32c::crc32c(packed) != this.crc {
            return Err(format!("chunk frame {i}: checksum mismatch"));
        }
        let size = (next.start - this.start) as usize;
        let data: Arc<[u8]> = decompress(packed, size)
            .ok_or_else(|| format!("chunk frame {i}: does not decompress to {size} bytes"))?
            .into();
        self.cache.lock()[stream].put(i, data.clone());
        Ok(data)
    }
}

/// A stream's frames start at 0 and grow by at most [`MAX_FRAME`], lie inside the
/// file's frame data (which ends at `data_end`), and its closing entry holds only the
/// stream's length.
fn check_stream(frames: &[FrameEntry], data_end: u64) -> Result<(), &'static str> {
    let Some((close, frames)) = frames.split_last() else {
        return Err("missing frame table");
    };
    let starts_ok = frames.first().map_or(close.start == 0, |f| f.start == 0)
        && frames
            .iter()
            .zip(frames.iter().skip(1).chain(std::iter::once(close)))
            .all(|(a, b)| a.start < b.start && b.start - a.start <= MAX_FRAME);
    let inside = frames.iter().all(|f| {
        f.packed_len > 0
            && f.file_offset
                .checked_add(u64::from(f.packed_len))
                .is_some_and(|end| end <= data_end)
    });
    let close_ok = (close.file_offset, close.packed_len, close.crc) == (0, 0, 0);
    if starts_ok && inside && close_ok {
        Ok(())
    } else {
        Err("frame table out of order")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_read_back_and_damage_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunks");
        let mut w = ChunksWriter::create(&path).unwrap();
        let mut placed = Vec::new();
        for i in 0..200u64 {
            let chunk: Vec<u8> = (0..(i * 37 % 3000 + 1)).map(|b| (b ^ i) as u8).collect();
            let stream = if i % 3 == 0 { LATEST } else { OLDER };
            placed.push((w.write(stream, &chunk).unwrap(), chunk));
        }
        // One chunk larger than a frame.
        let big: Vec<u8> = (0..3 * FRAME).map(|b| (b % 251) as u8).collect();
        placed.push((w.write(OLDER, &big).unwrap(), big));
        let w_offsets = w.offsets();
        w.finish().unwrap();
        let file = std::fs::read(&path).unwrap();
        let layout = ChunksLayout::open(&file).unwrap();
        let read = |layout: &ChunksLayout, file: &[u8], o: u64, c: &[u8]| {
            layout.with_chunk(file, o, c.len() as u64, &mut FrameCursor::default(), |b| {
                b == c
            })
        };
        // One cursor for all, going back and forth between the streams and frames.
        let mut cursor = FrameCursor::default();
        for (offset, chunk) in placed.iter().rev().chain(&placed) {
            let got = layout.with_chunk(&file, *offset, chunk.len() as u64, &mut cursor, |b| {
                b == chunk
            });
            assert_eq!(got, Ok(true));
        }
        let [older, latest] = w_offsets;
        let fails = |at: u64, len: u64| {
            let mut cursor = FrameCursor::default();
            layout
                .with_chunk(&file, at, len, &mut cursor, |_| ())
                .is_err()
        };
        assert!(fails(place(OLDER, older), 1));
        assert!(fails(place(LATEST, latest), 1));
        assert!(fails(0, 0));
        assert!(fails(u64::MAX, 2));
        for pos in (0..file.len()).step_by(53) {
            let mut bad = file.clone();
            bad[pos] ^= 0x10;
            let Ok(layout) = ChunksLayout::open(&bad) else {
                continue;
            };
            let damaged = placed
                .iter()
                .filter(|(o, c)| read(&layout, &bad, *o, c) != Ok(true))
                .count();
            assert!(damaged > 0, "flip at {pos} went unnoticed");
        }
    }

    #[test]
    fn an_empty_file_has_no_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunks");
        ChunksWriter::create(&path).unwrap().finish().unwrap();
        let file = std::fs::read(&path).unwrap();
        let layout = ChunksLayout::open(&file).unwrap();
        let mut cursor = FrameCursor::default();
        assert!(layout.with_chunk(&file, 0, 1, &mut cursor, |_| ()).is_err());
        assert!(layout
            .with_chunk(&file, place(LATEST, 0), 1, &mut cursor, |_| ())
            .is_err());
    }

    /// A cursor holding a frame of one file reads another file's chunk at the same
    /// place from that file.
    #[test]
    fn a_cursor_keeps_files_apart() {
        let dir = tempfile::tempdir().unwrap();
        let chunks = [b"first", b"other"];
        let files: Vec<(Vec<u8>, u64)> = chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| {
                let path = dir.path().join(format!("chunks{i}"));
                let mut w = ChunksWriter::create(&path).unwrap();
                let at = w.write(LATEST, &chunk[..]).unwrap();
                w.finish().unwrap();
                (std::fs::read(&path).unwrap(), at)
            })
            .collect();
        assert_eq!(files[0].1, files[1].1);
        let mut cursor = FrameCursor::default();
        for ((file, at), chunk) in files.iter().zip(chunks) {
            let layout = ChunksLayout::open(file).unwrap();
            let got = layout.with_chunk(file, *at, 5, &mut cursor, |b| b == chunk);
            assert_eq!(got, Ok(true));
        }
    }
}
