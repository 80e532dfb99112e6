//! A small BER codec (X.690) covering what the ISO stack and MMS use.
//!
//! Decoding is zero-copy over `&[u8]`: a [`Reader`] yields [`Tlv`]s whose values borrow the
//! input, and every error carries the absolute offset into the buffer the reader started on, so a
//! bad byte can be found in a capture. Only definite lengths are accepted: MMS over the ISO stack
//! (ISO 9506-2 with the basic encoding in the presentation contexts used by IEC 61850) never needs
//! the indefinite form, and refusing it bounds work per byte. Encoding appends to a caller's
//! `Vec<u8>`, with lengths back-patched so nested structures need no second pass.

use std::fmt;

/// Bound on nesting handed to recursive decoders (MMS Data, type descriptions), so hostile input
/// cannot exhaust the stack.
pub const MAX_DEPTH: usize = 32;

/// The class bits of an identifier octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Types defined in X.680 (INTEGER, SEQUENCE, ...).
    Universal,
    /// Application-wide tags (session/presentation/ACSE PDUs).
    Application,
    /// Context-specific tags, the bulk of MMS.
    Context,
    /// Private tags (unused by MMS, decoded for completeness).
    Private,
}

/// A BER identifier: class, primitive/constructed and tag number (high tag numbers included).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag {
    /// Class of the tag.
    pub class: Class,
    /// Whether the value is itself a series of TLVs.
    pub constructed: bool,
    /// Tag number.
    pub number: u32,
}

impl Tag {
    /// A context-specific primitive tag `[n]`.
    pub const fn context(number: u32) -> Tag {
        Tag { class: Class::Context, constructed: false, number }
    }
    /// A context-specific constructed tag `[n]`.
    pub const fn context_constructed(number: u32) -> Tag {
        Tag { class: Class::Context, constructed: true, number }
    }
    /// An application primitive tag.
    pub const fn application(number: u32) -> Tag {
        Tag { class: Class::Application, constructed: false, number }
    }
    /// An application constructed tag.
    pub const fn application_constructed(number: u32) -> Tag {
        Tag { class: Class::Application, constructed: true, number }
    }
    /// A universal primitive tag.
    pub const fn universal(number: u32) -> Tag {
        Tag { class: Class::Universal, constructed: false, number }
    }
    /// A universal constructed tag.
    pub const fn universal_constructed(number: u32) -> Tag {
        Tag { class: Class::Universal, constructed: true, number }
    }
    /// UNIVERSAL 1 BOOLEAN.
    pub const BOOLEAN: Tag = Tag::universal(1);
    /// UNIVERSAL 2 INTEGER.
    pub const INTEGER: Tag = Tag::universal(2);
    /// UNIVERSAL 3 BIT STRING.
    pub const BIT_STRING: Tag = Tag::universal(3);
    /// UNIVERSAL 4 OCTET STRING.
    pub const OCTET_STRING: Tag = Tag::universal(4);
    /// UNIVERSAL 5 NULL.
    pub const NULL: Tag = Tag::universal(5);
    /// UNIVERSAL 6 OBJECT IDENTIFIER.
    pub const OID: Tag = Tag::universal(6);
    /// UNIVERSAL 8 EXTERNAL (constructed).
    pub const EXTERNAL: Tag = Tag::universal_constructed(8);
    /// UNIVERSAL 16 SEQUENCE (constructed).
    pub const SEQUENCE: Tag = Tag::universal_constructed(16);
    /// UNIVERSAL 17 SET (constructed).
    pub const SET: Tag = Tag::universal_constructed(17);
    /// UNIVERSAL 26 VisibleString (MMS Identifier).
    pub const VISIBLE_STRING: Tag = Tag::universal(26);

    /// The same tag with the constructed bit cleared or set.
    pub const fn with_constructed(self, constructed: bool) -> Tag {
        Tag { class: self.class, constructed, number: self.number }
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = match self.class {
            Class::Universal => "UNIVERSAL ",
            Class::Application => "APPLICATION ",
            Class::Context => "",
            Class::Private => "PRIVATE ",
        };
        let form = if self.constructed { "c" } else { "p" };
        write!(f, "[{class}{}]{form}", self.number)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What went wrong decoding BER, and where (absolute offset in the buffer the reader began on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    /// The buffer ends inside a tag, length or value.
    #[error("truncated at offset {offset}: {needed} more byte(s) needed")]
    Truncated {
        /// Offset where the missing bytes start.
        offset: usize,
        /// How many more bytes were needed.
        needed: usize,
    },
    /// Indefinite length (0x80) where only definite lengths are allowed.
    #[error("indefinite length at offset {offset} (MMS uses definite lengths only)")]
    IndefiniteLength {
        /// Offset of the length octet.
        offset: usize,
    },
    /// A length that does not fit in a usize or uses more than 4 octets.
    #[error("length at offset {offset} is too large")]
    LengthTooLarge {
        /// Offset of the length octets.
        offset: usize,
    },
    /// A tag number that does not fit in 32 bits.
    #[error("tag number at offset {offset} is too large")]
    TagTooLarge {
        /// Offset of the identifier.
        offset: usize,
    },
    /// A different tag than the grammar allows here.
    #[error("unexpected tag {found} at offset {offset}, expected {expected}")]
    UnexpectedTag {
        /// Offset of the identifier.
        offset: usize,
        /// What the grammar wanted.
        expected: &'static str,
        /// What was found.
        found: Tag,
    },
    /// A mandatory element is absent.
    #[error("missing {what} at offset {offset}")]
    Missing {
        /// Offset where it was expected.
        offset: usize,
        /// Which element.
        what: &'static str,
    },
    /// The value octets do not form a valid value of the type.
    #[error("invalid {what} at offset {offset}")]
    InvalidValue {
        /// Offset of the value.
        offset: usize,
        /// What kind of value.
        what: &'static str,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH} at offset {offset}")]
    TooDeep {
        /// Offset of the element that was too deep.
        offset: usize,
    },
}

/// One decoded element: its tag and the value octets (borrowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The identifier.
    pub tag: Tag,
    /// The value octets.
    pub value: &'a [u8],
    /// Absolute offset of the identifier octet.
    pub offset: usize,
    /// Absolute offset of the first value octet.
    pub value_offset: usize,
}

/// Reads consecutive TLVs from a buffer.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over a whole buffer; offsets in errors count from its start.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0, base: 0 }
    }

    /// A reader whose offsets are reported relative to an outer buffer (`base` is where `buf`
    /// starts in it).
    pub fn with_base(buf: &'a [u8], base: usize) -> Reader<'a> {
        Reader { buf, pos: 0, base }
    }

    /// True when every element has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Absolute offset of the next unread byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    fn byte(&self, at: usize) -> Result<u8, BerError> {
        self.buf.get(at).copied().ok_or(BerError::Truncated { offset: self.base + at, needed: 1 })
    }

    /// Reads the next element.
    pub fn read(&mut self) -> Result<Tlv<'a>, BerError> {
        let start = self.pos;
        let first = self.byte(start)?;
        let class = match first >> 6 {
            0 => Class::Universal,
            1 => Class::Application,
            2 => Class::Context,
            _ => Class::Private,
        };
        let constructed = first & 0x20 != 0;
        let mut at = start + 1;
        let mut number = u32::from(first & 0x1f);
        if number == 0x1f {
            number = 0;
            loop {
                let b = self.byte(at)?;
                at += 1;
                if number > (u32::MAX >> 7) {
                    return Err(BerError::TagTooLarge { offset: self.base + start });
                }
                number = (number << 7) | u32::from(b & 0x7f);
                if b & 0x80 == 0 {
                    break;
                }
            }
        }
        let len_offset = at;
        let first_len = self.byte(at)?;
        at += 1;
        let len = if first_len < 0x80 {
            usize::from(first_len)
        } else if first_len == 0x80 {
            return Err(BerError::IndefiniteLength { offset: self.base + len_offset });
        } else {
            let count = usize::from(first_len & 0x7f);
            if count > 4 {
                return Err(BerError::LengthTooLarge { offset: self.base + len_offset });
            }
            let mut len: usize = 0;
            for _ in 0..count {
                len = (len << 8) | usize::from(self.byte(at)?);
                at += 1;
            }
            len
        };
        let end = at.checked_add(len).ok_or(BerError::LengthTooLarge { offset: self.base + len_offset })?;
        let value = self
            .buf
            .get(at..end)
            .ok_or(BerError::Truncated { offset: self.base + self.buf.len(), needed: end.saturating_sub(self.buf.len()) })?;
        self.pos = end;
        Ok(Tlv { tag: Tag { class, constructed, number }, value, offset: self.base + start, value_offset: self.base + at })
    }

    /// The tag of the next element without consuming it (None at the end).
    pub fn peek_tag(&self) -> Option<Tag> {
        self.clone().read().ok().map(|tlv| tlv.tag)
    }

    /// Reads the next element and checks its tag.
    pub fn expect(&mut self, tag: Tag, what: &'static str) -> Result<Tlv<'a>, BerError> {
        if self.is_empty() {
            return Err(BerError::Missing { offset: self.offset(), what });
        }
        let tlv = self.read()?;
        if tlv.tag != tag {
            return Err(BerError::UnexpectedTag { offset: tlv.offset, expected: what, found: tlv.tag });
        }
        Ok(tlv)
    }

    /// Reads the next element only if it carries `tag`.
    pub fn optional(&mut self, tag: Tag) -> Result<Option<Tlv<'a>>, BerError> {
        if self.peek_tag() == Some(tag) { self.read().map(Some) } else { Ok(None) }
    }

    /// Reads the next element, failing if there is none.
    pub fn next_required(&mut self, what: &'static str) -> Result<Tlv<'a>, BerError> {
        if self.is_empty() {
            return Err(BerError::Missing { offset: self.offset(), what });
        }
        self.read()
    }
}

impl<'a> Tlv<'a> {
    /// A reader over the value octets of a constructed element.
    pub fn reader(&self) -> Reader<'a> {
        Reader::with_base(self.value, self.value_offset)
    }

    fn invalid(&self, what: &'static str) -> BerError {
        BerError::InvalidValue { offset: self.value_offset, what }
    }

    /// An error saying this element's tag is not what `expected` allows.
    pub fn unexpected(&self, expected: &'static str) -> BerError {
        BerError::UnexpectedTag { offset: self.offset, expected, found: self.tag }
    }

    /// The value as a signed INTEGER (two's complement, at most 8 octets).
    pub fn as_i64(&self) -> Result<i64, BerError> {
        let v = self.value;
        if v.is_empty() || v.len() > 8 {
            return Err(self.invalid("integer"));
        }
        let mut n: i64 = if v.first().is_some_and(|b| b & 0x80 != 0) { -1 } else { 0 };
        for &b in v {
            n = (n << 8) | i64::from(b);
        }
        Ok(n)
    }

    /// The value as a non-negative INTEGER (up to 8 value octets plus a leading zero).
    pub fn as_u64(&self) -> Result<u64, BerError> {
        let v = self.value;
        let v = match v {
            [0, rest @ ..] if !rest.is_empty() => rest,
            _ => v,
        };
        if v.is_empty() || v.len() > 8 || (self.value.len() == v.len() && v.first().is_some_and(|b| b & 0x80 != 0)) {
            return Err(self.invalid("unsigned integer"));
        }
        Ok(v.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)))
    }

    /// The value as an unsigned INTEGER that must fit in 32 bits (MMS Unsigned32).
    pub fn as_u32(&self) -> Result<u32, BerError> {
        u32::try_from(self.as_u64()?).map_err(|_| self.invalid("unsigned32"))
    }

    /// The value as a signed INTEGER that must fit in 32 bits (MMS Integer32).
    pub fn as_i32(&self) -> Result<i32, BerError> {
        i32::try_from(self.as_i64()?).map_err(|_| self.invalid("integer32"))
    }

    /// The value as a BOOLEAN (exactly one octet; any non-zero is true).
    pub fn as_bool(&self) -> Result<bool, BerError> {
        match self.value {
            [b] => Ok(*b != 0),
            _ => Err(self.invalid("boolean")),
        }
    }

    /// The value as a NULL (no octets).
    pub fn as_null(&self) -> Result<(), BerError> {
        if self.value.is_empty() { Ok(()) } else { Err(self.invalid("null")) }
    }

    /// The value as a primitive BIT STRING.
    pub fn as_bit_string(&self) -> Result<BitString, BerError> {
        let (&unused, bytes) = self.value.split_first().ok_or(self.invalid("bit string"))?;
        if unused > 7 || (bytes.is_empty() && unused != 0) {
            return Err(self.invalid("bit string"));
        }
        let len = bytes.len() * 8 - usize::from(unused);
        Ok(BitString { bytes: bytes.to_vec(), len })
    }

    /// The value as a VisibleString (printable ASCII 0x20..=0x7e).
    pub fn as_visible_str(&self) -> Result<&'a str, BerError> {
        if !self.value.iter().all(|b| (0x20..=0x7e).contains(b)) {
            return Err(self.invalid("visible string"));
        }
        std::str::from_utf8(self.value).map_err(|_| self.invalid("visible string"))
    }

    /// The value as a UTF8String (MMSString).
    pub fn as_utf8_str(&self) -> Result<&'a str, BerError> {
        std::str::from_utf8(self.value).map_err(|_| self.invalid("utf8 string"))
    }

    /// The value as an OBJECT IDENTIFIER.
    pub fn as_oid(&self) -> Result<Oid, BerError> {
        Oid::from_ber(self.value).ok_or(self.invalid("object identifier"))
    }

    /// The value as an MMS FloatingPoint (an exponent-width octet then an IEEE 754 single or
    /// double, ISO 9506-2 with the IEC 61850-8-1 restriction to those two formats).
    pub fn as_mms_float(&self) -> Result<f64, BerError> {
        match self.value {
            [8, a, b, c, d] => Ok(f64::from(f32::from_be_bytes([*a, *b, *c, *d]))),
            [11, rest @ ..] => {
                let bytes: [u8; 8] = rest.try_into().map_err(|_| self.invalid("floating point"))?;
                Ok(f64::from_be_bytes(bytes))
            }
            _ => Err(self.invalid("floating point")),
        }
    }

    /// The value as an MMS FloatingPoint that is a single (IEC 61850 FLOAT32).
    pub fn is_mms_single(&self) -> bool {
        self.value.first() == Some(&8)
    }
}

/// A BIT STRING of any length; bit 0 is the most significant bit of the first octet (X.690).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct BitString {
    bytes: Vec<u8>,
    len: usize,
}

impl BitString {
    /// An all-zero bit string of `len` bits.
    pub fn zeros(len: usize) -> BitString {
        BitString { bytes: vec![0; len.div_ceil(8)], len }
    }

    /// A bit string of `len` bits with the given bit positions set (positions past `len` ignored).
    pub fn with_bits(len: usize, set: &[usize]) -> BitString {
        let mut bits = BitString::zeros(len);
        for &i in set {
            bits.set(i, true);
        }
        bits
    }

    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for the empty bit string.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bit `i` (false past the end).
    pub fn get(&self, i: usize) -> bool {
        i < self.len && self.bytes.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
    }

    /// Sets bit `i` (ignored past the end).
    pub fn set(&mut self, i: usize, on: bool) {
        if i >= self.len {
            return;
        }
        if let Some(b) = self.bytes.get_mut(i / 8) {
            let mask = 0x80 >> (i % 8);
            if on { *b |= mask } else { *b &= !mask }
        }
    }

    /// The octets (trailing unused bits are whatever was received or zero).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Indices of the set bits.
    pub fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len).filter(|&i| self.get(i))
    }
}

/// An OBJECT IDENTIFIER as its arcs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Oid(pub Vec<u64>);

impl Oid {
    fn from_ber(bytes: &[u8]) -> Option<Oid> {
        let mut arcs = Vec::new();
        let mut n: u64 = 0;
        let mut in_arc = false;
        for &b in bytes {
            if n > (u64::MAX >> 7) {
                return None;
            }
            n = (n << 7) | u64::from(b & 0x7f);
            in_arc = b & 0x80 != 0;
            if !in_arc {
                if arcs.is_empty() {
                    let first = (n / 40).min(2);
                    arcs.push(first);
                    arcs.push(n - first * 40);
                } else {
                    arcs.push(n);
                }
                n = 0;
            }
        }
        if in_arc || arcs.is_empty() { None } else { Some(Oid(arcs)) }
    }

    /// The BER content octets.
    pub fn to_ber(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut arcs = self.0.iter().copied();
        let first = arcs.next().unwrap_or(0);
        let second = arcs.next().unwrap_or(0);
        push_base128(&mut out, first.saturating_mul(40).saturating_add(second));
        for arc in arcs {
            push_base128(&mut out, arc);
        }
        out
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

fn push_base128(out: &mut Vec<u8>, n: u64) {
    // 7-bit groups, most significant first, at least one; all but the last carry bit 8.
    let groups = (u64::BITS - n.leading_zeros()).div_ceil(7).max(1);
    for k in (0..groups).rev() {
        let [low, ..] = (n >> (7 * k)).to_le_bytes();
        out.push(low & 0x7f | if k == 0 { 0 } else { 0x80 });
    }
}

/// The big-endian octets of an unsigned number without its leading zero octets, keeping one.
fn without_leading_zeros(mut bytes: &[u8]) -> &[u8] {
    while let Some((0, rest)) = bytes.split_first().filter(|(_, rest)| !rest.is_empty()) {
        bytes = rest;
    }
    bytes
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Appends an identifier.
pub fn write_tag(out: &mut Vec<u8>, tag: Tag) {
    let class: u8 = match tag.class {
        Class::Universal => 0x00,
        Class::Application => 0x40,
        Class::Context => 0x80,
        Class::Private => 0xc0,
    };
    let form = if tag.constructed { 0x20 } else { 0 };
    match u8::try_from(tag.number) {
        Ok(short @ 0..31) => out.push(class | form | short),
        _ => {
            out.push(class | form | 0x1f);
            push_base128(out, u64::from(tag.number));
        }
    }
}

/// Appends a definite length.
pub fn write_length(out: &mut Vec<u8>, len: usize) {
    match u8::try_from(len) {
        Ok(short @ 0..0x80) => out.push(short),
        _ => {
            let bytes = (len as u64).to_be_bytes();
            let octets = without_leading_zeros(&bytes);
            // At most the 8 octets of a u64: nothing saturates.
            out.push(0x80 | u8::try_from(octets.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(octets);
        }
    }
}

/// Appends a primitive element.
pub fn write_primitive(out: &mut Vec<u8>, tag: Tag, value: &[u8]) {
    write_tag(out, tag);
    write_length(out, value.len());
    out.extend_from_slice(value);
}

/// Appends a constructed element whose content `content` writes; the length is patched after.
pub fn write_constructed(out: &mut Vec<u8>, tag: Tag, content: impl FnOnce(&mut Vec<u8>)) {
    write_tag(out, tag.with_constructed(true));
    let len_at = out.len();
    out.push(0);
    content(out);
    let len = out.len() - len_at - 1;
    match (u8::try_from(len), out.get_mut(len_at)) {
        (Ok(short @ 0..0x80), Some(slot)) => *slot = short,
        _ => {
            let mut header = Vec::with_capacity(9);
            write_length(&mut header, len);
            out.splice(len_at..=len_at, header);
        }
    }
}

/// Appends a signed INTEGER in its minimal two's-complement form.
pub fn write_i64(out: &mut Vec<u8>, tag: Tag, n: i64) {
    let bytes = n.to_be_bytes();
    let mut body: &[u8] = &bytes;
    // Drop a leading octet while the next one carries the same sign; at least one stays.
    while let Some((&b, rest)) = body.split_first() {
        let Some(&next) = rest.first() else { break };
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            body = rest;
        } else {
            break;
        }
    }
    write_primitive(out, tag, body);
}

/// Appends a non-negative INTEGER (with a leading zero octet when the top bit is set).
pub fn write_u64(out: &mut Vec<u8>, tag: Tag, n: u64) {
    let bytes = n.to_be_bytes();
    let body = without_leading_zeros(&bytes);
    if body.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v = Vec::with_capacity(body.len() + 1);
        v.push(0);
        v.extend_from_slice(body);
        write_primitive(out, tag, &v);
    } else {
        write_primitive(out, tag, body);
    }
}

/// Appends a BOOLEAN (0xff for true, as DER).
pub fn write_bool(out: &mut Vec<u8>, tag: Tag, b: bool) {
    write_primitive(out, tag, &[if b { 0xff } else { 0 }]);
}

/// Appends a primitive BIT STRING.
pub fn write_bit_string(out: &mut Vec<u8>, tag: Tag, bits: &BitString) {
    write_tag(out, tag);
    let octets = bits.len.div_ceil(8);
    write_length(out, octets + 1);
    // Unused bits of the last octet: 0..=7, nothing saturates.
    out.push(u8::try_from(octets * 8 - bits.len).unwrap_or(u8::MAX));
    for i in 0..octets {
        let mut b = bits.bytes.get(i).copied().unwrap_or(0);
        if i + 1 == octets && bits.len % 8 != 0 {
            b &= 0xffu8 << (8 - bits.len % 8);
        }
        out.push(b);
    }
}

/// Appends an OBJECT IDENTIFIER.
pub fn write_oid(out: &mut Vec<u8>, tag: Tag, oid: &Oid) {
    write_primitive(out, tag, &oid.to_ber());
}

/// Appends an MMS FloatingPoint: single precision for `f32`-representable widths (`single`), else
/// double.
pub fn write_mms_float(out: &mut Vec<u8>, tag: Tag, value: f64, single: bool) {
    if single {
        let mut v = [8u8, 0, 0, 0, 0];
        v[1..].copy_from_slice(&gridtrust_model::num::to_f32(value).to_be_bytes());
        write_primitive(out, tag, &v);
    } else {
        let mut v = [11u8, 0, 0, 0, 0, 0, 0, 0, 0];
        v[1..].copy_from_slice(&value.to_be_bytes());
        write_primitive(out, tag, &v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn high_tag_numbers_round_trip() {
        for number in [0u32, 30, 31, 127, 128, 16383, 16384, 1 << 20] {
            let tag = Tag::context_constructed(number);
            let mut out = Vec::new();
            write_constructed(&mut out, tag, |o| write_i64(o, Tag::INTEGER, -1));
            let tlv = Reader::new(&out).read().unwrap();
            assert_eq!(tlv.tag, tag);
            assert_eq!(tlv.reader().read().unwrap().as_i64().unwrap(), -1);
        }
        // [APPLICATION 1] per X.690 8.1.2.4 example style: 0x5f 0x1f is tag 31
        let tlv = Reader::new(&[0x5f, 0x1f, 0x00]).read().unwrap();
        assert_eq!(tlv.tag, Tag::application(31));
    }

    #[test]
    fn integers_use_minimal_twos_complement() {
        let cases: [(i64, &[u8]); 7] = [
            (0, &[0]),
            (127, &[0x7f]),
            (128, &[0, 0x80]),
            (-128, &[0x80]),
            (-129, &[0xff, 0x7f]),
            (256, &[1, 0]),
            (i64::MIN, &[0x80, 0, 0, 0, 0, 0, 0, 0]),
        ];
        for (n, body) in cases {
            let mut out = Vec::new();
            write_i64(&mut out, Tag::INTEGER, n);
            assert_eq!(&out[2..], body, "{n}");
            assert_eq!(Reader::new(&out).read().unwrap().as_i64().unwrap(), n);
        }
        let mut out = Vec::new();
        write_u64(&mut out, Tag::INTEGER, u64::MAX);
        assert_eq!(out.len(), 11);
        assert_eq!(Reader::new(&out).read().unwrap().as_u64().unwrap(), u64::MAX);
    }

    #[test]
    fn long_lengths_are_patched() {
        let mut out = Vec::new();
        write_constructed(&mut out, Tag::SEQUENCE, |o| write_primitive(o, Tag::OCTET_STRING, &[7u8; 300]));
        assert_eq!(&out[..4], &[0x30, 0x82, 0x01, 0x30]);
        let tlv = Reader::new(&out).read().unwrap();
        assert_eq!(tlv.reader().read().unwrap().value.len(), 300);
    }

    #[test]
    fn indefinite_length_is_refused_with_its_offset() {
        let err = Reader::new(&[0x30, 0x80, 0x00, 0x00]).read().unwrap_err();
        assert_eq!(err, BerError::IndefiniteLength { offset: 1 });
    }

    #[test]
    fn truncation_names_the_offset() {
        let err = Reader::new(&[0x04, 0x05, 1, 2]).read().unwrap_err();
        assert!(matches!(err, BerError::Truncated { offset: 4, needed: 3 }), "{err:?}");
    }

    #[test]
    fn bit_strings_and_oids() {
        let bits = BitString::with_bits(10, &[1, 2, 9]);
        let mut out = Vec::new();
        write_bit_string(&mut out, Tag::context(4), &bits);
        assert_eq!(out, [0x84, 0x03, 0x06, 0x60, 0x40]);
        let back = Reader::new(&out).read().unwrap().as_bit_string().unwrap();
        assert_eq!(back, bits);
        assert_eq!(back.ones().collect::<Vec<_>>(), vec![1, 2, 9]);
        let oid = Oid(vec![1, 0, 9506, 2, 1]);
        assert_eq!(oid.to_ber(), [0x28, 0xca, 0x22, 0x02, 0x01]);
        let mut out = Vec::new();
        write_oid(&mut out, Tag::OID, &oid);
        assert_eq!(Reader::new(&out).read().unwrap().as_oid().unwrap(), oid);
        assert_eq!(oid.to_string(), "1.0.9506.2.1");
    }

    #[test]
    fn mms_floats_single_and_double() {
        let mut out = Vec::new();
        write_mms_float(&mut out, Tag::context(7), 1.5, true);
        assert_eq!(out, [0x87, 0x05, 0x08, 0x3f, 0xc0, 0x00, 0x00]);
        assert_eq!(Reader::new(&out).read().unwrap().as_mms_float().unwrap(), 1.5);
        let mut out = Vec::new();
        write_mms_float(&mut out, Tag::context(7), -2.25, false);
        assert_eq!(Reader::new(&out).read().unwrap().as_mms_float().unwrap(), -2.25);
        assert!(Reader::new(&[0x87, 0x02, 0x08, 0x00]).read().unwrap().as_mms_float().is_err());
    }

    fn walk(mut r: Reader<'_>, depth: usize) {
        while !r.is_empty() {
            let Ok(tlv) = r.read() else { return };
            let _ =
                (tlv.as_i64(), tlv.as_u64(), tlv.as_bool(), tlv.as_bit_string(), tlv.as_visible_str(), tlv.as_oid(), tlv.as_mms_float());
            if tlv.tag.constructed && depth < MAX_DEPTH {
                walk(tlv.reader(), depth + 1);
            }
        }
    }

    proptest! {
        #[test]
        fn reader_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            walk(Reader::new(&bytes), 0);
        }

        #[test]
        fn integers_round_trip(n in any::<i64>()) {
            let mut out = Vec::new();
            write_i64(&mut out, Tag::context(5), n);
            prop_assert_eq!(Reader::new(&out).read().unwrap().as_i64().unwrap(), n);
        }

        #[test]
        fn unsigned_round_trip(n in any::<u64>()) {
            let mut out = Vec::new();
            write_u64(&mut out, Tag::context(6), n);
            prop_assert_eq!(Reader::new(&out).read().unwrap().as_u64().unwrap(), n);
        }

        #[test]
        fn nested_lengths_round_trip(len in 0usize..70000) {
            let body = vec![0x5a; len];
            let mut out = Vec::new();
            write_constructed(&mut out, Tag::context_constructed(40), |o| write_primitive(o, Tag::OCTET_STRING, &body));
            let tlv = Reader::new(&out).read().unwrap();
            prop_assert_eq!(tlv.reader().read().unwrap().value, &body[..]);
        }
    }
}
