//! Minimal classic-pcap reading and writing for the IEC 104 golden and tshark tests: Ethernet,
//! IPv4 and TCP only, which is all the reference captures use. Test code, so it asserts freely.
#![allow(dead_code)]

use std::collections::BTreeMap;

/// One TCP segment with payload, as captured.
#[derive(Debug, Clone)]
pub struct Segment {
    /// 1-based frame number, as Wireshark counts.
    pub frame: usize,
    pub src: ([u8; 4], u16),
    pub dst: ([u8; 4], u16),
    pub seq: u32,
    pub payload: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize, le: bool) -> u16 {
    let a = [b[at], b[at + 1]];
    if le { u16::from_le_bytes(a) } else { u16::from_be_bytes(a) }
}

fn u32_at(b: &[u8], at: usize, le: bool) -> u32 {
    let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) }
}

/// Reads every TCP segment with payload from a classic pcap of Ethernet frames.
pub fn read_tcp_segments(pcap: &[u8]) -> Vec<Segment> {
    let le = match u32_at(pcap, 0, true) {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        _ => match u32_at(pcap, 0, false) {
            0xa1b2_c3d4 | 0xa1b2_3c4d => false,
            m => panic!("not a classic pcap (magic {m:#x})"),
        },
    };
    assert_eq!(u32_at(pcap, 20, le), 1, "only Ethernet captures are supported");
    let mut pos = 24;
    let mut frame = 0;
    let mut out = Vec::new();
    while pos + 16 <= pcap.len() {
        frame += 1;
        let incl = u32_at(pcap, pos + 8, le) as usize;
        let data = &pcap[pos + 16..pos + 16 + incl];
        pos += 16 + incl;
        let mut eth_type = u16_at(data, 12, false);
        let mut ip = 14;
        while eth_type == 0x8100 {
            eth_type = u16_at(data, ip + 2, false);
            ip += 4;
        }
        if eth_type != 0x0800 || data[ip + 9] != 6 {
            continue;
        }
        let ihl = usize::from(data[ip] & 0x0f) * 4;
        // Total length, not the frame length: Ethernet pads short frames (see JavaRMI_and_IEC_Misc).
        let total = usize::from(u16_at(data, ip + 2, false));
        let tcp = ip + ihl;
        let src_ip: [u8; 4] = data[ip + 12..ip + 16].try_into().unwrap();
        let dst_ip: [u8; 4] = data[ip + 16..ip + 20].try_into().unwrap();
        let sport = u16_at(data, tcp, false);
        let dport = u16_at(data, tcp + 2, false);
        let seq = u32_at(data, tcp + 4, false);
        let doff = usize::from(data[tcp + 12] >> 4) * 4;
        let payload = &data[tcp + doff..ip + total];
        if !payload.is_empty() {
            out.push(Segment { frame, src: (src_ip, sport), dst: (dst_ip, dport), seq, payload: payload.to_vec() });
        }
    }
    out
}

/// One APDU cut out of a reassembled TCP direction, or a run of bytes that is not one.
#[derive(Debug, Clone)]
pub enum Piece {
    /// Bytes before a start octet 0x68 (the capture resynchronises).
    Junk { frame: usize, bytes: Vec<u8> },
    /// A complete APDU (start octet, length, control field, ASDU).
    Apdu { frame: usize, bytes: Vec<u8> },
    /// A start octet whose APDU the capture ends before.
    Incomplete { frame: usize, bytes: Vec<u8> },
}

type Endpoint = ([u8; 4], u16);
/// Per direction: first sequence number seen, and (relative seq, frame, payload) segments.
type Direction = (u32, Vec<(u32, usize, Vec<u8>)>);

/// Reassembles each direction of each TCP connection on `port` (in sequence order, dropping
/// retransmitted bytes) and cuts it into APDUs by start octet and length.
pub fn apdus(segments: &[Segment], port: u16) -> Vec<Piece> {
    // Direction key → (first seq seen, segments by relative seq).
    let mut dirs: BTreeMap<(Endpoint, Endpoint), Direction> = BTreeMap::new();
    let mut order = Vec::new();
    for s in segments.iter().filter(|s| s.src.1 == port || s.dst.1 == port) {
        let key = (s.src, s.dst);
        if !dirs.contains_key(&key) {
            order.push(key);
        }
        let entry = dirs.entry(key).or_insert((s.seq, Vec::new()));
        let rel = s.seq.wrapping_sub(entry.0);
        entry.1.push((rel, s.frame, s.payload.clone()));
    }
    let mut pieces = Vec::new();
    for key in order {
        let (_, mut segs) = dirs.remove(&key).unwrap();
        segs.sort_by_key(|(rel, frame, _)| (*rel, *frame));
        // Stream bytes with the frame each byte arrived in.
        let mut stream: Vec<(u8, usize)> = Vec::new();
        for (rel, frame, payload) in segs {
            let have = stream.len() as u32;
            if rel + payload.len() as u32 <= have {
                continue; // full retransmission
            }
            assert!(rel <= have, "gap in TCP stream {key:?} before frame {frame}");
            let skip = (have - rel) as usize;
            stream.extend(payload[skip..].iter().map(|b| (*b, frame)));
        }
        let mut pos = 0;
        while pos < stream.len() {
            if stream[pos].0 != 0x68 {
                let start = pos;
                while pos < stream.len() && stream[pos].0 != 0x68 {
                    pos += 1;
                }
                pieces.push(Piece::Junk { frame: stream[start].1, bytes: stream[start..pos].iter().map(|b| b.0).collect() });
                continue;
            }
            let frame = stream[pos].1;
            let Some(&(len, _)) = stream.get(pos + 1) else {
                pieces.push(Piece::Incomplete { frame, bytes: vec![0x68] });
                break;
            };
            let end = pos + 2 + usize::from(len);
            if end > stream.len() {
                pieces.push(Piece::Incomplete { frame, bytes: stream[pos..].iter().map(|b| b.0).collect() });
                break;
            }
            pieces.push(Piece::Apdu { frame, bytes: stream[pos..end].iter().map(|b| b.0).collect() });
            pos = end;
        }
    }
    pieces
}

/// Writes a classic pcap (microsecond, Ethernet) of TCP segments between a client and a server
/// on port 2404, with correct lengths and sequence numbers. Checksums are left zero (tshark does
/// not verify them by default). `segments` are (from_client, payload).
pub fn write_tcp_pcap(segments: &[(bool, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let client = ([127, 0, 0, 1], 40000u16);
    let server = ([127, 0, 0, 2], 2404u16);
    let (mut cseq, mut sseq) = (1000u32, 5000u32);
    let packet = |out: &mut Vec<u8>, i: usize, from_client: bool, flags: u8, payload: &[u8], seq: u32, ack: u32| {
        let (src, dst) = if from_client { (client, server) } else { (server, client) };
        let mut f = Vec::new();
        f.extend_from_slice(&[2, 0, 0, 0, 0, if from_client { 2 } else { 1 }]);
        f.extend_from_slice(&[2, 0, 0, 0, 0, if from_client { 1 } else { 2 }]);
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        let total = 20 + 20 + payload.len();
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&(total as u16).to_be_bytes());
        f.extend_from_slice(&(i as u16).to_be_bytes());
        f.extend_from_slice(&[0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&src.0);
        f.extend_from_slice(&dst.0);
        f.extend_from_slice(&src.1.to_be_bytes());
        f.extend_from_slice(&dst.1.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&ack.to_be_bytes());
        f.extend_from_slice(&[0x50, flags]);
        f.extend_from_slice(&65535u16.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0]);
        f.extend_from_slice(payload);
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&f);
    };
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;
    packet(&mut out, 1, true, SYN, &[], cseq, 0);
    packet(&mut out, 2, false, SYN | ACK, &[], sseq, cseq + 1);
    cseq += 1;
    sseq += 1;
    packet(&mut out, 3, true, ACK, &[], cseq, sseq);
    for (n, (from_client, payload)) in segments.iter().enumerate() {
        let (seq, ack) = if *from_client { (cseq, sseq) } else { (sseq, cseq) };
        packet(&mut out, n + 4, *from_client, PSH | ACK, payload, seq, ack);
        if *from_client {
            cseq += payload.len() as u32;
        } else {
            sseq += payload.len() as u32;
        }
    }
    out
}

/// Wraps an ASDU in an I-format APDU with the given send and receive sequence numbers.
pub fn i_frame(asdu: &[u8], ns: u16, nr: u16) -> Vec<u8> {
    let mut v = vec![0x68, (asdu.len() + 4) as u8];
    v.extend_from_slice(&(ns << 1).to_le_bytes());
    v.extend_from_slice(&(nr << 1).to_le_bytes());
    v.extend_from_slice(asdu);
    v
}
