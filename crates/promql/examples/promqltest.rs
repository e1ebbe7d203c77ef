//! Runs promqltest scripts against Strata's engine and prints each failure:
//! `cargo run -p strata-promql --example promqltest -- FILE.test...`

use strata_promql::promqltest::{run_script, EngineBackend};

fn main() {
    let mut failed = 0;
    for path in std::env::args().skip(1) {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(2);
            }
        };
        let report = run_script(&path, &text, &mut EngineBackend::new());
        println!("{report}");
        for f in &report.failed {
            println!("  FAIL line {}: {}", f.line, f.reason);
        }
        for s in &report.skipped {
            println!("  skip line {}: {}", s.line, s.reason);
        }
        failed += report.failed.len();
    }
    std::process::exit(i32::from(failed > 0));
}
