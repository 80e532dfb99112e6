//! The OSI upper layers between COTP and MMS: session (ISO 8327-1 kernel, duplex), presentation
//! (ISO 8823 normal mode, BER, fully-encoded data) and ACSE (ISO 8650-1 AARQ/AARE/RLRQ/RLRE/ABRT).
//!
//! MMS uses these layers almost as a fixed envelope, so they are encoded as exactly that: one
//! function builds the connect envelope around an MMS initiate-Request, one wraps MMS PDUs for
//! data transfer, one the release, and [`decode_spdu`] peels a received session PDU down to the
//! [`UpperPdu`] the association needs. Only the two presentation contexts IEC 61850-8-1 uses
//! exist: ACSE (id 1) and MMS (id 3).

use crate::ber::{self, BerError, Oid, Reader, Tag};

/// Presentation context id carrying ACSE.
pub const ACSE_CONTEXT: i64 = 1;
/// Presentation context id carrying MMS.
pub const MMS_CONTEXT: i64 = 3;

fn oid_acse() -> Oid {
    Oid(vec![2, 2, 1, 0, 1])
}
fn oid_mms_abstract_syntax() -> Oid {
    Oid(vec![1, 0, 9506, 2, 1])
}
fn oid_ber() -> Oid {
    Oid(vec![2, 1, 1])
}
/// The MMS application context name (ISO 9506-2), carried in AARQ/AARE.
pub fn oid_mms_application_context() -> Oid {
    Oid(vec![1, 0, 9506, 2, 3])
}

/// What went wrong in the session, presentation or ACSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OsiError {
    /// A BER element inside the presentation or ACSE PDU is malformed.
    #[error("presentation/ACSE: {0}")]
    Ber(#[from] BerError),
    /// The session PDU is empty or its length runs past the TSDU.
    #[error("session PDU truncated at offset {offset}")]
    SessionTruncated {
        /// Offset within the TSDU.
        offset: usize,
    },
    /// A session PDU type this kernel-only implementation does not handle.
    #[error("unsupported session PDU type {0}")]
    UnsupportedSpdu(u8),
    /// User data carried in a presentation context we did not define.
    #[error("presentation context {0} is not ACSE (1) or MMS (3)")]
    UnknownContext(i64),
    /// The presentation PDU has no user data where some is required.
    #[error("presentation PDU carries no user data")]
    NoUserData,
    /// An ACSE APDU we do not handle.
    #[error("unsupported ACSE APDU {0}")]
    UnsupportedAcse(Tag),
}

/// Addressing of both ends (selectors of each layer and optional AP titles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    /// Calling session selector.
    pub calling_ssel: Vec<u8>,
    /// Called session selector.
    pub called_ssel: Vec<u8>,
    /// Calling presentation selector.
    pub calling_psel: Vec<u8>,
    /// Called presentation selector.
    pub called_psel: Vec<u8>,
    /// Called AP title and AE qualifier, when the server wants them.
    pub called_ap: Option<(Oid, i64)>,
    /// Calling AP title and AE qualifier.
    pub calling_ap: Option<(Oid, i64)>,
}

impl Default for Addresses {
    /// The selectors IEC 61850 servers are usually configured with (0001 / 00000001).
    fn default() -> Addresses {
        Addresses {
            calling_ssel: vec![0, 1],
            called_ssel: vec![0, 1],
            calling_psel: vec![0, 0, 0, 1],
            called_psel: vec![0, 0, 0, 1],
            called_ap: None,
            calling_ap: None,
        }
    }
}

/// Password authentication carried in the AARQ (ISO 8650 "password" mechanism, IEC 62351-4 weak
/// authentication).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    /// The password (GraphicString).
    pub password: Vec<u8>,
}

/// An ACSE or MMS PDU peeled out of a session PDU.
#[derive(Debug, Clone, PartialEq)]
pub enum UpperPdu<'a> {
    /// CN with CP and AARQ: the MMS initiate-Request bytes inside.
    Connect {
        /// MMS PDU bytes in the AARQ user information.
        mms: &'a [u8],
    },
    /// AC with CPA and AARE.
    Accept {
        /// The AARE result (0 accepted, 1 rejected permanent, 2 rejected transient).
        result: i64,
        /// MMS PDU bytes in the AARE user information (initiate-Response or -Error).
        mms: Option<&'a [u8]>,
    },
    /// DT with an MMS PDU.
    Data {
        /// MMS PDU bytes.
        mms: &'a [u8],
    },
    /// FN with an ACSE release request.
    Finish,
    /// DN, with an ACSE release response.
    Disconnect,
    /// AB: the peer aborted the association.
    Abort,
    /// RF: the peer refused the session connection.
    Refuse {
        /// The refuse reason octet, when present.
        reason: Option<u8>,
    },
}

// ---------------------------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------------------------

const SPDU_CONNECT: u8 = 13;
const SPDU_ACCEPT: u8 = 14;
const SPDU_REFUSE: u8 = 12;
const SPDU_FINISH: u8 = 9;
const SPDU_DISCONNECT: u8 = 10;
const SPDU_ABORT: u8 = 25;
const SPDU_DATA_OR_GIVE_TOKENS: u8 = 1;
const PI_USER_DATA: u8 = 193;
const PI_EXTENDED_USER_DATA: u8 = 194;
const PI_REFUSE_REASON: u8 = 50;

fn push_session_len(out: &mut Vec<u8>, len: usize) {
    match u8::try_from(len) {
        // 0xff announces the two-octet form.
        Ok(short) if short < 0xff => out.push(short),
        _ => {
            out.push(0xff);
            out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
        }
    }
}

fn push_param(out: &mut Vec<u8>, pi: u8, value: &[u8]) {
    out.push(pi);
    push_session_len(out, value.len());
    out.extend_from_slice(value);
}

fn spdu(si: u8, params: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(params.len() + 4);
    out.push(si);
    push_session_len(&mut out, params.len());
    out.extend_from_slice(params);
    out
}

/// Reads an SI/LI header at `at`: returns (identifier, value range).
fn read_session_header(buf: &[u8], at: usize) -> Result<(u8, std::ops::Range<usize>), OsiError> {
    let truncated = OsiError::SessionTruncated { offset: at };
    let si = *buf.get(at).ok_or(truncated.clone())?;
    let first = *buf.get(at + 1).ok_or(truncated.clone())?;
    let (len, start) = if first == 0xff {
        let hi = *buf.get(at + 2).ok_or(truncated.clone())?;
        let lo = *buf.get(at + 3).ok_or(truncated.clone())?;
        (usize::from(u16::from_be_bytes([hi, lo])), at + 4)
    } else {
        (usize::from(first), at + 2)
    };
    if start + len > buf.len() {
        return Err(truncated);
    }
    Ok((si, start..start + len))
}

/// Finds a parameter among the parameters in `tsdu[params]`: returns its value range in `tsdu`.
fn session_param(tsdu: &[u8], params: std::ops::Range<usize>, wanted: &[u8]) -> Result<Option<std::ops::Range<usize>>, OsiError> {
    let mut at = params.start;
    while at < params.end {
        let (pi, range) = read_session_header(tsdu, at)?;
        if wanted.contains(&pi) {
            return Ok(Some(range));
        }
        at = range.end;
    }
    Ok(None)
}

/// Peels a received session PDU (a whole TSDU) down to ACSE/MMS.
pub fn decode_spdu(tsdu: &[u8]) -> Result<UpperPdu<'_>, OsiError> {
    let (si, range) = read_session_header(tsdu, 0)?;
    let user = || -> Result<(&[u8], usize), OsiError> {
        let found = session_param(tsdu, range.clone(), &[PI_USER_DATA, PI_EXTENDED_USER_DATA])?.ok_or(OsiError::NoUserData)?;
        Ok((tsdu.get(found.clone()).unwrap_or_default(), found.start))
    };
    match si {
        SPDU_DATA_OR_GIVE_TOKENS => {
            // Give Tokens (empty) followed by Data Transfer; the user information follows the
            // DT header rather than being a parameter.
            let (si2, dt) = read_session_header(tsdu, range.end)?;
            if si2 != SPDU_DATA_OR_GIVE_TOKENS {
                return Err(OsiError::UnsupportedSpdu(si2));
            }
            let mms = decode_presentation_data(tsdu.get(dt.end..).unwrap_or_default(), dt.end)?;
            Ok(UpperPdu::Data { mms })
        }
        SPDU_CONNECT => {
            let (user, base) = user()?;
            Ok(UpperPdu::Connect { mms: decode_cp(user, base)? })
        }
        SPDU_ACCEPT => {
            let (user, base) = user()?;
            let (result, mms) = decode_cpa(user, base)?;
            Ok(UpperPdu::Accept { result, mms })
        }
        SPDU_REFUSE => {
            let reason = session_param(tsdu, range.clone(), &[PI_REFUSE_REASON])?.and_then(|r| tsdu.get(r.start).copied());
            Ok(UpperPdu::Refuse { reason })
        }
        SPDU_FINISH => Ok(UpperPdu::Finish),
        SPDU_DISCONNECT => Ok(UpperPdu::Disconnect),
        SPDU_ABORT => Ok(UpperPdu::Abort),
        other => Err(OsiError::UnsupportedSpdu(other)),
    }
}

// ---------------------------------------------------------------------------------------------
// Presentation
// ---------------------------------------------------------------------------------------------

fn write_pdv(out: &mut Vec<u8>, context: i64, apdu: &[u8]) {
    ber::write_constructed(out, Tag::application_constructed(1), |out| {
        ber::write_constructed(out, Tag::SEQUENCE, |out| {
            ber::write_i64(out, Tag::INTEGER, context);
            ber::write_constructed(out, Tag::context_constructed(0), |out| out.extend_from_slice(apdu));
        });
    });
}

/// Reads fully-encoded user data: returns (context id, single-ASN1-type bytes) of the first PDV.
fn read_user_data<'a>(user: &ber::Tlv<'a>) -> Result<(i64, &'a [u8]), OsiError> {
    if user.tag != Tag::application_constructed(1) {
        return Err(user.unexpected("fully-encoded-data").into());
    }
    let mut list = user.reader();
    let pdv = list.expect(Tag::SEQUENCE, "PDV-list")?;
    let mut r = pdv.reader();
    r.optional(Tag::OID)?; // transfer-syntax-name
    let context = r.expect(Tag::INTEGER, "presentation-context-identifier")?.as_i64()?;
    let value = r.expect(Tag::context_constructed(0), "single-ASN1-type")?;
    Ok((context, value.value))
}

fn decode_presentation_data(bytes: &[u8], base: usize) -> Result<&[u8], OsiError> {
    let user = Reader::with_base(bytes, base).read()?;
    match read_user_data(&user)? {
        (MMS_CONTEXT, mms) => Ok(mms),
        (other, _) => Err(OsiError::UnknownContext(other)),
    }
}

/// CP-type: returns the MMS bytes of the AARQ inside.
fn decode_cp(bytes: &[u8], base: usize) -> Result<&[u8], OsiError> {
    let cp = Reader::with_base(bytes, base).expect(Tag::SET, "CP-type")?;
    let mut r = cp.reader();
    while !r.is_empty() {
        let tlv = r.read()?;
        if tlv.tag == Tag::context_constructed(2) {
            let mut params = tlv.reader();
            while !params.is_empty() {
                let p = params.read()?;
                if p.tag == Tag::application_constructed(1) {
                    let (_, acse) = read_user_data(&p)?;
                    return match decode_acse(acse, p.value_offset)? {
                        Acse::Request { mms } => Ok(mms),
                        _ => Err(OsiError::NoUserData),
                    };
                }
            }
        }
    }
    Err(OsiError::NoUserData)
}

/// CPA-PPDU: returns the AARE result and the MMS bytes inside.
fn decode_cpa(bytes: &[u8], base: usize) -> Result<(i64, Option<&[u8]>), OsiError> {
    let cpa = Reader::with_base(bytes, base).expect(Tag::SET, "CPA-PPDU")?;
    let mut r = cpa.reader();
    while !r.is_empty() {
        let tlv = r.read()?;
        if tlv.tag == Tag::context_constructed(2) {
            let mut params = tlv.reader();
            while !params.is_empty() {
                let p = params.read()?;
                if p.tag == Tag::application_constructed(1) {
                    let (_, acse) = read_user_data(&p)?;
                    return match decode_acse(acse, p.value_offset)? {
                        Acse::Response { result, mms } => Ok((result, mms)),
                        _ => Err(OsiError::NoUserData),
                    };
                }
            }
        }
    }
    Err(OsiError::NoUserData)
}

// ---------------------------------------------------------------------------------------------
// ACSE
// ---------------------------------------------------------------------------------------------

enum Acse<'a> {
    Request { mms: &'a [u8] },
    Response { result: i64, mms: Option<&'a [u8]> },
    Other,
}

fn decode_acse(bytes: &[u8], base: usize) -> Result<Acse<'_>, OsiError> {
    let apdu = Reader::with_base(bytes, base).read()?;
    match apdu.tag {
        t if t == Tag::application_constructed(0) => Ok(Acse::Request { mms: acse_user_information(&apdu)?.ok_or(OsiError::NoUserData)? }),
        t if t == Tag::application_constructed(1) => {
            let mut result = None;
            let mut r = apdu.reader();
            while !r.is_empty() {
                let tlv = r.read()?;
                if tlv.tag == Tag::context_constructed(2) {
                    result = Some(tlv.reader().expect(Tag::INTEGER, "AARE result")?.as_i64()?);
                }
            }
            let result = result.ok_or(BerError::Missing { offset: apdu.offset, what: "AARE result" })?;
            Ok(Acse::Response { result, mms: acse_user_information(&apdu)? })
        }
        t if t.class == ber::Class::Application && t.number <= 4 => Ok(Acse::Other),
        other => Err(OsiError::UnsupportedAcse(other)),
    }
}

/// The MMS PDU in an AARQ/AARE's user-information EXTERNAL (single-ASN1-type).
fn acse_user_information<'a>(apdu: &ber::Tlv<'a>) -> Result<Option<&'a [u8]>, OsiError> {
    let mut r = apdu.reader();
    while !r.is_empty() {
        let tlv = r.read()?;
        if tlv.tag == Tag::context_constructed(30) {
            let external = tlv.reader().expect(Tag::EXTERNAL, "EXTERNAL")?;
            let mut e = external.reader();
            e.optional(Tag::OID)?;
            e.optional(Tag::INTEGER)?;
            return Ok(Some(e.expect(Tag::context_constructed(0), "single-ASN1-type")?.value));
        }
    }
    Ok(None)
}

fn write_ap_title(out: &mut Vec<u8>, title_tag: u32, qualifier_tag: u32, ap: &(Oid, i64)) {
    ber::write_constructed(out, Tag::context_constructed(title_tag), |out| ber::write_oid(out, Tag::OID, &ap.0));
    ber::write_constructed(out, Tag::context_constructed(qualifier_tag), |out| ber::write_i64(out, Tag::INTEGER, ap.1));
}

fn write_aarq(out: &mut Vec<u8>, addresses: &Addresses, auth: Option<&Authentication>, mms: &[u8]) {
    ber::write_constructed(out, Tag::application_constructed(0), |out| {
        ber::write_constructed(out, Tag::context_constructed(1), |out| {
            ber::write_oid(out, Tag::OID, &oid_mms_application_context());
        });
        if let Some(ap) = &addresses.called_ap {
            write_ap_title(out, 2, 3, ap);
        }
        if let Some(ap) = &addresses.calling_ap {
            write_ap_title(out, 6, 7, ap);
        }
        if let Some(auth) = auth {
            // sender-acse-requirements: authentication; mechanism-name: password (2.2.3.1)
            ber::write_bit_string(out, Tag::context(10), &ber::BitString::with_bits(1, &[0]));
            ber::write_oid(out, Tag::context(11), &Oid(vec![2, 2, 3, 1]));
            ber::write_constructed(out, Tag::context_constructed(12), |out| {
                ber::write_primitive(out, Tag::context(0), &auth.password);
            });
        }
        ber::write_constructed(out, Tag::context_constructed(30), |out| {
            ber::write_constructed(out, Tag::EXTERNAL, |out| {
                ber::write_oid(out, Tag::OID, &oid_ber());
                ber::write_i64(out, Tag::INTEGER, MMS_CONTEXT);
                ber::write_constructed(out, Tag::context_constructed(0), |out| out.extend_from_slice(mms));
            });
        });
    });
}

// ---------------------------------------------------------------------------------------------
// Encoders for the client's side of the association
// ---------------------------------------------------------------------------------------------

/// The CN SPDU carrying CP + AARQ + the MMS initiate-Request `mms`.
pub fn encode_connect(addresses: &Addresses, auth: Option<&Authentication>, mms: &[u8]) -> Vec<u8> {
    let mut cp = Vec::new();
    ber::write_constructed(&mut cp, Tag::SET, |out| {
        ber::write_constructed(out, Tag::context_constructed(0), |out| ber::write_i64(out, Tag::context(0), 1));
        ber::write_constructed(out, Tag::context_constructed(2), |out| {
            ber::write_primitive(out, Tag::context(1), &addresses.calling_psel);
            ber::write_primitive(out, Tag::context(2), &addresses.called_psel);
            ber::write_constructed(out, Tag::context_constructed(4), |out| {
                for (id, syntax) in [(ACSE_CONTEXT, oid_acse()), (MMS_CONTEXT, oid_mms_abstract_syntax())] {
                    ber::write_constructed(out, Tag::SEQUENCE, |out| {
                        ber::write_i64(out, Tag::INTEGER, id);
                        ber::write_oid(out, Tag::OID, &syntax);
                        ber::write_constructed(out, Tag::SEQUENCE, |out| ber::write_oid(out, Tag::OID, &oid_ber()));
                    });
                }
            });
            let mut aarq = Vec::new();
            write_aarq(&mut aarq, addresses, auth, mms);
            write_pdv(out, ACSE_CONTEXT, &aarq);
        });
    });
    let mut params = Vec::new();
    // Connect Accept Item: protocol options 0, version 2.
    push_param(&mut params, 5, &[0x13, 1, 0, 0x16, 1, 2]);
    // Session requirements: duplex functional unit only.
    push_param(&mut params, 20, &[0, 2]);
    push_param(&mut params, 51, &addresses.calling_ssel);
    push_param(&mut params, 52, &addresses.called_ssel);
    push_param(&mut params, PI_USER_DATA, &cp);
    spdu(SPDU_CONNECT, &params)
}

/// Give Tokens + DT SPDU with one MMS PDU in the MMS presentation context.
pub fn encode_data(mms: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(mms.len() + 16);
    out.extend_from_slice(&[SPDU_DATA_OR_GIVE_TOKENS, 0, SPDU_DATA_OR_GIVE_TOKENS, 0]);
    write_pdv(&mut out, MMS_CONTEXT, mms);
    out
}

/// FN SPDU with an ACSE release request (RLRQ, reason normal).
pub fn encode_release_request() -> Vec<u8> {
    let mut rlrq = Vec::new();
    ber::write_constructed(&mut rlrq, Tag::application_constructed(2), |out| ber::write_i64(out, Tag::context(0), 0));
    let mut user = Vec::new();
    write_pdv(&mut user, ACSE_CONTEXT, &rlrq);
    let mut params = Vec::new();
    // Transport disconnect: release the transport connection.
    push_param(&mut params, 17, &[1]);
    push_param(&mut params, PI_USER_DATA, &user);
    spdu(SPDU_FINISH, &params)
}

/// AB SPDU (transport disconnect) used to abort the association.
pub fn encode_abort() -> Vec<u8> {
    let mut params = Vec::new();
    push_param(&mut params, 17, &[0x0b]);
    spdu(SPDU_ABORT, &params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn connect_from_a_capture_yields_the_initiate_request() {
        // iec61850_read.pcap frame 8 after TPKT/COTP.
        let tsdu = hex(
            "0db20506130100160102140200023302000134020001c19c318199a003800101a28191810400000001820400000001a423300f0201010604520100013004060251013010020103060528ca22020130040602510188020600615a3058020101a053605180020780a107060528ca220203a20606042bce0f02a303020117be35283306025101020103a02aa82880027530810203e8820203e8830105a417800101810305fb00820d03ffffffffffffffffffffff00",
        );
        let UpperPdu::Connect { mms } = decode_spdu(&tsdu).unwrap() else { panic!("not a connect") };
        assert_eq!(&mms[..4], &[0xa8, 0x28, 0x80, 0x02]);
        assert_eq!(mms.len(), 42);
    }

    #[test]
    fn our_connect_decodes_back() {
        let addresses = Addresses { called_ap: Some((Oid(vec![1, 3, 9999, 33]), 33)), ..Addresses::default() };
        let spdu = encode_connect(&addresses, Some(&Authentication { password: b"secret".to_vec() }), &[0xa8, 0x00]);
        assert_eq!(decode_spdu(&spdu).unwrap(), UpperPdu::Connect { mms: &[0xa8, 0x00] });
    }

    #[test]
    fn data_round_trips_and_long_lengths_work() {
        let mms = vec![0xa0; 300];
        let spdu = encode_data(&mms);
        assert_eq!(decode_spdu(&spdu).unwrap(), UpperPdu::Data { mms: &mms });
        assert_eq!(decode_spdu(&encode_release_request()).unwrap(), UpperPdu::Finish);
        let long = encode_connect(&Addresses::default(), None, &vec![0x5a; 400]);
        assert_eq!(&long[1..2], &[0xff]);
        assert!(matches!(decode_spdu(&long).unwrap(), UpperPdu::Connect { mms } if mms.len() == 400));
    }

    #[test]
    fn accept_with_result_and_mms() {
        // An AC built like libiec61850's: CPA with result list and AARE accepted.
        let mut aare = Vec::new();
        ber::write_constructed(&mut aare, Tag::application_constructed(1), |out| {
            ber::write_constructed(out, Tag::context_constructed(1), |out| ber::write_oid(out, Tag::OID, &oid_mms_application_context()));
            ber::write_constructed(out, Tag::context_constructed(2), |out| ber::write_i64(out, Tag::INTEGER, 0));
            ber::write_constructed(out, Tag::context_constructed(30), |out| {
                ber::write_constructed(out, Tag::EXTERNAL, |out| {
                    ber::write_i64(out, Tag::INTEGER, 3);
                    ber::write_constructed(out, Tag::context_constructed(0), |out| out.extend_from_slice(&[0xa9, 0]));
                })
            });
        });
        let mut cpa = Vec::new();
        ber::write_constructed(&mut cpa, Tag::SET, |out| {
            ber::write_constructed(out, Tag::context_constructed(0), |out| ber::write_i64(out, Tag::context(0), 1));
            ber::write_constructed(out, Tag::context_constructed(2), |out| {
                ber::write_primitive(out, Tag::context(3), &[0, 0, 0, 1]);
                write_pdv(out, ACSE_CONTEXT, &aare);
            });
        });
        let mut params = Vec::new();
        push_param(&mut params, PI_USER_DATA, &cpa);
        let ac = spdu(SPDU_ACCEPT, &params);
        assert_eq!(decode_spdu(&ac).unwrap(), UpperPdu::Accept { result: 0, mms: Some(&[0xa9, 0][..]) });
    }

    #[test]
    fn bad_session_pdus_are_typed_errors() {
        assert_eq!(decode_spdu(&[]), Err(OsiError::SessionTruncated { offset: 0 }));
        assert_eq!(decode_spdu(&[1, 0, 1]), Err(OsiError::SessionTruncated { offset: 2 }));
        assert_eq!(decode_spdu(&[0x77, 0]), Err(OsiError::UnsupportedSpdu(0x77)));
        assert!(matches!(decode_spdu(&[1, 0, 1, 0, 0x61, 0x80]), Err(OsiError::Ber(BerError::IndefiniteLength { offset: 5 }))));
    }
}
