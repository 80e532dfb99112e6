//! The point registry: which edge may report each point and be commanded for it.
//!
//! A valid edge certificate proves who signed a batch, not that this edge is the source of the
//! points in it: without the registry, any edge could report (and, by the hub's routing, be
//! commanded for) another substation's breaker. The registry binds every point to exactly one
//! edge through point-reference prefixes: a prefix is a logical device (`F1`), a logical node
//! (`F1/XCBR1`) or a whole reference, and covers a point when the point equals it or continues
//! it after a `/` or `.`. The longest covering prefix decides, so exactly one edge owns a point.
//!
//! It is engineering data: encoded canonically ([`PointRegistry::encode`]), signed by an
//! engineering identity ([`SignedRegistry::sign`]; which certificates may sign is decided by the
//! PKI, `gridtrust_pki::REGISTRY_ROLES`), appended to the transparency log by the hub, and
//! versioned: receivers never go back to a lower version. The hub, the cc, the edge and the
//! offline verifier each check it themselves; none takes another's word for it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use gridtrust_model::{PointId, Timestamp};

use crate::command::Endorsement;
use crate::encoding::{EncodeError, postcard_bytes};
use crate::merkle::Hash;
use crate::signing::{SignError, Signer, VerifyError};

/// Context of a registry signature, so it can never stand for a command, result or header.
pub const REGISTRY_CONTEXT: &[u8] = b"gridtrust/v1/point-registry\0";

/// Largest encoded registry accepted (a million-point utility needs prefixes, not points).
const MAX_REGISTRY_BYTES: usize = 16 * 1024 * 1024;

/// Why a registry does not hold up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("registry bytes do not decode: {0}")]
    Decode(String),
    #[error("registry bytes are not in canonical form")]
    NotCanonical,
    #[error("registry of {0} bytes exceeds {MAX_REGISTRY_BYTES}")]
    TooLarge(usize),
    #[error("prefix `{prefix}`: {reason}")]
    BadPrefix { prefix: String, reason: &'static str },
    #[error("edge id `{0}` is empty or too long")]
    BadEdgeId(String),
    #[error("registry signature does not verify: {0}")]
    Signature(VerifyError),
    #[error("the registry signature names another certificate than the one it carries")]
    CertificateMismatch,
    #[error("registry version {offered} is older than version {current}, already accepted (a rollback)")]
    Rollback { current: u64, offered: u64 },
    #[error("a different registry with the same version {0} was already accepted")]
    VersionConflict(u64),
}

/// Who owns which points, at one version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointRegistry {
    /// Increases with every change.
    pub version: u64,
    /// When the engineer issued this version.
    pub issued_at: Timestamp,
    /// Point-reference prefix → the edge id that owns it.
    pub grants: BTreeMap<String, String>,
}

/// The characters an IEC 61850 reference may hold (as [`PointId`] allows).
fn valid_reference_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | '$' | '[' | ']' | '-')
}

impl PointRegistry {
    /// An empty registry at `version`.
    pub fn new(version: u64, issued_at: Timestamp) -> Self {
        Self { version, issued_at, grants: BTreeMap::new() }
    }

    /// Grants `prefix` to `edge_id`; refuses a prefix already granted to another edge.
    pub fn grant(&mut self, prefix: &str, edge_id: &str) -> Result<(), RegistryError> {
        check_prefix(prefix)?;
        check_edge_id(edge_id)?;
        match self.grants.get(prefix) {
            Some(owner) if owner != edge_id => {
                Err(RegistryError::BadPrefix { prefix: prefix.to_owned(), reason: "is already granted to another edge" })
            }
            _ => {
                self.grants.insert(prefix.to_owned(), edge_id.to_owned());
                Ok(())
            }
        }
    }

    /// The edge that owns `point`: the one holding the longest prefix that covers it.
    pub fn owner(&self, point: &PointId) -> Option<&str> {
        let reference = point.as_str();
        // Candidate prefixes end where the reference does or right before a separator.
        let ends = reference.char_indices().filter(|(_, c)| matches!(c, '/' | '.')).map(|(i, _)| i).chain([reference.len()]);
        let mut best = None;
        for end in ends {
            if let Some(edge) = reference.get(..end).and_then(|p| self.grants.get(p)) {
                best = Some(edge.as_str());
            }
        }
        best
    }

    /// The prefixes granted to `edge_id`.
    pub fn prefixes_of<'a>(&'a self, edge_id: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.grants.iter().filter(move |(_, e)| e.as_str() == edge_id).map(|(p, _)| p.as_str())
    }

    /// The canonical bytes (postcard 1.0, grants sorted by prefix): what is signed and logged.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        postcard_bytes(self, "point registry")
    }

    /// Parses bytes strictly: bounded, canonical, every prefix and edge id well-formed.
    pub fn decode(bytes: &[u8]) -> Result<Self, RegistryError> {
        if bytes.len() > MAX_REGISTRY_BYTES {
            return Err(RegistryError::TooLarge(bytes.len()));
        }
        let registry: Self = postcard::from_bytes(bytes).map_err(|e| RegistryError::Decode(e.to_string()))?;
        if registry.encode().map_err(|e| RegistryError::Decode(e.to_string()))? != bytes {
            return Err(RegistryError::NotCanonical);
        }
        for (prefix, edge) in &registry.grants {
            check_prefix(prefix)?;
            check_edge_id(edge)?;
        }
        Ok(registry)
    }
}

fn check_prefix(prefix: &str) -> Result<(), RegistryError> {
    let bad = |reason| Err(RegistryError::BadPrefix { prefix: prefix.to_owned(), reason });
    if prefix.is_empty() || prefix.len() > PointId::MAX_LEN {
        return bad("must be 1 to 255 characters");
    }
    if !prefix.chars().all(valid_reference_char) {
        return bad("holds a character not allowed in IEC 61850 references");
    }
    if prefix.starts_with(['/', '.']) || prefix.ends_with(['/', '.']) {
        return bad("must not start or end with `/` or `.`");
    }
    Ok(())
}

fn check_edge_id(edge_id: &str) -> Result<(), RegistryError> {
    if edge_id.is_empty() || edge_id.len() > 63 {
        return Err(RegistryError::BadEdgeId(edge_id.to_owned()));
    }
    Ok(())
}

/// What accepting an offered registry changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Succession {
    /// A newer version: it replaces the current one.
    Newer,
    /// The version already held, byte for byte.
    Unchanged,
}

/// Decides whether `offered` may follow `current` (each as registry and digest): versions
/// never go back, and one version never names two different registries.
pub fn check_succession(current: Option<(&PointRegistry, Hash)>, offered: (&PointRegistry, Hash)) -> Result<Succession, RegistryError> {
    let Some((current, current_digest)) = current else { return Ok(Succession::Newer) };
    let (offered, offered_digest) = offered;
    match offered.version.cmp(&current.version) {
        std::cmp::Ordering::Greater => Ok(Succession::Newer),
        std::cmp::Ordering::Equal if offered_digest == current_digest => Ok(Succession::Unchanged),
        std::cmp::Ordering::Equal => Err(RegistryError::VersionConflict(offered.version)),
        std::cmp::Ordering::Less => Err(RegistryError::Rollback { current: current.version, offered: offered.version }),
    }
}

/// A registry as it travels and is logged: the canonical bytes and the engineer's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRegistry {
    /// [`PointRegistry::encode`] bytes, exactly as signed.
    pub registry: Vec<u8>,
    /// The signature over [`REGISTRY_CONTEXT`] + `registry`, with the signer's certificate.
    pub signer: Endorsement,
}

impl SignedRegistry {
    /// Signs `registry` with an engineering identity's key; `certificate` is its DER.
    pub fn sign(registry: &PointRegistry, signer: &dyn Signer, certificate: &[u8]) -> Result<Self, SignError> {
        let bytes = registry.encode()?;
        let signer = Endorsement::create(signer, certificate, &signing_input(&bytes))?;
        Ok(Self { registry: bytes, signer })
    }

    /// Checks the signature with the public key of the signer's certificate (validated, and its
    /// role checked, by the caller) and returns the registry.
    pub fn verify(&self, public_key: &[u8]) -> Result<PointRegistry, RegistryError> {
        self.signer.check_names_certificate().map_err(|_| RegistryError::CertificateMismatch)?;
        self.signer.verify(public_key, &signing_input(&self.registry)).map_err(RegistryError::Signature)?;
        PointRegistry::decode(&self.registry)
    }

    /// SHA-256 of the registry bytes, to name a version unambiguously in alarms and logs.
    pub fn digest(&self) -> Hash {
        Sha256::digest(&self.registry).into()
    }

    /// The bytes of this signed registry as a file and as a log entry (postcard).
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        postcard_bytes(self, "signed registry")
    }

    /// Parses [`SignedRegistry::to_bytes`] output strictly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RegistryError> {
        if bytes.len() > MAX_REGISTRY_BYTES + 4096 {
            return Err(RegistryError::TooLarge(bytes.len()));
        }
        let signed: Self = postcard::from_bytes(bytes).map_err(|e| RegistryError::Decode(e.to_string()))?;
        if signed.to_bytes().map_err(|e| RegistryError::Decode(e.to_string()))? != bytes {
            return Err(RegistryError::NotCanonical);
        }
        Ok(signed)
    }
}

fn signing_input(registry: &[u8]) -> Vec<u8> {
    let mut out = REGISTRY_CONTEXT.to_vec();
    out.extend_from_slice(registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::EphemeralSigner;

    fn point(s: &str) -> PointId {
        PointId::new(s).unwrap()
    }

    fn registry() -> PointRegistry {
        let mut r = PointRegistry::new(3, Timestamp(7));
        r.grant("F1", "edge-1").unwrap();
        r.grant("F1/XCBR2", "edge-2").unwrap();
        r.grant("PV1/MMXU1.TotW", "edge-3").unwrap();
        r
    }

    #[test]
    fn the_longest_covering_prefix_owns_a_point() {
        let r = registry();
        assert_eq!(r.owner(&point("F1/XCBR1.Pos")), Some("edge-1"));
        assert_eq!(r.owner(&point("F1/XCBR2.Pos.ctlVal")), Some("edge-2"));
        assert_eq!(r.owner(&point("PV1/MMXU1.TotW")), Some("edge-3"));
        assert_eq!(r.owner(&point("PV1/MMXU1.TotW.mag")), Some("edge-3"));
        // A prefix covers only at a separator: F1 does not own F10, XCBR2 does not own XCBR20.
        assert_eq!(r.owner(&point("F10/XCBR1.Pos")), None);
        assert_eq!(r.owner(&point("F1/XCBR20.Pos")), Some("edge-1"));
        assert_eq!(r.owner(&point("PV1/MMXU1.TotVA")), None);
        assert_eq!(r.prefixes_of("edge-1").collect::<Vec<_>>(), ["F1"]);
    }

    #[test]
    fn a_prefix_has_exactly_one_owner_and_must_be_well_formed() {
        let mut r = registry();
        assert!(matches!(r.grant("F1", "edge-9"), Err(RegistryError::BadPrefix { .. })));
        r.grant("F1", "edge-1").unwrap();
        for bad in ["", "F1/", ".X", "F 1", "F1/XCBR1.Pos\n"] {
            assert!(matches!(r.grant(bad, "edge-1"), Err(RegistryError::BadPrefix { .. })), "{bad:?}");
        }
        assert!(matches!(r.grant("F2", ""), Err(RegistryError::BadEdgeId(_))));
    }

    #[test]
    fn signed_registry_round_trips_and_refuses_alteration_and_other_keys() {
        let engineer = EphemeralSigner::generate();
        let signed = SignedRegistry::sign(&registry(), &engineer, b"engineer cert").unwrap();
        let back = SignedRegistry::from_bytes(&signed.to_bytes().unwrap()).unwrap();
        assert_eq!(back.verify(&engineer.public_key()).unwrap(), registry());
        let mut altered = registry();
        altered.grants.insert("F1".into(), "edge-evil".into());
        let mut forged = signed.clone();
        forged.registry = altered.encode().unwrap();
        assert!(matches!(forged.verify(&engineer.public_key()), Err(RegistryError::Signature(_))));
        assert!(matches!(signed.verify(&EphemeralSigner::generate().public_key()), Err(RegistryError::Signature(_))));
        let mut swapped = signed.clone();
        swapped.signer.certificate = b"another cert".to_vec();
        assert!(swapped.verify(&engineer.public_key()).is_err());
    }

    #[test]
    fn versions_never_go_back_and_never_name_two_registries() {
        let (r3, d3) = (registry(), [3; 32]);
        let mut r4 = registry();
        r4.version = 4;
        assert_eq!(check_succession(None, (&r3, d3)), Ok(Succession::Newer));
        assert_eq!(check_succession(Some((&r3, d3)), (&r4, [4; 32])), Ok(Succession::Newer));
        assert_eq!(check_succession(Some((&r3, d3)), (&r3, d3)), Ok(Succession::Unchanged));
        assert_eq!(check_succession(Some((&r3, d3)), (&r3, [9; 32])), Err(RegistryError::VersionConflict(3)));
        assert_eq!(check_succession(Some((&r4, [4; 32])), (&r3, d3)), Err(RegistryError::Rollback { current: 4, offered: 3 }));
    }

    proptest::proptest! {
        /// Mutations of a valid encoding either fail to decode or are the same registry.
        #[test]
        fn mutated_encodings_decode_canonically_or_not_at_all(index in 0usize..64, byte in proptest::prelude::any::<u8>(), cut in 0usize..64) {
            let mut bytes = registry().encode().unwrap();
            let i = index % bytes.len();
            bytes[i] = byte;
            bytes.truncate(bytes.len() - cut.min(bytes.len()));
            if let Ok(r) = PointRegistry::decode(&bytes) {
                proptest::prop_assert_eq!(r.encode().unwrap(), bytes.clone());
            }
            let _ = SignedRegistry::from_bytes(&bytes);
        }
    }
}
