//! An edge-1 session for hub tests: hello over the real mutual-TLS edge protocol, then chained
//! batches signed with edge-1's key.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{ReadHalf, WriteHalf};

use gridtrust_keys::KeyConfig;
use gridtrust_model::{PointId, Quality, Record, Timestamp, Value as PointValue};
use gridtrust_pki::{DevPki, IdentityKind, Role};
use gridtrust_transport::identity::{Identity, IdentityConfig};
use gridtrust_transport::messages::{EdgeToHub, HubToEdge, PROTOCOL_VERSION};
use gridtrust_transport::stream::{ClientStream, FramedReader, FramedWriter};
use gridtrust_trust::evidence::{BatchHeader, SignedBatch};

const TIMEOUT: Duration = Duration::from_secs(30);

/// An edge-1 session that sends chained, signed batches.
pub struct Edge {
    identity: Identity,
    reader: FramedReader<ReadHalf<ClientStream>>,
    writer: FramedWriter<WriteHalf<ClientStream>>,
    batch_seq: u64,
    record_seq: u64,
    prev: [u8; 32],
}

impl Edge {
    /// Connects as edge-1 with the identity in `dir/pki`, starting its chain: the hub must hold
    /// no batch of it yet.
    pub async fn connect(dir: &Path, hub: SocketAddr) -> Self {
        let (identity, reader, writer, last_batch_seq) = hello(dir, hub).await;
        assert_eq!(last_batch_seq, None, "the hub already holds batches of edge-1");
        Self { identity, reader, writer, batch_seq: 0, record_seq: 0, prev: [0; 32] }
    }

    /// Sends one batch and waits for its acknowledgement (stored).
    pub async fn send(&mut self, values: &[(PointId, PointValue)]) {
        self.send_closed_at(values, Timestamp::now()).await;
    }

    /// Sends one batch the edge says it closed at `now` (its clock) and waits for its
    /// acknowledgement.
    pub async fn send_closed_at(&mut self, values: &[(PointId, PointValue)], now: Timestamp) {
        let records: Vec<Record> = values
            .iter()
            .map(|(point, value)| {
                self.record_seq += 1;
                Record {
                    seq: self.record_seq,
                    point: point.clone(),
                    value: *value,
                    quality: Quality::GOOD,
                    source_time: None,
                    received_at: now,
                }
            })
            .collect();
        let header = BatchHeader::for_records("edge-1", self.batch_seq, &records, self.prev, now);
        self.prev = header.hash();
        let mut batch = SignedBatch { header, signature: None, records };
        batch.sign(self.identity.signer.as_ref(), self.identity.certificate_id).unwrap();
        self.writer.send(&EdgeToHub::Batch(batch)).await.unwrap();
        let ack = tokio::time::timeout(TIMEOUT, self.reader.recv::<HubToEdge>()).await.unwrap().unwrap();
        assert_eq!(ack, Some(HubToEdge::Ack { batch_seq: self.batch_seq }));
        self.batch_seq += 1;
    }
}

type Session = (Identity, FramedReader<ReadHalf<ClientStream>>, FramedWriter<WriteHalf<ClientStream>>, Option<u64>);

/// Opens an edge-1 session and says hello; returns the last batch the hub holds of edge-1.
pub async fn hello(dir: &Path, hub: SocketAddr) -> Session {
    let pki = dir.join("pki");
    let identity = Identity::load(&IdentityConfig::new(
        pki.join("ca.crt.pem"),
        pki.join("edge-1.crt.pem"),
        pki.join("crl.pem"),
        KeyConfig::Software { path: pki.join("edge-1.key.pem") },
    ))
    .unwrap();
    let (mut reader, mut writer) =
        gridtrust_transport::stream::connect(&hub.to_string(), "hub", identity.client_config().unwrap()).await.unwrap();
    writer.send(&EdgeToHub::Hello { edge_id: "edge-1".into(), protocol: PROTOCOL_VERSION, checkpoint_size: None }).await.unwrap();
    let welcome = tokio::time::timeout(TIMEOUT, reader.recv::<HubToEdge>()).await.unwrap().unwrap();
    let Some(HubToEdge::Welcome { last_batch_seq }) = welcome else { panic!("no welcome: {welcome:?}") };
    (identity, reader, writer, last_batch_seq)
}

/// A development PKI in `dir/pki` (the hub and edge-1) and `dir/registry.signed` granting
/// `prefixes` to edge-1, signed by the development engineer.
pub fn write_pki_and_registry(dir: &Path, prefixes: &[&str]) {
    DevPki::generate(&dir.join("pki"), &[(IdentityKind::Hub, "hub", &[Role::Viewer]), (IdentityKind::Edge, "edge-1", &[Role::Viewer])])
        .unwrap();
    let mut registry = gridtrust_trust::registry::PointRegistry::new(1, Timestamp::now());
    for prefix in prefixes {
        registry.grant(prefix, "edge-1").unwrap();
    }
    gridtrust_transport::authority::sign_as_dev_engineer(&DevPki::open(&dir.join("pki")), &registry, &dir.join("registry.signed")).unwrap();
}
