//! Who a certificate says its holder is: kind, name and roles, and the check of what that
//! identity may do.
//!
//! # How the identity is carried
//!
//! - **Name**: the subject common name (CN), and nothing else in the subject.
//! - **Kind**: a URI subject alternative name `urn:gridtrust:<kind>:<name>` with kind one of
//!   `edge`, `hub`, `cc`, `operator`, `scada`. The URN repeats the name so that kind and name are one
//!   signed claim; a certificate whose CN and URN name differ is not an identity.
//! - **Roles**: the IEC 62351-8 extension (see [`crate::role`]).
//! - **TLS names**: edge, hub and cc certificates also carry DNS SANs `<name>` and `localhost`,
//!   the IP SAN 127.0.0.1, and any extra SANs given at issue, so a peer dialling by host name
//!   or loopback address verifies. Operator and SCADA certificates carry only the URN: they
//!   are TLS clients, never servers.
//!
//! Names are 1 to 63 characters of lowercase ASCII letters, digits, `-` and `.`, starting and
//! ending with a letter or digit: a valid DNS name and URN segment, and lowercase only so that
//! two spellings can never be two identities.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use gridtrust_trust::Hash;
use gridtrust_trust::command::IssuerProof;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};

use crate::error::{PkiError, Refusal};
use crate::role::{ROLE_EXTENSION_OID_STR, Role, UserRoles};

/// The URN prefix of the kind-and-name SAN.
pub const IDENTITY_URN_PREFIX: &str = "urn:gridtrust:";

/// What kind of party a certificate identifies. It decides the certificate's extended key
/// usage and which connections the party may open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityKind {
    /// A substation edge: signs evidence, dials the hub.
    Edge,
    /// The hub: accepts edges and connectors, signs checkpoints.
    Hub,
    /// A control-centre connector: dials the hub, signs commands.
    Cc,
    /// A person: TLS client only (tools, command approval).
    Operator,
    /// A SCADA front-end connecting to a control-centre connector's IEC 104 server: TLS
    /// client only. Its roles decide what it may do there (VIEWER reads, OPERATOR and ENGINEER
    /// also command); it never signs anything a hub or an edge accepts, and a person's
    /// operator certificate is not a SCADA front-end's, so neither can stand in for the other.
    Scada,
}

impl IdentityKind {
    /// Every kind.
    pub const ALL: [IdentityKind; 5] =
        [IdentityKind::Edge, IdentityKind::Hub, IdentityKind::Cc, IdentityKind::Operator, IdentityKind::Scada];

    /// The lowercase name used in the URN, the index and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Edge => "edge",
            IdentityKind::Hub => "hub",
            IdentityKind::Cc => "cc",
            IdentityKind::Operator => "operator",
            IdentityKind::Scada => "scada",
        }
    }

    /// Whether certificates of this kind may serve TLS (and so carry serverAuth and host SANs).
    pub fn is_tls_server(self) -> bool {
        !matches!(self, IdentityKind::Operator | IdentityKind::Scada)
    }
}

impl fmt::Display for IdentityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A kind name that is not `edge`, `hub`, `cc`, `operator` or `scada`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown identity kind {0:?} (expected edge, hub, cc, operator or scada)")]
pub struct UnknownKind(pub String);

impl FromStr for IdentityKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdentityKind::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(s.trim())).ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// A certificate serial number, as its big-endian magnitude bytes (no leading zeros).
///
/// gridtrust's CA counts serials from 1, so they print as small decimals; serials of other
/// CAs can be up to 20 bytes and print in hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// From the DER INTEGER contents (a leading sign byte is dropped).
    pub fn from_be_bytes(bytes: &[u8]) -> Self {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        Self(bytes[start..].to_vec())
    }

    /// The magnitude bytes, big-endian, no leading zeros (empty for zero).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The serial as a number, if it fits.
    pub fn as_u64(&self) -> Option<u64> {
        if self.0.len() > 8 {
            return None;
        }
        Some(self.0.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// Colon-free lowercase hex, as `openssl x509 -serial` prints it (modulo case).
    pub fn to_hex(&self) -> String {
        if self.0.is_empty() {
            return "00".into();
        }
        hex(&self.0)
    }
}

impl From<u64> for Serial {
    fn from(n: u64) -> Self {
        Self::from_be_bytes(&n.to_be_bytes())
    }
}

impl fmt::Display for Serial {
    /// Decimal when it fits in a `u64` (the serials our CA issues), `0x`-hex otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_u64() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "0x{}", self.to_hex()),
        }
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({self})")
    }
}

/// An authenticated peer: what its (validated) certificate says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The kind of party.
    pub kind: IdentityKind,
    /// Its name (the CN and the URN name).
    pub name: String,
    /// Its standard IEC 62351-8 roles, ascending.
    pub roles: Vec<Role>,
    /// The certificate's serial.
    pub serial: Serial,
    /// SHA-256 of the certificate (DER): the signer id evidence refers to
    /// ([`gridtrust_trust::signing::certificate_id`]).
    pub certificate_id: Hash,
    /// The subject public key, an uncompressed SEC1 P-256 point (65 bytes).
    pub public_key: Vec<u8>,
    /// When the certificate expires.
    pub not_after: SystemTime,
}

impl PeerIdentity {
    /// Whether the peer holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roles: Vec<&str> = self.roles.iter().map(|r| r.name()).collect();
        write!(f, "{} {} [{}] (serial {})", self.kind, self.name, roles.join(","), self.serial)
    }
}

/// Checks that `identity` is one of `allowed_kinds` and holds at least one of `allowed_roles`.
///
/// An IEC 62351-8 subject may enact any of its roles, so one matching role suffices. Empty
/// `allowed_roles` allows nobody: "no role needed" must be said by passing [`Role::ALL`].
pub fn authorize(identity: &PeerIdentity, allowed_kinds: &[IdentityKind], allowed_roles: &[Role]) -> Result<(), Refusal> {
    if !allowed_kinds.contains(&identity.kind) {
        tracing::warn!(peer = %identity, allowed = ?allowed_kinds, "refused: wrong identity kind");
        return Err(Refusal::Kind { name: identity.name.clone(), found: identity.kind, allowed: allowed_kinds.to_vec() });
    }
    if !identity.roles.iter().any(|r| allowed_roles.contains(r)) {
        tracing::warn!(peer = %identity, required = ?allowed_roles, "refused: no allowed role");
        return Err(Refusal::Role { name: identity.name.clone(), found: identity.roles.clone(), required: allowed_roles.to_vec() });
    }
    Ok(())
}

/// Whom a signed command names in its `issuer` field (`Command::issuer`), on whose behalf its
/// signer vouches for it. The signer is never the whole story: a connector signs for the SCADA
/// client that sent the command, the hub's console for a person, so the log and the edge can
/// tell who at the control centre operated.
///
/// The text forms ([`fmt::Display`], read back by [`check_command_issuer`]):
/// - `<cc>/scada:<client>`: a SCADA client that authenticated to connector `<cc>` over TLS
///   with a [`IdentityKind::Scada`] certificate named `<client>`;
/// - `<cc>/scada-ip:<address>`: a SCADA client that connector `<cc>` knows only by its address
///   (plain TCP: its allow-list admitted it, nothing authenticated it);
/// - `<console>/<person>`: a person, through the hub's console key (an operator certificate;
///   the edge accepts it only as an explicit fallback);
/// - `<person>`: a person who signed with their own passkey (their operator certificate's name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandIssuer {
    /// A SCADA client with a certificate.
    ScadaClient {
        /// The connector that signed.
        cc: String,
        /// The client certificate's name.
        client: String,
    },
    /// A SCADA client known by its address only.
    ScadaAddress {
        /// The connector that signed.
        cc: String,
        /// The client's IP address.
        address: std::net::IpAddr,
    },
    /// A person, through the hub's console.
    Person {
        /// The console certificate's name.
        console: String,
        /// The person's user name.
        person: String,
    },
    /// A person who signed with their own passkey.
    Passkey {
        /// The person's operator certificate name.
        person: String,
    },
}

impl fmt::Display for CommandIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandIssuer::ScadaClient { cc, client } => write!(f, "{cc}/scada:{client}"),
            CommandIssuer::ScadaAddress { cc, address } => write!(f, "{cc}/scada-ip:{address}"),
            CommandIssuer::Person { console, person } => write!(f, "{console}/{person}"),
            CommandIssuer::Passkey { person } => write!(f, "{person}"),
        }
    }
}

/// Why a command's `issuer` and `role` do not fit the certificate that signed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerError {
    /// The issuer does not start with `<signer name>/`.
    #[error("command names issuer {issuer} but is signed by {signer}; it must name `{signer}/<on whose behalf>`")]
    NotTheSigner {
        /// The issuer as the command names it.
        issuer: String,
        /// The signing certificate's name.
        signer: String,
    },
    /// A connector's command that does not name the SCADA client it was signed for.
    #[error("connector {cc} signed for {on_behalf:?}, which is not `scada:<client>` or `scada-ip:<address>`")]
    NoScadaClient {
        /// The connector.
        cc: String,
        /// What follows `<cc>/`.
        on_behalf: String,
    },
    /// A console command that does not name a person.
    #[error("the console {console} must name `{console}/<person>`")]
    NoPerson {
        /// The console certificate's name.
        console: String,
    },
    /// A certificate kind that never issues commands.
    #[error("{0} may not issue commands")]
    Kind(IdentityKind),
    /// A passkey assertion vouched for by a certificate that is not a person's.
    #[error("a passkey assertion must come with an operator certificate, not a {0} one")]
    PasskeyKind(IdentityKind),
    /// A role the person's certificate does not grant.
    #[error("{issuer} acts as {role}, which their certificate does not grant")]
    NotGranted {
        /// The issuer named.
        issuer: String,
        /// The role claimed.
        role: String,
    },
    /// The role the command claims is not one that may operate.
    #[error("{issuer} acts as {role}, which may not operate")]
    Role {
        /// The issuer named.
        issuer: String,
        /// The role claimed.
        role: String,
    },
}

/// Who may issue commands, and on whose behalf, by how they vouched for it:
/// - with a key: a control-centre connector for a SCADA client (`<cc>/scada:<client>` or
///   `<cc>/scada-ip:<address>`), or the hub's console for a person (`<console>/<person>`);
///   the signer vouches for the client or person and the role it names;
/// - with a passkey: a person in their own name (their operator certificate's), acting in a
///   role their certificate grants.
///
/// The role must be one of [`Role::OPERATING`]. The signer's own certificate is checked
/// (kind, roles) before this. Both the hub's policy and the edge's gate apply this same rule to
/// the signed command's `issuer` and `role` fields; connectors and the console build the field
/// from [`CommandIssuer`], so what they write is what this reads.
pub fn check_command_issuer(identity: &PeerIdentity, proof: &IssuerProof, issuer: &str, role: &str) -> Result<CommandIssuer, IssuerError> {
    let not_the_signer = || IssuerError::NotTheSigner { issuer: issuer.to_owned(), signer: identity.name.clone() };
    if let IssuerProof::Passkey(_) = proof {
        if identity.kind != IdentityKind::Operator {
            return Err(IssuerError::PasskeyKind(identity.kind));
        }
        if issuer != identity.name {
            return Err(not_the_signer());
        }
        return match identity.roles.iter().find(|r| r.name() == role) {
            Some(r) if Role::OPERATING.contains(r) => Ok(CommandIssuer::Passkey { person: identity.name.clone() }),
            Some(_) => Err(IssuerError::Role { issuer: issuer.to_owned(), role: role.to_owned() }),
            None => Err(IssuerError::NotGranted { issuer: issuer.to_owned(), role: role.to_owned() }),
        };
    }
    // The signer's bare name names nobody on whose behalf it signs: refused below, per kind.
    let on_behalf = match issuer.strip_prefix(identity.name.as_str()) {
        Some("") => "",
        Some(rest) => rest.strip_prefix('/').ok_or_else(not_the_signer)?,
        None => return Err(not_the_signer()),
    };
    let parsed = match identity.kind {
        IdentityKind::Cc => {
            let cc = identity.name.clone();
            let no_client = || IssuerError::NoScadaClient { cc: identity.name.clone(), on_behalf: on_behalf.to_owned() };
            if let Some(client) = on_behalf.strip_prefix("scada:") {
                check_name(client).map_err(|_| no_client())?;
                CommandIssuer::ScadaClient { cc, client: client.to_owned() }
            } else if let Some(address) = on_behalf.strip_prefix("scada-ip:") {
                CommandIssuer::ScadaAddress { cc, address: address.parse().map_err(|_| no_client())? }
            } else {
                return Err(no_client());
            }
        }
        IdentityKind::Operator if !on_behalf.is_empty() => {
            CommandIssuer::Person { console: identity.name.clone(), person: on_behalf.to_owned() }
        }
        IdentityKind::Operator => return Err(IssuerError::NoPerson { console: identity.name.clone() }),
        kind => return Err(IssuerError::Kind(kind)),
    };
    if !Role::OPERATING.iter().any(|r| r.name() == role) {
        return Err(IssuerError::Role { issuer: parsed.to_string(), role: role.to_owned() });
    }
    Ok(parsed)
}

/// Who may sign a command result: a device's answer (confirmed, terminated) only the edge the
/// command was for, naming itself in the result; a refusal also the hub (which refuses by
/// policy). So a hub that never forwarded a command cannot tell the issuer it was executed, and
/// one edge cannot answer for another.
///
/// The cc (for SCADA) and the hub (for people's commands, and before it logs any result) apply
/// this same rule, after validating the signer's certificate.
pub fn check_result_signer(signer: &PeerIdentity, result: &gridtrust_model::CommandResult, target_edge: &str) -> Result<(), String> {
    let by_target_edge = signer.kind == IdentityKind::Edge && signer.name == target_edge;
    if by_target_edge && result.edge != target_edge {
        return Err(format!("result names edge {} but answers a command for {target_edge}", result.edge));
    }
    match result.outcome {
        gridtrust_model::CommandOutcome::Confirmed | gridtrust_model::CommandOutcome::Terminated if by_target_edge => Ok(()),
        gridtrust_model::CommandOutcome::Refused { .. } if by_target_edge || signer.kind == IdentityKind::Hub => Ok(()),
        gridtrust_model::CommandOutcome::Refused { .. } => {
            Err(format!("refusal signed by {signer}, neither the hub nor edge {target_edge} the command was for"))
        }
        _ => Err(format!("device answer signed by {signer}, not by edge {target_edge} the command was for")),
    }
}

/// Checks an identity name against the rules in the module documentation.
pub fn check_name(name: &str) -> Result<(), PkiError> {
    let err = |reason| Err(PkiError::InvalidName { name: name.to_owned(), reason });
    if name.is_empty() || name.len() > 63 {
        return err("must be 1 to 63 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.') {
        return err("only lowercase letters, digits, '-' and '.' are allowed");
    }
    let alnum = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !alnum(name.bytes().next()) || !alnum(name.bytes().last()) {
        return err("must start and end with a letter or digit");
    }
    if name.contains("..") {
        return err("must not contain '..'");
    }
    Ok(())
}

/// The URN SAN for `kind` and `name`.
pub fn identity_urn(kind: IdentityKind, name: &str) -> String {
    format!("{IDENTITY_URN_PREFIX}{kind}:{name}")
}

/// The subject public key of `cert` as an uncompressed P-256 point, or an error if the key is
/// of another type.
pub(crate) fn p256_public_key(cert: &X509Certificate<'_>) -> Result<Vec<u8>, PkiError> {
    let spki = cert.public_key();
    crate::keys::PublicKey::from_spki_der(spki.raw).map(|k| k.sec1().to_vec())
}

/// Everything gridtrust reads from an identity certificate, without any path validation:
/// callers validate the chain first ([`crate::validate()`], or rustls with our verifiers).
pub(crate) struct CertIdentity {
    pub kind: IdentityKind,
    pub name: String,
    pub user_roles: UserRoles,
    pub extra_sans: Vec<String>,
    pub public_key: Vec<u8>,
}

/// Reads kind, name, roles and key of an end-entity certificate and checks the gridtrust
/// profile: not a CA, key usage present with digitalSignature, a P-256 key, one URN whose name
/// is the CN, exactly one role extension that decodes.
pub(crate) fn read_identity(cert: &X509Certificate<'_>) -> Result<CertIdentity, PkiError> {
    let not_identity = |reason: String| PkiError::NotAnIdentity(reason);
    if cert.is_ca() {
        return Err(not_identity("it is a CA certificate".into()));
    }
    let ku = cert.key_usage().map_err(|e| not_identity(format!("key usage: {e}")))?;
    match ku {
        Some(ku) if ku.value.digital_signature() => {}
        Some(_) => {
            return Err(PkiError::WrongPurpose { purpose: "signing", reason: "key usage lacks digitalSignature".into() });
        }
        None => return Err(PkiError::WrongPurpose { purpose: "signing", reason: "no key usage extension".into() }),
    }
    let public_key = p256_public_key(cert)?;

    let mut cns = cert.subject().iter_common_name();
    let cn = match (cns.next(), cns.next()) {
        (Some(cn), None) => cn.as_str().map_err(|e| not_identity(format!("common name: {e}")))?.to_owned(),
        _ => return Err(not_identity("the subject must hold exactly one common name".into())),
    };

    let san = cert.subject_alternative_name().map_err(|e| not_identity(format!("subject alternative name: {e}")))?;
    let mut urns = Vec::new();
    let mut extra_sans = Vec::new();
    for gn in san.iter().flat_map(|s| s.value.general_names.iter()) {
        match gn {
            GeneralName::URI(uri) if uri.starts_with(IDENTITY_URN_PREFIX) => urns.push(*uri),
            GeneralName::DNSName(dns) => extra_sans.push((*dns).to_owned()),
            GeneralName::IPAddress(ip) => match ip_from_bytes(ip) {
                Some(ip) => extra_sans.push(ip.to_string()),
                None => return Err(not_identity("malformed IP address SAN".into())),
            },
            _ => {}
        }
    }
    let urn = match urns.as_slice() {
        [urn] => *urn,
        [] => return Err(not_identity("no urn:gridtrust:<kind>:<name> subject alternative name".into())),
        _ => return Err(not_identity("more than one gridtrust URN".into())),
    };
    let rest = &urn[IDENTITY_URN_PREFIX.len()..];
    let (kind, name) = rest.split_once(':').ok_or_else(|| not_identity(format!("malformed URN {urn}")))?;
    let kind: IdentityKind = kind.parse().map_err(|e: crate::identity::UnknownKind| not_identity(e.to_string()))?;
    check_name(name).map_err(|e| not_identity(e.to_string()))?;
    if name != cn {
        return Err(not_identity(format!("URN name {name:?} differs from common name {cn:?}")));
    }

    let mut role_exts = cert.extensions().iter().filter(|e| e.oid.to_id_string() == ROLE_EXTENSION_OID_STR);
    let user_roles = match (role_exts.next(), role_exts.next()) {
        (Some(ext), None) => UserRoles::decode(ext.value)?,
        (None, _) => return Err(not_identity("no IEC 62351-8 role extension".into())),
        (Some(_), Some(_)) => return Err(not_identity("more than one IEC 62351-8 role extension".into())),
    };
    // The defaults every server certificate carries are not "extra".
    extra_sans.retain(|s| s != name && s != "localhost" && s != "127.0.0.1");
    Ok(CertIdentity { kind, name: name.to_owned(), user_roles, extra_sans, public_key })
}

/// Reads the full [`PeerIdentity`] of a certificate that has already been validated.
pub(crate) fn peer_identity_of(der: &[u8]) -> Result<PeerIdentity, PkiError> {
    let (rest, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| PkiError::Malformed { what: "certificate", reason: e.to_string() })?;
    if !rest.is_empty() {
        return Err(PkiError::Malformed { what: "certificate", reason: "trailing bytes".into() });
    }
    let id = read_identity(&cert)?;
    Ok(PeerIdentity {
        kind: id.kind,
        name: id.name,
        roles: id.user_roles.roles(),
        serial: Serial::from_be_bytes(cert.raw_serial()),
        certificate_id: gridtrust_trust::signing::certificate_id(der),
        public_key: id.public_key,
        not_after: asn1_to_system(cert.validity().not_after),
    })
}

/// Whether any extension of `cert` parsed as an unsupported critical extension. webpki refuses
/// those already; `pki show` reports them.
pub(crate) fn unknown_critical(cert: &X509Certificate<'_>) -> Vec<String> {
    cert.extensions()
        .iter()
        .filter(|e| e.critical && matches!(e.parsed_extension(), ParsedExtension::UnsupportedExtension { .. }))
        .map(|e| e.oid.to_id_string())
        .collect()
}

pub(crate) fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

pub(crate) fn asn1_to_system(t: x509_parser::time::ASN1Time) -> SystemTime {
    let secs = t.timestamp();
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs.unsigned_abs())
    } else {
        SystemTime::UNIX_EPOCH - std::time::Duration::from_secs(secs.unsigned_abs())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        for good in ["edge-1", "hub", "a", "alice.smith", "cc2"] {
            check_name(good).unwrap();
        }
        for bad in ["", "Edge", "-edge", "edge-", "a..b", "a_b", "a b", &"x".repeat(64), "é"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serial_prints_decimal_when_small() {
        assert_eq!(Serial::from(5).to_string(), "5");
        assert_eq!(Serial::from_be_bytes(&[0, 0x80]).as_u64(), Some(128));
        assert_eq!(Serial::from_be_bytes(&[1; 9]).to_string(), "0x010101010101010101");
    }

    fn identity(kind: IdentityKind, roles: &[Role]) -> PeerIdentity {
        PeerIdentity {
            kind,
            name: "x".into(),
            roles: roles.to_vec(),
            serial: Serial::from(1),
            certificate_id: [0; 32],
            public_key: vec![],
            not_after: SystemTime::UNIX_EPOCH,
        }
    }

    /// A key signature as a proof (only its kind matters to the issuer check).
    fn key() -> IssuerProof {
        IssuerProof::Key(gridtrust_trust::command::Endorsement {
            signature: gridtrust_trust::evidence::Signature { algorithm: String::new(), signer: [0; 32], bytes: vec![] },
            certificate: vec![],
        })
    }

    fn passkey() -> IssuerProof {
        IssuerProof::Passkey(gridtrust_trust::command::PasskeyAssertion {
            authenticator_data: vec![],
            client_data_json: vec![],
            signature: vec![],
            certificate: vec![],
        })
    }

    #[test]
    fn command_issuer_names_whom_the_signer_vouches_for() {
        let named = |kind, name: &str| PeerIdentity { name: name.into(), ..identity(kind, &[Role::Operator]) };
        let cc = named(IdentityKind::Cc, "cc-1");
        let console = named(IdentityKind::Operator, "console");
        let client = CommandIssuer::ScadaClient { cc: "cc-1".into(), client: "scada-op".into() };
        assert_eq!(check_command_issuer(&cc, &key(), "cc-1/scada:scada-op", "OPERATOR"), Ok(client));
        // Every form reads back as written, IPv6 addresses included.
        for issuer in [
            CommandIssuer::ScadaAddress { cc: "cc-1".into(), address: "10.0.0.5".parse().unwrap() },
            CommandIssuer::ScadaAddress { cc: "cc-1".into(), address: "::1".parse().unwrap() },
        ] {
            assert_eq!(check_command_issuer(&cc, &key(), &issuer.to_string(), "ENGINEER"), Ok(issuer));
        }
        let person = CommandIssuer::Person { console: "console".into(), person: "alice".into() };
        assert_eq!(check_command_issuer(&console, &key(), &person.to_string(), "OPERATOR"), Ok(person));

        let refused = |signer: &PeerIdentity, issuer: &str, role: &str| check_command_issuer(signer, &key(), issuer, role).unwrap_err();
        // A connector in its own bare name, or naming no SCADA client it signs for.
        for issuer in ["cc-1", "cc-1/", "cc-1/alice", "cc-1/scada:", "cc-1/scada:Bad_Name", "cc-1/scada-ip:host"] {
            assert!(matches!(refused(&cc, issuer, "OPERATOR"), IssuerError::NoScadaClient { .. }), "{issuer}");
        }
        // Someone else's name, including one the signer's name is a prefix of.
        for issuer in ["cc-2/scada:x", "cc-10/scada:x", "console/alice"] {
            assert!(matches!(refused(&cc, issuer, "OPERATOR"), IssuerError::NotTheSigner { .. }), "{issuer}");
        }
        assert!(matches!(refused(&console, "console", "OPERATOR"), IssuerError::NoPerson { .. }));
        // A role that may not operate, whoever claims it.
        assert!(matches!(refused(&cc, "cc-1/scada:scada-v", "VIEWER"), IssuerError::Role { .. }));
        assert!(matches!(refused(&console, "console/bob", "SECAUD"), IssuerError::Role { .. }));
        // Kinds that never issue commands, SCADA front-ends included: they command through a cc.
        for kind in [IdentityKind::Edge, IdentityKind::Hub, IdentityKind::Scada] {
            let signer = named(kind, "x");
            assert_eq!(refused(&signer, "x/scada:y", "OPERATOR"), IssuerError::Kind(kind));
        }
    }

    #[test]
    fn a_passkey_issues_only_in_its_holders_name_and_granted_operating_role() {
        let alice = PeerIdentity { name: "alice".into(), ..identity(IdentityKind::Operator, &[Role::Viewer, Role::Operator]) };
        assert_eq!(check_command_issuer(&alice, &passkey(), "alice", "OPERATOR"), Ok(CommandIssuer::Passkey { person: "alice".into() }));
        let refused = |signer: &PeerIdentity, issuer: &str, role: &str| check_command_issuer(signer, &passkey(), issuer, role).unwrap_err();
        assert!(matches!(refused(&alice, "bob", "OPERATOR"), IssuerError::NotTheSigner { .. }));
        assert!(matches!(refused(&alice, "alice/bob", "OPERATOR"), IssuerError::NotTheSigner { .. }));
        assert!(matches!(refused(&alice, "alice", "VIEWER"), IssuerError::Role { .. }));
        assert!(matches!(refused(&alice, "alice", "ENGINEER"), IssuerError::NotGranted { .. }));
        // A passkey vouched for by a connector's certificate is no person's.
        let cc = PeerIdentity { name: "cc-1".into(), ..identity(IdentityKind::Cc, &[Role::Operator]) };
        assert_eq!(refused(&cc, "cc-1", "OPERATOR"), IssuerError::PasskeyKind(IdentityKind::Cc));
    }

    #[test]
    fn authorize_needs_kind_and_one_role() {
        let op = identity(IdentityKind::Operator, &[Role::Viewer, Role::Operator]);
        authorize(&op, &[IdentityKind::Operator], &[Role::Operator]).unwrap();
        assert!(matches!(authorize(&op, &[IdentityKind::Edge], &Role::ALL), Err(Refusal::Kind { .. })));
        assert!(matches!(authorize(&op, &[IdentityKind::Operator], &[Role::SecAdm]), Err(Refusal::Role { .. })));
        assert!(matches!(authorize(&op, &[IdentityKind::Operator], &[]), Err(Refusal::Role { .. })));
    }
}
