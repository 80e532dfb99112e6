//! Modbus TCP: cutting frames from a byte stream and decoding requests (as our simulator does)
//! and answers (as our client does, for each kind of request) never panic; a decoded register
//! read request re-encodes to exactly its bytes.
#![no_main]

use gridtrust_modbus::frame::{Request, Response, Table, split_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((header, pdu, used)) = split_frame(data) else { return };
    assert!(used <= data.len());
    if let Ok(request @ Request::Read { .. }) = Request::decode(pdu) {
        let mut out = Vec::new();
        request.encode(header, &mut out).expect("a decoded read re-encodes");
        assert_eq!(out, &data[..used]);
    }
    let count = u16::from(data.last().copied().unwrap_or(1));
    for request in [
        Request::Read { table: Table::Coil, address: 0, count },
        Request::Read { table: Table::Holding, address: 0, count },
        Request::WriteSingleRegister { address: 0, value: 0 },
        Request::WriteMultipleRegisters { address: 0, values: vec![0; 2] },
    ] {
        let _ = Response::decode(pdu, &request).map_err(|e| e.to_string());
    }
});
