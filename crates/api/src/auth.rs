//! People: a local users file with Argon2id password hashes (PHC strings) and IEC 62351-8
//! roles, and in-memory sessions with a fixed lifetime behind an HttpOnly cookie.
//!
//! ```toml
//! [[user]]
//! name = "operator"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."   # from gridtrust_api::auth::hash_password
//! roles = ["OPERATOR"]
//! ```
//!
//! Sessions live in memory: a hub restart logs everyone out, which is the safe direction.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;

use gridtrust_config::{ConfigError, read_toml};
use gridtrust_pki::Role;

/// How expensive a new hash is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashCost {
    /// The argon2 crate's defaults (19 MiB, 2 passes), the OWASP baseline: for real users.
    Standard,
    /// 1 MiB, 1 pass: only for test fixtures, so debug-build tests do not spend seconds hashing.
    TestOnly,
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("no randomness for the salt")]
    Random,
    #[error("argon2: {0}")]
    Argon2(String),
}

/// Hashes `password` with Argon2id and a fresh random salt into a PHC string.
pub fn hash_password(password: &str, cost: HashCost) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    SystemRandom::new().fill(&mut salt).map_err(|_| HashError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Argon2(e.to_string()))?;
    let params = match cost {
        HashCost::Standard => Params::default(),
        HashCost::TestOnly => Params::new(1024, 1, 1, None).map_err(|e| HashError::Argon2(e.to_string()))?,
    };
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    Ok(argon.hash_password(password.as_bytes(), &salt).map_err(|e| HashError::Argon2(e.to_string()))?.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    user: Vec<UserEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    name: String,
    password_hash: String,
    roles: Vec<String>,
}

/// One local user.
#[derive(Clone, Debug)]
pub struct User {
    /// Login name.
    pub name: String,
    /// PHC string, checked to parse at load.
    pub password_hash: String,
    /// IEC 62351-8 roles.
    pub roles: Vec<Role>,
}

/// Parses an IEC 62351-8 role name (`VIEWER`, `SECAUD`, ...).
pub fn role_from_name(name: &str) -> Option<Role> {
    Role::ALL.into_iter().find(|r| r.name() == name)
}

/// The local users, loaded once at start.
#[derive(Clone, Debug, Default)]
pub struct Users {
    by_name: HashMap<String, User>,
}

/// A PHC string verified when the name is unknown, so a wrong name costs as long as a wrong
/// password and does not reveal which names exist.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2bUNhQJrTQXHdGJ5DDsuWcgnKw0G5vMmb5g3mYQmzr8";

impl Users {
    /// Loads and checks a users file: names unique and non-empty, hashes parse, roles known.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file: UsersFile = read_toml(path)?;
        let mut by_name = HashMap::new();
        for (i, u) in file.user.into_iter().enumerate() {
            let key = |field: &str| format!("user[{i}].{field}");
            if u.name.is_empty() || u.name.len() > 64 || u.name.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(ConfigError::invalid(path, key("name"), "must be 1 to 64 characters without spaces or control characters"));
            }
            if let Err(e) = PasswordHash::new(&u.password_hash) {
                return Err(ConfigError::invalid(path, key("password_hash"), format!("not a PHC hash string: {e}")));
            }
            let mut roles = Vec::new();
            for r in &u.roles {
                roles.push(
                    role_from_name(r)
                        .ok_or_else(|| ConfigError::invalid(path, key("roles"), format!("`{r}` is not an IEC 62351-8 role")))?,
                );
            }
            if roles.is_empty() {
                return Err(ConfigError::invalid(path, key("roles"), "at least one role"));
            }
            let user = User { name: u.name.clone(), password_hash: u.password_hash, roles };
            if by_name.insert(u.name.clone(), user).is_some() {
                return Err(ConfigError::invalid(path, key("name"), format!("user `{}` appears twice", u.name)));
            }
        }
        Ok(Self { by_name })
    }

    /// Users from memory (tests).
    pub fn from_users(users: Vec<User>) -> Self {
        Self { by_name: users.into_iter().map(|u| (u.name.clone(), u)).collect() }
    }

    /// Checks a password (slow by design: call off the async threads). `None` for an unknown
    /// name or a wrong password, indistinguishably.
    pub fn verify(&self, name: &str, password: &str) -> Option<&User> {
        let user = self.by_name.get(name);
        let hash = user.map_or(DECOY_HASH, |u| u.password_hash.as_str());
        let parsed = PasswordHash::new(hash).ok()?;
        let ok = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        user.filter(|_| ok)
    }
}

/// A logged-in person.
#[derive(Clone, Debug)]
pub struct Session {
    /// Username.
    pub username: String,
    /// Roles at login.
    pub roles: Vec<Role>,
    /// After this the session is gone.
    pub expires_at: SystemTime,
}

/// Open sessions by token.
pub struct Sessions {
    ttl: Duration,
    open: Mutex<HashMap<String, Session>>,
    random: SystemRandom,
}

impl Sessions {
    /// Sessions lasting `ttl` from login.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, open: Mutex::default(), random: SystemRandom::new() }
    }

    /// How long a session lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a session; returns its token (32 random bytes, hex) and the session.
    pub fn create(&self, user: &User, now: SystemTime) -> Option<(String, Session)> {
        let mut bytes = [0u8; 32];
        self.random.fill(&mut bytes).ok()?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let session = Session { username: user.name.clone(), roles: user.roles.clone(), expires_at: now + self.ttl };
        let mut open = self.open();
        open.retain(|_, s| s.expires_at > now);
        open.insert(token.clone(), session.clone());
        Some((token, session))
    }

    /// The session of `token` if it has not expired (an expired one is removed).
    pub fn get(&self, token: &str, now: SystemTime) -> Option<Session> {
        let mut open = self.open();
        match open.get(token) {
            Some(s) if s.expires_at > now => Some(s.clone()),
            Some(_) => {
                open.remove(token);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub fn remove(&self, token: &str) {
        self.open().remove(token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_password_verifies_and_wrong_one_does_not() {
        let hash = hash_password("s3cret", HashCost::TestOnly).unwrap();
        let users = Users::from_users(vec![User { name: "ann".into(), password_hash: hash, roles: vec![Role::Viewer] }]);
        assert_eq!(users.verify("ann", "s3cret").map(|u| u.roles.clone()), Some(vec![Role::Viewer]));
        assert!(users.verify("ann", "wrong").is_none());
        assert!(users.verify("bob", "s3cret").is_none());
    }

    #[test]
    fn users_file_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let hash = hash_password("x", HashCost::TestOnly).unwrap();
        std::fs::write(&path, format!("[[user]]\nname = \"a\"\npassword_hash = \"{hash}\"\nroles = [\"BOSS\"]\n")).unwrap();
        assert!(Users::load(&path).unwrap_err().to_string().contains("user[0].roles"));
        std::fs::write(&path, "[[user]]\nname = \"a\"\npassword_hash = \"plain\"\nroles = [\"VIEWER\"]\n").unwrap();
        assert!(Users::load(&path).unwrap_err().to_string().contains("user[0].password_hash"));
        std::fs::write(&path, "[[user]]\nname = \"a\"\npasword_hash = \"x\"\nroles = []\n").unwrap();
        assert!(Users::load(&path).is_err());
        std::fs::write(&path, format!("[[user]]\nname = \"a\"\npassword_hash = \"{hash}\"\nroles = [\"SECAUD\"]\n")).unwrap();
        assert_eq!(Users::load(&path).unwrap().verify("a", "x").map(|u| u.roles.clone()), Some(vec![Role::SecAud]));
    }

    #[test]
    fn sessions_expire() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let user = User { name: "ann".into(), password_hash: String::new(), roles: vec![Role::Viewer] };
        let now = SystemTime::now();
        let (token, _) = sessions.create(&user, now).unwrap();
        assert_eq!(sessions.get(&token, now + Duration::from_secs(59)).map(|s| s.username), Some("ann".into()));
        assert!(sessions.get(&token, now + Duration::from_secs(61)).is_none());
        assert!(sessions.get(&token, now).is_none(), "an expired session is gone for good");
    }
}
