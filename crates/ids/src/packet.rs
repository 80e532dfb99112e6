//! Link, IPv4 and TCP headers: enough to find a TCP segment's endpoints, sequence number, flags
//! and payload in a captured frame. Ethernet (with 802.1Q tags), Linux cooked capture (v1, v2),
//! BSD loopback and raw IP are understood; anything else (IPv6, UDP, ARP) is skipped, which is
//! not an error: a substation capture carries much that is not ours.

use std::net::Ipv4Addr;

use thiserror::Error;

/// A TCP segment as captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Source MAC address when the link layer has one (for spoofing checks).
    pub src_mac: Option<[u8; 6]>,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// IP time to live.
    pub ttl: u8,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number of the first payload byte (or of the SYN).
    pub seq: u32,
    /// The flag bits (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10).
    pub flags: u8,
    /// The TCP payload, cut to the IP total length (Ethernet padding removed).
    pub payload: &'a [u8],
}

/// TCP FIN flag.
pub const FIN: u8 = 0x01;
/// TCP SYN flag.
pub const SYN: u8 = 0x02;
/// TCP RST flag.
pub const RST: u8 = 0x04;
/// TCP ACK flag.
pub const ACK: u8 = 0x10;

/// Why a frame that claims to carry IPv4/TCP cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PacketError {
    /// A header is shorter than its fixed part or than its own length field says.
    #[error("{layer} header truncated: {needed} bytes needed, {available} available")]
    Truncated {
        /// Which header.
        layer: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// An IPv4 or TCP length field is below the header's minimum.
    #[error("{layer} header length {length} is invalid")]
    BadHeaderLength {
        /// Which header.
        layer: &'static str,
        /// The length in bytes.
        length: usize,
    },
}

fn get<'a>(bytes: &'a [u8], from: usize, len: usize, layer: &'static str) -> Result<&'a [u8], PacketError> {
    from.checked_add(len).and_then(|end| bytes.get(from..end)).ok_or(PacketError::Truncated {
        layer,
        needed: from.saturating_add(len),
        available: bytes.len(),
    })
}

fn be16(bytes: &[u8], at: usize, layer: &'static str) -> Result<u16, PacketError> {
    let s = get(bytes, at, 2, layer)?;
    Ok(u16::from_be_bytes([s[0], s[1]]))
}

/// Finds the TCP segment in a frame of the given link type. `Ok(None)` means the frame carries
/// something else (not IPv4, not TCP, a later IP fragment, an unknown link type).
pub fn decode_tcp(link_type: u16, frame: &[u8]) -> Result<Option<Segment<'_>>, PacketError> {
    let (src_mac, ethertype, ip) = match link_type {
        // Ethernet, with any number of 802.1Q / 802.1ad tags.
        1 => {
            let mac = get(frame, 6, 6, "Ethernet")?;
            let src_mac = [mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]];
            let mut at = 12;
            let mut ethertype = be16(frame, at, "Ethernet")?;
            while ethertype == 0x8100 || ethertype == 0x88a8 {
                at += 4;
                ethertype = be16(frame, at, "802.1Q tag")?;
            }
            (Some(src_mac), ethertype, frame.get(at + 2..).unwrap_or_default())
        }
        // Linux cooked capture v1: protocol at 14, payload at 16.
        113 => (None, be16(frame, 14, "Linux SLL")?, frame.get(16..).unwrap_or_default()),
        // Linux cooked capture v2: protocol at 0, payload at 20.
        276 => (None, be16(frame, 0, "Linux SLL2")?, frame.get(20..).unwrap_or_default()),
        // BSD loopback: a 4-byte address family in host order; 2 is IPv4 on every system.
        0 => {
            let fam = get(frame, 0, 4, "loopback")?;
            let ipv4 = fam == [2, 0, 0, 0] || fam == [0, 0, 0, 2];
            (None, if ipv4 { 0x0800 } else { 0 }, frame.get(4..).unwrap_or_default())
        }
        // Raw IP.
        101 | 228 => (None, 0x0800, frame),
        _ => return Ok(None),
    };
    if ethertype != 0x0800 {
        return Ok(None);
    }
    let ip_head = get(ip, 0, 20, "IPv4")?;
    if ip_head[0] >> 4 != 4 {
        return Ok(None);
    }
    let ihl = usize::from(ip_head[0] & 0x0f) * 4;
    if ihl < 20 {
        return Err(PacketError::BadHeaderLength { layer: "IPv4", length: ihl });
    }
    let total = usize::from(be16(ip, 2, "IPv4")?);
    let fragment_offset = be16(ip, 6, "IPv4")? & 0x1fff;
    if ip_head[9] != 6 || fragment_offset != 0 {
        return Ok(None);
    }
    if total < ihl {
        return Err(PacketError::BadHeaderLength { layer: "IPv4 total", length: total });
    }
    // A snap length may cut the packet: take what was captured, but never the Ethernet padding.
    let ip = ip.get(..total.min(ip.len())).unwrap_or_default();
    let src = Ipv4Addr::new(ip_head[12], ip_head[13], ip_head[14], ip_head[15]);
    let dst = Ipv4Addr::new(ip_head[16], ip_head[17], ip_head[18], ip_head[19]);
    let tcp = ip.get(ihl..).unwrap_or_default();
    let th = get(tcp, 0, 20, "TCP")?;
    let data_offset = usize::from(th[12] >> 4) * 4;
    if data_offset < 20 {
        return Err(PacketError::BadHeaderLength { layer: "TCP", length: data_offset });
    }
    get(tcp, 0, data_offset, "TCP options")?;
    Ok(Some(Segment {
        src_mac,
        src,
        dst,
        ttl: ip_head[8],
        src_port: u16::from_be_bytes([th[0], th[1]]),
        dst_port: u16::from_be_bytes([th[2], th[3]]),
        seq: u32::from_be_bytes([th[4], th[5], th[6], th[7]]),
        flags: th[13],
        payload: tcp.get(data_offset..).unwrap_or_default(),
    }))
}

/// Builds an Ethernet/IPv4/TCP frame (no options, checksums zero): for the scenario generator's
/// captures and for tests. The inverse of [`decode_tcp`] for link type 1.
pub fn encode_tcp(seg: &Segment<'_>, dst_mac: [u8; 6], out: &mut Vec<u8>) {
    out.extend_from_slice(&dst_mac);
    out.extend_from_slice(&seg.src_mac.unwrap_or_default());
    out.extend_from_slice(&[0x08, 0x00]);
    // Payloads here are APDUs or Modbus ADUs, far below 65535 - 40 bytes.
    let total = u16::try_from(40 + seg.payload.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0x40, 0, seg.ttl, 6, 0, 0]);
    out.extend_from_slice(&seg.src.octets());
    out.extend_from_slice(&seg.dst.octets());
    out.extend_from_slice(&seg.src_port.to_be_bytes());
    out.extend_from_slice(&seg.dst_port.to_be_bytes());
    out.extend_from_slice(&seg.seq.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0x50, seg.flags, 0xff, 0xff, 0, 0, 0, 0]);
    out.extend_from_slice(seg.payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_segment_decodes_back() {
        let seg = Segment {
            src_mac: Some([2, 0, 0, 0, 0, 1]),
            src: Ipv4Addr::new(10, 0, 0, 5),
            dst: Ipv4Addr::new(10, 0, 1, 10),
            ttl: 64,
            src_port: 50000,
            dst_port: 2404,
            seq: 0xdead_beef,
            flags: ACK,
            payload: &[0x68, 4, 7, 0, 0, 0],
        };
        let mut f = Vec::new();
        encode_tcp(&seg, [2, 0, 0, 0, 0, 2], &mut f);
        // Ethernet padding after the IP packet is not payload.
        f.extend_from_slice(&[0; 6]);
        assert_eq!(decode_tcp(1, &f).unwrap(), Some(seg));
    }

    #[test]
    fn non_tcp_is_skipped_not_an_error() {
        let mut arp = vec![0; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        assert_eq!(decode_tcp(1, &arp).unwrap(), None);
        assert_eq!(decode_tcp(147, &arp).unwrap(), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_frames_never_panic(link in proptest::sample::select(vec![0u16, 1, 101, 113, 276]), bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..128)) {
            let _ = decode_tcp(link, &bytes);
        }
    }
}
