//! The development key store: PKCS#8 PEM files, and that it never passes for a production store.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use gridtrust_keys::{KeyConfig, KeyError, Signer, SoftwareSigner};
use gridtrust_trust::signing::verify;

/// Collects formatted log output, so a test can check what an operator would see.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log of this test binary. One global subscriber rather than one per test: tests run in
/// parallel, and per-thread subscribers race on tracing's cached callsite interest.
fn log() -> &'static Captured {
    static LOG: OnceLock<Captured> = OnceLock::new();
    LOG.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");
        captured
    })
}

/// The log lines that mention `needle` (a test's own temp path).
fn log_lines_with(needle: &str) -> Vec<String> {
    let text = String::from_utf8(log().0.lock().unwrap().clone()).unwrap();
    text.lines().filter(|l| l.contains(needle)).map(str::to_owned).collect()
}

#[test]
fn software_key_round_trip_and_says_it_is_for_development() {
    log();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys/edge.pem");
    let generated = SoftwareSigner::generate(&path).expect("generate");
    let warnings = |needle: &str| {
        log_lines_with(needle).into_iter().filter(|l| l.contains("WARN") && l.contains("development key store, not for production")).count()
    };
    let needle = path.display().to_string();
    assert_eq!(warnings(&needle), 1, "generate warns once: {:?}", log_lines_with(&needle));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(std::fs::read_to_string(&path).unwrap().starts_with("-----BEGIN PRIVATE KEY-----\n"));

    let opened = gridtrust_keys::open(&KeyConfig::Software { path: "keys/edge.pem".into() }, dir.path()).expect("open");
    assert_eq!(warnings(&needle), 2, "open warns again: {:?}", log_lines_with(&needle));
    assert!(opened.describe().contains("development only"), "{}", opened.describe());
    assert_eq!(opened.public_key(), generated.public_key());
    assert_eq!(opened.public_key().len(), 65);

    let signature = opened.sign(b"batch").expect("sign");
    assert_eq!(signature.len(), 64);
    verify(&generated.public_key(), b"batch", &signature).expect("verifies");
}

#[test]
fn software_store_reads_rcgen_pem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rcgen.pem");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(&path, key.serialize_pem()).unwrap();
    let signer = SoftwareSigner::open(&path).expect("rcgen's PEM opens");
    assert_eq!(signer.public_key(), key.public_key_raw());
    verify(key.public_key_raw(), b"m", &signer.sign(b"m").unwrap()).expect("verifies");
}

#[test]
fn software_generate_refuses_to_overwrite_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.pem");
    let first = SoftwareSigner::generate(&path).unwrap();
    let error = SoftwareSigner::generate(&path).expect_err("exists");
    assert!(matches!(&error, KeyError::KeyFileExists { path: p } if *p == path), "{error}");
    assert_eq!(SoftwareSigner::open(&path).unwrap().public_key(), first.public_key(), "the key is unchanged");
}

#[test]
fn software_store_refuses_files_that_are_not_p256_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, String); 3] = [
        ("garbage.pem", "not a key".into()),
        ("cert.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into()),
        ("ed25519.pem", rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap().serialize_pem()),
    ];
    for (name, text) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let error = SoftwareSigner::open(&path).expect_err(name);
        assert!(matches!(&error, KeyError::KeyFile { path: p, .. } if *p == path), "{name}: {error}");
        assert!(error.to_string().contains(name), "{error}");
    }
    let missing = SoftwareSigner::open(&dir.path().join("missing.pem")).expect_err("missing");
    assert!(matches!(missing, KeyError::Io { .. }), "{missing}");
}
