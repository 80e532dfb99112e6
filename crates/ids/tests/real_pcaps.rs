//! The IEC 104 and Modbus captures in the shared test data: each decodes into the APDUs/ADUs that
//! Wireshark shows, and each scored against a model learned from itself raises no alert.
//!
//! What the captures contain (from `tshark -z conv,tcp` and the decoded ASDUs):
//! - `090813_diverse.pcap`: one connection 10.0.0.10:1075 → 10.0.0.10:2404 over a loopback
//!   adapter, 150 s, common address 3: M_ME_NC_1 periodic and spontaneous, M_SP_TB_1, single,
//!   double and set-point commands with and without time tag (activation, confirmation,
//!   termination).
//! - `JavaRMI_and_IEC_Misc.pcap`: Java RMI noise plus two IEC 104 connections to
//!   10.209.13.145:2404 over 30 minutes, common address 37133: 21 general interrogations answered
//!   with single and double points, spontaneous scaled measurements (M_ME_NB_1), end of
//!   initialisation.
//! - `TestDissectIec104.pcap`: six short consecutive connections 172.27.248.109 →
//!   172.27.248.79:2404: commands, clock synchronisation, an interrogation, and broken APDUs
//!   (a dissector test).
//! - `ModbusTCP.pcap`: one Modbus client polling many servers on port 502 for 85 s; `mb2.pcap`
//!   the same network for 21 s with S7 and EtherNet/IP besides.

use std::path::PathBuf;

use gridtrust_ids::capture::read_capture;
use gridtrust_ids::detect::score;
use gridtrust_ids::event::{EventKind, Protocol};
use gridtrust_ids::model::{Model, learn};
use gridtrust_ids::stream::events_of;

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/pcap").join(rel)
}

fn events(rel: &str) -> Vec<gridtrust_ids::event::Event> {
    let bytes = std::fs::read(testdata(rel)).expect("shared test data is present");
    let packets = read_capture(&bytes).expect("capture reads");
    events_of(&packets).0
}

fn count(events: &[gridtrust_ids::event::Event], protocol: Protocol) -> (usize, usize) {
    let frames =
        events.iter().filter(|e| e.protocol == protocol && matches!(e.kind, EventKind::Iec104(_) | EventKind::Modbus { .. })).count();
    let malformed = events.iter().filter(|e| matches!(e.kind, EventKind::Malformed(_))).count();
    (frames, malformed)
}

#[test]
fn iec104_captures_decode_and_score_clean_against_themselves() {
    // (capture, APDUs, malformed stretches). The first two match tshark's APDU count exactly;
    // TestDissectIec104 is a dissector test with deliberately broken APDUs, where tshark counts
    // 69 (some flagged "APDU less than 4 bytes" or "Malformed") and our codec refuses 13 stretches.
    for (rel, expected_apdus, expected_malformed) in [
        ("IEC60870-5-104/090813_diverse.pcap", 86, 0),
        ("IEC60870-5-104/JavaRMI_and_IEC_Misc.pcap", 235, 0),
        ("IEC60870-5-104/TestDissectIec104.pcap", 61, 13),
    ] {
        let ev = events(rel);
        let (frames, malformed) = count(&ev, Protocol::Iec104);
        println!("{rel}: {} events, {frames} APDUs, {malformed} malformed", ev.len());
        let model: Model = learn(&ev);
        let json = serde_json::to_string(&model).unwrap();
        let back: Model = serde_json::from_str(&json).unwrap();
        assert_eq!(back, model);
        let alerts = score(model, &ev);
        for a in &alerts {
            println!("  {a}");
        }
        assert!(alerts.is_empty(), "{rel} against its own model");
        assert_eq!((frames, malformed), (expected_apdus, expected_malformed), "{rel}");
    }
}

#[test]
fn modbus_captures_decode_and_score_clean_against_themselves() {
    for rel in ["ModbusTCP/ModbusTCP.pcap", "ModbusTCP/mb2.pcap"] {
        let ev = events(rel);
        let (frames, malformed) = count(&ev, Protocol::Modbus);
        println!("{rel}: {} events, {frames} Modbus ADUs, {malformed} malformed", ev.len());
        assert!(frames > 1000, "{rel}: Modbus traffic decodes");
        let alerts = score(learn(&ev), &ev);
        for a in alerts.iter().take(20) {
            println!("  {a}");
        }
        assert!(alerts.is_empty(), "{rel} against its own model");
    }
}

#[test]
fn a_capture_scored_against_another_captures_model_reports_the_strangers() {
    let train = events("IEC60870-5-104/090813_diverse.pcap");
    let other = events("IEC60870-5-104/TestDissectIec104.pcap");
    let alerts = score(learn(&train), &other);
    assert!(alerts.iter().any(|a| a.kind.name() == "unknown-peer"), "{alerts:?}");
}

#[test]
fn pcapng_and_nanosecond_pcap_written_by_editcap_read_as_the_original() {
    let original = read_capture(&std::fs::read(testdata("IEC60870-5-104/090813_diverse.pcap")).unwrap()).unwrap();
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata");
    for name in ["090813_diverse.pcapng", "090813_diverse_ns.pcap"] {
        let other = read_capture(&std::fs::read(here.join(name)).unwrap()).unwrap();
        assert_eq!(other, original, "{name}");
    }
}
