//! A block's postings: per label pair the sorted indices of its series, then a table of
//! `(name symbol u32, value symbol u32, offset u64)` sorted by symbols, then the `u64`
//! number of pairs.
//!
//! A list is coded either as gaps between successive ids or, when shorter, as runs of
//! consecutive ids (gap to the run, run length): series are sorted by labels, so a
//! metric name's series, or a label every series has, form a few long runs.

use crate::encoding::{put_uvarint, DecodeError, Decoder};
use std::collections::HashMap;
use std::io::{self, Write};

/// Size of a table entry.
pub(crate) const ENTRY: usize = 16;

/// Builds a block's postings as its series are added in order, and writes the file's
/// body in pair order at the end. Each list is held coded as runs while it grows: a
/// metric's series, or a label every series has, are a few long runs (a few bytes for
/// the whole list), other ids cost two or three bytes (a list of `u32` would take four
/// each and, growing, up to twice that).
#[derive(Default)]
pub(crate) struct PostingsWriter {
    lists: HashMap<(u32, u32), RunList>,
}

impl PostingsWriter {
    /// Adds series `id` to the list of label pair `pair`; ids of a pair come ascending.
    pub(crate) fn add(&mut self, pair: (u32, u32), id: u32) {
        self.lists.entry(pair).or_default().push(id);
    }

    /// Writes the body (without its checksum): each list, gaps or runs, whichever is
    /// shorter; the table; the number of pairs.
    pub(crate) fn write_to(self, out: &mut impl Write) -> io::Result<()> {
        let mut lists: Vec<_> = self.lists.into_iter().collect();
        lists.sort_unstable_by_key(|(pair, _)| *pair);
        let mut table = Vec::with_capacity(lists.len() * ENTRY);
        let (mut offset, mut gaps, mut header) = (0u64, Vec::new(), Vec::new());
        for ((name, value), mut list) in lists {
            table.extend_from_slice(&name.to_le_bytes());
            table.extend_from_slice(&value.to_le_bytes());
            table.extend_from_slice(&offset.to_le_bytes());
            list.close_run();
            // Gaps take a byte per id at least: runs shorter than that win unseen.
            let as_runs = list.runs.len() < list.len as usize || {
                list.gaps(&mut gaps);
                list.runs.len() < gaps.len()
            };
            header.clear();
            put_uvarint(&mut header, (u64::from(list.len) << 1) | u64::from(as_runs));
            let body = if as_runs { &list.runs } else { &gaps };
            out.write_all(&header)?;
            out.write_all(body)?;
            offset += (header.len() + body.len()) as u64;
        }
        out.write_all(&table)?;
        out.write_all(&((table.len() / ENTRY) as u64).to_le_bytes())?;
        Ok(())
    }
}

/// A growing postings list, coded as runs: each the gap from the end of the previous
/// run (or 0) to its first id, then its length minus one. The run being extended is
/// held apart until it ends.
#[derive(Default)]
struct RunList {
    runs: Vec<u8>,
    len: u32,
    /// The end of the last run written.
    next: u32,
    open_start: u32,
    open_len: u32,
}

impl RunList {
    fn push(&mut self, id: u32) {
        if self.open_len > 0 && self.open_start.checked_add(self.open_len) == Some(id) {
            self.open_len += 1;
        } else {
            self.close_run();
            self.open_start = id;
            self.open_len = 1;
        }
        self.len += 1;
    }

    fn close_run(&mut self) {
        if self.open_len > 0 {
            put_uvarint(&mut self.runs, u64::from(self.open_start - self.next));
            put_uvarint(&mut self.runs, u64::from(self.open_len - 1));
            self.next = self.open_start + self.open_len;
            self.open_len = 0;
        }
    }

    /// The list (its runs all closed) coded as gaps between successive ids, into `out`.
    fn gaps(&self, out: &mut Vec<u8>) {
        out.clear();
        let (mut d, mut next, mut prev) = (Decoder::new(&self.runs), 0u32, 0u32);
        while !d.is_empty() {
            // The runs are this list's own coding, so they decode.
            let (Ok(gap), Ok(extra)) = (d.uvarint(), d.uvarint()) else {
                break;
            };
            let start = next + gap as u32;
            next = start + extra as u32 + 1;
            for id in start..next {
                put_uvarint(out, u64::from(id - prev));
                prev = id;
            }
        }
    }
}

/// Appends the list at the start of `d` to `out`; ids must be below `limit`.
pub(crate) fn decode_list(
    mut d: Decoder<'_>,
    limit: u32,
    out: &mut Vec<u32>,
) -> Result<(), DecodeError> {
    let header = d.uvarint()?;
    let n = header >> 1;
    if n > u64::from(limit) {
        return Err(DecodeError("postings list longer than the block"));
    }
    let mut left = n as u32;
    let bad = DecodeError("postings id out of range");
    if header & 1 == 0 {
        let mut id = 0u32;
        for k in 0..left {
            let gap = u32::try_from(d.uvarint()?).map_err(|_| bad.clone())?;
            if k > 0 && gap == 0 {
                return Err(DecodeError("postings not ascending"));
            }
            id = id
                .checked_add(gap)
                .filter(|&i| i < limit)
                .ok_or(bad.clone())?;
            out.push(id);
        }
        return Ok(());
    }
    let mut next = 0u32;
    while left > 0 {
        let start = u32::try_from(d.uvarint()?)
            .ok()
            .and_then(|gap| next.checked_add(gap))
            .ok_or(bad.clone())?;
        let run = u32::try_from(d.uvarint()?)
            .ok()
            .and_then(|r| r.checked_add(1))
            .filter(|&r| r <= left)
            .ok_or(DecodeError("postings run longer than its list"))?;
        let end = start
            .checked_add(run)
            .filter(|&e| e <= limit)
            .ok_or(bad.clone())?;
        out.extend(start..end);
        next = end;
        left -= run;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The body for `lists` (sorted by pair), through the writer.
    fn encode(lists: &[((u32, u32), Vec<u32>)]) -> Vec<u8> {
        let mut w = PostingsWriter::default();
        for (pair, list) in lists {
            for &id in list {
                w.add(*pair, id);
            }
        }
        let mut out = Vec::new();
        w.write_to(&mut out).unwrap();
        out
    }

    /// The format as plainly as it can be written: every list whole, coded both ways.
    fn reference_encode(lists: &[((u32, u32), Vec<u32>)]) -> Vec<u8> {
        let (mut buf, mut table) = (Vec::new(), Vec::new());
        for ((name, value), list) in lists {
            table.extend_from_slice(&name.to_le_bytes());
            table.extend_from_slice(&value.to_le_bytes());
            table.extend_from_slice(&(buf.len() as u64).to_le_bytes());
            let (mut gaps, mut runs, mut prev) = (Vec::new(), Vec::new(), 0);
            for &id in list {
                put_uvarint(&mut gaps, u64::from(id - prev));
                prev = id;
            }
            let (mut i, mut next) = (0, 0);
            while i < list.len() {
                let mut end = i + 1;
                while end < list.len() && list[end] == list[end - 1] + 1 {
                    end += 1;
                }
                put_uvarint(&mut runs, u64::from(list[i] - next));
                put_uvarint(&mut runs, (end - i - 1) as u64);
                next = list[end - 1] + 1;
                i = end;
            }
            let as_runs = runs.len() < gaps.len();
            put_uvarint(&mut buf, ((list.len() as u64) << 1) | u64::from(as_runs));
            buf.extend_from_slice(if as_runs { &runs } else { &gaps });
        }
        buf.extend_from_slice(&table);
        buf.extend_from_slice(&(lists.len() as u64).to_le_bytes());
        buf
    }

    fn decode_all(body: &[u8], limit: u32) -> Vec<Result<Vec<u32>, DecodeError>> {
        let n = u64::from_le_bytes(body[body.len() - 8..].try_into().unwrap()) as usize;
        let table = body.len() - 8 - n * ENTRY;
        (0..n)
            .map(|i| {
                let e = &body[table + i * ENTRY..];
                let off = u64::from_le_bytes(e[8..16].try_into().unwrap()) as usize;
                let mut out = Vec::new();
                decode_list(Decoder::new(&body[off..table]), limit, &mut out).map(|_| out)
            })
            .collect()
    }

    fn sorted_unique(v: Vec<u32>) -> Vec<u32> {
        let mut v = v;
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn runs_are_chosen_for_consecutive_ids() {
        let run: Vec<u32> = (100..1100).collect();
        let body = encode(&[((0, 1), run.clone())]);
        assert!(body.len() < 8 + ENTRY + 8, "{} bytes", body.len());
        assert_eq!(decode_all(&body, 2000), vec![Ok(run)]);
    }

    proptest! {
        #[test]
        fn lists_read_back(lists in proptest::collection::vec(
            proptest::collection::vec(0u32..300, 1..80).prop_map(sorted_unique), 0..8)) {
            let keyed: Vec<_> = lists.iter().enumerate().map(|(i, l)| ((i as u32, 0), l.clone())).collect();
            let body = encode(&keyed);
            let got = decode_all(&body, 300);
            prop_assert_eq!(got, lists.into_iter().map(Ok).collect::<Vec<_>>());
        }

        #[test]
        fn the_writer_codes_as_the_reference(lists in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![0u32..40, 0u32..100_000, (u32::MAX - 50)..u32::MAX], 1..200,
            ).prop_map(sorted_unique), 0..8)) {
            let keyed: Vec<_> = lists.into_iter().enumerate().map(|(i, l)| ((i as u32 / 3, i as u32), l)).collect();
            prop_assert_eq!(encode(&keyed), reference_encode(&keyed));
        }

        #[test]
        fn damaged_lists_are_errors_not_panics(
            list in proptest::collection::vec(0u32..300, 1..80).prop_map(sorted_unique),
            at in any::<prop::sample::Index>(), x in 1u8..,
        ) {
            let mut body = encode(&[((0, 0), list)]);
            let table = body.len() - 8 - ENTRY;
            let at = at.index(table);
            body[at] ^= x;
            for r in decode_all(&body, 300).into_iter().flatten() {
                prop_assert!(r.windows(2).all(|w| w[0] < w[1]));
                prop_assert!(r.iter().all(|&id| id < 300));
            }
        }
    }
}
