//! TCP segments in any order into the reassembler and framers (IEC 104 on port 2404, Modbus on
//! 502), then through the detector with an empty model. Input: repeated records of
//! [flags, seq lo, seq hi, port selector, len, payload...].
#![no_main]

use std::net::Ipv4Addr;

use gridtrust_ids::detect::score;
use gridtrust_ids::model::learn;
use gridtrust_ids::packet::Segment;
use gridtrust_ids::stream::StreamDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = StreamDecoder::new();
    let mut events = Vec::new();
    let mut rest = data;
    let mut time = 0;
    while let [flags, lo, hi, sel, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(n);
        let server_port = if sel & 1 == 0 { 2404 } else { 502 };
        let to_server = sel & 2 == 0;
        let (src_port, dst_port) = if to_server { (50000, server_port) } else { (server_port, 50000) };
        let seg = Segment {
            src_mac: None,
            src: Ipv4Addr::new(10, 0, 0, if to_server { 1 } else { 2 }),
            dst: Ipv4Addr::new(10, 0, 0, if to_server { 2 } else { 1 }),
            ttl: 64,
            src_port,
            dst_port,
            seq: u32::from(u16::from_le_bytes([*lo, *hi])),
            flags: *flags,
            payload,
        };
        time += 1000;
        decoder.push_segment(time, &seg, &mut events);
        rest = next;
    }
    let model = learn(&events[..events.len() / 2]);
    let _ = score(model, &events);
});
