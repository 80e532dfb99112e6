//! A minimal classic-pcap reader (Ethernet, IPv4, TCP) with per-direction TCP reassembly, enough to
//! feed the captures in ../shared/testdata to the codec.

use std::collections::BTreeMap;

/// One TCP direction's payload, in sequence order, with the capture frame number of each segment.
#[derive(Default, Debug)]
pub struct Stream {
    pub bytes: Vec<u8>,
    /// (offset in `bytes`, frame number) for each segment appended.
    pub segments: Vec<(usize, usize)>,
    next_seq: Option<u32>,
}

/// Streams keyed by (source port, destination port).
pub fn tcp_streams(path: &std::path::Path) -> BTreeMap<(u16, u16), Stream> {
    let file = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let magic = u32::from_le_bytes(file[0..4].try_into().unwrap());
    let le = match magic {
        0xa1b2c3d4 | 0xa1b23c4d => true,
        0xd4c3b2a1 | 0x4d3cb2a1 => false,
        other => panic!("not a classic pcap: {other:08x}"),
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = file[at..at + 4].try_into().unwrap();
        if le { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) }
    };
    assert_eq!(u32_at(20), 1, "only Ethernet captures are read");
    let mut streams: BTreeMap<(u16, u16), Stream> = BTreeMap::new();
    let mut at = 24;
    let mut frame = 0;
    while at + 16 <= file.len() {
        frame += 1;
        let caplen = u32_at(at + 8) as usize;
        let pkt = &file[at + 16..at + 16 + caplen];
        at += 16 + caplen;
        if pkt.len() < 14 || pkt[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &pkt[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        if ip[9] != 6 {
            continue;
        }
        let tcp = &ip[ihl..total.min(ip.len())];
        let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
        let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
        let seq = u32::from_be_bytes(tcp[4..8].try_into().unwrap());
        let off = usize::from(tcp[12] >> 4) * 4;
        let payload = &tcp[off..];
        if payload.is_empty() {
            continue;
        }
        let s = streams.entry((sport, dport)).or_default();
        if s.next_seq.is_some_and(|n| n != seq) {
            continue; // retransmission or out of order: these captures have neither
        }
        s.segments.push((s.bytes.len(), frame));
        s.bytes.extend_from_slice(payload);
        s.next_seq = Some(seq.wrapping_add(payload.len() as u32));
    }
    streams
}

impl Stream {
    /// The frame number of the segment holding byte `offset`.
    pub fn frame_at(&self, offset: usize) -> usize {
        self.segments.iter().rev().find(|(start, _)| *start <= offset).map(|(_, f)| *f).unwrap_or(0)
    }
}
