//! The one way this crate turns a signed or logged structure into bytes: postcard 1.0, with the
//! failure as a typed error rather than empty bytes (an empty encoding would be signed, logged
//! or sent as if it were the value).

use serde::Serialize;

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} does not encode: {reason}")]
pub struct EncodeError {
    /// What was being encoded.
    pub what: &'static str,
    pub reason: String,
}

/// The postcard bytes of `value` (`what` names it in the error).
pub fn postcard_bytes<T: Serialize + ?Sized>(value: &T, what: &'static str) -> Result<Vec<u8>, EncodeError> {
    postcard::to_stdvec(value).map_err(|e| EncodeError { what, reason: e.to_string() })
}
