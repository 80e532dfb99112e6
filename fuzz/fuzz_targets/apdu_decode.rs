//! IEC 104 byte stream: APDUs cut by the APCI codec, ASDUs of I-frames decoded by the ASDU codec.
//! Neither may panic; decoded APDUs and ASDUs must re-encode.
#![no_main]

use gridtrust_iec104::apci::Apdu;
use gridtrust_iec104::asdu::Asdu;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok((apdu, used)) = Apdu::decode(rest) {
        assert!(used > 0 && used <= rest.len());
        let mut out = Vec::new();
        apdu.encode(&mut out).expect("a decoded APDU encodes");
        if let Apdu::I { asdu, .. } = &apdu {
            if let Ok(a) = Asdu::decode(asdu) {
                let mut again = Vec::new();
                a.encode(&mut again).expect("a decoded ASDU encodes");
                assert_eq!(again.len(), asdu.len());
            }
        }
        rest = &rest[used..];
    }
});
