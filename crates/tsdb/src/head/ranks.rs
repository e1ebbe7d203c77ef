//! Each head series' place in label order, kept between reads: a read of thousands of
//! head series puts them in label order (the order queries answer in, and in which
//! sources are merged) by sorting numbers instead of label sets, which cost it a
//! third of its time.
//!
//! The places are those of the series present when the table was last built; series
//! created since have none, and a read orders those by their labels. Reads that meet
//! unplaced series ask for a new table, built off the read's path (see
//! [`Ranks::claim_build`]). Refs renumbered by a compaction keep their places, since
//! the survivors' order does not change.

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A ref without a place: created after the table was built, or not a series.
const UNPLACED: u32 = u32::MAX;

/// A build may start when the last one ended at least this many times its own duration
/// ago: building keeps to a fiftieth of one core however fast series come. Between
/// builds, reads merge the few series created since into the placed ones.
const IDLE_PER_BUILD: u32 = 50;

/// The places of the head's series by head ref.
#[derive(Default)]
pub(super) struct RankTable {
    ranks: Vec<u32>,
}

impl RankTable {
    /// The place of the series with ref `r` among those ranked, if it has one.
    pub(super) fn rank(&self, r: u32) -> Option<u32> {
        self.ranks
            .get(r as usize)
            .copied()
            .filter(|&k| k != UNPLACED)
    }
}

#[derive(Default)]
pub(super) struct Ranks {
    table: Mutex<Arc<RankTable>>,
    build: Mutex<BuildState>,
}

#[derive(Default)]
struct BuildState {
    running: bool,
    /// When the last build ended and how long it took.
    last: Option<(Instant, Duration)>,
}

impl BuildState {
    fn due(&self) -> bool {
        !self.running
            && self
                .last
                .is_none_or(|(ended, took)| ended.elapsed() >= took * IDLE_PER_BUILD)
    }
}

/// A claim to build the table, released (with the build's duration) when dropped.
pub(super) struct BuildClaim<'a> {
    ranks: &'a Ranks,
    started: Instant,
}

impl Drop for BuildClaim<'_> {
    fn drop(&mut self) {
        let mut state = self.ranks.build.lock();
        state.running = false;
        state.last = Some((Instant::now(), self.started.elapsed()));
    }
}

impl Ranks {
    /// The current table. Callers hold a shard lock, so that no compaction renumbers
    /// the refs they read while they use it.
    pub(super) fn table(&self) -> Arc<RankTable> {
        Arc::clone(&self.table.lock())
    }

    /// Whether a build may start: none is running, and the last one ended long enough ago.
    pub(super) fn build_due(&self) -> bool {
        self.build.lock().due()
    }

    /// Claims the next build, if one is due.
    pub(super) fn claim_build(&self) -> Option<BuildClaim<'_>> {
        let mut state = self.build.lock();
        if !state.due() {
            return None;
        }
        state.running = true;
        Some(BuildClaim {
            ranks: self,
            started: Instant::now(),
        })
    }

    /// Installs the places of `placed` (refs in label order) for refs below `refs`, as
    /// numbered at compaction count `epoch`, unless a compaction has renumbered them
    /// since (`current_epoch`). Called with the index locked, which compactions hold.
    pub(super) fn install(&self, epoch: u64, current_epoch: u64, refs: usize, placed: &[u32]) {
        if epoch != current_epoch {
            return;
        }
        let mut ranks = vec![UNPLACED; refs];
        for (rank, &r) in placed.iter().enumerate() {
            ranks[r as usize] = rank as u32;
        }
        *self.table.lock() = Arc::new(RankTable { ranks });
    }

    /// Carries the places over to a compaction's new numbering (`renumbered[old]`, or
    /// `no_ref` for a ref that left).
    pub(super) fn renumber(&self, renumbered: &[u32], no_ref: u32) {
        let mut table = self.table.lock();
        let survivors = renumbered.iter().filter(|&&r| r != no_ref).count();
        let mut ranks = vec![UNPLACED; survivors];
        for (old, &new) in renumbered.iter().enumerate() {
            if new != no_ref {
                ranks[new as usize] = table.rank(old as u32).unwrap_or(UNPLACED);
            }
        }
        *table = Arc::new(RankTable { ranks });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_survive_renumbering_and_stale_builds_are_dropped() {
        let ranks = Ranks::default();
        ranks.install(0, 0, 4, &[2, 0, 3]);
        let t = ranks.table();
        let got: Vec<_> = (0..5).map(|r| t.rank(r)).collect();
        assert_eq!(got, [Some(1), None, Some(0), Some(2), None]);
        // Ref 0 left; 1 (unplaced), 2 and 3 become 0, 1 and 2.
        ranks.renumber(&[9, 0, 1, 2, 3], 9);
        let t = ranks.table();
        let got: Vec<_> = (0..4).map(|r| t.rank(r)).collect();
        assert_eq!(got, [None, Some(0), Some(2), None]);
        // A build over the old numbering is not installed.
        ranks.install(0, 1, 2, &[1, 0]);
        assert_eq!(ranks.table().rank(1), Some(0));
    }

    #[test]
    fn builds_are_claimed_one_at_a_time() {
        let ranks = Ranks::default();
        let claim = ranks.claim_build().expect("nothing built yet");
        assert!(ranks.claim_build().is_none());
        drop(claim);
        // The build took no time, so the next may start at once.
        std::thread::sleep(Duration::from_millis(1));
        assert!(ranks.claim_build().is_some());
    }
}
