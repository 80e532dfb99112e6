//! RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing.
//!
//! `leaf = SHA-256(0x00 || data)`, `node = SHA-256(0x01 || left || right)`, the tree over `n`
//! leaves splits at the largest power of two smaller than `n`, and the empty tree hashes to
//! `SHA-256("")`. These are the hashes the edge signs over its records and the hub's
//! transparency log is built from.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Hash of one leaf's data.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// Hash of an interior node from its two children.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Root over already-hashed leaves, computed bottom-up in one pass without recursion: the
/// RFC 9162 shape falls out of promoting an odd last node unchanged to the next level.
pub fn root_from_leaf_hashes(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return empty_root();
    }
    let mut level: Vec<Hash> = leaves.to_vec();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            match pair {
                [l, r] => next.push(node_hash(l, r)),
                [single] => next.push(*single),
                _ => {}
            }
        }
        level = next;
    }
    level[0]
}

/// Largest power of two strictly smaller than `n` (n >= 2): where RFC 9162 splits a tree.
fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The audit path proving that leaf `index` is in the tree over `leaves` (RFC 9162 §2.1.3.1),
/// bottom-up; `None` when the index is out of range.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    path(leaves, index, &mut proof);
    Some(proof)
}

fn path(leaves: &[Hash], index: usize, out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split_point(leaves.len());
    if index < k {
        path(&leaves[..k], index, out);
        out.push(root_from_leaf_hashes(&leaves[k..]));
    } else {
        path(&leaves[k..], index - k, out);
        out.push(root_from_leaf_hashes(&leaves[..k]));
    }
}

/// Why an inclusion proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("proof has {got} hashes, a tree of size {size} needs {expected} for leaf {index}")]
    WrongLength { index: u64, size: u64, got: usize, expected: usize },
    #[error("proof leads to a root that differs from the expected one")]
    RootMismatch,
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2) for `leaf` at `index` in a tree of `size`
/// leaves with root `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength { index, size, got: proof.len(), expected: expected_len(index, size) });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength { index, size, got: proof.len(), expected: expected_len(index, size) });
    }
    if &r == root { Ok(()) } else { Err(ProofError::RootMismatch) }
}

fn expected_len(index: u64, size: u64) -> usize {
    let (mut f_n, mut s_n, mut n) = (index, size - 1, 0);
    while s_n != 0 {
        if f_n & 1 == 1 || f_n == s_n {
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        }
        f_n >>= 1;
        s_n >>= 1;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&[i as u8])).collect()
    }

    /// The recursive definition straight from RFC 9162 §2.1.1, as an independent reference.
    fn reference_root(l: &[Hash]) -> Hash {
        match l.len() {
            0 => empty_root(),
            1 => l[0],
            n => {
                let k = split_point(n);
                node_hash(&reference_root(&l[..k]), &reference_root(&l[k..]))
            }
        }
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        let hex: String = empty_root().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn iterative_root_matches_the_recursive_definition() {
        for n in 0..70 {
            assert_eq!(root_from_leaf_hashes(&leaves(n)), reference_root(&leaves(n)), "n={n}");
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_a_wrong_one_does_not() {
        for n in 1..40 {
            let l = leaves(n);
            let root = root_from_leaf_hashes(&l);
            for i in 0..n {
                let proof = inclusion_proof(&l, i).unwrap();
                assert_eq!(verify_inclusion(&l[i], i as u64, n as u64, &proof, &root), Ok(()), "n={n} i={i}");
                let other = leaf_hash(b"not in the tree");
                assert_eq!(verify_inclusion(&other, i as u64, n as u64, &proof, &root), Err(ProofError::RootMismatch));
            }
        }
    }
}
