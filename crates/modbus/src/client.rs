//! The thin tokio driver around [`crate::frame`]: one outstanding request per connection, each
//! with a deadline, so a silent device costs one timeout and never a hang.
//!
//! Generic over the byte stream so the same client runs over TCP or any other transport.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::debug;

use crate::frame::{Exception, FrameError, Header, Request, Response, Table, split_frame};

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {address}: {source}")]
    Connect { address: String, source: io::Error },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Io(#[from] io::Error),
    #[error("device closed the connection")]
    Closed,
    #[error("malformed answer: {0}")]
    Frame(#[from] FrameError),
    #[error("device answered with {0}")]
    Exception(Exception),
    #[error("answer of the wrong kind for {0}")]
    WrongAnswer(&'static str),
}

impl ClientError {
    /// Whether the connection is unusable afterwards (anything but a clean exception answer),
    /// so the caller reconnects instead of reading a late answer as the next one.
    pub fn breaks_connection(&self) -> bool {
        !matches!(self, Self::Exception(_) | Self::WrongAnswer(_))
    }
}

/// A Modbus TCP client bound to one unit id.
pub struct Client<S = TcpStream> {
    stream: S,
    unit: u8,
    timeout: Duration,
    next_transaction: u16,
    received: Vec<u8>,
    sending: Vec<u8>,
}

/// Connects over TCP within `timeout`.
pub async fn connect(address: &str, unit: u8, timeout: Duration) -> Result<Client<TcpStream>, ClientError> {
    let connect_error = |source| ClientError::Connect { address: address.to_owned(), source };
    let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
        .await
        .map_err(|_| connect_error(io::Error::new(io::ErrorKind::TimedOut, format!("no connection within {timeout:?}"))))?
        .map_err(connect_error)?;
    stream.set_nodelay(true)?;
    Ok(Client::new(stream, unit, timeout))
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Wraps an established stream; every request must be answered within `timeout`.
    pub fn new(stream: S, unit: u8, timeout: Duration) -> Self {
        Self { stream, unit, timeout, next_transaction: 1, received: Vec::with_capacity(512), sending: Vec::with_capacity(300) }
    }

    /// Sends `request` and waits for its answer; a Modbus exception is returned as
    /// [`Response::Exception`], not as an error.
    pub async fn call(&mut self, request: &Request) -> Result<Response, ClientError> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.exchange(request)).await.map_err(|_| ClientError::Timeout(timeout))?
    }

    async fn exchange(&mut self, request: &Request) -> Result<Response, ClientError> {
        let transaction = self.next_transaction;
        self.next_transaction = self.next_transaction.wrapping_add(1);
        self.sending.clear();
        request.encode(Header { transaction, unit: self.unit }, &mut self.sending)?;
        self.stream.write_all(&self.sending).await?;
        loop {
            match split_frame(&self.received) {
                Ok((header, pdu, used)) => {
                    let answer = (header.transaction == transaction).then(|| Response::decode(pdu, request));
                    self.received.drain(..used);
                    match answer {
                        Some(answer) => return Ok(answer?),
                        None => debug!(got = header.transaction, want = transaction, "stale answer skipped"),
                    }
                }
                Err(FrameError::Incomplete { .. }) => {
                    if self.stream.read_buf(&mut self.received).await? == 0 {
                        return Err(ClientError::Closed);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads `count` registers of a register table.
    pub async fn read_registers(&mut self, table: Table, address: u16, count: u16) -> Result<Vec<u16>, ClientError> {
        match self.call(&Request::Read { table, address, count }).await? {
            Response::Registers(r) => Ok(r),
            Response::Exception(e) => Err(ClientError::Exception(e)),
            _ => Err(ClientError::WrongAnswer("a register read")),
        }
    }

    /// Reads `count` coils or discrete inputs.
    pub async fn read_bits(&mut self, table: Table, address: u16, count: u16) -> Result<Vec<bool>, ClientError> {
        match self.call(&Request::Read { table, address, count }).await? {
            Response::Bits(b) => Ok(b),
            Response::Exception(e) => Err(ClientError::Exception(e)),
            _ => Err(ClientError::WrongAnswer("a bit read")),
        }
    }

    /// Writes one holding register (function 6) and checks the echo.
    pub async fn write_register(&mut self, address: u16, value: u16) -> Result<(), ClientError> {
        match self.call(&Request::WriteSingleRegister { address, value }).await? {
            Response::WriteSingle { address: a, value: v } if a == address && v == value => Ok(()),
            Response::Exception(e) => Err(ClientError::Exception(e)),
            _ => Err(ClientError::WrongAnswer("a register write")),
        }
    }
}
