//! Shared helpers of the whole-chain tests.

use std::process::Stdio;

/// Whether `python3 -c "import c104"` works. When it does not, the test prints why and is skipped,
/// unless GRIDTRUST_REQUIRE_PEERS is set (CI), where a missing peer is a failure.
pub fn c104_available(test: &str) -> bool {
    python_module_available(test, "c104")
}

/// Whether `python3 -c "import MODULE"` works (a peer written in Python, or one it drives). When
/// it does not, the test prints a `SKIP` line and is skipped, unless GRIDTRUST_REQUIRE_PEERS is
/// set (CI), where a missing peer is a failure.
pub fn python_module_available(test: &str, module: &str) -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(),
            "{test}: {module} is required (GRIDTRUST_REQUIRE_PEERS) but not installed"
        );
        eprintln!("SKIP {test}: python3 module {module} is not installed (pip install {module})");
    }
    ok
}

/// Whether `python3` runs (its `ssl` module is the TLS SCADA peer). When it does not, the test
/// prints why and is skipped, unless GRIDTRUST_REQUIRE_PEERS is set (CI).
#[allow(dead_code)] // each test binary includes this module and uses what it needs
pub fn python3_available(test: &str) -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import ssl"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(),
            "{test}: python3 with ssl is required (GRIDTRUST_REQUIRE_PEERS) but missing"
        );
        eprintln!("SKIP {test}: python3 with its ssl module is not installed");
    }
    ok
}
