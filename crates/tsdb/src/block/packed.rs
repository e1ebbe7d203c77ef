//! Index files (symbols, series, postings) are small next to the chunks and very
//! repetitive (label sets, chunk times), so each is compressed whole with zstd and read
//! into memory once when the block is opened: `u64 body length | zstd | crc32c` (the
//! checksum covers everything before it).
//!
//! A writer streams a large body through the compressor ([`PackedWriter`]), so
//! writing the index of a million series holds neither the body nor its compressed
//! form in memory. Such a zstd frame does not record the body's size in its header;
//! the file's length field does, and readers check against it as before.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const LEVEL: i32 = 9;
/// Bodies up to this size are held and compressed in one call (a one-shot frame is a
/// little smaller, and a small block's index needs no streaming context).
const STREAM_AFTER: usize = 1 << 20;

/// Writes `body` packed to `path`, and syncs.
pub(crate) fn write(path: &Path, body: &[u8]) -> io::Result<()> {
    let mut out = (body.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&zstd::bulk::compress(body, LEVEL)?);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    let mut f = File::create(path)?;
    f.write_all(&out)?;
    f.sync_all()
}

/// Writes a packed file as its body is produced (see the module's docs): the first
/// [`STREAM_AFTER`] bytes are held, and only a longer body is streamed.
pub(crate) struct PackedWriter {
    path: PathBuf,
    stream_after: usize,
    held: Vec<u8>,
    body_len: u64,
    stream: Option<zstd::stream::write::Encoder<'static, Checksummed<BufWriter<File>>>>,
}

impl PackedWriter {
    pub(crate) fn create(path: &Path) -> PackedWriter {
        PackedWriter::streaming_after(path, STREAM_AFTER)
    }

    fn streaming_after(path: &Path, stream_after: usize) -> PackedWriter {
        PackedWriter {
            path: path.to_owned(),
            stream_after,
            held: Vec::new(),
            body_len: 0,
            stream: None,
        }
    }

    /// Creates the file with room for the length, and streams what is held.
    fn start_stream(&mut self) -> io::Result<()> {
        let mut file = BufWriter::with_capacity(256 << 10, File::create(&self.path)?);
        file.write_all(&[0; 8])?;
        let sink = Checksummed {
            inner: file,
            crc: 0,
            len: 0,
        };
        let mut encoder = zstd::stream::write::Encoder::new(sink, LEVEL)?;
        encoder.write_all(&self.held)?;
        self.held = Vec::new();
        self.stream = Some(encoder);
        Ok(())
    }

    /// Ends the body, writes the checksum and the length, and syncs.
    pub(crate) fn finish(self) -> io::Result<()> {
        let Some(encoder) = self.stream else {
            return write(&self.path, &self.held);
        };
        let sink = encoder.finish()?;
        let len = self.body_len.to_le_bytes();
        let crc = crc32c::crc32c_combine(crc32c::crc32c(&len), sink.crc, sink.len as usize);
        let mut file = sink.inner.into_inner().map_err(|e| e.into_error())?;
        file.write_all(&crc.to_le_bytes())?;
        file.write_all_at(&len, 0)?;
        file.sync_all()
    }
}

impl Write for PackedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.body_len += buf.len() as u64;
        match &mut self.stream {
            Some(encoder) => encoder.write_all(buf)?,
            None => {
                self.held.extend_from_slice(buf);
                if self.held.len() > self.stream_after {
                    self.start_stream()?;
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Passes bytes on, keeping their crc32c and count.
struct Checksummed<W> {
    inner: W,
    crc: u32,
    len: u64,
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The body of a packed file, checked; the error says what is wrong.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, PackedError> {
    let data = std::fs::read(path)?;
    let (packed, crc) = data
        .len()
        .checked_sub(4)
        .filter(|&at| at >= 8)
        .map(|at| data.split_at(at))
        .ok_or(PackedError::Damaged("too short"))?;
    if crc32c::crc32c(packed).to_le_bytes() != crc {
        return Err(PackedError::Damaged("checksum mismatch"));
    }
    let len = u64::from_le_bytes(packed[..8].try_into().unwrap_or_default());
    // A body is at most a few hundred times its compressed size; a larger length is
    // damage that slipped past the checksum, not a reason to allocate it.
    let limit = (packed.len() as u64).saturating_mul(1024);
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l as u64 <= limit)
        .ok_or(PackedError::Damaged("bad body length"))?;
    zstd::bulk::decompress(&packed[8..], len)
        .ok()
        .filter(|b| b.len() == len)
        .ok_or(PackedError::Damaged("does not decompress to its length"))
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PackedError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("{0}")]
    Damaged(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_read_back_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        for body in [Vec::new(), b"symbols symbols symbols".repeat(100)] {
            write(&path, &body).unwrap();
            assert_eq!(read(&path).unwrap(), body);
            let good = std::fs::read(&path).unwrap();
            for pos in 0..good.len() {
                let mut bad = good.clone();
                bad[pos] ^= 0x21;
                std::fs::write(&path, &bad).unwrap();
                assert!(read(&path).is_err(), "flip at {pos}");
            }
            std::fs::write(&path, &good[..good.len() - 1]).unwrap();
            assert!(read(&path).is_err());
        }
        assert!(matches!(
            read(&dir.path().join("missing")),
            Err(PackedError::Io(_))
        ));
    }

    /// A body of `len` bytes, compressible like an index.
    fn body(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (((i / 7) % 251) ^ (i % 3)) as u8)
            .collect()
    }

    #[test]
    fn a_streamed_body_reads_back_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let body = body(300_000);
        for stream_after in [0, 1000, body.len()] {
            let mut w = PackedWriter::streaming_after(&path, stream_after);
            for piece in body.chunks(4093) {
                w.write_all(piece).unwrap();
            }
            w.finish().unwrap();
            assert_eq!(read(&path).unwrap(), body, "streaming after {stream_after}");
        }
        let good = std::fs::read(&path).unwrap();
        for pos in (0..good.len()).step_by(97).chain([0, 7, good.len() - 1]) {
            let mut bad = good.clone();
            bad[pos] ^= 0x04;
            std::fs::write(&path, &bad).unwrap();
            assert!(read(&path).is_err(), "flip at {pos}");
        }
    }

    #[test]
    fn small_bodies_are_packed_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let body = body(5000);
        write(&a, &body).unwrap();
        let mut w = PackedWriter::create(&b);
        w.write_all(&body).unwrap();
        w.finish().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }

    proptest::proptest! {
        #[test]
        fn any_body_in_any_pieces_reads_back(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            piece in 1usize..700,
            stream_after in 0usize..2000,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f");
            let mut w = PackedWriter::streaming_after(&path, stream_after);
            for p in body.chunks(piece) {
                w.write_all(p).unwrap();
            }
            w.finish().unwrap();
            proptest::prop_assert_eq!(read(&path).unwrap(), body);
        }
    }
}
