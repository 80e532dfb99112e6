//! Sans-IO re-verification of field evidence at the control centre. The cc trusts nothing the
//! hub says about data: it checks each batch's records against the Merkle root in the header,
//! the header's signature against the certificate of the edge it names (validated by the cc
//! itself against its own CA and CRL), each header against the chain it has seen, and each
//! record's point against the point registry it verified itself (only the point's owner may
//! report it), and decides per record whether SCADA may see it as good. Unsigned or
//! unverifiable evidence is never good (fails closed); a record from an edge that does not own
//! its point is not applied at all, so it cannot displace the owner's value, and raises an
//! alarm; without a registry nothing is good.

use std::collections::{BTreeMap, HashMap};

use gridtrust_model::{PointId, Record, Timestamp};
use gridtrust_pki::{IdentityKind, PeerIdentity};
use gridtrust_trust::evidence::Signature;
use gridtrust_trust::registry::PointRegistry;
use gridtrust_trust::{BatchHeader, ChainStep, Hash, SignedBatch};

/// A detection the operator must see: which edge, which batch, what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alarm {
    pub edge_id: String,
    pub batch_seq: u64,
    pub reason: String,
    pub at: Timestamp,
}

/// What to do with one record of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub record: Record,
    /// False when the evidence did not hold: serve with IV set.
    pub verified: bool,
}

/// Per-edge chain heads, known edge certificates and per-point freshness.
#[derive(Default)]
pub struct Verifier {
    /// Edge certificates the cc has validated, by certificate id.
    certificates: HashMap<Hash, PeerIdentity>,
    /// True only in benchmarks that measure what signatures cost.
    signatures_off: bool,
    heads: HashMap<String, BatchHeader>,
    /// Newest (edge, seq) applied per point, so an old batch (snapshot, resend) never overwrites
    /// a newer value.
    newest: HashMap<PointId, (String, u64)>,
    /// Who owns each point, as verified by the cc itself; `None` until one is held.
    registry: Option<std::sync::Arc<PointRegistry>>,
    /// Per edge, the newest batch whose evidence held: the position the cc asks the hub to
    /// replay after (see [`crate::position`]). Heads the hub announces do not move it.
    applied: BTreeMap<String, u64>,
}

impl Verifier {
    /// A verifier that skips signature checks: for benchmarks that measure their cost only.
    pub(crate) fn without_signatures() -> Self {
        Self { signatures_off: true, ..Self::default() }
    }

    /// Adds an edge certificate the caller has validated (chain, validity, revocation).
    pub fn add_certificate(&mut self, identity: PeerIdentity) {
        self.certificates.insert(identity.certificate_id, identity);
    }

    /// Uses `registry` (verified by the caller: engineer's signature, no rollback) from now on.
    pub fn set_registry(&mut self, registry: std::sync::Arc<PointRegistry>) {
        self.registry = Some(registry);
    }

    /// The edge that owns `point` in the held registry.
    pub fn owner(&self, point: &PointId) -> Option<&str> {
        self.registry.as_ref()?.owner(point)
    }

    /// Continues from the positions saved by an earlier run.
    pub fn resume_from(&mut self, positions: BTreeMap<String, u64>) {
        self.applied = positions;
    }

    /// Per edge, the last batch applied (see [`Self::applied`]).
    pub fn positions(&self) -> &BTreeMap<String, u64> {
        &self.applied
    }

    /// Forgets every certificate (after a CRL reload, before re-adding the valid ones).
    pub fn clear_certificates(&mut self) {
        self.certificates.clear();
    }

    /// Checks that `signature` over `header` was made by the edge the header names.
    fn check_signature(&self, header: &BatchHeader, signature: Option<&Signature>) -> Result<(), String> {
        if self.signatures_off {
            return Ok(());
        }
        let sig = signature.ok_or("batch is unsigned")?;
        let signer = self
            .certificates
            .get(&sig.signer)
            .ok_or_else(|| format!("signed by unknown or invalid certificate {}", gridtrust_trust::command::hex(&sig.signer)))?;
        if signer.kind != IdentityKind::Edge || signer.name != header.edge_id {
            return Err(format!("signed by {signer}, not by edge {}", header.edge_id));
        }
        header.verify_signature(sig, &signer.public_key).map_err(|e| format!("signature does not verify: {e}"))
    }

    /// Takes the hub's view of each edge's latest header as the starting point of each chain,
    /// if the edge's signature on it verifies. The hub could send an old head; the chain check
    /// then flags the next live batch. It could also send a newer head than the next batch the
    /// cc expects, to hide the batches between: a head is checked against the known one like a
    /// live batch, so a jump raises the same gap alarm naming the batches never seen.
    pub fn set_heads(&mut self, heads: Vec<(BatchHeader, Option<Signature>)>, now: Timestamp) -> Vec<Alarm> {
        let mut alarms = Vec::new();
        for (h, sig) in heads {
            let alarm = |reason: String| Alarm { edge_id: h.edge_id.clone(), batch_seq: h.batch_seq, reason, at: now };
            if let Err(reason) = self.check_signature(&h, sig.as_ref()) {
                alarms.push(alarm(format!("chain head refused: {reason}")));
                continue;
            }
            if let Some(reason) = self.follow(&h) {
                alarms.push(alarm(format!("chain head: {reason}")));
            }
        }
        alarms
    }

    /// Checks an authentic header (edge signature verified) against the known head of its
    /// edge's chain and advances the head when it is newer. Returns what the operator must be
    /// told ([`ChainStep::problem`]): a gap (naming the batches skipped), a header that does not
    /// link to its predecessor, a second header with the same number (fork), or a new chain
    /// after a lost edge queue. Live batches and the hub's heads both pass here, so neither can
    /// skip a range silently.
    fn follow(&mut self, h: &BatchHeader) -> Option<String> {
        let step = ChainStep::of(self.heads.get(&h.edge_id), h);
        if step.advances() {
            self.heads.insert(h.edge_id.clone(), h.clone());
        }
        step.problem(h)
    }

    /// Verifies a batch; returns the records to apply and the alarms raised.
    pub fn check(&mut self, batch: SignedBatch, now: Timestamp) -> (Vec<Verdict>, Vec<Alarm>) {
        let h = &batch.header;
        let mut alarms = Vec::new();
        let alarm = |reason: String| Alarm { edge_id: h.edge_id.clone(), batch_seq: h.batch_seq, reason, at: now };
        let intact =
            match batch.verify_integrity().map_err(|e| e.to_string()).and_then(|()| self.check_signature(h, batch.signature.as_ref())) {
                Ok(()) => true,
                Err(e) => {
                    alarms.push(alarm(e));
                    false
                }
            };
        if intact {
            if let Some(reason) = self.follow(h) {
                alarms.push(alarm(reason));
            }
            let applied = self.applied.entry(h.edge_id.clone()).or_insert(h.batch_seq);
            *applied = (*applied).max(h.batch_seq);
        }
        let edge = h.edge_id.clone();
        let batch_seq = h.batch_seq;
        let mut verdicts = Vec::with_capacity(batch.records.len());
        let mut foreign = Vec::new();
        for record in batch.records {
            let authorised = match &self.registry {
                None => false,
                Some(registry) => match registry.owner(&record.point) {
                    Some(owner) if owner == edge => true,
                    owner => {
                        foreign.push((record.point, owner.map(str::to_owned), registry.version));
                        continue;
                    }
                },
            };
            let verified = intact && authorised;
            let newer = self.newest.get(&record.point).is_none_or(|(e, seq)| e != &edge || record.seq > *seq);
            if newer {
                // Only evidence that held moves the position: a forged record with a huge seq
                // is served invalid once, but must not hide the genuine values after it.
                if verified {
                    self.newest.insert(record.point.clone(), (edge.clone(), record.seq));
                }
                verdicts.push(Verdict { record, verified });
            }
        }
        if self.registry.is_none() && !verdicts.is_empty() {
            alarms.push(Alarm {
                edge_id: edge.clone(),
                batch_seq,
                reason: "no verified point registry held: values served invalid".into(),
                at: now,
            });
        }
        if let Some((point, owner, version)) = foreign.first() {
            let owner = owner.as_deref().map_or_else(|| "no edge".to_owned(), |o| format!("edge {o}"));
            alarms.push(Alarm {
                edge_id: edge,
                batch_seq,
                reason: format!(
                    "edge reported {} point(s) it does not own, not served: {point} belongs to {owner} in point registry version {version}",
                    foreign.len()
                ),
                at: now,
            });
        }
        (verdicts, alarms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_model::{Quality, Value};
    use gridtrust_trust::signing::{EphemeralSigner, Signer};
    use std::sync::LazyLock;

    static EDGE_KEY: LazyLock<EphemeralSigner> = LazyLock::new(EphemeralSigner::generate);

    fn edge_identity(name: &str) -> PeerIdentity {
        PeerIdentity {
            kind: IdentityKind::Edge,
            name: name.into(),
            roles: vec![],
            serial: gridtrust_pki::Serial::from_be_bytes(&[1]),
            certificate_id: [5; 32],
            public_key: EDGE_KEY.public_key(),
            not_after: std::time::SystemTime::now(),
        }
    }

    fn registry() -> std::sync::Arc<PointRegistry> {
        let mut r = PointRegistry::new(1, Timestamp(0));
        r.grant("LD0", "edge-1").unwrap();
        std::sync::Arc::new(r)
    }

    fn verifier() -> Verifier {
        let mut v = Verifier::default();
        v.add_certificate(edge_identity("edge-1"));
        v.set_registry(registry());
        v
    }

    fn batch(seq: u64, first: u64, prev: [u8; 32], v: f32) -> SignedBatch {
        let records: Vec<Record> = (0..3)
            .map(|i| Record {
                seq: first + i,
                point: PointId::new(format!("LD0/MMXU1.A{i}")).unwrap(),
                value: Value::Float(v),
                quality: Quality::GOOD,
                source_time: None,
                received_at: Timestamp(0),
            })
            .collect();
        let mut b = SignedBatch { header: BatchHeader::for_records("edge-1", seq, &records, prev, Timestamp(0)), signature: None, records };
        b.sign(&*EDGE_KEY, [5; 32]).unwrap();
        b
    }

    #[test]
    fn unsigned_unknown_or_foreign_signatures_are_never_good() {
        let mut v = verifier();
        let mut unsigned = batch(0, 0, [0; 32], 1.0);
        unsigned.signature = None;
        let (r, a) = v.check(unsigned, Timestamp(0));
        assert!(r.iter().all(|r| !r.verified) && a[0].reason.contains("unsigned"), "{a:?}");

        let mut unknown = batch(0, 0, [0; 32], 1.0);
        unknown.sign(&EphemeralSigner::generate(), [6; 32]).unwrap();
        let (r, a) = verifier().check(unknown, Timestamp(0));
        assert!(r.iter().all(|r| !r.verified) && a[0].reason.contains("unknown"), "{a:?}");

        let mut wrong_key = batch(0, 0, [0; 32], 1.0);
        wrong_key.sign(&EphemeralSigner::generate(), [5; 32]).unwrap();
        let (r, a) = verifier().check(wrong_key, Timestamp(0));
        assert!(r.iter().all(|r| !r.verified) && a[0].reason.contains("does not verify"), "{a:?}");

        // A valid certificate of another edge cannot vouch for edge-1's batches.
        let mut v = Verifier::default();
        v.set_registry(registry());
        v.add_certificate(edge_identity("edge-2"));
        let (r, a) = v.check(batch(0, 0, [0; 32], 1.0), Timestamp(0));
        assert!(r.iter().all(|r| !r.verified) && a[0].reason.contains("not by edge edge-1"), "{a:?}");
    }

    #[test]
    fn a_clean_chain_verifies_without_alarms() {
        let mut v = verifier();
        let b0 = batch(0, 0, [0; 32], 1.0);
        let b1 = batch(1, 3, b0.header.hash(), 2.0);
        let (r0, a0) = v.check(b0, Timestamp(0));
        let (r1, a1) = v.check(b1, Timestamp(0));
        assert!(a0.is_empty() && a1.is_empty());
        assert!(r0.iter().chain(&r1).all(|r| r.verified));
        assert_eq!(r1.len(), 3);
    }

    #[test]
    fn records_of_points_another_edge_owns_are_not_served_and_raise_an_alarm() {
        let mut r = PointRegistry::new(2, Timestamp(0));
        r.grant("LD0", "edge-1").unwrap();
        r.grant("LD0/MMXU1.A1", "edge-2").unwrap();
        let mut v = verifier();
        v.set_registry(std::sync::Arc::new(r));
        let (served, alarms) = v.check(batch(0, 0, [0; 32], 1.0), Timestamp(0));
        let points: Vec<String> = served.iter().map(|v| v.record.point.to_string()).collect();
        assert_eq!(points, ["LD0/MMXU1.A0", "LD0/MMXU1.A2"], "the foreign point is not applied at all");
        assert!(served.iter().all(|v| v.verified));
        assert_eq!(alarms.len(), 1);
        assert!(alarms[0].reason.contains("LD0/MMXU1.A1 belongs to edge edge-2 in point registry version 2"), "{}", alarms[0].reason);
    }

    #[test]
    fn without_a_registry_nothing_is_good() {
        let mut v = Verifier::default();
        v.add_certificate(edge_identity("edge-1"));
        let (served, alarms) = v.check(batch(0, 0, [0; 32], 1.0), Timestamp(0));
        assert!(!served.is_empty() && served.iter().all(|v| !v.verified));
        assert!(alarms[0].reason.contains("no verified point registry"), "{alarms:?}");
    }

    #[test]
    fn a_value_altered_in_transit_is_served_invalid_with_an_alarm() {
        let mut v = verifier();
        let mut b = batch(0, 0, [0; 32], 1.0);
        b.records[1].value = Value::Float(99.0);
        let (r, a) = v.check(b, Timestamp(0));
        assert!(r.iter().all(|r| !r.verified));
        assert_eq!(a.len(), 1);
        assert!(a[0].reason.contains("Merkle root"), "{}", a[0].reason);
    }

    #[test]
    fn a_dropped_batch_raises_a_gap_alarm_and_old_batches_do_not_overwrite() {
        let mut v = verifier();
        let b0 = batch(0, 0, [0; 32], 1.0);
        let b1 = batch(1, 3, b0.header.hash(), 2.0);
        let b2 = batch(2, 6, b1.header.hash(), 3.0);
        v.check(b0.clone(), Timestamp(0));
        let (_, alarms) = v.check(b2, Timestamp(0));
        assert_eq!(alarms.len(), 1);
        assert!(alarms[0].reason.contains("gap"));
        let (late, alarms) = v.check(b1, Timestamp(0));
        assert!(late.is_empty(), "older values must not overwrite newer ones");
        assert!(alarms.is_empty());
    }

    #[test]
    fn a_head_that_jumps_raises_a_gap_alarm_naming_the_skipped_batches() {
        let mut v = verifier();
        let b0 = batch(0, 0, [0; 32], 1.0);
        let b1 = batch(1, 3, b0.header.hash(), 2.0);
        let b2 = batch(2, 6, b1.header.hash(), 3.0);
        let b3 = batch(3, 9, b2.header.hash(), 4.0);
        // The first head of an edge is where the cc starts: nothing is known before it.
        assert!(v.set_heads(vec![(b0.header.clone(), b0.signature.clone())], Timestamp(0)).is_empty());
        // The next head follows: no alarm; the same head again: no alarm.
        assert!(v.set_heads(vec![(b1.header.clone(), b1.signature.clone())], Timestamp(0)).is_empty());
        assert!(v.set_heads(vec![(b1.header.clone(), b1.signature.clone())], Timestamp(0)).is_empty());
        // A head two ahead hides batch 2.
        let alarms = v.set_heads(vec![(b3.header.clone(), b3.signature.clone())], Timestamp(0));
        assert_eq!(alarms.len(), 1, "{alarms:?}");
        assert!(alarms[0].reason.contains("batches 2..=2 of edge edge-1 never arrived"), "{alarms:?}");
        assert_eq!(alarms[0].batch_seq, 3);
        // The live chain continues from the new head without a second alarm.
        let b4 = batch(4, 12, b3.header.hash(), 5.0);
        let (r, a) = v.check(b4, Timestamp(0));
        assert!(a.is_empty() && r.iter().all(|r| r.verified), "{a:?}");
        // An older head changes nothing.
        assert!(v.set_heads(vec![(b2.header.clone(), b2.signature.clone())], Timestamp(0)).is_empty());
    }

    #[test]
    fn a_head_that_does_not_link_to_the_known_one_raises_an_alarm() {
        let mut v = verifier();
        let b0 = batch(0, 0, [0; 32], 1.0);
        let other = batch(1, 3, [9; 32], 2.0);
        v.check(b0, Timestamp(0));
        let alarms = v.set_heads(vec![(other.header.clone(), other.signature.clone())], Timestamp(0));
        assert_eq!(alarms.len(), 1, "{alarms:?}");
        assert!(alarms[0].reason.contains("chain"), "{alarms:?}");
    }

    #[test]
    fn a_forged_record_with_a_huge_seq_does_not_hide_later_genuine_values() {
        let mut v = verifier();
        let b0 = batch(0, 0, [0; 32], 1.0);
        let mut forged = b0.clone();
        for r in &mut forged.records {
            r.seq = u64::MAX - 1;
            r.value = Value::Float(666.0);
        }
        let (r, a) = v.check(forged, Timestamp(0));
        assert!(r.iter().all(|r| !r.verified) && !a.is_empty(), "served invalid with an alarm: {a:?}");
        let (r, a) = v.check(b0, Timestamp(0));
        assert!(a.is_empty(), "{a:?}");
        assert_eq!(r.len(), 3, "the genuine values are served after the forged ones");
        assert!(r.iter().all(|r| r.verified && r.record.value == Value::Float(1.0)));
    }

    #[test]
    fn a_new_chain_after_a_lost_edge_queue_is_served_good_with_an_alarm() {
        let mut v = verifier();
        let b0 = batch(0, 0, [0; 32], 1.0);
        let b1 = batch(1, 3, b0.header.hash(), 2.0);
        v.check(b0, Timestamp(0));
        v.check(b1, Timestamp(0));
        let start = gridtrust_trust::chain::chain_start(Timestamp(1_796_650_000_000_000_000));
        let genesis = batch(start, start, [0; 32], 3.0);
        let (r, a) = v.check(genesis.clone(), Timestamp(0));
        assert_eq!(a.len(), 1, "{a:?}");
        assert!(a[0].reason.contains("restarted its chain") && a[0].reason.contains("after 1"), "{a:?}");
        assert!(r.len() == 3 && r.iter().all(|r| r.verified && r.record.value == Value::Float(3.0)), "the new chain's values are newer");
        assert_eq!(v.positions().get("edge-1"), Some(&start));
        let (r, a) = v.check(batch(start + 1, start + 3, genesis.header.hash(), 4.0), Timestamp(0));
        assert!(a.is_empty() && r.iter().all(|r| r.verified), "the new chain continues without alarms: {a:?}");
    }
}
