//! `gridtrust ids learn|score|evaluate|generate`: protocol intrusion detection on captures. The
//! detector, the model and the scenario suite are in [`gridtrust_ids`]; this is file handling and
//! printing.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use gridtrust_ids::capture::read_capture_prefix;
use gridtrust_ids::detect::Detector;
use gridtrust_ids::event::Event;
use gridtrust_ids::model::{Learner, Model};
use gridtrust_ids::scenario::{ScenarioKind, generate, to_pcap};
use gridtrust_ids::stream::StreamDecoder;

/// Protocol intrusion detection (IEC 104, Modbus/TCP) on pcap/pcapng captures.
#[derive(clap::Args)]
pub struct IdsArgs {
    #[command(subcommand)]
    command: IdsCommand,
}

#[derive(clap::Subcommand)]
enum IdsCommand {
    /// Learn a baseline from captures of normal operation and write it as JSON.
    Learn {
        /// pcap or pcapng files, read in the order given.
        #[arg(required = true)]
        captures: Vec<PathBuf>,
        /// Where to write the model.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Score captures against a model: one line per alert (time, connection, kind, explanation);
    /// exit 1 if there is any.
    Score {
        /// The model written by `learn`.
        #[arg(long)]
        model: PathBuf,
        /// pcap or pcapng files, read in the order given.
        #[arg(required = true)]
        captures: Vec<PathBuf>,
    },
    /// Learn from generated normal operation, score the generated scenario suite and print
    /// precision, recall, F1, detection delay and false alarms per hour, per scenario and
    /// leave-one-attack-out.
    Evaluate {
        /// Seed of the training run; scenario i uses seed + 1 + i.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Hours of normal operation to learn from.
        #[arg(long, default_value_t = 4.0)]
        training_hours: f64,
        /// Hours of traffic per scenario.
        #[arg(long, default_value_t = 1.0)]
        hours: f64,
        /// Minutes of each measurement scenario on the demo grid (the hub's checks in the loop).
        #[arg(long, default_value_t = 30.0)]
        demo_minutes: f64,
        /// Minutes of each measurement scenario on the generated 1,001-node grid (0: skip).
        #[arg(long, default_value_t = 20.0)]
        grid_minutes: f64,
    },
    /// Write one generated scenario as a pcap, to try `learn` and `score` on.
    Generate {
        /// Scenario name (as printed by `evaluate`, e.g. normal, replay, fault-breaker-trip).
        #[arg(long)]
        scenario: String,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Hours of traffic.
        #[arg(long, default_value_t = 1.0)]
        hours: f64,
        /// Where to write the pcap.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Reads captures one after the other and hands every event to `each`.
fn for_each_event(captures: &[PathBuf], mut each: impl FnMut(&Event)) -> anyhow::Result<()> {
    for path in captures {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let (packets, defect) = read_capture_prefix(&bytes);
        if let Some(e) = defect {
            anyhow::ensure!(!packets.is_empty(), "reading {}: {e}", path.display());
            eprintln!("{}: {e}; using the {} packets before it", path.display(), packets.len());
        }
        let mut decoder = StreamDecoder::new();
        let mut events = Vec::new();
        for p in &packets {
            decoder.push(p, &mut events);
            for e in events.drain(..) {
                each(&e);
            }
        }
        let s = decoder.stats();
        eprintln!(
            "{}: {} packets, {} TCP segments on IEC 104/Modbus ports, {} broken, {} retransmitted bytes",
            path.display(),
            s.packets,
            s.segments,
            s.broken,
            s.retransmitted_bytes
        );
    }
    Ok(())
}

pub fn run(args: IdsArgs) -> anyhow::Result<()> {
    match args.command {
        IdsCommand::Learn { captures, output } => {
            let mut learner = Learner::new();
            for_each_event(&captures, |e| learner.observe(e))?;
            let model = learner.finish();
            model.write(&output)?;
            eprintln!(
                "learned from {} events over {:.2} h: {} peers, {} stations, {} rate envelopes -> {}",
                model.events,
                model.hours,
                model.peers.len(),
                model.stations.len(),
                model.rates.len(),
                output.display()
            );
        }
        IdsCommand::Score { model, captures } => {
            let mut detector = Detector::new(Model::read(&model)?);
            let mut alerts = 0u64;
            // A closed stdout (`| head`) stops the printing, not the counting or the exit code.
            let mut out = std::io::stdout().lock();
            let mut printing = true;
            for_each_event(&captures, |e| {
                detector.handle_event(e);
                while let Some(a) = detector.poll_alert() {
                    alerts += 1;
                    printing = printing && writeln!(out, "{a}").is_ok();
                }
            })?;
            eprintln!("{alerts} alert(s), {} repeat(s) within the hold time not printed", detector.suppressed());
            if alerts > 0 {
                std::process::exit(1);
            }
        }
        IdsCommand::Evaluate { seed, training_hours, hours, demo_minutes, grid_minutes } => {
            print!("{}", gridtrust_ids::evaluate::evaluate(seed, training_hours, hours).report());
            if demo_minutes > 0.0 {
                println!();
                print!("{}", gridtrust::grid_eval::evaluate_demo(seed, demo_minutes)?.report());
            }
            if grid_minutes > 0.0 {
                println!();
                print!("{}", gridtrust::grid_eval::evaluate_1001(seed, grid_minutes)?.report());
            }
        }
        IdsCommand::Generate { scenario, seed, hours, output } => {
            let Some(kind) = ScenarioKind::ALL.into_iter().find(|k| k.name() == scenario) else {
                let names: Vec<&str> = ScenarioKind::ALL.iter().map(|k| k.name()).collect();
                anyhow::bail!("unknown scenario {scenario:?}; one of: {}", names.join(", "));
            };
            let s = generate(kind, seed, hours);
            std::fs::write(&output, to_pcap(&s.events)).with_context(|| format!("writing {}", output.display()))?;
            eprintln!("{}: {} events, {} attack episodes -> {}", kind.name(), s.events.len(), s.episodes.len(), output.display());
        }
    }
    Ok(())
}
