//! `gridtrust`: one binary, several roles. Run a role from its TOML configuration, or the demo
//! that runs a simulated substation and the whole chain in one process.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod audit_cli;
mod demo;
mod ids_cli;
mod keys_cli;
mod model_cli;
mod pki_cli;
mod probe_cli;
mod registry_cli;

#[derive(Parser)]
#[command(name = "gridtrust", version, about = "Interoperability layer for distribution grids with an end-to-end chain of trust")]
struct Cli {
    /// Log format on stderr: `text` (colours only on a terminal) or `json` (one object per line,
    /// for journald and log shippers).
    #[arg(long, global = true, env = "GRIDTRUST_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Cmd,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the edge role (field adapters, evidence, store-and-forward).
    Edge {
        #[arg(long)]
        config: PathBuf,
    },
    /// Run the hub role (verification, storage, routing).
    Hub {
        #[arg(long)]
        config: PathBuf,
    },
    /// Run the control-centre connector (IEC 104 server for SCADA).
    Cc {
        #[arg(long)]
        config: PathBuf,
    },
    /// Run a simulated substation RTU (IEC 104 server) on its own.
    SimRtu {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:2405")]
        listen: String,
    },
    /// Run the demo: a simulated substation, edge, hub and connector in one process.
    Demo(demo::DemoArgs),
    /// The operator PKI: CA, certificates with IEC 62351-8 roles, renewal, revocation, CRL.
    Pki(pki_cli::PkiArgs),
    /// Key stores: generate a key in a PKCS#11 token (or a development file), show its public key.
    Keys(keys_cli::KeysArgs),
    Export(audit_cli::ExportArgs),
    Verify(audit_cli::VerifyArgs),
    /// The joined IEC 61850 / CIM model: import from SCL, CGMES and a mapping file, validate, show, diff.
    Model(model_cli::ModelArgs),
    /// The point registry: which edge may report each point and be commanded for it.
    Registry(registry_cli::RegistryArgs),
    /// Commissioning: connect to a live device, show what it offers, write its edge configuration.
    Probe(probe_cli::ProbeArgs),
    /// Protocol intrusion detection (IEC 104, Modbus/TCP): learn from captures, score captures,
    /// evaluate on the generated scenario suite.
    Ids(ids_cli::IdsArgs),
}

fn init_logging(format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(true).with_writer(std::io::stderr);
    match format {
        // Colour codes only where a person reads them; a journal or a file gets plain text.
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// How long a role may take to stop once asked (SIGTERM or Ctrl-C); the systemd units'
/// `TimeoutStopSec` is above it, so systemd's SIGKILL never cuts a stop that is still in bound.
pub(crate) const STOP_BOUND: Duration = Duration::from_secs(10);

/// Of [`STOP_BOUND`], how long the edge waits for the hub to acknowledge what it queued.
const EDGE_ACK_GRACE: Duration = Duration::from_secs(3);

/// The end of a stop that ran out of [`STOP_BOUND`]: logged, and an error so the exit is non-zero.
fn late(role: &str) -> anyhow::Result<()> {
    tracing::error!(role, bound_s = STOP_BOUND.as_secs(), "did not stop within the bound; exiting anyway");
    anyhow::bail!("{role} did not stop within {} s", STOP_BOUND.as_secs())
}

/// Runs `stop` within [`STOP_BOUND`]: exit 0 if it finished, an error (non-zero exit) if not.
pub(crate) async fn stop_within(role: &str, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    match tokio::time::timeout(STOP_BOUND, stop).await {
        Ok(()) => {
            tracing::info!(role, "stopped");
            Ok(())
        }
        Err(_) => late(role),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // A probe's output is its dump and its error; the protocol drivers' link logs (a closed
    // connection is a warning for a role) would only be noise there.
    init_logging(cli.log_format, if matches!(cli.command, Cmd::Probe(_)) { "error" } else { "info" });
    match cli.command {
        Cmd::Edge { config } => {
            let config = gridtrust_edge::config::EdgeConfig::load(&config)?;
            let edge = gridtrust_edge::Edge::start(config).await.context("starting the edge")?;
            wait_for_shutdown().await?;
            match edge.stop(STOP_BOUND, EDGE_ACK_GRACE).await {
                gridtrust_edge::Stopped::Drained => tracing::info!(role = "edge", "stopped; the hub acknowledged every batch"),
                gridtrust_edge::Stopped::Queued { pending_batches } => {
                    tracing::info!(role = "edge", pending_batches, "stopped; batches wait in the durable queue for the next start")
                }
                gridtrust_edge::Stopped::Late => return late("edge"),
            }
            Ok(())
        }
        Cmd::Hub { config } => {
            let config = gridtrust_hub::HubConfig::load(&config)?;
            let hub = gridtrust_hub::Hub::start(&config).await.context("starting the hub")?;
            println!("hub listening: edges on {}, connectors on {}", hub.edge_addr, hub.cc_addr);
            wait_for_shutdown().await?;
            // Edge sessions finish the batches they are storing and flush the acknowledgements;
            // what is left past the bound an edge resends, and the store takes it once.
            stop_within("hub", async {
                hub.stop(STOP_BOUND.saturating_sub(Duration::from_secs(1))).await;
            })
            .await
        }
        Cmd::Cc { config } => {
            let config = gridtrust_cc::CcConfig::load(&config)?;
            let cc = gridtrust_cc::Cc::start(config).await.context("starting the connector")?;
            println!("IEC 104 server for SCADA on {}", cc.iec104_addr);
            wait_for_shutdown().await?;
            stop_within("cc", cc.shutdown()).await
        }
        Cmd::SimRtu { listen } => {
            let spec = gridtrust_sim::SubstationSpec::default();
            let rtu = gridtrust_sim::SubstationRtu::start(&listen, spec, std::time::Duration::from_secs(1)).await?;
            println!("simulated RTU on {} (common address {})", rtu.addr, rtu.common_address);
            wait_for_shutdown().await?;
            stop_within("sim-rtu", rtu.shutdown()).await
        }
        Cmd::Demo(args) => demo::run(args).await,
        Cmd::Pki(args) => pki_cli::run(args),
        Cmd::Keys(args) => keys_cli::run(args),
        Cmd::Export(args) => audit_cli::run_export(args),
        Cmd::Verify(args) => audit_cli::run_verify(args),
        Cmd::Model(args) => model_cli::run(args),
        Cmd::Registry(args) => registry_cli::run(args),
        Cmd::Probe(args) => probe_cli::run(args).await,
        Cmd::Ids(args) => ids_cli::run(args),
    }
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM.
pub(crate) async fn wait_for_shutdown() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    Ok(())
}
