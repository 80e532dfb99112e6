//! Signed commands and results: what lets the edge refuse a command that SCADA did not issue,
//! that the hub did not authorise, that has expired or that was seen before.
//!
//! The path: the cc encodes the [`Command`] once and signs those bytes ([`SignedCommand::issue`]),
//! or a person signs the command digest with their passkey ([`SignedCommand::from_passkey`], see
//! [`crate::webauthn`]); the hub checks policy and countersigns the command digest together with the issuer's
//! signature ([`SignedCommand::authorize`]); the edge checks both signatures (and, with the PKI,
//! both certificates and roles), the expiry and its replay cache, executes, and signs each
//! result bound to the command digest ([`SignedResult`]).
//!
//! The signed bytes travel with the signature and are decoded only after they verified, so no
//! re-encoding has to reproduce them. Command encoding: postcard 1.0 of [`Command`] (a stable,
//! specified wire format), refused on decode unless it re-encodes to the same bytes.
//!
//! Every signature covers a context string first, so a command signature can never be replayed
//! as an authorisation, a result or a batch header.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use gridtrust_model::{Command, CommandResult};

use crate::encoding::{EncodeError, postcard_bytes};
use crate::evidence::Signature;
use crate::merkle::Hash;
use crate::signing::{SignError, Signer, VerifyError};
use crate::webauthn::{self, RelyingParty, WebAuthnError};

/// Context of the issuer's (cc's) signature.
pub const COMMAND_CONTEXT: &[u8] = b"gridtrust/v1/command\0";
/// Context of the hub's countersignature.
pub const AUTHORIZATION_CONTEXT: &[u8] = b"gridtrust/v1/authorization\0";
/// Context of a result signature (edge, or hub when the hub refuses).
pub const RESULT_CONTEXT: &[u8] = b"gridtrust/v1/command-result\0";

/// Longest encoded command accepted; a command is a few dozen bytes.
const MAX_COMMAND_BYTES: usize = 1024;

/// Why a signed command or result does not hold up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("command bytes do not decode: {0}")]
    Decode(String),
    #[error("command bytes are not in canonical form")]
    NotCanonical,
    #[error("issuer signature does not verify: {0}")]
    IssuerSignature(VerifyError),
    #[error("issuer's passkey assertion does not hold: {0}")]
    Assertion(WebAuthnError),
    #[error("command carries no hub authorisation")]
    Unauthorized,
    #[error("hub authorisation does not verify: {0}")]
    AuthorizationSignature(VerifyError),
    #[error("result signature does not verify: {0}")]
    ResultSignature(VerifyError),
    #[error("signature names certificate {named} but carries {carried}")]
    CertificateMismatch { named: String, carried: String },
}

/// A signature and the certificate (DER) that vouches for its key, carried together so that any
/// receiver, including an offline auditor, can check it without a directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endorsement {
    pub signature: Signature,
    pub certificate: Vec<u8>,
}

impl Endorsement {
    pub(crate) fn create(signer: &dyn Signer, certificate: &[u8], message: &[u8]) -> Result<Self, SignError> {
        let id = crate::signing::certificate_id(certificate);
        Ok(Self { signature: Signature::create(signer, id, message)?, certificate: certificate.to_vec() })
    }

    /// Checks the signature names the carried certificate and verifies with `public_key` (taken
    /// from that certificate once the PKI has validated it).
    pub(crate) fn verify(&self, public_key: &[u8], message: &[u8]) -> Result<(), VerifyError> {
        self.signature.verify(public_key, message)
    }

    pub(crate) fn check_names_certificate(&self) -> Result<(), CommandError> {
        let carried = crate::signing::certificate_id(&self.certificate);
        if carried == self.signature.signer {
            Ok(())
        } else {
            Err(CommandError::CertificateMismatch { named: hex(&self.signature.signer), carried: hex(&carried) })
        }
    }
}

/// A person's WebAuthn assertion over a command digest, with the operator certificate that
/// binds the passkey's public key to the person and their role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyAssertion {
    pub authenticator_data: Vec<u8>,
    pub client_data_json: Vec<u8>,
    /// DER `Ecdsa-Sig-Value`, as the authenticator returned it.
    pub signature: Vec<u8>,
    /// The person's operator certificate (DER).
    pub certificate: Vec<u8>,
}

/// How the issuer vouches for a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IssuerProof {
    /// A signature with the key of the issuer's certificate over [`COMMAND_CONTEXT`] + command:
    /// a control-centre connector (or, as an explicit fallback, the hub's console key).
    Key(Endorsement),
    /// A person's passkey assertion whose challenge is the command digest.
    Passkey(PasskeyAssertion),
}

impl IssuerProof {
    /// The certificate (DER) that vouches for the issuer's key.
    pub fn certificate(&self) -> &[u8] {
        match self {
            Self::Key(e) => &e.certificate,
            Self::Passkey(p) => &p.certificate,
        }
    }

    /// Checks the proof over what it vouches for: a key's signature over `signed` (context and
    /// bytes), or a passkey assertion whose challenge is `challenge`, with the public key of the
    /// issuer certificate (validated by the caller) and, for an assertion, for `relying_party`.
    pub(crate) fn verify(
        &self,
        signed: &[u8],
        challenge: &Hash,
        issuer_public_key: &[u8],
        relying_party: &RelyingParty,
    ) -> Result<(), CommandError> {
        match self {
            Self::Key(e) => {
                e.check_names_certificate()?;
                e.verify(issuer_public_key, signed).map_err(CommandError::IssuerSignature)
            }
            Self::Passkey(p) => {
                let assertion = webauthn::Assertion {
                    authenticator_data: &p.authenticator_data,
                    client_data_json: &p.client_data_json,
                    signature: &p.signature,
                };
                webauthn::verify(&assertion, relying_party, challenge, issuer_public_key).map(|_| ()).map_err(CommandError::Assertion)
            }
        }
    }

    /// The signature the hub's authorisation covers.
    fn signature_bytes(&self) -> &[u8] {
        match self {
            Self::Key(e) => &e.signature.bytes,
            Self::Passkey(p) => &p.signature,
        }
    }
}

/// A command as it travels cc → hub → edge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCommand {
    /// The encoded [`Command`], exactly as the issuer signed it.
    pub command: Vec<u8>,
    /// The issuer's signature or passkey assertion over `command`.
    pub issuer: IssuerProof,
    /// The hub's countersignature over [`AUTHORIZATION_CONTEXT`] + digest + issuer signature;
    /// `None` until the hub has checked policy.
    pub authorization: Option<Endorsement>,
}

/// Encodes a command into the bytes that are signed.
pub fn encode_command(command: &Command) -> Result<Vec<u8>, EncodeError> {
    postcard_bytes(command, "command")
}

/// Decodes command bytes strictly (size-bounded, canonical).
pub fn decode_command(bytes: &[u8]) -> Result<Command, CommandError> {
    if bytes.len() > MAX_COMMAND_BYTES {
        return Err(CommandError::Decode(format!("{} bytes exceed {MAX_COMMAND_BYTES}", bytes.len())));
    }
    let command: Command = postcard::from_bytes(bytes).map_err(|e| CommandError::Decode(e.to_string()))?;
    if encode_command(&command).map_err(|e| CommandError::Decode(e.to_string()))? != bytes {
        return Err(CommandError::NotCanonical);
    }
    Ok(command)
}

/// `context` followed by `parts`: what a signature covers.
pub(crate) fn with_context(context: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut out = context.to_vec();
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

impl SignedCommand {
    /// The cc signs `command` with its key; `certificate` is the cc's certificate (DER).
    pub fn issue(command: &Command, signer: &dyn Signer, certificate: &[u8]) -> Result<Self, SignError> {
        let bytes = encode_command(command)?;
        let issuer = Endorsement::create(signer, certificate, &with_context(COMMAND_CONTEXT, &[&bytes]))?;
        Ok(Self { command: bytes, issuer: IssuerProof::Key(issuer), authorization: None })
    }

    /// A command a person signed with their passkey: `command` are the encoded bytes whose
    /// [`digest`](Self::digest) was the assertion's challenge.
    pub fn from_passkey(command: Vec<u8>, assertion: PasskeyAssertion) -> Self {
        Self { command, issuer: IssuerProof::Passkey(assertion), authorization: None }
    }

    /// The transparency-log entry of this command as it stands (with the hub's authorisation
    /// once given): the hub appends it and the edge checks its inclusion, from this one encoding.
    pub fn log_entry(&self) -> Result<crate::checkpoint::LogEntry, EncodeError> {
        postcard_bytes(self, "signed command").map(crate::checkpoint::LogEntry::Command)
    }

    /// SHA-256 of the command bytes: what results and log entries refer to.
    pub fn digest(&self) -> Hash {
        Sha256::digest(&self.command).into()
    }

    /// The command, decoded strictly.
    pub fn command(&self) -> Result<Command, CommandError> {
        decode_command(&self.command)
    }

    /// Checks the issuer's signature or passkey assertion with the public key of the issuer
    /// certificate (validated by the caller: chain, validity, revocation, role); an assertion
    /// must be for `relying_party` and have the command digest as its challenge.
    pub fn verify_issuer(&self, issuer_public_key: &[u8], relying_party: &RelyingParty) -> Result<(), CommandError> {
        self.issuer.verify(&with_context(COMMAND_CONTEXT, &[&self.command]), &self.digest(), issuer_public_key, relying_party)
    }

    fn authorization_input(&self) -> Vec<u8> {
        with_context(AUTHORIZATION_CONTEXT, &[&self.digest(), self.issuer.signature_bytes()])
    }

    /// The hub countersigns after its policy check.
    pub fn authorize(&mut self, signer: &dyn Signer, certificate: &[u8]) -> Result<(), SignError> {
        self.authorization = Some(Endorsement::create(signer, certificate, &self.authorization_input())?);
        Ok(())
    }

    /// Checks the hub's countersignature with the public key of the hub certificate.
    pub fn verify_authorization(&self, hub_public_key: &[u8]) -> Result<(), CommandError> {
        let auth = self.authorization.as_ref().ok_or(CommandError::Unauthorized)?;
        auth.check_names_certificate()?;
        auth.verify(hub_public_key, &self.authorization_input()).map_err(CommandError::AuthorizationSignature)
    }
}

/// A command stage's result, signed by whoever produced it (the edge after the device answered,
/// or the hub or edge when refusing) and bound to the command it answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedResult {
    /// Digest of the [`SignedCommand::command`] bytes this answers.
    pub command_digest: Hash,
    /// The encoded [`CommandResult`].
    pub result: Vec<u8>,
    pub signer: Endorsement,
}

impl SignedResult {
    fn input(command_digest: &Hash, result: &[u8]) -> Vec<u8> {
        with_context(RESULT_CONTEXT, &[command_digest, result])
    }

    /// Signs `result` as the answer to the command with `command_digest`.
    pub fn sign(result: &CommandResult, command_digest: Hash, signer: &dyn Signer, certificate: &[u8]) -> Result<Self, SignError> {
        let bytes = postcard_bytes(result, "command result")?;
        let endorsement = Endorsement::create(signer, certificate, &Self::input(&command_digest, &bytes))?;
        Ok(Self { command_digest, result: bytes, signer: endorsement })
    }

    /// Checks the signature with the public key of the signer's certificate.
    pub fn verify(&self, public_key: &[u8]) -> Result<(), CommandError> {
        self.signer.check_names_certificate()?;
        self.signer.verify(public_key, &Self::input(&self.command_digest, &self.result)).map_err(CommandError::ResultSignature)
    }

    /// The transparency-log entry of this result.
    pub fn log_entry(&self) -> Result<crate::checkpoint::LogEntry, EncodeError> {
        postcard_bytes(self, "signed result").map(crate::checkpoint::LogEntry::CommandResult)
    }

    /// The result, decoded strictly.
    pub fn result(&self) -> Result<CommandResult, CommandError> {
        if self.result.len() > MAX_COMMAND_BYTES {
            return Err(CommandError::Decode("result too long".into()));
        }
        let r: CommandResult = postcard::from_bytes(&self.result).map_err(|e| CommandError::Decode(e.to_string()))?;
        if postcard::to_stdvec(&r).ok().as_deref() != Some(&self.result[..]) {
            return Err(CommandError::NotCanonical);
        }
        Ok(r)
    }
}

/// Lower-case hex, for error messages and logs that name certificates.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::EphemeralSigner;
    use gridtrust_model::{CommandAction, CommandOutcome, CommandValue, DoublePoint, PointId, Timestamp};

    fn command() -> Command {
        Command {
            id: 7,
            nonce: [3; 16],
            point: PointId::new("E1/XCBR1.Pos.ctlVal").unwrap(),
            edge: "edge-1".into(),
            action: CommandAction::Select,
            value: CommandValue::Double(DoublePoint::Off),
            issuer: "cc-1".into(),
            role: "OPERATOR".into(),
            issued_at: Timestamp(1),
            expires_at: Timestamp(2),
        }
    }

    #[test]
    fn issue_authorize_verify() {
        let (cc, hub) = (EphemeralSigner::generate(), EphemeralSigner::generate());
        let mut signed = SignedCommand::issue(&command(), &cc, b"cc cert").unwrap();
        signed.verify_issuer(&cc.public_key(), &RelyingParty::default()).unwrap();
        assert_eq!(signed.verify_authorization(&hub.public_key()), Err(CommandError::Unauthorized));
        signed.authorize(&hub, b"hub cert").unwrap();
        signed.verify_authorization(&hub.public_key()).unwrap();
        assert_eq!(signed.command().unwrap(), command());
        // The cc's key cannot stand in for the hub's.
        assert!(matches!(signed.verify_authorization(&cc.public_key()), Err(CommandError::AuthorizationSignature(_))));
    }

    #[test]
    fn altered_command_or_swapped_certificate_is_refused() {
        let cc = EphemeralSigner::generate();
        let mut signed = SignedCommand::issue(&command(), &cc, b"cc cert").unwrap();
        let mut altered = command();
        altered.value = CommandValue::Double(DoublePoint::On);
        signed.command = encode_command(&altered).unwrap();
        let rp = RelyingParty::default();
        assert!(matches!(signed.verify_issuer(&cc.public_key(), &rp), Err(CommandError::IssuerSignature(_))));
        let mut swapped = SignedCommand::issue(&command(), &cc, b"cc cert").unwrap();
        if let IssuerProof::Key(e) = &mut swapped.issuer {
            e.certificate = b"another cert".to_vec();
        }
        assert!(matches!(swapped.verify_issuer(&cc.public_key(), &rp), Err(CommandError::CertificateMismatch { .. })));
    }

    #[test]
    fn a_result_is_bound_to_its_command() {
        let edge = EphemeralSigner::generate();
        let result = CommandResult {
            command_id: 7,
            edge: "edge-1".into(),
            action: CommandAction::Select,
            outcome: CommandOutcome::Confirmed,
            at: Timestamp(5),
        };
        let signed = SignedResult::sign(&result, [1; 32], &edge, b"edge cert").unwrap();
        signed.verify(&edge.public_key()).unwrap();
        assert_eq!(signed.result().unwrap(), result);
        let mut moved = signed.clone();
        moved.command_digest = [2; 32];
        assert!(matches!(moved.verify(&edge.public_key()), Err(CommandError::ResultSignature(_))));
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = decode_command(&bytes);
            let r = SignedResult { command_digest: [0; 32], result: bytes, signer: Endorsement { signature: Signature { algorithm: String::new(), signer: [0; 32], bytes: vec![] }, certificate: vec![] } };
            let _ = r.result();
        }
    }
}
