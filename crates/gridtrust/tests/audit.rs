//! Offline verification (issue 3): evidence exported from a real chain's hub data directory
//! verifies with only the CA certificate and CRL, and fails, naming what, when a record was
//! altered at rest (attack 10), an export was tampered with, a certificate is not the CA's, a
//! batch is missing, or two checkpoints are not of one history.
//!
//! The chain runs once for all tests (a few seconds), then every role is stopped so the data
//! directory can be opened as an auditor's export would open it. A second hub with the same
//! identity but a fresh data directory provides a checkpoint of another history.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use gridtrust::audit::{
    Auditor, ChainEvidence, CheckpointEvidence, ExportError, HexBytes, HubData, OldCheckpoint, ValueEvidence, VerifyError, to_json,
};
use gridtrust::chain::{Chain, ChainOptions, IDENTITIES};
use gridtrust_hub::{Hub, HubConfig};
use gridtrust_model::{PointId, Record, Timestamp, Value};
use gridtrust_store::HubStoreReader;
use gridtrust_trust::checkpoint::{CheckpointError, SignedCheckpoint};
use gridtrust_trust::evidence::decode_sealed;
use gridtrust_trust::merkle::ProofError;
use proptest::prelude::*;

/// What the one chain run left behind.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    hub_data: PathBuf,
    /// The cc's `checkpoint.bin`, copied while the chain ran.
    early_checkpoint: PathBuf,
    /// A hub with the same identity and a fresh data directory, started twice.
    other_hub_data: PathBuf,
    /// A float measurement point with stored records.
    point: PointId,
}

impl Fixture {
    fn ca(&self) -> PathBuf {
        self.root.join("pki/ca.crt.pem")
    }
    fn crl(&self) -> PathBuf {
        self.root.join("pki/crl.pem")
    }
    fn auditor(&self) -> Auditor {
        Auditor::from_files(&self.ca(), &self.crl()).unwrap()
    }
}

static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();

/// The transparency log opens for writing only (one handle at a time): exports take turns.
static EXPORTS: Mutex<()> = Mutex::new(());

fn exports() -> MutexGuard<'static, ()> {
    EXPORTS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The fixture, built by the first test that asks; if that fails, every test fails at once
/// with the reason instead of running the chain again.
fn fixture() -> &'static Fixture {
    let built = FIXTURE.get_or_init(|| {
        std::panic::catch_unwind(build_fixture).map_err(|p| {
            p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned())).unwrap_or_default()
        })
    });
    match built {
        Ok(f) => f,
        Err(reason) => panic!("the chain fixture failed: {reason}"),
    }
}

fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_checkpoint(path: &Path) -> Option<SignedCheckpoint> {
    SignedCheckpoint::decode(&std::fs::read(path).ok()?).ok()
}

/// Starts a hub from `config`, retrying while the previous run's files are still being closed.
async fn start_hub(config: &Path) -> Hub {
    let config = HubConfig::load(config).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match Hub::start(&config).await {
            Ok(hub) => return hub,
            Err(e) if Instant::now() < deadline => {
                eprintln!("hub not restartable yet ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("hub does not start: {e}"),
        }
    }
}

/// Waits (async) until the hub in `data` has written a checkpoint newer than `after`.
async fn next_checkpoint(data: &Path, after: Option<&SignedCheckpoint>) -> SignedCheckpoint {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(c) = read_checkpoint(&data.join("checkpoint.bin"))
            && after.is_none_or(|a| c.checkpoint.timestamp > a.checkpoint.timestamp)
        {
            return c;
        }
        assert!(Instant::now() < deadline, "no new checkpoint in {}", data.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `f` on a runtime of its own and drops the runtime afterwards, and with it every task
/// the roles left (connection tasks end only when their peer goes): their files are closed when
/// this returns.
fn on_own_runtime<T>(f: impl std::future::Future<Output = T>) -> T {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let out = rt.block_on(f);
    rt.shutdown_timeout(Duration::from_secs(10));
    out
}

fn build_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let hub_data = root.join("hub-data");
    let early_checkpoint = root.join("early-checkpoint.bin");
    let other_hub_data = root.join("hub-other-data");
    let point = on_own_runtime(async {
        let chain = Chain::start(&ChainOptions::for_tests(&root)).await.unwrap();
        // The connector's first accepted checkpoint, as an auditor would keep it.
        let cc_checkpoint = root.join("cc-data/checkpoint.bin");
        let deadline = Instant::now() + Duration::from_secs(20);
        let early = loop {
            if let Some(c) = read_checkpoint(&cc_checkpoint)
                && c.checkpoint.tree_size > 2
            {
                break c;
            }
            assert!(Instant::now() < deadline, "the cc accepted no checkpoint");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        std::fs::write(&early_checkpoint, early.encode()).unwrap();
        // More batches and at least one later checkpoint.
        let later = next_checkpoint(&hub_data, Some(&early)).await;
        assert!(later.checkpoint.tree_size > early.checkpoint.tree_size);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let point = chain
            .hub
            .store()
            .latest_all()
            .unwrap()
            .into_iter()
            .find(|r| matches!(r.value, Value::Float(_)))
            .expect("a float measurement reached the hub")
            .point;
        chain.shutdown().await;
        point
    });

    // Another history under the same hub identity: two starts on a fresh data directory.
    let hub_toml = std::fs::read_to_string(root.join("hub.toml")).unwrap();
    let other = hub_toml
        .replace("data_dir = \"hub-data\"", "data_dir = \"hub-other-data\"")
        .replace("checkpoint_interval_ms = 1000", "checkpoint_interval_ms = 100");
    std::fs::write(root.join("hub-other.toml"), other).unwrap();
    let mut last = None;
    for _ in 0..2 {
        last = Some(on_own_runtime(async {
            let hub = start_hub(&root.join("hub-other.toml")).await;
            let c = next_checkpoint(&other_hub_data, last.as_ref()).await;
            hub.shutdown();
            c
        }));
    }
    // Each start logs the hub's start and its point registry.
    assert_eq!(last.unwrap().checkpoint.tree_size, 4);

    // The main hub once more, so that its latest checkpoint covers every logged header and is
    // newer than the other history's.
    on_own_runtime(async {
        let before = read_checkpoint(&hub_data.join("checkpoint.bin"));
        let hub = start_hub(&root.join("hub.toml")).await;
        next_checkpoint(&hub_data, before.as_ref()).await;
        hub.shutdown();
    });
    wait_until("the hub store to close", Duration::from_secs(15), || HubStoreReader::open(hub_data.join("hub.redb")).ok());
    Fixture { _dir: dir, root, hub_data, early_checkpoint, other_hub_data, point }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn export_value(hub_data: &Path, point: &PointId, at: Timestamp) -> ValueEvidence {
    let _turn = exports();
    let exported = HubData::open(hub_data).unwrap().export_value(point, at).unwrap();
    exported.evidence
}

fn export_checkpoint(hub_data: &Path, from_size: Option<u64>) -> CheckpointEvidence {
    let _turn = exports();
    HubData::open(hub_data).unwrap().export_checkpoint(from_size).unwrap().evidence
}

fn export_chain(hub_data: &Path) -> ChainEvidence {
    let _turn = exports();
    HubData::open(hub_data).unwrap().export_chain("edge-1").unwrap().evidence
}

/// Rewrites, directly in the redb file, the value of the newest series record of `point`, as
/// an attacker with disk access would: the record still decodes, only its value differs.
fn alter_newest_record_at_rest(hub_redb: &Path, point: &PointId) -> Record {
    use redb::ReadableTable;
    const SERIES: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("hub_series");
    let db = redb::Database::open(hub_redb).unwrap();
    let txn = db.begin_write().unwrap();
    let original = {
        let mut table = txn.open_table(SERIES).unwrap();
        let mut prefix = vec![u8::try_from(point.as_str().len()).unwrap()];
        prefix.extend_from_slice(point.as_str().as_bytes());
        let (key, bytes) = {
            let mut range = table.range(prefix.as_slice()..).unwrap();
            let mut last = None;
            for e in range.by_ref() {
                let (k, v) = e.unwrap();
                if !k.value().starts_with(&prefix) {
                    break;
                }
                last = Some((k.value().to_vec(), v.value().to_vec()));
            }
            last.expect("the point has series records")
        };
        let original = Record::decode_canonical(&bytes).unwrap();
        let mut altered = original.clone();
        altered.value = match original.value {
            Value::Float(v) => Value::Float(v + 1000.0),
            other => panic!("expected a float, found {other:?}"),
        };
        table.insert(key.as_slice(), altered.encode_canonical().as_slice()).unwrap();
        original
    };
    txn.commit().unwrap();
    original
}

#[test]
fn a_stored_value_exports_and_verifies_with_its_log_inclusion() {
    let f = fixture();
    let ev = export_value(&f.hub_data, &f.point, Timestamp(i64::MAX));
    let ok = f.auditor().value(&ev, true).unwrap();
    assert_eq!(ok.record.point, f.point);
    assert_eq!(ok.header.edge_id, "edge-1");
    assert_eq!(ok.signer.name, "edge-1");
    let (index, checkpoint) = ok.logged.clone().expect("logged");
    assert!(index < checkpoint.checkpoint.tree_size);
    assert_eq!(checkpoint.checkpoint.log_id, "hub");
    println!("OK value: {ok}");

    // The value in force just before the newest one.
    let before = Timestamp(gridtrust_store::series_time(&ok.record).0 - 1);
    let older = f.auditor().value(&export_value(&f.hub_data, &f.point, before), true).unwrap();
    assert!(older.record.seq < ok.record.seq, "{} vs {}", older.record.seq, ok.record.seq);
    let reader = HubStoreReader::open(f.hub_data.join("hub.redb")).unwrap();
    assert_eq!(reader.record_at(&f.point, Timestamp(i64::MIN)).unwrap(), None);
}

#[test]
fn an_edge_chain_exports_and_verifies_without_gaps() {
    let f = fixture();
    let ev = export_chain(&f.hub_data);
    assert_eq!(ev.certificates.len(), 1);
    let ok = f.auditor().chain(&ev).unwrap();
    assert_eq!(ok.edge_id, "edge-1");
    assert!(ok.batches >= 3, "{ok}");
    assert_eq!(ok.last_batch - ok.first_batch + 1, ok.batches as u64);
    assert!(ok.restarts.is_empty(), "{ok}");
    println!("OK chain: {ok}");
}

#[test]
fn a_chain_with_a_missing_or_altered_batch_names_it() {
    let f = fixture();
    let ev = export_chain(&f.hub_data);
    let auditor = f.auditor();

    // The edge's chain starts at its first batch's number (0, or the time its queue was made).
    let first = decode_sealed(&ev.headers[0].0).unwrap().0.batch_seq;
    let mut gap = ev.clone();
    gap.headers.remove(2);
    gap.headers.remove(0);
    match auditor.chain(&gap) {
        Err(VerifyError::ChainGaps { edge, before, missing, checked }) => {
            let gap = first + 2..first + 3;
            assert_eq!((edge.as_str(), before, missing, checked), ("edge-1", Some(first + 1), Vec::from([gap]), ev.headers.len() - 2));
        }
        other => panic!("expected the gaps, got {other:?}"),
    }

    // Two batches swapped: the later one no longer follows.
    let mut swapped = ev.clone();
    swapped.headers.swap(1, 2);
    assert!(
        matches!(auditor.chain(&swapped), Err(VerifyError::ChainBroken { batch_seq, previous, field: "batch seq", .. }) if batch_seq == first + 1 && previous == first + 2)
    );

    // A header whose signature byte is flipped.
    let mut forged = ev.clone();
    let last = forged.headers[1].0.len() - 1;
    forged.headers[1].0[last] ^= 1;
    match auditor.chain(&forged) {
        Err(VerifyError::HeaderSignature { edge, batch_seq, .. }) if batch_seq == first + 1 => assert_eq!(edge, "edge-1"),
        other => panic!("expected a signature failure of batch {}, got {other:?}", first + 1),
    }

    let mut no_certs = ev;
    no_certs.certificates.clear();
    assert!(matches!(auditor.chain(&no_certs), Err(VerifyError::MissingCertificate { .. })));
}

/// An edge that lost its queue starts a new chain (`gridtrust_trust::chain`): the auditor
/// verifies it and names the restart instead of calling it broken.
#[test]
fn a_chain_restarted_after_a_lost_edge_queue_verifies_and_names_the_restart() {
    let f = fixture();
    let mut ev = export_chain(&f.hub_data);
    let last = decode_sealed(&ev.headers.last().unwrap().0).unwrap().0;
    let pki = f.root.join("pki");
    let edge = gridtrust_transport::identity::Identity::load(&gridtrust_transport::identity::IdentityConfig::new(
        pki.join("ca.crt.pem"),
        pki.join("edge-1.crt.pem"),
        pki.join("crl.pem"),
        gridtrust_keys::KeyConfig::Software { path: pki.join("edge-1.key.pem") },
    ))
    .unwrap();
    let start = gridtrust_trust::chain::chain_start(Timestamp::now());
    assert!(start > last.batch_seq);
    let record = Record {
        seq: start,
        point: f.point.clone(),
        value: Value::Float(1.0),
        quality: gridtrust_model::Quality::GOOD,
        source_time: None,
        received_at: Timestamp::now(),
    };
    let records = vec![record];
    let mut genesis = gridtrust_trust::SignedBatch {
        header: gridtrust_trust::BatchHeader::for_records("edge-1", start, &records, [0; 32], Timestamp::now()),
        signature: None,
        records,
    };
    genesis.sign(edge.signer.as_ref(), edge.certificate_id).unwrap();
    ev.headers.push(HexBytes(genesis.sealed_header()));
    let ok = f.auditor().chain(&ev).unwrap();
    assert_eq!(ok.restarts, vec![(last.batch_seq, start)]);
    assert_eq!(ok.last_batch, start);
    let said = ok.to_string();
    assert!(
        said.contains(&format!("restarted its chain at batch {start}")) && said.contains(&format!("after {}", last.batch_seq)),
        "{said}"
    );
}

#[test]
fn an_early_cc_checkpoint_and_a_later_export_are_consistent() {
    let f = fixture();
    let early = OldCheckpoint::parse(&std::fs::read(&f.early_checkpoint).unwrap()).unwrap();
    let OldCheckpoint::Raw(c) = &early else { panic!("checkpoint.bin is raw") };
    let new = export_checkpoint(&f.hub_data, Some(c.checkpoint.tree_size));
    let ok = f.auditor().consistency(&early, &new).unwrap();
    assert!(ok.new_size > ok.old_size);
    println!("OK consistency: {ok}");

    // Without the proof from the older size, the verifier says which export to make.
    let unproven = export_checkpoint(&f.hub_data, None);
    assert!(matches!(
        f.auditor().consistency(&early, &unproven),
        Err(VerifyError::NoConsistencyProof { needed, got: None }) if needed == c.checkpoint.tree_size
    ));

    // A checkpoint is consistent with itself.
    let same = OldCheckpoint::Export(unproven.clone());
    f.auditor().consistency(&same, &unproven).unwrap();
}

#[test]
fn checkpoints_of_another_history_are_inconsistent() {
    let f = fixture();
    let other = export_checkpoint(&f.other_hub_data, None);
    // Both histories begin with the same start and registry entries; they differ from entry 2.
    assert_eq!((other.summary.log_id.as_str(), other.summary.tree_size), ("hub", 4));
    // The main log from the other history's size: the proof does not tie the two roots (which
    // of them the RFC 9162 check fails on depends on the sizes).
    let main = export_checkpoint(&f.hub_data, Some(4));
    match f.auditor().consistency(&OldCheckpoint::Export(other.clone()), &main) {
        Err(VerifyError::Inconsistent(CheckpointError::Inconsistent {
            old: 4,
            source: ProofError::OldRootMismatch | ProofError::NewRootMismatch,
            ..
        })) => {}
        other => panic!("expected an inconsistency, got {other:?}"),
    }
    // The early checkpoint of the main log against the other, smaller history.
    let early = OldCheckpoint::parse(&std::fs::read(&f.early_checkpoint).unwrap()).unwrap();
    assert!(matches!(f.auditor().consistency(&early, &other), Err(VerifyError::Inconsistent(CheckpointError::Shrank { new: 4, .. }))));
}

#[test]
fn attack_10_a_record_altered_at_rest_fails_verification_naming_its_batch() {
    let f = fixture();
    let copy = tempfile::tempdir().unwrap();
    let data = copy.path().join("hub-data");
    copy_dir(&f.hub_data, &data);
    let honest = f.auditor().value(&export_value(&data, &f.point, Timestamp(i64::MAX)), true).unwrap();

    let original = alter_newest_record_at_rest(&data.join("hub.redb"), &f.point);
    assert_eq!(original, honest.record);
    let ev = export_value(&data, &f.point, Timestamp(i64::MAX));
    assert_ne!(Record::decode_canonical(&ev.record.0).unwrap().value, original.value, "the export shows what is on disk");
    let err = f.auditor().value(&ev, false).unwrap_err();
    match &err {
        VerifyError::RecordNotInBatch { edge, batch_seq, seq, source: ProofError::RootMismatch, .. } => {
            assert_eq!((edge.as_str(), *batch_seq, *seq), ("edge-1", honest.header.batch_seq, original.seq));
        }
        other => panic!("expected a Merkle failure, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(&format!("batch {} of edge edge-1", honest.header.batch_seq)), "{message}");
    println!("FAILED as it should: {message}");
}

#[test]
fn a_tampered_export_or_a_foreign_certificate_fails() {
    let f = fixture();
    let ev = export_value(&f.hub_data, &f.point, Timestamp(i64::MAX));
    let auditor = f.auditor();
    auditor.value(&ev, true).unwrap();

    // One bit of the edge's signature.
    let mut forged = ev.clone();
    let last = forged.batch_header.0.len() - 1;
    forged.batch_header.0[last] ^= 0x01;
    assert!(matches!(auditor.value(&forged, false), Err(VerifyError::HeaderSignature { .. })), "{:?}", auditor.value(&forged, false));

    // The same edge name, certified by another CA.
    let other_ca = tempfile::tempdir().unwrap();
    let pki = gridtrust_pki::DevPki::generate(other_ca.path(), &IDENTITIES).unwrap();
    let foreign = gridtrust_pki::load_chain(&pki.files("edge-1").cert).unwrap().remove(0).to_vec();
    let mut impostor = ev.clone();
    impostor.edge_certificate = HexBytes(foreign.clone());
    assert!(matches!(
        auditor.value(&impostor, false),
        Err(VerifyError::Certificate { whose: "edge", source: gridtrust_pki::PkiError::UnknownIssuer, .. })
    ));
    // The hub's certificate from another CA: the log part fails.
    let mut impostor = ev.clone();
    if let Some(log) = impostor.log.as_mut() {
        log.hub_certificate = HexBytes(gridtrust_pki::load_chain(&pki.files("hub").cert).unwrap().remove(0).to_vec());
    }
    assert!(matches!(auditor.value(&impostor, true), Err(VerifyError::Certificate { whose: "hub", .. })));
    // The hub's own (valid) certificate in place of the edge's: not an edge.
    let mut wrong_kind = ev.clone();
    wrong_kind.edge_certificate = ev.log.as_ref().unwrap().hub_certificate.clone();
    assert!(matches!(auditor.value(&wrong_kind, false), Err(VerifyError::WrongSigner { .. })));

    // The log index moved: the header is not that entry.
    let mut moved = ev.clone();
    if let Some(log) = moved.log.as_mut() {
        log.index = (log.index + 1) % log.tree_size;
    }
    assert!(matches!(auditor.value(&moved, true), Err(VerifyError::HeaderNotInLog { .. })));

    // A summary that says another value.
    let mut lying = ev.clone();
    lying.summary.value = "Float(0.0)".into();
    assert!(matches!(auditor.value(&lying, true), Err(VerifyError::SummaryMismatch { field: "value", .. })));

    // The record claimed at another index of its batch.
    let mut shifted = ev;
    shifted.record_index += 1;
    assert!(matches!(auditor.value(&shifted, true), Err(VerifyError::RecordPosition { .. })));
}

#[test]
fn export_refuses_a_store_that_is_open_and_says_why() {
    let f = fixture();
    let copy = tempfile::tempdir().unwrap();
    let data = copy.path().join("hub-data");
    copy_dir(&f.hub_data, &data);
    let held = gridtrust_store::HubStore::open(data.join("hub.redb")).unwrap();
    let err = HubData::open(&data).unwrap_err();
    assert!(matches!(err, ExportError::Store { .. }));
    assert!(err.to_string().contains("stop the hub first"), "{err}");
    drop(held);
    HubData::open(&data).unwrap();
}

fn gridtrust(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gridtrust")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn export_and_verify_through_the_binary() {
    let f = fixture();
    let copy = tempfile::tempdir().unwrap();
    let data = copy.path().join("hub-data");
    copy_dir(&f.hub_data, &data);
    let out = |name: &str| copy.path().join(name).to_str().unwrap().to_owned();
    let (data_s, ca, crl) = (data.to_str().unwrap(), f.ca(), f.crl());
    let trust = ["--ca", ca.to_str().unwrap(), "--crl", crl.to_str().unwrap()];
    let run = |args: &[&str]| {
        let (ok, stdout, stderr) = gridtrust(args);
        assert!(ok, "gridtrust {args:?} failed:\n{stderr}");
        stdout
    };

    run(&["export", "value", "--hub-data", data_s, "--point", f.point.as_str(), "--out", &out("value.json")]);
    let line = run(&[&["verify", "value", &out("value.json"), "--require-log"][..], &trust].concat());
    assert!(line.starts_with("OK value: ") && line.contains("batch") && line.contains("entry"), "{line}");

    run(&["export", "chain", "--hub-data", data_s, "--edge", "edge-1", "--out", &out("chain.json")]);
    let line = run(&[&["verify", "chain", &out("chain.json")][..], &trust].concat());
    assert!(line.starts_with("OK chain: edge edge-1"), "{line}");

    let early = f.early_checkpoint.to_str().unwrap();
    let size = SignedCheckpoint::decode(&std::fs::read(early).unwrap()).unwrap().checkpoint.tree_size.to_string();
    run(&["export", "checkpoint", "--hub-data", data_s, "--from-size", &size, "--out", &out("checkpoint.json")]);
    let line = run(&[&["verify", "consistency", early, &out("checkpoint.json"), "--at-signing-time"][..], &trust].concat());
    assert!(line.starts_with("OK consistency: log hub"), "{line}");

    // Attack 10 through the binary: non-zero exit, the batch named.
    alter_newest_record_at_rest(&data.join("hub.redb"), &f.point);
    run(&["export", "value", "--hub-data", data_s, "--point", f.point.as_str(), "--out", &out("altered.json")]);
    let (ok, stdout, stderr) = gridtrust(&[&["verify", "value", &out("altered.json")][..], &trust].concat());
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("verification FAILED") && stderr.contains("of edge edge-1") && stderr.contains("Merkle"), "{stderr}");

    // The wrong kind of file says so.
    let (ok, _, stderr) = gridtrust(&[&["verify", "value", &out("chain.json")][..], &trust].concat());
    assert!(!ok && stderr.contains("kind"), "{stderr}");
}

/// A JSON value of any shape, to feed the export decoders.
fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<u64>().prop_map(|n| serde_json::json!(n)),
        "[0-9a-fA-F]{0,80}".prop_map(serde_json::Value::String),
        ".{0,20}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 40, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("kind".to_owned()),
                    Just("format_version".to_owned()),
                    Just("record".to_owned()),
                    Just("log".to_owned()),
                    Just("proof".to_owned()),
                    "[a-z_]{1,12}"
                ],
                inner,
                0..8
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn decode_all(bytes: &[u8]) {
    let _ = ValueEvidence::from_json(bytes);
    let _ = ChainEvidence::from_json(bytes);
    let _ = CheckpointEvidence::from_json(bytes);
    let _ = OldCheckpoint::parse(bytes);
}

proptest! {
    #[test]
    fn export_decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        decode_all(&bytes);
    }

    #[test]
    fn export_decoders_never_panic_on_arbitrary_json(mut value in any_json(), kind in 0..3usize) {
        if let serde_json::Value::Object(m) = &mut value {
            m.insert("kind".into(), ["gridtrust.value-evidence", "gridtrust.chain-evidence", "gridtrust.checkpoint-evidence"][kind].into());
            m.insert("format_version".into(), 1.into());
        }
        decode_all(&serde_json::to_vec(&value).unwrap());
    }
}

#[test]
fn verifying_mutated_exports_never_panics_and_never_passes_a_changed_proof() {
    let f = fixture();
    let value = export_value(&f.hub_data, &f.point, Timestamp(i64::MAX));
    let chain = export_chain(&f.hub_data);
    let early = std::fs::read(&f.early_checkpoint).unwrap();
    let size = SignedCheckpoint::decode(&early).unwrap().checkpoint.tree_size;
    let checkpoint = export_checkpoint(&f.hub_data, Some(size));
    let auditor = f.auditor();
    let files = [to_json(&value), to_json(&chain), to_json(&checkpoint)];
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config { cases: 96, ..Default::default() });
    runner
        .run(&(0..3usize, any::<prop::sample::Index>(), any::<u8>(), any::<bool>()), |(which, at, byte, truncate)| {
            let mut bytes = files[which].clone();
            let i = at.index(bytes.len());
            if truncate {
                bytes.truncate(i);
            } else {
                bytes[i] = byte;
            }
            // Whatever happens, no panic; and a change inside a hex proof never verifies.
            match which {
                0 => {
                    if let Ok(ev) = ValueEvidence::from_json(&bytes) {
                        let verdict = auditor.value(&ev, false);
                        if ev.record_proof != value.record_proof || ev.record != value.record || ev.batch_header != value.batch_header {
                            prop_assert!(verdict.is_err());
                        }
                    }
                }
                1 => {
                    if let Ok(ev) = ChainEvidence::from_json(&bytes) {
                        let verdict = auditor.chain(&ev);
                        if ev.headers != chain.headers {
                            prop_assert!(verdict.is_err());
                        }
                    }
                }
                _ => {
                    if let Ok(ev) = CheckpointEvidence::from_json(&bytes) {
                        let verdict = auditor.consistency(&OldCheckpoint::parse(&early).unwrap(), &ev);
                        if ev.checkpoint != checkpoint.checkpoint || ev.consistency != checkpoint.consistency {
                            prop_assert!(verdict.is_err());
                        }
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn verify_value_checks_the_point_authority_offline() {
    let f = fixture();
    let evidence = export_value(&f.hub_data, &f.point, Timestamp(i64::MAX));
    let verified = f.auditor().value(&evidence, true).unwrap();
    assert_eq!(verified.authority.0, 1, "the demo's registry version 1 grants the point to edge-1");
    assert!(verified.to_string().contains("point registry version 1"), "{verified}");

    // Without the registry, who may report the point cannot be checked: not verified.
    let mut without = evidence.clone();
    without.registry = None;
    assert!(matches!(f.auditor().value(&without, true), Err(VerifyError::Authority(_))));

    // A newer registry that grants the point's logical device to another edge: the value's
    // signer is not its owner.
    let other = tempfile::tempdir().unwrap();
    let ld = f.point.logical_device().to_owned();
    let reassigned = gridtrust::registry::write_dev_registry(&f.root.join("pki"), 2, &[(ld.as_str(), "edge-2")], other.path()).unwrap();
    let mut moved = evidence.clone();
    moved.registry = Some(gridtrust::audit::HexBytes(reassigned.to_bytes().unwrap()));
    match f.auditor().value(&moved, true) {
        Err(VerifyError::NotOwner { edge, owner, version: 2, .. }) => {
            assert_eq!((edge.as_str(), owner.as_deref()), ("edge-1", Some("edge-2")))
        }
        other => panic!("expected NotOwner, got {other:?}"),
    }

    // A registry signed by an operator (the console), not by an engineering identity.
    let console = gridtrust_transport::identity::Identity::load(&gridtrust_transport::identity::IdentityConfig::new(
        f.ca(),
        f.root.join("pki/console.crt.pem"),
        f.crl(),
        gridtrust_keys::KeyConfig::Software { path: f.root.join("pki/console.key.pem") },
    ))
    .unwrap();
    let mut registry = gridtrust_trust::registry::PointRegistry::new(3, Timestamp::now());
    registry.grant(&ld, "edge-1").unwrap();
    let forged = gridtrust_trust::registry::SignedRegistry::sign(&registry, console.signer.as_ref(), &console.certificate).unwrap();
    let mut unauthorised = evidence;
    unauthorised.registry = Some(gridtrust::audit::HexBytes(forged.to_bytes().unwrap()));
    match f.auditor().value(&unauthorised, true) {
        Err(VerifyError::Authority(reason)) => assert!(reason.contains("registry signer not allowed"), "{reason}"),
        other => panic!("expected an authority refusal, got {other:?}"),
    }
}
