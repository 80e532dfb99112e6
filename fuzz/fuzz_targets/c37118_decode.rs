//! C37.118.2 byte stream: frames cut and CRC-checked, configuration, command and header frames
//! decoded, data frames decoded with the last configuration in the input (or the simulator's),
//! and the same bytes fed to the client state machine as TCP bytes and as a datagram. Nothing
//! may panic.
#![no_main]

use gridtrust_c37118::client::{Client, ClientConfig};
use gridtrust_c37118::command::{CommandFrame, HeaderFrame};
use gridtrust_c37118::config::ConfigFrame;
use gridtrust_c37118::data::DataFrame;
use gridtrust_c37118::frame::split_frame;
use gridtrust_c37118::sim::SimSpec;
use gridtrust_model::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut config = SimSpec::single(1, "FUZZ", 50).config();
    let mut frame = DataFrame::default();
    let mut rest = data;
    while let Ok((raw, used)) = split_frame(rest) {
        assert!(used >= 16 && used <= rest.len());
        if let Ok(c) = ConfigFrame::decode(&raw) {
            config = c;
        }
        let _ = CommandFrame::decode(&raw);
        let _ = HeaderFrame::decode(&raw);
        let _ = frame.decode_into(&raw, &config);
        rest = &rest[used..];
    }
    let mut client = Client::new(ClientConfig::default(), Timestamp(0));
    client.handle_stream_bytes(data, Timestamp(1));
    client.handle_datagram(data, Timestamp(2));
    client.handle_timeout(Timestamp(10_000_000_000));
    while client.poll_event().is_some() {}
});
