//! A live tshark capture on `lo` for the wire checks: started before the traffic, ready when
//! tshark says so, stopped with SIGINT (which flushes the file) or killed on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Capture {
    child: Child,
    pub file: PathBuf,
}

fn tshark_available() -> bool {
    Command::new("tshark").arg("-v").output().map(|o| o.status.success()).unwrap_or(false)
}

/// Skips (None, with a notice) when tshark is missing or cannot capture on lo, unless
/// GRIDTRUST_REQUIRE_PEERS is set.
fn skip(reason: &str) -> Option<Capture> {
    assert!(std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(), "{reason} (GRIDTRUST_REQUIRE_PEERS is set)");
    eprintln!("SKIP: {reason}");
    None
}

impl Capture {
    /// Captures TCP port `port` on lo into `dir/capture.pcapng`.
    pub fn start(port: u16, dir: &Path) -> Option<Capture> {
        if !tshark_available() {
            return skip("tshark is not installed");
        }
        let file = dir.join("capture.pcapng");
        let mut child = Command::new("tshark")
            .args(["-i", "lo", "-f", &format!("tcp port {port}"), "-w"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tshark");
        // Ready when tshark says the capture has started ("Capturing on" comes earlier than that).
        let stderr = child.stderr.take().expect("stderr");
        let capture = Capture { child, file };
        let mut lines = BufReader::new(stderr).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("Capture started") => break,
                Some(Ok(_)) => continue,
                _ => return skip("tshark cannot capture on lo"),
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Some(capture)
    }

    /// Lets the last segments reach the capture, then stops it cleanly.
    pub async fn stop(&mut self) {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let _ = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }

    /// One field of every frame matching `filter`, decoding the port as `decode`
    /// (e.g. `tcp.port==10102,tpkt`).
    pub fn fields(&self, decode: &str, filter: &str, field: &str) -> Vec<String> {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&self.file)
            .args(["-d", decode, "-Y", filter, "-T", "fields", "-e", field])
            .output()
            .expect("run tshark");
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    }

    /// tshark's one-line summaries of the frames matching `filter`.
    pub fn summary(&self, decode: &str, filter: &str) -> Vec<String> {
        let out = Command::new("tshark").arg("-r").arg(&self.file).args(["-d", decode, "-Y", filter]).output().expect("run tshark");
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
