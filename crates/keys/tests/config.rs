//! The `[key]` configuration table: what it accepts and, above all, what it refuses.

use std::path::{Path, PathBuf};

use gridtrust_keys::{KeyConfig, KeyError, PinSource, Pkcs11Config, TokenSelector, load_key_config};

fn parse(toml: &str) -> Result<KeyConfig, String> {
    toml::from_str::<KeyConfig>(toml).map_err(|e| e.to_string())
}

const PKCS11: &str = "kind = \"pkcs11\"\nmodule = \"/usr/lib/softhsm/libsofthsm2.so\"\ntoken_label = \"edge\"\nkey_label = \"evidence\"\n";

#[test]
fn pkcs11_config_with_pin_file_parses() {
    let config = parse(&format!("{PKCS11}pin_file = \"hsm.pin\"\n")).unwrap();
    assert_eq!(
        config,
        KeyConfig::Pkcs11(Pkcs11Config::new(
            "/usr/lib/softhsm/libsofthsm2.so",
            TokenSelector::Label("edge".into()),
            "evidence",
            PinSource::File("hsm.pin".into())
        ))
    );
    let config = parse(&format!("{PKCS11}pin_env = \"HSM_PIN\"\nsessions = 4\n")).unwrap();
    let KeyConfig::Pkcs11(p) = config else { panic!() };
    assert_eq!((p.pin, p.sessions), (PinSource::Env("HSM_PIN".into()), 4));
}

#[test]
fn pin_in_config_is_refused_naming_the_key_and_why() {
    let error = parse(&format!("{PKCS11}pin = \"1234\"\n")).expect_err("pin in the file");
    assert!(error.contains("`pin`"), "{error}");
    assert!(error.contains("pin_file") && error.contains("pin_env"), "says what to use instead: {error}");
    assert!(error.contains("configuration file"), "says why: {error}");
    assert!(!error.contains("1234"), "never echoes the PIN: {error}");
    // Also next to a valid PIN source.
    let error = parse(&format!("{PKCS11}pin_file = \"p\"\npin = \"1234\"\n")).expect_err("pin beside pin_file");
    assert!(error.contains("`pin`"), "{error}");
}

#[test]
fn pin_in_a_role_file_is_refused_naming_file_and_table() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edge.toml");
    std::fs::write(&file, format!("[edge]\nid = \"e1\"\n[edge.key]\n{PKCS11}pin = \"1234\"\n")).unwrap();
    let error = load_key_config(&file, "edge.key").expect_err("pin");
    let text = error.to_string();
    assert!(matches!(error, KeyError::Config(_)), "{text}");
    assert!(text.contains("edge.toml") && text.contains("edge.key") && text.contains("`pin`"), "{text}");
}

#[test]
fn exactly_one_pin_source_and_one_token_selector() {
    let both = parse(&format!("{PKCS11}pin_file = \"p\"\npin_env = \"E\"\n")).expect_err("both");
    assert!(both.contains("pin_file") && both.contains("pin_env"), "{both}");
    let neither = parse(PKCS11).expect_err("neither");
    assert!(neither.contains("pin_file"), "{neither}");
    let two_tokens = parse(&format!("{PKCS11}slot = 3\npin_env = \"E\"\n")).expect_err("label and slot");
    assert!(two_tokens.contains("token_label") && two_tokens.contains("slot"), "{two_tokens}");
    let zero = parse(&format!("{PKCS11}pin_env = \"E\"\nsessions = 0\n")).expect_err("no sessions");
    assert!(zero.contains("sessions"), "{zero}");
}

#[test]
fn unknown_keys_are_refused_by_name() {
    let error = parse(&format!("{PKCS11}pin_env = \"E\"\nkey_lable = \"x\"\n")).expect_err("typo");
    assert!(error.contains("key_lable"), "{error}");
    let error = parse("kind = \"software\"\npath = \"k.pem\"\npin = \"1\"\n").expect_err("software has no pin");
    assert!(error.contains("pin"), "{error}");
    let error = parse("kind = \"tpm\"\n").expect_err("unknown kind");
    assert!(error.contains("tpm"), "{error}");
}

#[test]
fn config_round_trips_through_toml() {
    for config in [
        KeyConfig::Software { path: "edge.pem".into() },
        KeyConfig::Pkcs11(Pkcs11Config::new("/m.so", TokenSelector::Slot(7), "k", PinSource::Env("P".into()))),
        KeyConfig::Pkcs11(Pkcs11Config {
            sessions: 5,
            ..Pkcs11Config::new("/m.so", TokenSelector::Label("t".into()), "k", PinSource::File("p".into()))
        }),
    ] {
        let text = toml::to_string(&config).unwrap();
        assert_eq!(parse(&text).unwrap(), config, "{text}");
    }
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let base = Path::new("/etc/gridtrust");
    let software = KeyConfig::Software { path: "edge.pem".into() }.resolved(base);
    assert_eq!(software, KeyConfig::Software { path: "/etc/gridtrust/edge.pem".into() });

    let relative = Pkcs11Config::new("lib/p11.so", TokenSelector::Slot(0), "k", PinSource::File("hsm.pin".into()));
    let KeyConfig::Pkcs11(p) = KeyConfig::Pkcs11(relative).resolved(base) else { panic!() };
    assert_eq!(p.module, PathBuf::from("/etc/gridtrust/lib/p11.so"));
    assert_eq!(p.pin, PinSource::File("/etc/gridtrust/hsm.pin".into()));

    // A bare library name is for the dynamic loader's search path.
    let bare = Pkcs11Config::new("libsofthsm2.so", TokenSelector::Slot(0), "k", PinSource::Env("P".into()));
    let KeyConfig::Pkcs11(p) = KeyConfig::Pkcs11(bare).resolved(base) else { panic!() };
    assert_eq!(p.module, PathBuf::from("libsofthsm2.so"));
}

#[test]
fn missing_key_table_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hub.toml");
    std::fs::write(&file, "[hub]\nlisten = \"0.0.0.0:7000\"\n").unwrap();
    let error = load_key_config(&file, "hub.key").expect_err("no table").to_string();
    assert!(error.contains("hub.toml") && error.contains("hub.key"), "{error}");
    std::fs::write(&file, "[key]\nkind = \"software\"\npath = \"hub.pem\"\n").unwrap();
    assert_eq!(load_key_config(&file, "key").unwrap(), KeyConfig::Software { path: "hub.pem".into() });
}
