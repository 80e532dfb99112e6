//! Modbus TCP framing (MBAP header + PDU), sans-IO: bytes in, typed requests and responses out,
//! and back. Client and simulator share it, so both ends of our own traffic use one codec and the
//! fuzz target covers what either end decodes.
//!
//! Only the function codes gridtrust needs: read coils (1), discrete inputs (2), holding (3) and
//! input registers (4), write single coil (5) and register (6), write multiple coils (15) and
//! registers (16). Anything else is answered by the simulator with "illegal function".

use std::fmt;

use serde::Deserialize;

/// Most registers one read may ask for (Modbus application protocol 1.1b3, 6.3).
pub const MAX_READ_REGISTERS: u16 = 125;
/// Most coils or discrete inputs one read may ask for.
pub const MAX_READ_BITS: u16 = 2000;
/// Most registers one write-multiple may carry.
pub const MAX_WRITE_REGISTERS: u16 = 123;
/// Most coils one write-multiple may carry.
pub const MAX_WRITE_BITS: u16 = 1968;
/// MBAP header length including the unit identifier.
pub const MBAP_LEN: usize = 7;
/// Largest MBAP length field: unit id + the 253-byte PDU limit.
const MAX_MBAP_LENGTH: u16 = 254;

/// The four Modbus data tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    Coil,
    DiscreteInput,
    Holding,
    Input,
}

impl Table {
    /// Function code that reads this table.
    pub const fn read_function(self) -> u8 {
        match self {
            Self::Coil => 1,
            Self::DiscreteInput => 2,
            Self::Holding => 3,
            Self::Input => 4,
        }
    }

    /// Whether the table holds single bits rather than 16-bit registers.
    pub const fn is_bits(self) -> bool {
        matches!(self, Self::Coil | Self::DiscreteInput)
    }

    /// Largest count one read request may ask for.
    pub const fn max_read(self) -> u16 {
        if self.is_bits() { MAX_READ_BITS } else { MAX_READ_REGISTERS }
    }

    fn from_read_function(function: u8) -> Option<Self> {
        match function {
            1 => Some(Self::Coil),
            2 => Some(Self::DiscreteInput),
            3 => Some(Self::Holding),
            4 => Some(Self::Input),
            _ => None,
        }
    }
}

/// A Modbus exception code, kept as the byte so unknown vendor codes survive into reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exception(pub u8);

impl Exception {
    pub const ILLEGAL_FUNCTION: Self = Self(1);
    pub const ILLEGAL_DATA_ADDRESS: Self = Self(2);
    pub const ILLEGAL_DATA_VALUE: Self = Self(3);
    pub const SERVER_DEVICE_FAILURE: Self = Self(4);
    pub const SERVER_DEVICE_BUSY: Self = Self(6);
    pub const GATEWAY_TARGET_FAILED: Self = Self(0x0b);

    /// The name from the Modbus specification, for reports to operators.
    pub const fn name(self) -> &'static str {
        match self.0 {
            1 => "illegal function",
            2 => "illegal data address",
            3 => "illegal data value",
            4 => "server device failure",
            5 => "acknowledge",
            6 => "server device busy",
            8 => "memory parity error",
            0x0a => "gateway path unavailable",
            0x0b => "gateway target device failed to respond",
            _ => "unknown exception",
        }
    }
}

impl fmt::Display for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exception {:#04x} ({})", self.0, self.name())
    }
}

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Read { table: Table, address: u16, count: u16 },
    WriteSingleCoil { address: u16, value: bool },
    WriteSingleRegister { address: u16, value: u16 },
    WriteMultipleCoils { address: u16, values: Vec<bool> },
    WriteMultipleRegisters { address: u16, values: Vec<u16> },
}

impl Request {
    /// The function code on the wire.
    pub const fn function(&self) -> u8 {
        match self {
            Self::Read { table, .. } => table.read_function(),
            Self::WriteSingleCoil { .. } => 5,
            Self::WriteSingleRegister { .. } => 6,
            Self::WriteMultipleCoils { .. } => 15,
            Self::WriteMultipleRegisters { .. } => 16,
        }
    }
}

/// What a server answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Coils or discrete inputs, exactly as many as asked.
    Bits(Vec<bool>),
    Registers(Vec<u16>),
    /// Echo of a single write (function 5 or 6): address and the raw 16-bit value.
    WriteSingle {
        address: u16,
        value: u16,
    },
    /// Acknowledgement of a multiple write (function 15 or 16).
    WriteMultiple {
        address: u16,
        count: u16,
    },
    Exception(Exception),
}

/// The MBAP fields that identify a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub transaction: u16,
    pub unit: u8,
}

/// Why bytes are not a Modbus TCP frame we accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("need {needed} more bytes for a complete frame")]
    Incomplete { needed: usize },
    #[error("MBAP protocol identifier is {0:#06x}, not 0 (Modbus)")]
    Protocol(u16),
    #[error("MBAP length {0} outside 2..=254")]
    Length(u16),
    #[error("function code {function:#04x} is not supported")]
    UnsupportedFunction { function: u8 },
    #[error("function code {function:#04x}: PDU of {len} bytes is malformed: {what}")]
    Malformed { function: u8, len: usize, what: &'static str },
    #[error("answer has function {got:#04x}, the request had {expected:#04x}")]
    FunctionMismatch { expected: u8, got: u8 },
    #[error("count {count} outside 1..={max} for function {function:#04x}")]
    Count { function: u8, count: usize, max: u16 },
    #[error("address {address} + count {count} runs past register 65535")]
    AddressOverflow { address: u16, count: usize },
}

/// The big-endian 16-bit words of `bytes` (a trailing odd byte is ignored; callers check the
/// byte count first).
pub(crate) fn be_words(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    bytes.chunks_exact(2).filter_map(|w| w.try_into().ok()).map(u16::from_be_bytes)
}

/// One complete frame cut from a byte stream: its header, its PDU and the bytes it used.
pub fn split_frame(bytes: &[u8]) -> Result<(Header, &[u8], usize), FrameError> {
    let Some(&[t0, t1, p0, p1, l0, l1, unit]) = bytes.first_chunk::<MBAP_LEN>() else {
        return Err(FrameError::Incomplete { needed: MBAP_LEN - bytes.len() });
    };
    let [transaction, protocol, length] = [[t0, t1], [p0, p1], [l0, l1]].map(u16::from_be_bytes);
    if protocol != 0 {
        return Err(FrameError::Protocol(protocol));
    }
    if !(2..=MAX_MBAP_LENGTH).contains(&length) {
        return Err(FrameError::Length(length));
    }
    let total = MBAP_LEN - 1 + usize::from(length);
    match bytes.get(MBAP_LEN..total) {
        Some(pdu) => Ok((Header { transaction, unit }, pdu, total)),
        None => Err(FrameError::Incomplete { needed: total - bytes.len() }),
    }
}

fn be16(pdu: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*pdu.get(at)?, *pdu.get(at + 1)?]))
}

fn check_range(function: u8, address: u16, count: usize, max: u16) -> Result<(), FrameError> {
    if count == 0 || count > usize::from(max) {
        return Err(FrameError::Count { function, count, max });
    }
    if usize::from(address) + count > 0x1_0000 {
        return Err(FrameError::AddressOverflow { address, count });
    }
    Ok(())
}

fn pack_bits(bits: &[bool], out: &mut Vec<u8>) {
    for chunk in bits.chunks(8) {
        out.push(chunk.iter().enumerate().fold(0u8, |acc, (i, &b)| acc | (u8::from(b) << i)));
    }
}

fn unpack_bits(bytes: &[u8], count: usize) -> Vec<bool> {
    (0..count).map(|i| bytes.get(i / 8).is_some_and(|byte| byte >> (i % 8) & 1 == 1)).collect()
}

/// Bytes needed to carry `count` bits; counts are checked against the 2000-bit limit first.
fn bit_bytes(count: usize) -> usize {
    count.div_ceil(8)
}

fn write_mbap(header: Header, pdu_len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&header.transaction.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    // PDU lengths are bounded by the count checks (at most 253 bytes), so this cannot truncate.
    let length = u16::try_from(pdu_len + 1).unwrap_or(u16::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.push(header.unit);
}

impl Request {
    /// Appends the whole ADU (MBAP + PDU) to `out`; refuses counts the protocol cannot carry.
    pub fn encode(&self, header: Header, out: &mut Vec<u8>) -> Result<(), FrameError> {
        let function = self.function();
        let mut pdu = Vec::with_capacity(16);
        pdu.push(function);
        match self {
            Self::Read { table, address, count } => {
                check_range(function, *address, usize::from(*count), table.max_read())?;
                pdu.extend_from_slice(&address.to_be_bytes());
                pdu.extend_from_slice(&count.to_be_bytes());
            }
            Self::WriteSingleCoil { address, value } => {
                pdu.extend_from_slice(&address.to_be_bytes());
                pdu.extend_from_slice(if *value { &[0xff, 0x00] } else { &[0x00, 0x00] });
            }
            Self::WriteSingleRegister { address, value } => {
                pdu.extend_from_slice(&address.to_be_bytes());
                pdu.extend_from_slice(&value.to_be_bytes());
            }
            Self::WriteMultipleCoils { address, values } => {
                check_range(function, *address, values.len(), MAX_WRITE_BITS)?;
                pdu.extend_from_slice(&address.to_be_bytes());
                pdu.extend_from_slice(&u16::try_from(values.len()).unwrap_or(u16::MAX).to_be_bytes());
                pdu.push(u8::try_from(bit_bytes(values.len())).unwrap_or(u8::MAX));
                pack_bits(values, &mut pdu);
            }
            Self::WriteMultipleRegisters { address, values } => {
                check_range(function, *address, values.len(), MAX_WRITE_REGISTERS)?;
                pdu.extend_from_slice(&address.to_be_bytes());
                pdu.extend_from_slice(&u16::try_from(values.len()).unwrap_or(u16::MAX).to_be_bytes());
                pdu.push(u8::try_from(values.len() * 2).unwrap_or(u8::MAX));
                values.iter().for_each(|v| pdu.extend_from_slice(&v.to_be_bytes()));
            }
        }
        write_mbap(header, pdu.len(), out);
        out.extend_from_slice(&pdu);
        Ok(())
    }

    /// Decodes a request PDU (as a server sees it).
    pub fn decode(pdu: &[u8]) -> Result<Self, FrameError> {
        let function = *pdu.first().ok_or(FrameError::Malformed { function: 0, len: 0, what: "empty PDU" })?;
        let malformed = |what| FrameError::Malformed { function, len: pdu.len(), what };
        let address = be16(pdu, 1).ok_or(malformed("no address"))?;
        let second = be16(pdu, 3).ok_or(malformed("no count or value"))?;
        if let Some(table) = Table::from_read_function(function) {
            if pdu.len() != 5 {
                return Err(malformed("read request is not 5 bytes"));
            }
            check_range(function, address, usize::from(second), table.max_read())?;
            return Ok(Self::Read { table, address, count: second });
        }
        match function {
            5 | 6 if pdu.len() != 5 => Err(malformed("single write is not 5 bytes")),
            5 => match second {
                0xff00 => Ok(Self::WriteSingleCoil { address, value: true }),
                0x0000 => Ok(Self::WriteSingleCoil { address, value: false }),
                _ => Err(malformed("coil value is neither 0xFF00 nor 0x0000")),
            },
            6 => Ok(Self::WriteSingleRegister { address, value: second }),
            15 | 16 => {
                let count = usize::from(second);
                let byte_count = usize::from(*pdu.get(5).ok_or(malformed("no byte count"))?);
                let data = pdu.get(6..).unwrap_or_default();
                if data.len() != byte_count {
                    return Err(malformed("byte count does not match the data"));
                }
                if function == 15 {
                    check_range(function, address, count, MAX_WRITE_BITS)?;
                    if byte_count != bit_bytes(count) {
                        return Err(malformed("byte count does not match the coil count"));
                    }
                    Ok(Self::WriteMultipleCoils { address, values: unpack_bits(data, count) })
                } else {
                    check_range(function, address, count, MAX_WRITE_REGISTERS)?;
                    if byte_count != count * 2 {
                        return Err(malformed("byte count does not match the register count"));
                    }
                    let values = be_words(data).collect();
                    Ok(Self::WriteMultipleRegisters { address, values })
                }
            }
            _ => Err(FrameError::UnsupportedFunction { function }),
        }
    }
}

impl Response {
    /// Appends the whole ADU answering `function` to `out`.
    pub fn encode(&self, header: Header, function: u8, out: &mut Vec<u8>) {
        let mut pdu = Vec::with_capacity(256);
        match self {
            Self::Bits(bits) => {
                pdu.push(function);
                pdu.push(u8::try_from(bit_bytes(bits.len())).unwrap_or(u8::MAX));
                pack_bits(bits, &mut pdu);
            }
            Self::Registers(regs) => {
                pdu.push(function);
                pdu.push(u8::try_from(regs.len() * 2).unwrap_or(u8::MAX));
                regs.iter().for_each(|v| pdu.extend_from_slice(&v.to_be_bytes()));
            }
            Self::WriteSingle { address, value } => {
                pdu.push(function);
                pdu.extend_from_slice(&address.to_be_bytes());
                pdu.extend_from_slice(&value.to_be_bytes());
            }
            Self::WriteMultiple { address, count } => {
                pdu.push(function);
                pdu.extend_from_slice(&address.to_be_bytes());
                pdu.extend_from_slice(&count.to_be_bytes());
            }
            Self::Exception(e) => {
                pdu.push(function | 0x80);
                pdu.push(e.0);
            }
        }
        write_mbap(header, pdu.len(), out);
        out.extend_from_slice(&pdu);
    }

    /// Decodes the PDU answering `request`, checking that it answers that request.
    pub fn decode(pdu: &[u8], request: &Request) -> Result<Self, FrameError> {
        let expected = request.function();
        let function = *pdu.first().ok_or(FrameError::Malformed { function: 0, len: 0, what: "empty PDU" })?;
        let malformed = |what| FrameError::Malformed { function, len: pdu.len(), what };
        if function == expected | 0x80 {
            let code = *pdu.get(1).ok_or(malformed("exception without code"))?;
            return Ok(Self::Exception(Exception(code)));
        }
        if function != expected {
            return Err(FrameError::FunctionMismatch { expected, got: function });
        }
        match request {
            Request::Read { table, count, .. } => {
                let byte_count = usize::from(*pdu.get(1).ok_or(malformed("no byte count"))?);
                let data = pdu.get(2..).unwrap_or_default();
                if data.len() != byte_count {
                    return Err(malformed("byte count does not match the data"));
                }
                let count = usize::from(*count);
                if table.is_bits() {
                    if byte_count != bit_bytes(count) {
                        return Err(malformed("bit bytes do not match the count asked"));
                    }
                    Ok(Self::Bits(unpack_bits(data, count)))
                } else {
                    if byte_count != count * 2 {
                        return Err(malformed("register bytes do not match the count asked"));
                    }
                    Ok(Self::Registers(be_words(data).collect()))
                }
            }
            _ => {
                let (Some(address), Some(value), 5) = (be16(pdu, 1), be16(pdu, 3), pdu.len()) else {
                    return Err(malformed("write answer is not 5 bytes"));
                };
                Ok(if matches!(request, Request::WriteSingleCoil { .. } | Request::WriteSingleRegister { .. }) {
                    Self::WriteSingle { address, value }
                } else {
                    Self::WriteMultiple { address, count: value }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: Header = Header { transaction: 0x0102, unit: 7 };

    #[test]
    fn read_holding_request_has_the_specified_bytes() {
        let mut out = Vec::new();
        Request::Read { table: Table::Holding, address: 40000, count: 10 }.encode(H, &mut out).unwrap();
        assert_eq!(out, [0x01, 0x02, 0, 0, 0, 6, 7, 3, 0x9c, 0x40, 0, 10]);
        let (header, pdu, used) = split_frame(&out).unwrap();
        assert_eq!((header, used), (H, out.len()));
        assert_eq!(Request::decode(pdu).unwrap(), Request::Read { table: Table::Holding, address: 40000, count: 10 });
    }

    #[test]
    fn every_request_and_its_answer_round_trip() {
        let cases = [
            (Request::Read { table: Table::Coil, address: 3, count: 11 }, Response::Bits((0..11).map(|i| i % 3 == 0).collect())),
            (Request::Read { table: Table::Input, address: 0, count: 2 }, Response::Registers(vec![0xffff, 1])),
            (Request::WriteSingleCoil { address: 9, value: true }, Response::WriteSingle { address: 9, value: 0xff00 }),
            (Request::WriteSingleRegister { address: 40005, value: 77 }, Response::WriteSingle { address: 40005, value: 77 }),
            (Request::WriteMultipleCoils { address: 1, values: vec![true, false, true] }, Response::WriteMultiple { address: 1, count: 3 }),
            (Request::WriteMultipleRegisters { address: 2, values: vec![5, 6] }, Response::WriteMultiple { address: 2, count: 2 }),
            (Request::Read { table: Table::Holding, address: 0, count: 1 }, Response::Exception(Exception::ILLEGAL_DATA_ADDRESS)),
        ];
        for (request, response) in cases {
            let mut out = Vec::new();
            request.encode(H, &mut out).unwrap();
            let (_, pdu, _) = split_frame(&out).unwrap();
            assert_eq!(Request::decode(pdu).unwrap(), request);
            out.clear();
            response.encode(H, request.function(), &mut out);
            let (_, pdu, _) = split_frame(&out).unwrap();
            assert_eq!(Response::decode(pdu, &request).unwrap(), response);
        }
    }

    #[test]
    fn partial_frames_say_how_much_is_missing() {
        let mut out = Vec::new();
        Request::Read { table: Table::Holding, address: 0, count: 1 }.encode(H, &mut out).unwrap();
        assert_eq!(split_frame(&out[..3]), Err(FrameError::Incomplete { needed: 4 }));
        assert_eq!(split_frame(&out[..9]), Err(FrameError::Incomplete { needed: 3 }));
    }

    #[test]
    fn bad_requests_are_typed_errors() {
        let mut out = Vec::new();
        assert!(matches!(
            Request::Read { table: Table::Holding, address: 0, count: 126 }.encode(H, &mut out),
            Err(FrameError::Count { count: 126, .. })
        ));
        assert!(matches!(
            Request::Read { table: Table::Holding, address: 65530, count: 10 }.encode(H, &mut out),
            Err(FrameError::AddressOverflow { .. })
        ));
        assert_eq!(split_frame(&[0, 1, 0, 1, 0, 6, 1, 3]), Err(FrameError::Protocol(1)));
        assert_eq!(Request::decode(&[0x2b, 0, 0, 0, 0]), Err(FrameError::UnsupportedFunction { function: 0x2b }));
        let read = Request::Read { table: Table::Holding, address: 0, count: 2 };
        assert!(matches!(Response::decode(&[3, 2, 0, 1], &read), Err(FrameError::Malformed { .. })));
        assert_eq!(Response::decode(&[4, 4, 0, 1, 0, 2], &read), Err(FrameError::FunctionMismatch { expected: 3, got: 4 }));
    }

    proptest! {
        #[test]
        fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300), count in 0u16..300) {
            if let Ok((_, pdu, used)) = split_frame(&bytes) {
                prop_assert!(used <= bytes.len());
                let _ = Request::decode(pdu);
                for table in [Table::Coil, Table::Holding] {
                    let _ = Response::decode(pdu, &Request::Read { table, address: 0, count });
                }
                let _ = Response::decode(pdu, &Request::WriteSingleRegister { address: 0, value: 0 });
            }
        }
    }
}
