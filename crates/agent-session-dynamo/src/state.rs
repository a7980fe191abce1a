//! [`SessionStore::update_state`]: a live session's state changed outside a run, by one
//! conditional `UpdateItem` of the head that sets the state and its version and nothing else.
//!
//! The changes are applied on the state of the head the update is planned from (the cached
//! one when it is live and holds its state, else one read afresh), and the whole new state is
//! written under a condition on the life, the head being live and not deleted, and the state's
//! version (`state_version`, see [`HeadState`]), which the update adds one to. A write of the
//! state in between (a commit that changed it, another update) fails the condition; DynamoDB
//! returns the head as it is with the failure, and the update is applied again on that, a
//! bounded number of times. Commits that change the state pin the same version, so a commit
//! planned from a head read before this update is refused and planned again on the state the
//! update left: neither overwrites the other's keys.
//!
//! The update writes no entry and leaves `last_seq`, the runs and every expiry attribute
//! (`expires_at_ms`, `record_horizon`, `expiration_time`) as they are: the session's time to
//! live is not extended.
//!
//! [`SessionStore::update_state`]: agent_session::SessionStore::update_state

use agent_core::StateChanges;
use agent_session::{SessionError, SessionErrorKind, SessionHead, SessionId};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::db::{Expr, UpdateSpec};
use crate::errors::{error, invalid};
use crate::head::{Head, HeadItem, HeadState, state_version_is};
use crate::layout::{HEAD_SK, attr, key, messages_pk};
use crate::retry::Backoff;
use crate::store::DynamoSessionStore;

/// What the head says about an update of its state at `now_ms`.
enum Plan<'a> {
    /// Live, with entries and its state known: update it.
    Update(&'a Head),
    /// Its state is not known here (a large state the cache did not keep): read it.
    Read,
    /// No session to update (none, not live, or no entry yet).
    NotFound,
}

fn plan(head: Option<&Head>, now_ms: i64) -> Plan<'_> {
    match head {
        Some(h) if h.is_live(now_ms) && h.has_entries() => {
            if matches!(h.state, HeadState::Unknown { .. }) {
                Plan::Read
            } else {
                Plan::Update(h)
            }
        }
        _ => Plan::NotFound,
    }
}

/// The update of `head`'s state to `state` at version `version`, under the condition that the
/// head is still that life, live at `now_ms`, not deleted and at `head.state_version`.
fn state_update(pk: &str, head: &Head, state: &HeadState, version: u64, now_ms: i64) -> UpdateSpec {
    let mut e = Expr::default();
    let mut update = format!(
        "SET {} = {}",
        e.name(attr::STATE_VERSION),
        e.num("v_state_version", version)
    );
    match state {
        HeadState::Json(text) if !text.is_empty() => update.push_str(&format!(
            ", {} = {}, {} = {}",
            e.name(attr::STATE),
            e.str("v_state", text.clone()),
            e.name(attr::STATE_LIFE),
            e.num("v_state_life", head.life)
        )),
        _ => update.push_str(&format!(
            " REMOVE {}, {}",
            e.name(attr::STATE),
            e.name(attr::STATE_LIFE)
        )),
    }
    let condition = format!(
        "{} = {} AND {} = {} AND {} > {} AND {}",
        e.name(attr::LIFE),
        e.num("c_life", head.life),
        e.name(attr::DELETED),
        e.value("c_false", AttributeValue::Bool(false)),
        e.name(attr::EXPIRES_AT_MS),
        e.num("c_now", now_ms),
        state_version_is(&mut e, head.state_version),
    );
    // What the item is once updated (what DynamoDB bills): the head with its new state.
    let mut after = head.clone();
    after.state = state.clone();
    after.state_version = version;
    let item_size = crate::size::item_size(&after.to_item(pk, 0, now_ms));
    UpdateSpec {
        key: key(pk, HEAD_SK),
        update,
        condition: Some(condition),
        expr: e,
        item_size: Some(item_size),
    }
}

impl DynamoSessionStore {
    pub(crate) async fn update_state_inner(
        &self,
        session: &SessionId,
        changes: &StateChanges,
    ) -> Result<SessionHead, SessionError> {
        let mpk = messages_pk(session.as_str());
        // The cached head plans the update (a failed condition returns the head as it is);
        // only a head read afresh may say that there is no session to update.
        let mut fresh = self.cached_head(session).is_none();
        let mut head = self.known_head(session).await?;
        let mut backoff = Backoff::state_writes();
        loop {
            let now = self.now_ms();
            let h = match plan(head.as_ref(), now) {
                Plan::Update(h) => h,
                Plan::Read | Plan::NotFound if !fresh => {
                    head = self.load_head(session).await?;
                    fresh = true;
                    continue;
                }
                Plan::Read => {
                    // A head read afresh always has its state.
                    return Err(error(
                        SessionErrorKind::Unavailable,
                        "the session's state was not read with its head; the state was not changed",
                    ));
                }
                Plan::NotFound => {
                    // A session of the Python MinimalAgent is taken over by its first write, as
                    // a commit would.
                    if head.is_none()
                        && let Some(python) = self.python_head(session, now).await?
                    {
                        let sk = i64::try_from(python.version.life()).unwrap_or(0);
                        head = Some(self.take_over_python(session, sk, now).await?);
                        continue;
                    }
                    return Err(error(
                        SessionErrorKind::NotFound,
                        "the session does not exist",
                    ));
                }
            };
            self.check_mixed_fleet(session, h, now).await?;
            let Some(current) = h.state.parse(&mpk)? else {
                return Err(error(
                    SessionErrorKind::Unavailable,
                    "the session's state was not read with its head; the state was not changed",
                ));
            };
            // A state too large is refused here, before anything is written.
            let state = current
                .apply(changes)
                .map_err(|refused| invalid(refused.to_string()))?;
            let state = HeadState::of(&state)?;
            let version = h.state_version + 1;
            let spec = state_update(&mpk, h, &state, version, now);
            let written = match self.db().update(spec).await {
                Ok(written) => written,
                Err(e) => {
                    if e.maybe_applied() {
                        self.remember_head(session, None);
                    }
                    return Err(e);
                }
            };
            match written {
                Ok(item) => {
                    let stored = match Head::parse(&mpk, &item)? {
                        HeadItem::Current(stored) => stored,
                        // Cannot be: the condition holds of a current head only.
                        HeadItem::Schema2 => {
                            return Err(error(
                                SessionErrorKind::Unavailable,
                                "the session's head changed layout while its state was written",
                            ));
                        }
                    };
                    self.remember_head(session, Some(&stored));
                    tracing::debug!(state_version = version, "session state changed");
                    return stored.to_session_head(&mpk, now);
                }
                Err(old) => {
                    // Moved on, ended, or its state written by another: plan again on the head
                    // as it is (returned with the failure, or read).
                    head = match old {
                        Some(item) => match Head::parse(&mpk, &item)? {
                            HeadItem::Current(h) => Some(h),
                            HeadItem::Schema2 => self.load_head(session).await?,
                        },
                        None => self.load_head(session).await?,
                    };
                    self.remember_head(session, head.as_ref());
                    fresh = true;
                    if !backoff.wait().await {
                        return Err(error(
                            SessionErrorKind::Unavailable,
                            "the session's state kept changing; the state was not changed",
                        ));
                    }
                }
            }
        }
    }
}
