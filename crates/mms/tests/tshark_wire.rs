//! Wire check with an implementation we did not write: Wireshark's MMS dissector. Our client's
//! traffic with libiec61850 (associate, identify, browse, read, write, data set, report, control,
//! release) is captured live on `lo` with tshark and dissected with `-d tcp.port==PORT,tpkt`:
//! every MMS PDU must be dissected, none malformed, with the services we sent.
//!
//! Skips with a notice when tshark or pyiec61850-ng is missing, unless GRIDTRUST_REQUIRE_PEERS is set.

mod common;

use common::peer::{Iec61850Server, LD};
use gridtrust_mms::control::{ControlObject, ControlParameters};
use gridtrust_mms::data::{Data, ObjectName};
use gridtrust_mms::report::{ReportControlBlock, ReportSettings};
use gridtrust_mms::{ClientConfig, MmsClient};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Capture(Child);

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tshark_available() -> bool {
    Command::new("tshark").arg("-v").output().map(|o| o.status.success()).unwrap_or(false)
}

#[tokio::test]
async fn tshark_dissects_our_mms_traffic_without_malformed_packets() {
    if !tshark_available() {
        assert!(std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(), "tshark is required (GRIDTRUST_REQUIRE_PEERS) but not installed");
        eprintln!("SKIP: tshark is not installed");
        return;
    }
    let Some(server) = Iec61850Server::start("tshark_dissects_our_mms_traffic_without_malformed_packets") else { return };
    let port = server.addr.port();
    let dir = std::env::temp_dir().join(format!("gridtrust-mms-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mms.pcapng");
    let mut child = Command::new("tshark")
        .args(["-i", "lo", "-f", &format!("tcp port {port}"), "-w"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tshark");
    // Ready when tshark says the capture has started ("Capturing on" comes earlier than that).
    let stderr = child.stderr.take().expect("stderr");
    let mut capture = Capture(child);
    let mut lines = BufReader::new(stderr).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("Capture started") => break,
            Some(Ok(_)) => continue,
            _ => {
                // Without permission to capture on lo there is nothing to check.
                assert!(std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(), "tshark cannot capture on lo");
                eprintln!("SKIP: tshark cannot capture on lo");
                return;
            }
        }
    }
    std::thread::spawn(move || for _ in lines {});

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
    // Let the last segments reach the capture, then stop it cleanly (SIGINT flushes the file).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = Command::new("kill").arg("-INT").arg(capture.0.id().to_string()).status();
    let _ = capture.0.wait();

    let decode = format!("tcp.port=={port},tpkt");
    let fields = |filter: &str, field: &str| -> Vec<String> {
        let out = Command::new("tshark").arg("-r").arg(&file).args(["-d", &decode, "-Y", filter, "-T", "fields", "-e", field]).output().expect("run tshark");
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    };
    let malformed = fields("_ws.malformed || _ws.expert.severity >= \"error\"", "frame.number");
    let mms_frames = fields("mms", "frame.number");
    let requests = fields("mms.confirmedServiceRequest", "mms.confirmedServiceRequest");
    let reports = fields("mms.unconfirmedService", "frame.number");
    let all_frames = fields("frame", "frame.protocols");
    let summary = Command::new("tshark").arg("-r").arg(&file).args(["-d", &decode, "-Y", "mms"]).output().expect("run tshark");
    let info: Vec<String> = String::from_utf8_lossy(&summary.stdout).lines().map(str::to_owned).collect();
    let _ = std::fs::remove_dir_all(&dir);
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
