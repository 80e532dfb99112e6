//! Turning raw 16-bit registers into numbers, bits and text, in whichever byte and word order a
//! vendor chose. Pure functions: the same code serves explicit register maps and SunSpec.

use serde::Deserialize;

/// How a value is laid out in registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    U16,
    I16,
    U32,
    I32,
    F32,
    U64,
    /// ASCII text over `length` registers, two characters each, NUL or space padded.
    String,
    /// One bit (0 = least significant) of a single register.
    Bit,
}

impl DataType {
    /// Registers a value of this type spans; strings span their configured length.
    pub const fn registers(self, string_length: u16) -> u16 {
        match self {
            Self::U16 | Self::I16 | Self::Bit => 1,
            Self::U32 | Self::I32 | Self::F32 => 2,
            Self::U64 => 4,
            Self::String => string_length,
        }
    }
}

/// Byte order of a multi-register value, named by where bytes A (most significant) .. D land:
/// `abcd` is Modbus' own big-endian order, `dcba` fully little-endian, `cdab` big-endian words in
/// swapped order (common in PLCs), `badc` bytes swapped inside big-endian-ordered words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    #[default]
    #[serde(alias = "big")]
    Abcd,
    #[serde(alias = "little")]
    Dcba,
    #[serde(alias = "word_swap")]
    Cdab,
    #[serde(alias = "byte_swap")]
    Badc,
}

/// A decoded register value before scaling.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    Number(f64),
    Bit(bool),
    Text(String),
}

/// Why registers do not hold a value of the asked type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("{ty:?} needs {needed} registers, {got} given")]
    TooFew { ty: DataType, needed: usize, got: usize },
    #[error("bit {0} is outside 0..=15")]
    BitIndex(u8),
}

/// Puts the bytes of `words` (each big-endian on the wire) into most-significant-first order.
fn ordered_bytes<const N: usize>(words: &[u16], order: Order) -> [u8; N] {
    let mut bytes = [0u8; N];
    let count = N / 2;
    for (i, w) in words.iter().take(count).enumerate() {
        let [hi, lo] = w.to_be_bytes();
        let (slot, pair) = match order {
            Order::Abcd => (i, [hi, lo]),
            Order::Cdab => (count - 1 - i, [hi, lo]),
            Order::Badc => (i, [lo, hi]),
            Order::Dcba => (count - 1 - i, [lo, hi]),
        };
        if let Some(dst) = bytes.get_mut(slot * 2..slot * 2 + 2) {
            dst.copy_from_slice(&pair);
        }
    }
    bytes
}

/// Decodes the value of type `ty` at the start of `registers`.
pub fn decode(registers: &[u16], ty: DataType, order: Order, bit: u8) -> Result<Decoded, RegisterError> {
    let needed = usize::from(ty.registers(u16::try_from(registers.len()).unwrap_or(u16::MAX)));
    if registers.len() < needed || needed == 0 {
        return Err(RegisterError::TooFew { ty, needed: needed.max(1), got: registers.len() });
    }
    let words = registers.get(..needed).unwrap_or_default();
    Ok(match ty {
        DataType::U16 => Decoded::Number(f64::from(u16::from_be_bytes(ordered_bytes::<2>(words, order)))),
        DataType::I16 => Decoded::Number(f64::from(i16::from_be_bytes(ordered_bytes::<2>(words, order)))),
        DataType::U32 => Decoded::Number(f64::from(u32::from_be_bytes(ordered_bytes::<4>(words, order)))),
        DataType::I32 => Decoded::Number(f64::from(i32::from_be_bytes(ordered_bytes::<4>(words, order)))),
        DataType::F32 => Decoded::Number(f64::from(f32::from_be_bytes(ordered_bytes::<4>(words, order)))),
        // Above 2^53 f64 rounds; the data model has no wider number anyway.
        DataType::U64 => Decoded::Number(u64::from_be_bytes(ordered_bytes::<8>(words, order)) as f64),
        DataType::Bit => {
            if bit > 15 {
                return Err(RegisterError::BitIndex(bit));
            }
            let word = u16::from_be_bytes(ordered_bytes::<2>(words, order));
            Decoded::Bit(word >> bit & 1 == 1)
        }
        DataType::String => Decoded::Text(text(words, order)),
    })
}

/// ASCII text from registers, two characters per register; byte-swapped orders swap the pair.
/// Trailing NULs and spaces are padding; other non-printable bytes become U+FFFD.
pub fn text(words: &[u16], order: Order) -> String {
    let swap = matches!(order, Order::Badc | Order::Dcba);
    let bytes: Vec<u8> = words
        .iter()
        .flat_map(|w| {
            let [hi, lo] = w.to_be_bytes();
            if swap { [lo, hi] } else { [hi, lo] }
        })
        .collect();
    let end = bytes.iter().rposition(|&b| b != 0 && b != b' ').map_or(0, |p| p + 1);
    bytes
        .get(..end)
        .unwrap_or_default()
        .iter()
        .map(|&b| if b.is_ascii_graphic() || b == b' ' { char::from(b) } else { '\u{fffd}' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn num(regs: &[u16], ty: DataType, order: Order) -> f64 {
        match decode(regs, ty, order, 0).unwrap() {
            Decoded::Number(n) => n,
            other => panic!("not a number: {other:?}"),
        }
    }

    #[test]
    fn the_four_orders_of_a_32_bit_value() {
        // 0x12345678 as each order puts it on the wire.
        assert_eq!(num(&[0x1234, 0x5678], DataType::U32, Order::Abcd), f64::from(0x1234_5678u32));
        assert_eq!(num(&[0x5678, 0x1234], DataType::U32, Order::Cdab), f64::from(0x1234_5678u32));
        assert_eq!(num(&[0x3412, 0x7856], DataType::U32, Order::Badc), f64::from(0x1234_5678u32));
        assert_eq!(num(&[0x7856, 0x3412], DataType::U32, Order::Dcba), f64::from(0x1234_5678u32));
    }

    #[test]
    fn signed_float_and_64_bit_values() {
        assert_eq!(num(&[0xfffe], DataType::I16, Order::Abcd), -2.0);
        assert_eq!(num(&[0xfeff], DataType::I16, Order::Dcba), -2.0);
        assert_eq!(num(&[0xffff, 0xfffd], DataType::I32, Order::Abcd), -3.0);
        let [a, b] = [(1234.5f32.to_bits() >> 16) as u16, (1234.5f32.to_bits() & 0xffff) as u16];
        assert_eq!(num(&[a, b], DataType::F32, Order::Abcd), 1234.5);
        assert_eq!(num(&[b, a], DataType::F32, Order::Cdab), 1234.5);
        assert_eq!(num(&[0, 0, 1, 2], DataType::U64, Order::Abcd), 65538.0);
        assert_eq!(num(&[2, 1, 0, 0], DataType::U64, Order::Cdab), 65538.0);
    }

    #[test]
    fn bits_and_text() {
        assert_eq!(decode(&[0b1000], DataType::Bit, Order::Abcd, 3), Ok(Decoded::Bit(true)));
        assert_eq!(decode(&[0b1000], DataType::Bit, Order::Abcd, 2), Ok(Decoded::Bit(false)));
        assert_eq!(decode(&[0], DataType::Bit, Order::Abcd, 16), Err(RegisterError::BitIndex(16)));
        assert_eq!(text(&[0x5375, 0x6e53, 0x2000, 0], Order::Abcd), "SunS");
        assert_eq!(text(&[0x7553, 0x536e], Order::Badc), "SunS");
        assert_eq!(decode(&[1], DataType::U32, Order::Abcd, 0), Err(RegisterError::TooFew { ty: DataType::U32, needed: 2, got: 1 }));
    }

    proptest! {
        #[test]
        fn decode_never_panics(regs in proptest::collection::vec(any::<u16>(), 0..6), bit in any::<u8>()) {
            for ty in [DataType::U16, DataType::I16, DataType::U32, DataType::I32, DataType::F32, DataType::U64, DataType::String, DataType::Bit] {
                for order in [Order::Abcd, Order::Dcba, Order::Cdab, Order::Badc] {
                    let _ = decode(&regs, ty, order, bit);
                }
            }
        }
    }
}
