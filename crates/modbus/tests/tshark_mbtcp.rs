//! Interoperability check against an implementation we did not write: Wireshark's Modbus/TCP
//! dissector. A SunSpec poll and every write kind, encoded by our codec and answered by our
//! simulator (exceptions included), go into a pcap; `tshark` must find no malformed packet and
//! must read the transaction ids, function codes, addresses, register values and exception codes
//! we put in.
//!
//! Skips with a notice only when tshark is missing and GRIDTRUST_REQUIRE_PEERS is unset.

mod support;

// The IEC 104 tests' pcap writer (Ethernet/IPv4/TCP on port 2404); tshark is told to decode that
// port as Modbus/TCP (its Modbus/TCP port preference, so it can tell requests from answers).
#[path = "../../iec104/tests/pcap_support/mod.rs"]
mod pcap_support;

use std::process::Command;

use gridtrust_modbus::frame::{Header, Request, Response, Table};
use gridtrust_modbus::sim::{CONTROLS_ADDRESS, INVERTER_ADDRESS, InverterSim};
use support::peer_available;

#[test]
fn tshark_reads_our_modbus_traffic_as_we_meant_it() {
    if !peer_available("tshark_reads_our_modbus_traffic_as_we_meant_it", "tshark", &["-v"]) {
        return;
    }
    let mut sim = InverterSim::new(10_000);
    sim.update(0.5, 0.0);
    let requests = [
        Request::Read { table: Table::Holding, address: 40000, count: 4 },
        Request::Read { table: Table::Holding, address: INVERTER_ADDRESS - 2, count: 52 },
        Request::Read { table: Table::Holding, address: INVERTER_ADDRESS, count: 125 },
        Request::WriteSingleRegister { address: CONTROLS_ADDRESS + 3, value: 400 },
        Request::WriteMultipleRegisters { address: CONTROLS_ADDRESS + 7, values: vec![1] },
        Request::WriteSingleRegister { address: CONTROLS_ADDRESS + 3, value: 1500 },
        Request::Read { table: Table::Coil, address: 0, count: 9 },
        Request::WriteSingleCoil { address: 3, value: true },
        Request::WriteMultipleCoils { address: 3, values: vec![true, false, true] },
        Request::Read { table: Table::Input, address: 10, count: 2 },
    ];
    // (from_client, bytes) and what each frame must show: (function, transaction, exception,
    // first register value in a read answer).
    let mut segments = Vec::new();
    let mut expected: Vec<(u8, u16, Option<u8>, Option<u16>)> = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        let header = Header { transaction: 0x100 + i as u16, unit: 1 };
        let mut bytes = Vec::new();
        request.encode(header, &mut bytes).unwrap();
        segments.push((true, bytes));
        expected.push((request.function(), header.transaction, None, None));
        let response = sim.handle(request);
        let mut bytes = Vec::new();
        response.encode(header, request.function(), &mut bytes);
        segments.push((false, bytes));
        let (exception, first) = match &response {
            Response::Exception(e) => (Some(e.0), None),
            Response::Registers(r) => (None, r.first().copied()),
            _ => (None, None),
        };
        expected.push((request.function(), header.transaction, exception, first));
    }
    let dir = std::env::temp_dir().join(format!("gridtrust-modbus-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("modbus.pcap");
    std::fs::write(&pcap, pcap_support::write_tcp_pcap(&segments)).unwrap();
    let fields = [
        "frame.number",
        "_ws.malformed",
        "_ws.expert.message",
        "mbtcp.trans_id",
        "modbus.func_code",
        "modbus.exception_code",
        "modbus.regval_uint16",
    ];
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(&pcap).args(["-o", "mbtcp.tcp.port:2404", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).filter(|r: &Vec<&str>| r.len() == fields.len()).collect();
    // Three handshake frames, then one frame per segment.
    assert_eq!(rows.len(), 3 + segments.len(), "{text}");
    let mut problems = Vec::new();
    for (row, (function, transaction, exception, first)) in rows[3..].iter().zip(&expected) {
        let frame = row[0];
        if !row[1].is_empty() || !row[2].is_empty() {
            problems.push(format!("frame {frame}: malformed/expert {:?} {:?}", row[1], row[2]));
        }
        if row[3] != transaction.to_string() {
            problems.push(format!("frame {frame}: transaction {} != {transaction}", row[3]));
        }
        if row[4] != function.to_string() {
            problems.push(format!("frame {frame}: function {} != {function}", row[4]));
        }
        if row[5] != exception.map(|e| e.to_string()).unwrap_or_default() {
            problems.push(format!("frame {frame}: exception {:?} != {exception:?}", row[5]));
        }
        if first.is_some_and(|v| row[6] != v.to_string()) {
            problems.push(format!("frame {frame}: first register {:?} != {first:?}", row[6]));
        }
    }
    assert!(expected.iter().any(|e| e.2 == Some(3)) && expected.iter().any(|e| e.2 == Some(2)), "both exception kinds are exercised");
    assert!(problems.is_empty(), "{problems:#?}\n{text}");
}
