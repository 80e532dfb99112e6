//! The SCADA side of the connector: who may connect to its IEC 104 server, and on whose behalf
//! it signs what they command.
//!
//! - **Addresses.** The redundancy groups' members (`iec104.station.redundancy_groups[i].members`,
//!   addresses or CIDR blocks) are an allow-list: a connection from any other address is closed
//!   before a byte is read or a TLS handshake is spent on it, counted
//!   ([`CcStats::scada_connections_refused`]) and alarmed. A `cc.toml` without groups, or with a
//!   group without members, does not load: an empty list would otherwise mean either "nobody"
//!   (a connector nobody can use) or "anybody" (the hole this closes), and neither should be a
//!   default. "Anybody" can still be written, visibly: `members = ["0.0.0.0/0", "::/0"]`.
//! - **TLS** (`iec104.tls = true`). Only [`IdentityKind::Scada`] certificates of the operator CA
//!   holding VIEWER, OPERATOR or ENGINEER complete the handshake ([`admission`]); an edge's,
//!   the hub console's or a person's certificate is refused with the alert `access_denied`,
//!   a foreign CA's with `unknown_ca`, and both are counted like refused addresses.
//! - **Commands** ([`on_behalf`]). Over TLS the client certificate's IEC 62351-8 role decides:
//!   OPERATOR and ENGINEER ([`Role::OPERATING`]) may command, and the connector signs the
//!   command as `<cc>/scada:<client>` with the client's (least) operating role; a VIEWER may
//!   connect, interrogate and read, and its commands are refused before anything is signed. On
//!   plain TCP nothing authenticates a client, so the connector signs on behalf of the address
//!   (`<cc>/scada-ip:<address>`) in its own operating role: per-client roles need TLS.
//!
//! A refused command is answered with a negative activation confirmation (ACTCON, COT 7,
//! P/N = 1). IEC 60870-5-101/104 has no cause "not authorised"; COT 44 (unknown type) and 47
//! (unknown object address) say the ASDU names something the station does not have, which
//! would be false here and leads a SCADA engineer to "fix" the database. A negative ACTCON is
//! the standard's answer for a well-formed command the station will not carry out, as for
//! every other refusal on the way to the device (policy, interlock, device), and it tells a
//! VIEWER nothing it could not read from the point list. The refusal is audited: a log line at
//! target `alarm`, [`CcStats::scada_commands_refused`], and an alarm.
//!
//! [`CcStats::scada_connections_refused`]: crate::CcStats::scada_connections_refused
//! [`CcStats::scada_commands_refused`]: crate::CcStats::scada_commands_refused

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tracing::warn;

use gridtrust_iec104::server::RefusedConnection;
use gridtrust_model::Timestamp;
use gridtrust_pki::{ClientAdmission, CommandIssuer, IdentityKind, PeerIdentity, Refusal, Role, authorize};

use crate::CcStats;
use crate::alarm_list::AlarmList;
use crate::verify::Alarm;

/// The roles a SCADA client certificate must hold one of to connect: reading (VIEWER) or
/// operating too.
pub const SCADA_ROLES: &[Role] = &[Role::Viewer, Role::Operator, Role::Engineer];

/// Which client certificates complete the TLS handshake of the connector's IEC 104 server.
pub fn admission() -> ClientAdmission {
    ClientAdmission { kinds: vec![IdentityKind::Scada], roles: SCADA_ROLES.to_vec() }
}

/// On whose behalf, and in which role, the connector signs a SCADA command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnBehalf {
    /// What the command's `issuer` field names.
    pub issuer: CommandIssuer,
    /// What the command's `role` field names.
    pub role: Role,
}

/// Why a SCADA command is refused before it is signed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandRefusal {
    /// The client authenticated, but holds no role that may operate (a VIEWER).
    #[error("SCADA client {client} may not operate (roles {roles:?})")]
    NotOperating {
        /// The client certificate's name.
        client: String,
        /// Its roles.
        roles: Vec<Role>,
    },
    /// The certificate the handshake accepted is not a SCADA client's (not reachable through
    /// [`admission`]; checked again so the decision does not depend on the TLS setup).
    #[error("{0} is not a SCADA client")]
    NotScada(String),
    /// The client certificate no longer validates (expired or revoked since the handshake).
    #[error("the SCADA client's certificate does not validate: {0}")]
    Certificate(String),
    /// The connector itself holds no operating role, so it cannot sign for a plain-TCP client.
    #[error("connector {0} holds no role that may operate")]
    ConnectorCannotOperate(String),
}

/// Decides on one SCADA command from `peer`: with a validated client certificate, by the
/// client's roles; without one (plain TCP), on behalf of the address with the connector's own
/// operating role. `cc` is the connector's own identity.
pub fn on_behalf(cc: &PeerIdentity, peer: SocketAddr, client: Option<&PeerIdentity>) -> Result<OnBehalf, CommandRefusal> {
    let least_operating = |roles: &[Role]| roles.iter().copied().filter(|r| Role::OPERATING.contains(r)).min();
    match client {
        Some(client) => {
            authorize(client, &[IdentityKind::Scada], Role::OPERATING).map_err(|e| match e {
                Refusal::Role { .. } => CommandRefusal::NotOperating { client: client.name.clone(), roles: client.roles.clone() },
                _ => CommandRefusal::NotScada(client.to_string()),
            })?;
            let role = least_operating(&client.roles)
                .ok_or_else(|| CommandRefusal::NotOperating { client: client.name.clone(), roles: client.roles.clone() })?;
            Ok(OnBehalf { issuer: CommandIssuer::ScadaClient { cc: cc.name.clone(), client: client.name.clone() }, role })
        }
        None => {
            let role = least_operating(&cc.roles).ok_or_else(|| CommandRefusal::ConnectorCannotOperate(cc.name.clone()))?;
            Ok(OnBehalf { issuer: CommandIssuer::ScadaAddress { cc: cc.name.clone(), address: peer.ip().to_canonical() }, role })
        }
    }
}

/// How often one address may raise the refused-connection alarm.
pub const REFUSAL_ALARM_INTERVAL: Duration = Duration::from_secs(60);

/// How many addresses [`RefusalLog`] remembers; refusals from further addresses share one
/// entry, so a scan from many addresses cannot grow memory or the alarm list without bound.
pub const REFUSAL_ADDRESSES: usize = 1024;

/// Rate-limits the alarm for refused connections (sans-IO): per address, the first refusal is
/// reported at once, later ones at most once per interval with how many there were, so a port
/// scan or a client retrying every second raises one alarm a minute, not one per attempt.
#[derive(Debug)]
pub struct RefusalLog {
    interval: Duration,
    /// Keyed by address; `None` collects addresses beyond [`REFUSAL_ADDRESSES`].
    seen: HashMap<Option<IpAddr>, Seen>,
}

#[derive(Debug)]
struct Seen {
    reported_at: Instant,
    since_report: u64,
}

/// What [`RefusalLog::note`] asks to be reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefusalReport {
    /// The address, or `None` for "addresses beyond the ones tracked".
    pub address: Option<IpAddr>,
    /// Refusals since the last report for it, this one included.
    pub count: u64,
}

impl RefusalLog {
    /// A log reporting each address at most once per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self { interval, seen: HashMap::new() }
    }

    /// Notes one refused connection from `address` at `now`; returns what to report, if
    /// anything.
    pub fn note(&mut self, address: IpAddr, now: Instant) -> Option<RefusalReport> {
        let interval = self.interval;
        let mut key = Some(address);
        if !self.seen.contains_key(&key) && self.seen.len() >= REFUSAL_ADDRESSES {
            self.seen.retain(|_, s| now.saturating_duration_since(s.reported_at) < interval);
            if self.seen.len() >= REFUSAL_ADDRESSES {
                key = None;
            }
        }
        match self.seen.get_mut(&key) {
            Some(s) if now.saturating_duration_since(s.reported_at) < interval => {
                s.since_report = s.since_report.saturating_add(1);
                None
            }
            Some(s) => {
                let count = s.since_report.saturating_add(1);
                *s = Seen { reported_at: now, since_report: 0 };
                Some(RefusalReport { address: key, count })
            }
            None => {
                self.seen.insert(key, Seen { reported_at: now, since_report: 0 });
                Some(RefusalReport { address: key, count: 1 })
            }
        }
    }
}

/// Counts every connection the IEC 104 server refused and raises the rate-limited alarm, until
/// the server stops.
pub async fn watch_refusals(mut refusals: broadcast::Receiver<RefusedConnection>, stats: Arc<CcStats>, alarms: Arc<Mutex<AlarmList>>) {
    let mut log = RefusalLog::new(REFUSAL_ALARM_INTERVAL);
    loop {
        let refused = match refusals.recv().await {
            Ok(r) => r,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                stats.scada_connections_refused.fetch_add(missed, Ordering::Relaxed);
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        stats.scada_connections_refused.fetch_add(1, Ordering::Relaxed);
        let Some(report) = log.note(refused.peer.ip().to_canonical(), Instant::now()) else { continue };
        let from = report.address.map_or_else(|| "more addresses than are tracked".to_owned(), |a| a.to_string());
        warn!(target: "alarm", peer = %refused.peer, reason = %refused.reason, count = report.count, "SCADA connection refused");
        let reason = format!("SCADA connection from {from} refused ({}x since last reported): {}", report.count, refused.reason);
        alarms.lock().unwrap_or_else(|p| p.into_inner()).push(Alarm {
            edge_id: "scada".into(),
            batch_seq: 0,
            reason,
            at: Timestamp::now(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_pki::Serial;

    fn identity(kind: IdentityKind, name: &str, roles: &[Role]) -> PeerIdentity {
        PeerIdentity {
            kind,
            name: name.into(),
            roles: roles.to_vec(),
            serial: Serial::from(1),
            certificate_id: [0; 32],
            public_key: vec![],
            not_after: std::time::SystemTime::UNIX_EPOCH,
        }
    }

    fn peer() -> SocketAddr {
        "10.1.0.5:40000".parse().unwrap()
    }

    #[test]
    fn the_client_certificate_role_decides_and_names_the_issuer() {
        let cc = identity(IdentityKind::Cc, "cc-1", &[Role::Operator]);
        let viewer = identity(IdentityKind::Scada, "scada-v", &[Role::Viewer]);
        assert_eq!(
            on_behalf(&cc, peer(), Some(&viewer)),
            Err(CommandRefusal::NotOperating { client: "scada-v".into(), roles: vec![Role::Viewer] })
        );
        // The least operating role the client holds is the one it acts in.
        let engineer = identity(IdentityKind::Scada, "scada-e", &[Role::Viewer, Role::Operator, Role::Engineer]);
        let signed = on_behalf(&cc, peer(), Some(&engineer)).unwrap();
        assert_eq!((signed.issuer.to_string(), signed.role), ("cc-1/scada:scada-e".into(), Role::Operator));
        let engineer_only = identity(IdentityKind::Scada, "scada-e", &[Role::Engineer]);
        assert_eq!(on_behalf(&cc, peer(), Some(&engineer_only)).unwrap().role, Role::Engineer);
        // Not a SCADA client, whatever its roles.
        for kind in [IdentityKind::Operator, IdentityKind::Edge, IdentityKind::Cc] {
            let other = identity(kind, "x", &[Role::Operator]);
            assert!(matches!(on_behalf(&cc, peer(), Some(&other)), Err(CommandRefusal::NotScada(_))), "{kind}");
        }
    }

    #[test]
    fn without_tls_the_connector_signs_for_the_address_in_its_own_role() {
        let cc = identity(IdentityKind::Cc, "cc-1", &[Role::Viewer, Role::Engineer]);
        let signed = on_behalf(&cc, "[::ffff:10.1.0.5]:2404".parse().unwrap(), None).unwrap();
        assert_eq!((signed.issuer.to_string(), signed.role), ("cc-1/scada-ip:10.1.0.5".into(), Role::Engineer));
        let viewer_cc = identity(IdentityKind::Cc, "cc-1", &[Role::Viewer]);
        assert_eq!(on_behalf(&viewer_cc, peer(), None), Err(CommandRefusal::ConnectorCannotOperate("cc-1".into())));
    }

    #[test]
    fn refusals_are_reported_once_per_address_and_interval() {
        let t0 = Instant::now();
        let mut log = RefusalLog::new(Duration::from_secs(60));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        assert_eq!(log.note(a, t0), Some(RefusalReport { address: Some(a), count: 1 }));
        for s in 1..=30 {
            assert_eq!(log.note(a, t0 + Duration::from_secs(s)), None, "a retry every second is not a new alarm");
        }
        assert_eq!(log.note(b, t0 + Duration::from_secs(2)), Some(RefusalReport { address: Some(b), count: 1 }));
        assert_eq!(log.note(a, t0 + Duration::from_secs(61)), Some(RefusalReport { address: Some(a), count: 31 }));
    }

    #[test]
    fn a_scan_from_many_addresses_is_bounded() {
        let t0 = Instant::now();
        let mut log = RefusalLog::new(Duration::from_secs(60));
        let address = |i: usize| IpAddr::from(std::net::Ipv6Addr::from(u128::try_from(i).unwrap() + 1));
        let reported = (0..REFUSAL_ADDRESSES + 500).filter(|i| log.note(address(*i), t0).is_some()).count();
        // Every tracked address once, then one report for all the others.
        assert_eq!(reported, REFUSAL_ADDRESSES + 1);
        assert_eq!(log.seen.len(), REFUSAL_ADDRESSES + 1);
        // Once the interval has passed, old entries make room again.
        let later = t0 + Duration::from_secs(61);
        assert_eq!(log.note(address(REFUSAL_ADDRESSES + 600), later).map(|r| r.address), Some(Some(address(REFUSAL_ADDRESSES + 600))));
    }
}
