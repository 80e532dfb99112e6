//! MMS PDU decoder and the client association on arbitrary server bytes: typed errors only, and
//! every decoded PDU re-encodes to something that decodes to the same PDU.
#![no_main]
use gridtrust_mms::pdu::MmsPdu;
use gridtrust_mms::{ClientConfig, ClientConnection};
use libfuzzer_sys::fuzz_target;
use std::time::Instant;

fuzz_target!(|data: &[u8]| {
    if let Ok(pdu) = MmsPdu::decode(data) {
        let again = MmsPdu::decode(&pdu.to_bytes());
        assert!(again.is_ok(), "a decoded PDU re-encodes decodably: {pdu:?}");
    }
    let now = Instant::now();
    let mut client = ClientConnection::new(ClientConfig::default(), now);
    let _ = client.handle_input(data, now);
    while client.poll_event().is_some() {}
});
