//! Passkey enrolment: how a person's passkey comes to sign commands.
//!
//! A person registers a passkey in the web UI (`navigator.credentials.create`); the hub keeps a
//! **pending enrolment**: their name, the role they ask for, the credential id and its public key
//! (SPKI). The key is bound to the person only by a certificate of the operator CA: `gridtrust pki
//! issue --kind operator --name NAME --role ROLE --public-key FILE` on the CA's machine, which a
//! SECADM uploads to approve the enrolment. The hub checks that the certificate validates against
//! its anchors, is an operator certificate, names the person, grants the role asked for and
//! carries exactly the credential's key, and appends the approval (the certificate, and who
//! approved what) to the transparency log. From then on the person signs commands with the
//! passkey, and every edge checks that certificate itself: the hub stores it, it cannot make one.
//!
//! Enrolments are kept in `data_dir/enrolments.json`.

use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use gridtrust_api::ApiError;
use gridtrust_api::dto::EnrolmentItem;
use gridtrust_api::timefmt::rfc3339;
use gridtrust_model::Timestamp;
use gridtrust_pki::{IdentityKind, PeerIdentity, PublicKey, Role};

/// Longest credential id accepted (WebAuthn allows up to 1023 bytes).
const MAX_CREDENTIAL_ID: usize = 1023;
/// Most enrolments kept (pending and approved), so a flood of requests cannot fill the disk.
const MAX_ENROLMENTS: usize = 10_000;

/// One enrolment as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Enrolment {
    id: u64,
    name: String,
    role: Role,
    credential_id: Vec<u8>,
    /// The passkey's public key, SPKI DER.
    public_key: Vec<u8>,
    requested_at: i64,
    approval: Option<Approval>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Approval {
    /// The operator certificate (DER) that binds the key to the person.
    certificate: Vec<u8>,
    serial: String,
    by: String,
    at: i64,
}

impl Enrolment {
    fn item(&self) -> EnrolmentItem {
        EnrolmentItem {
            id: self.id,
            name: self.name.clone(),
            role: self.role.name().into(),
            credential_id: gridtrust_trust::webauthn::base64url(&self.credential_id),
            state: if self.approval.is_some() { "approved" } else { "pending" }.into(),
            requested_at: rfc3339(self.requested_at),
            approved_by: self.approval.as_ref().map(|a| a.by.clone()),
            approved_at: self.approval.as_ref().map(|a| rfc3339(a.at)),
            certificate_serial: self.approval.as_ref().map(|a| a.serial.clone()),
        }
    }
}

/// A person's approved passkey: what a command they sign carries and is checked against.
pub struct Credential {
    pub credential_id: Vec<u8>,
    pub role: Role,
    /// The operator certificate (DER).
    pub certificate: Vec<u8>,
}

/// The enrolments of this hub, persisted.
pub struct Enrolments {
    file: PathBuf,
    all: Mutex<Vec<Enrolment>>,
}

fn store_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("enrolments file: {e}"))
}

impl Enrolments {
    /// Loads `file` (absent: none yet).
    pub fn open(file: PathBuf) -> Result<Self, String> {
        let all = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("{}: {e}", file.display())),
        };
        Ok(Self { file, all: Mutex::new(all) })
    }

    fn save(&self, all: &[Enrolment]) -> Result<(), ApiError> {
        let tmp = self.file.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(all).map_err(store_error)?).map_err(store_error)?;
        std::fs::rename(&tmp, &self.file).map_err(store_error)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Enrolment>> {
        self.all.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `name`'s request to bind the passkey (`credential_id`, SPKI `public_key`) to `role`.
    pub fn request(&self, name: &str, role: Role, credential_id: Vec<u8>, public_key: Vec<u8>) -> Result<EnrolmentItem, ApiError> {
        if credential_id.is_empty() || credential_id.len() > MAX_CREDENTIAL_ID {
            return Err(ApiError::BadRequest(format!("credential_id must be 1 to {MAX_CREDENTIAL_ID} bytes")));
        }
        PublicKey::from_spki_der(&public_key)
            .map_err(|e| ApiError::BadRequest(format!("public_key must be a P-256 SPKI (ES256 passkey): {e}")))?;
        let mut all = self.lock();
        if all.len() >= MAX_ENROLMENTS {
            return Err(ApiError::Unavailable("too many enrolments; approve or remove some first".into()));
        }
        if all.iter().any(|e| e.credential_id == credential_id) {
            return Err(ApiError::Conflict("this credential is enrolled already".into()));
        }
        let id = all.iter().map(|e| e.id).max().unwrap_or(0) + 1;
        let enrolment =
            Enrolment { id, name: name.to_owned(), role, credential_id, public_key, requested_at: Timestamp::now().0, approval: None };
        let item = enrolment.item();
        all.push(enrolment);
        self.save(&all)?;
        Ok(item)
    }

    /// Every enrolment (`None`), or those of one person.
    pub fn list(&self, of: Option<&str>) -> Vec<EnrolmentItem> {
        self.lock().iter().filter(|e| of.is_none_or(|n| n == e.name)).map(Enrolment::item).collect()
    }

    /// The pending enrolment `id`: person, role and public key (SPKI), for a CA to certify.
    pub fn pending(&self, id: u64) -> Result<(String, Role, Vec<u8>), ApiError> {
        let all = self.lock();
        let e = all.iter().find(|e| e.id == id).ok_or_else(|| ApiError::NotFound(format!("no enrolment {id}")))?;
        if e.approval.is_some() {
            return Err(ApiError::Conflict(format!("enrolment {id} is approved already")));
        }
        Ok((e.name.clone(), e.role, e.public_key.clone()))
    }

    /// Approves enrolment `id` with `certificate` (DER), whose validation against the hub's
    /// anchors is `validated`: it must be an operator certificate naming the person, granting the
    /// role asked for and carrying exactly the credential's key. `log` appends the approval to
    /// the transparency log before it is stored: nothing is approved that is not in the log.
    pub fn approve(
        &self,
        id: u64,
        certificate: Vec<u8>,
        validated: &PeerIdentity,
        by: &str,
        log: impl FnOnce(&EnrolmentItem, &[u8]) -> Result<(), String>,
    ) -> Result<EnrolmentItem, ApiError> {
        let mut all = self.lock();
        let e = all.iter_mut().find(|e| e.id == id).ok_or_else(|| ApiError::NotFound(format!("no enrolment {id}")))?;
        if e.approval.is_some() {
            return Err(ApiError::Conflict(format!("enrolment {id} is approved already")));
        }
        let refuse = |why: String| Err(ApiError::BadRequest(format!("certificate does not fit enrolment {id}: {why}")));
        if validated.kind != IdentityKind::Operator {
            return refuse(format!("it is a {} certificate, not an operator one", validated.kind));
        }
        if validated.name != e.name {
            return refuse(format!("it names {}, the enrolment is {}'s", validated.name, e.name));
        }
        if !validated.has_role(e.role) {
            return refuse(format!("it does not grant {}", e.role.name()));
        }
        let key = PublicKey::from_spki_der(&e.public_key).map_err(|e| ApiError::Internal(format!("stored key: {e}")))?;
        if validated.public_key != key.sec1() {
            return refuse("it carries another public key than the passkey's".into());
        }
        let mut approved = e.clone();
        approved.approval = Some(Approval { certificate, serial: validated.serial.to_hex(), by: by.to_owned(), at: Timestamp::now().0 });
        let item = approved.item();
        log(&item, approved.approval.as_ref().map(|a| &a.certificate[..]).unwrap_or_default()).map_err(ApiError::Internal)?;
        *e = approved;
        self.save(&all)?;
        Ok(item)
    }

    /// `name`'s approved passkeys.
    pub fn credentials(&self, name: &str) -> Vec<Credential> {
        self.lock()
            .iter()
            .filter(|e| e.name == name)
            .filter_map(|e| {
                e.approval.as_ref().map(|a| Credential {
                    credential_id: e.credential_id.clone(),
                    role: e.role,
                    certificate: a.certificate.clone(),
                })
            })
            .collect()
    }
}
