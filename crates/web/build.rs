//! Embeds the committed UI bundle (`assets/`, written by `web/build.sh`) into the binary: writes
//! a table of `(path, bytes, etag)` with `include_bytes!`, so `cargo build` needs no Node.js.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest.join("assets");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files)?;
    files.sort();
    let mut table = String::from("/// The embedded files, sorted by URL path.\npub(crate) static FILES: &[EmbeddedFile] = &[\n");
    for (url, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = std::fs::read(path)?;
        let digest = Sha256::digest(&bytes);
        let etag: String = digest.iter().take(12).fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        writeln!(
            table,
            "    EmbeddedFile {{ path: {url:?}, bytes: include_bytes!({:?}), etag: \"\\\"{etag}\\\"\" }},",
            path.display().to_string()
        )?;
    }
    table.push_str("];\n");
    std::fs::write(PathBuf::from(std::env::var("OUT_DIR")?).join("embedded.rs"), table)?;
    Ok(())
}

/// Every file under `dir` as (URL path relative to `root`, file path).
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let url = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            out.push((format!("/{url}"), path));
        }
    }
    Ok(())
}
