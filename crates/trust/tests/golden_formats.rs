//! Golden bytes for what the chain of trust signs and logs: the canonical record of every value
//! kind (the Merkle leaves), the batch header (canonical, as signed, sealed with its signature),
//! checkpoints, every kind of log entry, commands and results, operator decisions, the point
//! registry, and the
//! signing contexts. The messages between roles are pinned in `crates/transport/tests/wire_golden.rs`.
//!
//! These bytes are under signatures and in the transparency log, so a change breaks every
//! signature and log proof already made. If a change is intended, bump the format's version and
//! re-bless with `GRIDTRUST_BLESS=1 cargo test -p gridtrust-trust --test golden_formats`.

mod golden_support;

use std::path::Path;

use golden_support::{
    Golden, assert_all, bytes, command, command_result, encode_command_example, endorsement, header, records, signature, signed_checkpoint,
    signed_registry, signed_result,
};
use gridtrust_model::{
    Action, Command, CommandAction, CommandResult, CommandValue, Decision, DecisionStep, DoublePoint, Record, Timestamp, Value,
};
use gridtrust_trust::BatchHeader;
use gridtrust_trust::checkpoint::{CHECKPOINT_SIGNING_CONTEXT, Checkpoint, FORMAT_VERSION, LogEntry, SignedCheckpoint};
use gridtrust_trust::command::{
    AUTHORIZATION_CONTEXT, COMMAND_CONTEXT, IssuerProof, RESULT_CONTEXT, SignedCommand, decode_command, encode_command,
};
use gridtrust_trust::decision::{DECISION_CONTEXT, SignedDecision, decode_decision, encode_decision};
use gridtrust_trust::evidence::{HEADER_SIGNING_CONTEXT, HEADER_VERSION, decode_sealed, encode_sealed, header_signing_input};
use gridtrust_trust::registry::{PointRegistry, REGISTRY_CONTEXT, SignedRegistry};

const BLESS: &str = "GRIDTRUST_BLESS=1 cargo test -p gridtrust-trust --test golden_formats";

/// Reads a fixture's bytes back and compares them with the value they came from.
type DecodesBack = Box<dyn Fn(&[u8]) -> Result<(), String>>;

/// One pinned byte string: its fixture, the format version to bump, and how to read it back.
struct Case {
    file: String,
    title: String,
    version: String,
    bytes: Vec<u8>,
    decodes: DecodesBack,
}

impl Case {
    fn new(file: &str, title: &str, version: &str, bytes: Vec<u8>, decodes: impl Fn(&[u8]) -> Result<(), String> + 'static) -> Self {
        Self { file: file.to_owned(), title: title.to_owned(), version: version.to_owned(), bytes, decodes: Box::new(decodes) }
    }
}

/// `Ok` if `decoded` is `expected`.
fn same<T: PartialEq + std::fmt::Debug, E: std::fmt::Display>(decoded: Result<T, E>, expected: &T) -> Result<(), String> {
    match decoded {
        Ok(d) if &d == expected => Ok(()),
        Ok(d) => Err(format!("decodes to {d:?}")),
        Err(e) => Err(format!("does not decode: {e}")),
    }
}

fn fixtures_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn run(cases: Vec<Case>) {
    let failures = cases
        .into_iter()
        .filter_map(|case| {
            let golden = Golden { dir: fixtures_dir(), version: case.version.clone(), bless: BLESS };
            golden
                .check(&case.file, &case.title, &case.bytes)
                .and_then(|pinned| (case.decodes)(&pinned).map_err(|e| format!("{}: the fixture {e}", case.title)))
                .err()
        })
        .collect();
    assert_all(failures);
}

const COMMAND: &str = "the v1 of COMMAND_CONTEXT and RESULT_CONTEXT (crates/trust/src/command.rs)";
const DECISION: &str = "the v1 of DECISION_CONTEXT (crates/trust/src/decision.rs)";
const REGISTRY: &str = "the v1 of REGISTRY_CONTEXT (crates/trust/src/registry.rs)";

/// A version constant, its value and where it is defined, for fixture headers and failures.
fn version(name: &str, value: u8, file: &str) -> String {
    format!("{name} (now {value}, {file})")
}

fn batch_header_cases() -> Vec<Case> {
    let v = version("HEADER_VERSION", HEADER_VERSION, "crates/trust/src/evidence.rs");
    let h = header(300, 1_000_000, 4, 0x10);
    let sig = signature(0x11);
    vec![
        Case::new("batch_header_canonical", "BatchHeader::encode_canonical", &v, h.encode_canonical(), {
            let h = h.clone();
            move |b| same(BatchHeader::decode_canonical(b), &h)
        }),
        Case::new("batch_header_signing_input", "header_signing_input", &v, header_signing_input(&h), {
            let h = h.clone();
            move |b| {
                let canonical = b.strip_prefix(HEADER_SIGNING_CONTEXT).ok_or("does not start with HEADER_SIGNING_CONTEXT")?;
                same(BatchHeader::decode_canonical(canonical), &h)
            }
        }),
        Case::new("batch_header_sealed_signed", "encode_sealed with a signature", &v, encode_sealed(&h, Some(&sig)), {
            let expected = (h.clone(), Some(sig.clone()));
            move |b| same(decode_sealed(b), &expected)
        }),
        Case::new("batch_header_sealed_unsigned", "encode_sealed without a signature", &v, encode_sealed(&h, None), {
            let expected = (h.clone(), None);
            move |b| same(decode_sealed(b), &expected)
        }),
    ]
}

fn checkpoint_cases() -> Vec<Case> {
    let v = version("FORMAT_VERSION", FORMAT_VERSION, "crates/trust/src/checkpoint.rs");
    let signed = signed_checkpoint();
    let c = signed.checkpoint.clone();
    vec![
        Case::new("checkpoint_canonical", "Checkpoint::encode_canonical", &v, c.encode_canonical(), {
            let c = c.clone();
            move |b| same(Checkpoint::decode_canonical(b), &c)
        }),
        Case::new("checkpoint_signing_input", "Checkpoint::signing_input", &v, c.signing_input(), {
            let c = c.clone();
            move |b| {
                let canonical = b.strip_prefix(CHECKPOINT_SIGNING_CONTEXT).ok_or("does not start with CHECKPOINT_SIGNING_CONTEXT")?;
                same(Checkpoint::decode_canonical(canonical), &c)
            }
        }),
        Case::new("checkpoint_signed", "SignedCheckpoint::encode", &v, signed.encode(), move |b| {
            same(SignedCheckpoint::decode(b), &signed)
        }),
    ]
}

/// The fixture name of each value kind; exhaustive, like `log_entry_name`.
fn value_name(value: &Value) -> &'static str {
    match value {
        Value::Single(_) => "single",
        Value::Double(_) => "double",
        Value::Step { .. } => "step",
        Value::Bitstring(_) => "bitstring",
        Value::Normalized(_) => "normalized",
        Value::Scaled(_) => "scaled",
        Value::Float(_) => "float",
        Value::Counter { .. } => "counter",
    }
}

/// The canonical record of every value kind: the Merkle leaves a batch signature covers. The
/// model's own golden test documents two kinds byte by byte; this pins all of them.
fn record_cases() -> Vec<Case> {
    let v = version("canonical::VERSION", gridtrust_model::canonical::VERSION, "crates/model/src/canonical.rs");
    records(0, 1_000_000)
        .into_iter()
        .chain(records(1, 1_000_004))
        .map(|record| {
            let name = value_name(&record.value);
            Case::new(
                &format!("record_canonical_{name}"),
                &format!("Record::encode_canonical ({name})"),
                &v,
                record.encode_canonical(),
                move |b| same(Record::decode_canonical(b), &record),
            )
        })
        .collect()
}

/// The fixture name of each log entry kind; exhaustive, so a new kind does not compile until it
/// is named here (then add its example to `log_entry_cases` and bless).
fn log_entry_name(entry: &LogEntry) -> &'static str {
    match entry {
        LogEntry::BatchHeader(_) => "batch_header",
        LogEntry::Command(_) => "command",
        LogEntry::CommandResult(_) => "command_result",
        LogEntry::ConfigChange { .. } => "config_change",
        LogEntry::Certificate(_) => "certificate",
        LogEntry::PointRegistry(_) => "point_registry",
        LogEntry::Decision(_) => "decision",
    }
}

fn log_entry_cases() -> Vec<Case> {
    let v = version("FORMAT_VERSION", FORMAT_VERSION, "crates/trust/src/checkpoint.rs");
    let command = SignedCommand {
        command: encode_command_example(),
        issuer: IssuerProof::Key(endorsement(0x50)),
        authorization: Some(endorsement(0x60)),
    };
    let entries = [
        LogEntry::BatchHeader(encode_sealed(&header(300, 1_000_000, 4, 0x10), Some(&signature(0x11)))),
        command.log_entry().expect("the example command encodes"),
        signed_result().log_entry().expect("the example result encodes"),
        LogEntry::ConfigChange { key: "policy.rate_limit".into(), value: "20 per minute".into() },
        LogEntry::Certificate(bytes(0x01, 40)),
        LogEntry::PointRegistry(signed_registry().to_bytes().expect("the example registry encodes")),
        signed_decision().log_entry().expect("the example decision encodes"),
    ];
    entries
        .into_iter()
        .map(|entry| {
            let name = log_entry_name(&entry);
            let title = format!("LogEntry::{name} encoding");
            Case::new(&format!("log_entry_{name}"), &title, &v, entry.encode(), move |b| same(LogEntry::decode(b), &entry))
        })
        .collect()
}

/// The fixture name of each command value kind; exhaustive, like `log_entry_name`.
fn command_value_name(value: &CommandValue) -> &'static str {
    match value {
        CommandValue::Single(_) => "single",
        CommandValue::Double(_) => "double",
        CommandValue::Step { .. } => "step",
        CommandValue::SetpointNormalized(_) => "setpoint_normalized",
        CommandValue::SetpointScaled(_) => "setpoint_scaled",
        CommandValue::SetpointFloat(_) => "setpoint_float",
    }
}

fn command_cases() -> Vec<Case> {
    let v = COMMAND.to_owned();
    let values = [
        (CommandValue::Single(true), CommandAction::Select),
        (CommandValue::Double(DoublePoint::On), CommandAction::Execute),
        (CommandValue::Step { raise: true }, CommandAction::Cancel),
        (CommandValue::SetpointNormalized(-12_345), CommandAction::Execute),
        (CommandValue::SetpointScaled(-300), CommandAction::Execute),
        (CommandValue::SetpointFloat(49.95), CommandAction::Execute),
    ];
    let mut cases: Vec<Case> = values
        .into_iter()
        .map(|(value, action)| {
            let c = Command { value, action, ..command() };
            let name = command_value_name(&value);
            Case::new(
                &format!("command_{name}"),
                &format!("encode_command ({name})"),
                &v,
                encode_command(&c).expect("the example command encodes"),
                move |b| same(decode_command(b), &c),
            )
        })
        .collect();
    let result = command_result();
    cases.push(Case::new("command_result", "CommandResult as SignedResult carries it", &v, signed_result().result, move |b| {
        same(postcard::from_bytes::<CommandResult>(b), &result)
    }));
    cases
}

fn decision_example() -> Decision {
    Decision {
        incident: 4_242,
        alarms: 3,
        step: DecisionStep::Execute(Action::Reroute { tie: "TS1".into(), feeder: "F1".into() }),
        person: "olivia".into(),
        role: "OPERATOR".into(),
        at: Timestamp(1_765_000_000_123_456_789),
        nonce: [0x42; 16],
    }
}

fn signed_decision() -> SignedDecision {
    SignedDecision {
        decision: encode_decision(&decision_example()).expect("the example decision encodes"),
        issuer: IssuerProof::Key(endorsement(0x70)),
    }
}

fn decision_cases() -> Vec<Case> {
    let v = DECISION.to_owned();
    let decision = decision_example();
    let acknowledge = Decision { step: DecisionStep::Acknowledge, ..decision_example() };
    vec![
        Case::new("decision_execute", "encode_decision (execute a recommended action)", &v, signed_decision().decision, move |b| {
            same(decode_decision(b), &decision)
        }),
        Case::new("decision_acknowledge", "encode_decision (acknowledge)", &v, encode_decision(&acknowledge).unwrap(), move |b| {
            same(decode_decision(b), &acknowledge)
        }),
    ]
}

fn registry_cases() -> Vec<Case> {
    let v = REGISTRY.to_owned();
    let signed = signed_registry();
    let registry = PointRegistry::decode(&signed.registry).expect("the example registry is canonical");
    vec![
        Case::new("point_registry", "PointRegistry::encode", &v, registry.encode().expect("the example registry encodes"), move |b| {
            same(PointRegistry::decode(b), &registry)
        }),
        Case::new("signed_registry", "SignedRegistry::to_bytes", &v, signed.to_bytes().expect("the example registry encodes"), move |b| {
            same(SignedRegistry::from_bytes(b), &signed)
        }),
    ]
}

/// Every signature starts with one of these; changing one invalidates every signature of its kind.
fn signing_context_cases() -> Vec<Case> {
    let contexts = [
        HEADER_SIGNING_CONTEXT,
        CHECKPOINT_SIGNING_CONTEXT,
        COMMAND_CONTEXT,
        AUTHORIZATION_CONTEXT,
        RESULT_CONTEXT,
        REGISTRY_CONTEXT,
        DECISION_CONTEXT,
    ];
    let joined = contexts.concat();
    vec![Case::new(
        "signing_contexts",
        "the signing contexts, in order header, checkpoint, command, authorization, result, registry, decision",
        "the v1 in each context string",
        joined,
        move |b| {
            let split: Vec<&[u8]> = b.split_inclusive(|&c| c == 0).collect();
            if split == contexts { Ok(()) } else { Err(format!("splits into {split:?}")) }
        },
    )]
}

#[test]
fn canonical_record_of_every_value_kind_matches_its_fixture_and_decodes_back() {
    run(record_cases());
}

#[test]
fn batch_header_bytes_match_their_fixtures_and_decode_back() {
    run(batch_header_cases());
}

#[test]
fn checkpoint_bytes_match_their_fixtures_and_decode_back() {
    run(checkpoint_cases());
}

#[test]
fn every_log_entry_kind_matches_its_fixture_and_decodes_back() {
    run(log_entry_cases());
}

#[test]
fn command_and_result_bytes_match_their_fixtures_and_decode_back() {
    run(command_cases());
}

#[test]
fn decision_bytes_match_their_fixtures_and_decode_back() {
    run(decision_cases());
}

#[test]
fn registry_bytes_match_their_fixtures_and_decode_back() {
    run(registry_cases());
}

#[test]
fn signing_contexts_match_their_fixture() {
    run(signing_context_cases());
}

/// A fixture no case checks (of a removed format or kind) fails, so nothing looks pinned that is not.
#[test]
fn every_fixture_is_checked_and_no_case_is_pinned_twice() {
    let names: Vec<String> = [
        record_cases(),
        batch_header_cases(),
        checkpoint_cases(),
        log_entry_cases(),
        command_cases(),
        decision_cases(),
        registry_cases(),
        signing_context_cases(),
    ]
    .into_iter()
    .flatten()
    .map(|c| c.file)
    .collect();
    let mut failures: Vec<String> =
        names.iter().enumerate().filter(|(i, n)| names[..*i].contains(n)).map(|(_, n)| format!("two cases write {n}")).collect();
    let golden = Golden { dir: fixtures_dir(), version: String::new(), bless: BLESS };
    failures.extend(golden.check_no_orphans(&names).err());
    assert_all(failures);
}
