//! The evidence that lets every receiver check field data end to end.
//!
//! - [`merkle`]: RFC 9162 Merkle tree hashing (leaf and node prefixes), roots and inclusion
//!   proofs, so one signature can cover a whole batch of records and any single record can be
//!   proven part of it.
//! - [`evidence`]: the batch header the edge signs, its canonical encoding, the hash chain that
//!   links each header to the previous one, and the checks a receiver runs on a batch.
//! - [`chain`]: where a header stands in its edge's chain (follows, gap, fork, restart of a
//!   lost queue…), the one decision hub, cc and auditors share.
//! - [`command`]: signed commands (issuer, hub authorisation) and signed results.
//! - [`issue`]: the one place new commands and decisions get their random id and nonce, failing
//!   closed without randomness.
//! - [`signing`]: the ECDSA P-256 signer interface that key stores implement, and verification.
//! - [`registry`]: the signed point registry that binds every point to the one edge that may
//!   report it and be commanded for it.
//! - [`webauthn`]: verification of a person's passkey assertion, which signs a command digest.
//! - [`checkpoint`]: signed checkpoints of the hub's transparency log, the log entry encoding,
//!   and the tracker with which connectors and auditors refuse a rewritten or forked history.
//!
//! Signing itself (HSM via PKCS#11, software keys for the demo) plugs into the
//! [`evidence::Signature`] slot of each header.

// Decoders of untrusted bytes (batches, checkpoints, proofs, signatures, passkey assertions):
// no panics, no silent truncation (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::cast_possible_truncation))]

pub mod chain;
pub mod checkpoint;
pub mod command;
pub mod decision;
pub mod encoding;
pub mod evidence;
pub mod issue;
pub mod merkle;
pub mod registry;
pub mod signing;
pub mod webauthn;

pub use chain::ChainStep;
pub use encoding::EncodeError;
pub use evidence::{BatchHeader, EvidenceError, SignedBatch, VerifiedBatch};
pub use merkle::Hash;
