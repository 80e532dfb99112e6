//! RFC 9162 (Certificate Transparency 2.0) Merkle trees: hashing, inclusion and consistency
//! proofs, and the subtree proofs of the Merkle Tree Certificates draft.
//!
//! `leaf = SHA-256(0x00 || data)`, `node = SHA-256(0x01 || left || right)`, the tree over `n`
//! leaves splits at the largest power of two smaller than `n`, and the empty tree hashes to
//! `SHA-256("")`. These are the hashes the edge signs over its records and the hub's
//! transparency log is built from.
//!
//! Three kinds of proof, each with a generator and a verifier:
//!
//! - **inclusion** (RFC 9162 §2.1.3): leaf `i` is in the tree of size `n` with root `r`; a
//!   receiver checks one record against a signed batch root, an auditor one log entry against a
//!   checkpoint.
//! - **consistency** (RFC 9162 §2.1.4): the tree of size `m` is a prefix of the tree of size `n`;
//!   this is what makes the hub's log append-only to everyone holding an older checkpoint.
//! - **subtree inclusion / consistency** (draft-ietf-plants-merkle-tree-certs §4): the same for a
//!   *subtree* `[start, end)`, an interval aligned so that it can be proven consistent with the
//!   whole tree. They let a verifier hold the hash of a slice of the log (say, one day) instead
//!   of a whole checkpoint.
//!
//! Generators work on any [`NodeSource`], which hands out hashes of complete power-of-two
//! subtrees: the in-memory leaf slices used by tests and batches, or the hub's persisted log,
//! where every proof then costs O(log n) lookups. Proof elements that arrive from outside are
//! parsed with [`parse_proof`], which refuses anything that is not exactly 32 bytes with a
//! [`ProofError::HashLength`] naming the element.

use std::fmt;

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Bytes in a [`Hash`]: every proof element must have exactly this many.
pub const HASH_LEN: usize = 32;

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
    level.first().copied().unwrap_or_else(empty_root)
}

/// Largest power of two strictly smaller than `n` (n >= 2): where RFC 9162 splits a tree.
fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// [`split_point`] for `u64` sizes (n >= 2).
fn split_point_u64(n: u64) -> u64 {
    // n >= 2, so n - 1 >= 1 and the shift is at most 63.
    1u64 << (63 - (n - 1).leading_zeros())
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
    // k < leaves.len() (two or more leaves), so the split always succeeds.
    let Some((left, right)) = leaves.split_at_checked(split_point(leaves.len())) else { return };
    if index < left.len() {
        path(left, index, out);
        out.push(root_from_leaf_hashes(right));
    } else {
        path(right, index - left.len(), out);
        out.push(root_from_leaf_hashes(left));
    }
}

/// Which input of a proof had the wrong length, for [`ProofError::HashLength`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashField {
    /// Element `n` (from 0) of a proof.
    ProofElement(usize),
    /// The leaf hash whose inclusion is proven.
    Leaf,
    /// The root an inclusion proof is checked against.
    Root,
    /// The older root of a consistency proof, or the subtree hash of a subtree consistency
    /// proof: the hash the proof starts from when it has to be hashed further.
    OldRoot,
}

impl fmt::Display for HashField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ProofElement(i) => write!(f, "proof element {i}"),
            Self::Leaf => f.write_str("leaf hash"),
            Self::Root => f.write_str("root"),
            Self::OldRoot => f.write_str("old root / subtree hash"),
        }
    }
}

/// Why a proof does not hold, or why a proof cannot be generated for the arguments given.
/// Every variant names what failed, so an auditor's alarm says more than "bad proof".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree (inclusion), or a node or size requested from a
    /// [`NodeSource`] lies beyond what it holds.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The size of the tree it was asked in.
        size: u64,
    },
    /// An inclusion proof has more or fewer hashes than the tree shape needs.
    #[error("proof has {got} hashes, a tree of size {size} needs {expected} for leaf {index}")]
    WrongLength {
        /// The leaf.
        index: u64,
        /// The tree size.
        size: u64,
        /// Hashes in the proof.
        got: usize,
        /// Hashes the shape of the tree requires.
        expected: usize,
    },
    /// An inclusion proof leads to a root that is not the expected one: the leaf, the proof or
    /// the root was altered.
    #[error("proof leads to a root that differs from the expected one")]
    RootMismatch,
    /// A hash given as bytes is not 32 bytes long. Proof elements from outside must be parsed
    /// with [`parse_proof`]; a 0- or 33-byte element is malformed, not merely wrong.
    #[error("{field} has {got} bytes, a SHA-256 hash has 32")]
    HashLength {
        /// Which input.
        field: HashField,
        /// Its length.
        got: usize,
    },
    /// A consistency proof was asked from a larger to a smaller tree: logs only grow.
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldLargerThanNew {
        /// The older (claimed) size.
        old: u64,
        /// The newer (claimed) size.
        new: u64,
    },
    /// RFC 9162 defines consistency between trees of sizes `0 < m <= n`. Every tree extends
    /// the empty one, so such a "proof" would prove nothing and is refused rather than
    /// accepted blindly; a holder of the empty tree checks the new root by other means.
    #[error("consistency from the empty tree to size {new} proves nothing")]
    FromEmptyTree {
        /// The newer size.
        new: u64,
    },
    /// A consistency proof has more or fewer hashes than the two sizes need (zero when the
    /// sizes are equal).
    #[error("consistency proof from size {old} to {new} has {got} hashes, {expected} expected")]
    ConsistencyLength {
        /// Older size.
        old: u64,
        /// Newer size.
        new: u64,
        /// Hashes in the proof.
        got: usize,
        /// Hashes the sizes require.
        expected: usize,
    },
    /// A consistency proof does not reproduce the older root (for subtree consistency: the
    /// subtree hash; for an empty subtree: it is not `SHA-256("")`).
    #[error("consistency proof does not reproduce the old root (or subtree hash)")]
    OldRootMismatch,
    /// A consistency proof does not reproduce the newer root: the log was rewritten or forked.
    #[error("consistency proof does not reproduce the new root")]
    NewRootMismatch,
    /// `[start, end)` is not a subtree: `start > end`, or `start` is not a multiple of the
    /// smallest power of two `>= end - start` (draft-ietf-plants-merkle-tree-certs §4.1).
    #[error("[{start}, {end}) is not a valid subtree")]
    InvalidSubtree {
        /// First leaf of the interval.
        start: u64,
        /// One past the last leaf.
        end: u64,
    },
    /// A subtree reaches beyond the tree it is proven against.
    #[error("subtree ending at {end} lies outside a tree of size {size}")]
    SubtreeBeyondTree {
        /// One past the subtree's last leaf.
        end: u64,
        /// The tree size.
        size: u64,
    },
    /// A subtree inclusion proof names a leaf outside the subtree.
    #[error("leaf index {index} is outside subtree [{start}, {end})")]
    IndexOutsideSubtree {
        /// The leaf.
        index: u64,
        /// First leaf of the subtree.
        start: u64,
        /// One past its last leaf.
        end: u64,
    },
    /// A subtree consistency proof has more or fewer hashes than the shape needs.
    #[error("subtree consistency proof for [{start}, {end}) in a tree of size {size} has {got} hashes, {expected} expected")]
    SubtreeConsistencyLength {
        /// First leaf of the subtree.
        start: u64,
        /// One past its last leaf.
        end: u64,
        /// The tree size.
        size: u64,
        /// Hashes in the proof.
        got: usize,
        /// Hashes the shape requires.
        expected: usize,
    },
}

/// Parses a hash that arrived as bytes, refusing any length but 32.
pub fn hash_from_slice(bytes: &[u8], field: HashField) -> Result<Hash, ProofError> {
    Hash::try_from(bytes).map_err(|_| ProofError::HashLength { field, got: bytes.len() })
}

/// Parses proof elements that arrived as byte strings (JSON, a wire message), so that a
/// truncated, empty or over-long element is a typed error naming its position and never a
/// panic or a silently different hash.
pub fn parse_proof<B: AsRef<[u8]>>(elements: &[B]) -> Result<Vec<Hash>, ProofError> {
    elements.iter().enumerate().map(|(i, e)| hash_from_slice(e.as_ref(), HashField::ProofElement(i))).collect()
}

/// Computes the root an inclusion proof leads to (RFC 9162 §2.1.3.2 without the final
/// comparison), for a caller that looks the root up by the result.
pub fn root_from_inclusion_proof(leaf: &Hash, index: u64, size: u64, proof: &[Hash]) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = expected_len(index, size);
    let wrong_length = || ProofError::WrongLength { index, size, got: proof.len(), expected };
    // The loop below would fail too; checking first bounds the work an oversized proof causes.
    if proof.len() != expected {
        return Err(wrong_length());
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(wrong_length());
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
        return Err(wrong_length());
    }
    Ok(r)
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2) for `leaf` at `index` in a tree of `size`
/// leaves with root `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    let r = root_from_inclusion_proof(leaf, index, size, proof)?;
    if &r == root { Ok(()) } else { Err(ProofError::RootMismatch) }
}

fn expected_len(index: u64, size: u64) -> usize {
    let (mut f_n, mut s_n, mut n) = (index, size - 1, 0);
    while s_n != 0 {
        if f_n & 1 == 0 && f_n == s_n {
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        }
        f_n >>= 1;
        s_n >>= 1;
        n += 1;
    }
    n
}

/// The running hash of a consistency check: the caller's own bytes until the first time it has
/// to be hashed (roots are compared as bytes, so equal sizes need no well-formed hash), then a
/// computed hash.
#[derive(Clone, Copy)]
enum Running<'a> {
    Given(&'a [u8]),
    Computed(Hash),
}

impl Running<'_> {
    fn hash(&self) -> Result<Hash, ProofError> {
        match self {
            Self::Given(b) => hash_from_slice(b, HashField::OldRoot),
            Self::Computed(h) => Ok(*h),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Given(b) => b,
            Self::Computed(h) => h,
        }
    }
}

/// Proof hashes RFC 9162 §2.1.4.2 consumes for sizes `0 < old < new`.
fn consistency_len(old: u64, new: u64) -> usize {
    let mut f_n = old - 1;
    let mut s_n = new - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // The first element (or the prepended old root) seeds fr and sr; each further one is a step.
    let mut n = usize::from(!old.is_power_of_two());
    while s_n != 0 {
        if f_n & 1 == 0 && f_n == s_n {
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        }
        f_n >>= 1;
        s_n >>= 1;
        n += 1;
    }
    n
}

/// Verifies that the tree of `old_size` with root `old_root` is a prefix of the tree of
/// `new_size` with root `new_root`, exactly as RFC 9162 §2.1.4.2, plus the two edge cases the
/// RFC leaves open, decided as the shared test vectors do:
///
/// - `old_size == new_size`: the proof must be empty and the roots equal;
/// - `old_size == 0`: refused ([`ProofError::FromEmptyTree`]); the empty tree has nothing to
///   be consistent with, and a verifier holding it has no root worth protecting.
///
/// Roots are taken as bytes because they are only compared (or, for the old root when
/// `old_size` is a power of two, hashed after a length check), so a caller holding a root from
/// the wire need not parse it first; a root of the wrong length simply never matches. Proof
/// elements are [`Hash`]es: parse foreign ones with [`parse_proof`].
pub fn verify_consistency(old_size: u64, new_size: u64, old_root: &[u8], new_root: &[u8], proof: &[Hash]) -> Result<(), ProofError> {
    let (old, new) = (old_size, new_size);
    if old > new {
        return Err(ProofError::OldLargerThanNew { old, new });
    }
    if old == 0 {
        return Err(ProofError::FromEmptyTree { new });
    }
    if old == new {
        if !proof.is_empty() {
            return Err(ProofError::ConsistencyLength { old, new, got: proof.len(), expected: 0 });
        }
        return if old_root == new_root { Ok(()) } else { Err(ProofError::NewRootMismatch) };
    }
    let expected = consistency_len(old, new);
    let wrong_length = || ProofError::ConsistencyLength { old, new, got: proof.len(), expected };
    // Step 1 (an empty path fails), and every length the loop below would refuse, before hashing.
    if proof.is_empty() || proof.len() != expected {
        return Err(wrong_length());
    }
    // Step 2: if `old` is a power of two, the old root is the implicit first path element.
    let (seed, rest) = match proof.split_first() {
        _ if old.is_power_of_two() => (Running::Given(old_root), proof),
        Some((&first, rest)) => (Running::Computed(first), rest),
        None => return Err(wrong_length()),
    };
    // Steps 3 and 4.
    let mut f_n = old - 1;
    let mut s_n = new - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5.
    let mut fr = seed;
    let mut sr = seed;
    // Step 6.
    for c in rest {
        if s_n == 0 {
            return Err(wrong_length());
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = Running::Computed(node_hash(c, &fr.hash()?));
            sr = Running::Computed(node_hash(c, &sr.hash()?));
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = Running::Computed(node_hash(&sr.hash()?, c));
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 7.
    if s_n != 0 {
        return Err(wrong_length());
    }
    if fr.bytes() != old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr.bytes() != new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

/// Whether `[start, end)` is a subtree in the sense of draft-ietf-plants-merkle-tree-certs
/// §4.1: `start <= end` and `start` is a multiple of the smallest power of two `>= end - start`.
/// Only such intervals can be proven consistent with the whole tree; `[0, x)` and `[x, x)`
/// always are.
pub fn is_valid_subtree(start: u64, end: u64) -> bool {
    if start > end {
        return false;
    }
    let size = end - start;
    if size > 1 << 63 {
        // The power of two would not fit in a u64; only 0 is a multiple of 2^64.
        return start == 0;
    }
    start & (size.next_power_of_two() - 1) == 0
}

/// Computes the subtree hash an inclusion proof leads to: entry `index` of the subtree
/// `[start, end)` (draft-ietf-plants-merkle-tree-certs §4.3.2, "evaluating").
pub fn evaluate_subtree_inclusion(leaf: &Hash, index: u64, start: u64, end: u64, proof: &[Hash]) -> Result<Hash, ProofError> {
    if !is_valid_subtree(start, end) {
        return Err(ProofError::InvalidSubtree { start, end });
    }
    if index < start || index >= end {
        return Err(ProofError::IndexOutsideSubtree { index, start, end });
    }
    root_from_inclusion_proof(leaf, index - start, end - start, proof)
}

/// Verifies that `leaf` is entry `index` of the subtree `[start, end)` whose hash is
/// `subtree_hash` (draft-ietf-plants-merkle-tree-certs §4.3.3).
pub fn verify_subtree_inclusion(
    leaf: &Hash,
    index: u64,
    start: u64,
    end: u64,
    proof: &[Hash],
    subtree_hash: &Hash,
) -> Result<(), ProofError> {
    let r = evaluate_subtree_inclusion(leaf, index, start, end, proof)?;
    if &r == subtree_hash { Ok(()) } else { Err(ProofError::RootMismatch) }
}

/// Index state of the subtree consistency check after its setup steps (draft §4.4.3 steps 3-5).
fn subtree_consistency_setup(start: u64, end: u64, size: u64) -> (u64, u64, u64) {
    let (mut f_n, mut s_n, mut t_n) = (start, end - 1, size - 1);
    if s_n == t_n {
        while f_n != s_n {
            f_n >>= 1;
            s_n >>= 1;
            t_n >>= 1;
        }
    } else {
        while f_n != s_n && s_n & 1 == 1 {
            f_n >>= 1;
            s_n >>= 1;
            t_n >>= 1;
        }
    }
    (f_n, s_n, t_n)
}

/// Proof hashes the subtree consistency check consumes for a non-empty subtree.
fn subtree_consistency_len(start: u64, end: u64, size: u64) -> usize {
    let (f_n, mut s_n, mut t_n) = subtree_consistency_setup(start, end, size);
    // The first element seeds fr and sr unless the subtree hash does; each further one is a step.
    let mut n = usize::from(f_n != s_n);
    while t_n != 0 {
        if s_n & 1 == 1 || s_n == t_n {
            while s_n & 1 == 0 {
                s_n >>= 1;
                t_n >>= 1;
            }
        }
        s_n >>= 1;
        t_n >>= 1;
        n += 1;
    }
    n
}

/// Verifies that the subtree `[start, end)` with hash `subtree_hash` is part of the tree of
/// `size` leaves with root `root` (draft-ietf-plants-merkle-tree-certs §4.4.3). With
/// `start == 0` this is an RFC 9162 consistency check from `end` to `size`, except that the
/// empty subtree (`start == end`) is accepted with an empty proof when its hash is
/// `SHA-256("")`, as the draft specifies.
///
/// Hashes are taken as bytes for the same reason as in [`verify_consistency`].
pub fn verify_subtree_consistency(
    start: u64,
    end: u64,
    size: u64,
    subtree_hash: &[u8],
    root: &[u8],
    proof: &[Hash],
) -> Result<(), ProofError> {
    // Step 1.
    if !is_valid_subtree(start, end) {
        return Err(ProofError::InvalidSubtree { start, end });
    }
    if end > size {
        return Err(ProofError::SubtreeBeyondTree { end, size });
    }
    // Step 2: the empty subtree.
    if start == end {
        if !proof.is_empty() {
            return Err(ProofError::SubtreeConsistencyLength { start, end, size, got: proof.len(), expected: 0 });
        }
        return if subtree_hash == empty_root() { Ok(()) } else { Err(ProofError::OldRootMismatch) };
    }
    let expected = subtree_consistency_len(start, end, size);
    let wrong_length = || ProofError::SubtreeConsistencyLength { start, end, size, got: proof.len(), expected };
    // The loop below would refuse any other length too; checking first bounds the work.
    if proof.len() != expected {
        return Err(wrong_length());
    }
    // Steps 3-5.
    let (mut f_n, mut s_n, mut t_n) = subtree_consistency_setup(start, end, size);
    // Steps 6-7.
    let (seed, rest) = if f_n == s_n {
        (Running::Given(subtree_hash), proof)
    } else {
        let Some((first, rest)) = proof.split_first() else { return Err(wrong_length()) };
        (Running::Computed(*first), rest)
    };
    let mut fr = seed;
    let mut sr = seed;
    // Step 8.
    for c in rest {
        if t_n == 0 {
            return Err(wrong_length());
        }
        if s_n & 1 == 1 || s_n == t_n {
            if f_n < s_n {
                fr = Running::Computed(node_hash(c, &fr.hash()?));
            }
            sr = Running::Computed(node_hash(c, &sr.hash()?));
            while s_n & 1 == 0 {
                f_n >>= 1;
                s_n >>= 1;
                t_n >>= 1;
            }
        } else {
            sr = Running::Computed(node_hash(&sr.hash()?, c));
        }
        f_n >>= 1;
        s_n >>= 1;
        t_n >>= 1;
    }
    // Step 9.
    if t_n != 0 {
        return Err(wrong_length());
    }
    if fr.bytes() != subtree_hash {
        return Err(ProofError::OldRootMismatch);
    }
    if sr.bytes() != root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

/// Where proof generators get hashes from: the hash of the complete subtree of `2^level`
/// leaves that starts at leaf `index << level`.
///
/// Every node a proof needs is either such a complete subtree or the right edge of the tree,
/// which is a handful of them (one per set bit of the size), so a source that stores complete
/// subtrees answers any proof in O(log n) lookups. Complete subtrees never change in an
/// append-only tree, which is what lets the hub's log persist them once.
pub trait NodeSource {
    /// What a lookup can fail with; generators also report invalid arguments through it.
    type Error: From<ProofError>;

    /// The hash of complete subtree `index` at `level` (level 0: the leaf hashes).
    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// An in-memory slice of leaf hashes is a source; each lookup hashes the subtree afresh, which
/// is fine for batches and tests and is what the persisted log avoids.
impl NodeSource for [Hash] {
    type Error = ProofError;

    fn node(&self, level: u32, index: u64) -> Result<Hash, ProofError> {
        let size = self.len() as u64;
        let range = 1u64
            .checked_shl(level)
            .and_then(|span| index.checked_mul(span).and_then(|first| Some((first, first.checked_add(span)?))))
            .filter(|&(_, last)| last <= size);
        let Some((first, last)) = range else { return Err(ProofError::IndexOutOfRange { index, size }) };
        let out_of_range = || ProofError::IndexOutOfRange { index, size };
        let (first, last) = (usize::try_from(first).map_err(|_| out_of_range())?, usize::try_from(last).map_err(|_| out_of_range())?);
        Ok(root_from_leaf_hashes(self.get(first..last).ok_or_else(out_of_range)?))
    }
}

/// The hash of the subtree `[start, end)` (which must be valid, see [`is_valid_subtree`]):
/// its complete pieces, largest first, folded from the right as RFC 9162 shapes the tree.
pub fn subtree_hash<S: NodeSource + ?Sized>(source: &S, start: u64, end: u64) -> Result<Hash, S::Error> {
    if !is_valid_subtree(start, end) {
        return Err(ProofError::InvalidSubtree { start, end }.into());
    }
    let size = end - start;
    let mut pieces = [[0u8; 32]; 64];
    let mut n = 0usize;
    let mut pos = start;
    // At most one piece per level, so the 64 slots never run out before the levels do.
    for (level, slot) in (0..64u32).rev().filter(|level| (size >> level) & 1 == 1).zip(&mut pieces) {
        *slot = source.node(level, pos >> level)?;
        n += 1;
        pos += 1 << level;
    }
    let Some((last, rest)) = pieces.get(..n).and_then(<[Hash]>::split_last) else { return Ok(empty_root()) };
    Ok(rest.iter().rev().fold(*last, |acc, p| node_hash(p, &acc)))
}

/// RFC 9162 §2.1.3.1 inclusion proof for leaf `index` in the tree of the first `size` leaves of
/// `source`, bottom-up.
pub fn inclusion_proof_from<S: NodeSource + ?Sized>(source: &S, index: u64, size: u64) -> Result<Vec<Hash>, S::Error> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size }.into());
    }
    let (mut lo, mut hi) = (0u64, size);
    let mut top_down = Vec::with_capacity(64);
    while hi - lo > 1 {
        let mid = lo + split_point_u64(hi - lo);
        if index < mid {
            top_down.push(subtree_hash(source, mid, hi)?);
            hi = mid;
        } else {
            top_down.push(subtree_hash(source, lo, mid)?);
            lo = mid;
        }
    }
    top_down.reverse();
    Ok(top_down)
}

/// draft-ietf-plants-merkle-tree-certs §4.4.1 `SUBTREE_PROOF(start, end, D_size)`: proves the
/// subtree `[start, end)` is part of the tree of the first `size` leaves.
pub fn subtree_consistency_proof_from<S: NodeSource + ?Sized>(source: &S, start: u64, end: u64, size: u64) -> Result<Vec<Hash>, S::Error> {
    if !is_valid_subtree(start, end) {
        return Err(ProofError::InvalidSubtree { start, end }.into());
    }
    if end > size {
        return Err(ProofError::SubtreeBeyondTree { end, size }.into());
    }
    let mut top_down = Vec::with_capacity(64);
    if start == end {
        return Ok(top_down);
    }
    // The current node of the tree is [lo, hi); the subtree still to be proven is [s, end).
    let (mut s, mut lo, mut hi, mut known) = (start, 0u64, size, true);
    loop {
        if s == lo && end == hi {
            if !known {
                top_down.push(subtree_hash(source, lo, hi)?);
            }
            break;
        }
        let mid = lo + split_point_u64(hi - lo);
        if end <= mid {
            top_down.push(subtree_hash(source, mid, hi)?);
            hi = mid;
        } else if mid <= s {
            top_down.push(subtree_hash(source, lo, mid)?);
            lo = mid;
        } else {
            // s == lo here: the subtree straddles the split, so its left part is the complete
            // left child and the rest is proven in the right child, whose hash the verifier
            // does not know.
            top_down.push(subtree_hash(source, lo, mid)?);
            lo = mid;
            s = mid;
            known = false;
        }
    }
    top_down.reverse();
    Ok(top_down)
}

/// RFC 9162 §2.1.4.1 consistency proof from the tree of `old_size` leaves to the tree of
/// `new_size` leaves of `source` (empty when the sizes are equal). `old_size == 0` is refused,
/// as by [`verify_consistency`].
pub fn consistency_proof_from<S: NodeSource + ?Sized>(source: &S, old_size: u64, new_size: u64) -> Result<Vec<Hash>, S::Error> {
    if old_size > new_size {
        return Err(ProofError::OldLargerThanNew { old: old_size, new: new_size }.into());
    }
    if old_size == 0 {
        return Err(ProofError::FromEmptyTree { new: new_size }.into());
    }
    // SUBTREE_PROOF(0, m, D_n) is PROOF(m, D_n) (draft §4.4.1).
    subtree_consistency_proof_from(source, 0, old_size, new_size)
}

/// RFC 9162 §2.1.4.1 consistency proof between the first `old_size` leaves and all of
/// `leaves`; `None` when `old_size` is 0 or larger than the tree.
pub fn consistency_proof(leaves: &[Hash], old_size: usize) -> Option<Vec<Hash>> {
    consistency_proof_from(leaves, old_size as u64, leaves.len() as u64).ok()
}

/// Subtree consistency proof for `[start, end)` within the tree over all of `leaves`; `None`
/// when the interval is not a valid subtree of it.
pub fn subtree_consistency_proof(leaves: &[Hash], start: u64, end: u64) -> Option<Vec<Hash>> {
    subtree_consistency_proof_from(leaves, start, end, leaves.len() as u64).ok()
}

/// Inclusion proof for entry `index` of the subtree `[start, end)` of `leaves`; `None` when the
/// interval is not a valid subtree of them or does not contain `index`.
pub fn subtree_inclusion_proof(leaves: &[Hash], index: u64, start: u64, end: u64) -> Option<Vec<Hash>> {
    if !is_valid_subtree(start, end) || end > leaves.len() as u64 || index < start || index >= end {
        return None;
    }
    let sub = leaves.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)?;
    inclusion_proof(sub, usize::try_from(index - start).ok()?)
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

    #[test]
    fn generic_inclusion_proofs_match_the_recursive_ones() {
        for n in 1..40 {
            let l = leaves(n);
            for i in 0..n {
                assert_eq!(inclusion_proof_from(&l[..], i as u64, n as u64).unwrap(), inclusion_proof(&l, i).unwrap(), "n={n} i={i}");
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_altered_ones_do_not() {
        for n in 1..40u64 {
            let l = leaves(n as usize);
            let new_root = root_from_leaf_hashes(&l);
            for m in 1..=n {
                let old_root = root_from_leaf_hashes(&l[..m as usize]);
                let proof = consistency_proof(&l, m as usize).unwrap();
                assert_eq!(verify_consistency(m, n, &old_root, &new_root, &proof), Ok(()), "m={m} n={n}");
                // The draft's subtree check with start 0 is the same check.
                assert_eq!(verify_subtree_consistency(0, m, n, &old_root, &new_root, &proof), Ok(()), "m={m} n={n}");
                let other = leaf_hash(b"forged");
                assert!(verify_consistency(m, n, &other, &new_root, &proof).is_err());
                assert!(verify_consistency(m, n, &old_root, &other, &proof).is_err());
                for k in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[k][0] ^= 1;
                    assert!(verify_consistency(m, n, &old_root, &new_root, &bad).is_err(), "m={m} n={n} k={k}");
                }
                if m < n {
                    assert_eq!(proof.len(), consistency_len(m, n));
                    let mut longer = proof.clone();
                    longer.push(other);
                    assert!(matches!(verify_consistency(m, n, &old_root, &new_root, &longer), Err(ProofError::ConsistencyLength { .. })));
                }
            }
        }
    }

    #[test]
    fn consistency_edge_cases_follow_the_vectors() {
        let root = leaf_hash(b"a");
        assert_eq!(verify_consistency(1, 1, &root, &root, &[]), Ok(()));
        assert_eq!(verify_consistency(1, 1, &root, &empty_root(), &[]), Err(ProofError::NewRootMismatch));
        assert!(matches!(verify_consistency(1, 1, &root, &root, &[root]), Err(ProofError::ConsistencyLength { expected: 0, .. })));
        assert_eq!(verify_consistency(0, 0, &empty_root(), &empty_root(), &[]), Err(ProofError::FromEmptyTree { new: 0 }));
        assert_eq!(verify_consistency(0, 5, &empty_root(), &root, &[]), Err(ProofError::FromEmptyTree { new: 5 }));
        assert_eq!(verify_consistency(2, 1, &root, &root, &[]), Err(ProofError::OldLargerThanNew { old: 2, new: 1 }));
        // A malformed old root that would have to be hashed is a length error, not a panic.
        assert_eq!(verify_consistency(2, 3, b"short", &root, &[root]), Err(ProofError::HashLength { field: HashField::OldRoot, got: 5 }));
        assert_eq!(consistency_proof(&leaves(3), 0), None);
        assert_eq!(consistency_proof(&leaves(3), 4), None);
    }

    #[test]
    fn subtree_validity_matches_the_draft() {
        assert!(is_valid_subtree(0, 0) && is_valid_subtree(5, 5) && is_valid_subtree(0, 13));
        assert!(is_valid_subtree(4, 8) && is_valid_subtree(8, 13) && is_valid_subtree(12, 14));
        assert!(!is_valid_subtree(3, 5) && !is_valid_subtree(2, 1) && !is_valid_subtree(1, 15) && !is_valid_subtree(2, 6));
        assert!(!is_valid_subtree(1, (1 << 63) + 2));
        assert!(is_valid_subtree(0, u64::MAX) && !is_valid_subtree(1, u64::MAX));
    }

    #[test]
    fn draft_example_subtree_consistency_proofs() {
        let l = leaves(14);
        // [4, 8) in 14: MTH(D[0:4]), MTH(D[8:14]).
        assert_eq!(subtree_consistency_proof(&l, 4, 8).unwrap(), vec![root_from_leaf_hashes(&l[0..4]), root_from_leaf_hashes(&l[8..14])]);
        // [8, 13) in 14: d[12], d[13], MTH(D[8:12]), MTH(D[0:8]).
        assert_eq!(
            subtree_consistency_proof(&l, 8, 13).unwrap(),
            vec![l[12], l[13], root_from_leaf_hashes(&l[8..12]), root_from_leaf_hashes(&l[0..8])]
        );
    }

    #[test]
    fn every_subtree_proof_verifies_and_altered_ones_do_not() {
        for n in 0..34u64 {
            let l = leaves(n as usize);
            let root = root_from_leaf_hashes(&l);
            for start in 0..=n {
                for end in start..=n {
                    if !is_valid_subtree(start, end) {
                        assert_eq!(subtree_consistency_proof(&l, start, end), None);
                        continue;
                    }
                    let sub = root_from_leaf_hashes(&l[start as usize..end as usize]);
                    assert_eq!(subtree_hash(&l[..], start, end).unwrap(), sub);
                    let proof = subtree_consistency_proof(&l, start, end).unwrap();
                    assert_eq!(verify_subtree_consistency(start, end, n, &sub, &root, &proof), Ok(()), "[{start},{end}) n={n}");
                    if start < end {
                        assert_eq!(proof.len(), subtree_consistency_len(start, end, n));
                        assert!(verify_subtree_consistency(start, end, n, &leaf_hash(b"x"), &root, &proof).is_err());
                        for k in 0..proof.len() {
                            let mut bad = proof.clone();
                            bad[k][31] ^= 0x80;
                            assert!(verify_subtree_consistency(start, end, n, &sub, &root, &bad).is_err());
                        }
                    }
                    for i in start..end {
                        let p = subtree_inclusion_proof(&l, i, start, end).unwrap();
                        assert_eq!(verify_subtree_inclusion(&l[i as usize], i, start, end, &p, &sub), Ok(()));
                        assert!(verify_subtree_inclusion(&l[i as usize], i, start, end, &p, &root).is_err() || start == 0 && end == n);
                    }
                }
            }
        }
    }

    #[test]
    fn proof_elements_must_be_32_bytes() {
        assert_eq!(parse_proof(&[vec![0u8; 32], vec![]]), Err(ProofError::HashLength { field: HashField::ProofElement(1), got: 0 }));
        assert_eq!(parse_proof(&[vec![0u8; 33]]), Err(ProofError::HashLength { field: HashField::ProofElement(0), got: 33 }));
        assert_eq!(parse_proof(&[[7u8; 32]]), Ok(vec![[7u8; 32]]));
        let e = ProofError::HashLength { field: HashField::ProofElement(3), got: 33 };
        assert_eq!(e.to_string(), "proof element 3 has 33 bytes, a SHA-256 hash has 32");
    }

    proptest::proptest! {
        #[test]
        fn verifiers_never_panic_on_arbitrary_input(
            a in proptest::prelude::any::<u64>(),
            b in proptest::prelude::any::<u64>(),
            c in proptest::prelude::any::<u64>(),
            small in 0u64..70,
            r1 in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            r2 in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            proof in proptest::collection::vec(proptest::prelude::any::<[u8; 32]>(), 0..70),
        ) {
            let leaf = [1u8; 32];
            for (x, y, z) in [(a, b, c), (small, b, c), (a, small, b), (small, small, small), (a % 64, b % 64, c % 64)] {
                let _ = verify_consistency(x, y, &r1, &r2, &proof);
                let _ = verify_subtree_consistency(x, y, z, &r1, &r2, &proof);
                let _ = verify_inclusion(&leaf, x, y, &proof, &leaf);
                let _ = verify_subtree_inclusion(&leaf, x, y, z, &proof, &leaf);
                let _ = is_valid_subtree(x, y);
            }
        }

        #[test]
        fn random_consistency_proofs_round_trip(n in 1u64..300, m_seed in proptest::prelude::any::<u64>()) {
            let l = leaves(n as usize);
            let m = 1 + m_seed % n;
            let proof = consistency_proof_from(&l[..], m, n).unwrap();
            proptest::prop_assert_eq!(
                verify_consistency(m, n, &root_from_leaf_hashes(&l[..m as usize]), &root_from_leaf_hashes(&l), &proof),
                Ok(())
            );
        }
    }
}
