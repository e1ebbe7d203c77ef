//! A block's chunks file: the chunks back to back, then a crc32c of every [`PAGE`]
//! bytes of them, then the `u64` length of the chunk data. Reading a chunk verifies the
//! pages it touches the first time they are read (a bit per page remembers it), so
//! damage is caught before any of it is decoded, for 4 bytes per page instead of 4 per
//! chunk (which were a sizeable share of a short series).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) const PAGE: usize = 4096;

/// Writes a chunks file, checksumming pages as chunks stream through.
pub(crate) struct ChunksWriter {
    out: BufWriter<File>,
    len: u64,
    page_crcs: Vec<u32>,
    /// crc32c of the page being filled, and how many of its bytes are written.
    page_crc: u32,
    in_page: usize,
}

impl ChunksWriter {
    pub(crate) fn create(path: &Path) -> io::Result<ChunksWriter> {
        Ok(ChunksWriter {
            out: BufWriter::with_capacity(1 << 20, File::create(path)?),
            len: 0,
            page_crcs: Vec::new(),
            page_crc: 0,
            in_page: 0,
        })
    }

    /// Offset the next chunk will be written at.
    pub(crate) fn offset(&self) -> u64 {
        self.len
    }

    pub(crate) fn write(&mut self, mut chunk: &[u8]) -> io::Result<()> {
        self.out.write_all(chunk)?;
        self.len += chunk.len() as u64;
        while !chunk.is_empty() {
            let take = chunk.len().min(PAGE - self.in_page);
            self.page_crc = crc32c::crc32c_append(self.page_crc, &chunk[..take]);
            self.in_page += take;
            chunk = &chunk[take..];
            if self.in_page == PAGE {
                self.page_crcs.push(self.page_crc);
                (self.page_crc, self.in_page) = (0, 0);
            }
        }
        Ok(())
    }

    /// Appends the page checksums and the length, and syncs.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        if self.in_page > 0 {
            self.page_crcs.push(self.page_crc);
        }
        for crc in &self.page_crcs {
            self.out.write_all(&crc.to_le_bytes())?;
        }
        self.out.write_all(&self.len.to_le_bytes())?;
        self.out
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()
    }
}

/// Where a chunks file's data ends and its page checksums begin, and which pages have
/// been verified.
#[derive(Debug)]
pub(crate) struct ChunksLayout {
    data_len: usize,
    verified: Box<[AtomicU64]>,
}

impl ChunksLayout {
    /// Checks the trailer of a chunks file against its size.
    pub(crate) fn open(file: &[u8]) -> Result<ChunksLayout, String> {
        let at = file
            .len()
            .checked_sub(8)
            .ok_or("chunks: too short for its trailer")?;
        let data_len = u64::from_le_bytes(file[at..].try_into().unwrap_or_default());
        let expected = usize::try_from(data_len)
            .ok()
            .and_then(|n| n.checked_add(4 * n.div_ceil(PAGE))?.checked_add(8));
        if expected != Some(file.len()) {
            return Err(format!(
                "chunks: size {} does not match its data length {data_len}",
                file.len()
            ));
        }
        let pages = (data_len as usize).div_ceil(PAGE);
        Ok(ChunksLayout {
            data_len: data_len as usize,
            verified: (0..pages.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    /// The chunk at `offset`, `len` bytes long, after verifying the pages it lies in.
    pub(crate) fn chunk<'a>(
        &self,
        file: &'a [u8],
        offset: u64,
        len: u64,
    ) -> Result<&'a [u8], String> {
        let start =
            usize::try_from(offset).map_err(|_| format!("chunk at {offset}: bad offset"))?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= self.data_len && e > start)
            .ok_or_else(|| format!("chunk at {offset}: exceeds the chunk data"))?;
        for page in start / PAGE..=(end - 1) / PAGE {
            let (word, bit) = (&self.verified[page / 64], 1u64 << (page % 64));
            if word.load(Ordering::Relaxed) & bit != 0 {
                continue;
            }
            let from = page * PAGE;
            let to = (from + PAGE).min(self.data_len);
            let at = self.data_len + 4 * page;
            if crc32c::crc32c(&file[from..to]).to_le_bytes() != file[at..at + 4] {
                return Err(format!(
                    "chunk at {offset}: checksum mismatch in page {page}"
                ));
            }
            word.fetch_or(bit, Ordering::Relaxed);
        }
        Ok(&file[start..end])
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
        w.finish().unwrap();
        let file = std::fs::read(&path).unwrap();
        let layout = ChunksLayout::open(&file).unwrap();
        for (offset, chunk) in &placed {
            assert_eq!(
                layout.chunk(&file, *offset, chunk.len() as u64).unwrap(),
                chunk
            );
        }
        let end = placed.last().map(|(o, c)| o + c.len() as u64).unwrap();
        assert!(layout.chunk(&file, end, 1).is_err());
        assert!(layout.chunk(&file, 0, 0).is_err());
        assert!(layout.chunk(&file, u64::MAX, 2).is_err());
        for pos in (0..file.len()).step_by(97) {
            let mut bad = file.clone();
            bad[pos] ^= 0x10;
            let Ok(layout) = ChunksLayout::open(&bad) else {
                continue;
            };
            let damaged = placed
                .iter()
                .filter(|(o, c)| {
                    layout.chunk(&bad, *o, c.len() as u64).map(|b| b == &c[..]) != Ok(true)
                })
                .count();
            assert!(damaged > 0, "flip at {pos} went unnoticed");
        }
    }
}
