//! Compaction: merges blocks that share a time window into one larger block. Windows
//! are aligned multiples of the block duration (6x, then 36x: 2h → 12h → 3d by default),
//! and every block fits inside one window of each size because a head cut writes one
//! block per first-level window its samples fall in ([`cut_window_ms`]). A window is compacted once it is closed (newer data exists beyond it) and
//! holds at least two blocks; taking every block of the window keeps "last write wins":
//! no block outside the merge overlaps it, and the result carries the newest input's
//! write sequence.

use crate::block::{series_order, write_block, Block, BlockMeta, SeriesEntry};
use crate::merge::merge_last_wins;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use strata_core::{Labels, StorageError, TimeRange};

/// Window sizes per compaction level, as multiples of the block duration.
const LEVEL_FACTORS: [i64; 2] = [6, 36];

/// The window a head cut's blocks are aligned to: the first compaction level's. A cut
/// whose samples straddle a block-duration boundary inside it writes one block with one
/// index, not two (its chunks still break at the boundary, so that a query of recent
/// data decodes little).
pub fn cut_window_ms(block_ms: i64) -> i64 {
    block_ms.saturating_mul(LEVEL_FACTORS[0])
}

/// The next merge to do, if any: the target level and the blocks (oldest write first).
pub fn plan(blocks: &[Arc<Block>], block_ms: i64) -> Option<(u32, Vec<Arc<Block>>)> {
    let newest = blocks.iter().map(|b| b.meta().max_t).max()?;
    for (level, factor) in LEVEL_FACTORS.iter().enumerate() {
        let range = block_ms.saturating_mul(*factor);
        let mut windows: BTreeMap<i64, Vec<Arc<Block>>> = BTreeMap::new();
        for b in blocks {
            let w = b.meta().min_t.div_euclid(range);
            if b.meta().max_t.div_euclid(range) == w {
                windows.entry(w).or_default().push(b.clone());
            }
        }
        for (w, mut members) in windows {
            let end = w.saturating_add(1).saturating_mul(range);
            if members.len() >= 2 && end <= newest {
                members.sort_by_key(|b| b.meta().seq);
                return Some((level as u32 + 1, members));
            }
        }
    }
    None
}

/// Writes the merge of `inputs` (oldest write first) as block `name` in `parent`.
pub fn compact(
    parent: &Path,
    name: &str,
    level: u32,
    inputs: &[Arc<Block>],
) -> Result<Option<BlockMeta>, StorageError> {
    // Every series of every input, sorted by labels, then by input (write order).
    let mut all: Vec<(Labels, usize, SeriesEntry)> = Vec::new();
    for (bi, b) in inputs.iter().enumerate() {
        for i in 0..b.num_series() as u32 {
            let entry = b.series(i)?;
            all.push((entry.labels.clone(), bi, entry));
        }
    }
    all.sort_by(|a, b| series_order(&a.0, &b.0).then(a.1.cmp(&b.1)));
    let mut labels: Vec<Labels> = Vec::new();
    let mut sources: Vec<Vec<(usize, SeriesEntry)>> = Vec::new();
    for (l, bi, entry) in all {
        if labels.last() != Some(&l) {
            labels.push(l);
            sources.push(Vec::new());
        }
        if let Some(group) = sources.last_mut() {
            group.push((bi, entry));
        }
    }
    let new = crate::block::writer::NewBlock {
        name,
        seq: inputs.iter().map(|b| b.meta().seq).max().unwrap_or(0),
        level,
        compacted_from: inputs.iter().map(|b| b.name().to_owned()).collect(),
        // Older data is read in longer ranges: full-length chunks compress best.
        chunk_window: None,
    };
    write_block(parent, new, &labels, |i| {
        let mut lists = Vec::with_capacity(sources[i].len());
        for (bi, entry) in &sources[i] {
            let mut pts = Vec::new();
            inputs[*bi].read_points(&entry.chunks, TimeRange::ALL, &mut pts)?;
            lists.push(pts);
        }
        Ok(merge_last_wins(lists))
    })
}
