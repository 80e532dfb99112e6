//! The evaluation targets of issue 15 on the generated suite: F1 ≥ 0.95 over all scenarios,
//! ≥ 0.85 for every attack left out, ≤ 1 false alarm per hour of traffic without attacks,
//! detection delay ≤ 2 s.

use gridtrust_ids::evaluate::evaluate;

#[test]
fn the_suite_meets_the_issue_targets() {
    // Three independent draws of the suite (training and scenarios), not one lucky seed.
    for seed in [7, 1000, 5000] {
        let e = evaluate(seed, 4.0, 1.0);
        let report = e.report();
        println!("seed {seed}\n{report}");
        let suite = e.suite();
        assert!(suite.f1().is_some_and(|f| f >= 0.95), "suite F1\n{report}");
        for (kind, f) in e.leave_one_attack_out() {
            assert!(f.f1().is_some_and(|f| f >= 0.85), "LOAO F1 for {}\n{report}", kind.name());
        }
        assert!(e.benign().false_per_hour() <= 1.0, "false alarms per hour\n{report}");
        assert!(suite.delay_max_us <= 2_000_000, "detection delay\n{report}");
    }
}

#[test]
fn a_model_learned_from_too_little_traffic_shows_in_the_figures() {
    // Five minutes of training miss the periodic interrogation and most commands: the targets
    // are then missed through false alarms, so the test above measures the detector, not a
    // suite that any model passes.
    let e = evaluate(7, 5.0 / 60.0, 1.0);
    assert!(e.benign().false_per_hour() > 1.0, "{}", e.report());
}
