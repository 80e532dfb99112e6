//! `gridtrust registry`: generate, sign and show the point registry (see
//! `gridtrust::registry`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use gridtrust::registry::{RegistryToml, load_signer, sign};
use gridtrust_iec104_model::MappingFile;
use gridtrust_trust::registry::{PointRegistry, SignedRegistry};

#[derive(Args)]
pub struct RegistryArgs {
    #[command(subcommand)]
    command: RegistryCmd,
}

#[derive(Subcommand)]
enum RegistryCmd {
    /// Write a registry.toml granting each edge the logical devices its sources name.
    Generate {
        /// The version to write (raise it with every change).
        #[arg(long)]
        version: u64,
        /// EDGE=FILE: grant EDGE the logical devices of every point in an IEC 104 mapping file.
        #[arg(long = "from-mapping", value_name = "EDGE=FILE")]
        from_mapping: Vec<String>,
        /// EDGE=FILE: grant EDGE the logical devices of every point of a `gridtrust model` JSON.
        #[arg(long = "from-model", value_name = "EDGE=FILE")]
        from_model: Vec<String>,
        /// EDGE=PREFIX: grant a logical device, logical node or point reference by hand.
        #[arg(long, value_name = "EDGE=PREFIX")]
        grant: Vec<String>,
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Sign a registry.toml with an ENGINEER or SECADM identity.
    Sign {
        /// The registry.toml.
        registry: PathBuf,
        /// A TOML file with the signer's `[identity]` table (certificate, key, CA, CRL).
        #[arg(long)]
        identity: PathBuf,
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Verify a signed registry against the CA and CRL and print it.
    Show {
        /// The signed registry.
        signed: PathBuf,
        #[arg(long)]
        ca: PathBuf,
        #[arg(long)]
        crl: PathBuf,
    },
}

fn split(pair: &str, what: &str) -> anyhow::Result<(String, String)> {
    let (edge, value) = pair.split_once('=').with_context(|| format!("{what} `{pair}` is not EDGE=VALUE"))?;
    Ok((edge.to_owned(), value.to_owned()))
}

pub fn run(args: RegistryArgs) -> anyhow::Result<()> {
    match args.command {
        RegistryCmd::Generate { version, from_mapping, from_model, grant, out } => {
            let mut registry = RegistryToml { version, ..RegistryToml::default() };
            for pair in &from_mapping {
                let (edge, file) = split(pair, "--from-mapping")?;
                let mapping = MappingFile::load(std::path::Path::new(&file))?;
                registry.grant_logical_devices(&edge, mapping.points.iter().map(|p| &p.id))?;
            }
            for pair in &from_model {
                let (edge, file) = split(pair, "--from-model")?;
                let model = gridtrust_gridmodel::GridModel::read(std::path::Path::new(&file))?;
                registry.grant_logical_devices(&edge, model.points.keys())?;
            }
            for pair in &grant {
                let (edge, prefix) = split(pair, "--grant")?;
                registry.grant(&prefix, &edge)?;
            }
            registry.to_registry()?;
            std::fs::write(&out, registry.to_toml()?).with_context(|| format!("writing {}", out.display()))?;
            eprintln!("{}: version {version}, {} grants", out.display(), registry.grants.len());
            Ok(())
        }
        RegistryCmd::Sign { registry, identity, out } => {
            let text = RegistryToml::read(&registry)?;
            let signer = load_signer(&identity)?;
            let signed = sign(&text.to_registry()?, &signer, &out)?;
            eprintln!(
                "{}: version {} signed by {} (digest {})",
                out.display(),
                text.version,
                signer.me,
                gridtrust_trust::command::hex(&signed.digest())
            );
            Ok(())
        }
        RegistryCmd::Show { signed, ca, crl } => {
            let bytes = std::fs::read(&signed).with_context(|| format!("reading {}", signed.display()))?;
            let signed = SignedRegistry::from_bytes(&bytes)?;
            let anchors = gridtrust_pki::TrustAnchors::from_pem_files(&[ca], &[crl])?;
            let (registry, signer): (PointRegistry, _) = gridtrust_pki::verify_registry(&signed, |der| {
                gridtrust_pki::validate(
                    &anchors,
                    &[rustls_pki_types::CertificateDer::from(der.to_vec())],
                    std::time::SystemTime::now(),
                    gridtrust_pki::Purpose::Signing,
                )
            })?;
            println!("point registry version {} signed by {signer}", registry.version);
            for (prefix, edge) in &registry.grants {
                println!("  {prefix} -> {edge}");
            }
            Ok(())
        }
    }
}
