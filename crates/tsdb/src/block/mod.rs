//! Blocks: immutable, time-partitioned directories of the store. Each holds
//!
//! - `symbols`: every label name and value once, sorted (so symbol order is string order);
//! - `series`: per series (in [`series_order`]) its labels as symbol references and the
//!   time range and length of each of its chunks, coded compactly in small groups
//!   (module `series`);
//! - `postings`: per label pair the sorted series indices, as gaps or runs, then a table
//!   of `(name symbol, value symbol, offset)` sorted by symbols (module `postings`);
//! - `chunks`: compressed chunks (see [`crate::chunk`]) in series order, in zstd frames
//!   of about 16 KiB, each with a crc32c; each series' last chunk in frames of their
//!   own, so that recent data is read without its older neighbours (module `chunks`);
//! - `meta.json`: format version, time range, counts, level and write sequence.
//!
//! The three index files are zstd-compressed whole, checksummed, and read into memory
//! at open (module `packed`); chunk frames are checked when decompressed. A block is
//! written into `<name>.tmp`, synced and renamed, so a crash never leaves half a block.

mod chunks;
mod packed;
mod postings;
mod reader;
mod series;
pub(crate) mod writer;

pub use chunks::FrameCursor;
pub use reader::{Block, LentSeries, SeriesEntry};
pub use series::ChunkMeta;
pub(crate) use writer::series_order;
pub use writer::write_block;

use serde::{Deserialize, Serialize};

pub(crate) const SYMBOLS: &str = "symbols";
pub(crate) const SERIES: &str = "series";
pub(crate) const POSTINGS: &str = "postings";
pub(crate) const CHUNKS: &str = "chunks";
pub(crate) const META: &str = "meta.json";
pub(crate) const TMP_SUFFIX: &str = ".tmp";
/// A block being deleted is first renamed with this suffix, so a crash midway never
/// leaves a half-deleted block that looks live.
pub(crate) const DELETED_SUFFIX: &str = ".deleted";

/// Deletes a block directory: rename (atomic), then remove.
pub(crate) fn delete_block_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut doomed = dir.as_os_str().to_owned();
    doomed.push(DELETED_SUFFIX);
    std::fs::rename(dir, &doomed)?;
    std::fs::remove_dir_all(&doomed)
}
/// The block format this build writes and reads; a block of any other version is
/// refused at open with an error naming both versions, never misread.
pub(crate) const FORMAT_VERSION: u32 = 2;

/// Block directories are named by a zero-padded, ever-growing number.
pub(crate) const BLOCK_NAME_DIGITS: usize = 20;

/// Points per chunk: large enough to amortise codec headers, small enough that a short
/// query decodes little.
pub(crate) const CHUNK_POINTS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    pub version: u32,
    /// Inclusive time range of the samples.
    pub min_t: i64,
    pub max_t: i64,
    pub num_series: u64,
    pub num_samples: u64,
    pub num_chunks: u64,
    /// Write sequence: where blocks overlap, the higher sequence holds the later write.
    pub seq: u64,
    /// Compaction level (0: cut from the head).
    pub level: u32,
    /// Blocks merged into this one; if they survive a crash they are deleted on open.
    #[serde(default)]
    pub compacted_from: Vec<String>,
}
