//! Golden bytes for every message between roles, framed exactly as [`encode_frame`] (and so
//! `FramedWriter::send`) puts them on the wire. A failure means peers of the previous build no
//! longer understand this one: if that is intended, bump `PROTOCOL_VERSION` and re-bless with
//! `GRIDTRUST_BLESS=1 cargo test -p gridtrust-transport --test wire_golden`.
//!
//! The examples are fixed values (no signing at test time: ECDSA signatures are randomised), with
//! every field set to a non-default value and every `Option` that can nest a payload `Some`.

#[path = "../../trust/tests/golden_support/mod.rs"]
mod golden_support;

use std::fmt::Debug;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use golden_support::{
    Golden, assert_all, bytes, encode_command_example, endorsement, hash, header, records, signature, signed_checkpoint, signed_registry,
    signed_result,
};
use gridtrust_transport::{CcToHub, EdgeToHub, FramedReader, HubToCc, HubToEdge, PROTOCOL_VERSION, encode_frame};
use gridtrust_trust::SignedBatch;
use gridtrust_trust::checkpoint::EntryInLog;
use gridtrust_trust::command::{IssuerProof, PasskeyAssertion, SignedCommand};

const BLESS: &str = "GRIDTRUST_BLESS=1 cargo test -p gridtrust-transport --test wire_golden";

fn golden() -> Golden {
    Golden {
        dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        version: format!("PROTOCOL_VERSION (now {PROTOCOL_VERSION}, crates/transport/src/messages.rs)"),
        bless: BLESS,
    }
}

// The fixture name of each variant. The matches are exhaustive on purpose: a new variant does
// not compile until it is named here; name it, add its example to the list below and bless.

fn edge_to_hub_variant(m: &EdgeToHub) -> &'static str {
    match m {
        EdgeToHub::Hello { .. } => "hello",
        EdgeToHub::Batch(_) => "batch",
        EdgeToHub::CommandResult(_) => "command_result",
        EdgeToHub::Intrusion { .. } => "intrusion",
    }
}

fn hub_to_edge_variant(m: &HubToEdge) -> &'static str {
    match m {
        HubToEdge::Welcome { .. } => "welcome",
        HubToEdge::Ack { .. } => "ack",
        HubToEdge::Command { .. } => "command",
    }
}

fn cc_to_hub_variant(m: &CcToHub) -> &'static str {
    match m {
        CcToHub::Hello { .. } => "hello",
        CcToHub::Command(_) => "command",
        CcToHub::Intrusion { .. } => "intrusion",
    }
}

fn hub_to_cc_variant(m: &HubToCc) -> &'static str {
    match m {
        HubToCc::Registry(_) => "registry",
        HubToCc::Certificates(_) => "certificates",
        HubToCc::Heads(_) => "heads",
        HubToCc::Batch(_) => "batch",
        HubToCc::Checkpoint { .. } => "checkpoint",
        HubToCc::CommandResult(_) => "command_result",
    }
}

/// A signed batch carrying the records of `half` (see [`records`]).
fn batch(half: usize, batch_seq: u64, first_seq: u64, seed: u8) -> SignedBatch {
    let records = records(half, first_seq);
    SignedBatch {
        header: header(batch_seq, first_seq, records.len() as u32, seed),
        signature: Some(signature(seed.wrapping_add(1))),
        records,
    }
}

fn signed_command(issuer: IssuerProof) -> SignedCommand {
    SignedCommand { command: encode_command_example(), issuer, authorization: Some(endorsement(0x60)) }
}

fn edge_to_hub_examples() -> Vec<EdgeToHub> {
    vec![
        EdgeToHub::Hello { edge_id: "edge-feeder-7".into(), protocol: PROTOCOL_VERSION, checkpoint_size: Some(4_242) },
        EdgeToHub::Batch(batch(0, 300, 1_000_000, 0x10)),
        EdgeToHub::CommandResult(signed_result()),
        EdgeToHub::Intrusion {
            alert: "intrusion detection: 10.2.0.5:50123 -> 10.2.0.9:2404 [unknown-object] IOA 4711 never seen".into(),
            seen_at: gridtrust_model::Timestamp(1_765_000_000_987_654_321),
        },
    ]
}

fn hub_to_edge_examples() -> Vec<HubToEdge> {
    let passkey = PasskeyAssertion {
        authenticator_data: bytes(0xb0, 37),
        client_data_json: br#"{"type":"webauthn.get","challenge":"AAAA"}"#.to_vec(),
        signature: bytes(0xc0, 70),
        certificate: bytes(0xd0, 24),
    };
    vec![
        HubToEdge::Welcome { last_batch_seq: Some(299) },
        HubToEdge::Ack { batch_seq: 300 },
        HubToEdge::Command {
            command: Box::new(signed_command(IssuerProof::Passkey(passkey))),
            log: Box::new(EntryInLog {
                index: 99_999,
                inclusion: vec![hash(0xe0), hash(0xe1)],
                checkpoint: signed_checkpoint(),
                consistency: vec![hash(0xe2)],
            }),
        },
    ]
}

fn cc_to_hub_examples() -> Vec<CcToHub> {
    vec![
        CcToHub::Hello {
            cc_id: "cc-north".into(),
            protocol: PROTOCOL_VERSION,
            checkpoint_size: Some(4_000),
            positions: vec![("edge-feeder-7".into(), 299), ("edge-bay-2".into(), 12)],
        },
        CcToHub::Command(signed_command(IssuerProof::Key(endorsement(0x50)))),
        CcToHub::Intrusion {
            alert: "intrusion detection: 10.1.2.3:40000 -> 10.1.0.1:2404 [scan] 3 unknown objects".into(),
            seen_at: gridtrust_model::Timestamp(1_765_000_000_123_456_789),
        },
    ]
}

fn hub_to_cc_examples() -> Vec<HubToCc> {
    vec![
        HubToCc::Registry(signed_registry()),
        HubToCc::Certificates(vec![bytes(0x01, 20), bytes(0x31, 12)]),
        HubToCc::Heads(vec![(header(300, 1_000_000, 4, 0x10), Some(signature(0x11))), (header(12, 48, 4, 0x12), None)]),
        HubToCc::Batch(batch(1, 301, 1_000_004, 0x14)),
        HubToCc::Checkpoint {
            checkpoint: signed_checkpoint(),
            consistency: vec![hash(0xf0), hash(0xf1)],
            hub_certificate: bytes(0x41, 24),
        },
        HubToCc::CommandResult(signed_result()),
    ]
}

/// The message in `frame`, read back by the real [`FramedReader`]; the frame must be all there is.
fn decode_frame<T: DeserializeOwned>(frame: &[u8]) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut reader = FramedReader::new(frame);
        let message = reader.recv::<T>().await.map_err(|e| e.to_string())?.ok_or("no frame")?;
        match reader.recv::<T>().await {
            Ok(None) => Ok(message),
            _ => Err("bytes follow the frame".to_owned()),
        }
    })
}

/// Checks each example's frame against its fixture and decodes the fixture back to the example;
/// returns the fixture names checked and the failures.
fn check_enum<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    prefix: &str,
    enum_name: &str,
    examples: &[T],
    variant: fn(&T) -> &'static str,
) -> (Vec<String>, Vec<String>) {
    let golden = golden();
    let mut names = Vec::new();
    let mut failures = Vec::new();
    for example in examples {
        let name = format!("{prefix}_{}", variant(example));
        let title = format!("{enum_name}::{} frame", variant(example));
        let outcome = encode_frame(example)
            .map_err(|e| format!("{title} does not encode: {e}"))
            .and_then(|frame| golden.check(&name, &title, &frame))
            .and_then(|pinned| decode_frame::<T>(&pinned).map_err(|e| format!("{title}: fixture does not decode: {e}")))
            .and_then(|decoded| if &decoded == example { Ok(()) } else { Err(format!("{title}: fixture decodes to {decoded:?}")) });
        failures.extend(outcome.err());
        names.push(name);
    }
    (names, failures)
}

#[test]
fn edge_to_hub_frames_match_their_fixtures_and_decode_back() {
    assert_all(check_enum("edge_to_hub", "EdgeToHub", &edge_to_hub_examples(), edge_to_hub_variant).1);
}

#[test]
fn hub_to_edge_frames_match_their_fixtures_and_decode_back() {
    assert_all(check_enum("hub_to_edge", "HubToEdge", &hub_to_edge_examples(), hub_to_edge_variant).1);
}

#[test]
fn cc_to_hub_frames_match_their_fixtures_and_decode_back() {
    assert_all(check_enum("cc_to_hub", "CcToHub", &cc_to_hub_examples(), cc_to_hub_variant).1);
}

#[test]
fn hub_to_cc_frames_match_their_fixtures_and_decode_back() {
    assert_all(check_enum("hub_to_cc", "HubToCc", &hub_to_cc_examples(), hub_to_cc_variant).1);
}

/// No variant has two examples, and every fixture belongs to an example: removing an example (or
/// a variant) leaves its fixture behind, which fails here.
#[test]
fn each_variant_has_at_most_one_example_and_every_fixture_an_example() {
    fn names<T>(prefix: &str, examples: &[T], variant: fn(&T) -> &'static str) -> Vec<String> {
        examples.iter().map(|e| format!("{prefix}_{}", variant(e))).collect()
    }
    let checked: Vec<String> = [
        names("edge_to_hub", &edge_to_hub_examples(), edge_to_hub_variant),
        names("hub_to_edge", &hub_to_edge_examples(), hub_to_edge_variant),
        names("cc_to_hub", &cc_to_hub_examples(), cc_to_hub_variant),
        names("hub_to_cc", &hub_to_cc_examples(), hub_to_cc_variant),
    ]
    .concat();
    let mut failures: Vec<String> =
        checked.iter().enumerate().filter(|(i, n)| checked[..*i].contains(n)).map(|(_, n)| format!("two examples of {n}")).collect();
    failures.extend(golden().check_no_orphans(&checked).err());
    assert_all(failures);
}
