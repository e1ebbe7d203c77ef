//! A block's chunks file: the chunks in series order, gathered into frames of about
//! [`FRAME`] bytes that are each compressed with zstd (chunks of neighbouring series
//! share much: a metric's chunk headers, grids and repeated values; zstd takes 10–15 %
//! more off the codecs' output), then a table of frames, then the frame count.
//!
//! Chunk offsets and lengths are in the uncompressed stream; a frame never splits a
//! chunk. Each frame carries the crc32c of its compressed bytes, checked whenever it is
//! decompressed. The last frame decompressed is cached, since a query reads the series
//! of a block in order and neighbouring chunks share a frame.

use parking_lot::Mutex;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

/// Uncompressed bytes per frame: larger compresses a little better, smaller costs less
/// to decompress for a single chunk.
pub(crate) const FRAME: usize = 16 << 10;
const LEVEL: i32 = 3;
/// No frame is larger (chunks hold at most a few thousand points), so a damaged frame
/// table cannot make a reader allocate more.
const MAX_FRAME: u64 = 16 << 20;
/// A table entry: uncompressed start, file offset, crc32c of the compressed frame.
const ENTRY: usize = 20;

struct FrameEntry {
    start: u64,
    file_offset: u64,
    crc: u32,
}

/// Writes a chunks file, compressing frames as chunks stream through.
pub(crate) struct ChunksWriter {
    out: BufWriter<File>,
    /// Uncompressed bytes written so far (the next chunk's offset).
    len: u64,
    file_len: u64,
    frame: Vec<u8>,
    frames: Vec<FrameEntry>,
}

impl ChunksWriter {
    pub(crate) fn create(path: &Path) -> io::Result<ChunksWriter> {
        Ok(ChunksWriter {
            out: BufWriter::with_capacity(1 << 20, File::create(path)?),
            len: 0,
            file_len: 0,
            frame: Vec::with_capacity(FRAME * 2),
            frames: Vec::new(),
        })
    }

    /// Offset the next chunk will be written at.
    pub(crate) fn offset(&self) -> u64 {
        self.len
    }

    pub(crate) fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.frame.extend_from_slice(chunk);
        self.len += chunk.len() as u64;
        if self.frame.len() >= FRAME {
            self.flush_frame()?;
        }
        Ok(())
    }

    fn flush_frame(&mut self) -> io::Result<()> {
        if self.frame.is_empty() {
            return Ok(());
        }
        if self.frame.len() as u64 > MAX_FRAME {
            return Err(io::Error::other(format!(
                "a chunk frame of {} bytes exceeds the limit of {MAX_FRAME}",
                self.frame.len()
            )));
        }
        let packed = zstd::bulk::compress(&self.frame, LEVEL)?;
        self.frames.push(FrameEntry {
            start: self.len - self.frame.len() as u64,
            file_offset: self.file_len,
            crc: crc32c::crc32c(&packed),
        });
        self.out.write_all(&packed)?;
        self.file_len += packed.len() as u64;
        self.frame.clear();
        Ok(())
    }

    /// Writes the last frame, the frame table (closed by the end offsets) and the
    /// frame count, and syncs.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.flush_frame()?;
        let mut table = Vec::with_capacity((self.frames.len() + 1) * ENTRY + 8);
        for f in &self.frames {
            table.extend_from_slice(&f.start.to_le_bytes());
            table.extend_from_slice(&f.file_offset.to_le_bytes());
            table.extend_from_slice(&f.crc.to_le_bytes());
        }
        table.extend_from_slice(&self.len.to_le_bytes());
        table.extend_from_slice(&self.file_len.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        table.extend_from_slice(&(self.frames.len() as u64).to_le_bytes());
        self.out.write_all(&table)?;
        self.out
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()
    }
}

/// The frame table of a chunks file, and the last frame decompressed.
pub(crate) struct ChunksLayout {
    /// Per frame, then one closing entry: (uncompressed start, file offset, crc).
    frames: Vec<(u64, u64, u32)>,
    cache: Mutex<Option<(usize, Arc<[u8]>)>>,
}

impl std::fmt::Debug for ChunksLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChunksLayout({} frames)", self.frames.len() - 1)
    }
}

impl ChunksLayout {
    /// Reads and checks the frame table of a chunks file.
    pub(crate) fn open(file: &[u8]) -> Result<ChunksLayout, String> {
        let bad = |what: &str| format!("chunks: {what}");
        let at = file.len().checked_sub(8).ok_or(bad("too short"))?;
        let n = u64::from_le_bytes(file[at..].try_into().unwrap_or_default());
        let table = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_add(1)?.checked_mul(ENTRY))
            .and_then(|size| at.checked_sub(size))
            .ok_or(bad("frame table exceeds the file"))?;
        let frames: Vec<(u64, u64, u32)> = file[table..at]
            .chunks_exact(ENTRY)
            .map(|e| {
                (
                    u64::from_le_bytes(e[..8].try_into().unwrap_or_default()),
                    u64::from_le_bytes(e[8..16].try_into().unwrap_or_default()),
                    u32::from_le_bytes(e[16..].try_into().unwrap_or_default()),
                )
            })
            .collect();
        let ordered = frames.first().is_some_and(|f| f.0 == 0 && f.1 == 0)
            && frames
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[1].0 - w[0].0 <= MAX_FRAME && w[0].1 < w[1].1)
            && frames
                .last()
                .is_some_and(|f| f.1 == table as u64 && f.2 == 0);
        if !ordered {
            return Err(bad("frame table out of order"));
        }
        Ok(ChunksLayout {
            frames,
            cache: Mutex::new(None),
        })
    }

    /// Calls `f` with the chunk at uncompressed `offset`, `len` bytes long.
    pub(crate) fn with_chunk<R>(
        &self,
        file: &[u8],
        offset: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, String> {
        // The frame holding `offset`: the last one starting at or before it.
        let i = self.frames.partition_point(|fr| fr.0 <= offset);
        if i == 0 || i == self.frames.len() {
            return Err(format!("chunk at {offset}: outside the chunk data"));
        }
        let frame = self.frame(file, i - 1)?;
        let from = (offset - self.frames[i - 1].0) as usize;
        let bytes = usize::try_from(len)
            .ok()
            .and_then(|l| frame.get(from..from.checked_add(l)?))
            .filter(|b| !b.is_empty())
            .ok_or_else(|| format!("chunk at {offset}: crosses its frame's end"))?;
        Ok(f(bytes))
    }

    /// Frame `i`, decompressed (from the cache if it was the last one).
    fn frame(&self, file: &[u8], i: usize) -> Result<Arc<[u8]>, String> {
        if let Some((cached, data)) = &*self.cache.lock() {
            if *cached == i {
                return Ok(data.clone());
            }
        }
        let (start, at, crc) = self.frames[i];
        let (end, next_at, _) = self.frames[i + 1];
        let packed = &file[at as usize..next_at as usize];
        if crc32c::crc32c(packed) != crc {
            return Err(format!("chunk frame {i}: checksum mismatch"));
        }
        let size = (end - start) as usize;
        let data: Arc<[u8]> = zstd::bulk::decompress(packed, size)
            .ok()
            .filter(|d| d.len() == size)
            .ok_or_else(|| format!("chunk frame {i}: does not decompress to {size} bytes"))?
            .into();
        *self.cache.lock() = Some((i, data.clone()));
        Ok(data)
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
            placed.push((w.offset(), chunk.clone()));
            w.write(&chunk).unwrap();
        }
        // One chunk larger than a frame.
        let big: Vec<u8> = (0..3 * FRAME).map(|b| (b % 251) as u8).collect();
        placed.push((w.offset(), big.clone()));
        w.write(&big).unwrap();
        w.finish().unwrap();
        let file = std::fs::read(&path).unwrap();
        let layout = ChunksLayout::open(&file).unwrap();
        let read = |layout: &ChunksLayout, file: &[u8], o: u64, c: &[u8]| {
            layout.with_chunk(file, o, c.len() as u64, |b| b == c)
        };
        for (offset, chunk) in placed.iter().rev() {
            assert_eq!(read(&layout, &file, *offset, chunk), Ok(true));
        }
        let end = placed.last().map(|(o, c)| o + c.len() as u64).unwrap();
        assert!(layout.with_chunk(&file, end, 1, |_| ()).is_err());
        assert!(layout.with_chunk(&file, 0, 0, |_| ()).is_err());
        assert!(layout.with_chunk(&file, u64::MAX, 2, |_| ()).is_err());
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
        assert!(layout.with_chunk(&file, 0, 1, |_| ()).is_err());
    }
}
