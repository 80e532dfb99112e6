//! `gridtrust`: one binary, several roles. Run a role from its TOML configuration, or the demo
//! that runs a simulated substation and the whole chain in one process.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod audit_cli;
mod demo;
mod keys_cli;
mod model_cli;
mod pki_cli;
mod registry_cli;

#[derive(Parser)]
#[command(name = "gridtrust", version, about = "Interoperability layer for distribution grids with an end-to-end chain of trust")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
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
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(true).with_writer(std::io::stderr).init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Cmd::Edge { config } => {
            let config = gridtrust_edge::config::EdgeConfig::load(&config)?;
            let _edge = gridtrust_edge::Edge::start(config).await.context("starting the edge")?;
            wait_for_shutdown().await
        }
        Cmd::Hub { config } => {
            let config = gridtrust_hub::HubConfig::load(&config)?;
            let hub = gridtrust_hub::Hub::start(&config).await.context("starting the hub")?;
            println!("hub listening: edges on {}, connectors on {}", hub.edge_addr, hub.cc_addr);
            wait_for_shutdown().await
        }
        Cmd::Cc { config } => {
            let config = gridtrust_cc::CcConfig::load(&config)?;
            let cc = gridtrust_cc::Cc::start(config).await.context("starting the connector")?;
            println!("IEC 104 server for SCADA on {}", cc.iec104_addr);
            wait_for_shutdown().await
        }
        Cmd::SimRtu { listen } => {
            let spec = gridtrust_sim::SubstationSpec::default();
            let rtu = gridtrust_sim::SubstationRtu::start(&listen, spec, std::time::Duration::from_secs(1)).await?;
            println!("simulated RTU on {} (common address {})", rtu.addr, rtu.common_address);
            wait_for_shutdown().await
        }
        Cmd::Demo(args) => demo::run(args).await,
        Cmd::Pki(args) => pki_cli::run(args),
        Cmd::Keys(args) => keys_cli::run(args),
        Cmd::Export(args) => audit_cli::run_export(args),
        Cmd::Verify(args) => audit_cli::run_verify(args),
        Cmd::Model(args) => model_cli::run(args),
        Cmd::Registry(args) => registry_cli::run(args),
    }
}

/// Waits for Ctrl-C or SIGTERM.
async fn wait_for_shutdown() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    Ok(())
}
