//! Interoperability check against an implementation we did not write: Wireshark's synphasor
//! dissector reads what our simulator puts on real loopback sockets. A test client asks the
//! simulator (a 3-PMU PDC stream with float-polar, integer-rectangular and integer-polar blocks)
//! for the header, CFG-1, CFG-2 and CFG-3 and turns data on; the bytes exchanged go into a pcap
//! exactly as read from the socket, and `tshark` must find no malformed frame, no expert warning
//! or error, correct checksums, and the frame types, IDCODEs and values we sent.
//!
//! Skips (with a message) only when `tshark` is missing and GRIDTRUST_REQUIRE_PEERS is unset.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command as Process;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use gridtrust_c37118::command::{Command, CommandFrame};
use gridtrust_c37118::config::{ConfigFrame, DataFormat};
use gridtrust_c37118::data::DataFrame;
use gridtrust_c37118::driver::{serve_tcp, serve_udp};
use gridtrust_c37118::frame::{FrameReader, FrameType};
use gridtrust_c37118::sim::{SimSpec, SimStation};
use support::{tool_available, write_pcap};

const IDCODE: u16 = 4712;
const DATA_FRAMES: usize = 20;

fn spec() -> SimSpec {
    let formats = [
        DataFormat { polar: true, phasors_float: true, analogs_float: true, frequency_float: true },
        DataFormat { polar: false, phasors_float: false, analogs_float: false, frequency_float: false },
        DataFormat { polar: true, phasors_float: false, analogs_float: true, frequency_float: false },
    ];
    let stations = formats
        .iter()
        .enumerate()
        .map(|(i, f)| SimStation { name: format!("SUBST A PMU{}", i + 1), idcode: 300 + i as u16, format: *f })
        .collect();
    SimSpec { idcode: IDCODE, data_rate: 50, stations }
}

fn commands() -> Vec<Vec<u8>> {
    [Command::SendHeader, Command::SendConfig1, Command::SendConfig2, Command::SendConfig3, Command::DataOn]
        .into_iter()
        .map(|c| {
            let mut out = Vec::new();
            CommandFrame::new(IDCODE, Default::default(), c).encode(&mut out).unwrap();
            out
        })
        .collect()
}

/// Frames the simulator sent, in order, cut with our own codec: frame type code, IDCODE, body.
fn frames_in(packets: &[(bool, Vec<u8>)]) -> Vec<Vec<u8>> {
    let mut reader = FrameReader::default();
    let mut frames = Vec::new();
    for (from_client, bytes) in packets {
        if *from_client {
            continue;
        }
        reader.push(bytes);
        while let Some(f) = reader.next_frame() {
            let raw = f.expect("simulator frames are well formed");
            frames.push((raw.header.frame_type, raw.header.idcode, raw.body.to_vec()));
        }
    }
    frames.into_iter().map(|(t, id, body)| [vec![t.code()], id.to_be_bytes().to_vec(), body].concat()).collect()
}

async fn talk_tcp(addr: SocketAddr) -> Vec<(bool, Vec<u8>)> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut packets = Vec::new();
    for c in commands() {
        s.write_all(&c).await.unwrap();
        packets.push((true, c));
        // Let each answer arrive before the next request, so the capture shows them in order.
        tokio::time::sleep(Duration::from_millis(30)).await;
        let mut buf = vec![0; 65_536];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(5), s.read(&mut buf)).await {
            packets.push((false, buf[..n].to_vec()));
        }
    }
    let mut data = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while data < DATA_FRAMES {
        let mut buf = vec![0; 65_536];
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf)).await.expect("data within 10 s").unwrap();
        assert!(n > 0, "simulator closed the connection");
        packets.push((false, buf[..n].to_vec()));
        data = frames_in(&packets).iter().filter(|f| f[0] == FrameType::Data.code()).count();
    }
    packets
}

async fn talk_udp(addr: SocketAddr) -> Vec<(bool, Vec<u8>)> {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.connect(addr).await.unwrap();
    let mut packets = Vec::new();
    let mut buf = vec![0; 65_536];
    for c in commands() {
        s.send(&c).await.unwrap();
        packets.push((true, c));
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(500), s.recv(&mut buf)).await {
            packets.push((false, buf[..n].to_vec()));
        }
    }
    let mut data = 0;
    while data < DATA_FRAMES {
        let n = tokio::time::timeout(Duration::from_secs(10), s.recv(&mut buf)).await.expect("data within 10 s").unwrap();
        packets.push((false, buf[..n].to_vec()));
        data += 1;
    }
    packets
}

fn tshark(pcap: &[u8], udp: bool, port: u16, fields: &[&str]) -> Vec<HashMap<String, String>> {
    let dir = std::env::temp_dir().join(format!("gridtrust-c37118-tshark-{}-{}", std::process::id(), if udp { "udp" } else { "tcp" }));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sim.pcap");
    std::fs::write(&file, pcap).unwrap();
    let mut cmd = Process::new("tshark");
    cmd.arg("-r").arg(&file).args(["-d", &format!("{}.port=={port},synphasor", if udp { "udp" } else { "tcp" })]);
    cmd.args(["-Y", "synphasor", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    if std::env::var_os("KEEP_PCAP").is_some() {
        eprintln!("kept {}", file.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| fields.iter().zip(l.split('\t')).map(|(f, v)| (f.to_string(), v.to_string())).collect())
        .collect()
}

/// Runs the exchange, dissects it and compares with what we sent.
fn check(udp: bool, port: u16, packets: &[(bool, Vec<u8>)]) {
    let pcap = write_pcap(udp, 50_000, port, packets);
    let fields = [
        "frame.number",
        "_ws.malformed",
        "_ws.expert.severity",
        "_ws.expert.message",
        "synphasor.frtype",
        "synphasor.idcode_stream_source",
        "synphasor.checksum.status",
        "synphasor.command",
        "synphasor.conf.numpmu",
        "synphasor.station_name",
        "synphasor.conf.chnam",
        "synphasor.num_phasors",
        "synphasor.data.conf_frame",
        "synphasor.actual_frequency_value",
        "synphasor.frequency_deviation_from_nominal",
    ];
    let rows = tshark(&pcap, udp, port, &fields);
    // Our own view of the same frames, in order.
    let ours = frames_in(packets);
    let tshark_types: Vec<String> =
        rows.iter().flat_map(|r| r["synphasor.frtype"].split('|').map(str::to_owned).collect::<Vec<_>>()).collect();
    let server_types: Vec<String> = tshark_types.iter().filter(|t| *t != "0x0004").cloned().collect();
    let our_types: Vec<String> = ours.iter().map(|f| format!("0x{:04x}", f[0])).collect();
    assert_eq!(server_types, our_types, "frame types, in order, as Wireshark reads them");
    assert_eq!(tshark_types.iter().filter(|t| *t == "0x0004").count(), 5, "our five commands");
    let mut problems = Vec::new();
    for r in &rows {
        let n = &r["frame.number"];
        // "PMU not sync" and data-error notes are Wireshark's expert *notes* on STAT bits; ours are
        // clean, so any expert item at all is a problem.
        if !r["_ws.malformed"].is_empty() || !r["_ws.expert.message"].is_empty() {
            problems.push(format!("frame {n}: malformed/expert: {} {}", r["_ws.expert.severity"], r["_ws.expert.message"]));
        }
        if r["synphasor.checksum.status"].split('|').any(|s| s != "1") {
            problems.push(format!("frame {n}: checksum status {}", r["synphasor.checksum.status"]));
        }
        if r["synphasor.idcode_stream_source"].split('|').any(|s| s != IDCODE.to_string()) {
            problems.push(format!("frame {n}: idcode {}", r["synphasor.idcode_stream_source"]));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let joined = |f: &str| rows.iter().map(|r| r[f].clone()).filter(|v| !v.is_empty()).collect::<Vec<_>>().join("|");
    let commands = joined("synphasor.command");
    assert_eq!(commands, "0x0003|0x0004|0x0005|0x0006|0x0002", "commands as Wireshark names them");
    // Three configuration frames, each with 3 PMUs; CFG-3 station names are named fields.
    assert_eq!(joined("synphasor.conf.numpmu"), "3|3|3");
    assert!(joined("synphasor.station_name").contains("SUBST A PMU2"), "station names: {}", joined("synphasor.station_name"));
    assert!(joined("synphasor.conf.chnam").contains("BRK_CLOSED"), "channel names: {}", joined("synphasor.conf.chnam"));
    // Every data frame was dissected with a configuration frame, and its values are ours.
    let data_rows: Vec<_> = rows.iter().filter(|r| r["synphasor.frtype"].split('|').all(|t| t == "0x0000")).collect();
    assert!(data_rows.len() >= DATA_FRAMES.min(5), "data rows: {}", data_rows.len());
    for r in &data_rows {
        assert!(!r["synphasor.data.conf_frame"].is_empty(), "frame {} not dissected with a configuration", r["frame.number"]);
        let float_freq: f32 = r["synphasor.actual_frequency_value"].split('|').next().unwrap().parse().unwrap();
        assert!((float_freq - 50.0).abs() < 0.06, "float frequency {float_freq}");
        for dev in r["synphasor.frequency_deviation_from_nominal"].split('|') {
            let mhz: i32 = dev.parse().unwrap();
            assert!(mhz.abs() <= 51, "integer frequency deviation {mhz} mHz");
        }
    }
    eprintln!(
        "tshark read {} synphasor rows ({} data) over {} without a problem",
        rows.len(),
        data_rows.len(),
        if udp { "UDP" } else { "TCP" }
    );
}

#[tokio::test]
async fn tshark_reads_what_the_simulator_sends_over_tcp() {
    if !tool_available("tshark_reads_what_the_simulator_sends_over_tcp", "tshark") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = serve_tcp(listener, || spec().server()).await;
    });
    let packets = talk_tcp(addr).await;
    server.abort();
    check(false, addr.port(), &packets);
}

#[tokio::test]
async fn tshark_reads_what_the_simulator_sends_over_udp() {
    if !tool_available("tshark_reads_what_the_simulator_sends_over_udp", "tshark") {
        return;
    }
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = serve_udp(socket, spec().server()).await;
    });
    let packets = talk_udp(addr).await;
    server.abort();
    check(true, addr.port(), &packets);
}

/// The body length of a data frame under `c`, computed from an encoded simulator frame.
fn ours_data_len(c: &ConfigFrame) -> usize {
    let mut frame = DataFrame { idcode: IDCODE, ..Default::default() };
    frame.stations = c
        .stations
        .iter()
        .map(|s| gridtrust_c37118::data::StationData {
            phasors: vec![Default::default(); s.phasors.len()],
            analogs: vec![0.0; s.analogs.len()],
            digitals: vec![0; s.digitals.len()],
            frequency: 50.0,
            ..Default::default()
        })
        .collect();
    let mut out = Vec::new();
    frame.encode(c, &mut out).unwrap();
    out.len() - 16
}

#[test]
fn our_view_of_the_configuration_is_what_the_simulator_describes() {
    // The expectations above come from decoding the simulator's frames with our codec; this ties
    // that codec to the simulator's description so the comparison is not circular.
    let mut out = Vec::new();
    spec().config().encode(&mut out).unwrap();
    let (raw, _) = gridtrust_c37118::frame::split_frame(&out).unwrap();
    let c = ConfigFrame::decode(&raw).unwrap();
    assert_eq!(c.stations.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["SUBST A PMU1", "SUBST A PMU2", "SUBST A PMU3"]);
    let data_frames = ours_data_len(&c);
    assert_eq!(data_frames, c.data_body_len());
}
