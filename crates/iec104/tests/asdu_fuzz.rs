//! Property tests that run in every `cargo test`: the ASDU and time decoders never panic on any
//! input, and whatever decodes re-encodes to a canonical form that decodes to the same thing.
//! (The coverage-guided targets in `fuzz/` run the same checks for longer.)

use gridtrust_iec104::asdu::{ASDU_MAX_LEN, Asdu, AsduError, AsduHeader, Cause, HEADER_LEN, IOA_LEN, TypeId, negative_reply};
use gridtrust_iec104::time::{Cp24Time2a, Cp56Time2a};
use proptest::prelude::*;

/// Decodes, and if that works, checks encode → decode → encode is a fixed point.
fn check_round_trip(bytes: &[u8]) -> Result<(), TestCaseError> {
    match Asdu::decode(bytes) {
        Ok(asdu) => {
            let canonical = asdu.to_bytes().map_err(|e| TestCaseError::fail(format!("{asdu:?} decoded but does not encode: {e}")))?;
            prop_assert_eq!(canonical.len(), bytes.len(), "canonical form changes the length");
            let again = Asdu::decode(&canonical).map_err(|e| TestCaseError::fail(format!("canonical form does not decode: {e}")))?;
            prop_assert_eq!(again.to_bytes().ok(), Some(canonical));
            prop_assert_eq!(again.header(), asdu.header());
        }
        Err(e) => {
            // Errors render, and an error with a header agrees with peeking the header.
            let _ = e.to_string();
            if let Some(h) = e.header() {
                prop_assert_eq!(Some(*h), AsduHeader::peek(bytes).ok());
            }
            if let Some(cause) = e.negative_cause() {
                let mut out = Vec::new();
                if bytes.len() <= ASDU_MAX_LEN {
                    negative_reply(bytes, cause, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(out.len(), bytes.len());
                    let h = AsduHeader::peek(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert!(h.cot.negative);
                    prop_assert_eq!(h.cot.cause, cause);
                }
            }
            if matches!(e, AsduError::Truncated { .. }) {
                prop_assert!(bytes.len() < HEADER_LEN);
            }
        }
    }
    Ok(())
}

/// Well-formed shells: a supported type, SQ, a count that fits, and random element octets of
/// exactly the right length, so most cases reach the element decoders.
fn shaped_asdu() -> impl Strategy<Value = Vec<u8>> {
    (0..TypeId::ALL.len(), any::<bool>(), any::<[u8; 4]>(), 1usize..=127).prop_flat_map(|(t, sq, hdr, n)| {
        let ty = TypeId::ALL[t];
        let n = n.min(ty.max_objects(sq)).max(1);
        let body = if sq { IOA_LEN + n * ty.element_len() } else { n * (IOA_LEN + ty.element_len()) };
        proptest::collection::vec(any::<u8>(), body).prop_map(move |body| {
            let mut v = vec![ty.code(), u8::try_from(n).unwrap_or(1) | (u8::from(sq) << 7), hdr[0], hdr[1], hdr[2], hdr[3]];
            v.extend_from_slice(&body);
            v
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        check_round_trip(&bytes)?;
    }

    #[test]
    fn well_shaped_asdus_decode_and_round_trip(bytes in shaped_asdu()) {
        let cause_ok = Cause::is_defined_code(bytes[2] & 0x3f);
        let result = Asdu::decode(&bytes);
        if cause_ok && !matches!(result, Err(AsduError::IoaOverflow { .. })) {
            prop_assert!(result.is_ok(), "{:?}", result);
        }
        check_round_trip(&bytes)?;
    }

    #[test]
    fn flipped_bits_in_a_valid_asdu_never_panic(bytes in shaped_asdu(), at in any::<prop::sample::Index>(), bit in 0u8..8, cut in any::<prop::sample::Index>()) {
        let mut b = bytes.clone();
        let i = at.index(b.len());
        b[i] ^= 1 << bit;
        check_round_trip(&b)?;
        check_round_trip(&b[..cut.index(b.len() + 1)])?;
    }

    #[test]
    fn any_seven_octets_are_a_time_tag(b in any::<[u8; 7]>()) {
        let t = Cp56Time2a::decode(&b).unwrap();
        prop_assert_eq!(Cp56Time2a::decode(&t.to_bytes()).unwrap(), t);
        if let Ok(ms) = t.to_unix_ms() {
            let back = Cp56Time2a::from_unix_ms(ms).unwrap();
            prop_assert_eq!((back.year, back.month, back.day_of_month, back.hour, back.minute, back.milliseconds),
                            (t.year, t.month, t.day_of_month, t.hour, t.minute, t.milliseconds));
        }
        let short = Cp24Time2a::decode(&b).unwrap();
        prop_assert_eq!(Cp24Time2a::decode(&short.to_bytes()).unwrap(), short);
    }

    #[test]
    fn unix_time_round_trips_in_range_and_errs_outside(ms in any::<i64>(), in_range in 946_684_800_000i64..4_102_444_800_000) {
        let _ = Cp56Time2a::from_unix_ms(ms);
        let t = Cp56Time2a::from_unix_ms(in_range).unwrap();
        prop_assert_eq!(t.to_unix_ms(), Ok(in_range));
        prop_assert!((1..=7).contains(&t.day_of_week));
    }
}
