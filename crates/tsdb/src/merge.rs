//! Merging point lists of one series from several sources (blocks, frozen head, head)
//! that may overlap in time: the result is sorted with unique timestamps, and where
//! sources share a timestamp the later source (the later write) wins.

use strata_core::Point;

/// Merges `sources`, given oldest write first; each is sorted with unique timestamps.
pub fn merge_last_wins(mut sources: Vec<Vec<Point>>) -> Vec<Point> {
    sources.retain(|s| !s.is_empty());
    match sources.len() {
        0 => Vec::new(),
        1 => sources.pop().unwrap_or_default(),
        // The usual case, series spread over consecutive blocks: nothing to resolve.
        _ if sources
            .windows(2)
            .all(|w| w[0][w[0].len() - 1].t < w[1][0].t) =>
        {
            let mut all = Vec::with_capacity(sources.iter().map(Vec::len).sum());
            sources.into_iter().for_each(|s| all.extend(s));
            all
        }
        _ => {
            // Stable sort keeps source order among equal timestamps: keep the last one.
            let mut all: Vec<Point> = sources.into_iter().flatten().collect();
            all.sort_by_key(|p| p.t);
            let mut out: Vec<Point> = Vec::with_capacity(all.len());
            for p in all {
                match out.last_mut() {
                    Some(last) if last.t == p.t => *last = p,
                    _ => out.push(p),
                }
            }
            out
        }
    }
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
