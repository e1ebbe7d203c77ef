//! Compaction: merges blocks that share a time window into one larger block. Windows
//! are aligned multiples of the block duration (6x, then 36x: 2h → 12h → 3d by default),
//! and every block fits inside one window of each size because a head cut writes one
//! block per first-level window its samples fall in ([`cut_window_ms`]). A window is compacted once it is closed (newer data exists beyond it) and
//! holds at least two blocks; taking every block of the window keeps "last write wins":
//! no block outside the merge overlaps it, and the result carries the newest input's
//! write sequence.

use crate::block::writer::{write_series, NewBlock, SeriesSource};
use crate::block::{series_order, Block, BlockMeta, FrameCursor, SeriesEntry, CHUNK_POINTS};
use crate::merge::merge_last_wins;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use strata_core::{Labels, Point, StorageError, TimeRange};

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
    let new = NewBlock {
        name,
        seq: inputs.iter().map(|b| b.meta().seq).max().unwrap_or(0),
        level,
        compacted_from: inputs.iter().map(|b| b.name().to_owned()).collect(),
        // Older data is read in longer ranges: full-length chunks compress best.
        chunk_points: CHUNK_POINTS,
    };
    write_series(parent, new, &mut MergedSeries::new(inputs)?)
}

/// The series of blocks merged in series order. Each block holds its series in that
/// order, so a cursor per block is all the merge keeps: one series entry per input,
/// not the inputs' whole series tables. Points of a label set found in several blocks
/// are merged, the later write winning.
struct MergedSeries<'a> {
    /// Oldest write first.
    inputs: &'a [Arc<Block>],
    /// Per input: the index of its next series, and that series (`None` past the end).
    cursors: Vec<(u32, Option<SeriesEntry>)>,
    /// Per input: the chunk frames read last.
    frames: Vec<FrameCursor>,
}

impl<'a> MergedSeries<'a> {
    fn new(inputs: &'a [Arc<Block>]) -> Result<MergedSeries<'a>, StorageError> {
        let cursors = inputs
            .iter()
            .map(|b| Ok((0, entry_at(b, 0)?)))
            .collect::<Result<_, StorageError>>()?;
        let frames = inputs.iter().map(|_| FrameCursor::default()).collect();
        Ok(MergedSeries {
            inputs,
            cursors,
            frames,
        })
    }
}

/// Series `i` of `block`, or `None` past its last.
fn entry_at(block: &Block, i: u32) -> Result<Option<SeriesEntry>, StorageError> {
    if (i as usize) < block.num_series() {
        block.series(i).map(Some)
    } else {
        Ok(None)
    }
}

impl SeriesSource for MergedSeries<'_> {
    fn each_labels(&mut self, f: &mut dyn FnMut(&Labels)) -> Result<(), StorageError> {
        for b in self.inputs {
            for i in 0..b.num_series() as u32 {
                f(&b.series(i)?.labels);
            }
        }
        Ok(())
    }

    fn next_series(&mut self) -> Result<Option<(Labels, Vec<Point>)>, StorageError> {
        let Some(labels) = self
            .cursors
            .iter()
            .filter_map(|(_, entry)| entry.as_ref().map(|e| &e.labels))
            .min_by(|a, b| series_order(a, b))
            .cloned()
        else {
            return Ok(None);
        };
        let mut lists = Vec::new();
        let inputs = self
            .inputs
            .iter()
            .zip(&mut self.cursors)
            .zip(&mut self.frames);
        for ((block, (next, entry)), frames) in inputs {
            let Some(e) = entry.take_if(|e| e.labels == labels) else {
                continue;
            };
            let mut points = Vec::new();
            block.read_points_with(&e.chunks, TimeRange::ALL, frames, &mut points)?;
            lists.push(points);
            *next += 1;
            *entry = entry_at(block, *next)?;
        }
        Ok(Some((labels, merge_last_wins(lists))))
    }
}
