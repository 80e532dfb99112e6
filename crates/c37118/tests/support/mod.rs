//! Test helpers: a minimal classic-pcap reader and writer (Ethernet, optional VLAN tags, IPv4,
//! TCP and UDP — all the reference captures use), TCP reassembly per direction, and the
//! GRIDTRUST_REQUIRE_PEERS rule for external tools. Test code: it asserts on malformed captures.
#![allow(dead_code)]

use std::collections::BTreeMap;

type Endpoint = ([u8; 4], u16);

/// One transport payload as captured.
#[derive(Debug, Clone)]
pub struct Payload {
    /// 1-based frame number, as Wireshark counts.
    pub frame: usize,
    pub udp: bool,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub seq: u32,
    pub bytes: Vec<u8>,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads every TCP and UDP payload from a classic pcap of Ethernet frames.
pub fn read_payloads(pcap: &[u8]) -> Vec<Payload> {
    let magic = u32::from_le_bytes(pcap[0..4].try_into().unwrap());
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        m => panic!("not a classic pcap (magic {m:#x})"),
    };
    let u32_at = |at: usize| {
        let a: [u8; 4] = pcap[at..at + 4].try_into().unwrap();
        if le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) }
    };
    assert_eq!(u32_at(20), 1, "only Ethernet captures are supported");
    let (mut pos, mut frame, mut out) = (24, 0, Vec::new());
    while pos + 16 <= pcap.len() {
        frame += 1;
        let incl = u32_at(pos + 8) as usize;
        let data = &pcap[pos + 16..pos + 16 + incl];
        pos += 16 + incl;
        let (mut eth_type, mut ip) = (be16(data, 12), 14);
        while eth_type == 0x8100 {
            eth_type = be16(data, ip + 2);
            ip += 4;
        }
        if eth_type != 0x0800 {
            continue;
        }
        let proto = data[ip + 9];
        let ihl = usize::from(data[ip] & 0x0f) * 4;
        // IP total length, not the frame length: Ethernet pads short frames.
        let total = usize::from(be16(data, ip + 2));
        let l4 = ip + ihl;
        let src_ip: [u8; 4] = data[ip + 12..ip + 16].try_into().unwrap();
        let dst_ip: [u8; 4] = data[ip + 16..ip + 20].try_into().unwrap();
        let (sport, dport) = (be16(data, l4), be16(data, l4 + 2));
        let (udp, seq, start) = match proto {
            6 => (false, be32(data, l4 + 4), l4 + usize::from(data[l4 + 12] >> 4) * 4),
            17 => (true, 0, l4 + 8),
            _ => continue,
        };
        let bytes = &data[start..ip + total];
        if !bytes.is_empty() {
            out.push(Payload { frame, udp, src: (src_ip, sport), dst: (dst_ip, dport), seq, bytes: bytes.to_vec() });
        }
    }
    out
}

/// Cuts C37.118 frames out of every TCP direction and UDP datagram, in capture order, the way a
/// receiver sees them: retransmitted bytes dropped, a partial overlap trimmed while a frame is
/// being assembled, and after lost segments (or at a capture that starts mid-connection)
/// resynchronised on the next complete frame. Returns (capture frame number, frame bytes).
///
/// Once a direction is synchronised, every byte must belong to a frame whose CRC checks: bytes
/// that do not panic with the frame number.
pub fn c37118_frames(name: &str, payloads: &[Payload]) -> Vec<(usize, Vec<u8>)> {
    use gridtrust_c37118::frame::{DecodeError, split_frame};
    #[derive(Default)]
    struct Direction {
        next_seq: Option<u32>,
        buf: Vec<u8>,
        synced: bool,
    }
    let before = |a: u32, b: u32| (a.wrapping_sub(b) as i32) < 0;
    let mut dirs: BTreeMap<(Endpoint, Endpoint), Direction> = BTreeMap::new();
    let mut out = Vec::new();
    for p in payloads {
        let d = dirs.entry((p.src, p.dst)).or_default();
        let mut bytes = &p.bytes[..];
        if p.udp {
            d.buf.clear();
        } else {
            let end = p.seq.wrapping_add(p.bytes.len() as u32);
            match d.next_seq {
                Some(n) if !before(n, end) => continue, // retransmission
                Some(n) if before(p.seq, n) && !d.buf.is_empty() => bytes = &bytes[n.wrapping_sub(p.seq) as usize..],
                Some(n) if before(n, p.seq) => {
                    d.buf.clear();
                    d.synced = false;
                }
                _ => {}
            }
            d.next_seq = Some(end);
        }
        d.buf.extend_from_slice(bytes);
        while !d.buf.is_empty() {
            match split_frame(&d.buf) {
                Ok((_, n)) => {
                    out.push((p.frame, d.buf.drain(..n).collect()));
                    d.synced = true;
                }
                Err(DecodeError::Incomplete { .. }) if !p.udp => break,
                Err(e) if d.synced => panic!("{name}: frame {}: {e}", p.frame),
                Err(_) => {
                    d.buf.remove(0);
                }
            }
        }
    }
    out
}

/// Writes a classic pcap (Ethernet, IPv4) of `packets` exchanged between 127.0.0.1:`client_port`
/// and 127.0.0.2:`server_port`: TCP segments with running sequence numbers, or UDP datagrams.
/// `packets` are (from_client, payload). Checksums stay zero (tshark does not check them).
pub fn write_pcap(udp: bool, client_port: u16, server_port: u16, packets: &[(bool, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let (mut seq_c, mut seq_s) = (1000u32, 5000u32);
    let client = [127, 0, 0, 1];
    let server = [127, 0, 0, 2];
    for (i, (from_client, payload)) in packets.iter().enumerate() {
        let (src, dst, sport, dport) =
            if *from_client { (client, server, client_port, server_port) } else { (server, client, server_port, client_port) };
        let mut l4 = Vec::new();
        l4.extend_from_slice(&sport.to_be_bytes());
        l4.extend_from_slice(&dport.to_be_bytes());
        if udp {
            l4.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            l4.extend_from_slice(&[0, 0]);
        } else {
            let (seq, ack) = if *from_client { (&mut seq_c, seq_s) } else { (&mut seq_s, seq_c) };
            l4.extend_from_slice(&seq.to_be_bytes());
            l4.extend_from_slice(&ack.to_be_bytes());
            l4.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
            *seq = seq.wrapping_add(payload.len() as u32);
        }
        l4.extend_from_slice(payload);
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x40, 0, 64, if udp { 17 } else { 6 }, 0, 0]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        let mut eth = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00];
        eth.extend_from_slice(&ip);
        eth.extend_from_slice(&l4);
        out.extend_from_slice(&(1_700_000_000u32 + i as u32 / 50).to_le_bytes());
        out.extend_from_slice(&((i as u32 % 50) * 20_000).to_le_bytes());
        out.extend_from_slice(&(eth.len() as u32).to_le_bytes());
        out.extend_from_slice(&(eth.len() as u32).to_le_bytes());
        out.extend_from_slice(&eth);
    }
    out
}

/// Whether `program` runs; when it does not and GRIDTRUST_REQUIRE_PEERS is set (CI), the test
/// fails instead of skipping.
pub fn tool_available(test: &str, program: &str) -> bool {
    let ok = std::process::Command::new(program).arg("-v").output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(),
            "{test}: {program} is required (GRIDTRUST_REQUIRE_PEERS) but not installed"
        );
        eprintln!("SKIPPED {test}: {program} is not installed (apt-get install -y {program})");
    }
    ok
}
