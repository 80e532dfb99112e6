//! IEC 62351-8 role extension decoder: never panics, and whatever decodes re-encodes to exactly
//! the input (DER has one encoding per value, and the decoder accepts only DER).
#![no_main]

use gridtrust_pki::UserRoles;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match UserRoles::decode(data) {
        Ok(roles) => {
            let encoded = roles.encode().expect("a decoded extension encodes");
            assert_eq!(encoded, data, "DER is canonical: the re-encoding is the input");
            assert_eq!(UserRoles::decode(&encoded).ok(), Some(roles.clone()));
            let _ = roles.roles();
            let _ = roles.other_role_ids();
        }
        Err(e) => {
            assert!(e.offset <= data.len(), "the error offset lies within the input");
            let _ = e.to_string();
        }
    }
});
