//! Session state: a small typed key-value map per session, read and written by tools and hooks,
//! saved with the run's turn.
//!
//! A run sees the state as loaded ([`SessionState`]) through a [`StateHandle`] that keeps the
//! run's own changes apart ([`StateChanges`]); the commit applies those changes, key by key, on
//! the state the session has then. Concurrent runs therefore merge per key: a key only one of
//! them wrote keeps that write, and a key both wrote keeps the write of the run that committed
//! last.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The longest key: 192 characters of `[A-Za-z0-9_.:-]` (room for a prefix and a session id).
pub const MAX_STATE_KEY_LEN: usize = 192;
/// The largest value, as JSON: 64 KiB.
pub const MAX_STATE_VALUE_BYTES: usize = 64 * 1024;
/// The largest state, as JSON: 256 KiB (it is read with every run).
pub const MAX_STATE_BYTES: usize = 256 * 1024;

/// Why a state operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The key is empty, too long, or holds other characters than `[A-Za-z0-9_.:-]`.
    #[error("state key {0:?} must be 1 to {MAX_STATE_KEY_LEN} characters of [A-Za-z0-9_.:-]")]
    InvalidKey(String),
    /// The value is larger than [`MAX_STATE_VALUE_BYTES`] as JSON.
    #[error(
        "the value of state key {key:?} is {bytes} bytes of JSON; at most {MAX_STATE_VALUE_BYTES}"
    )]
    ValueTooLarge {
        /// The key.
        key: String,
        /// Its size.
        bytes: usize,
    },
    /// The state would be larger than [`MAX_STATE_BYTES`] as JSON.
    #[error("the session state would be {0} bytes of JSON; at most {MAX_STATE_BYTES}")]
    StateTooLarge(usize),
    /// A value could not be turned into JSON, or the stored JSON into the type asked for.
    #[error("state key {key:?}: {message}")]
    Serde {
        /// The key.
        key: String,
        /// What serde said.
        message: String,
    },
}

fn check_key(key: &str) -> Result<(), StateError> {
    let valid = !key.is_empty()
        && key.len() <= MAX_STATE_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(StateError::InvalidKey(key.to_owned()))
    }
}

/// A session's state: JSON values by key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct SessionState(BTreeMap<String, Value>);

impl SessionState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`, as `T`.
    ///
    /// # Errors
    ///
    /// [`StateError::Serde`] when the stored JSON is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        self.0
            .get(key)
            .map(|value| {
                serde_json::from_value(value.clone()).map_err(|error| StateError::Serde {
                    key: key.to_owned(),
                    message: error.to_string(),
                })
            })
            .transpose()
    }

    /// The JSON value of `key`.
    pub fn get_value(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Every key and value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter()
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// This state with `changes` applied, key by key, checked against the limits.
    ///
    /// # Errors
    ///
    /// [`StateError::StateTooLarge`] when the result is larger than [`MAX_STATE_BYTES`].
    pub fn apply(&self, changes: &StateChanges) -> Result<SessionState, StateError> {
        let mut state = self.clone();
        for (key, change) in &changes.0 {
            match change {
                Some(value) => {
                    state.0.insert(key.clone(), value.clone());
                }
                None => {
                    state.0.remove(key);
                }
            }
        }
        let bytes = serde_json::to_vec(&state).map_or(0, |json| json.len());
        if bytes > MAX_STATE_BYTES {
            return Err(StateError::StateTooLarge(bytes));
        }
        Ok(state)
    }
}

/// A run's changes to its session's state: a new value, or a removal (`None`), by key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct StateChanges(BTreeMap<String, Option<Value>>);

impl StateChanges {
    /// No change.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there is no change.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The changes, by key (`None`: removed).
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Option<Value>)> {
        self.0.iter()
    }

    /// Sets `key` to `value`.
    ///
    /// # Errors
    ///
    /// [`StateError::InvalidKey`], [`StateError::ValueTooLarge`].
    pub fn set_value(&mut self, key: &str, value: Value) -> Result<(), StateError> {
        check_key(key)?;
        let bytes = serde_json::to_vec(&value).map_or(0, |json| json.len());
        if bytes > MAX_STATE_VALUE_BYTES {
            return Err(StateError::ValueTooLarge {
                key: key.to_owned(),
                bytes,
            });
        }
        self.0.insert(key.to_owned(), Some(value));
        Ok(())
    }

    /// Removes `key`.
    ///
    /// # Errors
    ///
    /// [`StateError::InvalidKey`].
    pub fn remove(&mut self, key: &str) -> Result<(), StateError> {
        check_key(key)?;
        self.0.insert(key.to_owned(), None);
        Ok(())
    }
}

/// A run's view of its session's state: the state as loaded, with the run's own changes on top.
/// Cheap to clone; clones share the view (the run's tools and hooks all see one state).
#[derive(Debug, Clone, Default)]
pub struct StateHandle(Arc<Mutex<StateView>>);

#[derive(Debug, Default)]
struct StateView {
    base: SessionState,
    changes: StateChanges,
}

impl StateHandle {
    /// A view of `state` with no change yet.
    pub fn new(state: SessionState) -> Self {
        Self(Arc::new(Mutex::new(StateView {
            base: state,
            changes: StateChanges::new(),
        })))
    }

    fn view(&self) -> std::sync::MutexGuard<'_, StateView> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value of `key` as the run sees it, as `T`.
    ///
    /// # Errors
    ///
    /// [`StateError::Serde`] when the JSON is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        let view = self.view();
        match view.changes.0.get(key) {
            Some(Some(value)) => serde_json::from_value(value.clone())
                .map(Some)
                .map_err(|error| StateError::Serde {
                    key: key.to_owned(),
                    message: error.to_string(),
                }),
            Some(None) => Ok(None),
            None => view.base.get(key),
        }
    }

    /// Sets `key` to `value` for the rest of the run and, once the run's turn is kept, in the
    /// session.
    ///
    /// # Errors
    ///
    /// [`StateError::InvalidKey`], [`StateError::ValueTooLarge`], [`StateError::Serde`], and
    /// [`StateError::StateTooLarge`] when the state would grow past [`MAX_STATE_BYTES`] (the
    /// value is not set).
    pub fn set<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StateError> {
        let value = serde_json::to_value(value).map_err(|error| StateError::Serde {
            key: key.to_owned(),
            message: error.to_string(),
        })?;
        let mut view = self.view();
        let mut changes = view.changes.clone();
        changes.set_value(key, value)?;
        view.base.apply(&changes)?;
        view.changes = changes;
        Ok(())
    }

    /// Removes `key`.
    ///
    /// # Errors
    ///
    /// [`StateError::InvalidKey`].
    pub fn remove(&self, key: &str) -> Result<(), StateError> {
        self.view().changes.remove(key)
    }

    /// The run's changes so far.
    pub fn changes(&self) -> StateChanges {
        self.view().changes.clone()
    }

    /// Puts back a run's recorded changes (a paused or interrupted run continuing), in place
    /// of any made so far.
    pub fn restore(&self, changes: StateChanges) {
        self.view().changes = changes;
    }

    /// The state as the run sees it now.
    ///
    /// # Errors
    ///
    /// [`StateError::StateTooLarge`] when the run's changes make it too large.
    pub fn snapshot(&self) -> Result<SessionState, StateError> {
        let view = self.view();
        view.base.apply(&view.changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_run_sees_its_own_changes_over_the_loaded_state() {
        let mut loaded = StateChanges::new();
        loaded.set_value("plan", json!("free")).unwrap();
        loaded.set_value("count", json!(1)).unwrap();
        let state = SessionState::new().apply(&loaded).unwrap();
        let handle = StateHandle::new(state);
        assert_eq!(
            handle.get::<String>("plan").unwrap().as_deref(),
            Some("free")
        );
        handle.set("plan", &"pro").unwrap();
        handle.remove("count").unwrap();
        assert_eq!(
            handle.get::<String>("plan").unwrap().as_deref(),
            Some("pro")
        );
        assert_eq!(handle.get::<u32>("count").unwrap(), None);
        assert!(
            handle.get::<u32>("plan").is_err(),
            "a string is not a number"
        );
        let snapshot = handle.snapshot().unwrap();
        assert_eq!(snapshot.len(), 1);
    }

    #[test]
    fn keys_and_sizes_are_bounded() {
        let handle = StateHandle::default();
        assert!(matches!(handle.set("", &1), Err(StateError::InvalidKey(_))));
        assert!(matches!(
            handle.set("a b", &1),
            Err(StateError::InvalidKey(_))
        ));
        let big = "x".repeat(MAX_STATE_VALUE_BYTES);
        assert!(matches!(
            handle.set("big", &big),
            Err(StateError::ValueTooLarge { .. })
        ));
        let mut changes = StateChanges::new();
        for n in 0..5 {
            changes
                .set_value(&format!("k{n}"), json!("y".repeat(60 * 1024)))
                .unwrap();
        }
        assert!(matches!(
            SessionState::new().apply(&changes),
            Err(StateError::StateTooLarge(_))
        ));
        // Written one by one, the value that would make the state too large is refused and
        // the state keeps what it had.
        let handle = StateHandle::default();
        let value = "y".repeat(60 * 1024);
        for n in 0..4 {
            handle.set(&format!("k{n}"), &value).unwrap();
        }
        assert!(matches!(
            handle.set("k4", &value),
            Err(StateError::StateTooLarge(_))
        ));
        assert_eq!(handle.changes().iter().count(), 4);
    }
}
