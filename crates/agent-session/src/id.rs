//! Validated session ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest session id accepted.
pub const MAX_SESSION_ID_LEN: usize = 128;

/// A session id: 1 to 128 characters of `[A-Za-z0-9_-]`.
///
/// Checked when made, so a store never sees a bad id and no I/O happens for one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SessionId(String);

/// A string that is not a valid session id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid session id {id:?}: it must be 1 to {MAX_SESSION_ID_LEN} characters of [A-Za-z0-9_-]"
)]
pub struct InvalidSessionId {
    /// The rejected id (cut to 200 characters).
    pub id: String,
}

impl SessionId {
    /// Checks `id` and wraps it.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidSessionId> {
        let id = id.into();
        let valid = (1..=MAX_SESSION_ID_LEN).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(id))
        } else {
            Err(InvalidSessionId {
                id: id.chars().take(200).collect(),
            })
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for SessionId {
    type Err = InvalidSessionId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for SessionId {
    type Error = InvalidSessionId;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for SessionId {
    type Error = InvalidSessionId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<&String> for SessionId {
    type Error = InvalidSessionId;
    fn try_from(s: &String) -> Result<Self, Self::Error> {
        Self::new(s.as_str())
    }
}

impl From<&SessionId> for SessionId {
    fn from(id: &SessionId) -> Self {
        id.clone()
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        SessionId::new(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet_and_length() {
        assert!(SessionId::new("user_123-ABC").is_ok());
        assert!(SessionId::new("a".repeat(128)).is_ok());
        for bad in ["", "has space", "slash/", "dot.", "ü", "a#b"] {
            assert!(SessionId::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(SessionId::new("a".repeat(129)).is_err());
        assert!(serde_json::from_str::<SessionId>("\"x y\"").is_err());
    }
}
