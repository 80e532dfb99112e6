//! Shared test fixtures: CAs whose keys are external signers (as an HSM key would be) and
//! identities certified from their public keys only.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gridtrust_pki::{Ca, IdentityKind, IssueRequest, Issued, PublicKey, Role, SignerKey, TlsSigningKey, TrustAnchors};
use gridtrust_trust::signing::{EphemeralSigner, Signer};
use rustls::pki_types::CertificateDer;

pub const DAY: Duration = Duration::from_secs(24 * 3600);

/// A CA in `dir` whose key is an external signer.
pub fn signer_ca(dir: &Path, name: &str) -> Ca<SignerKey> {
    let signer: Arc<dyn Signer> = Arc::new(EphemeralSigner::generate());
    Ca::init(dir, name, 365 * DAY, SignerKey::new(signer).unwrap()).unwrap()
}

/// An identity: its key stays in the signer, the CA sees only the public key.
pub struct Identity {
    pub signer: Arc<dyn Signer>,
    pub issued: Issued,
}

impl Identity {
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.issued.der.clone()]
    }

    pub fn tls_key(&self) -> Arc<dyn rustls::sign::SigningKey> {
        Arc::new(TlsSigningKey::new(self.signer.clone()).unwrap())
    }
}

pub fn issue(ca: &Ca<SignerKey>, kind: IdentityKind, name: &str, roles: &[Role]) -> Identity {
    issue_for(ca, kind, name, roles, 30 * DAY)
}

pub fn issue_for(ca: &Ca<SignerKey>, kind: IdentityKind, name: &str, roles: &[Role], validity: Duration) -> Identity {
    let signer: Arc<dyn Signer> = Arc::new(EphemeralSigner::generate());
    let issued = ca
        .issue(&IssueRequest {
            kind,
            name: name.into(),
            roles: roles.to_vec(),
            validity,
            public_key: PublicKey::from_signer(signer.as_ref()).unwrap(),
            extra_sans: vec![],
        })
        .unwrap();
    Identity { signer, issued }
}

pub fn anchors(ca: &Ca<SignerKey>) -> TrustAnchors {
    TrustAnchors::from_ca_dir(ca.dir()).unwrap()
}

/// Whether a peer program is available; skips (returns false with a SKIP line) when it is
/// not, unless GRIDTRUST_REQUIRE_PEERS is set, in which case the test fails.
pub fn have_peer(program: &str, test: &str) -> bool {
    let found = std::process::Command::new(program).arg("version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(),
            "{test}: {program} is required (GRIDTRUST_REQUIRE_PEERS) but not installed"
        );
        eprintln!("SKIP {test}: {program} is not installed");
    }
    found
}
