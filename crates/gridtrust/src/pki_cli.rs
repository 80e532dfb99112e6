//! `gridtrust pki`: run the operator CA from the command line.
//!
//! The CA is a directory (see `gridtrust_pki::ca`). Until gridtrust has a key store, the CA key
//! is a software key in `ca.key.pem` inside that directory: a development arrangement, and every
//! command that loads it says so in the log. The library takes any signing key, so an HSM-held
//! CA key plugs in without changing these commands' behaviour.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use gridtrust_pki::{Ca, CertRef, IdentityKind, IssueRequest, Issued, PublicKey, RevocationReason, Role, SoftwareKey};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Arguments of `gridtrust pki`.
#[derive(clap::Args, Debug)]
pub struct PkiArgs {
    #[command(subcommand)]
    command: PkiCmd,
}

#[derive(clap::Subcommand, Debug)]
enum PkiCmd {
    /// Create an operator CA in a new directory (with a development software key).
    Init {
        /// The CA directory (created).
        #[arg(long)]
        dir: PathBuf,
        /// The CA's name (its certificate's common name).
        #[arg(long)]
        name: String,
        /// Validity of the CA certificate, in days.
        #[arg(long, default_value_t = 3650)]
        days: u64,
    },
    /// Certify an edge, hub, cc, operator or scada identity with IEC 62351-8 roles.
    Issue {
        /// The CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// The identity kind: edge, hub, cc, operator or scada (a SCADA front-end of a cc).
        #[arg(long)]
        kind: IdentityKind,
        /// The identity name (lowercase letters, digits, '-' and '.').
        #[arg(long)]
        name: String,
        /// An IEC 62351-8 role (VIEWER, OPERATOR, ENGINEER, INSTALLER, SECADM, SECAUD, RBACMNT); repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<Role>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u64,
        /// An extra DNS name or IP address the peer is reached by; repeat for several.
        #[arg(long = "san")]
        sans: Vec<String>,
        /// The subject's public key (PEM `PUBLIC KEY`); its private key stays where it is (HSM).
        #[arg(long, conflicts_with = "generate_key", required_unless_present = "generate_key")]
        public_key: Option<PathBuf>,
        /// Generate a development software key into this file (PKCS#8 PEM) and certify it.
        #[arg(long)]
        generate_key: Option<PathBuf>,
        /// Also write the certificate (PEM) here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Issue a new certificate for the same key, identity and roles as an issued one; the old
    /// one stays valid until it expires (revoke it with reason superseded to retire it early).
    Renew {
        /// The CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// The serial of the certificate to renew.
        #[arg(long, conflicts_with = "name", required_unless_present = "name")]
        serial: Option<u64>,
        /// Or the identity name (its newest certificate that is not revoked).
        #[arg(long)]
        name: Option<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u64,
        /// Also write the certificate (PEM) here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Revoke a certificate and publish a new CRL.
    Revoke {
        /// The CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// The serial of the certificate.
        #[arg(long)]
        serial: u64,
        /// Why: unspecified, key-compromise, ca-compromise, affiliation-changed, superseded,
        /// cessation-of-operation or privilege-withdrawn.
        #[arg(long)]
        reason: RevocationReason,
        /// Validity of the new CRL, in days.
        #[arg(long, default_value_t = 30)]
        crl_days: u64,
    },
    /// Publish a fresh CRL (`crl.pem`); roles refuse every certificate once it has expired.
    Crl {
        /// The CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// Validity of the CRL (until its nextUpdate), in days.
        #[arg(long, default_value_t = 30)]
        days: u64,
    },
    /// Explain a certificate or CRL file (PEM or DER).
    Show {
        /// The file.
        file: PathBuf,
    },
    /// List the certificates this CA issued.
    List {
        /// The CA directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// Runs `gridtrust pki ...`.
pub fn run(args: PkiArgs) -> anyhow::Result<()> {
    match args.command {
        PkiCmd::Init { dir, name, days } => {
            let key_path = dir.join(gridtrust_pki::ca::CA_KEY_FILE);
            if dir.join(gridtrust_pki::ca::CA_CERT_FILE).exists() {
                bail!("{} already holds a CA", dir.display());
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            tracing::warn!(
                key = %key_path.display(),
                "the CA key is a software key file (development key store); keep the directory offline and private"
            );
            let key = gridtrust_pki::generate_software_key(&key_path)?;
            let ca = Ca::init(&dir, &name, days_to_duration(days)?, key)?;
            println!("created CA {:?} in {}", ca.name(), dir.display());
            println!("  certificate: {}", dir.join(gridtrust_pki::ca::CA_CERT_FILE).display());
            println!("  CRL:         {}", dir.join(gridtrust_pki::ca::CRL_FILE).display());
            println!("  key:         {} (software key: development only)", key_path.display());
            Ok(())
        }
        PkiCmd::Issue { dir, kind, name, roles, days, sans, public_key, generate_key, out } => {
            let ca = open_ca(&dir)?;
            let public_key = match (public_key, generate_key) {
                (Some(path), None) => {
                    let pem = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                    PublicKey::from_pem(&pem).with_context(|| format!("public key in {}", path.display()))?
                }
                (None, Some(path)) => {
                    let key = gridtrust_pki::generate_software_key(&path)?;
                    println!("generated a development software key in {}", path.display());
                    PublicKey::from_sec1(key.public_key_raw())?
                }
                _ => bail!("give exactly one of --public-key and --generate-key"),
            };
            let request = IssueRequest { kind, name, roles, validity: days_to_duration(days)?, public_key, extra_sans: sans };
            let issued = ca.issue(&request)?;
            report(&issued, out.as_deref())
        }
        PkiCmd::Renew { dir, serial, name, days, out } => {
            let ca = open_ca(&dir)?;
            let which = match (serial, name) {
                (Some(serial), None) => CertRef::Serial(serial),
                (None, Some(name)) => CertRef::Name(name),
                _ => bail!("give exactly one of --serial and --name"),
            };
            let issued = ca.renew(&which, days_to_duration(days)?)?;
            report(&issued, out.as_deref())?;
            println!("the renewed certificate stays valid until it expires; revoke it with --reason superseded to retire it now");
            Ok(())
        }
        PkiCmd::Revoke { dir, serial, reason, crl_days } => {
            let ca = open_ca(&dir)?;
            let entry = ca.revoke(serial, reason)?;
            ca.crl(days_to_duration(crl_days)?)?;
            println!("revoked serial {} ({} {}, {reason})", entry.serial, entry.kind, entry.name);
            println!("published {}; distribute it to every role", dir.join(gridtrust_pki::ca::CRL_FILE).display());
            Ok(())
        }
        PkiCmd::Crl { dir, days } => {
            let ca = open_ca(&dir)?;
            ca.crl(days_to_duration(days)?)?;
            println!("published {} (valid {days} days)", dir.join(gridtrust_pki::ca::CRL_FILE).display());
            Ok(())
        }
        PkiCmd::Show { file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            print!("{}", gridtrust_pki::show(&bytes).with_context(|| format!("explaining {}", file.display()))?);
            Ok(())
        }
        PkiCmd::List { dir } => {
            let ca = open_ca(&dir)?;
            println!("{:>6}  {:<8}  {:<20}  {:<28}  {:<25}  status", "serial", "kind", "name", "roles", "not after");
            for e in ca.list()? {
                let roles: Vec<&str> = e.roles.iter().map(|r| r.name()).collect();
                let status = match &e.revoked {
                    Some(r) => format!("revoked {} ({})", r.time, r.reason),
                    None => "issued".to_owned(),
                };
                println!("{:>6}  {:<8}  {:<20}  {:<28}  {:<25}  {status}", e.serial, e.kind, e.name, roles.join(","), e.not_after);
            }
            Ok(())
        }
    }
}

fn open_ca(dir: &Path) -> anyhow::Result<Ca<SoftwareKey>> {
    let key = gridtrust_pki::load_software_ca_key(&dir.join(gridtrust_pki::ca::CA_KEY_FILE))
        .with_context(|| format!("loading the CA key of {}", dir.display()))?;
    Ok(Ca::open(dir, key)?)
}

fn report(issued: &Issued, out: Option<&Path>) -> anyhow::Result<()> {
    if let Some(out) = out {
        std::fs::write(out, &issued.pem).with_context(|| format!("writing {}", out.display()))?;
        println!("wrote {}", out.display());
    }
    println!("issued serial {} (CA copy {})", issued.serial, issued.path.display());
    print!("{}", gridtrust_pki::show(issued.pem.as_bytes())?);
    Ok(())
}

fn days_to_duration(days: u64) -> anyhow::Result<Duration> {
    if days == 0 {
        bail!("the validity must be at least one day");
    }
    days.checked_mul(DAY.as_secs()).map(Duration::from_secs).context("too many days")
}
