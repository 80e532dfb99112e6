//! Golden test against real captures (ITI ICS-Security-Tools, CC-BY-4.0, in
//! `../shared/testdata/pcap/IEC60870-5-104/`): every I-frame's ASDU decodes with our codec and
//! re-encodes to the same octets, and the only APDUs we reject are the deliberately broken ones
//! of Wireshark's dissector test capture, each named below with the reason.

mod pcap_support;

use std::path::PathBuf;

use gridtrust_iec104::asdu::{Asdu, AsduError, Cause, Element, TypeId};
use pcap_support::{Piece, apdus, read_tcp_segments};

fn capture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/pcap/IEC60870-5-104")
}

/// What became of one APDU of a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// I-frame whose ASDU decoded and re-encoded to the same octets.
    Decoded(TypeId),
    /// S- or U-frame: nothing for the ASDU codec.
    Control,
    /// Rejected, with the reason.
    Rejected(String),
    /// Octets before a start octet (resynchronisation), or an APDU cut off by the capture end.
    NotAnApdu(String),
}

fn classify(bytes: &[u8]) -> Outcome {
    // APCI: 0x68, length, 4 control octets. The APCI codec is not ours; the split is trivial.
    let len = usize::from(bytes[1]);
    if len < 4 {
        return Outcome::Rejected(format!("APDU length {len} < 4: no room for the control field"));
    }
    if bytes[2] & 0x01 != 0 {
        return Outcome::Control;
    }
    let asdu = &bytes[6..];
    if asdu.is_empty() {
        return Outcome::Rejected("I-frame without ASDU".into());
    }
    match Asdu::decode(asdu) {
        Ok(a) => {
            let mut again = Vec::new();
            a.encode(&mut again).unwrap_or_else(|e| panic!("decoded {a:?} but cannot re-encode: {e}"));
            assert_eq!(again, asdu, "re-encoding {a:?} changes the octets");
            Outcome::Decoded(a.type_id)
        }
        Err(e) => Outcome::Rejected(match e {
            AsduError::Truncated { .. } => "ASDU shorter than the 6-octet data unit identifier".into(),
            other => other.to_string(),
        }),
    }
}

fn outcomes(file: &str) -> Vec<(usize, Outcome)> {
    let pcap = std::fs::read(capture_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    apdus(&read_tcp_segments(&pcap), 2404)
        .into_iter()
        .map(|p| match p {
            Piece::Apdu { frame, bytes } => (frame, classify(&bytes)),
            Piece::Junk { frame, bytes } => (frame, Outcome::NotAnApdu(format!("{} octets before a start octet", bytes.len()))),
            Piece::Incomplete { frame, bytes } => {
                (frame, Outcome::NotAnApdu(format!("capture ends inside an APDU ({} octets)", bytes.len())))
            }
        })
        .collect()
}

fn summary(file: &str) -> (usize, Vec<(usize, Outcome)>) {
    let all = outcomes(file);
    for (frame, o) in &all {
        eprintln!("{file} frame {frame}: {o:?}");
    }
    let decoded = all.iter().filter(|(_, o)| matches!(o, Outcome::Decoded(_))).count();
    let bad = all.into_iter().filter(|(_, o)| matches!(o, Outcome::Rejected(_) | Outcome::NotAnApdu(_))).collect();
    (decoded, bad)
}

#[test]
fn diverse_capture_every_asdu_decodes_and_reencodes_bit_exact() {
    let (decoded, bad) = summary("090813_diverse.pcap");
    assert!(bad.is_empty(), "{bad:#?}");
    assert!(decoded >= 70, "only {decoded} ASDUs");
}

#[test]
fn java_rmi_capture_every_asdu_decodes_and_reencodes_bit_exact() {
    let (decoded, bad) = summary("JavaRMI_and_IEC_Misc.pcap");
    assert!(bad.is_empty(), "{bad:#?}");
    assert!(decoded >= 100, "only {decoded} ASDUs");
}

/// The APDUs of Wireshark's dissector test capture that are broken on purpose (streams 0–4 of
/// `TestDissectIec104.pcap` feed garbage before start octets and send APDUs too short for their
/// own structure, to test the dissector's resynchronisation). `tshark -V` agrees: it reports
/// "APDU less than 4 bytes" for the first group and "Malformed Packet" for frames 25 and 58, and
/// for frames 83 and 94 shows a 4-octet "ASDU" whose data unit identifier is cut short.
const DISSECTOR_TEST_BROKEN: &[(usize, &str)] = &[
    (9, "APDU length 2 < 4: no room for the control field"),
    (16, "APDU length 1 < 4: no room for the control field"),
    (18, "APDU length 2 < 4: no room for the control field"),
    (23, "APDU length 3 < 4: no room for the control field"),
    // 68 04 16 16 16 16: I-format control field and nothing after it.
    (25, "I-frame without ASDU"),
    // 68 06 18 18 18 18 | 18 18: a 2-octet ASDU.
    (41, "ASDU shorter than the 6-octet data unit identifier"),
    (56, "ASDU shorter than the 6-octet data unit identifier"),
    // 68 08 1a x8: a 4-octet ASDU (type 26 is not even a 104 type).
    (83, "ASDU shorter than the 6-octet data unit identifier"),
    (94, "ASDU shorter than the 6-octet data unit identifier"),
];

#[test]
fn dissector_test_capture_rejects_exactly_the_broken_apdus() {
    let all = outcomes("TestDissectIec104.pcap");
    for (frame, o) in &all {
        eprintln!("TestDissectIec104.pcap frame {frame}: {o:?}");
    }
    let rejected: Vec<(usize, String)> = all
        .iter()
        .filter_map(|(f, o)| match o {
            Outcome::Rejected(r) => Some((*f, r.clone())),
            _ => None,
        })
        .collect();
    let expected: Vec<(usize, String)> = DISSECTOR_TEST_BROKEN.iter().map(|(f, r)| (*f, r.to_string())).collect();
    assert_eq!(rejected, expected);
    // Garbage between APDUs only in the resynchronisation streams (frames before 100); the last
    // stream (frames 104..) is a clean session and everything in it decodes.
    for (frame, o) in &all {
        if let Outcome::NotAnApdu(why) = o {
            assert!(*frame < 100, "frame {frame}: {why}");
        }
    }
    let decoded = all.iter().filter(|(f, o)| *f >= 100 && matches!(o, Outcome::Decoded(_))).count();
    assert_eq!(decoded, 19);
}

/// Every decoded ASDU of a capture, in stream order.
fn decoded_asdus(file: &str) -> Vec<Asdu> {
    let pcap = std::fs::read(capture_dir().join(file)).unwrap();
    apdus(&read_tcp_segments(&pcap), 2404)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Apdu { bytes, .. } if bytes.len() > 6 && bytes[2] & 1 == 0 => Asdu::decode(&bytes[6..]).ok(),
            _ => None,
        })
        .collect()
}

/// Decoding is lenient about calendar fields so that real data is not lost: the controlling
/// station in 090813_diverse.pcap stamps its time-tagged commands with year 109 (a `struct tm`
/// years-since-1900 bug), while the controlled station confirms with year 9. Both decode and
/// re-encode bit-exact; `validate` names the bad field.
#[test]
fn implausible_time_tags_in_real_commands_decode_and_are_named_by_validate() {
    let mut bad = Vec::new();
    for a in decoded_asdus("090813_diverse.pcap")
        .iter()
        .chain(&decoded_asdus("JavaRMI_and_IEC_Misc.pcap"))
        .chain(&decoded_asdus("TestDissectIec104.pcap"))
    {
        for o in &a.objects {
            let time = match o.element {
                Element::ClockSync { time } | Element::TestCommand { time, .. } => Some(time),
                e => e.time(),
            };
            if let Some(Err(e)) = time.map(|t| t.validate()) {
                bad.push((a.type_id, a.cot.cause, e.to_string()));
            }
        }
    }
    assert_eq!(bad.len(), 10, "{bad:#?}");
    for (ty, cause, e) in &bad {
        assert!(ty.is_process_command() && *cause == Cause::Activation, "{ty} {cause:?}");
        assert_eq!(e, "time tag field year at octet 6 is 109, outside 0..=99");
    }
}
