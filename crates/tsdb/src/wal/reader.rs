//! WAL replay: reads the latest checkpoint and then every later segment in order. A
//! frame that is torn (the file ends inside it) or corrupt (bad checksum, undecodable
//! payload) ends its segment: the segment is truncated there, the damage is logged and
//! counted, and nothing from it is read as data. Later segments are still replayed, so a
//! damaged middle segment costs only its own tail.

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
    let (records, intact) = read_frames(&data);
    for r in records {
        stats.records += 1;
        apply(r);
    }
    if let Some((offset, reason)) = intact {
        tracing::warn!(
            file = %path.display(),
            offset,
            reason,
            dropped_bytes = data.len() - offset,
            "WAL damaged: truncating it at the last intact record"
        );
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(offset as u64)?;
        f.sync_all()?;
        stats.corruptions_repaired += 1;
    }
    Ok(())
}

/// Decodes every frame up to the first damaged one; returns the records and, if the
/// data is damaged, the offset of the damage and why.
pub(crate) fn read_frames(data: &[u8]) -> (Vec<Record>, Option<(usize, &'static str)>) {
    let mut records = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        match read_frame(&data[pos..]) {
            Ok((record, used)) => {
                records.push(record);
                pos += used;
            }
            Err(reason) => return (records, Some((pos, reason))),
        }
    }
    (records, None)
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

    #[test]
    fn torn_tail_at_every_length_keeps_the_intact_prefix() {
        let data = sample_wal();
        let (all, damage) = read_frames(&data);
        assert!(damage.is_none());
        for cut in 0..data.len() {
            let (records, damage) = read_frames(&data[..cut]);
            let whole = frames_before(&data, cut);
            assert_eq!(records, all[..whole], "cut at {cut}");
            let boundary = cut == 0 || frames_ends(&data).any(|e| e == cut);
            assert_eq!(damage.is_none(), boundary, "cut at {cut}");
        }
    }

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

    #[test]
    fn flipped_byte_at_every_position_keeps_records_before_it() {
        let data = sample_wal();
        let (all, _) = read_frames(&data);
        for pos in 0..data.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = data.clone();
                bad[pos] ^= flip;
                let (records, damage) = read_frames(&bad);
                let before = frames_before(&data, pos);
                assert!(records.len() >= before, "flip at {pos}");
                assert_eq!(records[..before], all[..before], "flip at {pos}");
                // The damaged frame itself is never read as data.
                assert!(damage.is_some(), "flip at {pos} went unnoticed");
                assert_eq!(records.len(), before, "flip at {pos}");
            }
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
