//! BER reader of the MMS stack on arbitrary bytes: every element and every typed accessor must
//! return a value or a typed error, never panic or loop.
#![no_main]
use gridtrust_mms::ber::{MAX_DEPTH, Reader};
use libfuzzer_sys::fuzz_target;

fn walk(mut reader: Reader<'_>, depth: usize) {
    while !reader.is_empty() {
        let Ok(tlv) = reader.read() else { return };
        let _ = (tlv.as_i64(), tlv.as_u64(), tlv.as_bool(), tlv.as_bit_string(), tlv.as_visible_str(), tlv.as_oid(), tlv.as_mms_float());
        if tlv.tag.constructed && depth < MAX_DEPTH {
            walk(tlv.reader(), depth + 1);
        }
    }
}

fuzz_target!(|data: &[u8]| walk(Reader::new(data), 0));
