//! Runs every Prometheus promqltest script in `shared/promql` against Strata's engine
//! over an in-memory store, prints per-file and total counts, and fails on any failed
//! float eval. A missing script directory fails the test: it must never pass vacuously.

use std::path::Path;
use strata_promql::promqltest::{run_script, EngineBackend};

#[test]
fn prometheus_test_scripts() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/promql"
    ));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("promqltest scripts not found at {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable script");
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let report = run_script(&name, &text, &mut EngineBackend::new());
        println!("{report}");
        for f in &report.failed {
            println!("  FAIL {name}:{} {}", f.line, f.reason);
        }
        passed += report.passed;
        failed += report.failed.len();
        skipped += report.skipped.len();
    }
    println!("promqltest: {passed} passed, {failed} failed, {skipped} skipped");
    assert_eq!(failed, 0, "{failed} promqltest evals failed (see above)");
}
