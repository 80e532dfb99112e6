//! `gridtrust ids learn|score|generate|evaluate` run as a process: a real capture scores clean
//! against its own model and exits 0, a generated attack scores with explained alerts and exits 1.

use std::path::PathBuf;
use std::process::{Command, Output};

fn shared(relative: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/pcap").join(relative).display().to_string()
}

fn gridtrust(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gridtrust")).args(args).env("RUST_LOG", "warn").output().expect("run gridtrust")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_real_capture_scores_clean_against_its_own_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.json").display().to_string();
    let capture = shared("IEC60870-5-104/JavaRMI_and_IEC_Misc.pcap");
    let learned = gridtrust(&["ids", "learn", &capture, "-o", &model]);
    assert!(learned.status.success(), "{}", text(&learned.stderr));
    let scored = gridtrust(&["ids", "score", "--model", &model, &capture]);
    assert_eq!(scored.status.code(), Some(0), "{}{}", text(&scored.stdout), text(&scored.stderr));
    assert!(scored.stdout.is_empty());
    // Another capture against this model: strangers, exit 1.
    let other = gridtrust(&["ids", "score", "--model", &model, &shared("IEC60870-5-104/090813_diverse.pcap")]);
    assert_eq!(other.status.code(), Some(1));
    assert!(text(&other.stdout).contains("[unknown-peer]"), "{}", text(&other.stdout));
}

#[test]
fn a_generated_replay_is_reported_with_its_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    for (scenario, seed, file) in [("normal", "1", "normal.pcap"), ("replay", "2", "replay.pcap")] {
        let out = gridtrust(&["ids", "generate", "--scenario", scenario, "--seed", seed, "--hours", "1", "-o", &path(file)]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert!(gridtrust(&["ids", "learn", &path("normal.pcap"), "-o", &path("model.json")]).status.success());
    let scored = gridtrust(&["ids", "score", "--model", &path("model.json"), &path("replay.pcap")]);
    assert_eq!(scored.status.code(), Some(1));
    let stdout = text(&scored.stdout);
    assert!(stdout.contains("[sequence] replayed or reordered control I-frame"), "{stdout}");
    assert!(stdout.contains("[stale-command]"), "{stdout}");
    let unknown = gridtrust(&["ids", "generate", "--scenario", "no-such", "-o", &path("x.pcap")]);
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("fault-breaker-trip"), "{}", text(&unknown.stderr));
}

#[test]
fn evaluate_prints_the_figures_per_scenario_and_leave_one_attack_out() {
    let out = gridtrust(&["ids", "evaluate", "--training-hours", "2", "--hours", "0.5", "--demo-minutes", "4", "--grid-minutes", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for needle in ["precision", "recall", "F1", "delay s", "FA/hour", "leave-one-attack-out", "fault-lost-link", "false-data-injection"] {
        assert!(stdout.contains(needle), "{needle} missing:\n{stdout}");
    }
    // The measurement scenarios follow, per grid, with their latency and scoring rules.
    for needle in [
        "measurement scenarios, demo grid",
        "measurement scenarios, generated 1,001-node grid",
        "fdi-stealthy-unsigned",
        "ms median",
        "rules:",
    ] {
        assert!(stdout.contains(needle), "{needle} missing:\n{stdout}");
    }
}
