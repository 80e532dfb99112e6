//! Every Merkle proof vector in the shared test data (`../shared/testdata/merkle/`, next to the
//! repository, as CI clones it) is run through our verifiers: each must give `Ok` exactly when
//! the vector does not want an error.
//!
//! Four kinds, one directory each: RFC 9162 `inclusion` and `consistency`, and the Merkle Tree
//! Certificates draft's `subtreeinclusion` and `subtreeconsistency`. Hashes are base64 in the
//! JSON; roots, leaves and proof elements of the wrong length are part of the vectors and must
//! fail cleanly (a typed error), never panic.
//!
//! So that a file cannot be skipped silently, every regular file under each kind's directory is
//! counted on disk and must have been evaluated, and a directory that is not one of the four
//! kinds fails the test. All mismatches are reported together, by file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gridtrust_trust::merkle::{
    self, HashField, ProofError, hash_from_slice, parse_proof, verify_consistency, verify_inclusion, verify_subtree_consistency,
    verify_subtree_inclusion,
};
use serde::Deserialize;

const KINDS: [&str; 4] = ["inclusion", "consistency", "subtreeinclusion", "subtreeconsistency"];

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/merkle")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Inclusion {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Consistency {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SubtreeInclusion {
    leaf_idx: u64,
    start: u64,
    end: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SubtreeConsistency {
    start: u64,
    end: u64,
    size: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

/// Strict standard base64 (RFC 4648 §4, padded): the vectors' encoding, without a dependency.
fn base64(text: &str) -> Result<Vec<u8>, String> {
    fn sextet(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.chunks_exact(4).remainder().is_empty() {
        return Err(format!("base64 length {} is not a multiple of 4", bytes.len()));
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (n, chunk) in bytes.chunks(4).enumerate() {
        let last = n + 1 == bytes.len() / 4;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return Err(format!("misplaced padding in {text:?}"));
        }
        let mut acc = 0u32;
        for &c in &chunk[..4 - pad] {
            acc = acc << 6 | sextet(c).ok_or_else(|| format!("{:?} is not base64", c as char))?;
        }
        acc <<= 6 * pad as u32;
        let decoded = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Ok(out)
}

fn proof_bytes(proof: &Option<Vec<String>>) -> Result<Vec<Vec<u8>>, String> {
    proof.iter().flatten().map(|p| base64(p)).collect()
}

/// Runs one vector: `Ok(want_err, verifier result)` or a problem with the file itself.
fn evaluate(kind: &str, json: &str) -> Result<(String, bool, Result<(), ProofError>), String> {
    let e = |err: serde_json::Error| err.to_string();
    Ok(match kind {
        "inclusion" => {
            let v: Inclusion = serde_json::from_str(json).map_err(e)?;
            let (leaf, root, proof) = (base64(&v.leaf_hash)?, base64(&v.root)?, proof_bytes(&v.proof)?);
            let result = (|| {
                let leaf = hash_from_slice(&leaf, HashField::Leaf)?;
                let root = hash_from_slice(&root, HashField::Root)?;
                verify_inclusion(&leaf, v.leaf_idx, v.tree_size, &parse_proof(&proof)?, &root)
            })();
            (v.desc, v.want_err, result)
        }
        "consistency" => {
            let v: Consistency = serde_json::from_str(json).map_err(e)?;
            let (root1, root2, proof) = (base64(&v.root1)?, base64(&v.root2)?, proof_bytes(&v.proof)?);
            let result = parse_proof(&proof).and_then(|proof| verify_consistency(v.size1, v.size2, &root1, &root2, &proof));
            (v.desc, v.want_err, result)
        }
        "subtreeinclusion" => {
            let v: SubtreeInclusion = serde_json::from_str(json).map_err(e)?;
            let (leaf, root, proof) = (base64(&v.leaf_hash)?, base64(&v.root)?, proof_bytes(&v.proof)?);
            let result = (|| {
                let leaf = hash_from_slice(&leaf, HashField::Leaf)?;
                let root = hash_from_slice(&root, HashField::Root)?;
                verify_subtree_inclusion(&leaf, v.leaf_idx, v.start, v.end, &parse_proof(&proof)?, &root)
            })();
            (v.desc, v.want_err, result)
        }
        "subtreeconsistency" => {
            let v: SubtreeConsistency = serde_json::from_str(json).map_err(e)?;
            let (root1, root2, proof) = (base64(&v.root1)?, base64(&v.root2)?, proof_bytes(&v.proof)?);
            let result = parse_proof(&proof).and_then(|proof| verify_subtree_consistency(v.start, v.end, v.size, &root1, &root2, &proof));
            (v.desc, v.want_err, result)
        }
        other => return Err(format!("unknown vector kind {other}")),
    })
}

/// Every regular file below `dir`, whatever its name, sorted.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()));
        for entry in entries {
            let path = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display())).path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[derive(Default)]
struct Tally {
    on_disk: usize,
    evaluated: usize,
    want_ok: usize,
    want_err: usize,
    agreed: usize,
}

#[test]
fn every_shared_merkle_vector_gives_ok_exactly_when_no_error_is_wanted() {
    let root = vectors_dir();
    assert!(root.is_dir(), "test vectors not found at {} (clone the shared repository beside this one)", root.display());
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&root).expect("vector directory lists") {
        let entry = entry.expect("vector directory lists");
        let name = entry.file_name().to_string_lossy().into_owned();
        if !KINDS.contains(&name.as_str()) {
            failures.push(format!("{name}: not one of the known vector kinds {KINDS:?}, so it would not be checked"));
        }
    }
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut by_error: BTreeMap<String, usize> = BTreeMap::new();
    for kind in KINDS {
        let tally = tallies.entry(kind).or_default();
        let files = files_below(&root.join(kind));
        tally.on_disk = files.len();
        for path in files {
            let shown = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
            if path.extension().is_none_or(|e| e != "json") {
                failures.push(format!("{shown}: not a .json vector"));
                continue;
            }
            let json = match std::fs::read_to_string(&path) {
                Ok(j) => j,
                Err(e) => {
                    failures.push(format!("{shown}: unreadable: {e}"));
                    continue;
                }
            };
            let outcome = std::panic::catch_unwind(|| evaluate(kind, &json));
            match outcome {
                Err(_) => failures.push(format!("{shown}: the verifier panicked")),
                Ok(Err(problem)) => failures.push(format!("{shown}: malformed vector: {problem}")),
                Ok(Ok((desc, want_err, result))) => {
                    tally.evaluated += 1;
                    if want_err {
                        tally.want_err += 1
                    } else {
                        tally.want_ok += 1
                    }
                    if let Err(e) = &result {
                        let variant = format!("{e:?}");
                        let variant = variant.split([' ', '(']).next().unwrap_or_default().to_owned();
                        *by_error.entry(format!("{kind}: {variant}")).or_default() += 1;
                    }
                    if result.is_ok() == want_err {
                        failures.push(format!("{shown} ({desc}): wantErr {want_err}, verifier gave {result:?}"));
                    } else {
                        tally.agreed += 1;
                    }
                }
            }
        }
    }

    println!("{:<20} {:>8} {:>10} {:>8} {:>9} {:>7}", "kind", "on disk", "evaluated", "want ok", "want err", "agreed");
    let mut total = Tally::default();
    for (kind, t) in &tallies {
        println!("{kind:<20} {:>8} {:>10} {:>8} {:>9} {:>7}", t.on_disk, t.evaluated, t.want_ok, t.want_err, t.agreed);
        total.on_disk += t.on_disk;
        total.evaluated += t.evaluated;
        total.want_ok += t.want_ok;
        total.want_err += t.want_err;
        total.agreed += t.agreed;
        if t.on_disk == 0 {
            failures.push(format!("{kind}: no vectors on disk"));
        }
        if t.evaluated != t.on_disk {
            failures.push(format!("{kind}: {} files on disk but {} evaluated", t.on_disk, t.evaluated));
        }
    }
    println!("{:<20} {:>8} {:>10} {:>8} {:>9} {:>7}", "total", total.on_disk, total.evaluated, total.want_ok, total.want_err, total.agreed);
    println!("refusals by error:");
    for (what, n) in &by_error {
        println!("  {what:<48} {n}");
    }
    assert!(failures.is_empty(), "{} of {} vectors disagree:\n{}", failures.len(), total.on_disk, failures.join("\n"));
}

#[test]
fn base64_decoder_is_strict() {
    assert_eq!(base64("").unwrap(), b"");
    assert_eq!(base64("Zm9vYg==").unwrap(), b"foob");
    assert_eq!(base64("Zm9vYmE=").unwrap(), b"fooba");
    assert_eq!(base64("Zm9vYmFy").unwrap(), b"foobar");
    assert!(base64("Zm9vYg=").is_err() && base64("Zm=vYg==").is_err() && base64("Zm9v!g==").is_err());
    assert_eq!(merkle::empty_root().to_vec(), base64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").unwrap());
}
