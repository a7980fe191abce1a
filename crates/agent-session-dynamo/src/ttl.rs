//! Time to live, kept whole: the head decides when a session expires; its records (entries,
//! run records, events, chunks) must outlive it, so they are written with the life's *record
//! horizon* and the horizon is pushed forward, with every record of the life, in rare,
//! geometrically spaced steps (each step at least doubles the life's age before the next).

use agent_session::{SessionError, SessionId};

use crate::db::{Expr, QuerySpec, UpdateSpec};
use crate::head::Head;
use crate::layout::{
    EVENT_BITS, HEAD_SK, MAX_CHUNKS, PYTHON_MIN_SK, Reader, attr, events_pk, key, messages_pk,
    reasoning_pk,
};
use crate::store::DynamoSessionStore;

/// A write's expiry: the head's new expiry, and the horizon its records need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expiry {
    pub(crate) expires_at_ms: i64,
    /// The horizon to write: the head's, unless it must move.
    pub(crate) horizon: i64,
    /// Whether the horizon moves: the life's existing records must be extended first.
    pub(crate) extend: bool,
}

impl DynamoSessionStore {
    /// The expiry of a write at `now_ms` to `head`'s life (`None`: a new life).
    pub(crate) fn expiry(&self, head: Option<&Head>, now_ms: i64) -> Expiry {
        let ttl_s = self.ttl_s();
        let expires_at_ms = now_ms.saturating_add(self.ttl_ms());
        let exp_s = expires_at_ms.div_euclid(1000) + i64::from(expires_at_ms.rem_euclid(1000) != 0);
        // Records outlive the head by at least one time to live.
        let needed = exp_s.saturating_add(ttl_s);
        match head {
            Some(head) if head.horizon >= needed => Expiry {
                expires_at_ms,
                horizon: head.horizon,
                extend: false,
            },
            _ => {
                let age_s = head.map_or(0, |h| {
                    (now_ms - i64::try_from(h.life).unwrap_or(now_ms)).max(0) / 1000
                });
                Expiry {
                    expires_at_ms,
                    horizon: needed.saturating_add(ttl_s.max(age_s)),
                    extend: head.is_some(),
                }
            }
        }
    }

    /// The expiry for items written outside the head's transactions (events): the cached
    /// horizon, and at least three times to live from now.
    pub(crate) fn loose_expiration(&self, session: &SessionId, now_ms: i64) -> i64 {
        let floor = now_ms / 1000 + 3 * self.ttl_s();
        self.cached_head(session)
            .map_or(floor, |head| head.horizon.max(floor))
    }

    /// Extends every record of `head`'s life to `horizon`: one projected Query per partition
    /// (one page per MB of keys) and one conditional UpdateItem per record that needs it.
    pub(crate) async fn extend_records(
        &self,
        session: &SessionId,
        head: &Head,
        horizon: i64,
    ) -> Result<(), SessionError> {
        let sid = session.as_str();
        let partitions = [
            (messages_pk(sid), i128::from(head.first_seq)),
            (reasoning_pk(sid), i128::from(head.first_run)),
            (events_pk(sid), i128::from(head.first_run) << EVENT_BITS),
        ];
        let mut updates = Vec::new();
        for (pk, first_owner) in &partitions {
            let spec = QuerySpec {
                projection: Some(&[attr::EXPIRATION_TIME]),
                hi: Some(PYTHON_MIN_SK - 1),
                ..QuerySpec::new(pk)
            };
            for item in self.db().query(&spec).await? {
                let r = Reader::new(&item);
                let (Ok(sk), Ok(exp)) = (r.sk(), r.expiration()) else {
                    continue;
                };
                let owner = if sk < 0 {
                    (-sk - 1) / (i128::from(MAX_CHUNKS) + 1)
                } else {
                    sk
                };
                if sk == HEAD_SK || owner < *first_owner || exp.unwrap_or(0) >= horizon {
                    continue;
                }
                let mut e = Expr::default();
                let exp_name = e.name(attr::EXPIRATION_TIME);
                let value = e.num("horizon", horizon);
                let pk_name = e.name(attr::PK);
                updates.push(UpdateSpec {
                    key: key(pk, sk),
                    update: format!("SET {exp_name} = {value}"),
                    condition: Some(format!(
                        "attribute_exists({pk_name}) AND {exp_name} < {value}"
                    )),
                    expr: e,
                    item_size: None,
                });
            }
        }
        tracing::debug!(
            session = %session,
            records = updates.len(),
            horizon,
            "extending the expiry of the session's records"
        );
        self.db().update_all(updates).await
    }
}
