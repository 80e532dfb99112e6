//! From captured packets to events: TCP segments are put back in order per direction
//! (retransmitted bytes are dropped, early segments wait for the gap to fill), and the in-order
//! bytes are framed by the protocol's own codec: the IEC 104 APCI decoder of `gridtrust-iec104`
//! and the MBAP splitter of `gridtrust-modbus`. Sans-IO: packets in, events out.

use std::collections::{BTreeMap, HashMap};

use gridtrust_iec104::apci::{ApciError, Apdu};
use gridtrust_modbus::frame::{FrameError, split_frame};

use crate::capture::Packet;
use crate::event::{Direction, Endpoint, Event, EventKind, Flow, Malformed, Protocol};
use crate::packet::{ACK, FIN, RST, SYN, Segment, decode_tcp};

/// Out-of-order segments held per direction before the gap is declared lost (capture loss).
const MAX_PENDING_SEGMENTS: usize = 64;
/// Unframed bytes kept per direction; beyond this the stream is not the protocol we expected.
const MAX_BUFFERED: usize = 64 * 1024;

#[derive(Default)]
struct Direction1 {
    /// Sequence number of the next byte we expect; `None` until the first segment or SYN.
    next: Option<u32>,
    /// Segments that arrived ahead of `next`, by sequence number.
    pending: BTreeMap<u32, Vec<u8>>,
    /// The in-order bytes and their framing.
    framer: Framer,
}

/// Cuts one direction's in-order bytes into frames with the protocol's own codec: what the
/// capture path uses after reassembly and the inline path ([`crate::inline`]) uses directly.
#[derive(Debug, Default)]
pub struct Framer {
    /// In-order bytes not yet framed.
    buffer: Vec<u8>,
    /// The framer lost sync; one malformed event was reported and bytes are skipped until a frame
    /// decodes again.
    lost_sync: bool,
}

/// Counts of what the decoder saw, for the CLI's summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamStats {
    /// Packets offered.
    pub packets: u64,
    /// Packets that were TCP on a port we parse.
    pub segments: u64,
    /// Packets that claimed IPv4/TCP but were broken.
    pub broken: u64,
    /// Payload bytes already delivered (retransmissions).
    pub retransmitted_bytes: u64,
}

/// The reassembler and framer for every connection of a capture.
#[derive(Default)]
pub struct StreamDecoder {
    directions: HashMap<(Endpoint, Endpoint), Direction1>,
    stats: StreamStats,
}

impl StreamDecoder {
    /// A decoder with no connections.
    pub fn new() -> Self {
        Self::default()
    }

    /// What was seen so far.
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// Feeds one captured packet; the events it completes are appended to `out`.
    pub fn push(&mut self, packet: &Packet, out: &mut Vec<Event>) {
        self.stats.packets += 1;
        let seg = match decode_tcp(packet.link_type, &packet.data) {
            Ok(Some(seg)) => seg,
            Ok(None) => return,
            Err(_) => {
                self.stats.broken += 1;
                return;
            }
        };
        self.push_segment(packet.time_us, &seg, out);
    }

    /// Feeds one TCP segment (the part of [`push`](Self::push) after the headers).
    pub fn push_segment(&mut self, time_us: i64, seg: &Segment<'_>, out: &mut Vec<Event>) {
        let src = Endpoint { ip: seg.src, port: seg.src_port };
        let dst = Endpoint { ip: seg.dst, port: seg.dst_port };
        let opening = seg.flags & SYN != 0 && seg.flags & ACK == 0;
        let (flow, direction, protocol) = if let Some(p) = Protocol::from_server_port(dst.port) {
            (Flow { client: src, server: dst }, Direction::ToServer, p)
        } else if let Some(p) = Protocol::from_server_port(src.port) {
            (Flow { client: dst, server: src }, Direction::ToClient, p)
        } else {
            return;
        };
        self.stats.segments += 1;
        let event = |kind| Event { time_us, flow, direction, src_mac: seg.src_mac, protocol, kind };
        let state = self.directions.entry((src, dst)).or_default();
        if seg.flags & SYN != 0 {
            // A new connection on the same four-tuple starts a new stream.
            *state = Direction1 { next: Some(seg.seq.wrapping_add(1)), ..Direction1::default() };
            if opening {
                out.push(event(EventKind::Open));
            }
        }
        if !seg.payload.is_empty() {
            let next = *state.next.get_or_insert(seg.seq);
            // Signed distance with wrap-around (RFC 1982 style).
            let ahead = signed(seg.seq.wrapping_sub(next));
            if ahead < 0 {
                let seen = usize::try_from(ahead.unsigned_abs()).unwrap_or(usize::MAX);
                self.stats.retransmitted_bytes += u64::try_from(seen.min(seg.payload.len())).unwrap_or(0);
                if let Some(fresh) = seg.payload.get(seen..).filter(|f| !f.is_empty()) {
                    state.deliver(fresh);
                }
            } else if ahead == 0 {
                state.deliver(seg.payload);
            } else {
                state.pending.entry(seg.seq).or_insert_with(|| seg.payload.to_vec());
            }
            state.drain_pending(|m| out.push(event(EventKind::Malformed(m))));
            state.framer.frame(protocol, |kind| out.push(event(kind)));
        }
        if seg.flags & (FIN | RST) != 0 {
            self.directions.remove(&(src, dst));
            if seg.flags & RST != 0 {
                self.directions.remove(&(dst, src));
            }
            out.push(event(EventKind::Close));
        }
    }
}

/// Reads a sequence-number difference as signed (RFC 1982 serial arithmetic).
fn signed(diff: u32) -> i32 {
    i32::from_ne_bytes(diff.to_ne_bytes())
}

impl Direction1 {
    fn deliver(&mut self, bytes: &[u8]) {
        if let Some(next) = self.next.as_mut() {
            *next = next.wrapping_add(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        }
        self.framer.push(bytes);
    }

    /// Moves pending segments that now start at or before `next` into the buffer; declares a gap
    /// lost when too many segments wait behind it.
    fn drain_pending(&mut self, mut gap: impl FnMut(Malformed)) {
        while let Some(next) = self.next {
            let Some((&seq, _)) = self.pending.first_key_value() else { return };
            let ahead = signed(seq.wrapping_sub(next));
            if ahead > 0 && self.pending.len() <= MAX_PENDING_SEGMENTS {
                return;
            }
            let Some((seq, bytes)) = self.pending.pop_first() else { return };
            if ahead > 0 {
                gap(Malformed::StreamGap { missing: ahead.unsigned_abs() });
                self.framer.lose_sync();
                self.next = Some(seq);
                self.deliver(&bytes);
            } else {
                let skip = usize::try_from(ahead.unsigned_abs()).unwrap_or(usize::MAX);
                if let Some(fresh) = bytes.get(skip..) {
                    self.deliver(fresh);
                }
            }
        }
    }
}

impl Framer {
    /// Appends in-order bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes were lost before what comes next: drop what is buffered and resynchronise.
    fn lose_sync(&mut self) {
        self.buffer.clear();
        self.lost_sync = true;
    }

    /// Cuts complete frames from the buffer; a stretch of bytes that does not frame is reported
    /// once as [`EventKind::Malformed`].
    pub fn frame(&mut self, protocol: Protocol, mut emit: impl FnMut(EventKind)) {
        let mut at = 0;
        loop {
            let rest = self.buffer.get(at..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            let step = match protocol {
                Protocol::Iec104 => match Apdu::decode(rest) {
                    Ok((apdu, used)) => Ok((EventKind::Iec104(apdu), used)),
                    Err(ApciError::Incomplete { .. }) => break,
                    Err(e) => Err(Malformed::Iec104(e)),
                },
                Protocol::Modbus => match split_frame(rest) {
                    Ok((header, pdu, used)) => Ok((EventKind::Modbus { header, pdu: pdu.to_vec() }, used)),
                    Err(FrameError::Incomplete { .. }) => break,
                    Err(e) => Err(Malformed::Modbus(e)),
                },
            };
            match step {
                Ok((kind, used)) => {
                    self.lost_sync = false;
                    emit(kind);
                    at += used.max(1);
                }
                Err(m) => {
                    if !self.lost_sync {
                        emit(EventKind::Malformed(m));
                        self.lost_sync = true;
                    }
                    // Resynchronise: IEC 104 on the next start byte, Modbus one byte on.
                    let skip = match protocol {
                        Protocol::Iec104 => {
                            rest.iter().skip(1).position(|&b| b == gridtrust_iec104::apci::START).map_or(rest.len(), |p| p + 1)
                        }
                        Protocol::Modbus => 1,
                    };
                    at += skip;
                }
            }
        }
        self.buffer.drain(..at.min(self.buffer.len()));
        if self.buffer.len() > MAX_BUFFERED {
            self.lose_sync();
        }
    }
}

/// Decodes a whole capture into events, in capture order.
pub fn events_of(packets: &[Packet]) -> (Vec<Event>, StreamStats) {
    let mut decoder = StreamDecoder::new();
    let mut out = Vec::new();
    for p in packets {
        decoder.push(p, &mut out);
    }
    (out, decoder.stats())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use gridtrust_iec104::apci::UFunction;

    use super::*;

    fn seg(seq: u32, flags: u8, payload: &[u8]) -> Segment<'_> {
        Segment {
            src_mac: None,
            src: Ipv4Addr::new(10, 0, 0, 5),
            dst: Ipv4Addr::new(10, 0, 1, 10),
            ttl: 64,
            src_port: 50000,
            dst_port: 2404,
            seq,
            flags,
            payload,
        }
    }

    const STARTDT: [u8; 6] = [0x68, 4, 7, 0, 0, 0];
    const TESTFR: [u8; 6] = [0x68, 4, 0x43, 0, 0, 0];

    fn kinds(events: &[Event]) -> Vec<EventKind> {
        events.iter().map(|e| e.kind.clone()).collect()
    }

    #[test]
    fn split_and_retransmitted_segments_give_each_apdu_once() {
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        d.push_segment(0, &seg(99, SYN, &[]), &mut out);
        d.push_segment(1, &seg(100, ACK, &STARTDT[..3]), &mut out);
        d.push_segment(2, &seg(100, ACK, &STARTDT[..3]), &mut out);
        d.push_segment(3, &seg(103, ACK, &STARTDT[3..]), &mut out);
        // Retransmission overlapping delivered bytes and carrying new ones.
        d.push_segment(4, &seg(103, ACK, &[&STARTDT[3..], &TESTFR[..]].concat()), &mut out);
        assert_eq!(
            kinds(&out),
            vec![EventKind::Open, EventKind::Iec104(Apdu::U(UFunction::StartDtAct)), EventKind::Iec104(Apdu::U(UFunction::TestFrAct))]
        );
        assert_eq!(d.stats().retransmitted_bytes, 6);
    }

    #[test]
    fn early_segment_waits_for_the_gap() {
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        d.push_segment(0, &seg(106, ACK, &TESTFR), &mut out);
        assert!(out.is_empty() || matches!(out[0].kind, EventKind::Iec104(_)));
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        d.push_segment(0, &seg(99, SYN, &[]), &mut out);
        d.push_segment(1, &seg(106, ACK, &TESTFR), &mut out);
        assert_eq!(out.len(), 1);
        d.push_segment(2, &seg(100, ACK, &STARTDT), &mut out);
        assert_eq!(
            kinds(&out[1..]),
            vec![EventKind::Iec104(Apdu::U(UFunction::StartDtAct)), EventKind::Iec104(Apdu::U(UFunction::TestFrAct))]
        );
    }

    #[test]
    fn garbage_is_reported_once_and_framing_resumes() {
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        d.push_segment(0, &seg(1, ACK, &[&[1u8, 2, 3, 4][..], &STARTDT[..]].concat()), &mut out);
        assert!(matches!(out[0].kind, EventKind::Malformed(Malformed::Iec104(ApciError::BadStartByte { found: 1 }))));
        assert_eq!(out[1].kind, EventKind::Iec104(Apdu::U(UFunction::StartDtAct)));
        assert_eq!(out.len(), 2);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_segments_never_panic(segs in proptest::collection::vec((proptest::num::u32::ANY, proptest::num::u8::ANY, proptest::collection::vec(proptest::num::u8::ANY, 0..64), proptest::bool::ANY), 0..40)) {
            let mut d = StreamDecoder::new();
            let mut out = Vec::new();
            for (seq, flags, payload, modbus) in &segs {
                let mut s = seg(*seq % 4096, *flags, payload);
                if *modbus { s.dst_port = 502; }
                d.push_segment(0, &s, &mut out);
            }
        }
    }
}
