//! Command frames (client → PMU: start/stop data, send a configuration or the header) and header
//! frames (PMU → client: free text describing the PMU).

use crate::frame::{DecodeError, EncodeError, FrameTime, FrameType, RawFrame, Reader, VERSION_2011, encode_frame};

/// The CMD word of a command frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// 0001: turn off transmission of data frames.
    DataOff,
    /// 0010: turn on transmission of data frames.
    DataOn,
    /// 0011: send the header frame.
    SendHeader,
    /// 0100: send CFG-1.
    SendConfig1,
    /// 0101: send CFG-2.
    SendConfig2,
    /// 0110: send CFG-3 (2011).
    SendConfig3,
    /// 1000: extended frame (data in EXTFRAME).
    Extended,
    /// Reserved or user-designated codes, kept so they can be logged and ignored.
    Other(u16),
}

impl Command {
    /// The CMD word on the wire.
    pub const fn code(self) -> u16 {
        match self {
            Self::DataOff => 1,
            Self::DataOn => 2,
            Self::SendHeader => 3,
            Self::SendConfig1 => 4,
            Self::SendConfig2 => 5,
            Self::SendConfig3 => 6,
            Self::Extended => 8,
            Self::Other(c) => c,
        }
    }

    /// Reverses [`Self::code`].
    pub const fn from_code(code: u16) -> Self {
        match code {
            1 => Self::DataOff,
            2 => Self::DataOn,
            3 => Self::SendHeader,
            4 => Self::SendConfig1,
            5 => Self::SendConfig2,
            6 => Self::SendConfig3,
            8 => Self::Extended,
            c => Self::Other(c),
        }
    }
}

/// A command frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandFrame {
    /// The IDCODE of the stream the command is for.
    pub idcode: u16,
    pub time: FrameTime,
    pub command: Command,
    /// EXTFRAME: user data after CMD (usually empty).
    pub extended: Vec<u8>,
}

impl CommandFrame {
    /// A command without extended data.
    pub fn new(idcode: u16, time: FrameTime, command: Command) -> Self {
        Self { idcode, time, command, extended: Vec::new() }
    }

    /// Decodes a command frame.
    pub fn decode(raw: &RawFrame<'_>) -> Result<Self, DecodeError> {
        if raw.header.frame_type != FrameType::Command {
            return Err(DecodeError::WrongFrameType { expected: "command", got: raw.header.frame_type });
        }
        let mut r = Reader::body(raw);
        let command = Command::from_code(r.u16("CMD")?);
        Ok(Self { idcode: raw.header.idcode, time: raw.header.time, command, extended: r.rest().to_vec() })
    }

    /// Appends the frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_frame(out, FrameType::Command, VERSION_2011, self.idcode, self.time, |b| {
            b.extend_from_slice(&self.command.code().to_be_bytes());
            b.extend_from_slice(&self.extended);
            Ok(())
        })
    }
}

/// A header frame: human-readable text about the PMU, its algorithms and filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderFrame {
    pub idcode: u16,
    pub time: FrameTime,
    /// The ASCII text (any invalid UTF-8 replaced).
    pub text: String,
}

impl HeaderFrame {
    /// Decodes a header frame.
    pub fn decode(raw: &RawFrame<'_>) -> Result<Self, DecodeError> {
        if raw.header.frame_type != FrameType::Header {
            return Err(DecodeError::WrongFrameType { expected: "header", got: raw.header.frame_type });
        }
        Ok(Self { idcode: raw.header.idcode, time: raw.header.time, text: String::from_utf8_lossy(raw.body).into_owned() })
    }

    /// Appends the frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_frame(out, FrameType::Header, VERSION_2011, self.idcode, self.time, |b| {
            b.extend_from_slice(self.text.as_bytes());
            Ok(())
        })
    }
}
