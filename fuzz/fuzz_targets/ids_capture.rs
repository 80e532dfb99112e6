//! A capture file end to end: pcap/pcapng reading, link/IP/TCP decoding, reassembly, IEC 104 and
//! Modbus framing, learning a model from it, the model's JSON round trip, and scoring the same
//! events. Nothing may panic; a model must re-read as itself.
#![no_main]

use gridtrust_ids::capture::read_capture_prefix;
use gridtrust_ids::detect::score;
use gridtrust_ids::model::{Model, learn};
use gridtrust_ids::stream::events_of;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (packets, _) = read_capture_prefix(data);
    let (events, _) = events_of(&packets);
    let model = learn(&events);
    let json = serde_json::to_string(&model).expect("a model serialises");
    let back: Model = serde_json::from_str(&json).expect("a model re-reads");
    assert_eq!(back.peers, model.peers);
    let _ = score(model, &events);
});
