//! Merging point lists of one series from several sources (blocks, frozen head, head)
//! that may overlap in time: the result is sorted with unique timestamps, and where
//! sources share a timestamp the later source (the later write) wins.

use strata_core::Point;

/// Merges `sources`, given oldest write first; each is sorted with unique timestamps.
/// Pairwise linear merges: series usually span consecutive blocks, where each merge is
/// a plain append.
pub fn merge_last_wins(sources: Vec<Vec<Point>>) -> Vec<Point> {
    sources
        .into_iter()
        .filter(|s| !s.is_empty())
        .reduce(|older, newer| merge_sorted(older, &newer))
        .unwrap_or_default()
}

/// Merges two sorted, unique point lists; on equal timestamps `newer` wins.
pub fn merge_sorted(mut older: Vec<Point>, newer: &[Point]) -> Vec<Point> {
    let (Some(last), Some(first)) = (older.last(), newer.first()) else {
        older.extend_from_slice(newer);
        return older;
    };
    if last.t < first.t {
        older.extend_from_slice(newer);
        return older;
    }
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let mut j = 0;
    for p in older {
        while j < newer.len() && newer[j].t < p.t {
            out.push(newer[j]);
            j += 1;
        }
        if j < newer.len() && newer[j].t == p.t {
            continue;
        }
        out.push(p);
    }
    out.extend_from_slice(&newer[j..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<Point> {
        v.iter().map(|&(t, v)| Point { t, v }).collect()
    }

    #[test]
    fn later_sources_win_ties() {
        let got = merge_last_wins(vec![
            pts(&[(1, 1.0), (3, 1.0)]),
            vec![],
            pts(&[(2, 2.0), (3, 2.0)]),
            pts(&[(3, 3.0)]),
        ]);
        assert_eq!(got, pts(&[(1, 1.0), (2, 2.0), (3, 3.0)]));
        assert_eq!(merge_last_wins(vec![pts(&[(5, 1.0)])]), pts(&[(5, 1.0)]));
        assert!(merge_last_wins(vec![]).is_empty());
        let in_order = merge_last_wins(vec![pts(&[(1, 1.0), (2, 1.0)]), pts(&[(3, 2.0)])]);
        assert_eq!(in_order, pts(&[(1, 1.0), (2, 1.0), (3, 2.0)]));
        let touching = merge_last_wins(vec![pts(&[(1, 1.0), (2, 1.0)]), pts(&[(2, 2.0)])]);
        assert_eq!(touching, pts(&[(1, 1.0), (2, 2.0)]));
    }
}
