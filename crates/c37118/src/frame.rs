//! The frame envelope every C37.118.2 message shares: SYNC, FRAMESIZE, IDCODE, SOC, FRACSEC,
//! body, CHK. [`split_frame`] cuts one checked frame off the front of a byte stream; the typed
//! bodies live in [`crate::config`], [`crate::data`] and [`crate::command`].

use gridtrust_model::Timestamp;

use crate::crc::crc_ccitt;

/// First byte of every frame.
pub const SYNC_BYTE: u8 = 0xaa;
/// SYNC, FRAMESIZE, IDCODE, SOC and FRACSEC: the bytes before a frame's body.
pub const HEADER_LEN: usize = 14;
/// The CHK field.
pub const CRC_LEN: usize = 2;
/// A frame with an empty body.
pub const MIN_FRAME_LEN: usize = HEADER_LEN + CRC_LEN;
/// Version nibble we send: IEEE C37.118.2-2011.
pub const VERSION_2011: u8 = 2;

/// The frame type in bits 6–4 of the SYNC word's second byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameType {
    Data,
    Header,
    Config1,
    Config2,
    Command,
    /// IEEE C37.118.2-2011 only.
    Config3,
}

impl FrameType {
    /// The three-bit code on the wire.
    pub const fn code(self) -> u8 {
        match self {
            Self::Data => 0,
            Self::Header => 1,
            Self::Config1 => 2,
            Self::Config2 => 3,
            Self::Command => 4,
            Self::Config3 => 5,
        }
    }

    /// Reverses [`Self::code`]; 6 and 7 are reserved.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Data,
            1 => Self::Header,
            2 => Self::Config1,
            3 => Self::Config2,
            4 => Self::Command,
            5 => Self::Config3,
            _ => return None,
        })
    }
}

/// The message time quality byte (FRACSEC bits 31–24): leap-second warnings and how far the
/// sender's clock may be off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MessageTimeQuality {
    /// Bit 6: the pending or occurred leap second is a deletion (otherwise an addition).
    pub leap_second_delete: bool,
    /// Bit 5: a leap second occurred within the last day.
    pub leap_second_occurred: bool,
    /// Bit 4: a leap second will occur at the next opportunity.
    pub leap_second_pending: bool,
    /// Bits 3–0: 0 clock locked to a UTC-traceable source, 1..=0xB unlocked with the time
    /// within 10^(code-10) s, 0xF clock failure (time not reliable).
    pub code: u8,
}

impl MessageTimeQuality {
    /// Code for "clock failed, time not reliable".
    pub const CLOCK_FAILURE: u8 = 0xf;

    /// Reads the byte; bit 7 is reserved and ignored.
    pub const fn from_byte(b: u8) -> Self {
        Self { leap_second_delete: b & 0x40 != 0, leap_second_occurred: b & 0x20 != 0, leap_second_pending: b & 0x10 != 0, code: b & 0x0f }
    }

    /// The byte on the wire.
    pub const fn to_byte(self) -> u8 {
        (self.leap_second_delete as u8) << 6
            | (self.leap_second_occurred as u8) << 5
            | (self.leap_second_pending as u8) << 4
            | (self.code & 0x0f)
    }

    /// The largest time error the code states, in seconds; `None` when the clock is locked
    /// (code 0) or the code gives no bound (failure or reserved codes).
    pub fn unlocked_error_bound_s(self) -> Option<f64> {
        match self.code {
            1..=0xb => Some(10f64.powi(i32::from(self.code) - 10)),
            _ => None,
        }
    }
}

/// SOC and FRACSEC: a frame's timestamp, with the message time quality.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FrameTime {
    /// Seconds since 1970-01-01T00:00:00 UTC.
    pub soc: u32,
    /// Fraction of the second in units of 1/TIME_BASE (24 bits).
    pub fraction: u32,
    pub quality: MessageTimeQuality,
}

impl FrameTime {
    /// The largest fraction FRACSEC can carry.
    pub const MAX_FRACTION: u32 = 0x00ff_ffff;

    /// Splits a FRACSEC word.
    pub const fn from_words(soc: u32, fracsec: u32) -> Self {
        Self { soc, fraction: fracsec & Self::MAX_FRACTION, quality: MessageTimeQuality::from_byte((fracsec >> 24) as u8) }
    }

    /// The FRACSEC word on the wire.
    pub const fn fracsec_word(self) -> u32 {
        (self.quality.to_byte() as u32) << 24 | (self.fraction & Self::MAX_FRACTION)
    }

    /// The time as UTC nanoseconds, given the configuration's TIME_BASE (which must not be 0).
    pub fn to_timestamp(self, time_base: u32) -> Timestamp {
        let fraction_ns = u64::from(self.fraction) * 1_000_000_000 / u64::from(time_base.max(1));
        Timestamp(i64::from(self.soc) * 1_000_000_000 + i64::try_from(fraction_ns).unwrap_or(i64::MAX))
    }

    /// The frame time nearest below `t`, with TIME_BASE `time_base`; times before 1970 or after
    /// 2106 clamp to what SOC can carry.
    pub fn from_timestamp(t: Timestamp, time_base: u32, quality: MessageTimeQuality) -> Self {
        let ns = t.unix_nanos().max(0);
        let soc = u32::try_from(ns / 1_000_000_000).unwrap_or(u32::MAX);
        let sub = u64::try_from(ns % 1_000_000_000).unwrap_or(0);
        let fraction = u32::try_from(sub * u64::from(time_base) / 1_000_000_000).unwrap_or(Self::MAX_FRACTION).min(Self::MAX_FRACTION);
        Self { soc, fraction, quality }
    }
}

/// The fields every frame starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    pub frame_type: FrameType,
    /// 1 for C37.118-2005, 2 for C37.118.2-2011.
    pub version: u8,
    /// FRAMESIZE: the whole frame, SYNC to CHK.
    pub size: u16,
    /// The data stream's IDCODE (for a PDC, the PDC's; each PMU's is in the configuration).
    pub idcode: u16,
    pub time: FrameTime,
}

/// A frame whose envelope and CRC have been checked, with its body still undecoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawFrame<'a> {
    pub header: FrameHeader,
    /// The bytes between FRACSEC and CHK.
    pub body: &'a [u8],
}

/// Why bytes are not a usable C37.118.2 frame. Offsets count from the frame's SYNC byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not an error in the bytes: the frame continues beyond what has arrived.
    #[error("incomplete frame: {needed} more bytes needed")]
    Incomplete { needed: usize },
    #[error("byte {found:#04x} where the SYNC byte 0xAA must start a frame")]
    NotSync { found: u8 },
    #[error("reserved frame type {code} in the SYNC word")]
    UnknownFrameType { code: u8 },
    #[error("FRAMESIZE {size} is below the 16-byte minimum")]
    FrameSizeTooSmall { size: u16 },
    #[error("CRC mismatch: CHK says {carried:#06x}, the frame hashes to {computed:#06x}")]
    BadCrc { carried: u16, computed: u16 },
    #[error("{field} at offset {offset} runs past the end of the frame")]
    Truncated { field: &'static str, offset: usize },
    #[error("{extra} unexpected bytes after {after} at offset {offset}")]
    TrailingBytes { after: &'static str, offset: usize, extra: usize },
    #[error("expected a {expected} frame, got {got:?}")]
    WrongFrameType { expected: &'static str, got: FrameType },
    #[error("TIME_BASE is 0: fractions of a second cannot be converted")]
    ZeroTimeBase,
    #[error("CFG-3 continuation frames (CONT_IDX {cont_idx}) are not supported: only single-frame CFG-3")]
    Cfg3Continuation { cont_idx: u16 },
    #[error("data frame carries IDCODE {got}, the configuration is for stream {expected}")]
    IdcodeMismatch { expected: u16, got: u16 },
    #[error("data frame body has {got} bytes, the configuration (CFGCNT {cfgcnt}) needs {expected}")]
    DataSizeMismatch { expected: usize, got: usize, cfgcnt: u16 },
}

/// Why a frame could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("frame would be {size} bytes, FRAMESIZE holds at most 65535")]
    FrameTooLarge { size: usize },
    #[error("{what} `{name}` is longer than the {max} bytes its field holds")]
    NameTooLong { what: &'static str, name: String, max: usize },
    #[error("{what}: {count} does not fit its 16-bit count field")]
    TooMany { what: &'static str, count: usize },
    #[error("data for station {station} does not match its configuration: {detail}")]
    DataShape { station: usize, detail: String },
}

/// Cuts one frame off the front of `buf` and checks its CRC; returns it with the bytes it used.
///
/// [`DecodeError::Incomplete`] means "read more"; every other error means the bytes at the front
/// are not a frame (a stream reader skips the SYNC byte and looks for the next one).
pub fn split_frame(buf: &[u8]) -> Result<(RawFrame<'_>, usize), DecodeError> {
    let Some(&first) = buf.first() else {
        return Err(DecodeError::Incomplete { needed: MIN_FRAME_LEN });
    };
    if first != SYNC_BYTE {
        return Err(DecodeError::NotSync { found: first });
    }
    if buf.len() < 4 {
        return Err(DecodeError::Incomplete { needed: MIN_FRAME_LEN - buf.len() });
    }
    let mut r = Reader::new(buf, 1);
    let type_byte = r.u8("SYNC")?;
    let code = (type_byte >> 4) & 0x07;
    let frame_type = FrameType::from_code(code).ok_or(DecodeError::UnknownFrameType { code })?;
    let size = r.u16("FRAMESIZE")?;
    let len = usize::from(size);
    if len < MIN_FRAME_LEN {
        return Err(DecodeError::FrameSizeTooSmall { size });
    }
    let Some(frame) = buf.get(..len) else {
        return Err(DecodeError::Incomplete { needed: len - buf.len() });
    };
    let Some((content, &chk)) = frame.split_last_chunk::<CRC_LEN>() else {
        return Err(DecodeError::FrameSizeTooSmall { size });
    };
    let carried = u16::from_be_bytes(chk);
    let computed = crc_ccitt(content);
    if carried != computed {
        return Err(DecodeError::BadCrc { carried, computed });
    }
    let mut r = Reader::new(content, 4);
    let idcode = r.u16("IDCODE")?;
    let soc = r.u32("SOC")?;
    let fracsec = r.u32("FRACSEC")?;
    let header = FrameHeader { frame_type, version: type_byte & 0x0f, size, idcode, time: FrameTime::from_words(soc, fracsec) };
    Ok((RawFrame { header, body: r.rest() }, len))
}

/// Reads big-endian fields from a frame, naming the field and its offset when bytes run out.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Where `buf` starts within the frame, so errors point at the byte Wireshark shows.
    origin: usize,
}

impl<'a> Reader<'a> {
    /// Reads `buf` (a whole frame or its front) from `pos`.
    pub(crate) fn new(buf: &'a [u8], pos: usize) -> Self {
        Self { buf, pos, origin: 0 }
    }

    /// A reader over a frame's body.
    pub(crate) fn body(raw: &RawFrame<'a>) -> Self {
        Self { buf: raw.body, pos: 0, origin: HEADER_LEN }
    }

    /// Current offset from the frame start.
    pub(crate) fn offset(&self) -> usize {
        self.pos + self.origin
    }

    pub(crate) fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let offset = self.offset();
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated { field, offset })?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated { field, offset })?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let offset = self.offset();
        self.bytes(N, field)?.try_into().map_err(|_| DecodeError::Truncated { field, offset })
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn f32(&mut self, field: &'static str) -> Result<f32, DecodeError> {
        Ok(f32::from_be_bytes(self.array(field)?))
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Fails when bytes are left over after the last field.
    pub(crate) fn finish(&self, after: &'static str) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { after, offset: self.offset(), extra }),
        }
    }
}

/// Writes one frame (SYNC version nibble `version`): the header now, the body through `body`, then FRAMESIZE and CHK patched in.
/// Appends to `out`, so a caller can reuse one buffer for every frame.
pub fn encode_frame(
    out: &mut Vec<u8>,
    frame_type: FrameType,
    version: u8,
    idcode: u16,
    time: FrameTime,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.push(SYNC_BYTE);
    out.push(frame_type.code() << 4 | (version & 0x0f));
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&idcode.to_be_bytes());
    out.extend_from_slice(&time.soc.to_be_bytes());
    out.extend_from_slice(&time.fracsec_word().to_be_bytes());
    if let Err(e) = body(out) {
        out.truncate(start);
        return Err(e);
    }
    let size = out.len() - start + CRC_LEN;
    let Ok(size16) = u16::try_from(size) else {
        out.truncate(start);
        return Err(EncodeError::FrameTooLarge { size });
    };
    // `start..` holds the header pushed above, so the frame and its FRAMESIZE field are there.
    let frame = out.get_mut(start..).unwrap_or_default();
    if let Some(field) = frame.get_mut(2..4) {
        field.copy_from_slice(&size16.to_be_bytes());
    }
    let crc = crc_ccitt(frame);
    out.extend_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Collects bytes from a TCP stream or UDP datagrams and cuts them into checked frames,
/// resynchronising on the next SYNC byte after garbage or a bad CRC.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
}

impl FrameReader {
    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Drops everything buffered (a datagram never continues in the next one).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }

    /// Bytes received but not yet part of a returned frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next checked frame, an error for bytes that are not one (already skipped), or `None`
    /// when the next frame has not fully arrived.
    pub fn next_frame(&mut self) -> Option<Result<RawFrame<'_>, DecodeError>> {
        let pending = self.buf.get(self.start..).unwrap_or_default();
        match split_frame(pending) {
            Ok((raw, len)) => {
                let header = raw.header;
                let begin = self.start;
                self.start += len;
                let body = self.buf.get(begin + HEADER_LEN..begin + len - CRC_LEN).unwrap_or_default();
                Some(Ok(RawFrame { header, body }))
            }
            Err(DecodeError::Incomplete { .. }) => None,
            Err(e) => {
                // Skip at least one byte, then up to the next candidate SYNC byte.
                let skip = pending.iter().skip(1).position(|&b| b == SYNC_BYTE).map_or(pending.len(), |p| p + 1);
                self.start += skip;
                Some(Err(e))
            }
        }
    }
}
