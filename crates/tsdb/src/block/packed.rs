//! Index files (symbols, series, postings) are small next to the chunks and very
//! repetitive (label sets, chunk times), so each is compressed whole with zstd and read
//! into memory once when the block is opened: `u64 body length | zstd | crc32c` (the
//! checksum covers everything before it).

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

const LEVEL: i32 = 9;

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
}
