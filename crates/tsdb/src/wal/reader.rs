//! WAL replay: reads the latest checkpoint and then every later segment in order. A
//! frame that is torn (the file ends inside it) or corrupt (bad checksum, undecodable
//! payload) ends its segment: the segment is truncated there, the damage is logged and
//! counted, and nothing from it is read as data. Later segments are still replayed, so a
//! damaged middle segment costs only its own tail. Zeros from a frame boundary to the
//! end of a file are the space preallocated ahead of the frames: a clean end, cut off
//! quietly. Zeros followed by anything else are a write that did not reach the disk
//! before a crash, and damage like any other.

use super::record::{self, Record};
use super::{list_checkpoints, list_segments};
use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub records: u64,
    /// Segments whose damaged tail was cut off.
    pub corruptions_repaired: u64,
}

/// Replays the WAL in `dir`, calling `apply` for every intact record in write order.
pub fn replay(dir: &Path, mut apply: impl FnMut(Record)) -> io::Result<ReplayStats> {
    let mut stats = ReplayStats::default();
    if !dir.exists() {
        return Ok(stats);
    }
    let checkpoint = list_checkpoints(dir)?.pop();
    let first = match &checkpoint {
        Some((index, path)) => {
            read_file(path, &mut apply, &mut stats)?;
            *index
        }
        None => 0,
    };
    for (index, path) in list_segments(dir)? {
        if index >= first {
            read_file(&path, &mut apply, &mut stats)?;
        }
    }
    Ok(stats)
}

fn read_file(
    path: &Path,
    apply: &mut impl FnMut(Record),
    stats: &mut ReplayStats,
) -> io::Result<()> {
    let data = fs::read(path)?;
    let scan = read_frames(&data);
    for r in scan.records {
        stats.records += 1;
        apply(r);
    }
    if let Some(reason) = scan.damage {
        tracing::warn!(
            file = %path.display(),
            offset = scan.end,
            reason,
            dropped_bytes = data.len() - scan.end,
            "WAL damaged: truncating it at the last intact record"
        );
        stats.corruptions_repaired += 1;
    } else if scan.end < data.len() {
        tracing::debug!(
            file = %path.display(),
            bytes = data.len() - scan.end,
            "cutting the WAL segment's preallocated zeros"
        );
    } else {
        return Ok(());
    }
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(scan.end as u64)?;
    f.sync_all()
}

/// What a WAL file holds.
#[derive(Debug, PartialEq)]
pub(crate) struct Frames {
    /// The records of the intact frames, in order.
    pub(crate) records: Vec<Record>,
    /// Where the intact frames end.
    pub(crate) end: usize,
    /// Why the bytes from `end` on are not frames, unless they are all zeros (or none).
    pub(crate) damage: Option<&'static str>,
}

/// Decodes every frame up to the first damaged one or to zeros that run to the end.
pub(crate) fn read_frames(data: &[u8]) -> Frames {
    let mut records = Vec::new();
    let mut pos = 0;
    let mut damage = None;
    while pos < data.len() {
        let rest = &data[pos..];
        if rest[..rest.len().min(8)].iter().all(|&b| b == 0) {
            if rest.iter().any(|&b| b != 0) {
                damage = Some("zeroed bytes before more data");
            }
            break;
        }
        match read_frame(rest) {
            Ok((record, used)) => {
                records.push(record);
                pos += used;
            }
            Err(reason) => {
                damage = Some(reason);
                break;
            }
        }
    }
    Frames {
        records,
        end: pos,
        damage,
    }
}

fn read_frame(data: &[u8]) -> Result<(Record, usize), &'static str> {
    if data.len() < 8 {
        return Err("torn frame header");
    }
    let len = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let crc = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
    let payload = data.get(8..8 + len).ok_or("torn frame")?;
    if len == 0 {
        return Err("empty frame");
    }
    if crc32c::crc32c(payload) != crc {
        return Err("checksum mismatch");
    }
    let record = record::decode(payload).map_err(|e| e.0)?;
    Ok((record, 8 + len))
}

#[cfg(test)]
mod tests {
    use super::super::{frame, Wal, WalSync};
    use super::*;
    use crate::wal::record::{encode_samples, encode_series, RefSample};
    use strata_core::Labels;

    fn sample_wal() -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..4u64 {
            let l = Labels::new([("__name__", "m"), ("i", &i.to_string())]).unwrap();
            let mut p = Vec::new();
            encode_series(&mut p, [(i, &l)].into_iter());
            frame(&mut out, &p);
            p.clear();
            encode_samples(
                &mut p,
                [RefSample {
                    id: i,
                    t: i as i64,
                    v: 0.5,
                }]
                .into_iter(),
            );
            frame(&mut out, &p);
        }
        out
    }

    /// Number of whole frames that end at or before `offset`.
    fn frames_before(data: &[u8], offset: usize) -> usize {
        let mut pos = 0;
        let mut n = 0;
        while pos < data.len() {
            let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
            if pos + 8 + len > offset {
                break;
            }
            pos += 8 + len;
            n += 1;
        }
        n
    }

    /// Where the frames of `data` end, in order.
    fn frames_ends(data: &[u8]) -> impl Iterator<Item = usize> + '_ {
        let mut pos = 0;
        std::iter::from_fn(move || {
            if pos >= data.len() {
                return None;
            }
            let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
            pos += 8 + len;
            Some(pos)
        })
    }

    fn with_zeros(data: &[u8], zeros: usize) -> Vec<u8> {
        let mut out = data.to_vec();
        out.resize(data.len() + zeros, 0);
        out
    }

    #[test]
    fn torn_tail_at_every_length_keeps_the_intact_prefix() {
        let data = sample_wal();
        let all = read_frames(&data).records;
        assert_eq!(read_frames(&data).damage, None);
        for cut in 0..data.len() {
            let whole = frames_before(&data, cut);
            let start = frames_ends(&data).take(whole).last().unwrap_or(0);
            // A frame is cut at a boundary, or its written part is all zeros (as when
            // only the first bytes of a length under 256 reached the disk): no damage.
            let clean = data[start..cut].iter().all(|&b| b == 0);
            // Preallocated or not, the file reads the same.
            for zeros in [0, 3, 8, 4096] {
                let scan = read_frames(&with_zeros(&data[..cut], zeros));
                assert_eq!(scan.records, all[..whole], "cut at {cut}, {zeros} zeros");
                assert_eq!(scan.end, start, "cut at {cut}, {zeros} zeros");
                assert_eq!(scan.damage.is_none(), clean, "cut at {cut}, {zeros} zeros");
            }
        }
    }

    #[test]
    fn flipped_byte_at_every_position_keeps_records_before_it() {
        let data = sample_wal();
        let all = read_frames(&data).records;
        for pos in 0..data.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                for zeros in [0, 100] {
                    let mut bad = with_zeros(&data, zeros);
                    bad[pos] ^= flip;
                    let scan = read_frames(&bad);
                    let before = frames_before(&data, pos);
                    // The damaged frame itself is never read as data.
                    assert_eq!(scan.records, all[..before], "flip at {pos}");
                    assert!(scan.damage.is_some(), "flip at {pos} went unnoticed");
                }
            }
        }
    }

    #[test]
    fn zeros_before_more_data_are_damage() {
        let data = sample_wal();
        let all = read_frames(&data).records;
        let second = frames_ends(&data).nth(1).unwrap();
        // A page of the file that never reached the disk, then frames that did.
        let mut holed = data.clone();
        holed[second..second + 20].fill(0);
        let scan = read_frames(&holed);
        assert_eq!(scan.records, all[..2]);
        assert_eq!(scan.end, second);
        assert_eq!(scan.damage, Some("zeroed bytes before more data"));
        let mut late = with_zeros(&data[..second], 4096);
        late.push(1);
        assert!(read_frames(&late).damage.is_some());
    }

    proptest::proptest! {
        /// Any file, read with or without a preallocated tail: never a panic, only
        /// whole frames of the original, and a clean end only where the bytes past the
        /// intact frames are all zeros.
        #[test]
        fn arbitrary_bytes_read_as_a_prefix_of_frames(
            cut in proptest::sample::select((0..400usize).collect::<Vec<_>>()),
            garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            zeros in 0usize..64,
        ) {
            let data = sample_wal();
            let all = read_frames(&data).records;
            let mut file = data[..cut.min(data.len())].to_vec();
            file.extend_from_slice(&garbage);
            let file = with_zeros(&file, zeros);
            let scan = read_frames(&file);
            proptest::prop_assert!(scan.records.len() <= all.len());
            proptest::prop_assert_eq!(&scan.records[..], &all[..scan.records.len()]);
            let rest_zero = file[scan.end..].iter().all(|&b| b == 0);
            proptest::prop_assert_eq!(scan.damage.is_none(), rest_zero);
        }
    }

    #[test]
    fn replay_truncates_and_counts_damage() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample_wal();
        fs::write(dir.path().join("00000001"), &data[..data.len() - 3]).unwrap();
        fs::write(dir.path().join("00000002"), &data).unwrap();
        let mut n = 0;
        let stats = replay(dir.path(), |_| n += 1).unwrap();
        assert_eq!(stats.corruptions_repaired, 1);
        assert_eq!(n, 7 + 8);
        let len = fs::metadata(dir.path().join("00000001")).unwrap().len() as usize;
        assert!(len < data.len() - 3);
        // Repaired: a second replay finds nothing wrong.
        let stats = replay(dir.path(), |_| {}).unwrap();
        assert_eq!(stats.corruptions_repaired, 0);
    }

    #[test]
    fn replay_cuts_preallocated_zeros_and_counts_only_damage() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample_wal();
        let last = frames_ends(&data).nth(6).unwrap();
        // A clean segment with its preallocated zeros, then one whose last frame was
        // torn by a crash before the zeros after it were overwritten.
        fs::write(dir.path().join("00000001"), with_zeros(&data, 1 << 20)).unwrap();
        let mut torn = with_zeros(&data, 1 << 20);
        torn[last + 9..data.len()].fill(0);
        fs::write(dir.path().join("00000002"), &torn).unwrap();
        let mut n = 0;
        let stats = replay(dir.path(), |_| n += 1).unwrap();
        assert_eq!(n, 8 + 7);
        assert_eq!(stats.corruptions_repaired, 1);
        let len = |name: &str| fs::metadata(dir.path().join(name)).unwrap().len() as usize;
        assert_eq!((len("00000001"), len("00000002")), (data.len(), last));
        let stats = replay(dir.path(), |_| {}).unwrap();
        assert_eq!(
            stats,
            ReplayStats {
                records: 15,
                corruptions_repaired: 0
            }
        );
    }

    #[test]
    fn a_crash_mid_segment_replays_every_written_frame() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample_wal();
        let wal = Wal::open(dir.path(), WalSync::Always).unwrap();
        for _ in 0..3 {
            wal.write(&data).unwrap();
        }
        // No close: the segment keeps its zeros, as after a SIGKILL.
        drop(wal);
        let segment = dir.path().join("00000001");
        assert!(fs::metadata(&segment).unwrap().len() > 3 * data.len() as u64);
        let stats = replay(dir.path(), |_| {}).unwrap();
        assert_eq!(
            stats,
            ReplayStats {
                records: 24,
                corruptions_repaired: 0
            }
        );
        assert_eq!(fs::metadata(&segment).unwrap().len(), 3 * data.len() as u64);
        // Reopened, the WAL writes a new segment; both replay.
        let wal = Wal::open(dir.path(), WalSync::Always).unwrap();
        wal.write(&data).unwrap();
        wal.sync().unwrap();
        let len = fs::metadata(dir.path().join("00000002")).unwrap().len();
        assert_eq!(len, data.len() as u64, "sync cuts the zeros");
        drop(wal);
        assert_eq!(replay(dir.path(), |_| {}).unwrap().records, 32);
    }

    #[test]
    fn rotation_leaves_no_zeros_behind() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample_wal();
        let wal = Wal::open(dir.path(), WalSync::Off).unwrap();
        wal.write(&data).unwrap();
        assert_eq!(wal.cut_segment().unwrap(), 2);
        let len = fs::metadata(dir.path().join("00000001")).unwrap().len();
        assert_eq!(len, data.len() as u64);
        // The new segment takes no space until it is written to.
        assert_eq!(fs::metadata(dir.path().join("00000002")).unwrap().len(), 0);
    }

    #[test]
    fn group_commit_from_many_threads() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), WalSync::Always).unwrap();
        std::thread::scope(|s| {
            for th in 0..4u64 {
                let wal = &wal;
                s.spawn(move || {
                    for i in 0..50 {
                        let mut p = Vec::new();
                        encode_samples(
                            &mut p,
                            [RefSample {
                                id: th,
                                t: i,
                                v: 1.0,
                            }]
                            .into_iter(),
                        );
                        let mut f = Vec::new();
                        frame(&mut f, &p);
                        wal.write(&f).unwrap();
                    }
                });
            }
        });
        drop(wal);
        let mut n = 0;
        replay(dir.path(), |_| n += 1).unwrap();
        assert_eq!(n, 200);
    }
}
