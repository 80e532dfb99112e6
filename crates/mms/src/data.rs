//! MMS values (`Data`), their type descriptions (`TypeSpecification`), object names and the two
//! time formats IEC 61850 uses (UtcTime and TimeOfDay/binary-time).

use crate::ber::{self, BerError, BitString, MAX_DEPTH, Reader, Tag, Tlv};

/// An MMS ObjectName: VMD-, domain- (logical device) or association-specific.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ObjectName {
    /// Named in the whole server.
    Vmd(String),
    /// Named inside a domain (an IEC 61850 logical device): (domain, item).
    Domain(String, String),
    /// Named inside this association.
    Association(String),
}

impl ObjectName {
    /// Domain-specific name, the common case in IEC 61850.
    pub fn domain(domain: impl Into<String>, item: impl Into<String>) -> ObjectName {
        ObjectName::Domain(domain.into(), item.into())
    }

    pub(crate) fn decode(tlv: &Tlv<'_>) -> Result<ObjectName, BerError> {
        match tlv.tag {
            t if t == Tag::context(0) => Ok(ObjectName::Vmd(tlv.as_visible_str()?.to_owned())),
            t if t == Tag::context_constructed(1) => {
                let mut r = tlv.reader();
                let domain = r.expect(Tag::VISIBLE_STRING, "domainId")?.as_visible_str()?.to_owned();
                let item = r.expect(Tag::VISIBLE_STRING, "itemId")?.as_visible_str()?.to_owned();
                Ok(ObjectName::Domain(domain, item))
            }
            t if t == Tag::context(2) => Ok(ObjectName::Association(tlv.as_visible_str()?.to_owned())),
            _ => Err(tlv.unexpected("ObjectName")),
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ObjectName::Vmd(name) => ber::write_primitive(out, Tag::context(0), name.as_bytes()),
            ObjectName::Domain(domain, item) => ber::write_constructed(out, Tag::context_constructed(1), |out| {
                ber::write_primitive(out, Tag::VISIBLE_STRING, domain.as_bytes());
                ber::write_primitive(out, Tag::VISIBLE_STRING, item.as_bytes());
            }),
            ObjectName::Association(name) => ber::write_primitive(out, Tag::context(2), name.as_bytes()),
        }
    }
}

impl std::fmt::Display for ObjectName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObjectName::Vmd(name) | ObjectName::Association(name) => f.write_str(name),
            ObjectName::Domain(domain, item) => write!(f, "{domain}/{item}"),
        }
    }
}

/// IEC 61850 UtcTime: seconds since 1970, a 24-bit binary fraction of a second and a quality octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UtcTime {
    /// Seconds since the Unix epoch.
    pub seconds: u32,
    /// Fraction of a second in units of 2^-24 s.
    pub fraction: u32,
    /// TimeQuality: leap second known, clock failure, not synchronized, accuracy bits.
    pub quality: u8,
}

impl UtcTime {
    /// From Unix milliseconds (quality: 10 bits of accuracy, as libiec61850 stamps).
    pub fn from_unix_millis(ms: u64) -> UtcTime {
        let seconds = u32::try_from(ms / 1000).unwrap_or(u32::MAX);
        let fraction = u32::try_from(((ms % 1000) << 24) / 1000).unwrap_or(0);
        UtcTime { seconds, fraction, quality: 0x0a }
    }

    /// Unix time in milliseconds.
    pub fn to_unix_millis(&self) -> u64 {
        u64::from(self.seconds) * 1000 + ((u64::from(self.fraction) * 1000) >> 24)
    }

    /// Clock failure bit of the time quality.
    pub fn clock_failure(&self) -> bool {
        self.quality & 0x40 != 0
    }

    /// Clock-not-synchronized bit of the time quality.
    pub fn clock_not_synchronized(&self) -> bool {
        self.quality & 0x20 != 0
    }

    fn from_bytes(tlv: &Tlv<'_>) -> Result<UtcTime, BerError> {
        match tlv.value {
            [a, b, c, d, e, f, g, q] => {
                Ok(UtcTime { seconds: u32::from_be_bytes([*a, *b, *c, *d]), fraction: u32::from_be_bytes([0, *e, *f, *g]), quality: *q })
            }
            _ => Err(BerError::InvalidValue { offset: tlv.value_offset, what: "utc-time" }),
        }
    }

    fn to_bytes(self) -> [u8; 8] {
        let s = self.seconds.to_be_bytes();
        let f = self.fraction.to_be_bytes();
        [s[0], s[1], s[2], s[3], f[1], f[2], f[3], self.quality]
    }
}

/// MMS TimeOfDay (binary-time): milliseconds since midnight and, in the 6-octet form, days since
/// 1984-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BinaryTime {
    /// Milliseconds since midnight.
    pub millis_of_day: u32,
    /// Days since 1984-01-01 (absent in the 4-octet form).
    pub days_since_1984: Option<u16>,
}

impl BinaryTime {
    /// Unix milliseconds (None for the 4-octet form, which has no date).
    pub fn to_unix_millis(&self) -> Option<u64> {
        const EPOCH_1984_MS: u64 = 441_763_200_000;
        self.days_since_1984.map(|d| EPOCH_1984_MS + u64::from(d) * 86_400_000 + u64::from(self.millis_of_day))
    }
}

/// An MMS Data value (ISO 9506-2 `Data`), the IEC 61850-8-1 subset.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// array [1]
    Array(Vec<Data>),
    /// structure [2]
    Structure(Vec<Data>),
    /// boolean [3]
    Boolean(bool),
    /// bit-string [4]
    BitString(BitString),
    /// integer [5]
    Integer(i64),
    /// unsigned [6]
    Unsigned(u64),
    /// floating-point [7], single precision on the wire
    Float32(f32),
    /// floating-point [7], double precision on the wire
    Float64(f64),
    /// octet-string [9]
    OctetString(Vec<u8>),
    /// visible-string [10]
    VisibleString(String),
    /// binary-time [12]
    BinaryTime(BinaryTime),
    /// mMSString [16] (UTF-8)
    MmsString(String),
    /// utc-time [17]
    UtcTime(UtcTime),
}

impl Data {
    /// Decodes one Data element.
    pub fn decode(tlv: &Tlv<'_>) -> Result<Data, BerError> {
        Data::decode_at(tlv, 0)
    }

    fn decode_at(tlv: &Tlv<'_>, depth: usize) -> Result<Data, BerError> {
        if depth > MAX_DEPTH {
            return Err(BerError::TooDeep { offset: tlv.offset });
        }
        if tlv.tag.class != ber::Class::Context {
            return Err(tlv.unexpected("Data"));
        }
        let list = |tlv: &Tlv<'_>| -> Result<Vec<Data>, BerError> {
            let mut r = tlv.reader();
            let mut items = Vec::new();
            while !r.is_empty() {
                items.push(Data::decode_at(&r.read()?, depth + 1)?);
            }
            Ok(items)
        };
        Ok(match (tlv.tag.number, tlv.tag.constructed) {
            (1, true) => Data::Array(list(tlv)?),
            (2, true) => Data::Structure(list(tlv)?),
            (3, false) => Data::Boolean(tlv.as_bool()?),
            (4, false) => Data::BitString(tlv.as_bit_string()?),
            (5, false) => Data::Integer(tlv.as_i64()?),
            (6, false) => Data::Unsigned(tlv.as_u64()?),
            (7, false) => {
                let v = tlv.as_mms_float()?;
                // A single-precision value widened by as_mms_float: narrowing it back is exact.
                if tlv.is_mms_single() { Data::Float32(gridtrust_model::num::to_f32(v)) } else { Data::Float64(v) }
            }
            (9, false) => Data::OctetString(tlv.value.to_vec()),
            (10, false) => Data::VisibleString(tlv.as_visible_str()?.to_owned()),
            (12, false) => Data::BinaryTime(match tlv.value {
                [a, b, c, d] => BinaryTime { millis_of_day: u32::from_be_bytes([*a, *b, *c, *d]), days_since_1984: None },
                [a, b, c, d, e, f] => {
                    BinaryTime { millis_of_day: u32::from_be_bytes([*a, *b, *c, *d]), days_since_1984: Some(u16::from_be_bytes([*e, *f])) }
                }
                _ => return Err(BerError::InvalidValue { offset: tlv.value_offset, what: "binary-time" }),
            }),
            (16, false) => Data::MmsString(tlv.as_utf8_str()?.to_owned()),
            (17, false) => Data::UtcTime(UtcTime::from_bytes(tlv)?),
            _ => return Err(tlv.unexpected("Data (IEC 61850-8-1 subset)")),
        })
    }

    /// Appends the BER encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Data::Array(items) => ber::write_constructed(out, Tag::context_constructed(1), |out| items.iter().for_each(|d| d.encode(out))),
            Data::Structure(items) => {
                ber::write_constructed(out, Tag::context_constructed(2), |out| items.iter().for_each(|d| d.encode(out)))
            }
            Data::Boolean(b) => ber::write_bool(out, Tag::context(3), *b),
            Data::BitString(bits) => ber::write_bit_string(out, Tag::context(4), bits),
            Data::Integer(n) => ber::write_i64(out, Tag::context(5), *n),
            Data::Unsigned(n) => ber::write_u64(out, Tag::context(6), *n),
            Data::Float32(v) => ber::write_mms_float(out, Tag::context(7), f64::from(*v), true),
            Data::Float64(v) => ber::write_mms_float(out, Tag::context(7), *v, false),
            Data::OctetString(b) => ber::write_primitive(out, Tag::context(9), b),
            Data::VisibleString(s) => ber::write_primitive(out, Tag::context(10), s.as_bytes()),
            Data::BinaryTime(t) => {
                let mut v = t.millis_of_day.to_be_bytes().to_vec();
                if let Some(days) = t.days_since_1984 {
                    v.extend_from_slice(&days.to_be_bytes());
                }
                ber::write_primitive(out, Tag::context(12), &v);
            }
            Data::MmsString(s) => ber::write_primitive(out, Tag::context(16), s.as_bytes()),
            Data::UtcTime(t) => ber::write_primitive(out, Tag::context(17), &t.to_bytes()),
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Data::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as f64 (integers, unsigned and floats).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Data::Float32(v) => Some(f64::from(*v)),
            Data::Float64(v) => Some(*v),
            Data::Integer(v) => Some(*v as f64),
            Data::Unsigned(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// The integer, if this is a (signed or unsigned) integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Data::Integer(v) => Some(*v),
            Data::Unsigned(v) => i64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// The text, if this is a visible or MMS string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Data::VisibleString(s) | Data::MmsString(s) => Some(s),
            _ => None,
        }
    }

    /// The members, if this is a structure or array.
    pub fn members(&self) -> Option<&[Data]> {
        match self {
            Data::Structure(items) | Data::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// Decodes a SEQUENCE OF Data from a reader until it is empty.
pub(crate) fn decode_data_list(mut r: Reader<'_>) -> Result<Vec<Data>, BerError> {
    let mut items = Vec::new();
    while !r.is_empty() {
        items.push(Data::decode(&r.read()?)?);
    }
    Ok(items)
}

/// An MMS TypeSpecification as GetVariableAccessAttributes returns it: how a variable is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeSpec {
    /// A reference to a named type (unused by IEC 61850 servers, kept so decoding is total).
    Named(ObjectName),
    /// Array of `count` elements.
    Array {
        /// Number of elements.
        count: u32,
        /// Element type.
        element: Box<TypeSpec>,
    },
    /// Structure with named components (IEC 61850: FCs, data objects, data attributes).
    Structure(Vec<(String, TypeSpec)>),
    /// BOOLEAN.
    Boolean,
    /// BIT STRING of the given size (negative: variable up to |n|).
    BitString(i32),
    /// INTEGER of the given width in bits.
    Integer(u8),
    /// Unsigned of the given width in bits.
    Unsigned(u8),
    /// Floating point (format width, exponent width).
    Float {
        /// Total width in bits.
        format_width: u8,
        /// Exponent width in bits.
        exponent_width: u8,
    },
    /// OCTET STRING (negative: variable length).
    OctetString(i32),
    /// VisibleString (negative: variable length).
    VisibleString(i32),
    /// generalized-time.
    GeneralizedTime,
    /// binary-time (true: with date).
    BinaryTime(bool),
    /// BCD.
    Bcd(u8),
    /// OBJECT IDENTIFIER.
    ObjId,
    /// MMSString (negative: variable length).
    MmsString(i32),
    /// UtcTime.
    UtcTime,
}

impl TypeSpec {
    /// Decodes a TypeSpecification (the CHOICE element itself).
    pub fn decode(tlv: &Tlv<'_>) -> Result<TypeSpec, BerError> {
        TypeSpec::decode_at(tlv, 0)
    }

    fn decode_at(tlv: &Tlv<'_>, depth: usize) -> Result<TypeSpec, BerError> {
        if depth > MAX_DEPTH {
            return Err(BerError::TooDeep { offset: tlv.offset });
        }
        if tlv.tag.class != ber::Class::Context {
            return Err(tlv.unexpected("TypeSpecification"));
        }
        let small =
            |tlv: &Tlv<'_>| u8::try_from(tlv.as_u32()?).map_err(|_| BerError::InvalidValue { offset: tlv.value_offset, what: "Unsigned8" });
        Ok(match (tlv.tag.number, tlv.tag.constructed) {
            (0, true) => TypeSpec::Named(ObjectName::decode(&tlv.reader().next_required("typeName")?)?),
            (1, true) => {
                let mut r = tlv.reader();
                r.optional(Tag::context(0))?; // packed
                let count = r.expect(Tag::context(1), "numberOfElements")?.as_u32()?;
                let element = r.expect(Tag::context_constructed(2), "elementType")?;
                let element = TypeSpec::decode_at(&element.reader().next_required("elementType")?, depth + 1)?;
                TypeSpec::Array { count, element: Box::new(element) }
            }
            (2, true) => {
                let mut r = tlv.reader();
                r.optional(Tag::context(0))?; // packed
                let components = r.expect(Tag::context_constructed(1), "components")?;
                let mut c = components.reader();
                let mut out = Vec::new();
                while !c.is_empty() {
                    let component = c.expect(Tag::SEQUENCE, "component")?;
                    let mut cr = component.reader();
                    let name = match cr.optional(Tag::context(0))? {
                        Some(n) => n.as_visible_str()?.to_owned(),
                        None => String::new(),
                    };
                    let ty = cr.expect(Tag::context_constructed(1), "componentType")?;
                    out.push((name, TypeSpec::decode_at(&ty.reader().next_required("componentType")?, depth + 1)?));
                }
                TypeSpec::Structure(out)
            }
            (3, false) => TypeSpec::Boolean,
            (4, false) => TypeSpec::BitString(tlv.as_i32()?),
            (5, false) => TypeSpec::Integer(small(tlv)?),
            (6, false) => TypeSpec::Unsigned(small(tlv)?),
            (7, true) => {
                let mut r = tlv.reader();
                let format_width = small(&r.expect(Tag::INTEGER, "format-width")?)?;
                let exponent_width = small(&r.expect(Tag::INTEGER, "exponent-width")?)?;
                TypeSpec::Float { format_width, exponent_width }
            }
            (9, false) => TypeSpec::OctetString(tlv.as_i32()?),
            (10, false) => TypeSpec::VisibleString(tlv.as_i32()?),
            (11, false) => TypeSpec::GeneralizedTime,
            (12, false) => TypeSpec::BinaryTime(tlv.as_bool()?),
            (13, false) => TypeSpec::Bcd(small(tlv)?),
            (15, false) => TypeSpec::ObjId,
            (16, false) => TypeSpec::MmsString(tlv.as_i32()?),
            (17, false) => TypeSpec::UtcTime,
            _ => return Err(tlv.unexpected("TypeSpecification")),
        })
    }

    /// Appends the BER encoding (used by tests and by anyone serving type descriptions).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            TypeSpec::Named(name) => ber::write_constructed(out, Tag::context_constructed(0), |out| name.encode(out)),
            TypeSpec::Array { count, element } => ber::write_constructed(out, Tag::context_constructed(1), |out| {
                ber::write_u64(out, Tag::context(1), u64::from(*count));
                ber::write_constructed(out, Tag::context_constructed(2), |out| element.encode(out));
            }),
            TypeSpec::Structure(components) => ber::write_constructed(out, Tag::context_constructed(2), |out| {
                ber::write_constructed(out, Tag::context_constructed(1), |out| {
                    for (name, ty) in components {
                        ber::write_constructed(out, Tag::SEQUENCE, |out| {
                            ber::write_primitive(out, Tag::context(0), name.as_bytes());
                            ber::write_constructed(out, Tag::context_constructed(1), |out| ty.encode(out));
                        });
                    }
                })
            }),
            TypeSpec::Boolean => ber::write_primitive(out, Tag::context(3), &[]),
            TypeSpec::BitString(n) => ber::write_i64(out, Tag::context(4), i64::from(*n)),
            TypeSpec::Integer(n) => ber::write_u64(out, Tag::context(5), u64::from(*n)),
            TypeSpec::Unsigned(n) => ber::write_u64(out, Tag::context(6), u64::from(*n)),
            TypeSpec::Float { format_width, exponent_width } => ber::write_constructed(out, Tag::context_constructed(7), |out| {
                ber::write_u64(out, Tag::INTEGER, u64::from(*format_width));
                ber::write_u64(out, Tag::INTEGER, u64::from(*exponent_width));
            }),
            TypeSpec::OctetString(n) => ber::write_i64(out, Tag::context(9), i64::from(*n)),
            TypeSpec::VisibleString(n) => ber::write_i64(out, Tag::context(10), i64::from(*n)),
            TypeSpec::GeneralizedTime => ber::write_primitive(out, Tag::context(11), &[]),
            TypeSpec::BinaryTime(with_date) => ber::write_bool(out, Tag::context(12), *with_date),
            TypeSpec::Bcd(n) => ber::write_u64(out, Tag::context(13), u64::from(*n)),
            TypeSpec::ObjId => ber::write_primitive(out, Tag::context(15), &[]),
            TypeSpec::MmsString(n) => ber::write_i64(out, Tag::context(16), i64::from(*n)),
            TypeSpec::UtcTime => ber::write_primitive(out, Tag::context(17), &[]),
        }
    }

    /// The components of a structure (empty for other types).
    pub fn components(&self) -> &[(String, TypeSpec)] {
        match self {
            TypeSpec::Structure(c) => c,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(d: &Data) -> Data {
        let mut out = Vec::new();
        d.encode(&mut out);
        Data::decode(&Reader::new(&out).read().unwrap()).unwrap()
    }

    #[test]
    fn every_data_kind_round_trips() {
        let value = Data::Structure(vec![
            Data::Boolean(true),
            Data::BitString(BitString::with_bits(13, &[0, 12])),
            Data::Integer(-5),
            Data::Unsigned(300),
            Data::Float32(1.25),
            Data::Float64(-3.5),
            Data::OctetString(vec![1, 2, 3]),
            Data::VisibleString("simpleIOGenericIO/GGIO1".into()),
            Data::BinaryTime(BinaryTime { millis_of_day: 1000, days_since_1984: Some(14000) }),
            Data::MmsString("Grüße".into()),
            Data::UtcTime(UtcTime::from_unix_millis(1_700_000_000_500)),
            Data::Array(vec![Data::Integer(1), Data::Integer(2)]),
        ]);
        assert_eq!(round_trip(&value), value);
    }

    #[test]
    fn utc_time_converts_milliseconds() {
        let t = UtcTime::from_unix_millis(1_700_000_000_250);
        assert_eq!(t.to_unix_millis(), 1_700_000_000_250);
        assert_eq!(t.fraction, 1 << 22);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut nested = Data::Boolean(true);
        for _ in 0..40 {
            nested = Data::Structure(vec![nested]);
        }
        let mut out = Vec::new();
        nested.encode(&mut out);
        assert!(matches!(Data::decode(&Reader::new(&out).read().unwrap()), Err(BerError::TooDeep { .. })));
    }

    #[test]
    fn type_spec_round_trips() {
        let ty = TypeSpec::Structure(vec![
            ("stVal".into(), TypeSpec::Boolean),
            ("q".into(), TypeSpec::BitString(-13)),
            ("t".into(), TypeSpec::UtcTime),
            ("mag".into(), TypeSpec::Structure(vec![("f".into(), TypeSpec::Float { format_width: 32, exponent_width: 8 })])),
            ("arr".into(), TypeSpec::Array { count: 3, element: Box::new(TypeSpec::Integer(8)) }),
        ]);
        let mut out = Vec::new();
        ty.encode(&mut out);
        assert_eq!(TypeSpec::decode(&Reader::new(&out).read().unwrap()).unwrap(), ty);
    }
}
