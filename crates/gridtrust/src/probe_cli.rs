//! `gridtrust probe iec104|mms|modbus|pmu ADDRESS`: see [`gridtrust::probe`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use gridtrust::probe::{self, Probed};

/// Connect to a live device, show what it offers, and write the edge configuration for it.
#[derive(clap::Args)]
pub struct ProbeArgs {
    #[command(subcommand)]
    device: Device,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
struct Common {
    /// Seconds the whole probe may take (connect, requests, answers).
    #[arg(long, global = true, default_value_t = 10.0)]
    timeout: f64,
    /// Folder the device's edge table (`edge-NAME.toml`) and mapping files are written to.
    #[arg(long, global = true, default_value = ".")]
    out: PathBuf,
    /// Overwrite files that already exist in `--out`.
    #[arg(long, global = true)]
    force: bool,
    /// Only show what the device offers; write nothing.
    #[arg(long, global = true)]
    dry_run: bool,
}

#[derive(clap::Subcommand)]
enum Device {
    /// An IEC 104 RTU: station interrogation with types, addresses and qualities; writes an
    /// `[[rtu]]` table and its mapping file per common address.
    Iec104 {
        /// `ip:port` of the RTU (2404 is the usual port).
        address: String,
        /// Common address to interrogate; 65535 asks every station.
        #[arg(long, default_value_t = 65535)]
        common_address: u16,
        /// Name of the `[[rtu]]` table.
        #[arg(long, default_value = "rtu-1")]
        name: String,
        /// Logical device of the generated point ids (default: from the name, `rtu-1` → `RTU1`).
        #[arg(long)]
        logical_device: Option<String>,
    },
    /// An IEC 61850 IED over MMS: logical devices, nodes, data objects, data sets and report
    /// control blocks; writes an IID-like SCL file and the `[[ied]]` table that reads it.
    Mms {
        /// `ip:port` of the IED (102 is the usual port).
        address: String,
        /// Name of the `[[ied]]` table.
        #[arg(long, default_value = "ied-1")]
        name: String,
        /// IED name in the SCL (default: the common start of the logical-device names).
        #[arg(long)]
        ied_name: Option<String>,
        /// File name of the SCL in `--out` (default: NAME.iid).
        #[arg(long)]
        scl: Option<String>,
    },
    /// A SunSpec device over Modbus TCP: the model chain with values; writes a `[[modbus]]` table.
    Modbus {
        /// `ip:port` of the device (502 is the usual port).
        address: String,
        /// Modbus unit identifier.
        #[arg(long, default_value_t = 1)]
        unit_id: u8,
        /// Name of the `[[modbus]]` table.
        #[arg(long, default_value = "der-1")]
        name: String,
        /// Logical device of the point ids (default: from the name, `der-1` → `DER1`).
        #[arg(long)]
        logical_device: Option<String>,
    },
    /// A C37.118 PMU or PDC over TCP: the CFG-2 and one data frame; writes a `[[pmu]]` table.
    Pmu {
        /// `ip:port` of the PMU (4712 is the usual port).
        address: String,
        /// IDCODE of the stream.
        #[arg(long, default_value_t = 1)]
        idcode: u16,
        /// Name of the `[[pmu]]` table.
        #[arg(long, default_value = "pmu-1")]
        name: String,
    },
}

/// Runs a probe, prints its dump on stdout and writes its files.
pub async fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let Common { timeout, out, force, dry_run } = args.common;
    let timeout =
        Duration::try_from_secs_f64(timeout).ok().filter(|t| !t.is_zero()).context("--timeout must be a positive number of seconds")?;
    let probed: Result<Probed, probe::ProbeError> = match args.device {
        Device::Iec104 { address, common_address, name, logical_device } => {
            probe::iec104::probe(&probe::iec104::Options { address, common_address, name, logical_device, timeout }).await
        }
        Device::Mms { address, name, ied_name, scl } => {
            probe::mms::probe(&probe::mms::Options { address, name, ied_name, scl, timeout }).await
        }
        Device::Modbus { address, unit_id, name, logical_device } => {
            probe::modbus::probe(&probe::modbus::Options { address, unit_id, name, logical_device, timeout }).await
        }
        Device::Pmu { address, idcode, name } => probe::pmu::probe(&probe::pmu::Options { address, idcode, name, timeout }).await,
    };
    // Each message already carries its cause ("IEC 104: connect: Connection refused"): printed
    // once, not again as a chain of sources.
    let probed = probed.map_err(|e| anyhow::anyhow!("{e}"))?;
    print!("{}", probed.report);
    if dry_run {
        return Ok(());
    }
    for path in probed.write(&out, force)? {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
