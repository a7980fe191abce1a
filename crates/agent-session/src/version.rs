//! [`SessionVersion`]: which state of a session's conversation a run was computed from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The version of a session's conversation, as its store counts it: the session's life and the
/// sequence number of its newest entry.
///
/// [`SessionVersion::EMPTY`] is a session with nothing committed. Every commit moves the
/// version forward. A session written again after it expired or was deleted starts a new life,
/// so a run computed from the old conversation never commits on top of the new one. Compare
/// versions for equality; [`seq`](Self::seq) and [`life`](Self::life) are for stores and
/// caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SessionVersion {
    life: u64,
    seq: u64,
}

impl SessionVersion {
    /// A session with nothing committed.
    pub const EMPTY: SessionVersion = SessionVersion { life: 0, seq: 0 };

    /// The version of life `life` whose newest entry is `seq` (for store implementations; a
    /// life is any non-zero number the store never gives the same session twice).
    pub const fn new(life: u64, seq: u64) -> Self {
        Self { life, seq }
    }

    /// The session's life this version belongs to (0 for [`SessionVersion::EMPTY`]).
    pub const fn life(&self) -> u64 {
        self.life
    }

    /// The sequence number of the newest entry (0 for [`SessionVersion::EMPTY`]).
    pub const fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether this is [`SessionVersion::EMPTY`].
    pub const fn is_empty(&self) -> bool {
        self.life == 0 && self.seq == 0
    }

    /// Whether `later` is this version or one after it in the same life, so that the entries
    /// after this version's `seq` bring a copy at this version up to `later`.
    pub fn is_extended_by(&self, later: &SessionVersion) -> bool {
        !self.is_empty() && self.life == later.life && self.seq <= later.seq
    }
}

impl fmt::Display for SessionVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}", self.life, self.seq)
    }
}

/// Text that is not a [`SessionVersion`] (`v<life>.<seq>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid session version {0:?}: expected v<life>.<seq>")]
pub struct InvalidSessionVersion(String);

impl FromStr for SessionVersion {
    type Err = InvalidSessionVersion;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidSessionVersion(text.chars().take(64).collect());
        let (life, seq) = text
            .strip_prefix('v')
            .and_then(|rest| rest.split_once('.'))
            .ok_or_else(invalid)?;
        Ok(Self {
            life: life.parse().map_err(|_| invalid())?,
            seq: seq.parse().map_err(|_| invalid())?,
        })
    }
}

impl Serialize for SessionVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SessionVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_print_parse_and_compare_within_a_life() {
        let v = SessionVersion::new(1_700_000_000_123, 42);
        assert_eq!(v.to_string(), "v1700000000123.42");
        assert_eq!(v.to_string().parse::<SessionVersion>().unwrap(), v);
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"v1700000000123.42\"");
        assert!(v.is_extended_by(&SessionVersion::new(1_700_000_000_123, 50)));
        assert!(!v.is_extended_by(&SessionVersion::new(9, 50)));
        assert!(!SessionVersion::EMPTY.is_extended_by(&v));
        for bad in ["", "v", "1.2", "v1", "vx.2", "v1.-2"] {
            assert!(bad.parse::<SessionVersion>().is_err(), "{bad}");
        }
    }
}
