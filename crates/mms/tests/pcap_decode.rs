//! Every frame of the real captures in "../shared/testdata/pcap/IEC61850/MMS - Specific Commands/"
//! that carries MMS (as tshark sees it) decodes with our codec, to the content tshark shows.
//!
//! The `iec61850_*` captures carry MMS in the full OSI stack (session, presentation, ACSE); the
//! `mms-*` captures put MMS PDUs straight into COTP DT TPDUs (tshark: eth:ip:tcp:tpkt:cotp:mms),
//! and their server side sends malformed COTP (length indicator 0) that tshark does not decode
//! as MMS either.

mod common;

use gridtrust_mms::cotp::{Reassembler, Tpdu, decode_tpdu, decode_tpkt};
use gridtrust_mms::osi::{UpperPdu, decode_spdu};
use gridtrust_mms::pdu::{ConfirmedRequest, MmsPdu};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/pcap/IEC61850/MMS - Specific Commands")
}

/// (frame number, decoded MMS PDU or the error) for every COTP DT TSDU in a capture, in frame
/// order; session PDUs without MMS inside are left out.
fn decode_file(name: &str) -> Vec<(usize, Result<MmsPdu, String>)> {
    let mut out = Vec::new();
    for (_, stream) in common::pcap::tcp_streams(&dir().join(name)) {
        let mut rest = &stream.bytes[..];
        let mut reassembler = Reassembler::new(65536);
        while !rest.is_empty() {
            let offset = stream.bytes.len() - rest.len();
            let frame = stream.frame_at(offset);
            let (payload, used) = match decode_tpkt(rest) {
                Ok(ok) => ok,
                Err(e) => {
                    out.push((frame, Err(format!("TPKT: {e}"))));
                    break;
                }
            };
            rest = &rest[used..];
            let Ok(Tpdu::Data { end_of_tsdu, data }) = decode_tpdu(payload) else { continue };
            let Some(tsdu) = reassembler.push(data, end_of_tsdu).unwrap() else { continue };
            let mms = if tsdu.first().is_some_and(|b| *b >= 0x80) {
                Some(&tsdu[..])
            } else {
                match decode_spdu(&tsdu) {
                    Ok(UpperPdu::Connect { mms } | UpperPdu::Data { mms }) => Some(mms),
                    Ok(UpperPdu::Accept { mms, .. }) => mms,
                    Ok(_) => None,
                    Err(e) => {
                        out.push((frame, Err(e.to_string())));
                        None
                    }
                }
            };
            if let Some(mms) = mms {
                out.push((frame, MmsPdu::decode(mms).map_err(|e| e.to_string())));
            }
        }
    }
    out.sort_by_key(|(frame, _)| *frame);
    out
}

/// A one-line summary of a decoded PDU, naming the content tshark shows for the frame.
fn describe(pdu: &MmsPdu) -> String {
    match pdu {
        MmsPdu::InitiateRequest(p) => format!(
            "initiate-Request detail={:?} outstanding={}/{} nesting={:?} cbb={:02x?}",
            p.local_detail,
            p.max_serv_outstanding_calling,
            p.max_serv_outstanding_called,
            p.data_structure_nesting_level,
            p.parameter_cbb.as_bytes()
        ),
        MmsPdu::ConfirmedRequest { invoke_id, request } => match request {
            ConfirmedRequest::Other { tag: Some(tag), body } => {
                format!(
                    "request {invoke_id} service {} {:?}",
                    tag.number,
                    String::from_utf8_lossy(body).chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>()
                )
            }
            other => format!("request {invoke_id} {other:?}"),
        },
        MmsPdu::ConfirmedResponse { invoke_id, response } => format!("response {invoke_id} {response:?}"),
        other => format!("{other:?}"),
    }
}

fn check(name: &str, expected: &[(usize, &str)]) {
    let decoded: Vec<(usize, String)> = decode_file(name)
        .into_iter()
        .map(|(frame, pdu)| (frame, pdu.map(|p| describe(&p)).unwrap_or_else(|e| format!("error: {e}"))))
        .collect();
    let expected: Vec<(usize, String)> = expected.iter().map(|(f, s)| (*f, s.to_string())).collect();
    assert_eq!(decoded, expected, "{name}");
}

const LIBIEC_INITIATE: &str = "initiate-Request detail=Some(30000) outstanding=1000/1000 nesting=Some(5) cbb=[fb, 00]";
const PCAPR_INITIATE: &str = "initiate-Request detail=Some(31) outstanding=3/3 nesting=Some(2056) cbb=[e8, 00]";
/// Frame 10 of the iec61850_* captures is an AC SPDU whose length (137) runs past the TSDU (136
/// bytes left): tshark does not decode it as MMS either.
const BROKEN_ACCEPT: &str = "error: session PDU truncated at offset 0";
/// The mms-* captures' server side starts with a TPKT whose length (5) is below the minimum.
const BROKEN_SERVER_TPKT: &str = "error: TPKT: bad TPKT header (version 3, length 5)";

#[test]
fn iec61850_osi_captures_decode_to_their_services() {
    let tail = [(16, "ConcludeRequest"), (18, "response 0 Other { tag: None, body: [] }")];
    let head = [(8, LIBIEC_INITIATE), (10, BROKEN_ACCEPT)];
    let with =
        |middle: &[(usize, &'static str)]| -> Vec<(usize, &'static str)> { head.iter().chain(middle).chain(&tail).copied().collect() };
    check(
        "iec61850_get_name_list.pcap",
        &with(&[
            (12, "request 0 GetNameList { class: NamedVariable, scope: Vmd, continue_after: None }"),
            (14, "response 0 Other { tag: None, body: [] }"),
        ]),
    );
    check(
        "iec61850_get_variable_access_attributes.pcap",
        &with(&[(12, "request 0 GetVariableAccessAttributes(Vmd(\"mu\"))"), (14, "response 0 Other { tag: None, body: [] }")]),
    );
    check(
        "iec61850_read.pcap",
        &with(&[(12, "request 0 Read { specification_with_result: false, variables: List([Vmd(\"mu\")]) }"), (14, "response 0 Read([])")]),
    );
    check(
        "iec61850_write.pcap",
        &with(&[
            (12, "request 0 Write { variables: List([Vmd(\"mu\")]), data: [Integer(0)] }"),
            // The capture's write response holds a universal SEQUENCE where the service belongs.
            (14, "response 0 Other { tag: Some([UNIVERSAL 16]c), body: [] }"),
        ]),
    );
    check("iec61850_release.pcap", &[(8, LIBIEC_INITIATE), (10, BROKEN_ACCEPT), (12, "ConcludeRequest"), (14, "response 0 Read([])")]);
}

#[test]
fn mms_over_cotp_captures_decode_to_their_services() {
    const PROGRAM: &str = "R395024397Application_1";
    let cases: Vec<(&str, Vec<(usize, String)>)> = vec![
        ("mms-cancelRequest.pcap", vec![(12, "CancelRequest(1)".into())]),
        ("mms-confirmedRequestPDU.pcap", vec![(12, "request 1 Other { tag: None, body: [] }".into())]),
        (
            "mms-readRequest.pcap",
            vec![(12, "request 1 Read { specification_with_result: false, variables: List([Vmd(\"$MSG$1$$\")]) }".into())],
        ),
        // service numbers: 39 deleteProgramInvocation, 40 start, 41 stop, 42 resume, 43 reset, 44 kill
        ("mms-deleteProgramInvocation.pcap", vec![(12, "request 1 service 39 \"MuSecurity_Application_1\"".into())]),
        ("mms-killRequest.pcap", vec![(12, format!("request 1 service 44 \"{PROGRAM}\""))]),
        ("mms-resetRequest.pcap", vec![(12, format!("request 1 service 43 \"{PROGRAM}\""))]),
        ("mms-resumeRequest.pcap", vec![(12, format!("request 1 service 42 \"{PROGRAM}\""))]),
        (
            "mms-startRequest.pcap",
            vec![(12, format!("request 1 service 41 \"{PROGRAM}\"")), (16, format!("request 1 service 40 \"{PROGRAM}\""))],
        ),
        (
            "mms-stopRequest.pcap",
            vec![(12, format!("request 1 service 40 \"{PROGRAM}\"")), (16, format!("request 1 service 41 \"{PROGRAM}\""))],
        ),
        // 63 getAlarmSummary, 37 getDomainAttributes, 29 initiateUploadSequence, 31 terminateUploadSequence
        ("mms-getAlarmSummary.pcap", vec![(12, "request 1 service 63 \"\"".into())]),
        ("mms-getDomainAttributes.pcap", vec![(12, "request 1 service 37 \"DTLogFilesDomain\"".into())]),
        ("mms-initiateUploadSequence.pcap", vec![(12, "request 1 service 29 \"DTLogFilesDomain\"".into())]),
        (
            "mms-terminateUploadSequence.pcap",
            vec![(12, "request 1 service 29 \"DTLogFilesDomain\"".into()), (16, "request 1 service 31 \"\"".into())],
        ),
        // 19 takeControl, 20 relinquishControl, 26 initiateDownloadSequence
        ("mms-takeControl.pcap", vec![(12, "request 1 service 19 \"reserved\"".into()), (16, "request 1 service 20 \"reserved\"".into())]),
        (
            "mms-relinquishControl.pcap",
            vec![(12, "request 1 service 19 \"reserved\"".into()), (16, "request 1 service 20 \"reserved\"".into())],
        ),
        (
            "mms-initiateDownloadSequence.pcap",
            vec![(12, "request 1 service 19 \"reserved\"".into()), (16, "request 1 service 26 \"DTLogFilesDomainMuSecAC800M\"".into())],
        ),
    ];
    for (name, middle) in cases {
        let mut expected: Vec<(usize, String)> = vec![(6, BROKEN_SERVER_TPKT.into()), (8, PCAPR_INITIATE.into())];
        expected.extend(middle);
        // All but the read capture end with a conclude-Request four frames later.
        if name != "mms-readRequest.pcap" {
            let conclude_frame = expected.last().map(|(f, _)| f + 4).unwrap_or(0);
            expected.push((conclude_frame, "ConcludeRequest".into()));
        }
        let expected: Vec<(usize, &str)> = expected.iter().map(|(f, s)| (*f, s.as_str())).collect();
        check(name, &expected);
    }
}

#[test]
fn every_capture_in_the_folder_is_covered() {
    let mut names: Vec<String> = std::fs::read_dir(dir()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names.len(), 21, "{names:?}");
    for name in names {
        // Every decodable TSDU on the client side is MMS; only the known-broken frames are errors.
        for (frame, result) in decode_file(&name) {
            if let Err(e) = result {
                assert!(
                    (frame == 10 && e == BROKEN_ACCEPT["error: ".len()..]) || (frame == 6 && e == BROKEN_SERVER_TPKT["error: ".len()..]),
                    "{name} frame {frame}: {e}"
                );
            }
        }
    }
}
