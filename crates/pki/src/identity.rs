//! Who a certificate says its holder is: kind, name and roles, and the check of what that
//! identity may do.
//!
//! # How the identity is carried
//!
//! - **Name**: the subject common name (CN), and nothing else in the subject.
//! - **Kind**: a URI subject alternative name `urn:gridtrust:<kind>:<name>` with kind one of
//!   `edge`, `hub`, `cc`, `operator`. The URN repeats the name so that kind and name are one
//!   signed claim; a certificate whose CN and URN name differ is not an identity.
//! - **Roles**: the IEC 62351-8 extension (see [`crate::role`]).
//! - **TLS names**: edge, hub and cc certificates also carry DNS SANs `<name>` and `localhost`,
//!   the IP SAN 127.0.0.1, and any extra SANs given at issue, so a peer dialling by host name
//!   or loopback address verifies. Operator certificates carry only the URN: operators are
//!   TLS clients, never servers.
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
}

impl IdentityKind {
    /// Every kind.
    pub const ALL: [IdentityKind; 4] = [IdentityKind::Edge, IdentityKind::Hub, IdentityKind::Cc, IdentityKind::Operator];

    /// The lowercase name used in the URN, the index and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Edge => "edge",
            IdentityKind::Hub => "hub",
            IdentityKind::Cc => "cc",
            IdentityKind::Operator => "operator",
        }
    }

    /// Whether certificates of this kind may serve TLS (and so carry serverAuth and host SANs).
    pub fn is_tls_server(self) -> bool {
        !matches!(self, IdentityKind::Operator)
    }
}

impl fmt::Display for IdentityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A kind name that is not `edge`, `hub`, `cc` or `operator`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown identity kind {0:?} (expected edge, hub, cc or operator)")]
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

/// Who may issue commands, by how they signed. With a key: a control-centre connector in its
/// own name, or the hub's console (an operator certificate) on behalf of a person, naming the
/// command issuer `<console name>/<username>` and the person's role, which must be one of
/// `operating_roles`. With a passkey: a person in their own name (their operator certificate's),
/// acting in one of the operating roles their certificate grants.
///
/// Both the hub's policy and the edge's gate apply this same rule to the signed command's
/// `issuer` and `role` fields, after checking the certificate, its kind and its roles.
pub fn check_command_issuer(
    identity: &PeerIdentity,
    proof: &IssuerProof,
    issuer: &str,
    role: &str,
    operating_roles: &[Role],
) -> Result<(), String> {
    match (proof, identity.kind) {
        (IssuerProof::Passkey(_), IdentityKind::Operator) => {
            if issuer != identity.name {
                return Err(format!("command names issuer {issuer} but {}'s passkey signed it", identity.name));
            }
            match identity.roles.iter().find(|r| r.name() == role) {
                Some(r) if operating_roles.contains(r) => Ok(()),
                Some(_) => Err(format!("{issuer} acts as {role}, which may not operate")),
                None => Err(format!("{issuer} acts as {role}, which their certificate does not grant")),
            }
        }
        (IssuerProof::Key(_), IdentityKind::Cc) if issuer == identity.name => Ok(()),
        (IssuerProof::Key(_), IdentityKind::Operator) => {
            let person = issuer.strip_prefix(identity.name.as_str()).and_then(|r| r.strip_prefix('/')).unwrap_or_default();
            if person.is_empty() {
                return Err(format!("command names issuer {issuer}; the console {} must name `{}/<person>`", identity.name, identity.name));
            }
            if !operating_roles.iter().any(|r| r.name() == role) {
                return Err(format!("{person} acts as {role}, which may not operate"));
            }
            Ok(())
        }
        _ => Err(format!("command names issuer {issuer} but is signed by {}", identity.name)),
    }
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

    #[test]
    fn authorize_needs_kind_and_one_role() {
        let op = identity(IdentityKind::Operator, &[Role::Viewer, Role::Operator]);
        authorize(&op, &[IdentityKind::Operator], &[Role::Operator]).unwrap();
        assert!(matches!(authorize(&op, &[IdentityKind::Edge], &Role::ALL), Err(Refusal::Kind { .. })));
        assert!(matches!(authorize(&op, &[IdentityKind::Operator], &[Role::SecAdm]), Err(Refusal::Role { .. })));
        assert!(matches!(authorize(&op, &[IdentityKind::Operator], &[]), Err(Refusal::Role { .. })));
    }
}
