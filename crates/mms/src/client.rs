//! The sans-IO MMS client association: bytes in, bytes and events out, time passed in.
//!
//! [`ClientConnection`] walks COTP connect, session/presentation/ACSE association with the MMS
//! initiate exchange, confirmed requests with invoke ids and per-request deadlines (requests past
//! the negotiated outstanding limit wait in a local queue), unsolicited information reports, and
//! the orderly release (MMS conclude, then ACSE release). It never touches a socket or a clock;
//! `crate::driver` runs it on tokio.

use crate::cotp::{self, ConnectParams, CotpError, Reassembler, Tpdu};
use crate::osi::{self, Addresses, Authentication, OsiError, UpperPdu};
use crate::pdu::{ConfirmedRequest, ConfirmedResponse, InformationReport, InitiateParams, MmsPdu, PduError, Reject, ServiceError};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// How to reach and talk to the server.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Session/presentation selectors and AP titles.
    pub addresses: Addresses,
    /// Called transport selector (COTP), usually 0001.
    pub called_tsel: Vec<u8>,
    /// Calling transport selector.
    pub calling_tsel: Vec<u8>,
    /// Optional password authentication in the AARQ.
    pub authentication: Option<Authentication>,
    /// Largest MMS PDU we accept (proposed as localDetailCalling).
    pub max_pdu_size: i32,
    /// How long connect + associate may take.
    pub associate_timeout: Duration,
    /// How long one confirmed request may take.
    pub request_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            addresses: Addresses::default(),
            called_tsel: vec![0, 1],
            calling_tsel: vec![0, 1],
            authentication: None,
            max_pdu_size: 65000,
            associate_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a confirmed request did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The server answered with a confirmed-Error.
    #[error("service error class {} code {}", .0.class, .0.code)]
    Service(ServiceError),
    /// The server rejected the PDU.
    #[error("rejected (kind {}, code {})", .0.kind, .0.code)]
    Rejected(Reject),
    /// No answer before the deadline.
    #[error("request timed out")]
    TimedOut,
    /// The association ended first.
    #[error("association closed")]
    Closed,
}

/// Why the association failed or ended abnormally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// TPKT/COTP framing error from the server.
    #[error("transport: {0}")]
    Cotp(#[from] CotpError),
    /// Session/presentation/ACSE error from the server.
    #[error("upper layers: {0}")]
    Osi(#[from] OsiError),
    /// Undecodable MMS PDU from the server.
    #[error("{0}")]
    Pdu(#[from] PduError),
    /// The server sent something not valid in the current state.
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// The server refused the transport or session connection.
    #[error("connection refused by the server ({0})")]
    Refused(&'static str),
    /// ACSE association rejected (AARE result non-zero).
    #[error("association rejected by the server (AARE result {0})")]
    AssociationRejected(i64),
    /// MMS initiate refused.
    #[error("MMS initiate refused: class {} code {}", .0.class, .0.code)]
    InitiateRefused(ServiceError),
    /// Connect/associate did not finish in time.
    #[error("association timed out")]
    AssociateTimeout,
    /// The server aborted or disconnected.
    #[error("aborted by the server")]
    Aborted,
    /// A request was made outside the associated state.
    #[error("not associated")]
    NotAssociated,
}

/// What the application learns from the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The association is up; the server's initiate-Response parameters.
    Associated(InitiateParams),
    /// A confirmed request finished.
    Response {
        /// The request's invoke id.
        invoke_id: u32,
        /// Response or why there is none.
        result: Result<ConfirmedResponse, RequestError>,
    },
    /// An unsolicited informationReport (reports, LastApplError, CommandTermination).
    Report(InformationReport),
    /// Orderly release completed.
    Released,
    /// The association failed or ended abnormally.
    Failed(ClientError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitConnectConfirm,
    AwaitAccept,
    Associated,
    AwaitConcludeResponse,
    AwaitRelease,
    Closed,
}

/// The client side of one MMS association (sans-IO).
#[derive(Debug)]
pub struct ClientConnection {
    config: ClientConfig,
    state: State,
    rx: Vec<u8>,
    reassembler: Reassembler,
    tpdu_size: usize,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    next_invoke_id: u32,
    max_outstanding: usize,
    pending: BTreeMap<u32, Instant>,
    queued: VecDeque<(u32, ConfirmedRequest)>,
    associate_deadline: Option<Instant>,
    release_deadline: Option<Instant>,
}

impl ClientConnection {
    /// Starts an association attempt: the COTP connection request is ready to transmit.
    pub fn new(config: ClientConfig, now: Instant) -> ClientConnection {
        let mut cr = Vec::new();
        let params = ConnectParams {
            src_ref: 1,
            tpdu_size: Some(13), // 8192, the largest class 0 allows
            calling_tsel: Some(config.calling_tsel.clone()),
            called_tsel: Some(config.called_tsel.clone()),
            ..ConnectParams::default()
        };
        cotp::encode_connect(&mut cr, &params, false);
        let limit = usize::try_from(config.max_pdu_size).unwrap_or(65000).saturating_add(1024);
        ClientConnection {
            associate_deadline: Some(now + config.associate_timeout),
            config,
            state: State::AwaitConnectConfirm,
            rx: Vec::new(),
            reassembler: Reassembler::new(limit),
            tpdu_size: 128,
            transmit: VecDeque::from([cr]),
            events: VecDeque::new(),
            next_invoke_id: 1,
            max_outstanding: 1,
            pending: BTreeMap::new(),
            queued: VecDeque::new(),
            release_deadline: None,
        }
    }

    /// True once the association is usable.
    pub fn is_associated(&self) -> bool {
        self.state == State::Associated
    }

    /// True once nothing more will happen (released or failed).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Bytes to write to the transport, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let requests = self.pending.values().min().copied();
        [requests, self.associate_deadline, self.release_deadline].into_iter().flatten().min()
    }

    /// Queues a confirmed request; returns its invoke id. The answer arrives as
    /// [`Event::Response`].
    pub fn request(&mut self, request: ConfirmedRequest, now: Instant) -> Result<u32, ClientError> {
        if self.state != State::Associated {
            return Err(ClientError::NotAssociated);
        }
        let invoke_id = self.next_invoke_id;
        self.next_invoke_id = self.next_invoke_id.wrapping_add(1);
        self.queued.push_back((invoke_id, request));
        self.send_queued(now);
        Ok(invoke_id)
    }

    /// Starts the orderly release (MMS conclude, then ACSE release).
    pub fn release(&mut self, now: Instant) {
        if self.state != State::Associated {
            return;
        }
        self.send_mms(&MmsPdu::ConcludeRequest);
        self.state = State::AwaitConcludeResponse;
        self.release_deadline = Some(now + self.config.request_timeout);
    }

    /// Tells the connection the transport closed under it.
    pub fn handle_transport_closed(&mut self) {
        match self.state {
            State::Closed => {}
            State::AwaitRelease => {
                // Some servers close the transport instead of sending DN after the release request.
                self.finish(Event::Released);
            }
            _ => {
                self.fail(ClientError::Aborted);
            }
        }
    }

    /// Advances timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.associate_deadline.is_some_and(|d| d <= now) {
            self.fail(ClientError::AssociateTimeout);
            return;
        }
        if self.release_deadline.is_some_and(|d| d <= now) {
            self.finish(Event::Released);
            return;
        }
        let expired: Vec<u32> = self.pending.iter().filter(|(_, d)| **d <= now).map(|(id, _)| *id).collect();
        for invoke_id in expired {
            self.pending.remove(&invoke_id);
            self.events.push_back(Event::Response { invoke_id, result: Err(RequestError::TimedOut) });
        }
        self.send_queued(now);
    }

    /// Feeds bytes read from the transport. A returned error has also been reported as
    /// [`Event::Failed`] and closed the connection.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) -> Result<(), ClientError> {
        if self.state == State::Closed {
            return Ok(());
        }
        self.rx.extend_from_slice(bytes);
        loop {
            let (payload, used) = match cotp::decode_tpkt(&self.rx) {
                Ok((payload, used)) => (payload.to_vec(), used),
                Err(CotpError::Incomplete { .. }) => return Ok(()),
                Err(e) => return Err(self.fail(e.into())),
            };
            self.rx.drain(..used);
            if let Err(e) = self.handle_tpdu(&payload, now) {
                return Err(self.fail(e));
            }
            if self.state == State::Closed {
                return Ok(());
            }
        }
    }

    fn handle_tpdu(&mut self, payload: &[u8], now: Instant) -> Result<(), ClientError> {
        match (cotp::decode_tpdu(payload)?, self.state) {
            (Tpdu::ConnectionConfirm(params), State::AwaitConnectConfirm) => {
                self.tpdu_size = params.tpdu_size_bytes();
                let initiate = MmsPdu::InitiateRequest(InitiateParams::client_proposal(self.config.max_pdu_size)).to_bytes();
                let spdu = osi::encode_connect(&self.config.addresses, self.config.authentication.as_ref(), &initiate);
                self.send_tsdu(&spdu);
                self.state = State::AwaitAccept;
                Ok(())
            }
            (
                Tpdu::Data { end_of_tsdu, data },
                State::AwaitAccept | State::Associated | State::AwaitConcludeResponse | State::AwaitRelease,
            ) => match self.reassembler.push(data, end_of_tsdu)? {
                Some(tsdu) => self.handle_spdu(&tsdu, now),
                None => Ok(()),
            },
            (Tpdu::DisconnectRequest { .. }, State::AwaitConnectConfirm) => Err(ClientError::Refused("COTP disconnect request")),
            (Tpdu::DisconnectRequest { .. }, State::AwaitRelease) => {
                self.finish(Event::Released);
                Ok(())
            }
            (Tpdu::DisconnectRequest { .. } | Tpdu::Error { .. }, _) => Err(ClientError::Aborted),
            _ => Err(ClientError::Protocol("TPDU not expected in this state")),
        }
    }

    fn handle_spdu(&mut self, tsdu: &[u8], now: Instant) -> Result<(), ClientError> {
        match (osi::decode_spdu(tsdu)?, self.state) {
            (UpperPdu::Accept { result, mms }, State::AwaitAccept) => {
                if result != 0 {
                    return Err(ClientError::AssociationRejected(result));
                }
                let mms = mms.ok_or(ClientError::Protocol("AARE without MMS initiate-Response"))?;
                match MmsPdu::decode(mms)? {
                    MmsPdu::InitiateResponse(params) => {
                        self.max_outstanding = usize::try_from(params.max_serv_outstanding_calling).unwrap_or(1).max(1);
                        self.associate_deadline = None;
                        self.state = State::Associated;
                        self.events.push_back(Event::Associated(params));
                        self.send_queued(now);
                        Ok(())
                    }
                    MmsPdu::InitiateError(e) => Err(ClientError::InitiateRefused(e)),
                    _ => Err(ClientError::Protocol("AARE carries no initiate-Response")),
                }
            }
            (UpperPdu::Refuse { .. }, State::AwaitAccept) => Err(ClientError::Refused("session refuse")),
            (UpperPdu::Data { mms }, State::Associated | State::AwaitConcludeResponse | State::AwaitRelease) => {
                let pdu = MmsPdu::decode(mms)?;
                self.handle_mms(pdu, now)
            }
            (UpperPdu::Disconnect, State::AwaitRelease) => {
                self.finish(Event::Released);
                Ok(())
            }
            (UpperPdu::Abort | UpperPdu::Disconnect | UpperPdu::Finish, _) => Err(ClientError::Aborted),
            _ => Err(ClientError::Protocol("session PDU not expected in this state")),
        }
    }

    fn handle_mms(&mut self, pdu: MmsPdu, now: Instant) -> Result<(), ClientError> {
        match pdu {
            MmsPdu::ConfirmedResponse { invoke_id, response } => self.complete(invoke_id, Ok(response), now),
            MmsPdu::ConfirmedError { invoke_id, error } => self.complete(invoke_id, Err(RequestError::Service(error)), now),
            MmsPdu::Reject(reject) => match reject.original_invoke_id {
                Some(id) if self.pending.contains_key(&id) => self.complete(id, Err(RequestError::Rejected(reject)), now),
                _ => tracing::warn!(?reject, "MMS reject for no pending request"),
            },
            MmsPdu::InformationReport(report) => self.events.push_back(Event::Report(report)),
            MmsPdu::ConcludeResponse if self.state == State::AwaitConcludeResponse => {
                self.send_tsdu(&osi::encode_release_request());
                self.state = State::AwaitRelease;
            }
            MmsPdu::ConcludeError(_) if self.state == State::AwaitConcludeResponse => {
                // The server wants to keep the association (requests outstanding): abort instead.
                self.send_tsdu(&osi::encode_abort());
                self.finish(Event::Released);
            }
            MmsPdu::ConfirmedRequest { invoke_id, .. } => {
                // A client serves nothing: reject the request (confirmed-requestPDU, unrecognized-service).
                self.send_mms(&MmsPdu::Reject(Reject { original_invoke_id: Some(invoke_id), kind: 1, code: 1 }));
            }
            _ => return Err(ClientError::Protocol("MMS PDU not expected by a client")),
        }
        Ok(())
    }

    fn complete(&mut self, invoke_id: u32, result: Result<ConfirmedResponse, RequestError>, now: Instant) {
        if self.pending.remove(&invoke_id).is_none() {
            tracing::debug!(invoke_id, "response for an unknown or timed-out request ignored");
            return;
        }
        self.events.push_back(Event::Response { invoke_id, result });
        self.send_queued(now);
    }

    fn send_queued(&mut self, now: Instant) {
        while self.state == State::Associated && self.pending.len() < self.max_outstanding {
            let Some((invoke_id, request)) = self.queued.pop_front() else { break };
            self.pending.insert(invoke_id, now + self.config.request_timeout);
            self.send_mms(&MmsPdu::ConfirmedRequest { invoke_id, request });
        }
    }

    fn send_mms(&mut self, pdu: &MmsPdu) {
        let spdu = osi::encode_data(&pdu.to_bytes());
        self.send_tsdu(&spdu);
    }

    fn send_tsdu(&mut self, tsdu: &[u8]) {
        let mut out = Vec::with_capacity(tsdu.len() + 7);
        cotp::encode_data(&mut out, tsdu, self.tpdu_size);
        self.transmit.push_back(out);
    }

    fn finish(&mut self, event: Event) {
        let failed = matches!(event, Event::Failed(_));
        for (invoke_id, _) in std::mem::take(&mut self.pending) {
            self.events.push_back(Event::Response { invoke_id, result: Err(RequestError::Closed) });
        }
        for (invoke_id, _) in std::mem::take(&mut self.queued) {
            self.events.push_back(Event::Response { invoke_id, result: Err(RequestError::Closed) });
        }
        if failed {
            tracing::warn!(?event, "MMS association ended");
        }
        self.events.push_back(event);
        self.state = State::Closed;
        self.associate_deadline = None;
        self.release_deadline = None;
    }

    fn fail(&mut self, error: ClientError) -> ClientError {
        self.finish(Event::Failed(error.clone()));
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ber::{self, Tag};
    use crate::data::ObjectName;
    use crate::pdu::{NameScope, ObjectClass};
    use proptest::prelude::*;

    /// Builds what a server would send: CC, AC(+AARE+initiate-Response), DT(+MMS).
    struct FakeServer;

    impl FakeServer {
        fn cc() -> Vec<u8> {
            let mut out = Vec::new();
            cotp::encode_connect(
                &mut out,
                &ConnectParams { dst_ref: 1, src_ref: 2, tpdu_size: Some(10), ..ConnectParams::default() },
                true,
            );
            out
        }

        fn ac(max_outstanding: i32) -> Vec<u8> {
            let mut initiate = InitiateParams::client_proposal(65000);
            initiate.max_serv_outstanding_calling = max_outstanding;
            let mms = MmsPdu::InitiateResponse(initiate).to_bytes();
            let mut aare = Vec::new();
            ber::write_constructed(&mut aare, Tag::application_constructed(1), |out| {
                ber::write_constructed(out, Tag::context_constructed(2), |out| ber::write_i64(out, Tag::INTEGER, 0));
                ber::write_constructed(out, Tag::context_constructed(30), |out| {
                    ber::write_constructed(out, Tag::EXTERNAL, |out| {
                        ber::write_i64(out, Tag::INTEGER, 3);
                        ber::write_constructed(out, Tag::context_constructed(0), |out| out.extend_from_slice(&mms));
                    })
                });
            });
            let mut cpa = Vec::new();
            ber::write_constructed(&mut cpa, Tag::SET, |out| {
                ber::write_constructed(out, Tag::context_constructed(2), |out| {
                    ber::write_constructed(out, Tag::application_constructed(1), |out| {
                        ber::write_constructed(out, Tag::SEQUENCE, |out| {
                            ber::write_i64(out, Tag::INTEGER, 1);
                            ber::write_constructed(out, Tag::context_constructed(0), |out| out.extend_from_slice(&aare));
                        })
                    })
                })
            });
            let mut spdu = vec![14, 0, 193];
            spdu.push(u8::try_from(cpa.len()).unwrap());
            spdu.extend_from_slice(&cpa);
            spdu[1] = u8::try_from(spdu.len() - 2).unwrap();
            let mut out = Vec::new();
            cotp::encode_data(&mut out, &spdu, 1024);
            out
        }

        fn mms(pdu: &MmsPdu) -> Vec<u8> {
            let mut out = Vec::new();
            cotp::encode_data(&mut out, &osi::encode_data(&pdu.to_bytes()), 1024);
            out
        }
    }

    fn associated(max_outstanding: i32, now: Instant) -> ClientConnection {
        let mut c = ClientConnection::new(ClientConfig::default(), now);
        assert!(c.poll_transmit().is_some());
        c.handle_input(&FakeServer::cc(), now).unwrap();
        let cn = c.poll_transmit().unwrap();
        assert!(matches!(osi::decode_spdu(&cn[7..]).unwrap(), UpperPdu::Connect { .. }));
        c.handle_input(&FakeServer::ac(max_outstanding), now).unwrap();
        assert!(matches!(c.poll_event(), Some(Event::Associated(_))));
        c
    }

    fn sent_request(c: &mut ClientConnection) -> Option<(u32, ConfirmedRequest)> {
        let bytes = c.poll_transmit()?;
        let UpperPdu::Data { mms } = osi::decode_spdu(&bytes[7..]).unwrap() else { panic!("not data") };
        match MmsPdu::decode(mms).unwrap() {
            MmsPdu::ConfirmedRequest { invoke_id, request } => Some((invoke_id, request)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn request_beyond_outstanding_limit_waits_for_a_response() {
        let now = Instant::now();
        let mut c = associated(1, now);
        let a = c.request(ConfirmedRequest::Identify, now).unwrap();
        let b = c.request(ConfirmedRequest::Identify, now).unwrap();
        assert_eq!(sent_request(&mut c).map(|r| r.0), Some(a));
        assert!(c.poll_transmit().is_none(), "second request must wait");
        let response = ConfirmedResponse::Identify { vendor: "v".into(), model: "m".into(), revision: "1".into() };
        c.handle_input(&FakeServer::mms(&MmsPdu::ConfirmedResponse { invoke_id: a, response: response.clone() }), now).unwrap();
        assert_eq!(c.poll_event(), Some(Event::Response { invoke_id: a, result: Ok(response) }));
        assert_eq!(sent_request(&mut c).map(|r| r.0), Some(b));
    }

    #[test]
    fn request_times_out_with_time_passed_in() {
        let now = Instant::now();
        let mut c = associated(5, now);
        let id = c.request(ConfirmedRequest::Identify, now).unwrap();
        assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(10)));
        c.handle_timeout(now + Duration::from_secs(9));
        assert!(c.poll_event().is_none());
        c.handle_timeout(now + Duration::from_secs(10));
        assert_eq!(c.poll_event(), Some(Event::Response { invoke_id: id, result: Err(RequestError::TimedOut) }));
        // A late answer is ignored, not an error.
        let late = MmsPdu::ConfirmedResponse { invoke_id: id, response: ConfirmedResponse::DefineNamedVariableList };
        c.handle_input(&FakeServer::mms(&late), now + Duration::from_secs(11)).unwrap();
        assert!(c.poll_event().is_none());
    }

    #[test]
    fn associate_times_out_when_the_server_is_silent() {
        let now = Instant::now();
        let mut c = ClientConnection::new(ClientConfig::default(), now);
        c.handle_timeout(now + Duration::from_secs(10));
        assert_eq!(c.poll_event(), Some(Event::Failed(ClientError::AssociateTimeout)));
        assert!(c.is_closed());
    }

    #[test]
    fn reports_errors_and_rejects_are_delivered() {
        let now = Instant::now();
        let mut c = associated(5, now);
        let id = c
            .request(ConfirmedRequest::GetNameList { class: ObjectClass::Domain, scope: NameScope::Vmd, continue_after: None }, now)
            .unwrap();
        let report = InformationReport { variables: crate::pdu::VariableAccess::NamedList(ObjectName::Vmd("RPT".into())), results: vec![] };
        c.handle_input(&FakeServer::mms(&MmsPdu::InformationReport(report.clone())), now).unwrap();
        assert_eq!(c.poll_event(), Some(Event::Report(report)));
        let error = ServiceError { class: 7, code: 3, description: None };
        c.handle_input(&FakeServer::mms(&MmsPdu::ConfirmedError { invoke_id: id, error: error.clone() }), now).unwrap();
        assert_eq!(c.poll_event(), Some(Event::Response { invoke_id: id, result: Err(RequestError::Service(error)) }));
    }

    #[test]
    fn release_concludes_then_releases() {
        let now = Instant::now();
        let mut c = associated(5, now);
        c.release(now);
        let bytes = c.poll_transmit().unwrap();
        let UpperPdu::Data { mms } = osi::decode_spdu(&bytes[7..]).unwrap() else { panic!() };
        assert_eq!(MmsPdu::decode(mms).unwrap(), MmsPdu::ConcludeRequest);
        c.handle_input(&FakeServer::mms(&MmsPdu::ConcludeResponse), now).unwrap();
        let fin = c.poll_transmit().unwrap();
        assert_eq!(osi::decode_spdu(&fin[7..]).unwrap(), UpperPdu::Finish);
        let mut dn = Vec::new();
        cotp::encode_data(&mut dn, &[10, 0], 1024);
        c.handle_input(&dn, now).unwrap();
        assert_eq!(c.poll_event(), Some(Event::Released));
        assert!(c.is_closed());
    }

    #[test]
    fn garbage_from_the_server_fails_the_association_with_a_typed_error() {
        let now = Instant::now();
        let mut c = associated(5, now);
        let id = c.request(ConfirmedRequest::Identify, now).unwrap();
        let err = c.handle_input(&[3, 0, 0, 9, 2, 0xf0, 0x80, 0x01, 0x00], now).unwrap_err();
        assert!(matches!(err, ClientError::Osi(_)), "{err:?}");
        assert_eq!(c.poll_event(), Some(Event::Response { invoke_id: id, result: Err(RequestError::Closed) }));
        assert!(matches!(c.poll_event(), Some(Event::Failed(ClientError::Osi(_)))));
    }

    proptest! {
        #[test]
        fn arbitrary_server_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)) {
            let now = Instant::now();
            let mut c = associated(5, now);
            let _ = c.request(ConfirmedRequest::Identify, now);
            for chunk in chunks {
                let _ = c.handle_input(&chunk, now);
            }
            while c.poll_event().is_some() {}
        }
    }
}
