//! `gridtrust export` (hub operator, on a stopped hub's data directory) and `gridtrust verify`
//! (auditor, offline, with only the CA certificate and CRL). The logic and the file format are
//! in [`gridtrust::audit`].

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use gridtrust::audit::{
    Auditor, ChainEvidence, CheckpointEvidence, Exported, HubData, OldCheckpoint, ValidationTime, ValueEvidence, VerifyError, to_json,
};
use gridtrust_model::{PointId, Timestamp};

/// Export evidence from a stopped hub's data directory for an offline audit (JSON).
///
/// Stop the hub first (or use a copy of its data directory): the files are opened read-only,
/// and redb refuses a file another process holds open.
#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    command: ExportCommand,
}

#[derive(clap::Subcommand)]
enum ExportCommand {
    /// One stored value: the record, its batch header, the Merkle proof, the edge certificate
    /// and, when the latest signed checkpoint covers the header, its log inclusion.
    Value {
        #[command(flatten)]
        hub: HubDataArgs,
        /// The point (IEC 61850 reference, as stored).
        #[arg(long)]
        point: String,
        /// The value in force at this time (ns since the Unix epoch), or `latest`.
        #[arg(long, default_value = "latest", value_parser = parse_at)]
        at: Timestamp,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Every stored batch header of one edge, in order, with the certificates that signed them.
    Chain {
        #[command(flatten)]
        hub: HubDataArgs,
        /// The edge id.
        #[arg(long)]
        edge: String,
        #[command(flatten)]
        out: OutArgs,
    },
    /// The hub's latest signed checkpoint with its certificate and, with --from-size, the
    /// consistency proof from an older checkpoint of that size.
    Checkpoint {
        #[command(flatten)]
        hub: HubDataArgs,
        /// The tree size of the older checkpoint to prove consistency from.
        #[arg(long)]
        from_size: Option<u64>,
        #[command(flatten)]
        out: OutArgs,
    },
}

#[derive(clap::Args)]
struct HubDataArgs {
    /// The hub's data directory (`data_dir` of hub.toml).
    #[arg(long)]
    hub_data: PathBuf,
    /// The hub certificate (PEM or DER) that signed the latest checkpoint, if not the
    /// `hub-certificate.der` the hub wrote beside it.
    #[arg(long)]
    hub_certificate: Option<PathBuf>,
}

#[derive(clap::Args)]
struct OutArgs {
    /// Where to write the JSON (`-` for standard output).
    #[arg(long)]
    out: PathBuf,
}

fn parse_at(s: &str) -> Result<Timestamp, String> {
    if s == "latest" {
        return Ok(Timestamp(i64::MAX));
    }
    s.parse::<i64>().map(Timestamp).map_err(|e| format!("`{s}` is neither `latest` nor nanoseconds since the epoch: {e}"))
}

/// Verify exported evidence offline, with only the CA certificate and the CRL.
///
/// Prints one `OK` line, or fails (exit status 1) naming what does not hold: which batch, which
/// field, which proof.
#[derive(clap::Args)]
pub struct VerifyArgs {
    #[command(subcommand)]
    command: VerifyCommand,
}

#[derive(clap::Subcommand)]
enum VerifyCommand {
    /// A value export: record in its batch, header signed by its edge, header in the log.
    Value {
        /// The export (`gridtrust export value`).
        file: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        /// Fail if the export carries no log inclusion.
        #[arg(long)]
        require_log: bool,
    },
    /// A chain export: every header signed by the edge and linked to the previous one.
    Chain {
        /// The export (`gridtrust export chain`).
        file: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Two checkpoints of one log: both signed by the hub, the newer one extending the older.
    Consistency {
        /// The older checkpoint: an export, or a connector's `checkpoint.bin`.
        old: PathBuf,
        /// The newer checkpoint export, with a consistency proof from the older one's size.
        new: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
    },
}

#[derive(clap::Args)]
struct TrustArgs {
    /// The operator CA certificate (PEM).
    #[arg(long)]
    ca: PathBuf,
    /// The CA's current CRL (PEM).
    #[arg(long)]
    crl: PathBuf,
    /// Check certificates at the time the evidence says it was signed rather than now (for
    /// archived evidence whose certificates have expired since). Revocation counts regardless.
    #[arg(long)]
    at_signing_time: bool,
}

fn write_out(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if path == Path::new("-") {
        std::io::stdout().lock().write_all(bytes)?;
        return Ok(());
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn finish<T: serde::Serialize>(exported: Exported<T>, out: &Path, what: &str) -> anyhow::Result<()> {
    for note in &exported.notes {
        eprintln!("note: {note}");
    }
    write_out(out, &to_json(&exported.evidence))?;
    if out != Path::new("-") {
        eprintln!("wrote {what} to {}", out.display());
    }
    Ok(())
}

/// Runs `gridtrust export`.
pub fn run_export(args: ExportArgs) -> anyhow::Result<()> {
    let open = |hub: &HubDataArgs| -> anyhow::Result<HubData> {
        Ok(HubData::open(&hub.hub_data)?.with_hub_certificate(hub.hub_certificate.clone()))
    };
    match args.command {
        ExportCommand::Value { hub, point, at, out } => {
            let point = PointId::new(point.as_str()).with_context(|| format!("point `{point}`"))?;
            let exported = open(&hub)?.export_value(&point, at)?;
            let s = &exported.evidence.summary;
            let what = format!("value evidence ({} = {} seq {} in batch {} of {})", s.point, s.value, s.seq, s.batch_seq, s.edge_id);
            finish(exported, &out.out, &what)
        }
        ExportCommand::Chain { hub, edge, out } => {
            let exported = open(&hub)?.export_chain(&edge)?;
            let what = format!("chain evidence ({} headers of edge {edge})", exported.evidence.headers.len());
            finish(exported, &out.out, &what)
        }
        ExportCommand::Checkpoint { hub, from_size, out } => {
            let exported = open(&hub)?.export_checkpoint(from_size)?;
            let s = &exported.evidence.summary;
            let what = format!("checkpoint evidence (log {} size {}, proof from {from_size:?})", s.log_id, s.tree_size);
            finish(exported, &out.out, &what)
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, VerifyError> {
    std::fs::read(path).map_err(|source| VerifyError::Read { path: path.to_owned(), source })
}

fn auditor(trust: &TrustArgs) -> Result<Auditor, VerifyError> {
    let time = if trust.at_signing_time { ValidationTime::SigningTime } else { ValidationTime::Now };
    Ok(Auditor::from_files(&trust.ca, &trust.crl)?.with_time(time))
}

/// Runs one verification and returns its OK line.
fn verify(command: &VerifyCommand) -> Result<String, VerifyError> {
    match command {
        VerifyCommand::Value { file, trust, require_log } => {
            let ev = ValueEvidence::from_json(&read(file)?)?;
            Ok(format!("OK value: {}", auditor(trust)?.value(&ev, *require_log)?))
        }
        VerifyCommand::Chain { file, trust } => {
            let ev = ChainEvidence::from_json(&read(file)?)?;
            Ok(format!("OK chain: {}", auditor(trust)?.chain(&ev)?))
        }
        VerifyCommand::Consistency { old, new, trust } => {
            let old = OldCheckpoint::parse(&read(old)?)?;
            let new = CheckpointEvidence::from_json(&read(new)?)?;
            Ok(format!("OK consistency: {}", auditor(trust)?.consistency(&old, &new)?))
        }
    }
}

/// Runs `gridtrust verify`: prints the OK line, or returns the failure (exit status 1).
pub fn run_verify(args: VerifyArgs) -> anyhow::Result<()> {
    match verify(&args.command) {
        Ok(line) => {
            println!("{line}");
            Ok(())
        }
        Err(e) => Err(anyhow::Error::new(e).context("verification FAILED")),
    }
}
