//! Measuring the detector on the scenario suite.
//!
//! The model is learned from a separate run of normal operation only (its own seed). Each
//! scenario is then scored. An alert is a true positive when it falls inside an attack episode,
//! from its first attack frame to [`GRACE_US`] after its last (what an attack provokes, such as
//! the RTU's negative confirmation or the victim's next frame, belongs to it); any other alert is
//! a false alarm. An episode is detected when at least one alert falls inside it; its detection
//! delay is from its first attack frame to the first such alert.
//!
//! Precision = true-positive alerts / all alerts; recall = detected episodes / episodes;
//! F1 their harmonic mean. Faults that are not attacks carry no episodes, so every alert in
//! them counts against precision and in the false alarms per hour.
//!
//! Leave-one-attack-out: the detector has no per-attack parameters and never sees an attack
//! while learning, so holding an attack out of training changes nothing. What the figure
//! measures instead is each attack on its own, scored together with every scenario without
//! attacks (normal operation and the three faults), so that false alarms weigh against it as
//! they would for an operator facing only that attack.

use std::fmt::Write as _;

use crate::detect::{Alert, score};
use crate::model::{Model, learn};
use crate::scenario::{Episode, Scenario, ScenarioKind, generate};

/// How long after an episode's last attack frame its consequences still count, microseconds.
pub const GRACE_US: i64 = 2_000_000;

/// The figures for one scenario or a group of them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// Alerts inside an episode.
    pub true_alerts: u64,
    /// Alerts outside every episode.
    pub false_alerts: u64,
    /// Episodes.
    pub episodes: u64,
    /// Episodes with at least one alert.
    pub detected: u64,
    /// Sum of detection delays of detected episodes, microseconds.
    pub delay_sum_us: i64,
    /// Largest detection delay, microseconds.
    pub delay_max_us: i64,
    /// Hours of traffic.
    pub hours: f64,
}

impl Figures {
    /// Adds another group's counts.
    pub fn add(&mut self, o: &Figures) {
        self.true_alerts += o.true_alerts;
        self.false_alerts += o.false_alerts;
        self.episodes += o.episodes;
        self.detected += o.detected;
        self.delay_sum_us += o.delay_sum_us;
        self.delay_max_us = self.delay_max_us.max(o.delay_max_us);
        self.hours += o.hours;
    }

    /// True alerts / all alerts (1 when there are no alerts).
    pub fn precision(&self) -> f64 {
        let all = self.true_alerts + self.false_alerts;
        if all == 0 { 1.0 } else { self.true_alerts as f64 / all as f64 }
    }

    /// Detected episodes / episodes (`None` without episodes).
    pub fn recall(&self) -> Option<f64> {
        (self.episodes > 0).then(|| self.detected as f64 / self.episodes as f64)
    }

    /// Harmonic mean of precision and recall (`None` without episodes).
    pub fn f1(&self) -> Option<f64> {
        let (p, r) = (self.precision(), self.recall()?);
        Some(if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) })
    }

    /// False alarms per hour of traffic.
    pub fn false_per_hour(&self) -> f64 {
        if self.hours > 0.0 { self.false_alerts as f64 / self.hours } else { 0.0 }
    }

    /// Mean detection delay, seconds (`None` when nothing was detected).
    pub fn mean_delay_s(&self) -> Option<f64> {
        (self.detected > 0).then(|| self.delay_sum_us as f64 / self.detected as f64 / 1e6)
    }
}

/// Scores alerts against a scenario's ground truth.
pub fn figures(scenario: &Scenario, alerts: &[Alert]) -> Figures {
    score_times(&scenario.episodes, scenario.hours, alerts.iter().map(|a| a.time_us))
}

/// Scores alert times (microseconds) against attack episodes over `hours` of operation, by the
/// definitions of the module doc; shared with other suites (the measurement-level one).
pub fn score_times(episodes: &[Episode], hours: f64, alert_times_us: impl IntoIterator<Item = i64>) -> Figures {
    let mut f = Figures { episodes: episodes.len() as u64, hours, ..Figures::default() };
    let mut first: Vec<Option<i64>> = vec![None; episodes.len()];
    for t in alert_times_us {
        match episodes.iter().position(|e| (e.start_us..=e.end_us + GRACE_US).contains(&t)) {
            Some(i) => {
                f.true_alerts += 1;
                if let Some(slot) = first.get_mut(i) {
                    let earliest = slot.map_or(t, |s: i64| s.min(t));
                    *slot = Some(earliest);
                }
            }
            None => f.false_alerts += 1,
        }
    }
    for (e, t) in episodes.iter().zip(&first) {
        if let Some(t) = t {
            f.detected += 1;
            let d = t - e.start_us;
            f.delay_sum_us += d;
            f.delay_max_us = f.delay_max_us.max(d);
        }
    }
    f
}

/// One scenario's line in a report table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Scenario name.
    pub name: String,
    /// Whether it has attack episodes (else it is normal operation or a fault).
    pub attack: bool,
    /// Its figures.
    pub figures: Figures,
    /// Printed after the figures (alert counts by kind, ...).
    pub note: String,
}

/// The rows together.
pub fn total<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Figures {
    let mut f = Figures::default();
    for r in rows {
        f.add(&r.figures);
    }
    f
}

/// Leave-one-attack-out: per attack row, its figures together with every row without attacks.
pub fn leave_one_attack_out(rows: &[Row]) -> Vec<(&str, Figures)> {
    let benign = total(rows.iter().filter(|r| !r.attack));
    rows.iter()
        .filter(|r| r.attack)
        .map(|r| {
            let mut f = benign;
            f.add(&r.figures);
            (r.name.as_str(), f)
        })
        .collect()
}

fn opt(v: Option<f64>, w: usize) -> String {
    v.map_or_else(|| format!("{:>w$}", "-"), |v| format!("{v:>w$.3}"))
}

/// The table of a report: one line per row, the suite line and leave-one-attack-out (each
/// attack with every scenario without attacks; `why_unseen` says why each attack is unseen).
pub fn write_table(out: &mut String, rows: &[Row], why_unseen: &str) {
    let _ = writeln!(
        out,
        "{:<24} {:>4} {:>4} {:>5} {:>5} {:>9} {:>6} {:>6} {:>8} {:>9}  alerts by kind",
        "scenario", "epis", "det", "TP", "FP", "precision", "recall", "F1", "delay s", "FA/hour"
    );
    for r in rows {
        let f = &r.figures;
        let _ = writeln!(
            out,
            "{:<24} {:>4} {:>4} {:>5} {:>5} {:>9.3} {} {} {} {:>9.2}  {}",
            r.name,
            f.episodes,
            f.detected,
            f.true_alerts,
            f.false_alerts,
            f.precision(),
            opt(f.recall(), 6),
            opt(f.f1(), 6),
            opt(f.mean_delay_s(), 8),
            f.false_per_hour(),
            r.note
        );
    }
    let suite = total(rows);
    let benign = total(rows.iter().filter(|r| !r.attack));
    let _ = writeln!(
        out,
        "suite: precision {:.3} recall {} F1 {} mean delay {} s, max delay {:.3} s; benign scenarios {:.1} h with {} false alarms ({:.2}/hour)",
        suite.precision(),
        opt(suite.recall(), 0),
        opt(suite.f1(), 0),
        opt(suite.mean_delay_s(), 0),
        suite.delay_max_us as f64 / 1e6,
        benign.hours,
        benign.false_alerts,
        benign.false_per_hour()
    );
    let _ = writeln!(out, "leave-one-attack-out ({why_unseen};");
    let _ = writeln!(out, "  each line scores one attack together with every scenario without attacks):");
    for (name, f) in leave_one_attack_out(rows) {
        let _ = writeln!(out, "  {:<24} precision {:.3} recall {} F1 {}", name, f.precision(), opt(f.recall(), 0), opt(f.f1(), 0));
    }
}

/// One scenario's result.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// Which.
    pub kind: ScenarioKind,
    /// Figures.
    pub figures: Figures,
    /// Alert counts by kind name.
    pub alert_kinds: Vec<(&'static str, u64)>,
    /// The first false alarm, for explanation.
    pub first_false: Option<Alert>,
}

/// The whole evaluation.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The learned model's training hours.
    pub training_hours: f64,
    /// Per scenario.
    pub scenarios: Vec<ScenarioResult>,
}

/// Learns from `training_hours` of normal operation (seed `seed`) and scores every scenario of
/// the suite (`hours` each, seeds `seed + 1 ..`).
pub fn evaluate(seed: u64, training_hours: f64, hours: f64) -> Evaluation {
    let training = generate(ScenarioKind::Normal, seed, training_hours);
    let model: Model = learn(&training.events);
    let scenarios = ScenarioKind::ALL
        .iter()
        .enumerate()
        .map(|(i, &kind)| {
            let s = generate(kind, seed.wrapping_add(1 + i as u64), hours);
            let alerts = score(model.clone(), &s.events);
            let figures = figures(&s, &alerts);
            let mut counts: std::collections::BTreeMap<&'static str, u64> = std::collections::BTreeMap::new();
            for a in &alerts {
                *counts.entry(a.kind.name()).or_default() += 1;
            }
            let first_false =
                alerts.iter().find(|a| !s.episodes.iter().any(|e| (e.start_us..=e.end_us + GRACE_US).contains(&a.time_us))).cloned();
            ScenarioResult { kind, figures, alert_kinds: counts.into_iter().collect(), first_false }
        })
        .collect();
    Evaluation { training_hours, scenarios }
}

impl Evaluation {
    fn rows(&self) -> Vec<Row> {
        self.scenarios
            .iter()
            .map(|s| Row {
                name: s.kind.name().to_owned(),
                attack: matches!(s.kind, ScenarioKind::Attack(_)),
                figures: s.figures,
                note: s.alert_kinds.iter().map(|(k, n)| format!("{k}:{n}")).collect::<Vec<_>>().join(" "),
            })
            .collect()
    }

    /// All scenarios together.
    pub fn suite(&self) -> Figures {
        total(&self.rows())
    }

    /// The scenarios without attacks together (normal and faults).
    pub fn benign(&self) -> Figures {
        total(self.rows().iter().filter(|r| !r.attack))
    }

    /// Leave-one-attack-out, per attack: that attack's scenario with all benign scenarios.
    pub fn leave_one_attack_out(&self) -> Vec<(ScenarioKind, Figures)> {
        let attacks = self.scenarios.iter().filter(|s| matches!(s.kind, ScenarioKind::Attack(_)));
        attacks.zip(leave_one_attack_out(&self.rows())).map(|(s, (_, f))| (s.kind, f)).collect()
    }

    /// The report printed by `gridtrust ids evaluate`.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "model learned from {:.1} h of generated normal operation; each scenario {:.1} h",
            self.training_hours,
            self.scenarios.first().map_or(0.0, |s| s.figures.hours)
        );
        write_table(
            &mut out,
            &self.rows(),
            "the detector learns from normal traffic only and has no per-attack parameters, so each attack is unseen",
        );
        for s in &self.scenarios {
            if let Some(a) = &s.first_false {
                let _ = writeln!(out, "first false alarm in {}: {a}", s.kind.name());
            }
        }
        out
    }
}
