//! The APCI frame codec (IEC 60870-5-104 §5): start byte, length, four control octets, and for
//! I-frames the ASDU that follows.
//!
//! The codec knows nothing about sequence windows or timers; that is [`crate::connection`]'s job.
//! It only turns bytes into [`Apdu`] values and back, and refuses anything malformed with a typed
//! [`ApciError`] instead of panicking.

use bytes::Bytes;
use thiserror::Error;

/// The start byte every APDU begins with.
pub const START: u8 = 0x68;
/// Shortest legal value of the length octet: the four control octets alone (S- and U-frames).
pub const MIN_LENGTH: u8 = 4;
/// Longest legal value of the length octet (§5.1: the APDU is at most 255 octets).
pub const MAX_LENGTH: u8 = 253;
/// Largest ASDU an I-frame can carry (253 − 4 control octets).
pub const MAX_ASDU_LEN: usize = MAX_LENGTH as usize - 4;
/// Sequence numbers are 15 bits wide and wrap at this modulus.
pub const SEQ_MODULUS: u16 = 0x8000;

/// The unnumbered control functions; each activation must be answered by its confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UFunction {
    /// Controlling station asks the controlled station to start data transfer.
    StartDtAct,
    /// Controlled station confirms that data transfer has started.
    StartDtCon,
    /// Controlling station asks the controlled station to stop data transfer.
    StopDtAct,
    /// Controlled station confirms that data transfer has stopped.
    StopDtCon,
    /// Either side probes an idle link (t3).
    TestFrAct,
    /// Answer to a link probe.
    TestFrCon,
}

impl UFunction {
    /// The first control octet that encodes this function.
    pub const fn control_octet(self) -> u8 {
        match self {
            UFunction::StartDtAct => 0x07,
            UFunction::StartDtCon => 0x0B,
            UFunction::StopDtAct => 0x13,
            UFunction::StopDtCon => 0x23,
            UFunction::TestFrAct => 0x43,
            UFunction::TestFrCon => 0x83,
        }
    }

    /// The function for a first control octet, if it names exactly one function.
    pub const fn from_control_octet(octet: u8) -> Option<Self> {
        match octet {
            0x07 => Some(UFunction::StartDtAct),
            0x0B => Some(UFunction::StartDtCon),
            0x13 => Some(UFunction::StopDtAct),
            0x23 => Some(UFunction::StopDtCon),
            0x43 => Some(UFunction::TestFrAct),
            0x83 => Some(UFunction::TestFrCon),
            _ => None,
        }
    }

    /// The confirmation that answers this activation (`None` for confirmations).
    pub const fn confirmation(self) -> Option<Self> {
        match self {
            UFunction::StartDtAct => Some(UFunction::StartDtCon),
            UFunction::StopDtAct => Some(UFunction::StopDtCon),
            UFunction::TestFrAct => Some(UFunction::TestFrCon),
            _ => None,
        }
    }
}

/// One application protocol data unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Apdu {
    /// Numbered information transfer: carries an ASDU.
    I {
        /// N(S), 15 bits.
        send_seq: u16,
        /// N(R), 15 bits: acknowledges every I-frame numbered below it.
        recv_seq: u16,
        /// The raw ASDU (decoded by [`crate::asdu`]).
        asdu: Bytes,
    },
    /// Numbered supervisory frame: acknowledgement only.
    S {
        /// N(R), 15 bits.
        recv_seq: u16,
    },
    /// Unnumbered control function.
    U(UFunction),
}

/// What was wrong with bytes handed to [`Apdu::decode`] or with an APDU handed to
/// [`Apdu::encode`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApciError {
    /// Not an error in the stream: the frame is not complete yet; at least `needed` more bytes
    /// must arrive before decoding can succeed.
    #[error("incomplete APDU: {needed} more byte(s) needed")]
    Incomplete {
        /// Minimum number of further bytes required.
        needed: usize,
    },
    /// The first byte was not 0x68; the stream is out of sync and cannot be recovered.
    #[error("bad start byte 0x{found:02x} (expected 0x68)")]
    BadStartByte {
        /// The byte found instead.
        found: u8,
    },
    /// The length octet is outside 4..=253, or does not fit the frame format.
    #[error("bad APDU length {length}: {reason}")]
    BadLength {
        /// The length octet as received.
        length: u8,
        /// Why it is wrong.
        reason: &'static str,
    },
    /// The control octets do not form a valid I-, S- or U-frame.
    #[error("invalid control field {control:02x?}: {reason}")]
    InvalidControlField {
        /// The four control octets as received.
        control: [u8; 4],
        /// Which rule they break.
        reason: &'static str,
    },
    /// Encoding only: the ASDU does not fit in one APDU.
    #[error("ASDU of {len} bytes exceeds the maximum of {MAX_ASDU_LEN}")]
    AsduTooLong {
        /// The ASDU length that was offered.
        len: usize,
    },
    /// Encoding only: a sequence number does not fit in 15 bits.
    #[error("sequence number {value} exceeds 15 bits")]
    SequenceOutOfRange {
        /// The value that was offered.
        value: u16,
    },
}

impl Apdu {
    /// Decodes one APDU from the front of `buf`, returning it and the number of bytes consumed.
    ///
    /// Trailing bytes are left for the next call, so a stream reader can call this in a loop.
    pub fn decode(buf: &[u8]) -> Result<(Apdu, usize), ApciError> {
        let Some((&start, rest)) = buf.split_first() else {
            return Err(ApciError::Incomplete { needed: 6 });
        };
        if start != START {
            return Err(ApciError::BadStartByte { found: start });
        }
        let Some((&length, rest)) = rest.split_first() else {
            return Err(ApciError::Incomplete { needed: 5 });
        };
        if length < MIN_LENGTH {
            return Err(ApciError::BadLength { length, reason: "shorter than the four control octets" });
        }
        if length > MAX_LENGTH {
            return Err(ApciError::BadLength { length, reason: "longer than 253" });
        }
        let body_len = usize::from(length);
        let Some(body) = rest.get(..body_len) else {
            return Err(ApciError::Incomplete { needed: body_len - rest.len() });
        };
        let consumed = body_len + 2;
        let Some((&control, asdu)) = body.split_first_chunk::<4>() else {
            // Unreachable: the length octet was checked to be at least 4.
            return Err(ApciError::Incomplete { needed: 4 });
        };
        let [c1, c2, c3, c4] = control;

        if c1 & 0x01 == 0 {
            // I-format.
            if c3 & 0x01 != 0 {
                return Err(ApciError::InvalidControlField { control, reason: "I-frame with bit 1 of octet 3 set" });
            }
            if asdu.is_empty() {
                return Err(ApciError::BadLength { length, reason: "I-frame without an ASDU" });
            }
            let apdu = Apdu::I { send_seq: seq_from(c1, c2), recv_seq: seq_from(c3, c4), asdu: Bytes::copy_from_slice(asdu) };
            return Ok((apdu, consumed));
        }
        if length != MIN_LENGTH {
            return Err(ApciError::BadLength { length, reason: "S- and U-frames carry no ASDU" });
        }
        if c1 & 0x03 == 0x01 {
            // S-format.
            if c1 != 0x01 || c2 != 0 || c3 & 0x01 != 0 {
                return Err(ApciError::InvalidControlField { control, reason: "S-frame with reserved bits set" });
            }
            return Ok((Apdu::S { recv_seq: seq_from(c3, c4) }, consumed));
        }
        // U-format.
        if c2 != 0 || c3 != 0 || c4 != 0 {
            return Err(ApciError::InvalidControlField { control, reason: "U-frame with non-zero octets 2-4" });
        }
        match UFunction::from_control_octet(c1) {
            Some(f) => Ok((Apdu::U(f), consumed)),
            None => Err(ApciError::InvalidControlField { control, reason: "U-frame must set exactly one function bit" }),
        }
    }

    /// Appends the encoded APDU to `out`.
    ///
    /// On error nothing is written: the caller gave an ASDU or sequence number that cannot be
    /// represented.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), ApciError> {
        match self {
            Apdu::I { send_seq, recv_seq, asdu } => {
                check_seq(*send_seq)?;
                check_seq(*recv_seq)?;
                let len = asdu.len();
                let length = u8::try_from(len + 4).ok().filter(|l| *l <= MAX_LENGTH && len > 0).ok_or(ApciError::AsduTooLong { len })?;
                let [s1, s2] = seq_to(*send_seq);
                let [r1, r2] = seq_to(*recv_seq);
                out.extend_from_slice(&[START, length, s1, s2, r1, r2]);
                out.extend_from_slice(asdu);
            }
            Apdu::S { recv_seq } => {
                check_seq(*recv_seq)?;
                let [r1, r2] = seq_to(*recv_seq);
                out.extend_from_slice(&[START, MIN_LENGTH, 0x01, 0x00, r1, r2]);
            }
            Apdu::U(f) => {
                out.extend_from_slice(&[START, MIN_LENGTH, f.control_octet(), 0, 0, 0]);
            }
        }
        Ok(())
    }
}

fn check_seq(value: u16) -> Result<(), ApciError> {
    if value >= SEQ_MODULUS { Err(ApciError::SequenceOutOfRange { value }) } else { Ok(()) }
}

fn seq_from(lo: u8, hi: u8) -> u16 {
    (u16::from(lo) >> 1) | (u16::from(hi) << 7)
}

fn seq_to(seq: u16) -> [u8; 2] {
    let [lo, hi] = ((seq & 0x7FFF) << 1).to_le_bytes();
    [lo, hi]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u_frames_round_trip_golden_bytes() {
        // STARTDT act / con as seen in every IEC 104 capture.
        assert_eq!(Apdu::decode(&[0x68, 0x04, 0x07, 0, 0, 0]), Ok((Apdu::U(UFunction::StartDtAct), 6)));
        assert_eq!(Apdu::decode(&[0x68, 0x04, 0x0B, 0, 0, 0]), Ok((Apdu::U(UFunction::StartDtCon), 6)));
        let mut out = Vec::new();
        Apdu::U(UFunction::TestFrAct).encode(&mut out).unwrap();
        assert_eq!(out, [0x68, 0x04, 0x43, 0, 0, 0]);
    }

    #[test]
    fn i_frame_golden_bytes_decode() {
        // GI activation from a real capture: N(S)=0, N(R)=0, C_IC_NA_1 CA=1 QOI=20.
        let bytes = [0x68, 0x0E, 0x00, 0x00, 0x00, 0x00, 0x64, 0x01, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x14];
        let (apdu, used) = Apdu::decode(&bytes).unwrap();
        assert_eq!(used, 16);
        match &apdu {
            Apdu::I { send_seq, recv_seq, asdu } => {
                assert_eq!((*send_seq, *recv_seq), (0, 0));
                assert_eq!(asdu.len(), 10);
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut out = Vec::new();
        apdu.encode(&mut out).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn sequence_numbers_use_fifteen_bits() {
        let apdu = Apdu::I { send_seq: 0x7FFF, recv_seq: 0x1234, asdu: Bytes::from_static(&[1]) };
        let mut out = Vec::new();
        apdu.encode(&mut out).unwrap();
        assert_eq!(&out[2..6], &[0xFE, 0xFF, 0x68, 0x24]);
        assert_eq!(Apdu::decode(&out).unwrap().0, apdu);
        let s = Apdu::S { recv_seq: 300 };
        out.clear();
        s.encode(&mut out).unwrap();
        assert_eq!(Apdu::decode(&out).unwrap().0, s);
    }

    #[test]
    fn incomplete_input_says_how_much_more() {
        assert_eq!(Apdu::decode(&[]), Err(ApciError::Incomplete { needed: 6 }));
        assert_eq!(Apdu::decode(&[0x68, 0x04, 0x07]), Err(ApciError::Incomplete { needed: 3 }));
    }

    #[test]
    fn malformed_frames_are_refused() {
        assert!(matches!(Apdu::decode(&[0x69, 4, 7, 0, 0, 0]), Err(ApciError::BadStartByte { found: 0x69 })));
        assert!(matches!(Apdu::decode(&[0x68, 3, 7, 0, 0]), Err(ApciError::BadLength { length: 3, .. })));
        assert!(matches!(Apdu::decode(&[0x68, 254]), Err(ApciError::BadLength { length: 254, .. })));
        assert!(matches!(Apdu::decode(&[0x68, 4, 0x0F, 0, 0, 0]), Err(ApciError::InvalidControlField { .. })));
        assert!(matches!(Apdu::decode(&[0x68, 4, 0x00, 0, 0, 0]), Err(ApciError::BadLength { .. })));
        assert!(matches!(Apdu::decode(&[0x68, 5, 0x01, 0, 0, 0, 9]), Err(ApciError::BadLength { .. })));
    }

    #[test]
    fn oversized_asdu_is_not_encoded() {
        let apdu = Apdu::I { send_seq: 0, recv_seq: 0, asdu: Bytes::from(vec![0; MAX_ASDU_LEN + 1]) };
        let mut out = Vec::new();
        assert!(matches!(apdu.encode(&mut out), Err(ApciError::AsduTooLong { .. })));
        assert!(out.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Ok((apdu, used)) = Apdu::decode(&bytes) {
                let mut out = Vec::new();
                apdu.encode(&mut out).unwrap();
                proptest::prop_assert_eq!(&out[..], &bytes[..used]);
            }
        }
    }
}
