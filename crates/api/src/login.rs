//! Password guessing and login floods: failed logins are counted per user name and per source
//! address, and a name or address that fails too often within a window is locked out for a
//! while (the correct password is refused too, without an Argon2 check). Password checks run
//! under a small semaphore, so however many logins arrive at once, at most a few Argon2
//! verifications (each tens of MiB and tens of milliseconds) compete with ingestion for the
//! CPU; a login that cannot get a slot within a short wait is answered 503 instead of queueing.
//!
//! ```toml
//! [api.login]
//! max_failures_per_user = 5        # within window_s, then the name is locked out
//! max_failures_per_address = 20    # within window_s, then the source address is locked out
//! window_s = 900
//! lockout_s = 900
//! concurrent_checks = 2            # Argon2 verifications at once
//! wait_ms = 2000                   # how long a login waits for one before 503
//! ```
//!
//! [`Throttle`] is the decision, sans IO: it is told what happened and when, and answers with
//! the lockouts that start and end, which the routes turn into audit entries and an alarm.
//! Unknown names are counted like known ones, so a lockout does not reveal which names exist.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::{Semaphore, SemaphorePermit};

use gridtrust_config::ConfigError;

/// The `[api.login]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Failed logins for one name within `window_s` that lock the name out.
    pub max_failures_per_user: u32,
    /// Failed logins from one address within `window_s` that lock the address out.
    pub max_failures_per_address: u32,
    /// The counting window, seconds from the first failure.
    pub window_s: u64,
    /// How long a lockout lasts, seconds.
    pub lockout_s: u64,
    /// Argon2 verifications that may run at once.
    pub concurrent_checks: usize,
    /// How long a login waits for a verification slot before it is answered 503, milliseconds.
    pub wait_ms: u64,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self { max_failures_per_user: 5, max_failures_per_address: 20, window_s: 900, lockout_s: 900, concurrent_checks: 2, wait_ms: 2000 }
    }
}

impl LoginConfig {
    /// Checks the values; errors name the key.
    pub fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let counts = [
            ("api.login.max_failures_per_user", self.max_failures_per_user),
            ("api.login.max_failures_per_address", self.max_failures_per_address),
        ];
        for (key, n) in counts {
            if n == 0 {
                return Err(ConfigError::invalid(path, key, "must be at least 1"));
            }
        }
        for (key, s) in [("api.login.window_s", self.window_s), ("api.login.lockout_s", self.lockout_s)] {
            if !(1..=86_400).contains(&s) {
                return Err(ConfigError::invalid(path, key, "must be 1 s to 1 day"));
            }
        }
        if !(1..=64).contains(&self.concurrent_checks) {
            return Err(ConfigError::invalid(path, "api.login.concurrent_checks", "must be 1 to 64"));
        }
        if !(1..=60_000).contains(&self.wait_ms) {
            return Err(ConfigError::invalid(path, "api.login.wait_ms", "must be 1 ms to 60 s"));
        }
        Ok(())
    }
}

/// What a lockout applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A login name (known or not).
    User(String),
    /// A source address.
    Address(IpAddr),
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::User(name) => write!(f, "user {name}"),
            Subject::Address(addr) => write!(f, "address {addr}"),
        }
    }
}

/// Whether a login may go on to the password check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Check the password.
    Check,
    /// Refused without a check: `subject` is locked out for `retry_after` more.
    Locked { subject: Subject, retry_after: Duration },
}

/// A lockout that has just started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockoutStarted {
    /// Who.
    pub subject: Subject,
    /// Failures that caused it.
    pub failures: u32,
    /// How long it lasts.
    pub duration: Duration,
}

/// A lockout that has just ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockoutEnded {
    /// Who.
    pub subject: Subject,
    /// Logins refused while it lasted.
    pub refused: u64,
}

#[derive(Clone, Copy, Debug)]
struct Tally {
    failures: u32,
    since: Instant,
    locked_until: Option<Instant>,
    refused: u64,
}

/// Names or addresses tracked at most, each: past it, new ones are not counted (an attacker
/// with that many names or addresses is held back by the verification semaphore instead), so a
/// flood of random names cannot grow the hub's memory.
const MAX_TRACKED: usize = 10_000;

/// The counting and lockout decisions (no clock, no IO).
#[derive(Debug)]
pub struct Throttle {
    max_per_user: u32,
    max_per_address: u32,
    window: Duration,
    lockout: Duration,
    tallies: HashMap<Subject, Tally>,
}

impl Throttle {
    /// A throttle with the limits of `config`.
    pub fn new(config: &LoginConfig) -> Self {
        Self {
            max_per_user: config.max_failures_per_user,
            max_per_address: config.max_failures_per_address,
            window: Duration::from_secs(config.window_s),
            lockout: Duration::from_secs(config.lockout_s),
            tallies: HashMap::new(),
        }
    }

    fn subjects(user: &str, addr: Option<IpAddr>) -> impl Iterator<Item = Subject> {
        std::iter::once(Subject::User(user.to_owned())).chain(addr.map(Subject::Address))
    }

    /// Whether a login for `user` from `addr` may be checked at `now`; a refusal is counted
    /// for the lockout's end entry.
    pub fn admit(&mut self, user: &str, addr: Option<IpAddr>, now: Instant) -> Admission {
        for subject in Self::subjects(user, addr) {
            if let Some(t) = self.tallies.get_mut(&subject)
                && let Some(until) = t.locked_until
                && until > now
            {
                t.refused += 1;
                return Admission::Locked { subject, retry_after: until - now };
            }
        }
        Admission::Check
    }

    /// Counts a failed login; returns the lockouts it starts.
    pub fn failed(&mut self, user: &str, addr: Option<IpAddr>, now: Instant) -> Vec<LockoutStarted> {
        let mut started = Vec::new();
        for subject in Self::subjects(user, addr) {
            let max = match subject {
                Subject::User(_) => self.max_per_user,
                Subject::Address(_) => self.max_per_address,
            };
            if !self.tallies.contains_key(&subject) && self.tallies.len() >= MAX_TRACKED {
                self.forget_stale(now);
                if self.tallies.len() >= MAX_TRACKED {
                    continue;
                }
            }
            let t = self.tallies.entry(subject.clone()).or_insert(Tally { failures: 0, since: now, locked_until: None, refused: 0 });
            if t.locked_until.is_some() {
                continue;
            }
            if now.duration_since(t.since) > self.window {
                *t = Tally { failures: 0, since: now, locked_until: None, refused: 0 };
            }
            t.failures += 1;
            if t.failures >= max {
                t.locked_until = Some(now + self.lockout);
                started.push(LockoutStarted { subject, failures: t.failures, duration: self.lockout });
            }
        }
        started
    }

    /// A correct password for `user`: its failures are forgotten (the address's are not, so a
    /// guesser cannot reset its own count with an account it holds).
    pub fn succeeded(&mut self, user: &str) {
        let subject = Subject::User(user.to_owned());
        if self.tallies.get(&subject).is_some_and(|t| t.locked_until.is_none()) {
            self.tallies.remove(&subject);
        }
    }

    /// Ends the lockouts due by `now` and returns them.
    pub fn expire(&mut self, now: Instant) -> Vec<LockoutEnded> {
        let mut ended = Vec::new();
        self.tallies.retain(|subject, t| match t.locked_until {
            Some(until) if until <= now => {
                ended.push(LockoutEnded { subject: subject.clone(), refused: t.refused });
                false
            }
            _ => true,
        });
        ended
    }

    /// When the next lockout ends, if one is running.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.tallies.values().filter_map(|t| t.locked_until).min()
    }

    fn forget_stale(&mut self, now: Instant) {
        let window = self.window;
        self.tallies.retain(|_, t| t.locked_until.is_some() || now.duration_since(t.since) <= window);
    }
}

/// The throttle and the verification slots, shared by every login.
#[derive(Debug)]
pub struct LoginGuard {
    throttle: Mutex<Throttle>,
    checks: Semaphore,
    wait: Duration,
}

/// No verification slot came free in time.
#[derive(Debug)]
pub struct Busy;

impl LoginGuard {
    /// A guard with the limits of `config`.
    pub fn new(config: &LoginConfig) -> Self {
        Self {
            throttle: Mutex::new(Throttle::new(config)),
            checks: Semaphore::new(config.concurrent_checks),
            wait: Duration::from_millis(config.wait_ms),
        }
    }

    /// The throttle, for one decision.
    pub fn throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for one password verification, waiting at most the configured time.
    pub async fn check_slot(&self) -> Result<SemaphorePermit<'_>, Busy> {
        match tokio::time::timeout(self.wait, self.checks.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Timed out, or the semaphore was closed (it never is).
            _ => Err(Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LoginConfig {
        LoginConfig { max_failures_per_user: 3, max_failures_per_address: 5, window_s: 60, lockout_s: 30, ..LoginConfig::default() }
    }

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2)));

    #[test]
    fn a_name_is_locked_out_after_its_failures_then_released() {
        let mut t = Throttle::new(&config());
        let now = Instant::now();
        assert!(t.failed("ann", A, now).is_empty());
        assert!(t.failed("ann", B, now).is_empty());
        let started = t.failed("ann", A, now);
        assert_eq!(started, vec![LockoutStarted { subject: Subject::User("ann".into()), failures: 3, duration: Duration::from_secs(30) }]);
        // From any address, with any password: refused, and counted for the end entry.
        assert!(matches!(t.admit("ann", B, now), Admission::Locked { subject: Subject::User(_), .. }));
        assert_eq!(t.admit("bob", B, now), Admission::Check);
        assert_eq!(t.next_expiry(), Some(now + Duration::from_secs(30)));
        assert!(t.expire(now + Duration::from_secs(29)).is_empty());
        assert_eq!(t.expire(now + Duration::from_secs(30)), vec![LockoutEnded { subject: Subject::User("ann".into()), refused: 1 }]);
        assert_eq!(t.admit("ann", B, now + Duration::from_secs(30)), Admission::Check);
    }

    #[test]
    fn an_address_is_locked_out_whatever_names_it_tries() {
        let mut t = Throttle::new(&config());
        let now = Instant::now();
        for i in 0..4 {
            assert!(t.failed(&format!("user{i}"), A, now).is_empty());
        }
        assert_eq!(t.failed("user4", A, now).iter().map(|s| s.subject.clone()).collect::<Vec<_>>(), vec![Subject::Address(A.unwrap())]);
        assert!(matches!(t.admit("someone-else", A, now), Admission::Locked { subject: Subject::Address(_), .. }));
        assert_eq!(t.admit("someone-else", B, now), Admission::Check);
    }

    #[test]
    fn failures_outside_the_window_start_over_and_success_forgets_the_name() {
        let mut t = Throttle::new(&config());
        let now = Instant::now();
        t.failed("ann", A, now);
        t.failed("ann", A, now);
        assert!(t.failed("ann", A, now + Duration::from_secs(61)).is_empty(), "the window restarted");
        t.succeeded("ann");
        assert!(t.failed("ann", A, now + Duration::from_secs(62)).is_empty());
        assert!(t.failed("ann", A, now + Duration::from_secs(62)).is_empty());
    }

    #[test]
    fn tracking_is_bounded() {
        let mut t = Throttle::new(&LoginConfig { max_failures_per_address: 1_000_000, ..config() });
        let now = Instant::now();
        for i in 0..(MAX_TRACKED + 100) {
            t.failed(&format!("random-{i}"), None, now);
        }
        assert!(t.tallies.len() <= MAX_TRACKED);
    }
}
