//! Keys inside a PKCS#11 token: the production key store.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, TryLockError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use gridtrust_trust::signing::{SignError, Signer, verify};
use sha2::{Digest, Sha256};

use crate::{KeyError, PinSource, Pkcs11Config, TokenSelector};

/// DER `namedCurve prime256v1` (1.2.840.10045.3.1.7), the `CKA_EC_PARAMS` of a P-256 key.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// What [`Pkcs11Signer::open`] signs to prove the public key belongs to the private key.
const SELF_TEST_MESSAGE: &[u8] = b"gridtrust-keys: public key matches private key";

/// An ECDSA P-256 key inside a PKCS#11 token.
///
/// The private key never leaves the token: the host computes SHA-256 and the token signs the
/// digest with `CKM_ECDSA` (SoftHSM 2.6 and many HSMs have no `CKM_ECDSA_SHA256`). A cryptoki
/// `Session` may be used by one thread at a time, so the signer keeps a small pool of sessions,
/// each behind its own lock: parallel callers take a free session instead of queueing on one.
///
/// When a signature fails because the session or the login was lost (the token was logged out
/// by other code, a network HSM dropped the session), the signer opens a new session, logs in
/// again with the PIN read afresh from its source, finds the key by label again, and retries
/// once; it refuses a key whose public key has changed.
///
/// PKCS#11 login state belongs to the application, not the session: once any key store in this
/// process has logged in to a token, later logins to that token succeed without the PIN being
/// checked again, and the token stays logged in while any session to it is open.
pub struct Pkcs11Signer {
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
    /// Replaced when the key is found again after a lost session.
    key: RwLock<ObjectHandle>,
    public_key: Vec<u8>,
    token: Token,
    pin: PinSource,
    key_label: String,
    description: String,
}

/// How well the token protects a private key, read back from the token so operators and tests
/// can check the key cannot leave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyProtection {
    /// `CKA_SENSITIVE`: the token refuses to reveal the private value.
    pub sensitive: bool,
    /// `CKA_EXTRACTABLE`: the key could be wrapped out of the token.
    pub extractable: bool,
    /// `CKA_ALWAYS_SENSITIVE`: the key has been sensitive since it was created.
    pub always_sensitive: bool,
    /// `CKA_NEVER_EXTRACTABLE`: the key has never been extractable.
    pub never_extractable: bool,
    /// What `C_GetAttributeValue(CKA_VALUE)` did: `false` when the token refused it
    /// (`CKR_ATTRIBUTE_SENSITIVE`) or has no value to give, `true` when the private value came out.
    pub value_readable: bool,
}

impl KeyProtection {
    /// True when the key cannot leave the token: what production requires.
    pub fn is_non_extractable(&self) -> bool {
        self.sensitive && !self.extractable && !self.value_readable
    }
}

impl Pkcs11Signer {
    /// Loads the module, finds the token, logs in with the PIN from the configured source, finds
    /// the private key by label and its public key, and signs one test message to prove the two
    /// belong together.
    pub fn open(config: &Pkcs11Config) -> Result<Self, KeyError> {
        config.validate()?;
        let pin = read_pin(&config.pin)?;
        let token = Token::open(config)?;
        let first = token.session(false)?;
        token.login(&first, &pin)?;
        drop(pin);
        let key = token.private_key(&first, &config.key_label)?;
        let public_key = token.public_key(&first, key, &config.key_label)?;
        let mut sessions = vec![Mutex::new(first)];
        for _ in 1..config.sessions {
            sessions.push(Mutex::new(token.session(false)?));
        }
        let signer = Pkcs11Signer {
            sessions,
            next: AtomicUsize::new(0),
            key: RwLock::new(key),
            public_key,
            description: format!("pkcs11 token '{}' key '{}'", token.label, config.key_label),
            token,
            pin: config.pin.clone(),
            key_label: config.key_label.clone(),
        };
        let unusable =
            |reason: String| KeyError::KeyUnusable { token: signer.token.location.clone(), key: config.key_label.clone(), reason };
        let test = signer.sign(SELF_TEST_MESSAGE).map_err(|e| unusable(format!("test signature failed: {e}")))?;
        verify(&signer.public_key, SELF_TEST_MESSAGE, &test)
            .map_err(|e| unusable(format!("the public key does not verify the private key's test signature: {e}")))?;
        match signer.protection() {
            Ok(p) if p.is_non_extractable() => {}
            Ok(p) => tracing::warn!(key = %signer.description, protection = ?p, "HSM key can leave the token"),
            Err(e) => tracing::warn!(key = %signer.description, error = %e, "cannot read the key's protection attributes"),
        }
        tracing::info!(key = %signer.description, sessions = config.sessions, "opened PKCS#11 key");
        Ok(signer)
    }

    /// Generates a new P-256 key pair inside the token (token object, private, sensitive, not
    /// extractable, sign only) labelled `config.key_label` with a random `CKA_ID`, then opens it.
    ///
    /// Refuses when a key with that label already exists, because two keys with one label make
    /// every later lookup a guess. (Two processes generating the same label at the same moment
    /// are not detected.)
    pub fn generate_key(config: &Pkcs11Config) -> Result<Self, KeyError> {
        config.validate()?;
        let pin = read_pin(&config.pin)?;
        let token = Token::open(config)?;
        let session = token.session(true)?;
        token.login(&session, &pin)?;
        drop(pin);
        let label = config.key_label.as_bytes().to_vec();
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            let found = session
                .find_objects(&[Attribute::Class(class), Attribute::Label(label.clone())])
                .map_err(|e| token.error("C_FindObjects", e))?;
            if !found.is_empty() {
                return Err(KeyError::KeyExists { token: token.location, key: config.key_label.clone() });
            }
        }
        let id = session.generate_random_vec(16).map_err(|e| token.error("C_GenerateRandom", e))?;
        let public = [
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_PARAMS.to_vec()),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Label(label.clone()),
            Attribute::Id(id.clone()),
        ];
        let private = [
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Derive(false),
            Attribute::Label(label),
            Attribute::Id(id),
        ];
        session.generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private).map_err(|e| token.error("C_GenerateKeyPair", e))?;
        tracing::info!(token = %token.location, key = %config.key_label, "generated ECDSA P-256 key pair in the token");
        // Open before closing the generating session, so the token stays logged in meanwhile.
        let signer = Self::open(config);
        drop(session);
        signer
    }

    /// Reads the private key's protection attributes back from the token.
    pub fn protection(&self) -> Result<KeyProtection, KeyError> {
        let key = self.key();
        self.with_session(|session| {
            let error = |e| self.token.error("C_GetAttributeValue", e);
            let attributes = session
                .get_attributes(
                    key,
                    &[
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::AlwaysSensitive,
                        AttributeType::NeverExtractable,
                    ],
                )
                .map_err(error)?;
            // Missing attributes count as the unsafe answer.
            let mut p = KeyProtection {
                sensitive: false,
                extractable: true,
                always_sensitive: false,
                never_extractable: false,
                value_readable: true,
            };
            for a in attributes {
                match a {
                    Attribute::Sensitive(v) => p.sensitive = v,
                    Attribute::Extractable(v) => p.extractable = v,
                    Attribute::AlwaysSensitive(v) => p.always_sensitive = v,
                    Attribute::NeverExtractable(v) => p.never_extractable = v,
                    _ => {}
                }
            }
            let value = session.get_attribute_info(key, &[AttributeType::Value]).map_err(error)?;
            p.value_readable = matches!(value.first(), Some(AttributeInfo::Available(_)));
            Ok(p)
        })
    }

    /// How many sessions the pool holds (how many signatures can be in the token at once).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    fn key(&self) -> ObjectHandle {
        *self.key.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on a free session, or waits for one (round robin) when all are busy.
    fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        let n = self.sessions.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            match self.sessions[(start + i) % n].try_lock() {
                Ok(mut guard) => return f(&mut guard),
                // A panic while holding a session cannot leave it half-used: C_Sign is one call.
                Err(TryLockError::Poisoned(p)) => return f(&mut p.into_inner()),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let mut guard = self.sessions[start].lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    /// Signs a digest on `session`; when the session or login was lost, reopens and retries once.
    fn sign_digest(&self, session: &mut Session, digest: &[u8]) -> Result<Vec<u8>, String> {
        match session.sign(&Mechanism::Ecdsa, self.key(), digest) {
            Err(CkError::Pkcs11(rv, _)) if session_lost(rv) => {
                tracing::warn!(key = %self.description, error = %rv, "PKCS#11 session or login lost; reopening");
                self.reopen(session).map_err(|e| format!("{rv}; reopening failed: {e}"))?;
                session.sign(&Mechanism::Ecdsa, self.key(), digest).map_err(|e| e.to_string())
            }
            other => other.map_err(|e| e.to_string()),
        }
    }

    /// Replaces `session` by a new, logged-in one and finds the key again (its handle may have
    /// changed), refusing a key whose public key is not the one this store was opened with.
    fn reopen(&self, session: &mut Session) -> Result<(), KeyError> {
        let pin = read_pin(&self.pin)?;
        let fresh = self.token.session(false)?;
        self.token.login(&fresh, &pin)?;
        drop(pin);
        let key = self.token.private_key(&fresh, &self.key_label)?;
        if self.token.public_key(&fresh, key, &self.key_label)? != self.public_key {
            return Err(KeyError::KeyUnusable {
                token: self.token.location.clone(),
                key: self.key_label.clone(),
                reason: "after reopening, the key with this label has another public key; refusing to sign with it".into(),
            });
        }
        *self.key.write().unwrap_or_else(PoisonError::into_inner) = key;
        *session = fresh;
        tracing::info!(key = %self.description, "PKCS#11 session reopened");
        Ok(())
    }
}

/// Errors after which a new session and login may succeed: the session is gone, the login is gone
/// (a private key's handle is then invalid too, as the key is invisible), or the device went away
/// and may be back.
fn session_lost(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::UserNotLoggedIn
            | RvError::ObjectHandleInvalid
            | RvError::KeyHandleInvalid
            | RvError::DeviceRemoved
            | RvError::TokenNotPresent
    )
}

impl Signer for Pkcs11Signer {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let digest = Sha256::digest(message);
        let signature = self
            .with_session(|session| self.sign_digest(session, &digest))
            .map_err(|e| SignError::KeyStore(format!("{}: C_Sign: {e}", self.description)))?;
        if signature.len() != 64 {
            return Err(SignError::KeyStore(format!(
                "{}: C_Sign returned {} bytes, expected 64 (r || s)",
                self.description,
                signature.len()
            )));
        }
        Ok(signature)
    }

    fn public_key(&self) -> Vec<u8> {
        self.public_key.clone()
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer").field("key", &self.description).field("sessions", &self.sessions.len()).finish_non_exhaustive()
    }
}

/// A token found in a loaded module: what opening and generating share.
struct Token {
    context: Pkcs11,
    slot: Slot,
    /// The token's own label (also when it was selected by slot).
    label: String,
    module: PathBuf,
    /// "PKCS#11 module M token 'T'", for errors.
    location: String,
}

impl Token {
    fn open(config: &Pkcs11Config) -> Result<Self, KeyError> {
        let module = config.module.clone();
        let context = context(&module)?;
        let location = format!("PKCS#11 module {} {}", module.display(), config.token);
        let slots = context.get_slots_with_token().map_err(|source| KeyError::Pkcs11 {
            token: location.clone(),
            operation: "C_GetSlotList",
            source,
        })?;
        let mut tokens = Vec::with_capacity(slots.len());
        let mut unreadable = Vec::new();
        for slot in slots {
            match token_info(&context, slot) {
                Ok(info) => tokens.push((slot, info.label().to_owned())),
                // Another slot's trouble must not keep us from our own token.
                Err(e) => {
                    tracing::warn!(module = %module.display(), slot = slot.id(), error = %e, "cannot read token information; skipping the slot");
                    unreadable.push(format!("unreadable slot {} ({e})", slot.id()));
                }
            }
        }
        let matching: Vec<_> = tokens
            .iter()
            .filter(|(slot, label)| match &config.token {
                TokenSelector::Label(l) => label == l,
                TokenSelector::Slot(id) => slot.id() == *id,
            })
            .collect();
        let (slot, label) = match matching.as_slice() {
            [one] => (*one).clone(),
            [] => {
                let present = tokens.iter().map(|(s, l)| format!("'{l}' in slot {}", s.id())).chain(unreadable).collect::<Vec<_>>();
                return Err(KeyError::TokenNotFound {
                    module,
                    token: config.token.to_string(),
                    present: if present.is_empty() { "none".into() } else { present.join(", ") },
                });
            }
            more => return Err(KeyError::TokenAmbiguous { module, token: config.token.to_string(), count: more.len() }),
        };
        Ok(Token { context, slot, label, module, location })
    }

    fn error(&self, operation: &'static str, source: CkError) -> KeyError {
        KeyError::Pkcs11 { token: self.location.clone(), operation, source }
    }

    fn session(&self, read_write: bool) -> Result<Session, KeyError> {
        let session = if read_write { self.context.open_rw_session(self.slot) } else { self.context.open_ro_session(self.slot) };
        session.map_err(|e| self.error("C_OpenSession", e))
    }

    fn login(&self, session: &Session, pin: &AuthPin) -> Result<(), KeyError> {
        match session.login(UserType::User, Some(pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange | RvError::PinInvalid, _)) => {
                Err(KeyError::WrongPin { module: self.module.clone(), token: format!("token '{}'", self.label) })
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                Err(KeyError::PinLocked { module: self.module.clone(), token: format!("token '{}'", self.label) })
            }
            Err(e) => Err(self.error("C_Login", e)),
        }
    }

    /// The one EC private key labelled `label`, checked to be a P-256 signing key.
    fn private_key(&self, session: &Session, label: &str) -> Result<ObjectHandle, KeyError> {
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::EC),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(|e| self.error("C_FindObjects", e))?;
        let key = match found.as_slice() {
            [one] => *one,
            [] => return Err(KeyError::KeyNotFound { token: self.location.clone(), key: label.to_owned() }),
            more => return Err(KeyError::KeyAmbiguous { token: self.location.clone(), key: label.to_owned(), count: more.len() }),
        };
        let attributes = session
            .get_attributes(key, &[AttributeType::EcParams, AttributeType::Sign])
            .map_err(|e| self.error("C_GetAttributeValue", e))?;
        let unusable =
            |reason: &str| KeyError::KeyUnusable { token: self.location.clone(), key: label.to_owned(), reason: reason.to_owned() };
        if !attributes.iter().any(|a| matches!(a, Attribute::EcParams(p) if p[..] == P256_PARAMS)) {
            return Err(unusable("not a P-256 key (CKA_EC_PARAMS is not prime256v1)"));
        }
        if !attributes.iter().any(|a| matches!(a, Attribute::Sign(true))) {
            return Err(unusable("the private key may not sign (CKA_SIGN is false)"));
        }
        Ok(key)
    }

    /// The public key belonging to `private`, as an uncompressed SEC1 point: found by the private
    /// key's `CKA_ID` and label, then by either alone.
    fn public_key(&self, session: &Session, private: ObjectHandle, label: &str) -> Result<Vec<u8>, KeyError> {
        let unusable = |reason: String| KeyError::KeyUnusable { token: self.location.clone(), key: label.to_owned(), reason };
        let id =
            session.get_attributes(private, &[AttributeType::Id]).map_err(|e| self.error("C_GetAttributeValue", e))?.into_iter().find_map(
                |a| match a {
                    Attribute::Id(id) if !id.is_empty() => Some(id),
                    _ => None,
                },
            );
        let base = [Attribute::Class(ObjectClass::PUBLIC_KEY), Attribute::KeyType(KeyType::EC)];
        let by_label = Attribute::Label(label.as_bytes().to_vec());
        let mut searches: Vec<Vec<Attribute>> = Vec::new();
        if let Some(id) = id {
            searches.push(vec![Attribute::Id(id.clone()), by_label.clone()]);
            searches.push(vec![Attribute::Id(id)]);
        }
        searches.push(vec![by_label]);
        let mut public = None;
        for search in searches {
            let template: Vec<Attribute> = base.iter().cloned().chain(search).collect();
            let found = session.find_objects(&template).map_err(|e| self.error("C_FindObjects", e))?;
            match found.as_slice() {
                [] => continue,
                [one] => {
                    public = Some(*one);
                    break;
                }
                more => return Err(unusable(format!("{} public keys match it; cannot tell which is its own", more.len()))),
            }
        }
        let public = public.ok_or_else(|| unusable("no EC public key object with its CKA_ID or label".into()))?;
        let attributes = session
            .get_attributes(public, &[AttributeType::EcParams, AttributeType::EcPoint])
            .map_err(|e| self.error("C_GetAttributeValue", e))?;
        if !attributes.iter().any(|a| matches!(a, Attribute::EcParams(p) if p[..] == P256_PARAMS)) {
            return Err(unusable("the public key is not on P-256 (CKA_EC_PARAMS)".into()));
        }
        let point = attributes
            .into_iter()
            .find_map(|a| match a {
                Attribute::EcPoint(p) => Some(p),
                _ => None,
            })
            .ok_or_else(|| unusable("the public key has no CKA_EC_POINT".into()))?;
        unwrap_ec_point(&point).map(<[u8]>::to_vec).map_err(|reason| unusable(reason.into()))
    }
}

/// `C_GetTokenInfo`, retried briefly: SoftHSM2 reads token files that another thread or process
/// may be rewriting at that moment and then fails with `CKR_GENERAL_ERROR`.
fn token_info(context: &Pkcs11, slot: Slot) -> Result<cryptoki::slot::TokenInfo, CkError> {
    let mut attempt = 0;
    loop {
        match context.get_token_info(slot) {
            Err(CkError::Pkcs11(RvError::GeneralError, _)) if attempt < 4 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(5 << attempt));
            }
            result => return result,
        }
    }
}

/// The 65-byte uncompressed point inside `CKA_EC_POINT`, which PKCS#11 defines as the DER
/// encoding of an OCTET STRING holding the point. Strict: anything else (a bare point, a
/// compressed point, trailing bytes) is refused rather than guessed at.
fn unwrap_ec_point(der: &[u8]) -> Result<&[u8], &'static str> {
    match der {
        [0x04, 0x41, point @ ..] if point.len() == 65 && point[0] == 0x04 => Ok(point),
        [0x04, 0x41, ..] => Err("CKA_EC_POINT: the OCTET STRING does not hold exactly one uncompressed 65-byte point"),
        _ => Err("CKA_EC_POINT is not a DER OCTET STRING of 65 bytes (an uncompressed P-256 point)"),
    }
}

/// The loaded and initialised module at `module`, shared by every key store in the process:
/// `C_Initialize` may be called once per process, and finalising for one key store would close
/// every other key store's sessions.
fn context(module: &Path) -> Result<Pkcs11, KeyError> {
    static MODULES: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());
    let key = module.canonicalize().unwrap_or_else(|_| module.to_owned());
    let mut modules = MODULES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, context)) = modules.iter().find(|(path, _)| *path == key) {
        return Ok(context.clone());
    }
    let failed = |reason: String| KeyError::Module { module: module.to_owned(), reason };
    let context = Pkcs11::new(module).map_err(|e| failed(format!("cannot load: {e}")))?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Already initialised by other code in this process through its own handle: the library
        // state is shared, so this context works as well.
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(failed(format!("C_Initialize: {e}"))),
    }
    if let Ok(info) = context.get_library_info() {
        tracing::debug!(module = %module.display(), library = info.library_description(), manufacturer = info.manufacturer_id(), "loaded PKCS#11 module");
    }
    modules.push((key, context.clone()));
    Ok(context)
}

/// Reads the user PIN from where the configuration says, without keeping copies around.
fn read_pin(source: &PinSource) -> Result<AuthPin, KeyError> {
    let failed = |reason: String| KeyError::Pin { from: source.to_string(), reason };
    let pin = match source {
        PinSource::File(path) => {
            let pin = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
            warn_if_readable_by_others(path);
            pin
        }
        PinSource::Env(name) => std::env::var(name).map_err(|e| failed(e.to_string()))?,
    };
    let pin = strip_newline(pin);
    if pin.is_empty() {
        return Err(failed("the PIN is empty".into()));
    }
    Ok(AuthPin::from(pin))
}

/// Drops one trailing newline (from `echo` or an editor), which is not part of the PIN; in place,
/// so no copy of the PIN is left behind.
fn strip_newline(mut pin: String) -> String {
    if pin.ends_with('\n') {
        pin.pop();
        if pin.ends_with('\r') {
            pin.pop();
        }
    }
    pin
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "PIN file is accessible to group or others");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_point_is_unwrapped_strictly() {
        let mut point = vec![0x04u8];
        point.extend_from_slice(&[7u8; 64]);
        let mut der = vec![0x04, 0x41];
        der.extend_from_slice(&point);
        assert_eq!(unwrap_ec_point(&der), Ok(&point[..]));
        assert!(unwrap_ec_point(&point).is_err(), "a bare point is refused");
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(unwrap_ec_point(&trailing).is_err());
        let mut compressed = der.clone();
        compressed[2] = 0x02;
        assert!(unwrap_ec_point(&compressed).is_err());
        assert!(unwrap_ec_point(&[]).is_err());
        assert!(unwrap_ec_point(&[0x04, 0x81, 0x41]).is_err(), "long-form length is refused");
    }

    #[test]
    fn pin_drops_one_trailing_newline_only() {
        assert_eq!(strip_newline("1234 \r\n".into()), "1234 ");
        assert_eq!(strip_newline("1234\n\n".into()), "1234\n");
        assert_eq!(strip_newline("1234".into()), "1234");
    }

    #[test]
    fn empty_or_missing_pin_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(read_pin(&PinSource::File(path)), Err(KeyError::Pin { .. })));
        let missing = read_pin(&PinSource::Env("GRIDTRUST_KEYS_TEST_UNSET_PIN".into())).unwrap_err();
        assert!(missing.to_string().contains("GRIDTRUST_KEYS_TEST_UNSET_PIN"), "{missing}");
    }
}
