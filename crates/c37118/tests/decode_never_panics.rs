//! Decoders and state machines take arbitrary bytes without panicking: random bytes, and random
//! bodies sealed with a correct CRC so the typed decoders (not just the CRC check) see them. The
//! same inputs feed the cargo-fuzz target `c37118_decode`.

use gridtrust_c37118::client::{Client, ClientConfig};
use gridtrust_c37118::command::{CommandFrame, HeaderFrame};
use gridtrust_c37118::config::ConfigFrame;
use gridtrust_c37118::crc::crc_ccitt;
use gridtrust_c37118::data::DataFrame;
use gridtrust_c37118::frame::{DecodeError, split_frame};
use gridtrust_c37118::sim::SimSpec;
use gridtrust_model::Timestamp;
use proptest::prelude::*;

/// Wraps `body` in a frame of type `frame_type` with a correct FRAMESIZE and CRC.
fn sealed(frame_type: u8, idcode: u16, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0xaa, (frame_type % 6) << 4 | 2, 0, 0];
    f.extend_from_slice(&idcode.to_be_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(body);
    let size = (f.len() + 2) as u16;
    f[2..4].copy_from_slice(&size.to_be_bytes());
    let crc = crc_ccitt(&f);
    f.extend_from_slice(&crc.to_be_bytes());
    f
}

fn decode_everything(bytes: &[u8], config: &ConfigFrame) {
    if let Ok((raw, used)) = split_frame(bytes) {
        assert!(used <= bytes.len());
        let _ = ConfigFrame::decode(&raw);
        let _ = CommandFrame::decode(&raw);
        let _ = HeaderFrame::decode(&raw);
        let _ = DataFrame::decode(&raw, config);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let config = SimSpec::single(1, "P", 50).config();
        decode_everything(&bytes, &config);
        let mut client = Client::new(ClientConfig::default(), Timestamp(0));
        client.handle_stream_bytes(&bytes, Timestamp(1));
        client.handle_datagram(&bytes, Timestamp(2));
        while client.poll_event().is_some() {}
    }

    #[test]
    fn sealed_random_bodies_get_typed_errors(frame_type in 0u8..6, body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let config = SimSpec::single(1, "P", 50).config();
        let frame = sealed(frame_type, 1, &body);
        let (_, used) = split_frame(&frame).unwrap();
        prop_assert_eq!(used, frame.len());
        decode_everything(&frame, &config);
        // The client survives it too, whatever state it is in.
        let mut client = Client::new(ClientConfig::default(), Timestamp(0));
        client.handle_stream_bytes(&frame, Timestamp(1));
        while client.poll_event().is_some() {}
    }

    #[test]
    fn every_truncation_of_a_valid_frame_asks_for_more(cut in 0usize..300) {
        let mut frame = Vec::new();
        SimSpec::single(1, "P", 50).config().encode(&mut frame).unwrap();
        let cut = cut.min(frame.len() - 1);
        let incomplete = matches!(split_frame(&frame[..cut]), Err(DecodeError::Incomplete { .. }));
        prop_assert!(incomplete);
    }
}
