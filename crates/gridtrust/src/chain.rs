//! Writes the configuration of a single-machine installation and starts every role from it.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use gridtrust_api::auth::{HashCost, hash_password};
use gridtrust_cc::{Cc, CcConfig};
use gridtrust_edge::Edge;
use gridtrust_edge::config::EdgeConfig;
use gridtrust_hub::{EnrolmentCa, Hub, HubConfig, HubOptions};
use gridtrust_iec104_model::{CommandKind, MappingFile, MonitorKind};
use gridtrust_sim::{SubstationRtu, SubstationSpec};

use crate::field::{Field, FieldOptions};
use crate::registry::{RegistryToml, load_signer};
use gridtrust_keys::{KeyConfig, KeyError, PinSource, Pkcs11Config, TokenSelector};
use gridtrust_pki::{DevPki, IdentityKind, IssueRequest, PublicKey, Role};

/// Where the demo keeps the roles' private keys.
#[derive(Clone, Debug, Default)]
pub enum DemoKeys {
    /// PEM files next to the configuration: development only, and every role says so at start.
    #[default]
    Software,
    /// Keys generated inside a PKCS#11 token (SoftHSM2 or a real HSM), one per role, labelled by
    /// the role's name; the PIN comes from the environment variable `pin_env`.
    Pkcs11 { module: PathBuf, token_label: String, pin_env: String },
}

/// The identities of a single-machine installation: name, kind and IEC 62351-8 roles. Edges and
/// the hub act by their kind; the connector operates, so it holds OPERATOR; the engineer
/// (ENGINEER) signs the point registry. The console (an operator certificate whose key the hub
/// would hold) is provisioned for sites that switch on the `[api.console]` fallback; the demo does
/// not: people sign commands with passkeys.
pub const IDENTITIES: [(IdentityKind, &str, &[Role]); 5] = [
    (IdentityKind::Hub, "hub", &[Role::Viewer]),
    (IdentityKind::Edge, "edge-1", &[Role::Viewer]),
    (IdentityKind::Cc, "cc-1", &[Role::Operator]),
    (IdentityKind::Operator, "console", &[Role::Operator]),
    (IdentityKind::Operator, "engineer", &[Role::Engineer]),
];

/// The demo's web users: name, password, role (written to `users.toml` with Argon2id hashes).
pub const DEMO_USERS: [(&str, &str, Role); 5] = [
    ("viewer", "viewer-demo", Role::Viewer),
    ("operator", "operator-demo", Role::Operator),
    ("auditor", "auditor-demo", Role::SecAud),
    ("engineer", "engineer-demo", Role::Engineer),
    ("secadm", "secadm-demo", Role::SecAdm),
];

/// The relying party id of people's passkeys in a single-machine installation: browsers accept
/// `localhost` (not an IP address) as a secure context without TLS.
pub const DEMO_RP_ID: &str = "localhost";

/// What to start.
#[derive(Clone, Debug)]
pub struct ChainOptions {
    /// Folder for configuration, keys and data.
    pub dir: PathBuf,
    /// Where the cc's IEC 104 server listens for SCADA.
    pub scada_listen: String,
    /// Where the simulated RTU listens.
    pub rtu_listen: String,
    /// The simulator's measurement period.
    pub rtu_period: Duration,
    /// Edge batch window in milliseconds.
    pub batch_delay_ms: u64,
    /// Where the private keys live.
    pub keys: DemoKeys,
    /// Where the hub's HTTP API and web UI listen: plain HTTP on a loopback address (so the
    /// README's `http://127.0.0.1:8080` works without a certificate in the browser), HTTPS with
    /// the hub's certificate anywhere else.
    pub api_listen: String,
    /// Where the cc serves the same web UI from the control-centre side (its `[ui]`), forwarding
    /// only `/api/` to the hub: plain HTTP on loopback like `api_listen`, HTTPS with the cc's
    /// certificate elsewhere. None: the hub's UI only.
    pub cc_ui_listen: Option<String>,
    /// Extra lines for the hub's `[api]` table, e.g. `login.lockout_s = 2` (tests).
    pub api_extra: String,
    /// Extra tables for `hub.toml`, e.g. `[policy]` (benchmarks lift its rate limit).
    pub hub_extra: String,
    /// Cost of the demo users' password hashes (tests use the cheap one).
    pub password_cost: HashCost,
    /// Lets `POST /api/demo/tamper` alter the next batch (demo and tests only).
    pub demo_fault_injection: bool,
    /// Lets the development CA issue a passkey's certificate when a SECADM approves its
    /// enrolment without uploading one (demo only).
    pub demo_enrolment_ca: bool,
    /// The PV inverter, PMU and meter beside the RTU.
    pub field: FieldOptions,
}

impl ChainOptions {
    /// Defaults for tests: every port picked by the system.
    pub fn for_tests(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            scada_listen: "127.0.0.1:0".into(),
            rtu_listen: "127.0.0.1:0".into(),
            rtu_period: Duration::from_millis(200),
            batch_delay_ms: 10,
            keys: DemoKeys::Software,
            api_listen: "127.0.0.1:0".into(),
            cc_ui_listen: None,
            api_extra: String::new(),
            hub_extra: String::new(),
            password_cost: HashCost::TestOnly,
            demo_fault_injection: false,
            demo_enrolment_ca: false,
            field: FieldOptions::for_tests(),
        }
    }
}

/// The running chain.
pub struct Chain {
    pub rtu: SubstationRtu,
    /// The PV inverter, PMU and meter.
    pub field: Field,
    pub edge: Edge,
    pub hub: Hub,
    pub cc: Cc,
    /// The cc's SCADA-side mapping.
    pub scada_mapping: MappingFile,
    pub config_dir: PathBuf,
}

/// SCADA-side IOAs are the RTU's plus this offset: the cc has its own addressing, and the
/// difference shows that it is mapped, not passed through.
pub const SCADA_IOA_OFFSET: u32 = 10_000;

fn kind_name(k: MonitorKind) -> &'static str {
    match k {
        MonitorKind::Single => "single",
        MonitorKind::Double => "double",
        MonitorKind::Step => "step",
        MonitorKind::Bitstring => "bitstring",
        MonitorKind::Normalized => "normalized",
        MonitorKind::Scaled => "scaled",
        MonitorKind::Float => "float",
        MonitorKind::Counter => "counter",
    }
}

fn command_kind_name(k: CommandKind) -> &'static str {
    match k {
        CommandKind::Single => "single",
        CommandKind::Double => "double",
        CommandKind::Step => "step",
        CommandKind::SetpointNormalized => "setpoint-normalized",
        CommandKind::SetpointScaled => "setpoint-scaled",
        CommandKind::SetpointFloat => "setpoint-float",
    }
}

/// Writes a mapping file, shifting every IOA by `offset` (also the file `gridtrust probe iec104`
/// writes, with no offset).
pub(crate) fn mapping_toml(m: &MappingFile, offset: u32, title: &str) -> String {
    let mut s = format!("# {title}\n# Generated by gridtrust; the format is documented in gridtrust_iec104_model::mapping.\n");
    for p in &m.points {
        let _ = write!(s, "\n[[point]]\nid = \"{}\"\nioa = {}\ntype = \"{}\"\n", p.id, p.ioa + offset, kind_name(p.kind));
        if let Some(u) = &p.unit {
            let _ = writeln!(s, "unit = \"{u}\"");
        }
    }
    for c in &m.commands {
        let _ = write!(
            s,
            "\n[[command]]\nid = \"{}\"\nioa = {}\ntype = \"{}\"\nsbo = {}\n",
            c.id,
            c.ioa + offset,
            command_kind_name(c.kind),
            c.sbo
        );
    }
    s
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Creates the development CA and one certificate per identity, with keys where `keys` says;
/// returns the `[identity]` table of each role's configuration, by name (paths relative to the
/// folder holding `pki`).
pub fn provision(pki: &Path, keys: &DemoKeys) -> anyhow::Result<Vec<(&'static str, String)>> {
    let identity_table = |name: &str, key: String| {
        format!("[identity]\nca = \"pki/ca.crt.pem\"\ncrl = \"pki/crl.pem\"\ncertificate = \"pki/{name}.crt.pem\"\nkey = {key}\n")
    };
    match keys {
        DemoKeys::Software => {
            DevPki::generate(pki, &IDENTITIES).context("creating the development PKI")?;
            Ok(IDENTITIES
                .iter()
                .map(|(_, name, _)| (*name, identity_table(name, format!("{{ kind = \"software\", path = \"pki/{name}.key.pem\" }}"))))
                .collect())
        }
        DemoKeys::Pkcs11 { module, token_label, pin_env } => {
            let dev = DevPki::generate(pki, &[]).context("creating the development CA")?;
            let ca = dev.ca()?;
            let mut tables = Vec::new();
            for (kind, name, roles) in IDENTITIES {
                let config = KeyConfig::Pkcs11(Pkcs11Config::new(
                    module.clone(),
                    TokenSelector::Label(token_label.clone()),
                    name,
                    PinSource::Env(pin_env.clone()),
                ));
                let signer = match gridtrust_keys::open(&config, pki) {
                    Err(KeyError::KeyNotFound { .. }) => gridtrust_keys::generate(&config, pki),
                    other => other,
                }
                .with_context(|| format!("opening or generating the key of {name} in token {token_label}"))?;
                let issued = ca.issue(&IssueRequest {
                    kind,
                    name: name.to_owned(),
                    roles: roles.to_vec(),
                    validity: gridtrust_pki::DEV_VALIDITY,
                    public_key: PublicKey::from_sec1(&signer.public_key())?,
                    extra_sans: Vec::new(),
                })?;
                write(&pki.join(format!("{name}.crt.pem")), &issued.pem)?;
                let key = format!(
                    "{{ kind = \"pkcs11\", module = \"{}\", token_label = \"{token_label}\", key_label = \"{name}\", pin_env = \"{pin_env}\" }}",
                    module.display()
                );
                tables.push((name, identity_table(name, key)));
            }
            ca.crl(gridtrust_pki::DEV_VALIDITY)?;
            Ok(tables)
        }
    }
}

/// The users file of the demo, with fresh Argon2id hashes.
fn users_toml(cost: HashCost) -> anyhow::Result<String> {
    let mut s = String::from("# Demo web users (gridtrust demo prints their passwords). Hashes: Argon2id, PHC strings.\n");
    for (name, password, role) in DEMO_USERS {
        let hash = hash_password(password, cost).context("hashing a demo password")?;
        let _ = write!(s, "\n[[user]]\nname = \"{name}\"\npassword_hash = \"{hash}\"\nroles = [\"{}\"]\n", role.name());
    }
    Ok(s)
}

/// `addr` with a free port picked now if it asks for port 0.
fn with_port(addr: &str) -> anyhow::Result<SocketAddr> {
    let addr: SocketAddr = addr.parse().with_context(|| format!("`{addr}` is not an ip:port address"))?;
    if addr.port() != 0 {
        return Ok(addr);
    }
    std::net::TcpListener::bind(addr).and_then(|l| l.local_addr()).with_context(|| format!("picking a free port on {addr}"))
}

/// The demo's development CA certifying a passkey at approval time (see [`HubOptions`]).
#[derive(Debug)]
struct DevEnrolmentCa(PathBuf);

impl EnrolmentCa for DevEnrolmentCa {
    fn issue(&self, name: &str, role: Role, public_key_spki: &[u8]) -> Result<Vec<u8>, String> {
        let issued = DevPki::open(&self.0)
            .ca()
            .and_then(|ca| {
                ca.issue(&IssueRequest {
                    kind: IdentityKind::Operator,
                    name: name.to_owned(),
                    roles: vec![role],
                    validity: Duration::from_secs(365 * 24 * 3600),
                    public_key: PublicKey::from_spki_der(public_key_spki)?,
                    extra_sans: Vec::new(),
                })
            })
            .map_err(|e| format!("development CA: {e}"))?;
        Ok(issued.der.to_vec())
    }
}

impl Chain {
    /// Starts the simulated RTU, writes configuration for hub, edge and cc into `opts.dir`,
    /// and starts them from those files.
    pub async fn start(opts: &ChainOptions) -> anyhow::Result<Self> {
        let dir = &opts.dir;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let identities = provision(&dir.join("pki"), &opts.keys)?;
        let identity = |name: &str| identities.iter().find(|(n, _)| *n == name).map(|(_, t)| t.clone()).unwrap_or_default();

        let spec = SubstationSpec::default();
        let rtu = SubstationRtu::start(&opts.rtu_listen, spec, opts.rtu_period).await.context("starting the simulated RTU")?;
        write(&dir.join("edge-mapping.toml"), &mapping_toml(&rtu.mapping, 0, "RTU addresses of the simulated substation"))?;
        let field = Field::start(&opts.field).await?;
        write(
            &dir.join("scada-mapping.toml"),
            &(mapping_toml(&rtu.mapping, SCADA_IOA_OFFSET, "IEC 104 addresses the cc serves to SCADA") + &field.scada_toml()),
        )?;

        write(&dir.join("users.toml"), &users_toml(opts.password_cost)?)?;
        // The point registry, as an engineering department would: generated from the mapping
        // of everything edge-1 reads, reviewed as text, signed by the engineer's key.
        let mut registry = RegistryToml { version: 1, ..RegistryToml::default() };
        registry.grant_logical_devices("edge-1", MappingFile::load(&dir.join("scada-mapping.toml"))?.points.iter().map(|p| &p.id))?;
        write(&dir.join("registry.toml"), &registry.to_toml()?)?;
        write(&dir.join("engineer.toml"), &identity("engineer"))?;
        crate::registry::sign(&registry.to_registry()?, &load_signer(&dir.join("engineer.toml"))?, &dir.join("registry.signed"))?;
        // Passkeys are bound to the UI's origin, so its port must be known before the hub starts.
        let api_listen = with_port(&opts.api_listen)?;
        // Plain HTTP only on loopback (the demo); anywhere else the UI is served over HTTPS.
        let loopback = api_listen.ip().is_loopback();
        let origin =
            |addr: SocketAddr| format!("\"{}://{DEMO_RP_ID}:{}\"", if addr.ip().is_loopback() { "http" } else { "https" }, addr.port());
        let cc_ui = opts.cc_ui_listen.as_deref().map(with_port).transpose()?;
        let origins: Vec<String> = std::iter::once(api_listen).chain(cc_ui).map(origin).collect();
        let webauthn = format!("rp_id = \"{DEMO_RP_ID}\"\norigins = [{}]\n", origins.join(", "));
        // The cc dials the hub's API on this machine; the hub believes its X-Forwarded-For.
        let hub_api = if api_listen.ip().is_unspecified() { SocketAddr::from(([127, 0, 0, 1], api_listen.port())) } else { api_listen };
        // The edge and cc configurations name these ports, so the roles also meet when each is
        // started on its own from these files (README: "Running the roles separately").
        let (edge_listen, cc_listen) = (with_port("127.0.0.1:0")?, with_port("127.0.0.1:0")?);
        let trusted_proxies = if cc_ui.is_some() { format!("trusted_proxies = [\"{}\"]\n", hub_api.ip()) } else { String::new() };
        write(
            &dir.join("hub.toml"),
            &format!(
                "data_dir = \"hub-data\"\nedge_listen = \"{edge_listen}\"\ncc_listen = \"{cc_listen}\"\ncheckpoint_interval_ms = 1000\n\n{}\n[authority]\nregistry = \"registry.signed\"\n\n[api]\nlisten = \"{api_listen}\"\nmachine_listen = \"127.0.0.1:0\"\nusers = \"users.toml\"\nplain_http_on_loopback = {loopback}\n{trusted_proxies}{}\n\n[webauthn]\n{webauthn}\n{}",
                identity("hub"),
                opts.api_extra,
                opts.hub_extra,
            ),
        )?;
        let hub_options = HubOptions {
            demo_fault_injection: opts.demo_fault_injection,
            demo_enrolment_ca: opts.demo_enrolment_ca.then(|| Arc::new(DevEnrolmentCa(dir.join("pki"))) as Arc<dyn EnrolmentCa>),
        };
        let hub = Hub::start_with(&HubConfig::load(&dir.join("hub.toml"))?, hub_options).await.context("starting the hub")?;

        write(
            &dir.join("edge.toml"),
            &format!(
                "edge_id = \"edge-1\"\ndata_dir = \"edge-data\"\n\n{}\n[hub]\naddress = \"{}\"\nserver_name = \"hub\"\n\n[batch]\nmax_records = 1000\nmax_delay_ms = {}\n\n[[rtu]]\nname = \"substation-1\"\naddress = \"{}\"\ncommon_address = {}\nmapping = \"edge-mapping.toml\"\ninterrogation_period_s = 60\n{}\n[commands.webauthn]\n{webauthn}",
                identity("edge-1"),
                hub.edge_addr,
                opts.batch_delay_ms,
                rtu.addr,
                rtu.common_address,
                field.edge_toml()
            ),
        )?;
        let edge = Edge::start(EdgeConfig::load(&dir.join("edge.toml"))?).await.context("starting the edge")?;

        write(
            &dir.join("cc.toml"),
            &format!(
                "cc_id = \"cc-1\"\ndata_dir = \"cc-data\"\n\n{}\n[hub]\naddress = \"{}\"\nserver_name = \"hub\"\n\n[iec104]\nlisten = \"{}\"\nmapping = \"scada-mapping.toml\"\n\n[iec104.station]\ncommon_address = 1\n\n# The SCADA front-ends on this machine form one redundancy group; its members are the\n# allow-list of SCADA client addresses (every other connection is refused and alarmed).\n[[iec104.station.redundancy_groups]]\nname = \"scada\"\nmembers = [\"127.0.0.1\"]\n",
                identity("cc-1"),
                hub.cc_addr,
                opts.scada_listen
            ),
        )?;
        if let Some(ui) = cc_ui {
            let ui_table = format!(
                "\n[ui]\nlisten = \"{ui}\"\nhub_api = \"{hub_api}\"\nhub_api_name = \"hub\"\nplain_http_on_loopback = {}\nhub_api_plain_http_on_loopback = {loopback}\n",
                ui.ip().is_loopback()
            );
            std::fs::OpenOptions::new()
                .append(true)
                .open(dir.join("cc.toml"))
                .and_then(|mut f| std::io::Write::write_all(&mut f, ui_table.as_bytes()))?;
        }
        let cc = Cc::start(CcConfig::load(&dir.join("cc.toml"))?).await.context("starting the control-centre connector")?;
        let scada_mapping = MappingFile::load(&dir.join("scada-mapping.toml"))?;
        Ok(Self { rtu, field, edge, hub, cc, scada_mapping, config_dir: dir.clone() })
    }

    /// Where SCADA connects.
    pub fn scada_addr(&self) -> SocketAddr {
        self.cc.iec104_addr
    }

    /// Stops every role; the edge gracefully, so its open batch is in its durable queue.
    pub async fn shutdown(self) {
        self.cc.shutdown().await;
        self.edge.stop(Duration::from_secs(5), Duration::from_secs(1)).await;
        self.hub.shutdown();
        self.rtu.shutdown().await;
        self.field.shutdown();
    }
}
