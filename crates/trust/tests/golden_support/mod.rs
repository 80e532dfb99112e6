//! Golden-byte fixtures shared by the golden tests of `trust` and `transport` (which includes
//! this file by path): encoded bytes are compared with a committed hex file, and written to it
//! only when `GRIDTRUST_BLESS=1` is set, so a format never changes by accident and a missing
//! fixture fails instead of being created silently.

use std::path::{Path, PathBuf};

use gridtrust_model::{
    Command, CommandAction, CommandOutcome, CommandResult, CommandValue, DoublePoint, PointId, Quality, Record, TimeQuality, Timestamp,
    Validity, Value,
};
use gridtrust_trust::checkpoint::{Checkpoint, SignedCheckpoint};
use gridtrust_trust::command::{Endorsement, SignedResult, hex};
use gridtrust_trust::evidence::Signature;
use gridtrust_trust::registry::{PointRegistry, SignedRegistry};
use gridtrust_trust::{BatchHeader, Hash};

/// The environment variable that makes the tests write their fixtures instead of checking them.
pub const BLESS_VAR: &str = "GRIDTRUST_BLESS";

/// Hex characters per fixture line.
const LINE: usize = 64;

/// Bytes shown either side of the first difference.
const CONTEXT: usize = 16;

/// A directory of fixtures and what a developer must do to change them on purpose.
pub struct Golden {
    /// Where the `.hex` files live.
    pub dir: PathBuf,
    /// The version constant(s) to bump on an intended change, with their current value.
    pub version: String,
    /// The command that re-blesses the fixtures.
    pub bless: &'static str,
}

impl Golden {
    /// Checks `bytes` against `<dir>/<file>.hex` (or writes it when blessing) and returns the
    /// bytes the fixture holds, for the caller to decode back. `title` names the format in the
    /// fixture's header and in failures.
    pub fn check(&self, file: &str, title: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let path = self.dir.join(format!("{file}.hex"));
        let rendered = self.render(title, bytes);
        if std::env::var(BLESS_VAR).is_ok_and(|v| v == "1") {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(rendered.as_str()) {
                std::fs::write(&path, &rendered).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                eprintln!("blessed {}", path.display());
            }
            return Ok(bytes.to_vec());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!("{title}: no fixture at {} ({e}). If this format is new, create it with `{}`.", path.display(), self.bless)
        })?;
        let pinned = parse_hex(&text).map_err(|e| format!("{title}: fixture {} is not hex: {e}", path.display()))?;
        if pinned != bytes {
            return Err(self.mismatch(title, &path, &pinned, bytes));
        }
        if text != rendered {
            return Err(format!(
                "{title}: bytes match {} but its header is stale (it should name {}). Re-bless with `{}`.",
                path.display(),
                self.version,
                self.bless
            ));
        }
        Ok(pinned)
    }

    fn render(&self, title: &str, bytes: &[u8]) -> String {
        let mut out =
            format!("# {title}\n# {}\n# {} bytes. Written by `{}`; do not edit by hand.\n", self.version, bytes.len(), self.bless);
        let hex = hex(bytes);
        for line in hex.as_bytes().chunks(LINE) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out
    }

    fn mismatch(&self, title: &str, path: &Path, pinned: &[u8], actual: &[u8]) -> String {
        let at = pinned.iter().zip(actual).position(|(a, b)| a != b).unwrap_or(pinned.len().min(actual.len()));
        let window = |b: &[u8]| {
            let from = at.saturating_sub(CONTEXT);
            let to = (at + CONTEXT).min(b.len());
            format!("[{from}..{to}] {}", hex(b.get(from..to).unwrap_or_default()))
        };
        format!(
            "{title}: the encoding changed at byte offset {at} (pinned {} bytes, now {} bytes)\n  pinned ({}): {}\n  now:    {}\n\
             Peers and stored evidence still speak the pinned format. If the change is intended, bump {} \
             and re-bless with `{}`, and say so in the commit message.",
            pinned.len(),
            actual.len(),
            path.display(),
            window(pinned),
            window(actual),
            self.version,
            self.bless
        )
    }

    /// Fails if the directory holds a `.hex` file no test checks (a fixture of a removed
    /// message or format would otherwise linger as if it were still pinned).
    pub fn check_no_orphans(&self, checked: &[String]) -> Result<(), String> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| format!("cannot list {}: {e}", self.dir.display()))?;
        let mut orphans: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|name| name.strip_suffix(".hex").map(str::to_owned))
            .filter(|name| !checked.contains(name))
            .collect();
        orphans.sort();
        if orphans.is_empty() { Ok(()) } else { Err(format!("fixtures no test checks in {}: {orphans:?}", self.dir.display())) }
    }
}

/// Panics with every failure at once, so one run shows all formats that changed.
pub fn assert_all(failures: Vec<String>) {
    assert!(failures.is_empty(), "{} golden check(s) failed:\n\n{}", failures.len(), failures.join("\n\n"));
}

/// The bytes of a fixture: hex digits, ignoring `#` comment lines and whitespace.
fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> =
        text.lines().filter(|l| !l.starts_with('#')).flat_map(|l| l.bytes()).filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
            u8::from_str_radix(s, 16).map_err(|e| format!("`{s}`: {e}"))
        })
        .collect()
}

// Fixed values for the examples: no signing at test time (ECDSA signatures are randomised), so
// signatures, hashes and certificates are counted bytes, distinct per use.

/// `len` bytes counting up from `seed`: fixed, distinct per use, and easy to spot in a dump.
pub fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
}

/// A hash of counted bytes.
pub fn hash(seed: u8) -> Hash {
    let mut h = [0; 32];
    h.copy_from_slice(&bytes(seed, 32));
    h
}

/// A point id from a reference known to be valid.
pub fn point(reference: &str) -> PointId {
    PointId::new(reference).expect("a valid reference")
}

/// A fixed ECDSA-sized signature naming the certificate `hash(seed)`.
pub fn signature(seed: u8) -> Signature {
    Signature { algorithm: "ecdsa-p256-sha256".into(), signer: hash(seed), bytes: bytes(seed.wrapping_add(0x40), 71) }
}

/// A fixed signature with a fixed certificate.
pub fn endorsement(seed: u8) -> Endorsement {
    Endorsement { signature: signature(seed), certificate: bytes(seed.wrapping_add(0x80), 24) }
}

/// A command with every field set.
pub fn command() -> Command {
    Command {
        id: 0x0123_4567_89ab,
        nonce: [0xa5; 16],
        point: point("LD0/XCBR1.Pos.ctlVal"),
        edge: "edge-feeder-7".into(),
        action: CommandAction::Execute,
        value: CommandValue::Double(DoublePoint::Off),
        issuer: "cc-north".into(),
        role: "operator".into(),
        issued_at: Timestamp(1_700_000_002_000_000_000),
        expires_at: Timestamp(1_700_000_012_000_000_000),
    }
}

/// A batch header with every field set.
pub fn header(batch_seq: u64, first_seq: u64, count: u32, seed: u8) -> BatchHeader {
    BatchHeader {
        edge_id: "edge-feeder-7".into(),
        batch_seq,
        first_seq,
        count,
        merkle_root: hash(seed),
        prev_header_hash: hash(seed.wrapping_add(0x20)),
        closed_at: Timestamp(1_700_000_001_000_000_007),
    }
}

/// A refused command's result, with every field set.
pub fn command_result() -> CommandResult {
    CommandResult {
        command_id: 0x0123_4567_89ab,
        edge: "edge-feeder-7".into(),
        action: CommandAction::Execute,
        outcome: CommandOutcome::Refused { by: "edge-feeder-7".into(), reason: "interlock: earth switch closed".into() },
        at: Timestamp(1_700_000_003_000_000_000),
    }
}

/// [`command_result`] as the edge signs it (with a fixed signature).
pub fn signed_result() -> SignedResult {
    SignedResult {
        command_digest: hash(0x70),
        result: postcard::to_stdvec(&command_result()).expect("a command result encodes"),
        signer: endorsement(0x71),
    }
}

/// A hub checkpoint with a fixed signature.
pub fn signed_checkpoint() -> SignedCheckpoint {
    SignedCheckpoint {
        checkpoint: Checkpoint {
            log_id: "hub-central".into(),
            tree_size: 100_000,
            root: hash(0x90),
            timestamp: Timestamp(1_700_000_004_000_000_000),
        },
        signature: signature(0x91),
    }
}

/// A registry of two grants with a fixed signature.
pub fn signed_registry() -> SignedRegistry {
    let mut registry = PointRegistry::new(17, Timestamp(1_700_000_005_000_000_000));
    registry.grant("LD0/GGIO1", "edge-feeder-7").expect("a valid grant");
    registry.grant("LD0/XCBR1", "edge-bay-2").expect("a valid grant");
    SignedRegistry { registry: registry.encode().expect("the example registry encodes"), signer: endorsement(0xa0) }
}

/// [`command`] as the issuer encodes and signs it.
pub fn encode_command_example() -> Vec<u8> {
    gridtrust_trust::command::encode_command(&command()).expect("the example command encodes")
}

/// Records that between them carry every kind of [`Value`]: `half` 0 the first four, 1 the rest.
pub fn records(half: usize, first_seq: u64) -> Vec<Record> {
    let values = [
        [
            Value::Single(true),
            Value::Double(DoublePoint::Indeterminate),
            Value::Step { position: -17, transient: true },
            Value::Bitstring(0xdead_beef),
        ],
        [
            Value::Normalized(-12_345),
            Value::Scaled(-70_000),
            Value::Float(-1.5e-3),
            Value::Counter { value: -42, sequence: 29, carry: true, adjusted: true },
        ],
    ];
    values[half]
        .iter()
        .zip(first_seq..)
        .map(|(&value, seq)| Record {
            seq,
            point: point(&format!("LD0/GGIO{}.Ind{seq}.stVal", half + 1)),
            value,
            quality: Quality::GOOD.with_validity(Validity::Questionable).with_old_data(true).with_substituted(true),
            source_time: Some((
                Timestamp(1_700_000_000_123_456_789 + seq as i64),
                TimeQuality { invalid: true, not_synchronized: true, substituted: true, leap_seconds_known: true, accuracy_bits: 10 },
            )),
            received_at: Timestamp(1_700_000_000_223_456_789 + seq as i64),
        })
        .collect()
}
