//! Reading capture files: classic pcap (micro- and nanosecond, either byte order) and pcapng
//! (section header, interface description with its timestamp resolution, enhanced, simple and
//! obsolete packet blocks). Every length is checked before it is used; a truncated last record
//! ends the capture with an error rather than a panic.
//!
//! Not here: decompression, pcapng name resolution or custom blocks (skipped), writing.

use thiserror::Error;

/// One captured frame with its link type and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Capture time in microseconds since the Unix epoch (0 when the format carries none).
    pub time_us: i64,
    /// The link-layer header type (LINKTYPE_*: 1 Ethernet, 113 Linux SLL, 101 raw IP, ...).
    pub link_type: u16,
    /// The captured bytes (possibly shorter than on the wire when a snap length applied).
    pub data: Vec<u8>,
}

/// Why bytes are not a capture we can read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CaptureError {
    /// The first four bytes are neither a pcap magic nor a pcapng section header.
    #[error("not a pcap or pcapng file (magic {0:02x?})")]
    UnknownMagic([u8; 4]),
    /// A header or record ends before its declared length.
    #[error("{what} truncated at offset {offset}: {needed} bytes declared, {available} available")]
    Truncated {
        /// Which structure was being read.
        what: &'static str,
        /// Where it starts in the file.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A pcapng block length is not a multiple of 4, is below the 12-byte minimum or disagrees
    /// with its trailing copy.
    #[error("pcapng block at offset {offset}: bad length {length}")]
    BadBlockLength {
        /// Where the block starts.
        offset: usize,
        /// The declared length.
        length: u32,
    },
    /// A pcapng packet refers to an interface no description block declared.
    #[error("pcapng packet at offset {offset} refers to undeclared interface {interface}")]
    UnknownInterface {
        /// Where the block starts.
        offset: usize,
        /// The interface id.
        interface: u32,
    },
}

const PCAP_US: [u8; 4] = [0xd4, 0xc3, 0xb2, 0xa1];
const PCAP_NS: [u8; 4] = [0x4d, 0x3c, 0xb2, 0xa1];
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_BOM: u32 = 0x1a2b_3c4d;

#[derive(Clone, Copy)]
enum Order {
    Little,
    Big,
}

/// A bounds-checked little/big-endian reader over a byte slice.
struct Reader<'a> {
    bytes: &'a [u8],
    order: Order,
}

impl Reader<'_> {
    fn slice(&self, offset: usize, len: usize, what: &'static str) -> Result<&[u8], CaptureError> {
        offset.checked_add(len).and_then(|end| self.bytes.get(offset..end)).ok_or(CaptureError::Truncated {
            what,
            offset,
            needed: len,
            available: self.bytes.len().saturating_sub(offset),
        })
    }

    fn u16(&self, offset: usize, what: &'static str) -> Result<u16, CaptureError> {
        let s = self.slice(offset, 2, what)?;
        let b = [s[0], s[1]];
        Ok(match self.order {
            Order::Little => u16::from_le_bytes(b),
            Order::Big => u16::from_be_bytes(b),
        })
    }

    fn u32(&self, offset: usize, what: &'static str) -> Result<u32, CaptureError> {
        let s = self.slice(offset, 4, what)?;
        let b = [s[0], s[1], s[2], s[3]];
        Ok(match self.order {
            Order::Little => u32::from_le_bytes(b),
            Order::Big => u32::from_be_bytes(b),
        })
    }
}

/// Reads every packet of a pcap or pcapng file held in memory; any defect is an error.
pub fn read_capture(bytes: &[u8]) -> Result<Vec<Packet>, CaptureError> {
    match read_capture_prefix(bytes) {
        (packets, None) => Ok(packets),
        (_, Some(e)) => Err(e),
    }
}

/// Reads the packets up to the first defect and returns them with the defect, if any: a capture
/// cut off mid-record (a full disk, a killed tcpdump) still gives everything before the cut.
pub fn read_capture_prefix(bytes: &[u8]) -> (Vec<Packet>, Option<CaptureError>) {
    let mut packets = Vec::new();
    let error = read_into(bytes, &mut packets).err();
    (packets, error)
}

fn read_into(bytes: &[u8], packets: &mut Vec<Packet>) -> Result<(), CaptureError> {
    let magic: [u8; 4] = match bytes.get(..4) {
        Some(&[a, b, c, d]) => [a, b, c, d],
        _ => return Err(CaptureError::Truncated { what: "file magic", offset: 0, needed: 4, available: bytes.len() }),
    };
    let swapped = |m: [u8; 4]| [m[3], m[2], m[1], m[0]];
    if magic == PCAP_US || magic == PCAP_NS {
        read_pcap(Reader { bytes, order: Order::Little }, magic == PCAP_NS, packets)
    } else if magic == swapped(PCAP_US) || magic == swapped(PCAP_NS) {
        read_pcap(Reader { bytes, order: Order::Big }, magic == swapped(PCAP_NS), packets)
    } else if u32::from_le_bytes(magic) == PCAPNG_SHB {
        read_pcapng(bytes, packets)
    } else {
        Err(CaptureError::UnknownMagic(magic))
    }
}

fn read_pcap(r: Reader<'_>, nanos: bool, packets: &mut Vec<Packet>) -> Result<(), CaptureError> {
    r.slice(0, 24, "pcap file header")?;
    let link_type = r.u16(20, "pcap link type")?;
    let mut at = 24;
    while at < r.bytes.len() {
        let secs = r.u32(at, "pcap record header")?;
        let frac = r.u32(at + 4, "pcap record header")?;
        let caplen = r.u32(at + 8, "pcap record header")?;
        r.u32(at + 12, "pcap record header")?;
        let len = usize::try_from(caplen).unwrap_or(usize::MAX);
        let data = r.slice(at + 16, len, "pcap packet data")?.to_vec();
        let frac_us = if nanos { i64::from(frac) / 1000 } else { i64::from(frac) };
        packets.push(Packet { time_us: i64::from(secs) * 1_000_000 + frac_us, link_type, data });
        at += 16 + len;
    }
    Ok(())
}

/// One pcapng interface: its link type and how many timestamp units make a second.
#[derive(Clone, Copy)]
struct Interface {
    link_type: u16,
    units_per_second: u64,
}

fn read_pcapng(bytes: &[u8], packets: &mut Vec<Packet>) -> Result<(), CaptureError> {
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut r = Reader { bytes, order: Order::Little };
    let mut at = 0;
    while at < bytes.len() {
        // The section header's byte-order magic decides how everything after it is read.
        let raw_type = Reader { bytes, order: Order::Little }.u32(at, "pcapng block type")?;
        if raw_type == PCAPNG_SHB {
            let bom = Reader { bytes, order: Order::Little }.u32(at + 8, "pcapng byte-order magic")?;
            r.order = if bom == PCAPNG_BOM { Order::Little } else { Order::Big };
            interfaces.clear();
        }
        let block_type = r.u32(at, "pcapng block type")?;
        let length = r.u32(at + 4, "pcapng block length")?;
        let len = usize::try_from(length).unwrap_or(usize::MAX);
        if len < 12 || len % 4 != 0 {
            return Err(CaptureError::BadBlockLength { offset: at, length });
        }
        let block = r.slice(at, len, "pcapng block")?;
        if r.u32(at + len - 4, "pcapng trailing length")? != length {
            return Err(CaptureError::BadBlockLength { offset: at, length });
        }
        let body = Reader { bytes: block.get(8..len - 4).unwrap_or_default(), order: r.order };
        match block_type {
            // Interface description: link type, then options (if_tsresol = 9).
            1 => {
                let link_type = body.u16(0, "pcapng interface link type")?;
                let mut units_per_second = 1_000_000;
                let mut opt = 8;
                while let (Ok(code), Ok(olen)) = (body.u16(opt, "option"), body.u16(opt + 2, "option")) {
                    if code == 0 {
                        break;
                    }
                    let olen = usize::from(olen);
                    if code == 9 && olen == 1 {
                        let res = body.slice(opt + 4, 1, "if_tsresol")?[0];
                        let exp = u32::from(res & 0x7f);
                        units_per_second = if res & 0x80 == 0 { 10u64.checked_pow(exp) } else { 2u64.checked_pow(exp) }.unwrap_or(u64::MAX);
                    }
                    opt += 4 + olen.div_ceil(4) * 4;
                }
                interfaces.push(Interface { link_type, units_per_second: units_per_second.max(1) });
            }
            // Enhanced packet (6) and the obsolete packet block (2, 16-bit interface id).
            2 | 6 => {
                let interface =
                    if block_type == 6 { body.u32(0, "pcapng interface id")? } else { u32::from(body.u16(0, "pcapng interface id")?) };
                let iface = usize::try_from(interface)
                    .ok()
                    .and_then(|i| interfaces.get(i))
                    .copied()
                    .ok_or(CaptureError::UnknownInterface { offset: at, interface })?;
                let ts = (u64::from(body.u32(4, "pcapng timestamp")?) << 32) | u64::from(body.u32(8, "pcapng timestamp")?);
                let caplen = usize::try_from(body.u32(12, "pcapng captured length")?).unwrap_or(usize::MAX);
                let data = body.slice(20, caplen, "pcapng packet data")?.to_vec();
                let time_us = i64::try_from(u128::from(ts) * 1_000_000 / u128::from(iface.units_per_second)).unwrap_or(i64::MAX);
                packets.push(Packet { time_us, link_type: iface.link_type, data });
            }
            // Simple packet: no interface id (always the first) and no timestamp.
            3 => {
                let iface = interfaces.first().copied().ok_or(CaptureError::UnknownInterface { offset: at, interface: 0 })?;
                let orig = usize::try_from(body.u32(0, "pcapng original length")?).unwrap_or(usize::MAX);
                let caplen = orig.min(body.bytes.len().saturating_sub(4));
                let data = body.slice(4, caplen, "pcapng packet data")?.to_vec();
                packets.push(Packet { time_us: 0, link_type: iface.link_type, data });
            }
            _ => {}
        }
        at += len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_with(records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&PCAP_US);
        f.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0]);
        for (s, us, d) in records {
            f.extend_from_slice(&s.to_le_bytes());
            f.extend_from_slice(&us.to_le_bytes());
            f.extend_from_slice(&(d.len() as u32).to_le_bytes());
            f.extend_from_slice(&(d.len() as u32).to_le_bytes());
            f.extend_from_slice(d);
        }
        f
    }

    #[test]
    fn pcap_records_carry_time_and_link_type() {
        let f = pcap_with(&[(10, 5, b"abc"), (11, 0, b"")]);
        let p = read_capture(&f).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0], Packet { time_us: 10_000_005, link_type: 1, data: b"abc".to_vec() });
        assert_eq!(p[1].time_us, 11_000_000);
    }

    #[test]
    fn truncated_pcap_record_is_an_error() {
        let mut f = pcap_with(&[(10, 5, b"abcdef")]);
        f.truncate(f.len() - 2);
        assert!(matches!(read_capture(&f), Err(CaptureError::Truncated { what: "pcap packet data", .. })));
        let mut g = pcap_with(&[(9, 0, b"ok"), (10, 5, b"abcdef")]);
        g.truncate(g.len() - 2);
        let (packets, error) = read_capture_prefix(&g);
        assert_eq!(packets.len(), 1);
        assert!(error.is_some());
    }

    fn block(t: u32, body: &[u8]) -> Vec<u8> {
        let len = (12 + body.len().div_ceil(4) * 4) as u32;
        let mut b = t.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.resize(len as usize - 4, 0);
        b.extend_from_slice(&len.to_le_bytes());
        b
    }

    #[test]
    fn pcapng_honours_the_interface_timestamp_resolution() {
        let mut f = block(PCAPNG_SHB, &[0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        // Interface: Ethernet, if_tsresol = 9 (nanoseconds).
        f.extend(block(1, &[1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]));
        let ts: u64 = 3_000_000_123_000;
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&3u32.to_le_bytes());
        epb.extend_from_slice(&3u32.to_le_bytes());
        epb.extend_from_slice(b"xyz");
        f.extend(block(6, &epb));
        let p = read_capture(&f).unwrap();
        assert_eq!(p, vec![Packet { time_us: 3_000_000_123, link_type: 1, data: b"xyz".to_vec() }]);
    }

    #[test]
    fn pcapng_packet_before_any_interface_is_refused() {
        let mut f = block(PCAPNG_SHB, &[0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        f.extend(block(6, &[0; 20]));
        assert!(matches!(read_capture(&f), Err(CaptureError::UnknownInterface { .. })));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = read_capture(&bytes);
            let mut ng = PCAPNG_SHB.to_le_bytes().to_vec();
            ng.extend_from_slice(&bytes);
            let _ = read_capture(&ng);
            let mut p = PCAP_US.to_vec();
            p.extend_from_slice(&bytes);
            let _ = read_capture(&p);
        }
    }
}
