//! Helpers every whole-chain test file needs: logs on request, polling with a deadline, and
//! the development identities `provision` wrote. Included with `#[path]` by the files that use it.
#![allow(dead_code)] // each test binary uses what it needs

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gridtrust_keys::KeyConfig;
use gridtrust_transport::identity::{Identity, IdentityConfig};

/// `RUST_LOG=...` shows the roles' logs in the test output.
pub fn init_logs() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
}

/// Polls `done` every 20 ms until it holds; fails the test naming `what` after `within`.
pub async fn poll_until(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The identity `name` from the development PKI folder `pki` (software key).
pub fn identity_in(pki: &Path, name: &str) -> Identity {
    let config = IdentityConfig::new(
        pki.join("ca.crt.pem"),
        pki.join(format!("{name}.crt.pem")),
        pki.join("crl.pem"),
        KeyConfig::Software { path: pki.join(format!("{name}.key.pem")) },
    );
    Identity::load(&config).unwrap_or_else(|e| panic!("identity {name}: {e}"))
}

/// The identity `name` of an installation folder whose PKI is in `pki/`.
pub fn identity_in_site(dir: &Path, name: &str) -> Identity {
    identity_in(&dir.join("pki"), name)
}

/// `gridtrust hub --config <config>` as a separate process, killed when dropped.
pub struct HubProcess(Child);

impl HubProcess {
    pub fn start(config: &Path) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_gridtrust"))
            .args(["hub", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("hub starts");
        Self(child)
    }

    /// Whether the process has ended (a failed start, for instance).
    pub fn exited(&mut self) -> bool {
        self.0.try_wait().ok().flatten().is_some()
    }

    /// A power cut: SIGKILL, reaped.
    pub fn sigkill(&mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("reaped");
    }

    /// A normal stop (SIGTERM), waited for.
    pub fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A site folder with the development PKI that `provision` writes, and the `[identity]` table of
/// each role it provisioned; the test files' own `Site` types build on it.
pub struct Installation {
    _tmp: tempfile::TempDir,
    pub dir: std::path::PathBuf,
    pub tables: Vec<(&'static str, String)>,
}

impl Installation {
    pub fn new() -> Self {
        init_logs();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let tables = gridtrust::chain::provision(&dir.join("pki"), &gridtrust::chain::DemoKeys::Software).unwrap();
        Self { _tmp: tmp, dir, tables }
    }

    /// The `[identity]` table of `name`.
    pub fn table(&self, name: &str) -> String {
        self.tables.iter().find(|(n, _)| *n == name).map(|(_, t)| t.clone()).unwrap_or_else(|| panic!("no identity {name} provisioned"))
    }
}
