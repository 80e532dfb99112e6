//! The canonical binary encoding of a [`Record`], version 1.
//!
//! The chain of trust hashes records, so a record must have exactly one encoding: all integers
//! are big-endian and fixed width, there are no optional padding or alternative forms, NaN has
//! one bit pattern, and the decoder refuses any input that would not re-encode to itself.
//!
//! ```text
//! offset  size  field
//! 0       1     format version, always 0x01
//! 1       8     seq (u64)
//! 9       2     point id length N (u16, 1..=255)
//! 11      N     point id, ASCII
//! ..      1     value tag, then the value body:
//!                 0x01 single       1 byte  (0 or 1)
//!                 0x02 double       1 byte  (0..=3: intermediate, off, on, indeterminate)
//!                 0x03 step         2 bytes (i8 position in -64..=63, transient 0 or 1)
//!                 0x04 bitstring    4 bytes (u32)
//!                 0x05 normalized   2 bytes (i16)
//!                 0x06 scaled       4 bytes (i32)
//!                 0x07 float        4 bytes (IEEE 754 binary32; NaN only as 0x7fc00000)
//!                 0x08 counter      7 bytes (i32 value, u8 sequence 0..=31, carry 0/1, adjusted 0/1)
//! ..      2     quality bits (u16, IEC 61850 layout, bits 13..15 zero)
//! ..      1     source time present (0 or 1); when 1:
//!                 8 bytes i64 nanoseconds since the Unix epoch
//!                 1 byte  time quality flags (bit 0 invalid, 1 not synchronised,
//!                         2 substituted, 3 leap seconds known, 4..7 zero)
//!                 1 byte  accuracy bits (0..=24 or 31)
//! ..      8     received at (i64 nanoseconds since the Unix epoch)
//! ```
//!
//! A new field means a new version byte; version 1 stays decodable forever.

use crate::{DoublePoint, PointId, Quality, Record, TimeQuality, Timestamp, Value};

/// The format version written by this build.
pub const VERSION: u8 = 1;

const NAN_BITS: u32 = 0x7fc0_0000;

/// Why bytes are not a canonical record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record ends at byte {offset} while reading {field}")]
    Truncated { field: &'static str, offset: usize },
    #[error("record format version {0} is not supported (this build reads version {VERSION})")]
    UnsupportedVersion(u8),
    #[error("field {field} at byte {offset} holds {value}, which is not allowed")]
    BadField { field: &'static str, offset: usize, value: u64 },
    #[error("point id at byte {offset} is invalid: {reason}")]
    BadPointId { offset: usize, reason: String },
    #[error("{0} bytes follow the end of the record")]
    TrailingBytes(usize),
}

pub(crate) fn encode_record(r: &Record, out: &mut Vec<u8>) {
    out.push(VERSION);
    out.extend_from_slice(&r.seq.to_be_bytes());
    let id = r.point.as_str().as_bytes();
    // PointId guarantees its length fits (MAX_LEN = 255).
    out.extend_from_slice(&u16::try_from(id.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(id);
    match r.value {
        Value::Single(b) => out.extend_from_slice(&[0x01, u8::from(b)]),
        Value::Double(d) => out.extend_from_slice(&[0x02, d.code()]),
        Value::Step { position, transient } => {
            out.extend_from_slice(&[0x03, position.to_be_bytes()[0], u8::from(transient)]);
        }
        Value::Bitstring(b) => {
            out.push(0x04);
            out.extend_from_slice(&b.to_be_bytes());
        }
        Value::Normalized(n) => {
            out.push(0x05);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Value::Scaled(s) => {
            out.push(0x06);
            out.extend_from_slice(&s.to_be_bytes());
        }
        Value::Float(f) => {
            out.push(0x07);
            let bits = if f.is_nan() { NAN_BITS } else { f.to_bits() };
            out.extend_from_slice(&bits.to_be_bytes());
        }
        Value::Counter { value, sequence, carry, adjusted } => {
            out.push(0x08);
            out.extend_from_slice(&value.to_be_bytes());
            out.extend_from_slice(&[sequence, u8::from(carry), u8::from(adjusted)]);
        }
    }
    out.extend_from_slice(&r.quality.bits().to_be_bytes());
    match r.source_time {
        None => out.push(0),
        Some((t, q)) => {
            out.push(1);
            out.extend_from_slice(&t.0.to_be_bytes());
            out.extend_from_slice(&[q.flag_bits(), q.accuracy_bits]);
        }
    }
    out.extend_from_slice(&r.received_at.0.to_be_bytes());
}

/// A bounds-checked reader that names the field it failed on.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(DecodeError::Truncated { field, offset: self.bytes.len() })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }
    fn flag(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        let offset = self.pos;
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(DecodeError::BadField { field, offset, value: u64::from(v) }),
        }
    }
}

pub(crate) fn decode_record(bytes: &[u8]) -> Result<Record, DecodeError> {
    let mut r = Reader { bytes, pos: 0 };
    let version = r.u8("version")?;
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let seq = u64::from_be_bytes(r.array("seq")?);
    let len_offset = r.pos;
    let len = u16::from_be_bytes(r.array("point id length")?);
    let id_offset = r.pos;
    let id = r.take(usize::from(len), "point id")?;
    if len == 0 || usize::from(len) > PointId::MAX_LEN {
        return Err(DecodeError::BadField { field: "point id length", offset: len_offset, value: u64::from(len) });
    }
    let id = std::str::from_utf8(id).map_err(|e| DecodeError::BadPointId { offset: id_offset, reason: e.to_string() })?;
    let point = PointId::new(id).map_err(|e| DecodeError::BadPointId { offset: id_offset, reason: e.to_string() })?;

    let tag_offset = r.pos;
    let value = match r.u8("value tag")? {
        0x01 => Value::Single(r.flag("single value")?),
        0x02 => {
            let offset = r.pos;
            let code = r.u8("double value")?;
            if code > 3 {
                return Err(DecodeError::BadField { field: "double value", offset, value: u64::from(code) });
            }
            Value::Double(DoublePoint::from_code(code))
        }
        0x03 => {
            let offset = r.pos;
            let position = i8::from_be_bytes(r.array("step position")?);
            if !(-64..=63).contains(&position) {
                return Err(DecodeError::BadField { field: "step position", offset, value: u64::from(position.cast_unsigned()) });
            }
            Value::Step { position, transient: r.flag("step transient")? }
        }
        0x04 => Value::Bitstring(u32::from_be_bytes(r.array("bitstring")?)),
        0x05 => Value::Normalized(i16::from_be_bytes(r.array("normalized")?)),
        0x06 => Value::Scaled(i32::from_be_bytes(r.array("scaled")?)),
        0x07 => {
            let offset = r.pos;
            let bits = u32::from_be_bytes(r.array("float")?);
            let f = f32::from_bits(bits);
            if f.is_nan() && bits != NAN_BITS {
                return Err(DecodeError::BadField { field: "float", offset, value: u64::from(bits) });
            }
            Value::Float(f)
        }
        0x08 => {
            let value = i32::from_be_bytes(r.array("counter value")?);
            let offset = r.pos;
            let sequence = r.u8("counter sequence")?;
            if sequence > 31 {
                return Err(DecodeError::BadField { field: "counter sequence", offset, value: u64::from(sequence) });
            }
            Value::Counter { value, sequence, carry: r.flag("counter carry")?, adjusted: r.flag("counter adjusted")? }
        }
        tag => return Err(DecodeError::BadField { field: "value tag", offset: tag_offset, value: u64::from(tag) }),
    };
    let q_offset = r.pos;
    let q_bits = u16::from_be_bytes(r.array("quality")?);
    let quality =
        Quality::from_bits(q_bits).ok_or(DecodeError::BadField { field: "quality", offset: q_offset, value: u64::from(q_bits) })?;
    let source_time = if r.flag("source time present")? {
        let t = Timestamp(i64::from_be_bytes(r.array("source time")?));
        let tq_offset = r.pos;
        let flags = r.u8("time quality")?;
        let accuracy = r.u8("time accuracy")?;
        let tq = TimeQuality::from_parts(flags, accuracy).ok_or(DecodeError::BadField {
            field: "time quality",
            offset: tq_offset,
            value: u64::from(u16::from_be_bytes([flags, accuracy])),
        })?;
        Some((t, tq))
    } else {
        None
    };
    let received_at = Timestamp(i64::from_be_bytes(r.array("received at")?));
    if r.pos != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - r.pos));
    }
    Ok(Record { seq, point, value, quality, source_time, received_at })
}
