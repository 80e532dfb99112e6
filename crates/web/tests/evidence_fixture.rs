//! Evidence documents for the browser's WebCrypto check (web/src/evidence.ts), made with the
//! real signing, Merkle and encoding code of gridtrust-trust and gridtrust-model, in the shape
//! of `GET /api/evidence`: valid ones for every proof shape, and tampered ones that name the
//! check steps that must fail. Each document is first checked here with the Rust verifiers, so
//! the TypeScript is tested against the same bytes the Rust code accepts or refuses.
//!
//! The test writes the fixture to `$GRIDTRUST_EVIDENCE_FIXTURE_OUT` (or the target's tmp dir);
//! `.ci/checks/40-web-unit.sh` runs vitest on that fresh file. The copy committed in
//! web/unit/fixtures/ (for running vitest alone) is checked here too.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use gridtrust_model::{PointId, Quality, Record, TimeQuality, Timestamp, Value};
use gridtrust_trust::checkpoint::{CHECKPOINT_SIGNING_CONTEXT, Checkpoint, LogEntry, SignedCheckpoint};
use gridtrust_trust::evidence::{BatchHeader, HEADER_SIGNING_CONTEXT, encode_sealed, header_signing_input};
use gridtrust_trust::merkle::{self, Hash};
use gridtrust_trust::signing::{SignError, Signer, certificate_id};
use serde_json::{Value as Json, json};

/// A P-256 key with a self-signed certificate, signing through the trust crate's interface.
struct Identity {
    pair: ring::signature::EcdsaKeyPair,
    certificate_der: Vec<u8>,
    spki_der: Vec<u8>,
}

impl Identity {
    fn new(name: &str) -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap().self_signed(&key).unwrap();
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(alg, &key.serialize_der(), &ring::rand::SystemRandom::new()).unwrap();
        use rcgen::PublicKeyData as _;
        Self { pair, certificate_der: cert.der().to_vec(), spki_der: key.subject_public_key_info() }
    }
    fn id(&self) -> Hash {
        certificate_id(&self.certificate_der)
    }
}

impl Signer for Identity {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.pair
            .sign(&ring::rand::SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| SignError::KeyStore("ring".into()))
    }
    fn public_key(&self) -> Vec<u8> {
        use ring::signature::KeyPair as _;
        self.pair.public_key().as_ref().to_vec()
    }
    fn describe(&self) -> String {
        "fixture key".into()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn record(seq: u64, point: &str, value: Value) -> Record {
    Record {
        seq,
        point: PointId::new(point).unwrap(),
        value,
        quality: Quality::GOOD,
        source_time: Some((Timestamp(1_763_700_000_000_000_000 + seq as i64 * 1_000_000), TimeQuality::default())),
        received_at: Timestamp(1_763_700_000_000_000_000 + seq as i64 * 1_000_000 + 5_000),
    }
}

const POINTS: [&str; 4] = ["F1LD0/MMXU1.TotW.mag.f", "F1LD0/XCBR1.Pos.stVal", "F2LD0/MMXU1.A.phsA.cVal.mag.f", "F2LD0/MMTR1.TotWh.actVal"];

fn value_for(i: u64) -> Value {
    match i % 4 {
        0 => Value::Float(1234.5 + i as f32),
        1 => Value::Double(gridtrust_model::DoublePoint::from_code(2)),
        2 => Value::Scaled(-(i as i32) * 7),
        _ => Value::Counter { value: 100_000 + i as i32, sequence: 3, carry: false, adjusted: false },
    }
}

/// One signed batch with its records.
struct Batch {
    header: BatchHeader,
    signature: Vec<u8>,
    records: Vec<Record>,
    sealed: Vec<u8>,
}

fn batches(edge: &Identity) -> Vec<Batch> {
    let mut out: Vec<Batch> = Vec::new();
    let mut seq = 1;
    let mut prev = [0u8; 32];
    for (batch_seq, size) in [(1u64, 1u64), (2, 5), (3, 7), (4, 16)] {
        let records: Vec<Record> = (seq..seq + size).map(|s| record(s, POINTS[(s % 4) as usize], value_for(s))).collect();
        seq += size;
        let header = BatchHeader::for_records("edge-1", batch_seq, &records, prev, Timestamp(1_763_700_001_000_000_000 + batch_seq as i64));
        prev = header.hash();
        let signature = header.sign(edge, edge.id()).unwrap();
        let sealed = encode_sealed(&header, Some(&signature));
        out.push(Batch { header, signature: signature.bytes, records, sealed });
    }
    out
}

/// The hub's log: configuration and certificates around the batch headers, and a checkpoint.
struct Log {
    entries: Vec<Vec<u8>>,
    checkpoint: Checkpoint,
    signed: SignedCheckpoint,
}

fn log(batches: &[Batch], edge: &Identity, hub: &Identity) -> Log {
    let mut entries = vec![
        LogEntry::ConfigChange { key: "hub.start".into(), value: "fixture".into() }.encode(),
        LogEntry::Certificate(edge.certificate_der.clone()).encode(),
    ];
    for (i, b) in batches.iter().enumerate() {
        entries.push(LogEntry::BatchHeader(b.sealed.clone()).encode());
        entries.extend((0..i).map(|k| LogEntry::ConfigChange { key: format!("policy.k{i}{k}"), value: "1".into() }.encode()));
    }
    let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
    let checkpoint = Checkpoint {
        log_id: "hub-1".into(),
        tree_size: leaves.len() as u64,
        root: merkle::root_from_leaf_hashes(&leaves),
        timestamp: Timestamp(1_763_700_002_000_000_000),
    };
    let signed = SignedCheckpoint::sign(checkpoint.clone(), hub, hub.id()).unwrap();
    Log { entries, checkpoint, signed }
}

/// The `/api/evidence` document for record `index` of `batch`.
fn evidence(batch: &Batch, index: usize, log: &Log, edge: &Identity, hub: &Identity) -> Json {
    let leaves: Vec<Hash> = batch.records.iter().map(|r| merkle::leaf_hash(&r.encode_canonical())).collect();
    let path = merkle::inclusion_proof(&leaves, index).unwrap();
    let log_leaf = LogEntry::BatchHeader(batch.sealed.clone()).encode();
    let log_index = log.entries.iter().position(|e| *e == log_leaf).unwrap();
    let log_leaves: Vec<Hash> = log.entries.iter().map(|e| merkle::leaf_hash(e)).collect();
    let log_path = merkle::inclusion_proof(&log_leaves, log_index).unwrap();
    let r = &batch.records[index];
    json!({
        "point": r.point.as_str(), "edge": "edge-1", "seq": r.seq,
        "record": {"canonical_hex": hex(&r.encode_canonical())},
        "batch": {
            "batch_seq": batch.header.batch_seq, "header_hex": hex(&batch.header.encode_canonical()),
            "root_hex": hex(&batch.header.merkle_root), "record_count": batch.header.count, "first_seq": batch.header.first_seq,
            "signature_hex": hex(&batch.signature), "signing_input_hex": hex(&header_signing_input(&batch.header)),
        },
        "record_proof": {"leaf_index": index, "tree_size": leaves.len(), "path_hex": path.iter().map(|h| hex(h)).collect::<Vec<_>>()},
        "signer": {"certificate_der_b64": B64.encode(&edge.certificate_der), "spki_der_b64": B64.encode(&edge.spki_der), "subject": "CN=edge-1", "valid": true},
        "log": {
            "leaf_hex": hex(&log_leaf), "leaf_index": log_index, "tree_size": log.entries.len(),
            "path_hex": log_path.iter().map(|h| hex(h)).collect::<Vec<_>>(),
            "checkpoint": {
                "size": log.checkpoint.tree_size, "root_hex": hex(&log.checkpoint.root), "timestamp": "2025-11-21T04:40:02Z",
                "signed_hex": hex(&log.checkpoint.signing_input()), "signature_hex": hex(&log.signed.signature.bytes),
                "hub_spki_der_b64": B64.encode(&hub.spki_der),
            },
        },
        "hub_verdict": {"status": "verified", "reason": null},
    })
}

fn flip_hex(s: &str, byte: usize) -> String {
    let mut b = unhex(s);
    b[byte] ^= 0x01;
    hex(&b)
}

/// The document with one thing changed, and the browser steps that must then fail.
fn tampered(valid: &Json, edge: &Identity, other: &Identity, other_batch: &Batch) -> Vec<(&'static str, Json, Vec<&'static str>)> {
    let with = |f: &dyn Fn(&mut Json)| {
        let mut d = valid.clone();
        f(&mut d);
        d
    };
    let s = |d: &Json, p: &str| d.pointer(p).unwrap().as_str().unwrap().to_owned();
    let record_len = unhex(&s(valid, "/record/canonical_hex")).len();
    let id_len = usize::from(unhex(&s(valid, "/batch/header_hex"))[1]);
    let root_at = 2 + id_len + 20;
    vec![
        (
            "record received-at altered",
            with(&|d| d["record"]["canonical_hex"] = json!(flip_hex(&s(d, "/record/canonical_hex"), record_len - 1))),
            vec!["record-inclusion"],
        ),
        (
            "record proof element altered",
            with(&|d| d["record_proof"]["path_hex"][0] = json!(flip_hex(&s(d, "/record_proof/path_hex/0"), 31))),
            vec!["record-inclusion"],
        ),
        (
            "record proof element appended",
            with(&|d| d["record_proof"]["path_hex"].as_array_mut().unwrap().push(json!(hex(&[7u8; 32])))),
            vec!["record-inclusion"],
        ),
        (
            "record proof element dropped",
            with(&|d| {
                d["record_proof"]["path_hex"].as_array_mut().unwrap().pop();
            }),
            vec!["record-inclusion"],
        ),
        (
            "leaf index moved",
            with(&|d| d["record_proof"]["leaf_index"] = json!(d["record_proof"]["leaf_index"].as_u64().unwrap() ^ 1)),
            vec!["record-inclusion", "header"],
        ),
        (
            "header root replaced by the proof's root for other bytes",
            with(&|d| {
                let h = flip_hex(&s(d, "/batch/header_hex"), root_at);
                d["batch"]["header_hex"] = json!(h);
            }),
            vec!["header", "signature", "log-entry"],
        ),
        (
            "batch root claimed differently",
            with(&|d| d["batch"]["root_hex"] = json!(flip_hex(&s(d, "/batch/root_hex"), 0))),
            vec!["record-inclusion", "header"],
        ),
        (
            "edge signature altered",
            with(&|d| d["batch"]["signature_hex"] = json!(flip_hex(&s(d, "/batch/signature_hex"), 10))),
            vec!["signature", "log-entry"],
        ),
        (
            "signer key of another identity",
            with(&|d| d["signer"]["spki_der_b64"] = json!(B64.encode(&other.spki_der))),
            vec!["signature", "signer-certificate"],
        ),
        (
            "signer certificate of another identity",
            with(&|d| d["signer"]["certificate_der_b64"] = json!(B64.encode(&other.certificate_der))),
            vec!["signer-certificate", "log-entry"],
        ),
        (
            "log proof element altered",
            with(&|d| d["log"]["path_hex"][1] = json!(flip_hex(&s(d, "/log/path_hex/1"), 5))),
            vec!["log-inclusion"],
        ),
        (
            "log leaf of another batch",
            with(&|d| d["log"]["leaf_hex"] = json!(hex(&LogEntry::BatchHeader(other_batch.sealed.clone()).encode()))),
            vec!["log-entry", "log-inclusion"],
        ),
        (
            "checkpoint root claimed differently",
            with(&|d| d["log"]["checkpoint"]["root_hex"] = json!(flip_hex(&s(d, "/log/checkpoint/root_hex"), 3))),
            vec!["log-inclusion", "checkpoint"],
        ),
        (
            "checkpoint signature altered",
            with(&|d| d["log"]["checkpoint"]["signature_hex"] = json!(flip_hex(&s(d, "/log/checkpoint/signature_hex"), 40))),
            vec!["checkpoint-signature"],
        ),
        (
            "checkpoint checked with the edge key instead of the hub key",
            with(&|d| d["log"]["checkpoint"]["hub_spki_der_b64"] = json!(B64.encode(&edge.spki_der))),
            vec!["checkpoint-signature"],
        ),
        (
            "checkpoint bytes without the signing context",
            with(&|d| {
                let b = unhex(&s(d, "/log/checkpoint/signed_hex"));
                d["log"]["checkpoint"]["signed_hex"] = json!(hex(&b[CHECKPOINT_SIGNING_CONTEXT.len()..]));
            }),
            vec!["checkpoint", "checkpoint-signature"],
        ),
        ("record hex malformed", with(&|d| d["record"]["canonical_hex"] = json!("0g")), vec!["record", "record-inclusion"]),
    ]
}

/// The same checks as the browser, with the Rust implementation: Ok only for a document whose
/// every link holds.
fn rust_verifies(d: &Json) -> Result<(), String> {
    let s = |p: &str| d.pointer(p).and_then(Json::as_str).map(str::to_owned).ok_or(format!("{p} missing"));
    let h = |p: &str| -> Result<Vec<u8>, String> {
        let x = s(p)?;
        if x.len() % 2 != 0 || !x.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("{p} not hex"));
        }
        Ok(unhex(&x))
    };
    let n = |p: &str| d.pointer(p).and_then(Json::as_u64).ok_or(format!("{p} missing"));
    let proof = |p: &str| -> Result<Vec<Hash>, String> {
        let list = d.pointer(p).and_then(Json::as_array).ok_or("no path")?;
        let raw: Vec<Vec<u8>> = list.iter().map(|x| unhex(x.as_str().unwrap_or("zz"))).collect();
        merkle::parse_proof(&raw).map_err(|e| e.to_string())
    };
    let rec = Record::decode_canonical(&h("/record/canonical_hex")?).map_err(|e| e.to_string())?;
    if rec.point.as_str() != s("/point")? || rec.seq != n("/seq")? {
        return Err("record is another point or seq".into());
    }
    let header = BatchHeader::decode_canonical(&h("/batch/header_hex")?).map_err(|e| e.to_string())?;
    if hex(&header.merkle_root) != s("/batch/root_hex")? {
        return Err("root differs from header".into());
    }
    if n("/record_proof/leaf_index")? != rec.seq - header.first_seq || n("/record_proof/tree_size")? != u64::from(header.count) {
        return Err("proof position differs from header".into());
    }
    merkle::verify_inclusion(
        &merkle::leaf_hash(&rec.encode_canonical()),
        n("/record_proof/leaf_index")?,
        n("/record_proof/tree_size")?,
        &proof("/record_proof/path_hex")?,
        &header.merkle_root,
    )
    .map_err(|e| e.to_string())?;
    let spki = B64.decode(s("/signer/spki_der_b64")?).map_err(|e| e.to_string())?;
    let cert = B64.decode(s("/signer/certificate_der_b64")?).map_err(|e| e.to_string())?;
    if !cert.windows(spki.len()).any(|w| w == spki) {
        return Err("key not in certificate".into());
    }
    let sig = gridtrust_trust::evidence::Signature {
        algorithm: "ecdsa-p256-sha256".into(),
        signer: certificate_id(&cert),
        bytes: h("/batch/signature_hex")?,
    };
    header.verify_signature(&sig, &spki[spki.len() - 65..]).map_err(|e| e.to_string())?;
    if h("/batch/signing_input_hex")? != header_signing_input(&header) || !header_signing_input(&header).starts_with(HEADER_SIGNING_CONTEXT)
    {
        return Err("signing input".into());
    }
    let leaf = h("/log/leaf_hex")?;
    if leaf != LogEntry::BatchHeader(encode_sealed(&header, Some(&sig))).encode() {
        return Err("log entry is not this sealed header".into());
    }
    let signed = h("/log/checkpoint/signed_hex")?;
    let canonical = signed.strip_prefix(CHECKPOINT_SIGNING_CONTEXT).ok_or("no checkpoint context")?;
    let cp = Checkpoint::decode_canonical(canonical).map_err(|e| e.to_string())?;
    if hex(&cp.root) != s("/log/checkpoint/root_hex")? || cp.tree_size != n("/log/checkpoint/size")? || n("/log/tree_size")? != cp.tree_size
    {
        return Err("checkpoint fields".into());
    }
    merkle::verify_inclusion(&merkle::leaf_hash(&leaf), n("/log/leaf_index")?, cp.tree_size, &proof("/log/path_hex")?, &cp.root)
        .map_err(|e| e.to_string())?;
    let hub_spki = B64.decode(s("/log/checkpoint/hub_spki_der_b64")?).map_err(|e| e.to_string())?;
    let signed_cp = SignedCheckpoint {
        checkpoint: cp,
        signature: gridtrust_trust::evidence::Signature {
            algorithm: "ecdsa-p256-sha256".into(),
            signer: [0; 32],
            bytes: h("/log/checkpoint/signature_hex")?,
        },
    };
    signed_cp.verify(&hub_spki[hub_spki.len() - 65..]).map_err(|e| e.to_string())
}

fn check_cases(fixture: &Json) -> usize {
    let cases = fixture["cases"].as_array().unwrap();
    for case in cases {
        let outcome = rust_verifies(&case["doc"]);
        match case["expect"].as_str().unwrap() {
            "verified" => assert_eq!(outcome, Ok(()), "{}", case["name"]),
            _ => assert!(outcome.is_err(), "tampered case {} verifies in Rust", case["name"]),
        }
    }
    cases.len()
}

fn build_fixture() -> Json {
    let (edge, hub, other) = (Identity::new("edge-1"), Identity::new("hub-1"), Identity::new("intruder"));
    let batches = batches(&edge);
    let log = log(&batches, &edge, &hub);
    let mut cases = Vec::new();
    for (b, index) in [(0, 0), (1, 4), (2, 2), (2, 6), (3, 9), (3, 15)] {
        let doc = evidence(&batches[b], index, &log, &edge, &hub);
        cases.push(json!({"name": format!("batch of {} records, record {index}", batches[b].records.len()), "expect": "verified", "failing_steps": [], "doc": doc}));
    }
    let base = evidence(&batches[2], 3, &log, &edge, &hub);
    for (name, doc, failing) in tampered(&base, &edge, &other, &batches[1]) {
        cases.push(json!({"name": name, "expect": "failed", "failing_steps": failing, "doc": doc}));
    }
    let mut pending = base.clone();
    pending["log"] = Json::Null;
    json!({
        "generated_by": "crates/web/tests/evidence_fixture.rs with gridtrust-trust and gridtrust-model",
        "cases": cases,
        "pending_log": pending,
    })
}

#[test]
fn fresh_fixture_holds_in_rust_and_is_written_for_the_browser_tests() {
    let fixture = build_fixture();
    let n = check_cases(&fixture);
    assert!(n >= 20);
    let out = std::env::var_os("GRIDTRUST_EVIDENCE_FIXTURE_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("evidence-fixture.json"));
    std::fs::write(&out, serde_json::to_vec_pretty(&fixture).unwrap()).unwrap();
    println!("evidence fixture ({n} cases) written to {}", out.display());
}

#[test]
fn committed_fixture_holds_in_rust() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/unit/fixtures/evidence.json");
    let fixture: Json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(check_cases(&fixture) >= 20);
}
