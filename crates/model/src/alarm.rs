//! What an alarm is about and how urgent it is: one vocabulary for every role that raises alarms
//! and every service that reads them (the alarm list, incident correlation), so a kind is never
//! spelled twice.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How urgent an alarm is, most urgent first (so `Ord` sorts the urgent ones to the front).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    /// Evidence failed: data or history may be forged.
    Critical,
    /// Something an operator must look at soon (a refused peer, a gap).
    Major,
    /// Worth a look (a refused command).
    Minor,
    /// For the record.
    Info,
}

impl Severity {
    /// The name the API and the logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Major => "major",
            Severity::Minor => "minor",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong. Stored and served by name ([`AlarmKind::as_str`]), so stored alarms keep
/// their meaning when kinds are added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum AlarmKind {
    /// Evidence failed verification: a batch's signature, Merkle root or records.
    Trust,
    /// An edge's chain has a gap or a fork, or started again.
    Chain,
    /// A peer was refused, or disconnected because its certificate no longer validates.
    Peer,
    /// A command, or a command's result, was refused.
    Command,
    /// The transparency log could not be appended to, signed or proven.
    Log,
    /// An edge reported or answered for a point the signed registry does not grant it.
    Authority,
    /// The store could not keep what arrived.
    Store,
    /// A connector was resynced from the latest values, or its replay ended early.
    Resync,
    /// The certificate revocation list could not be read or is out of date.
    Crl,
    /// Repeated failed logins locked an account.
    Login,
    /// The state estimator's bad-data test names a measurement.
    BadData,
    /// A value is outside the daily/weekly profile learned for its point.
    Profile,
    /// An edge the registry names is not heard from: its points are not updated.
    Stale,
    /// An edge's clock disagrees with the hub's beyond the allowed skew.
    Clock,
    /// A connector's intrusion detector saw SCADA traffic unlike what it learned.
    Intrusion,
}

impl AlarmKind {
    /// Every kind, for listings and round-trip tests.
    pub const ALL: [AlarmKind; 15] = [
        AlarmKind::Trust,
        AlarmKind::Chain,
        AlarmKind::Peer,
        AlarmKind::Command,
        AlarmKind::Log,
        AlarmKind::Authority,
        AlarmKind::Store,
        AlarmKind::Resync,
        AlarmKind::Crl,
        AlarmKind::Login,
        AlarmKind::BadData,
        AlarmKind::Profile,
        AlarmKind::Stale,
        AlarmKind::Clock,
        AlarmKind::Intrusion,
    ];

    /// The name the API, the store and the logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::Trust => "trust",
            AlarmKind::Chain => "chain",
            AlarmKind::Peer => "peer",
            AlarmKind::Command => "command",
            AlarmKind::Log => "log",
            AlarmKind::Authority => "authority",
            AlarmKind::Store => "store",
            AlarmKind::Resync => "resync",
            AlarmKind::Crl => "crl",
            AlarmKind::Login => "login",
            AlarmKind::BadData => "bad-data",
            AlarmKind::Profile => "profile",
            AlarmKind::Stale => "stale",
            AlarmKind::Clock => "clock",
            AlarmKind::Intrusion => "intrusion",
        }
    }
}

impl fmt::Display for AlarmKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<AlarmKind> for &'static str {
    fn from(kind: AlarmKind) -> Self {
        kind.as_str()
    }
}

/// A name that is not an alarm kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown alarm kind {0:?}")]
pub struct UnknownAlarmKind(pub String);

impl FromStr for AlarmKind {
    type Err = UnknownAlarmKind;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        AlarmKind::ALL.into_iter().find(|k| k.as_str() == name).ok_or_else(|| UnknownAlarmKind(name.to_owned()))
    }
}

impl TryFrom<String> for AlarmKind {
    type Error = UnknownAlarmKind;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_name_and_names_are_distinct() {
        let mut names: Vec<&str> = AlarmKind::ALL.iter().map(|k| k.as_str()).collect();
        for kind in AlarmKind::ALL {
            assert_eq!(kind.as_str().parse::<AlarmKind>(), Ok(kind));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AlarmKind::ALL.len());
        assert_eq!("tamper".parse::<AlarmKind>(), Err(UnknownAlarmKind("tamper".into())));
    }

    #[test]
    fn severity_orders_the_most_urgent_first() {
        let mut s = vec![Severity::Info, Severity::Critical, Severity::Minor, Severity::Major];
        s.sort();
        assert_eq!(s, [Severity::Critical, Severity::Major, Severity::Minor, Severity::Info]);
    }
}
