//! What the detector consumes: one event per TCP connection change or decoded application frame,
//! with its time, its connection and which way it went.

use std::fmt;
use std::net::Ipv4Addr;

use gridtrust_iec104::apci::{ApciError, Apdu};
use gridtrust_modbus::frame::{FrameError, Header};
use serde::{Deserialize, Serialize};

/// One end of a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Endpoint {
    /// Address.
    pub ip: Ipv4Addr,
    /// Port.
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ip, self.port)
    }
}

/// A TCP connection, oriented: the client opened it (or, when the capture missed the SYN, is the
/// side not on the protocol's well-known port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Flow {
    /// The controlling station (IEC 104) or Modbus client.
    pub client: Endpoint,
    /// The controlled station (IEC 104) or Modbus server.
    pub server: Endpoint,
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.client, self.server)
    }
}

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Direction {
    /// Client to server: control direction in IEC 104, requests in Modbus.
    ToServer,
    /// Server to client: monitor direction, responses.
    ToClient,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::ToServer => "control",
            Direction::ToClient => "monitor",
        })
    }
}

/// The application protocol of a connection, told by the server's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    /// IEC 60870-5-104 (port 2404).
    Iec104,
    /// Modbus/TCP (port 502).
    Modbus,
}

impl Protocol {
    /// The protocol served on a well-known port, if it is one we parse.
    pub fn from_server_port(port: u16) -> Option<Protocol> {
        match port {
            2404 => Some(Protocol::Iec104),
            502 => Some(Protocol::Modbus),
            _ => None,
        }
    }
}

/// Why bytes in a reassembled stream could not be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    /// The IEC 104 APCI codec refused the bytes.
    Iec104(ApciError),
    /// The Modbus MBAP framing refused the bytes.
    Modbus(FrameError),
    /// Bytes are missing in the stream (capture loss): framing restarts after the gap.
    StreamGap {
        /// Bytes skipped.
        missing: u32,
    },
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Iec104(e) => write!(f, "IEC 104: {e}"),
            Malformed::Modbus(e) => write!(f, "Modbus: {e}"),
            Malformed::StreamGap { missing } => write!(f, "{missing} bytes missing from the TCP stream"),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A connection attempt (SYN without ACK).
    Open,
    /// The connection was closed (FIN) or reset (RST).
    Close,
    /// One IEC 104 APDU.
    Iec104(Apdu),
    /// One Modbus/TCP ADU: its MBAP header and PDU (function code first).
    Modbus {
        /// Transaction and unit.
        header: Header,
        /// The PDU.
        pdu: Vec<u8>,
    },
    /// Bytes that could not be framed.
    Malformed(Malformed),
}

/// One observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Capture time, microseconds since the Unix epoch.
    pub time_us: i64,
    /// The connection.
    pub flow: Flow,
    /// Which way.
    pub direction: Direction,
    /// The sender's MAC address, when the capture has one.
    pub src_mac: Option<[u8; 6]>,
    /// The protocol.
    pub protocol: Protocol,
    /// What.
    pub kind: EventKind,
}

impl Event {
    /// The sender's endpoint.
    pub fn sender(&self) -> Endpoint {
        match self.direction {
            Direction::ToServer => self.flow.client,
            Direction::ToClient => self.flow.server,
        }
    }
}
