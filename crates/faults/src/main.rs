//! `gridtrust-faults`: the fault-injection harness from the command line, for soak runs.

use std::path::PathBuf;

use clap::Parser;

use gridtrust_faults::{Plan, run};

#[derive(Parser)]
#[command(
    name = "gridtrust-faults",
    about = "Breaks the real gridtrust roles and checks that nothing acknowledged is lost, doubled or shown fresh when stale"
)]
struct Args {
    /// The `gridtrust` binary to test.
    #[arg(long, default_value = "target/debug/gridtrust")]
    gridtrust: PathBuf,
    /// How many times the CI plan (every kill and SIGTERM four times, every link fault once) is
    /// repeated: 1 is what `.ci/run` runs; hundreds make a soak.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Inject only these faults (repeatable), each once per round; default: the CI plan.
    #[arg(long = "fault", value_enum)]
    faults: Vec<gridtrust_faults::Fault>,
    /// Seed of the random moments (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Working folder (kept, with every role's log); default: a new temporary one.
    #[arg(long)]
    work: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let work = match args.work {
        Some(w) => w,
        None => std::env::temp_dir().join(format!("gridtrust-faults-{seed}")),
    };
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("{}: {e}", work.display());
        return std::process::ExitCode::FAILURE;
    }
    let gridtrust = match std::fs::canonicalize(&args.gridtrust) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}: {e} (build it with `cargo build -p gridtrust`)", args.gridtrust.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut plan = Plan {
        rounds: args.rounds,
        ..Plan::ci(seed)
    };
    if !args.faults.is_empty() {
        plan.faults = args.faults;
    }
    let report = run(&plan, &gridtrust, &work).await;
    println!("{}", report.table());
    println!("work folder (logs of every role): {}", work.display());
    if report.passed() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
