//! Signed operator decisions on incidents (acknowledge, carry out a recommended action): the same
//! proof of who decided as a command's ([`IssuerProof`]: a person's passkey assertion, or the
//! hub console's key where the operator enabled that fallback), over its own context, so a
//! decision can never pass for a command and no command for a decision.
//!
//! Encoding: postcard 1.0 of [`Decision`], refused on decode unless it re-encodes to the same
//! bytes. The hub appends every decision it accepts to the transparency log
//! ([`SignedDecision::log_entry`], kind 7).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use gridtrust_model::Decision;

use crate::command::{CommandError, Endorsement, IssuerProof, PasskeyAssertion, with_context};
use crate::encoding::{EncodeError, postcard_bytes};
use crate::merkle::Hash;
use crate::signing::{SignError, Signer};
use crate::webauthn::RelyingParty;

/// Context of a decision's signature, and of its passkey challenge.
pub const DECISION_CONTEXT: &[u8] = b"gridtrust/v1/decision\0";

/// Longest encoded decision accepted; a decision is a few hundred bytes.
const MAX_DECISION_BYTES: usize = 2048;

/// Encodes a decision into the bytes that are signed.
pub fn encode_decision(decision: &Decision) -> Result<Vec<u8>, EncodeError> {
    postcard_bytes(decision, "decision")
}

/// Decodes decision bytes strictly (size-bounded, canonical).
pub fn decode_decision(bytes: &[u8]) -> Result<Decision, CommandError> {
    if bytes.len() > MAX_DECISION_BYTES {
        return Err(CommandError::Decode(format!("{} bytes exceed {MAX_DECISION_BYTES}", bytes.len())));
    }
    let decision: Decision = postcard::from_bytes(bytes).map_err(|e| CommandError::Decode(e.to_string()))?;
    if encode_decision(&decision).map_err(|e| CommandError::Decode(e.to_string()))? != bytes {
        return Err(CommandError::NotCanonical);
    }
    Ok(decision)
}

/// A decision with its proof of who decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDecision {
    /// The encoded [`Decision`], exactly as signed.
    pub decision: Vec<u8>,
    pub issuer: IssuerProof,
}

/// What a person's passkey signs for `decision` (the encoded bytes): SHA-256 over the context and
/// the bytes, never equal to a command's challenge (the digest of the bare command bytes).
pub fn challenge(decision: &[u8]) -> Hash {
    Sha256::digest(with_context(DECISION_CONTEXT, &[decision])).into()
}

impl SignedDecision {
    /// `decision` (the encoded bytes) signed with a key (the hub console's, as an explicit
    /// fallback); `certificate` is its DER.
    pub fn sign(decision: Vec<u8>, signer: &dyn Signer, certificate: &[u8]) -> Result<Self, SignError> {
        let issuer = Endorsement::create(signer, certificate, &with_context(DECISION_CONTEXT, &[&decision]))?;
        Ok(Self { decision, issuer: IssuerProof::Key(issuer) })
    }

    /// A decision a person signed with their passkey: `decision` are the encoded bytes whose
    /// [`challenge`] the assertion answers.
    pub fn from_passkey(decision: Vec<u8>, assertion: PasskeyAssertion) -> Self {
        Self { decision, issuer: IssuerProof::Passkey(assertion) }
    }

    /// The decision, decoded strictly.
    pub fn decision(&self) -> Result<Decision, CommandError> {
        decode_decision(&self.decision)
    }

    /// Checks the signature or passkey assertion with the public key of the issuer certificate
    /// (validated by the caller: chain, validity, revocation, role, and that it names the person
    /// the decision names).
    pub fn verify_issuer(&self, issuer_public_key: &[u8], relying_party: &RelyingParty) -> Result<(), CommandError> {
        let signed = with_context(DECISION_CONTEXT, &[&self.decision]);
        self.issuer.verify(&signed, &challenge(&self.decision), issuer_public_key, relying_party)
    }

    /// The transparency-log entry of this decision.
    pub fn log_entry(&self) -> Result<crate::checkpoint::LogEntry, EncodeError> {
        postcard_bytes(self, "signed decision").map(crate::checkpoint::LogEntry::Decision)
    }
}

#[cfg(test)]
mod tests {
    use gridtrust_model::{Action, DecisionStep, Timestamp};

    use super::*;
    use crate::signing::EphemeralSigner;

    fn decision(step: DecisionStep) -> Decision {
        Decision {
            incident: 17,
            alarms: 3,
            step,
            person: "olivia".into(),
            role: "OPERATOR".into(),
            at: Timestamp(1_765_000_000_000_000_000),
            nonce: [7; 16],
        }
    }

    fn rp() -> RelyingParty {
        RelyingParty::new("localhost", vec!["https://localhost".into()])
    }

    #[test]
    fn a_signed_decision_verifies_and_any_changed_byte_does_not() {
        let signer = EphemeralSigner::generate();
        let cert = b"console certificate".to_vec();
        let step = DecisionStep::Execute(Action::IsolateEdge { edge: "edge-1".into() });
        let signed = SignedDecision::sign(encode_decision(&decision(step.clone())).unwrap(), &signer, &cert).unwrap();
        signed.verify_issuer(&signer.public_key(), &rp()).unwrap();
        assert_eq!(signed.decision().unwrap().step, step);

        let mut changed = signed.clone();
        let last = changed.decision.len() - 1;
        changed.decision[last] ^= 1;
        assert!(changed.verify_issuer(&signer.public_key(), &rp()).is_err());
    }

    #[test]
    fn a_decision_signature_is_not_a_command_signature() {
        let signer = EphemeralSigner::generate();
        let signed = SignedDecision::sign(encode_decision(&decision(DecisionStep::Acknowledge)).unwrap(), &signer, b"cert").unwrap();
        let IssuerProof::Key(endorsement) = &signed.issuer else { unreachable!("signed with a key") };
        assert!(endorsement.verify(&signer.public_key(), &with_context(crate::command::COMMAND_CONTEXT, &[&signed.decision])).is_err());
        let bare: Hash = Sha256::digest(&signed.decision).into();
        assert_ne!(challenge(&signed.decision), bare);
    }

    #[test]
    fn bytes_that_are_not_a_canonical_decision_are_refused() {
        let bytes = encode_decision(&decision(DecisionStep::Acknowledge)).unwrap();
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_decision(&longer).is_err());
        assert!(decode_decision(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_decision(&vec![0; MAX_DECISION_BYTES + 1]).is_err());
    }
}
