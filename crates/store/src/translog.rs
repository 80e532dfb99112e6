//! The hub's transparency log: an append-only RFC 9162 Merkle log on redb.
//!
//! Every batch header, command and configuration change the hub handles is appended as an opaque
//! entry (see `gridtrust_trust::checkpoint::LogEntry` for the encoding the hub uses). The leaves
//! are RFC 9162 leaf hashes of the entry bytes, so anyone holding an entry, a signed checkpoint
//! and a proof from here can check them with `gridtrust_trust::merkle` alone.
//!
//! Layout (four tables in their own redb file):
//!
//! ```text
//! translog_entries  index (8 BE)                 -> entry bytes
//! translog_nodes    level (1) ++ index (8 BE)    -> hash of the complete subtree of 2^level
//!                                                   leaves starting at leaf index << level
//! translog_leaves   leaf hash (32)               -> index (8 BE) of the first entry with it
//! translog_meta     "size" -> tree size (8 BE), "root" -> root at that size (32),
//!                   "leaves_indexed" -> entries covered by translog_leaves (8 BE)
//! ```
//!
//! `translog_leaves` answers "where is this entry?" ([`TransparencyLog::find`]) in one lookup,
//! which is what evidence for a stored batch header needs: the hub holds the sealed header, so
//! its leaf hash names it exactly, including the edge and batch seq inside it, and a forked
//! header with the same seq but other content is a different key. It is written in the same
//! transaction as the append; a log written before it existed is indexed when it is opened.
//!
//! Complete subtrees never change in an append-only tree, so each is written once, when its last
//! leaf arrives (two node writes per entry on average). Any root, inclusion proof or consistency
//! proof, at the current or any earlier size, is then O(log n) node reads: the nodes a proof
//! needs are complete subtrees, or the right edge of the tree, which is one complete subtree per
//! set bit of the size.
//!
//! In memory the log keeps only the size, the current root and the *frontier* (the complete
//! subtrees along the right edge, at most 64 hashes), which is all an append needs. Opening
//! reloads the frontier from the node table and checks that it reproduces the stored root and
//! that the last entry matches its leaf; [`TransparencyLog::verify_storage`] rechecks everything
//! from the entries (O(n), for audits and after damage).
//!
//! Deliberately not here: deleting, truncating or rewriting entries (there is no API for it),
//! checkpoint signing (the hub signs [`TransparencyLog::root`] with its key), and entry
//! encoding.

use std::path::{Path, PathBuf};

use gridtrust_trust::merkle::{self, Hash, NodeSource};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tracing::{debug, info, warn};

use crate::codec::hex;
use crate::db::Db;
use crate::error::{Corruption, Result, StoreError};

const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("translog_entries");
const NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("translog_nodes");
const META: TableDefinition<&[u8], &[u8]> = TableDefinition::new("translog_meta");
const LEAVES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("translog_leaves");

const ENTRIES_NAME: &str = "translog_entries";
const NODES_NAME: &str = "translog_nodes";
const META_NAME: &str = "translog_meta";
const LEAVES_NAME: &str = "translog_leaves";

const KEY_SIZE: &[u8] = b"size";
const KEY_ROOT: &[u8] = b"root";
const KEY_LEAVES_INDEXED: &[u8] = b"leaves_indexed";

/// Entries indexed per transaction when an older log is indexed at open, so a long log shows
/// progress and never holds one huge transaction.
const INDEX_CHUNK: u64 = 50_000;

/// Levels a tree of up to 2^64 leaves can have.
const LEVELS: usize = 64;

fn node_key(level: u32, index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    // Levels are below 64, so they fit a byte.
    k[0] = level as u8;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

fn describe_node(level: u32, index: u64) -> String {
    format!("level {level} index {index}")
}

/// Node lookups for proof generation, over any open view of the node table.
struct Nodes<'a, T>(&'a T);

impl<T: ReadableTable<&'static [u8], &'static [u8]>> NodeSource for Nodes<'_, T> {
    type Error = StoreError;

    fn node(&self, level: u32, index: u64) -> Result<Hash> {
        let missing = || StoreError::Corrupt {
            table: NODES_NAME,
            key: describe_node(level, index),
            problem: Corruption::Inconsistent("complete subtree hash is missing".to_owned()),
        };
        let value = self.0.get(node_key(level, index).as_slice())?.ok_or_else(missing)?;
        Hash::try_from(value.value()).map_err(|_| StoreError::Corrupt {
            table: NODES_NAME,
            key: describe_node(level, index),
            problem: Corruption::Length { what: "node hash", expected: 32, found: value.value().len() },
        })
    }
}

/// The complete subtrees along the right edge of a tree of `size` leaves: entry `l` is the hash
/// of the subtree at level `l`, present exactly when bit `l` of `size` is set.
#[derive(Clone, Copy)]
struct Frontier {
    size: u64,
    nodes: [Option<Hash>; LEVELS],
}

impl Frontier {
    const EMPTY: Self = Self { size: 0, nodes: [None; LEVELS] };

    /// Index at `level` of the right-edge complete subtree of that level (bit `level` of size set).
    fn index_at(size: u64, level: u32) -> u64 {
        (size >> level) - 1
    }

    /// Adds one leaf, reporting each complete subtree it finishes (the leaf itself first) so the
    /// caller can persist it.
    fn push(&mut self, leaf: Hash, mut finished: impl FnMut(u32, u64, &Hash) -> Result<()>) -> Result<()> {
        let index = self.size;
        let next = index.checked_add(1).ok_or_else(|| StoreError::Corrupt {
            table: META_NAME,
            key: "size".to_owned(),
            problem: Corruption::Inconsistent("the log is full (2^64 - 1 entries)".to_owned()),
        })?;
        finished(0, index, &leaf)?;
        let mut carry = leaf;
        let mut level = 0u32;
        while let Some(left) = self.nodes[level as usize].take() {
            carry = merkle::node_hash(&left, &carry);
            level += 1;
            finished(level, index >> level, &carry)?;
        }
        self.nodes[level as usize] = Some(carry);
        self.size = next;
        Ok(())
    }

    /// RFC 9162 root: the right-edge subtrees folded from the smallest (rightmost) up.
    fn root(&self) -> Hash {
        let mut acc: Option<Hash> = None;
        for node in self.nodes.iter().flatten() {
            acc = Some(match acc {
                None => *node,
                Some(right) => merkle::node_hash(node, &right),
            });
        }
        acc.unwrap_or_else(merkle::empty_root)
    }
}

fn read_meta_u64(meta: &impl ReadableTable<&'static [u8], &'static [u8]>, key: &'static [u8]) -> Result<Option<u64>> {
    let Some(v) = meta.get(key)? else { return Ok(None) };
    let b: [u8; 8] = v.value().try_into().map_err(|_| StoreError::Corrupt {
        table: META_NAME,
        key: String::from_utf8_lossy(key).into_owned(),
        problem: Corruption::Length { what: "u64", expected: 8, found: v.value().len() },
    })?;
    Ok(Some(u64::from_be_bytes(b)))
}

fn read_meta_hash(meta: &impl ReadableTable<&'static [u8], &'static [u8]>, key: &'static [u8]) -> Result<Option<Hash>> {
    let Some(v) = meta.get(key)? else { return Ok(None) };
    let h = Hash::try_from(v.value()).map_err(|_| StoreError::Corrupt {
        table: META_NAME,
        key: String::from_utf8_lossy(key).into_owned(),
        problem: Corruption::Length { what: "root", expected: 32, found: v.value().len() },
    })?;
    Ok(Some(h))
}

/// Records `index` as the place of `leaf` unless an earlier entry has the same leaf: the first
/// occurrence is in every tree that holds any occurrence, so it is the one to prove.
fn index_leaf(table: &mut redb::Table<'_, &'static [u8], &'static [u8]>, leaf: &Hash, index: u64) -> Result<()> {
    if table.get(leaf.as_slice())?.is_none() {
        table.insert(leaf.as_slice(), index.to_be_bytes().as_slice())?;
    }
    Ok(())
}

fn inconsistent(table: &'static str, key: String, what: String) -> StoreError {
    StoreError::Corrupt { table, key, problem: Corruption::Inconsistent(what) }
}

/// An append-only RFC 9162 Merkle log of opaque entries, durable in one redb file, that answers
/// roots and proofs at any size it has had in O(log n).
///
/// Appends take `&mut self` (one writer: the hub's logger); reads take `&self`. Each append call
/// is one redb transaction committed with immediate durability, so once it returns the entries
/// survive power loss, and a crash during it leaves the log exactly as before.
pub struct TransparencyLog {
    db: Db,
    path: PathBuf,
    frontier: Frontier,
    root: Hash,
}

impl std::fmt::Debug for TransparencyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransparencyLog")
            .field("path", &self.path)
            .field("size", &self.frontier.size)
            .field("root", &hex(&self.root))
            .finish_non_exhaustive()
    }
}

impl TransparencyLog {
    /// Opens or creates the log at `path`, reloads the frontier from the stored subtree hashes
    /// and checks it against the stored size and root, and the last entry against its leaf, so
    /// a file whose tree does not add up is refused with [`StoreError::Corrupt`] at start rather
    /// than signed over later.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        crate::error::guard("open", || {
            let path = path.as_ref().to_path_buf();
            let db = Db::new(Database::create(&path).map_err(|source| StoreError::Open { path: path.clone(), source })?, &path);
            let txn = db.get()?.begin_write()?;
            let (size, stored_root, leaves_indexed) = {
                txn.open_table(ENTRIES)?;
                txn.open_table(NODES)?;
                txn.open_table(LEAVES)?;
                let meta = txn.open_table(META)?;
                (read_meta_u64(&meta, KEY_SIZE)?, read_meta_hash(&meta, KEY_ROOT)?, read_meta_u64(&meta, KEY_LEAVES_INDEXED)?)
            };
            txn.commit()?;
            let (size, stored_root) = match (size, stored_root) {
                (None, None) => (0, merkle::empty_root()),
                (Some(size), Some(root)) => (size, root),
                (size, _) => {
                    let missing = if size.is_some() { "root" } else { "size" };
                    return Err(inconsistent(META_NAME, missing.to_owned(), format!("{missing} is missing while the other is present")));
                }
            };

            let txn = db.get()?.begin_read()?;
            let nodes = txn.open_table(NODES)?;
            let entries = txn.open_table(ENTRIES)?;
            let mut frontier = Frontier { size, nodes: [None; LEVELS] };
            for level in 0..LEVELS as u32 {
                if (size >> level) & 1 == 1 {
                    frontier.nodes[level as usize] = Some(Nodes(&nodes).node(level, Frontier::index_at(size, level))?);
                }
            }
            let root = frontier.root();
            if root != stored_root {
                return Err(inconsistent(
                    META_NAME,
                    "root".to_owned(),
                    format!(
                        "stored root {} differs from {} recomputed from the stored subtrees at size {size}",
                        hex(&stored_root),
                        hex(&root)
                    ),
                ));
            }
            if size > 0 {
                let last = size - 1;
                let entry = entries.get(last.to_be_bytes().as_slice())?.ok_or_else(|| {
                    inconsistent(ENTRIES_NAME, last.to_string(), format!("last entry of a log of size {size} is missing"))
                })?;
                if merkle::leaf_hash(entry.value()) != Nodes(&nodes).node(0, last)? {
                    return Err(inconsistent(ENTRIES_NAME, last.to_string(), "entry does not match its stored leaf hash".to_owned()));
                }
            }
            if entries.get(size.to_be_bytes().as_slice())?.is_some() {
                return Err(inconsistent(ENTRIES_NAME, size.to_string(), format!("an entry exists beyond the log size {size}")));
            }
            drop((nodes, entries));
            let log = Self { db, path, frontier, root };
            log.index_leaves_from(leaves_indexed.unwrap_or(0))?;
            info!(path = %log.path.display(), size, root = %hex(&root), "transparency log opened");
            Ok(log)
        })
    }

    /// Adds entries `from..size` to `translog_leaves` (a log written before the index existed,
    /// or by a build without it), in chunks that each commit with their progress.
    fn index_leaves_from(&self, from: u64) -> Result<()> {
        let size = self.frontier.size;
        if from > size {
            return Err(inconsistent(META_NAME, "leaves_indexed".to_owned(), format!("{from} entries indexed in a log of {size}")));
        }
        if from == size {
            return Ok(());
        }
        info!(path = %self.path.display(), from, size, "indexing the transparency log's entries (once, for a log written before the index)");
        let mut next = from;
        while next < size {
            let end = size.min(next.saturating_add(INDEX_CHUNK));
            let txn = self.db.get()?.begin_write()?;
            {
                let nodes = txn.open_table(NODES)?;
                let mut leaves = txn.open_table(LEAVES)?;
                for index in next..end {
                    index_leaf(&mut leaves, &Nodes(&nodes).node(0, index)?, index)?;
                }
                txn.open_table(META)?.insert(KEY_LEAVES_INDEXED, end.to_be_bytes().as_slice())?;
            }
            txn.commit()?;
            info!(indexed = end, size, "transparency log index progress");
            next = end;
        }
        Ok(())
    }

    /// The index of the first entry equal to `entry` among the first `tree_size` entries, in
    /// one index lookup; `None` when those entries do not hold it.
    pub fn find(&self, entry: &[u8], tree_size: u64) -> Result<Option<u64>> {
        self.db.guard("find", || {
            let leaf = merkle::leaf_hash(entry);
            let txn = self.db.get()?.begin_read()?;
            let Some(v) = txn.open_table(LEAVES)?.get(leaf.as_slice())? else { return Ok(None) };
            let index: [u8; 8] = v.value().try_into().map_err(|_| StoreError::Corrupt {
                table: LEAVES_NAME,
                key: hex(&leaf),
                problem: Corruption::Length { what: "entry index", expected: 8, found: v.value().len() },
            })?;
            let index = u64::from_be_bytes(index);
            Ok((index < tree_size.min(self.frontier.size)).then_some(index))
        })
    }

    /// Number of entries: the tree size of the current root.
    pub fn size(&self) -> u64 {
        self.frontier.size
    }

    /// The RFC 9162 root over all entries, what the hub signs in a checkpoint. Kept in memory.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// Appends one entry durably and returns its index. Prefer [`Self::append_many`] for more
    /// than one: each call is one fsync.
    pub fn append(&mut self, entry: &[u8]) -> Result<u64> {
        self.append_many(&[entry])
    }

    /// Appends `entries` in order in one transaction and one fsync, returning the index of the
    /// first (they occupy `first..first + entries.len()`; for none, the size, and nothing is
    /// written). All or nothing: on error nothing is appended and the log in memory is unchanged.
    pub fn append_many<E: AsRef<[u8]>>(&mut self, entries: &[E]) -> Result<u64> {
        self.db.guard("append_many", || {
            let first = self.frontier.size;
            if entries.is_empty() {
                return Ok(first);
            }
            let mut frontier = self.frontier;
            let txn = self.db.get()?.begin_write()?;
            {
                let mut entry_table = txn.open_table(ENTRIES)?;
                let mut node_table = txn.open_table(NODES)?;
                let mut leaf_table = txn.open_table(LEAVES)?;
                for e in entries {
                    let e = e.as_ref();
                    let leaf = merkle::leaf_hash(e);
                    entry_table.insert(frontier.size.to_be_bytes().as_slice(), e)?;
                    index_leaf(&mut leaf_table, &leaf, frontier.size)?;
                    frontier.push(leaf, |level, index, hash| {
                        node_table.insert(node_key(level, index).as_slice(), hash.as_slice())?;
                        Ok(())
                    })?;
                }
                let mut meta = txn.open_table(META)?;
                meta.insert(KEY_SIZE, frontier.size.to_be_bytes().as_slice())?;
                meta.insert(KEY_ROOT, frontier.root().as_slice())?;
                meta.insert(KEY_LEAVES_INDEXED, frontier.size.to_be_bytes().as_slice())?;
            }
            txn.commit()?;
            self.frontier = frontier;
            self.root = frontier.root();
            debug!(first, count = entries.len(), size = frontier.size, "appended to transparency log");
            Ok(first)
        })
    }

    /// The entry at `index` exactly as appended, or `None` beyond the end.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>> {
        self.db.guard("entry", || {
            if index >= self.frontier.size {
                return Ok(None);
            }
            let txn = self.db.get()?.begin_read()?;
            let table = txn.open_table(ENTRIES)?;
            let v = table.get(index.to_be_bytes().as_slice())?.ok_or_else(|| {
                inconsistent(ENTRIES_NAME, index.to_string(), format!("entry below the log size {} is missing", self.frontier.size))
            })?;
            Ok(Some(v.value().to_vec()))
        })
    }

    /// The leaf hash of entry `index` (what inclusion proofs start from), or `None` beyond the
    /// end.
    pub fn leaf_hash(&self, index: u64) -> Result<Option<Hash>> {
        self.with_nodes("leaf_hash", |nodes| if index < self.frontier.size { nodes.node(0, index).map(Some) } else { Ok(None) })
    }

    /// The root the log had at `tree_size` (any size it has had, 0 included): what a checkpoint
    /// signed then says, recomputed from stored subtrees in O(log n).
    pub fn root_at(&self, tree_size: u64) -> Result<Hash> {
        self.check_size(tree_size)?;
        if tree_size == self.frontier.size {
            return Ok(self.root);
        }
        self.with_nodes("root_at", |nodes| merkle::subtree_hash(nodes, 0, tree_size))
    }

    /// RFC 9162 inclusion proof for entry `index` in the tree of `tree_size` entries, bottom-up;
    /// verify with `gridtrust_trust::merkle::verify_inclusion`.
    pub fn inclusion_proof(&self, index: u64, tree_size: u64) -> Result<Vec<Hash>> {
        self.check_size(tree_size)?;
        self.with_nodes("inclusion_proof", |nodes| merkle::inclusion_proof_from(nodes, index, tree_size))
    }

    /// RFC 9162 consistency proof from the tree of `old_size` entries to the tree of `new_size`
    /// (empty when equal); verify with `gridtrust_trust::merkle::verify_consistency`.
    /// `old_size == 0` is refused as the verifier refuses it.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>> {
        self.check_size(new_size)?;
        self.with_nodes("consistency_proof", |nodes| merkle::consistency_proof_from(nodes, old_size, new_size))
    }

    /// Merkle Tree Certificates subtree consistency proof: the entries `[start, end)` (a valid
    /// subtree) are part of the tree of `tree_size` entries. Lets an auditor that holds the hash
    /// of, say, one day's slice of the log check it against a later checkpoint.
    pub fn subtree_consistency_proof(&self, start: u64, end: u64, tree_size: u64) -> Result<Vec<Hash>> {
        self.check_size(tree_size)?;
        self.with_nodes("subtree_consistency_proof", |nodes| merkle::subtree_consistency_proof_from(nodes, start, end, tree_size))
    }

    /// The hash of the entries `[start, end)` (a valid subtree within the log).
    pub fn subtree_hash(&self, start: u64, end: u64) -> Result<Hash> {
        self.check_size(end)?;
        self.with_nodes("subtree_hash", |nodes| merkle::subtree_hash(nodes, start, end))
    }

    /// Recomputes the whole tree from the entries and compares every stored leaf, every stored
    /// subtree hash and the stored root: O(n), for an audit or after [`StoreError::Damaged`].
    /// Stops at the first disagreement, which it names.
    pub fn verify_storage(&self) -> Result<()> {
        self.db.guard("verify_storage", || {
            let txn = self.db.get()?.begin_read()?;
            let entries = txn.open_table(ENTRIES)?;
            let nodes = txn.open_table(NODES)?;
            let leaves = txn.open_table(LEAVES)?;
            let source = Nodes(&nodes);
            let mut rebuilt = Frontier::EMPTY;
            for item in entries.iter()? {
                let (k, v) = item?;
                let expected_index = rebuilt.size;
                if k.value() != expected_index.to_be_bytes().as_slice() {
                    return Err(inconsistent(
                        ENTRIES_NAME,
                        hex(k.value()),
                        format!("expected entry {expected_index} here: entries are not contiguous"),
                    ));
                }
                let leaf = merkle::leaf_hash(v.value());
                rebuilt.push(leaf, |level, index, hash| {
                    if &source.node(level, index)? != hash {
                        return Err(inconsistent(
                            NODES_NAME,
                            describe_node(level, index),
                            "stored hash differs from the one recomputed from the entries".to_owned(),
                        ));
                    }
                    Ok(())
                })?;
                // Its first occurrence is indexed (the entries are checked against their leaves above).
                let first = leaves.get(leaf.as_slice())?.and_then(|i| <[u8; 8]>::try_from(i.value()).ok()).map(u64::from_be_bytes);
                if !first.is_some_and(|first| first <= expected_index && source.node(0, first).is_ok_and(|h| h == leaf)) {
                    return Err(inconsistent(
                        LEAVES_NAME,
                        hex(&leaf),
                        format!("entry {expected_index} is not indexed at its first occurrence (found {first:?})"),
                    ));
                }
            }
            if rebuilt.size != self.frontier.size {
                return Err(inconsistent(
                    META_NAME,
                    "size".to_owned(),
                    format!("{} entries stored, size says {}", rebuilt.size, self.frontier.size),
                ));
            }
            if rebuilt.root() != self.root {
                return Err(inconsistent(
                    META_NAME,
                    "root".to_owned(),
                    "stored root differs from the one recomputed from the entries".to_owned(),
                ));
            }
            Ok(())
        })
    }

    fn check_size(&self, tree_size: u64) -> Result<()> {
        if tree_size > self.frontier.size {
            warn!(tree_size, size = self.frontier.size, "proof asked for a tree size the log has not reached");
            return Err(StoreError::BeyondLog { requested: tree_size, size: self.frontier.size });
        }
        Ok(())
    }

    /// Runs `f` with node lookups in one read transaction.
    fn with_nodes<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&Nodes<'_, redb::ReadOnlyTable<&'static [u8], &'static [u8]>>) -> Result<T>,
    ) -> Result<T> {
        self.db.guard(operation, || {
            let txn = self.db.get()?.begin_read()?;
            let table = txn.open_table(NODES)?;
            f(&Nodes(&table))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_trust::merkle::{
        ProofError, leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion, verify_subtree_consistency,
    };
    use proptest::prelude::*;

    fn entry(i: u64) -> Vec<u8> {
        format!("entry {i} {}", "x".repeat((i % 7) as usize)).into_bytes()
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&entry(i))).collect()
    }

    #[test]
    fn roots_match_the_in_memory_tree_at_every_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TransparencyLog::open(dir.path().join("log.redb")).unwrap();
        assert_eq!(log.root(), merkle::empty_root());
        let all = leaves(70);
        for i in 0..70 {
            assert_eq!(log.append(&entry(i)).unwrap(), i);
            assert_eq!(log.root(), root_from_leaf_hashes(&all[..=i as usize]), "size {}", i + 1);
        }
        for size in 0..=70u64 {
            assert_eq!(log.root_at(size).unwrap(), root_from_leaf_hashes(&all[..size as usize]));
        }
        log.verify_storage().unwrap();
    }

    #[test]
    fn entries_and_roots_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let (root, size) = {
            let mut log = TransparencyLog::open(&path).unwrap();
            let batch: Vec<Vec<u8>> = (0..1000).map(entry).collect();
            assert_eq!(log.append_many(&batch).unwrap(), 0);
            assert_eq!(log.append(b"one more").unwrap(), 1000);
            (log.root(), log.size())
        };
        let mut log = TransparencyLog::open(&path).unwrap();
        assert_eq!((log.root(), log.size()), (root, size));
        assert_eq!(log.entry(999).unwrap(), Some(entry(999)));
        assert_eq!(log.entry(1000).unwrap(), Some(b"one more".to_vec()));
        assert_eq!(log.entry(1001).unwrap(), None);
        assert_eq!(log.append(b"after reopen").unwrap(), 1001);
        log.verify_storage().unwrap();
    }

    #[test]
    fn the_leaf_index_finds_entries_at_their_first_occurrence_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        {
            let mut log = TransparencyLog::open(&path).unwrap();
            log.append_many(&(0..500).map(entry).collect::<Vec<_>>()).unwrap();
            // The same bytes again later: the first place is the one every tree holding it has.
            assert_eq!(log.append(&entry(7)).unwrap(), 500);
            assert_eq!(log.find(&entry(7), 501).unwrap(), Some(7));
            assert_eq!(log.find(&entry(499), 501).unwrap(), Some(499));
            assert_eq!(log.find(&entry(499), 499).unwrap(), None, "not among the first 499");
            assert_eq!(log.find(b"never appended", 501).unwrap(), None);
        }
        let log = TransparencyLog::open(&path).unwrap();
        for i in [0, 1, 250, 499] {
            assert_eq!(log.find(&entry(i), log.size()).unwrap(), Some(i));
        }
        log.verify_storage().unwrap();
    }

    #[test]
    fn a_log_written_before_the_index_is_indexed_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let n = INDEX_CHUNK + 10;
        {
            let mut log = TransparencyLog::open(&path).unwrap();
            log.append_many(&(0..n).map(entry).collect::<Vec<_>>()).unwrap();
        }
        // What a build without the index left behind: no leaf table, no progress key.
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.delete_table(LEAVES).unwrap();
            txn.open_table(META).unwrap().remove(KEY_LEAVES_INDEXED).unwrap();
            txn.commit().unwrap();
        }
        let log = TransparencyLog::open(&path).unwrap();
        assert_eq!(log.find(&entry(0), n).unwrap(), Some(0));
        assert_eq!(log.find(&entry(INDEX_CHUNK + 3), n).unwrap(), Some(INDEX_CHUNK + 3), "the second chunk is indexed too");
        log.verify_storage().unwrap();
    }

    #[test]
    fn a_missing_index_entry_is_found_by_verify_storage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        {
            let mut log = TransparencyLog::open(&path).unwrap();
            log.append_many(&(0..13).map(entry).collect::<Vec<_>>()).unwrap();
        }
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(LEAVES).unwrap().remove(leaf_hash(&entry(4)).as_slice()).unwrap();
            txn.commit().unwrap();
        }
        let err = TransparencyLog::open(&path).unwrap().verify_storage().unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt { table: LEAVES_NAME, .. }), "{err}");
    }

    #[test]
    fn sizes_beyond_the_log_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TransparencyLog::open(dir.path().join("log.redb")).unwrap();
        log.append_many(&[b"a", b"b", b"c"]).unwrap();
        assert!(matches!(log.inclusion_proof(0, 4), Err(StoreError::BeyondLog { requested: 4, size: 3 })));
        assert!(matches!(log.consistency_proof(1, 4), Err(StoreError::BeyondLog { .. })));
        assert!(matches!(log.root_at(4), Err(StoreError::BeyondLog { .. })));
        assert!(matches!(log.inclusion_proof(3, 3), Err(StoreError::Proof(ProofError::IndexOutOfRange { index: 3, size: 3 }))));
        assert!(matches!(log.consistency_proof(0, 3), Err(StoreError::Proof(ProofError::FromEmptyTree { new: 3 }))));
        assert!(matches!(log.consistency_proof(3, 2), Err(StoreError::Proof(ProofError::OldLargerThanNew { .. }))));
        assert_eq!(log.consistency_proof(3, 3).unwrap(), Vec::<Hash>::new());
    }

    #[test]
    fn a_tampered_root_or_node_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        {
            let mut log = TransparencyLog::open(&path).unwrap();
            log.append_many(&(0..13).map(entry).collect::<Vec<_>>()).unwrap();
        }
        // Rewrite a right-edge subtree hash behind the log's back.
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(NODES).unwrap().insert(node_key(2, 2).as_slice(), [9u8; 32].as_slice()).unwrap();
            txn.commit().unwrap();
        }
        let err = TransparencyLog::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { table: META_NAME, .. }), "{err}");
    }

    #[test]
    fn a_tampered_entry_is_found_by_verify_storage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        {
            let mut log = TransparencyLog::open(&path).unwrap();
            log.append_many(&(0..13).map(entry).collect::<Vec<_>>()).unwrap();
        }
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(ENTRIES).unwrap().insert(5u64.to_be_bytes().as_slice(), b"rewritten".as_slice()).unwrap();
            txn.commit().unwrap();
        }
        // Entry 5 is not the last one, so open does not see it; the full check does.
        let log = TransparencyLog::open(&path).unwrap();
        let err = log.verify_storage().unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt { table: NODES_NAME, key, .. } if key == "level 0 index 5"), "{err}");
    }

    #[test]
    fn proofs_from_the_log_verify_with_trust_merkle() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TransparencyLog::open(dir.path().join("log.redb")).unwrap();
        let all = leaves(40);
        log.append_many(&(0..40).map(entry).collect::<Vec<_>>()).unwrap();
        for size in 1..=40u64 {
            let root = log.root_at(size).unwrap();
            for index in 0..size {
                let proof = log.inclusion_proof(index, size).unwrap();
                assert_eq!(proof, merkle::inclusion_proof(&all[..size as usize], index as usize).unwrap());
                assert_eq!(verify_inclusion(&all[index as usize], index, size, &proof, &root), Ok(()));
            }
            for old in 1..=size {
                let proof = log.consistency_proof(old, size).unwrap();
                assert_eq!(verify_consistency(old, size, &log.root_at(old).unwrap(), &root, &proof), Ok(()), "{old} -> {size}");
            }
            for start in 0..size {
                for end in start + 1..=size {
                    if merkle::is_valid_subtree(start, end) {
                        let proof = log.subtree_consistency_proof(start, end, size).unwrap();
                        let sub = log.subtree_hash(start, end).unwrap();
                        assert_eq!(verify_subtree_consistency(start, end, size, &sub, &root, &proof), Ok(()));
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        /// Batches of random sizes, a reopen after each, then random (index, size) and
        /// (old, new) pairs: every proof the log gives verifies against its own roots, and the
        /// roots are those of the in-memory reference tree.
        #[test]
        fn proofs_after_reopens_agree_with_trust_merkle(
            batches in proptest::collection::vec(0u64..300, 1..6),
            picks in proptest::collection::vec((any::<u64>(), any::<u64>()), 40),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("log.redb");
            let mut next = 0u64;
            for n in &batches {
                let mut log = TransparencyLog::open(&path).unwrap();
                prop_assert_eq!(log.size(), next);
                let batch: Vec<Vec<u8>> = (next..next + n).map(entry).collect();
                prop_assert_eq!(log.append_many(&batch).unwrap(), next);
                next += n;
            }
            let log = TransparencyLog::open(&path).unwrap();
            let all = leaves(next);
            prop_assert_eq!(log.root(), root_from_leaf_hashes(&all));
            if next == 0 {
                return Ok(());
            }
            for (a, b) in picks {
                let size = 1 + a % next;
                let index = b % size;
                let root = log.root_at(size).unwrap();
                prop_assert_eq!(root, root_from_leaf_hashes(&all[..size as usize]));
                let proof = log.inclusion_proof(index, size).unwrap();
                prop_assert_eq!(verify_inclusion(&all[index as usize], index, size, &proof, &root), Ok(()));
                let old = 1 + b % size;
                let proof = log.consistency_proof(old, size).unwrap();
                prop_assert_eq!(verify_consistency(old, size, &log.root_at(old).unwrap(), &root, &proof), Ok(()));
            }
        }
    }
}
