//! TPKT (RFC 1006) framing and the COTP class 0 TPDUs (ISO 8073) MMS runs on: CR, CC, DT, DR, ER.
//!
//! Class 0 has no flow control or checksums of its own; it frames connection set-up and cuts
//! session data into TPDUs no larger than the negotiated size, with an end-of-TSDU mark on the
//! last. [`Reassembler`] glues DT TPDUs back into one TSDU with a bound on its size.

/// Why a TPKT or TPDU could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CotpError {
    /// Not enough bytes yet for a whole TPKT (not an error on a stream: read more).
    #[error("incomplete TPKT: {needed} more byte(s) needed")]
    Incomplete {
        /// Bytes still missing (at least).
        needed: usize,
    },
    /// The TPKT header is not version 3 or has a length below its own header.
    #[error("bad TPKT header (version {version}, length {length})")]
    BadTpkt {
        /// Version octet.
        version: u8,
        /// Length field.
        length: u16,
    },
    /// The TPDU's length indicator points past the TPKT or is below the fixed part.
    #[error("bad COTP length indicator {li} for a {available}-byte TPDU")]
    BadLengthIndicator {
        /// Length indicator.
        li: u8,
        /// Bytes in the TPKT payload.
        available: usize,
    },
    /// A TPDU code this class 0 implementation does not handle.
    #[error("unsupported TPDU code 0x{0:02x}")]
    UnsupportedTpdu(u8),
    /// A variable-part parameter runs past the header.
    #[error("COTP parameter 0x{code:02x} at header offset {offset} overruns the header")]
    BadParameter {
        /// Parameter code.
        code: u8,
        /// Offset within the TPDU.
        offset: usize,
    },
    /// A reassembled TSDU would exceed the configured bound.
    #[error("TSDU larger than {limit} bytes")]
    TsduTooLarge {
        /// The bound.
        limit: usize,
    },
}

/// Parameters of a CR or CC TPDU.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectParams {
    /// Destination reference (0 in a CR).
    pub dst_ref: u16,
    /// Source reference.
    pub src_ref: u16,
    /// Class and options octet (0 for class 0).
    pub class: u8,
    /// TPDU size code (size = 2^code, 7..=13).
    pub tpdu_size: Option<u8>,
    /// Calling transport selector.
    pub calling_tsel: Option<Vec<u8>>,
    /// Called transport selector.
    pub called_tsel: Option<Vec<u8>>,
}

impl ConnectParams {
    /// The maximum TPDU size in bytes (class 0 default 128 when absent).
    pub fn tpdu_size_bytes(&self) -> usize {
        match self.tpdu_size {
            Some(code @ 7..=13) => 1usize << code,
            _ => 128,
        }
    }
}

/// One TPDU as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tpdu<'a> {
    /// Connection request.
    ConnectionRequest(ConnectParams),
    /// Connection confirm.
    ConnectionConfirm(ConnectParams),
    /// Data; `end_of_tsdu` marks the last TPDU of a session PDU.
    Data {
        /// EOT bit.
        end_of_tsdu: bool,
        /// User data.
        data: &'a [u8],
    },
    /// Disconnect request with its reason.
    DisconnectRequest {
        /// Reason octet.
        reason: u8,
    },
    /// TPDU error report: the peer rejected one of ours.
    Error {
        /// Reject cause.
        cause: u8,
    },
}

/// Cuts one TPKT off the front of `buf`: returns its payload and the bytes consumed.
pub fn decode_tpkt(buf: &[u8]) -> Result<(&[u8], usize), CotpError> {
    let Some(&[version, _, l0, l1]) = buf.first_chunk::<4>() else {
        return Err(CotpError::Incomplete { needed: 4 - buf.len() });
    };
    let length = u16::from_be_bytes([l0, l1]);
    if version != 3 || length < 7 {
        return Err(CotpError::BadTpkt { version, length });
    }
    let total = usize::from(length);
    match buf.get(4..total) {
        Some(payload) => Ok((payload, total)),
        None => Err(CotpError::Incomplete { needed: total - buf.len() }),
    }
}

/// Decodes the TPDU in a TPKT payload.
pub fn decode_tpdu(payload: &[u8]) -> Result<Tpdu<'_>, CotpError> {
    let (&li, rest) = payload.split_first().ok_or(CotpError::BadLengthIndicator { li: 0, available: 0 })?;
    let header = rest.get(..usize::from(li)).ok_or(CotpError::BadLengthIndicator { li, available: payload.len() })?;
    let user_data = rest.get(usize::from(li)..).unwrap_or_default();
    let bad_li = CotpError::BadLengthIndicator { li, available: payload.len() };
    let code = *header.first().ok_or(bad_li.clone())?;
    match code & 0xf0 {
        0xe0 | 0xd0 => {
            let Some(&[d0, d1, s0, s1, class]) = header.get(1..6) else { return Err(bad_li) };
            let mut params = ConnectParams {
                dst_ref: u16::from_be_bytes([d0, d1]),
                src_ref: u16::from_be_bytes([s0, s1]),
                class,
                ..ConnectParams::default()
            };
            let mut at = 6;
            while at < header.len() {
                let (code, len) = match header.get(at..at + 2) {
                    Some(&[c, l]) => (c, usize::from(l)),
                    _ => return Err(CotpError::BadParameter { code: header.get(at).copied().unwrap_or(0), offset: at }),
                };
                let value = header.get(at + 2..at + 2 + len).ok_or(CotpError::BadParameter { code, offset: at })?;
                match code {
                    0xc0 => params.tpdu_size = value.first().copied(),
                    0xc1 => params.calling_tsel = Some(value.to_vec()),
                    0xc2 => params.called_tsel = Some(value.to_vec()),
                    _ => {} // other parameters (version, checksum, preferred size) are not used in class 0
                }
                at += 2 + len;
            }
            if code & 0xf0 == 0xe0 { Ok(Tpdu::ConnectionRequest(params)) } else { Ok(Tpdu::ConnectionConfirm(params)) }
        }
        0xf0 => {
            let nr = *header.get(1).ok_or(bad_li)?;
            Ok(Tpdu::Data { end_of_tsdu: nr & 0x80 != 0, data: user_data })
        }
        0x80 => Ok(Tpdu::DisconnectRequest { reason: header.get(5).copied().unwrap_or(0) }),
        0x70 => Ok(Tpdu::Error { cause: header.get(3).copied().unwrap_or(0) }),
        _ => Err(CotpError::UnsupportedTpdu(code)),
    }
}

fn push_tpkt(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[3, 0, 0, 0]);
    body(out);
    let len = u16::try_from(out.len() - start).unwrap_or(u16::MAX);
    // The four header octets were pushed above, so the length field is there.
    if let Some(field) = out.get_mut(start + 2..start + 4) {
        field.copy_from_slice(&len.to_be_bytes());
    }
}

/// Appends a TPKT with a CR (`confirm` false) or CC (`confirm` true) TPDU.
pub fn encode_connect(out: &mut Vec<u8>, params: &ConnectParams, confirm: bool) {
    push_tpkt(out, |out| {
        let li_at = out.len();
        out.push(0);
        out.push(if confirm { 0xd0 } else { 0xe0 });
        out.extend_from_slice(&params.dst_ref.to_be_bytes());
        out.extend_from_slice(&params.src_ref.to_be_bytes());
        out.push(params.class);
        if let Some(size) = params.tpdu_size {
            out.extend_from_slice(&[0xc0, 1, size]);
        }
        for (code, tsel) in [(0xc1u8, &params.calling_tsel), (0xc2, &params.called_tsel)] {
            if let Some(tsel) = tsel {
                let len = u8::try_from(tsel.len()).unwrap_or(u8::MAX);
                out.extend_from_slice(&[code, len]);
                out.extend(tsel.iter().take(usize::from(len)));
            }
        }
        let li = u8::try_from(out.len() - li_at - 1).unwrap_or(u8::MAX);
        // The LI octet was pushed first, so it is there.
        if let Some(slot) = out.get_mut(li_at) {
            *slot = li;
        }
    });
}

/// Appends one session PDU as DT TPDUs of at most `tpdu_size` bytes each (TPKT framed).
pub fn encode_data(out: &mut Vec<u8>, tsdu: &[u8], tpdu_size: usize) {
    let chunk = tpdu_size.saturating_sub(3).max(1);
    let mut chunks = tsdu.chunks(chunk).peekable();
    if tsdu.is_empty() {
        push_tpkt(out, |out| out.extend_from_slice(&[2, 0xf0, 0x80]));
    }
    while let Some(part) = chunks.next() {
        let eot = if chunks.peek().is_none() { 0x80 } else { 0 };
        push_tpkt(out, |out| {
            out.extend_from_slice(&[2, 0xf0, eot]);
            out.extend_from_slice(part);
        });
    }
}

/// Appends a DR TPDU (used when giving up on a connection politely).
pub fn encode_disconnect(out: &mut Vec<u8>, dst_ref: u16, src_ref: u16, reason: u8) {
    push_tpkt(out, |out| {
        out.extend_from_slice(&[6, 0x80]);
        out.extend_from_slice(&dst_ref.to_be_bytes());
        out.extend_from_slice(&src_ref.to_be_bytes());
        out.push(reason);
    });
}

/// Collects DT TPDUs into whole TSDUs (session PDUs), bounded by `limit` bytes.
#[derive(Debug, Default)]
pub struct Reassembler {
    buf: Vec<u8>,
    limit: usize,
}

impl Reassembler {
    /// A reassembler refusing TSDUs larger than `limit`.
    pub fn new(limit: usize) -> Reassembler {
        Reassembler { buf: Vec::new(), limit }
    }

    /// Adds one DT TPDU's data; returns the whole TSDU when `end_of_tsdu` closes it.
    pub fn push(&mut self, data: &[u8], end_of_tsdu: bool) -> Result<Option<Vec<u8>>, CotpError> {
        if self.buf.len() + data.len() > self.limit {
            self.buf.clear();
            return Err(CotpError::TsduTooLarge { limit: self.limit });
        }
        self.buf.extend_from_slice(data);
        Ok(end_of_tsdu.then(|| std::mem::take(&mut self.buf)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_request_from_a_capture_decodes() {
        // iec61850_read.pcap frame 4 (client CR), frame 6 (server CC).
        let cr = [0x03, 0x00, 0x00, 0x13, 0x0e, 0xe0, 0, 0, 0, 6, 0, 0xc1, 2, 0, 2, 0xc2, 2, 0, 1];
        let (payload, used) = decode_tpkt(&cr).unwrap();
        assert_eq!(used, 19);
        let Tpdu::ConnectionRequest(p) = decode_tpdu(payload).unwrap() else { panic!("not a CR") };
        assert_eq!((p.src_ref, p.calling_tsel.as_deref(), p.called_tsel.as_deref()), (6, Some(&[0u8, 2][..]), Some(&[0u8, 1][..])));
        let mut again = Vec::new();
        encode_connect(&mut again, &p, false);
        assert_eq!(again, cr);
        let cc = [3, 0, 0, 0x16, 0x11, 0xd0, 0x18, 0x01, 0x00, 0x04, 0x00, 0xc1, 2, 0, 2, 0xc2, 2, 2, 0, 0xc0, 1, 0x0a];
        let Tpdu::ConnectionConfirm(p) = decode_tpdu(decode_tpkt(&cc).unwrap().0).unwrap() else { panic!("not a CC") };
        assert_eq!((p.dst_ref, p.src_ref, p.tpdu_size_bytes()), (0x1801, 4, 1024));
    }

    #[test]
    fn data_is_segmented_and_reassembled() {
        let tsdu: Vec<u8> = (0..=255).cycle().take(1000).collect();
        let mut wire = Vec::new();
        encode_data(&mut wire, &tsdu, 128);
        let mut rest = &wire[..];
        let mut reassembler = Reassembler::new(4096);
        let mut whole = None;
        let mut count = 0;
        while !rest.is_empty() {
            let (payload, used) = decode_tpkt(rest).unwrap();
            assert!(payload.len() <= 128);
            let Tpdu::Data { end_of_tsdu, data } = decode_tpdu(payload).unwrap() else { panic!("not DT") };
            whole = reassembler.push(data, end_of_tsdu).unwrap().or(whole);
            rest = &rest[used..];
            count += 1;
        }
        assert_eq!(count, 8);
        assert_eq!(whole.unwrap(), tsdu);
        let mut small = Reassembler::new(10);
        assert_eq!(small.push(&[0; 11], true), Err(CotpError::TsduTooLarge { limit: 10 }));
    }

    #[test]
    fn short_and_bad_input_are_typed_errors() {
        assert_eq!(decode_tpkt(&[3, 0]), Err(CotpError::Incomplete { needed: 2 }));
        assert_eq!(decode_tpkt(&[3, 0, 0, 10, 2]), Err(CotpError::Incomplete { needed: 5 }));
        assert!(matches!(decode_tpkt(&[4, 0, 0, 10]), Err(CotpError::BadTpkt { .. })));
        assert!(matches!(decode_tpdu(&[9, 0xf0]), Err(CotpError::BadLengthIndicator { .. })));
        assert!(matches!(decode_tpdu(&[8, 0xe0, 0, 0, 0, 1, 0, 0xc1]), Err(CotpError::BadLengthIndicator { .. })));
        assert!(matches!(decode_tpdu(&[8, 0xe0, 0, 0, 0, 1, 0, 0xc1, 5]), Err(CotpError::BadParameter { .. })));
    }
}
