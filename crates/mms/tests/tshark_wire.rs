//! Wire check with an implementation we did not write: Wireshark's MMS dissector. Our client's
//! traffic with libiec61850 (associate, identify, browse, read, write, data set, report, control,
//! release) is captured live on `lo` with tshark and dissected with `-d tcp.port==PORT,tpkt`:
//! every MMS PDU must be dissected, none malformed, with the services we sent.
//!
//! Skips with a notice when tshark or pyiec61850-ng is missing, unless GRIDTRUST_REQUIRE_PEERS is set.

mod common;

use common::peer::{Iec61850Server, LD};
use common::tshark::Capture;
use gridtrust_mms::control::{ControlObject, ControlParameters};
use gridtrust_mms::data::{Data, ObjectName};
use gridtrust_mms::report::{ReportControlBlock, ReportSettings};
use gridtrust_mms::{ClientConfig, MmsClient};
use std::time::Duration;

#[tokio::test]
async fn tshark_dissects_our_mms_traffic_without_malformed_packets() {
    let Some(server) = Iec61850Server::start("tshark_dissects_our_mms_traffic_without_malformed_packets") else { return };
    let port = server.addr.port();
    let dir = tempfile::tempdir().unwrap();
    let Some(mut capture) = Capture::start(port, dir.path()) else { return };

    let client = MmsClient::connect(server.addr, ClientConfig::default()).await.unwrap();
    client.identify().await.unwrap();
    client.logical_devices().await.unwrap();
    client.variables(LD).await.unwrap();
    client.variable_type(&ObjectName::domain(LD, "GGIO1$MX$AnIn1")).await.unwrap();
    client.read_value(&ObjectName::domain(LD, "GGIO1$MX$AnIn1$mag$f")).await.unwrap();
    client.write_value(&ObjectName::domain(LD, "LLN0$RP$EventsRCB01$IntgPd"), Data::Unsigned(2000)).await.unwrap();
    client.data_set_members(&ObjectName::domain(LD, "LLN0$Events")).await.unwrap();
    client.read_data_set(&ObjectName::domain(LD, "LLN0$Events")).await.unwrap();
    let mut reports = client.reports();
    let rcb = ReportControlBlock { logical_device: LD.into(), logical_node: "LLN0".into(), name: "EventsRCB01".into(), buffered: false };
    client.enable_report(&rcb, &ReportSettings::default()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), reports.next()).await.unwrap().unwrap().unwrap();
    let sbo = ControlObject { logical_device: LD.into(), logical_node: "GGIO1".into(), data_object: "SPCSO4".into() };
    client.operate(&sbo, Data::Boolean(true), &ControlParameters::default()).await.unwrap();
    client.release().await.unwrap();
    capture.stop().await;

    let decode = format!("tcp.port=={port},tpkt");
    let fields = |filter: &str, field: &str| capture.fields(&decode, filter, field);
    let malformed = fields("_ws.malformed || _ws.expert.severity >= \"error\"", "frame.number");
    let mms_frames = fields("mms", "frame.number");
    let requests = fields("mms.confirmedServiceRequest", "mms.confirmedServiceRequest");
    let reports = fields("mms.unconfirmedService", "frame.number");
    let all_frames = fields("frame", "frame.protocols");
    let info = capture.summary(&decode, "mms");
    assert!(malformed.is_empty(), "malformed or erroneous frames: {malformed:?}");
    assert!(mms_frames.len() >= 30, "only {} MMS frames dissected; frames: {all_frames:?}", mms_frames.len());
    // confirmedServiceRequest numbers: 1 getNameList, 2 identify, 4 read, 5 write,
    // 6 getVariableAccessAttributes, 12 getNamedVariableListAttributes.
    for service in ["1", "2", "4", "5", "6", "12"] {
        assert!(requests.iter().any(|r| r == service), "service {service} not seen by tshark in {requests:?}");
    }
    assert!(reports.len() >= 2, "report and CommandTermination seen as informationReports");
    for pdu in ["initiate-RequestPDU", "initiate-ResponsePDU", "conclude-RequestPDU", "conclude-ResponsePDU"] {
        assert!(info.iter().any(|i| i.contains(pdu)), "{pdu} not dissected: {info:?}");
    }
}
