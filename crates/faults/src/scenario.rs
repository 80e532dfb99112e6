//! One harness run: the roles as processes, the numbered RTU, the proxies and the SCADA client;
//! faults one after another at random moments; then the invariants, checked from the hub's
//! store and log and from what SCADA saw.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use gridtrust_model::{PointId, Timestamp, Value};
use gridtrust_store::{HubStore, TransparencyLog};
use gridtrust_trust::checkpoint::LogEntry;

use crate::disk::SmallDisk;
use crate::process::{Role, Stop};
use crate::proxy::{LinkMode, Proxy};
use crate::scada::{CommandAnswer, Scada};
use crate::setup::{self, Staleness};
use crate::source::{COMMAND_IOA, NUMBERED_IOA, NumberedRtu};

/// The graceful-stop bound every role promises (README, "Running the roles separately").
pub const STOP_BOUND: Duration = Duration::from_secs(10);

/// What a store logs when a write fails (gridtrust-store's `Db::guard`).
const WRITE_FAILED: &str = "store write failed";

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Fault {
    /// SIGKILL of the edge (a power cut at the substation), started again.
    KillEdge,
    /// SIGTERM of the edge, started again.
    TermEdge,
    KillHub,
    TermHub,
    KillCc,
    TermCc,
    /// The RTU ↔ edge link is cut (connections reset, new ones refused).
    CutRtu,
    CutEdgeHub,
    /// The edge → hub path keeps its sockets and drops every byte.
    BlackholeEdgeHub,
    /// 300 ms added to every chunk on edge → hub.
    DelayEdgeHub,
    CutHubCc,
    BlackholeHubCc,
    /// The edge's data folder full to the last byte (ENOSPC), then freed.
    DiskFullEdge,
    /// The hub's data folder full, then freed.
    DiskFullHub,
    /// The edge's wall clock stepped by an hour (forward or back) while it runs, then set right.
    ClockStepEdge,
    ClockStepHub,
    ClockStepCc,
}

impl Fault {
    pub const ALL: [Fault; 17] = [
        Fault::KillEdge,
        Fault::TermEdge,
        Fault::KillHub,
        Fault::TermHub,
        Fault::KillCc,
        Fault::TermCc,
        Fault::CutRtu,
        Fault::CutEdgeHub,
        Fault::BlackholeEdgeHub,
        Fault::DelayEdgeHub,
        Fault::CutHubCc,
        Fault::BlackholeHubCc,
        Fault::DiskFullEdge,
        Fault::DiskFullHub,
        Fault::ClockStepEdge,
        Fault::ClockStepHub,
        Fault::ClockStepCc,
    ];

    /// Whether the fault separates the cc from the edge's data for its whole hold, so SCADA must
    /// see the point lose its good quality, and a command given then must not run later.
    fn is_outage(self) -> bool {
        matches!(
            self,
            Fault::KillHub | Fault::TermHub | Fault::CutHubCc | Fault::BlackholeHubCc | Fault::CutEdgeHub | Fault::BlackholeEdgeHub
        )
    }

    /// How the fault stops its role, for the kill and SIGTERM faults.
    fn stops_a_role(self) -> Option<Stop> {
        match self {
            Fault::KillEdge | Fault::KillHub | Fault::KillCc => Some(Stop::Kill),
            Fault::TermEdge | Fault::TermHub | Fault::TermCc => Some(Stop::Term),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Fault::KillEdge => "kill -9 edge",
            Fault::TermEdge => "SIGTERM edge",
            Fault::KillHub => "kill -9 hub",
            Fault::TermHub => "SIGTERM hub",
            Fault::KillCc => "kill -9 cc",
            Fault::TermCc => "SIGTERM cc",
            Fault::CutRtu => "cut RTU-edge",
            Fault::CutEdgeHub => "cut edge-hub",
            Fault::BlackholeEdgeHub => "blackhole edge-hub",
            Fault::DelayEdgeHub => "delay 300 ms edge-hub",
            Fault::CutHubCc => "cut hub-cc",
            Fault::BlackholeHubCc => "blackhole hub-cc",
            Fault::DiskFullEdge => "disk full edge",
            Fault::DiskFullHub => "disk full hub",
            Fault::ClockStepEdge => "clock step ±1 h edge",
            Fault::ClockStepHub => "clock step ±1 h hub",
            Fault::ClockStepCc => "clock step ±1 h cc",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// How many times each fault kind is injected, in a shuffled order.
    pub rounds: usize,
    /// The kinds to inject.
    pub faults: Vec<Fault>,
    /// Seed of the random moments and holds (printed, so a failing run can be repeated).
    pub seed: u64,
    /// The RTU's counting period.
    pub period: Duration,
    /// How long a fault that is not an outage is held (random within).
    pub short_hold: (Duration, Duration),
    /// The cc's staleness bounds for this run; an outage is held past `invalid_s`.
    pub staleness: Staleness,
    /// How long after a fault ends the chain must serve SCADA a fresh good value again.
    pub recovery_bound: Duration,
    /// Slack on top of `not_topical_s` before a good value shown during an outage counts as stale
    /// (the cc checks once a second, and the last value needs its way through).
    pub staleness_slack: Duration,
}

impl Plan {
    /// The size `.ci/run` runs, a few minutes: every kill and SIGTERM four times (24 process
    /// faults) and every link fault once.
    pub fn ci(seed: u64) -> Self {
        let (processes, others): (Vec<Fault>, Vec<Fault>) = Fault::ALL.into_iter().partition(|f| f.stops_a_role().is_some());
        Self {
            rounds: 1,
            faults: processes.iter().copied().cycle().take(processes.len() * 4).chain(others).collect(),
            seed,
            period: Duration::from_millis(50),
            short_hold: (Duration::from_millis(300), Duration::from_secs(3)),
            staleness: Staleness {
                not_topical_s: 3,
                invalid_s: 5,
                hub_silence_s: 4,
            },
            recovery_bound: Duration::from_secs(30),
            staleness_slack: Duration::from_secs(2),
        }
    }
}

/// What happened to the values, commands and staleness of one fault.
#[derive(Clone, Debug, Default)]
pub struct FaultOutcome {
    pub runs: usize,
    pub values_sent: u64,
    pub lost: u64,
    pub doubled: u64,
    pub stale_beyond_bound: usize,
    pub late_commands: usize,
    pub unrecovered: usize,
    pub stop_failures: Vec<String>,
    pub recovery: Vec<Duration>,
    /// Clock steps during which SCADA stopped getting fresh good values: a role locked out of
    /// the chain by its own clock (certificates "not yet valid", checkpoints "from the future").
    pub locked_out: usize,
    /// Disk faults in which the role's store actually failed a write (a store with free pages
    /// inside its file writes on for a while on a full disk).
    pub writes_failed: usize,
}

/// The whole run's result.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub seed: u64,
    pub values_sent: u64,
    pub by_fault: BTreeMap<Fault, FaultOutcome>,
    /// Lost or doubled values sent outside any fault window.
    pub lost_outside: u64,
    pub doubled_outside: u64,
    /// Stored batches of the edge missing from the hub's transparency log.
    pub batches_not_logged: u64,
    pub batches_stored: u64,
    /// Whether a command given while every link was up was executed (the late-command check
    /// can only fail if commands work at all).
    pub healthy_command_executed: bool,
    /// Failures that end the run before the checks (a role that does not start, no drain).
    pub errors: Vec<String>,
}

impl Report {
    /// Whether every invariant held.
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
            && self.lost_outside == 0
            && self.doubled_outside == 0
            && self.batches_not_logged == 0
            && self.healthy_command_executed
            && self.by_fault.values().all(|o| {
                o.lost == 0
                    && o.doubled == 0
                    && o.stale_beyond_bound == 0
                    && o.late_commands == 0
                    && o.unrecovered == 0
                    && o.locked_out == 0
                    && o.stop_failures.is_empty()
            })
    }

    /// The closing note's table, in Markdown.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| fault | runs | values sent | lost | doubled | stale beyond bound | late commands | not recovered | locked out | recovery median | recovery max |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for (fault, o) in &self.by_fault {
            let mut r = o.recovery.clone();
            r.sort();
            let median = r.get(r.len() / 2).map_or("-".into(), |d| format!("{:.1} s", d.as_secs_f64()));
            let max = r.last().map_or("-".into(), |d| format!("{:.1} s", d.as_secs_f64()));
            out += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {median} | {max} |\n",
                fault.label(),
                o.runs,
                o.values_sent,
                o.lost,
                o.doubled,
                o.stale_beyond_bound,
                o.late_commands,
                o.unrecovered,
                o.locked_out
            );
        }
        out += &format!(
            "\nseed {}; {} values sent; outside fault windows: {} lost, {} doubled; {} stored batches, {} not in the log; command while healthy executed: {}\n",
            self.seed,
            self.values_sent,
            self.lost_outside,
            self.doubled_outside,
            self.batches_stored,
            self.batches_not_logged,
            self.healthy_command_executed
        );
        for (fault, o) in self
            .by_fault
            .iter()
            .filter(|(f, _)| matches!(f, Fault::DiskFullEdge | Fault::DiskFullHub))
        {
            out += &format!(
                "{}: a store write failed (ENOSPC) in {} of {} runs\n",
                fault.label(),
                o.writes_failed,
                o.runs
            );
        }
        for f in self.by_fault.values().flat_map(|o| &o.stop_failures) {
            out += &format!("stop failure: {f}\n");
        }
        for e in &self.errors {
            out += &format!("error: {e}\n");
        }
        out
    }
}

/// xorshift64*: reproducible from the printed seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn between(&mut self, (lo, hi): (Duration, Duration)) -> Duration {
        let span = hi.saturating_sub(lo).as_millis().max(1) as u64;
        lo + Duration::from_millis(self.next() % span)
    }
}

/// One injected fault, for attributing values and commands afterwards.
struct Window {
    fault: Fault,
    from: Instant,
    to: Instant,
}

/// The running system.
struct System {
    hub: Role,
    edge: Role,
    cc: Role,
    rtu_link: Proxy,
    edge_hub: Proxy,
    hub_cc: Proxy,
    /// `None` when the harness may not mount a tmpfs (the disk faults are skipped then).
    edge_disk: Option<SmallDisk>,
    hub_disk: Option<SmallDisk>,
}

impl System {
    fn role(&mut self, fault: Fault) -> Option<&mut Role> {
        match fault {
            Fault::KillEdge | Fault::TermEdge => Some(&mut self.edge),
            Fault::KillHub | Fault::TermHub => Some(&mut self.hub),
            Fault::KillCc | Fault::TermCc => Some(&mut self.cc),
            _ => None,
        }
    }

    fn disk(&self, fault: Fault) -> Option<&SmallDisk> {
        match fault {
            Fault::DiskFullEdge => self.edge_disk.as_ref(),
            Fault::DiskFullHub => self.hub_disk.as_ref(),
            _ => None,
        }
    }

    /// The role whose clock `fault` steps.
    fn clock(&self, fault: Fault) -> Option<&Role> {
        let role = match fault {
            Fault::ClockStepEdge => &self.edge,
            Fault::ClockStepHub => &self.hub,
            Fault::ClockStepCc => &self.cc,
            _ => return None,
        };
        role.clock_steppable().then_some(role)
    }

    fn proxy(&self, fault: Fault) -> Option<(&Proxy, LinkMode)> {
        match fault {
            Fault::CutRtu => Some((&self.rtu_link, LinkMode::Cut)),
            Fault::CutEdgeHub => Some((&self.edge_hub, LinkMode::Cut)),
            Fault::BlackholeEdgeHub => Some((&self.edge_hub, LinkMode::Blackhole)),
            Fault::DelayEdgeHub => Some((&self.edge_hub, LinkMode::Delay(Duration::from_millis(300)))),
            Fault::CutHubCc => Some((&self.hub_cc, LinkMode::Cut)),
            Fault::BlackholeHubCc => Some((&self.hub_cc, LinkMode::Blackhole)),
            _ => None,
        }
    }
}

/// Runs `plan` with the `gridtrust` binary at `gridtrust`, in `work` (left in place, with every
/// role's log, for a failing run).
pub async fn run(plan: &Plan, gridtrust: &Path, work: &Path) -> Report {
    let mut report = Report {
        seed: plan.seed,
        ..Report::default()
    };
    match run_inner(plan, gridtrust, work, &mut report).await {
        Ok(()) => {}
        Err(e) => report.errors.push(e),
    }
    report
}

async fn run_inner(plan: &Plan, gridtrust: &Path, work: &Path, report: &mut Report) -> Result<(), String> {
    let started_wall = Timestamp::now();
    let dir = setup::write_demo_files(gridtrust, work).map_err(|e| e.to_string())?;
    let rtu = NumberedRtu::start("127.0.0.1:0".parse().expect("address"), plan.period)
        .await
        .map_err(|e| format!("RTU: {e}"))?;
    let numbered = rtu
        .mapping
        .point_at(NUMBERED_IOA)
        .map(|p| p.id.clone())
        .ok_or("the simulator maps no numbered point")?;
    let command_point = rtu
        .mapping
        .commands
        .iter()
        .find(|c| c.ioa == COMMAND_IOA)
        .map(|c| c.id.clone())
        .ok_or("no breaker command")?;
    let files = setup::read_files(&dir, numbered.as_str(), command_point.as_str()).map_err(|e| e.to_string())?;
    let rtu_link = Proxy::start(rtu.addr).await.map_err(|e| e.to_string())?;
    let edge_hub = Proxy::start(files.hub_edge_listen).await.map_err(|e| e.to_string())?;
    let hub_cc = Proxy::start(files.hub_cc_listen).await.map_err(|e| e.to_string())?;
    setup::point_roles_at(&dir, rtu_link.addr, edge_hub.addr, hub_cc.addr, plan.staleness).map_err(|e| e.to_string())?;

    let mut system = System {
        hub: Role::new("hub", gridtrust, &dir, &["hub", "--config", "hub.toml"]).with_steppable_clock(),
        edge: Role::new("edge", gridtrust, &dir, &["edge", "--config", "edge.toml"]).with_steppable_clock(),
        cc: Role::new("cc", gridtrust, &dir, &["cc", "--config", "cc.toml"]).with_steppable_clock(),
        rtu_link,
        edge_hub,
        hub_cc,
        edge_disk: SmallDisk::mount_over(&dir.join("edge-data"), "256m"),
        hub_disk: SmallDisk::mount_over(&dir.join("hub-data"), "512m"),
    };
    if system.edge_disk.is_none() || system.hub_disk.is_none() {
        warn!("cannot mount a tmpfs (not root?): the disk-full faults are left out");
    }
    if !crate::process::faketime_available() {
        warn!("libfaketime is not installed (Debian package faketime): the clock-step faults are left out");
    }
    for role in [&mut system.hub, &mut system.edge, &mut system.cc] {
        role.start().map_err(|e| e.to_string())?;
    }
    let scada = Scada::start(files.scada_listen, files.scada_common_address, files.scada_numbered_ioa);
    let first = scada
        .wait_for(Instant::now(), Duration::from_secs(60), |o| o.good() && o.value >= 1.0)
        .await;
    if first.is_none() {
        return Err(format!(
            "SCADA saw no good numbered value within 60 s\n--- edge\n{}\n--- hub\n{}\n--- cc\n{}",
            system.edge.log_tail(20),
            system.hub.log_tail(20),
            system.cc.log_tail(20)
        ));
    }
    info!("the chain serves SCADA; a command while healthy");
    let healthy = scada.command(files.scada_command_ioa, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    report.healthy_command_executed = healthy == CommandAnswer::Positive && !rtu.executed().is_empty();
    let executed_while_healthy = rtu.executed().len();

    let mut rng = Rng(plan.seed.max(1));
    let mut order: Vec<Fault> = (0..plan.rounds).flat_map(|_| plan.faults.iter().copied()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    let mut windows = Vec::new();
    let mut commands_given: Vec<(Fault, Instant)> = Vec::new();
    order.retain(|&f| match f {
        Fault::DiskFullEdge | Fault::DiskFullHub => system.disk(f).is_some(),
        Fault::ClockStepEdge | Fault::ClockStepHub | Fault::ClockStepCc => system.clock(f).is_some(),
        _ => true,
    });
    for (i, &fault) in order.iter().enumerate() {
        tokio::time::sleep(rng.between((Duration::from_millis(200), Duration::from_secs(2)))).await;
        let outcome = report.by_fault.entry(fault).or_default();
        outcome.runs += 1;
        let from = Instant::now();
        let hold = if fault.is_outage() {
            Duration::from_secs(plan.staleness.invalid_s) + plan.staleness_slack + Duration::from_secs(1)
        } else if system.clock(fault).is_some() {
            // Long enough for checkpoints, staleness checks and batches to run on the wrong time.
            Duration::from_secs(6)
        } else {
            rng.between(plan.short_hold)
        };
        info!(
            n = i + 1,
            of = order.len(),
            fault = fault.label(),
            hold_ms = hold.as_millis() as u64,
            "fault"
        );
        let how = fault.stops_a_role();
        if let (Some(how), Some(role)) = (how, system.role(fault))
            && let Err(e) = role.stop(how, STOP_BOUND)
        {
            outcome.stop_failures.push(e.to_string());
        }
        if let Some((proxy, mode)) = system.proxy(fault) {
            proxy.set(mode);
        }
        let write_failures = |system: &System| match fault {
            Fault::DiskFullEdge => system.edge.log_count(WRITE_FAILED),
            Fault::DiskFullHub => system.hub.log_count(WRITE_FAILED),
            _ => 0,
        };
        let failures_before = write_failures(&system);
        if let Some(disk) = system.disk(fault) {
            disk.fill();
        }
        if let Some(role) = system.clock(fault) {
            let step = if rng.next().is_multiple_of(2) { 3600 } else { -3600 };
            info!(role = %role.name, step_s = step, "clock stepped");
            role.step_clock(step);
        }
        if fault.is_outage() {
            // An operator tries to act while the chain is broken: the cc must refuse or not
            // answer, and the RTU must never receive it, not even after recovery.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let answer = scada.command(files.scada_command_ioa, Duration::from_secs(8)).await;
            if answer == CommandAnswer::Positive {
                warn!(fault = fault.label(), "a command given during an outage was confirmed positively");
            }
            commands_given.push((fault, Instant::now()));
            let left = hold.saturating_sub(from.elapsed());
            tokio::time::sleep(left).await;
            // What SCADA shows from `bound` after the fault until the fault ends must not be good.
            let bound = Duration::from_secs(plan.staleness.not_topical_s) + plan.staleness_slack;
            let shown_good = scada.shown_at(from + bound).is_none_or(|o| o.good());
            let good_later = scada.first_after(from + bound, |o| o.good());
            if shown_good || good_later.is_some() {
                warn!(
                    fault = fault.label(),
                    shown_good,
                    ?good_later,
                    "SCADA was shown a good value beyond the staleness bound"
                );
                outcome.stale_beyond_bound += 1;
            }
        } else if system.clock(fault).is_some() {
            // The chain keeps serving on the wrong time: a value sent well into the step reaches
            // SCADA, good, before the clock is set right.
            tokio::time::sleep(hold.saturating_sub(Duration::from_secs(3))).await;
            let (asked, n) = (Instant::now(), rtu.sent() as f32);
            if scada
                .wait_for(asked, Duration::from_secs(3), |o| o.good() && o.value >= n)
                .await
                .is_none()
            {
                warn!(
                    fault = fault.label(),
                    "no fresh good value reached SCADA while the clock was stepped"
                );
                report.by_fault.entry(fault).or_default().locked_out += 1;
            }
        } else if system.disk(fault).is_some() {
            // Full until a store write fails (or a while longer than the other holds).
            let until = Instant::now() + hold + Duration::from_secs(10);
            while write_failures(&system) == failures_before && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if write_failures(&system) > failures_before {
                report.by_fault.entry(fault).or_default().writes_failed += 1;
            }
        } else {
            tokio::time::sleep(hold).await;
        }
        if let Some(role) = system.role(fault) {
            role.start().map_err(|e| e.to_string())?;
        }
        if let Some((proxy, _)) = system.proxy(fault) {
            proxy.set(LinkMode::Pass);
        }
        if let Some(disk) = system.disk(fault) {
            disk.free();
        }
        if let Some(role) = system.clock(fault) {
            role.step_clock(0);
        }
        let restored = Instant::now();
        let at_restore = rtu.sent() as f32;
        let outcome = report.by_fault.entry(fault).or_default();
        match scada
            .wait_for(restored, plan.recovery_bound, |o| o.good() && o.value >= at_restore)
            .await
        {
            Some(o) => outcome.recovery.push(o.at.duration_since(restored)),
            None => {
                warn!(fault = fault.label(), "not recovered within the bound");
                outcome.unrecovered += 1;
            }
        }
        windows.push(Window {
            fault,
            from: from - Duration::from_millis(500),
            to: Instant::now(),
        });
    }

    // Drain: the RTU stops counting; its last number must reach SCADA, good.
    rtu.pause(true);
    tokio::time::sleep(plan.period * 4).await;
    let last = rtu.sent();
    report.values_sent = last;
    if scada
        .wait_for(Instant::now() - Duration::from_secs(5), Duration::from_secs(60), |o| {
            o.good() && o.value >= last as f32
        })
        .await
        .is_none()
    {
        report.errors.push(format!("SCADA never saw the last number {last}"));
    }
    // Every role stops gracefully; then the stores are read.
    for role in [&mut system.cc, &mut system.edge, &mut system.hub] {
        if let Err(e) = role.stop(Stop::Term, STOP_BOUND) {
            report.errors.push(e.to_string());
        }
    }
    let late = rtu.executed().len().saturating_sub(executed_while_healthy);
    for ex in rtu.executed().iter().skip(executed_while_healthy) {
        let fault = commands_given.iter().rev().find(|(_, at)| *at <= ex.at).map(|(f, _)| *f);
        if let Some(f) = fault {
            report.by_fault.entry(f).or_default().late_commands += 1;
        }
    }
    if late > 0 {
        warn!(late, "commands SCADA gave up on were executed");
    }
    check_store(&dir, &numbered, started_wall, &rtu, &windows, report)?;
    Ok(())
}

/// Counts every number in the hub's store and every stored batch in the log.
fn check_store(
    dir: &Path,
    point: &PointId,
    since: Timestamp,
    rtu: &NumberedRtu,
    windows: &[Window],
    report: &mut Report,
) -> Result<(), String> {
    let store_path: PathBuf = dir.join("hub-data/hub.redb");
    let store = HubStore::open(&store_path).map_err(|e| format!("{}: {e}", store_path.display()))?;
    let records = store
        .history(point, since, Timestamp(i64::MAX), usize::MAX)
        .map_err(|e| e.to_string())?;
    let mut count: HashMap<u64, u64> = HashMap::new();
    for r in records.iter().filter(|r| r.source_time.is_some()) {
        if let Value::Float(v) = r.value
            && v >= 1.0
            && v.fract() == 0.0
        {
            *count.entry(v as u64).or_default() += 1;
        }
    }
    let window_of = |n: u64| -> Option<Fault> {
        let at = rtu.sent_at(n)?;
        windows.iter().find(|w| w.from <= at && at <= w.to).map(|w| w.fault)
    };
    for w in windows {
        let o = report.by_fault.entry(w.fault).or_default();
        o.values_sent += (1..=report.values_sent)
            .filter(|&n| rtu.sent_at(n).is_some_and(|at| w.from <= at && at <= w.to))
            .count() as u64;
    }
    for n in 1..=report.values_sent {
        let c = count.get(&n).copied().unwrap_or(0);
        if c == 1 {
            continue;
        }
        match (window_of(n), c) {
            (Some(f), 0) => report.by_fault.entry(f).or_default().lost += 1,
            (Some(f), _) => report.by_fault.entry(f).or_default().doubled += 1,
            (None, 0) => report.lost_outside += 1,
            (None, _) => report.doubled_outside += 1,
        }
    }
    let log_path = dir.join("hub-data/log.redb");
    let log = TransparencyLog::open(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let size = log.size();
    for (edge, _) in store.edges().map_err(|e| e.to_string())? {
        for (_, header) in store.batches(&edge).map_err(|e| e.to_string())? {
            report.batches_stored += 1;
            if log
                .find(&LogEntry::BatchHeader(header).encode(), size)
                .map_err(|e| e.to_string())?
                .is_none()
            {
                report.batches_not_logged += 1;
            }
        }
    }
    Ok(())
}
