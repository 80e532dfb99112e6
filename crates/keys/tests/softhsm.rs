//! The PKCS#11 key store against a real SoftHSM2 token, and against tools we did not write:
//! `openssl` verifies our signatures, `pkcs11-tool` (OpenSC) signs with our keys and makes keys
//! we use.
//!
//! Every test has its own token, created once per test binary under one SoftHSM2 configuration
//! (SoftHSM2 reads `SOFTHSM2_CONF` once per process, at `C_Initialize`). When `softhsm2-util`
//! is missing the tests print why and pass without running, unless `GRIDTRUST_REQUIRE_PEERS` is
//! set (CI), where a missing peer fails. The same holds for `pkcs11-tool` and `openssl` in the
//! tests that need them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

use gridtrust_keys::softhsm::{self, CONF_ENV};
use gridtrust_keys::{KeyConfig, KeyError, PinSource, Pkcs11Config, Pkcs11Signer, Signer, TokenSelector, spki_der, spki_pem};
use gridtrust_trust::signing::{der_to_raw, raw_to_der, verify};
use sha2::{Digest, Sha256};

const USER_PIN: &str = "1234";
const SO_PIN: &str = "87654321";
/// Set to [`USER_PIN`] for the process, like a service manager would.
const PIN_ENV: &str = "GRIDTRUST_KEYS_TEST_PIN";

/// One token per test, so tests running in parallel never share login state or labels.
const TOKENS: [&str; 9] = ["generate", "openssl", "tool-sign", "tool-gen", "wrong-pin", "labels", "pool", "config", "relogin"];

struct Hsm {
    _dir: tempfile::TempDir,
    conf: PathBuf,
    module: PathBuf,
    /// A PIN file holding [`USER_PIN`], mode 0600.
    pin_file: PathBuf,
}

fn require_or_skip(test: &str, what: &str) {
    assert!(
        std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(),
        "{test}: {what} is required (GRIDTRUST_REQUIRE_PEERS) but not available"
    );
    eprintln!("SKIPPED {test}: {what} is not available");
}

/// The SoftHSM2 tokens of this test binary, created on first use. Every test calls this first,
/// so the environment is set before any test loads the module or starts a child process.
fn hsm(test: &str) -> Option<&'static Hsm> {
    static HSM: OnceLock<Option<Hsm>> = OnceLock::new();
    let hsm = HSM.get_or_init(|| {
        if !softhsm::util_available() || softhsm::module_path().is_none() {
            return None;
        }
        // Under the target folder rather than /tmp: a static is never dropped, so the token files
        // outlive the process, and `cargo clean` is where one expects them to go.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
        let mut conf = None;
        let mut module = None;
        for label in TOKENS {
            let token = softhsm::init_softhsm_token(dir.path(), label, SO_PIN, USER_PIN).expect("SoftHSM2 token");
            conf = Some(token.conf);
            module = Some(token.module);
        }
        let pin_file = dir.path().join("user.pin");
        write_private(&pin_file, format!("{USER_PIN}\n").as_bytes());
        // SAFETY: runs once, inside the OnceLock every test enters before doing anything else,
        // so no other thread of this process reads the environment meanwhile.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var(CONF_ENV, conf.as_ref().expect("tokens created"));
            std::env::set_var(PIN_ENV, USER_PIN);
        }
        Some(Hsm { _dir: dir, conf: conf.expect("conf"), module: module.expect("module"), pin_file })
    });
    if hsm.is_none() {
        require_or_skip(test, "SoftHSM2 (softhsm2-util and libsofthsm2.so; apt-get install softhsm2)");
    }
    hsm.as_ref()
}

fn tool_available(test: &str, tool: &str) -> bool {
    let ok = Command::new(tool).output().is_ok();
    if !ok {
        require_or_skip(test, tool);
    }
    ok
}

fn write_private(path: &Path, contents: &[u8]) {
    std::fs::write(path, contents).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

impl Hsm {
    fn config(&self, token: &str, key: &str) -> Pkcs11Config {
        Pkcs11Config::new(&self.module, TokenSelector::Label(token.into()), key, PinSource::File(self.pin_file.clone()))
    }

    /// Runs `pkcs11-tool` on `token` with the user PIN; the output, checked for success.
    fn pkcs11_tool(&self, token: &str, args: &[&str]) -> Output {
        let output = self.pkcs11_tool_unchecked(token, args);
        assert!(output.status.success(), "pkcs11-tool {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        output
    }

    fn pkcs11_tool_unchecked(&self, token: &str, args: &[&str]) -> Output {
        Command::new("pkcs11-tool")
            .env(CONF_ENV, &self.conf)
            .arg("--module")
            .arg(&self.module)
            .args(["--token-label", token, "--pin", USER_PIN])
            .args(args)
            .output()
            .expect("pkcs11-tool runs")
    }
}

#[test]
fn key_generated_in_token_signs_verifies_and_cannot_leave_it() {
    let Some(hsm) = hsm("key_generated_in_token_signs_verifies_and_cannot_leave_it") else { return };
    let config = hsm.config("generate", "evidence");
    let signer = Pkcs11Signer::generate_key(&config).expect("generate in token");

    let message = b"batch header 1";
    let signature = signer.sign(message).expect("sign");
    assert_eq!(signature.len(), 64);
    verify(&signer.public_key(), message, &signature).expect("our signature verifies");
    assert!(verify(&signer.public_key(), b"batch header 2", &signature).is_err());
    assert_eq!(signer.describe(), "pkcs11 token 'generate' key 'evidence'");

    let protection = signer.protection().expect("attributes");
    assert!(protection.sensitive, "CKA_SENSITIVE: {protection:?}");
    assert!(!protection.extractable, "CKA_EXTRACTABLE: {protection:?}");
    assert!(protection.always_sensitive && protection.never_extractable, "{protection:?}");
    assert!(!protection.value_readable, "C_GetAttributeValue(CKA_VALUE) must fail: {protection:?}");

    // A fresh open finds the same key (a token object, not a session object).
    let reopened = Pkcs11Signer::open(&config).expect("reopen");
    assert_eq!(reopened.public_key(), signer.public_key());

    let again = Pkcs11Signer::generate_key(&config).expect_err("a second key with the same label");
    assert!(matches!(&again, KeyError::KeyExists { key, .. } if key == "evidence"), "{again}");

    // A tool we did not write reads the same protection from the token.
    if tool_available("key_generated_in_token_signs_verifies_and_cannot_leave_it", "pkcs11-tool") {
        let listed = hsm.pkcs11_tool("generate", &["--list-objects", "--type", "privkey"]);
        let listed = String::from_utf8_lossy(&listed.stdout);
        let access: Vec<&str> = listed
            .lines()
            .find_map(|l| l.trim().strip_prefix("Access:"))
            .unwrap_or_else(|| panic!("no Access line in {listed}"))
            .split(',')
            .map(str::trim)
            .collect();
        assert!(access.contains(&"sensitive") && access.contains(&"never extractable"), "{listed}");
        assert!(!access.contains(&"extractable"), "{listed}");
    }
}

#[test]
fn token_signature_verifies_with_openssl() {
    let test = "token_signature_verifies_with_openssl";
    let Some(hsm) = hsm(test) else { return };
    if !tool_available(test, "openssl") {
        return;
    }
    let signer = Pkcs11Signer::generate_key(&hsm.config("openssl", "evidence")).expect("generate");
    let dir = tempfile::tempdir().unwrap();
    let message = b"checkpoint 42: root 0123456789abcdef";
    std::fs::write(dir.path().join("msg"), message).unwrap();
    std::fs::write(dir.path().join("pub.pem"), spki_pem(&signer.public_key())).unwrap();
    std::fs::write(dir.path().join("sig.der"), raw_to_der(&signer.sign(message).unwrap()).unwrap()).unwrap();
    std::fs::write(dir.path().join("other"), b"checkpoint 43").unwrap();

    let openssl = |file: &str| {
        Command::new("openssl")
            .current_dir(dir.path())
            .args(["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", file])
            .output()
            .expect("openssl runs")
    };
    let ok = openssl("msg");
    assert!(ok.status.success(), "openssl: {}{}", String::from_utf8_lossy(&ok.stdout), String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("Verified OK"));
    assert!(!openssl("other").status.success(), "openssl must reject another message");
}

#[test]
fn pkcs11_tool_signature_verifies_with_our_verify() {
    let test = "pkcs11_tool_signature_verifies_with_our_verify";
    let Some(hsm) = hsm(test) else { return };
    if !tool_available(test, "pkcs11-tool") {
        return;
    }
    let signer = Pkcs11Signer::generate_key(&hsm.config("tool-sign", "evidence")).expect("generate");
    let dir = tempfile::tempdir().unwrap();
    let message = b"command: open breaker F1";
    let digest = dir.path().join("digest.bin");
    std::fs::write(&digest, Sha256::digest(message)).unwrap();
    let path = |p: &Path| p.to_str().expect("utf-8 temp path").to_owned();

    // Default format: r || s.
    let raw = dir.path().join("sig.bin");
    hsm.pkcs11_tool("tool-sign", &["--sign", "--mechanism", "ECDSA", "--label", "evidence", "-i", &path(&digest), "-o", &path(&raw)]);
    let raw = std::fs::read(raw).unwrap();
    assert_eq!(raw.len(), 64, "pkcs11-tool writes r || s by default");
    verify(&signer.public_key(), message, &raw).expect("pkcs11-tool's signature verifies with our verify");

    // `--signature-format openssl`: DER, converted by der_to_raw.
    let der = dir.path().join("sig.der");
    hsm.pkcs11_tool(
        "tool-sign",
        &[
            "--sign",
            "--mechanism",
            "ECDSA",
            "--signature-format",
            "openssl",
            "--label",
            "evidence",
            "-i",
            &path(&digest),
            "-o",
            &path(&der),
        ],
    );
    let der = std::fs::read(der).unwrap();
    verify(&signer.public_key(), message, &der_to_raw(&der).expect("DER signature")).expect("verifies");
}

#[test]
fn key_generated_by_pkcs11_tool_is_usable() {
    let test = "key_generated_by_pkcs11_tool_is_usable";
    let Some(hsm) = hsm(test) else { return };
    if !tool_available(test, "pkcs11-tool") {
        return;
    }
    hsm.pkcs11_tool(
        "tool-gen",
        &["--keypairgen", "--key-type", "EC:prime256v1", "--usage-sign", "--label", "made-by-opensc", "--id", "a1b2"],
    );
    let signer = Pkcs11Signer::open(&hsm.config("tool-gen", "made-by-opensc")).expect("our store opens pkcs11-tool's key");
    let signature = signer.sign(b"hello").expect("sign");
    verify(&signer.public_key(), b"hello", &signature).expect("verifies");

    // Our SPKI encoding is byte for byte what the token tool exports.
    let exported = hsm.pkcs11_tool("tool-gen", &["--read-object", "--type", "pubkey", "--label", "made-by-opensc"]);
    assert_eq!(exported.stdout, spki_der(&signer.public_key()));
}

#[test]
fn wrong_pin_is_a_typed_error() {
    let Some(hsm) = hsm("wrong_pin_is_a_typed_error") else { return };
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.pin");
    write_private(&wrong, b"9999");
    let mut config = hsm.config("wrong-pin", "evidence");
    config.pin = PinSource::File(wrong);
    let error = Pkcs11Signer::open(&config).expect_err("wrong PIN");
    assert!(matches!(&error, KeyError::WrongPin { token, .. } if token.contains("wrong-pin")), "{error}");
    assert!(error.to_string().contains("wrong user PIN"), "{error}");

    let mut config = hsm.config("wrong-pin", "evidence");
    config.pin = PinSource::File(dir.path().join("missing.pin"));
    let error = Pkcs11Signer::open(&config).expect_err("no PIN file");
    assert!(matches!(&error, KeyError::Pin { from, .. } if from.contains("missing.pin")), "{error}");
}

#[test]
fn unknown_token_and_key_labels_are_named() {
    let Some(hsm) = hsm("unknown_token_and_key_labels_are_named") else { return };
    let error = Pkcs11Signer::open(&hsm.config("no-such-token", "evidence")).expect_err("unknown token");
    assert!(matches!(&error, KeyError::TokenNotFound { token, .. } if token.contains("no-such-token")), "{error}");
    let text = error.to_string();
    assert!(text.contains("no-such-token") && text.contains("'labels'"), "names the token and those present: {text}");

    let error = Pkcs11Signer::open(&hsm.config("labels", "no-such-key")).expect_err("unknown key");
    assert!(matches!(&error, KeyError::KeyNotFound { key, .. } if key == "no-such-key"), "{error}");
    let text = error.to_string();
    assert!(text.contains("no-such-key") && text.contains("'labels'") && text.contains("softhsm"), "{text}");

    let mut config = hsm.config("labels", "evidence");
    config.module = PathBuf::from("/nonexistent/libpkcs11.so");
    let error = Pkcs11Signer::open(&config).expect_err("no module");
    assert!(matches!(&error, KeyError::Module { .. }) && error.to_string().contains("/nonexistent/libpkcs11.so"), "{error}");
}

#[test]
fn parallel_signers_share_the_session_pool() {
    let Some(hsm) = hsm("parallel_signers_share_the_session_pool") else { return };
    let config = hsm.config("pool", "evidence");
    let signer = Arc::new(Pkcs11Signer::generate_key(&config).expect("generate"));
    assert_eq!(signer.session_count(), 2);
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let signer = signer.clone();
            std::thread::spawn(move || {
                for i in 0..25u8 {
                    let message = [t, i];
                    let signature = signer.sign(&message).expect("sign");
                    verify(&signer.public_key(), &message, &signature).expect("verifies");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("signing thread");
    }
    // A second store on the same key in the same process shares the module and the login.
    let second = Pkcs11Signer::open(&Pkcs11Config { sessions: 1, ..config }).expect("second store");
    assert_eq!(second.public_key(), signer.public_key());
    verify(&signer.public_key(), b"x", &second.sign(b"x").unwrap()).expect("verifies");
}

#[test]
fn key_config_file_opens_the_token_key() {
    let Some(hsm) = hsm("key_config_file_opens_the_token_key") else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&hsm.pin_file, dir.path().join("hsm.pin")).unwrap();
    let file = dir.path().join("edge.toml");
    let toml = format!(
        "[edge.key]\nkind = \"pkcs11\"\nmodule = \"{}\"\ntoken_label = \"config\"\nkey_label = \"evidence\"\npin_file = \"hsm.pin\"\nsessions = 3\n",
        hsm.module.display()
    );
    std::fs::write(&file, toml).unwrap();
    let config = gridtrust_keys::load_key_config(&file, "edge.key").expect("key table");
    let generated = gridtrust_keys::generate(&config, dir.path()).expect("generate via config");
    let opened = gridtrust_keys::open(&config, dir.path()).expect("open via config");
    assert_eq!(generated.public_key(), opened.public_key());
    verify(&opened.public_key(), b"m", &opened.sign(b"m").unwrap()).expect("verifies");

    // The PIN from the environment instead of a file.
    let KeyConfig::Pkcs11(mut p) = config else { panic!("pkcs11 config") };
    p.pin = PinSource::Env(PIN_ENV.into());
    let from_env = gridtrust_keys::open(&KeyConfig::Pkcs11(p), dir.path()).expect("PIN from env");
    assert_eq!(from_env.public_key(), opened.public_key());
}

/// Other code in the process (or a token hiccup) logging the token out: the next signature logs
/// in again and succeeds, but a different key that took over the label is refused.
#[test]
fn lost_login_is_recovered_but_a_replaced_key_is_refused() {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::object::Attribute;
    use cryptoki::session::UserType;

    let Some(hsm) = hsm("lost_login_is_recovered_but_a_replaced_key_is_refused") else { return };
    let config = hsm.config("relogin", "evidence");
    let signer = Pkcs11Signer::generate_key(&config).expect("generate");

    // Our own handle on the module (C_Initialize was done by the store: already initialised).
    let ctx = Pkcs11::new(&hsm.module).expect("module");
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).is_ok_and(|i| i.label() == "relogin"))
        .expect("token");
    let other = ctx.open_rw_session(slot).unwrap();
    other.logout().expect("log the whole application out of the token");
    let signature = signer.sign(b"after logout").expect("signs after logging in again");
    verify(&signer.public_key(), b"after logout", &signature).expect("verifies");

    // Replace the key under the same label, then lose the login again.
    match other.login(UserType::User, Some(&USER_PIN.into())) {
        Ok(()) | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("login: {e}"),
    }
    for handle in other.find_objects(&[Attribute::Label(b"evidence".to_vec())]).unwrap() {
        other.destroy_object(handle).unwrap();
    }
    let replacement = Pkcs11Signer::generate_key(&config).expect("another key, same label");
    assert_ne!(replacement.public_key(), signer.public_key());
    drop(replacement);
    other.logout().unwrap();
    let error = signer.sign(b"after replacement").expect_err("must not sign with another key");
    assert!(error.to_string().contains("another public key"), "{error}");
}
