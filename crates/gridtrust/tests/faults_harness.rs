//! The fault-injection harness (crates/faults) at CI size: the real roles as processes, every
//! kill and SIGTERM four times at random moments, every link, disk and clock fault once; nothing
//! the RTU saw acknowledged may be lost or doubled, nothing stale shown good beyond the bound,
//! no command executed that SCADA gave up on, and the chain serves SCADA again after each fault.
//!
//! The seed of the random moments is printed; `GRIDTRUST_FAULTS_SEED=<seed>` repeats a run, and
//! `cargo run -p gridtrust-faults -- --rounds N` runs the same for longer (soak).

use std::path::Path;

use gridtrust_faults::{Plan, run};

#[tokio::test(flavor = "multi_thread")]
async fn nothing_acknowledged_is_lost_or_doubled_and_nothing_stale_looks_fresh_under_faults() {
    let seed = std::env::var("GRIDTRUST_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64));
    println!("fault harness seed {seed} (GRIDTRUST_FAULTS_SEED={seed} repeats it)");
    let work = tempfile::tempdir().unwrap();
    let report = run(&Plan::ci(seed), Path::new(env!("CARGO_BIN_EXE_gridtrust")), work.path()).await;
    println!("{}", report.table());
    if !report.passed() {
        // Keep every role's log for the failure.
        let kept = work.keep();
        panic!("fault harness invariants broken (seed {seed}); logs in {}\n{}", kept.display(), report.table());
    }
}
