//! Where a store's block bytes go: per file of each block (chunks, series, postings,
//! symbols, meta) and, for comparison, what the same samples take as one chunk per
//! series. A measuring tool, not a check: run it on a data directory with
//! `STRATA_BREAKDOWN_DIR=<data dir> cargo test --release -p strata-tsdb --test breakdown
//! -- --ignored --nocapture`.

use std::collections::BTreeMap;
use std::path::Path;
use strata_core::{Labels, Point, TimeRange};
use strata_tsdb::block::Block;

#[test]
#[ignore = "a measuring tool: needs STRATA_BREAKDOWN_DIR"]
fn block_bytes_breakdown() {
    let Ok(dir) = std::env::var("STRATA_BREAKDOWN_DIR") else {
        return;
    };
    let blocks_dir = Path::new(&dir).join("blocks");
    let mut files: BTreeMap<String, u64> = BTreeMap::new();
    let (mut samples, mut chunks, mut series_entries) = (0u64, 0u64, 0u64);
    let mut whole: BTreeMap<Labels, Vec<Point>> = BTreeMap::new();
    let mut names: Vec<_> = std::fs::read_dir(&blocks_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    names.sort();
    let blocks = names.len();
    for path in names {
        let block = Block::open(&path).unwrap();
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            *files.entry(name).or_default() += entry.metadata().unwrap().len();
        }
        let meta = block.meta();
        println!(
            "block {}: {} series, {} chunks, {} samples, {}..={}",
            block.name(),
            meta.num_series,
            meta.num_chunks,
            meta.num_samples,
            meta.min_t,
            meta.max_t
        );
        samples += meta.num_samples;
        chunks += meta.num_chunks;
        series_entries += meta.num_series;
        for i in 0..block.num_series() as u32 {
            let s = block.series(i).unwrap();
            let mut pts = Vec::new();
            block
                .read_points(&s.chunks, TimeRange::ALL, &mut pts)
                .unwrap();
            whole.entry(s.labels).or_default().extend(pts);
        }
    }
    let total: u64 = files.values().sum();
    println!(
        "{blocks} blocks' files: {total} bytes, {samples} samples ({:.3} B/sample), {series_entries} \
         series entries, {chunks} chunks, {} distinct series",
        total as f64 / samples as f64,
        whole.len()
    );
    for (name, bytes) in &files {
        println!(
            "  {name:10} {bytes:>12} B  {:6.3} B/sample  {:7.2} B/series entry",
            *bytes as f64 / samples as f64,
            *bytes as f64 / series_entries as f64
        );
    }
    let one_chunk: usize = whole
        .values_mut()
        .map(|pts| {
            pts.sort_by_key(|p| p.t);
            strata_tsdb::chunk::encode(pts).len()
        })
        .sum();
    println!(
        "  one chunk per series, no index: {one_chunk} B ({:.3} B/sample)",
        one_chunk as f64 / samples as f64
    );
}
