//! A block's postings: per label pair the sorted indices of its series, then a table of
//! `(name symbol u32, value symbol u32, offset u64)` sorted by symbols, then the `u64`
//! number of pairs.
//!
//! A list is coded either as gaps between successive ids or, when shorter, as runs of
//! consecutive ids (gap to the run, run length): series are sorted by labels, so a
//! metric name's series, or a label every series has, form a few long runs.

use crate::encoding::{put_uvarint, DecodeError, Decoder};

/// Size of a table entry.
pub(crate) const ENTRY: usize = 16;

/// The postings file's body (without its checksum); `lists` sorted by pair.
pub(crate) fn encode(lists: &[((u32, u32), Vec<u32>)]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut table = Vec::with_capacity(lists.len() * ENTRY);
    let (mut gaps, mut runs) = (Vec::new(), Vec::new());
    for ((name, value), list) in lists {
        table.extend_from_slice(&name.to_le_bytes());
        table.extend_from_slice(&value.to_le_bytes());
        table.extend_from_slice(&(buf.len() as u64).to_le_bytes());
        encode_gaps(&mut gaps, list);
        encode_runs(&mut runs, list);
        let as_runs = runs.len() < gaps.len();
        put_uvarint(&mut buf, ((list.len() as u64) << 1) | u64::from(as_runs));
        buf.extend_from_slice(if as_runs { &runs } else { &gaps });
    }
    buf.extend_from_slice(&table);
    buf.extend_from_slice(&(lists.len() as u64).to_le_bytes());
    buf
}

fn encode_gaps(out: &mut Vec<u8>, list: &[u32]) {
    out.clear();
    let mut prev = 0;
    for &id in list {
        put_uvarint(out, u64::from(id - prev));
        prev = id;
    }
}

/// Each run: the gap from the end of the previous run (or 0) to its first id, then its
/// length minus one.
fn encode_runs(out: &mut Vec<u8>, list: &[u32]) {
    out.clear();
    let mut next = 0;
    let mut i = 0;
    while i < list.len() {
        let start = list[i];
        let mut end = i + 1;
        while end < list.len() && list[end] == list[end - 1] + 1 {
            end += 1;
        }
        put_uvarint(out, u64::from(start - next));
        put_uvarint(out, (end - i - 1) as u64);
        next = list[end - 1] + 1;
        i = end;
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
