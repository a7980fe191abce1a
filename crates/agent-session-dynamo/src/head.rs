//! The head item (`messages#{sid}`, sk 0): where a session's conversation and runs stand, its
//! life and its expiry. Every write that moves the session is a conditional update of it.

use agent_session::{SessionError, SessionHead, SessionVersion};
use jiff::Timestamp;

use crate::db::{Expr, UpdateSpec};
use crate::errors::corrupted;
use crate::layout::{HEAD_SK, Item, MAX_SEQ, Reader, SCHEMA, SCHEMA_2, attr, key, kind, n, s};

/// A head as stored by this version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// The current life: the creation time in milliseconds, never reused for the session.
    pub(crate) life: u64,
    pub(crate) first_seq: u64,
    /// `first_seq - 1` while the life has no entry.
    pub(crate) last_seq: u64,
    pub(crate) summary_seq: Option<u64>,
    pub(crate) first_run: u64,
    /// The highest run number (`first_run - 1` while the life has no run).
    pub(crate) runs: u64,
    pub(crate) expires_at_ms: i64,
    /// Every record of the life expires no sooner than this (epoch seconds).
    pub(crate) horizon: i64,
    pub(crate) deleted: bool,
    /// The life before this one, and whether it ended by a delete.
    pub(crate) prev_life: u64,
    pub(crate) prev_deleted: bool,
    /// For sessions first written by the Python MinimalAgent: the sort key of the Python item
    /// the conversation was taken over from.
    pub(crate) migrated_from: Option<i64>,
}

/// What a head item holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HeadItem {
    /// This version's head.
    Current(Head),
    /// A head of the previous version of this crate (schema 2), to migrate.
    Schema2,
}

impl Head {
    /// The head of a new life starting at `now_ms` after `previous` (if any).
    pub(crate) fn new_life(previous: Option<&Head>, now_ms: i64) -> Head {
        let now = u64::try_from(now_ms).unwrap_or(1).max(1);
        match previous {
            None => Head {
                life: now,
                first_seq: 1,
                last_seq: 0,
                summary_seq: None,
                first_run: 1,
                runs: 0,
                expires_at_ms: 0,
                horizon: 0,
                deleted: false,
                prev_life: 0,
                prev_deleted: false,
                migrated_from: None,
            },
            Some(old) => Head {
                life: now.max(old.life + 1),
                first_seq: old.last_seq + 1,
                last_seq: old.last_seq,
                summary_seq: None,
                first_run: old.runs + 1,
                runs: old.runs,
                expires_at_ms: 0,
                horizon: 0,
                deleted: false,
                prev_life: old.life,
                prev_deleted: old.deleted,
                migrated_from: None,
            },
        }
    }

    /// Parses a head item.
    pub(crate) fn parse(pk: &str, item: &Item) -> Result<HeadItem, SessionError> {
        let r = Reader::new(item);
        match r.schema() {
            Some(SCHEMA) => {}
            Some(SCHEMA_2) => return Ok(HeadItem::Schema2),
            Some(other) => {
                return Err(SessionError::new(
                    agent_session::SessionErrorKind::Incompatible,
                    format!(
                        "the head item pk=`{pk}` sk=0 has schema {other:?}: written by a newer \
                         version of MinimalAgent; upgrade to continue this session"
                    ),
                ));
            }
            None => return Err(corrupted(pk, 0, "the head item has no `schema`")),
        }
        let bad = |e: String| corrupted(pk, 0, format!("bad head item: {e}"));
        let head = Head {
            life: r.u64(attr::LIFE).map_err(bad)?,
            first_seq: r.u64(attr::FIRST_SEQ).map_err(bad)?,
            last_seq: r.u64(attr::LAST_SEQ).map_err(bad)?,
            summary_seq: r.opt_u64(attr::SUMMARY_SEQ).map_err(bad)?,
            first_run: r.u64(attr::FIRST_RUN).map_err(bad)?,
            runs: r.u64(attr::RUNS).map_err(bad)?,
            expires_at_ms: r.i64(attr::EXPIRES_AT_MS).map_err(bad)?,
            horizon: r.i64(attr::HORIZON).map_err(bad)?,
            deleted: r.bool(attr::DELETED).map_err(bad)?,
            prev_life: r.opt_u64(attr::PREV_LIFE).map_err(bad)?.unwrap_or(0),
            prev_deleted: r.bool(attr::PREV_DELETED).map_err(bad)?,
            migrated_from: r.opt_i64(attr::MIGRATED_FROM).map_err(bad)?,
        };
        head.check().map_err(bad)?;
        Ok(HeadItem::Current(head))
    }

    /// Checks the numbers are consistent, so that they can drive reads.
    fn check(&self) -> Result<(), String> {
        if self.life == 0 {
            return Err("`life` is 0".into());
        }
        if self.first_seq == 0 || self.last_seq + 1 < self.first_seq || self.last_seq > MAX_SEQ {
            return Err(format!(
                "entries {}..={} are out of range",
                self.first_seq, self.last_seq
            ));
        }
        if self.first_run == 0 || self.runs + 1 < self.first_run || self.runs > u64::from(u32::MAX)
        {
            return Err(format!(
                "runs {}..={} are out of range",
                self.first_run, self.runs
            ));
        }
        if let Some(seq) = self.summary_seq
            && (seq < self.first_seq || seq > self.last_seq)
        {
            return Err(format!("`summary_seq` {seq} is outside the entries"));
        }
        Ok(())
    }

    /// Whether the session is live at `now_ms`.
    pub(crate) fn is_live(&self, now_ms: i64) -> bool {
        !self.deleted && now_ms < self.expires_at_ms
    }

    /// Whether the life holds entries.
    pub(crate) fn has_entries(&self) -> bool {
        self.last_seq >= self.first_seq
    }

    /// Whether the life's records are certainly still stored at `now_ms` (their expiry, the
    /// horizon, has not passed).
    pub(crate) fn data_present(&self, now_ms: i64) -> bool {
        !self.deleted && now_ms < self.horizon.saturating_mul(1000)
    }

    /// The conversation's version.
    pub(crate) fn version(&self) -> SessionVersion {
        if self.has_entries() {
            SessionVersion::new(self.life, self.last_seq)
        } else {
            SessionVersion::EMPTY
        }
    }

    /// The head as the contract shows it at `now_ms`.
    pub(crate) fn to_session_head(&self, now_ms: i64) -> SessionHead {
        if !self.is_live(now_ms) {
            let mut head = SessionHead::empty();
            head.first_seq = self.last_seq + 1;
            head.first_run = self.runs + 1;
            head.runs = self.runs;
            return head;
        }
        SessionHead::new(self.version(), self.first_seq, self.first_run, self.runs)
            .with_summary(self.summary_seq)
            .with_expiry(Timestamp::from_millisecond(self.expires_at_ms).ok())
    }

    /// The head's own `expiration_time`: one time to live after its records', so that it is
    /// the last item of the session DynamoDB removes and numbers are never reused while a
    /// record of an earlier life may remain.
    pub(crate) fn item_expiration(&self, ttl_s: i64) -> i64 {
        self.horizon.saturating_add(ttl_s)
    }
}

/// What a head write expects the stored head to be.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    /// No head item.
    Absent,
    /// An ended life (`life`, deleted or expired at `now_ms`), to restart.
    Ended { life: u64, now_ms: i64 },
    /// A head of schema 2 with this `incarnation` and `version` (a migration).
    Schema2 { incarnation: String, version: u64 },
    /// The life `life`, not deleted, with these numbers.
    Same {
        life: u64,
        last_seq: Option<u64>,
        runs: Option<u64>,
        horizon: i64,
        /// Also require it live at this time.
        live_at: Option<i64>,
    },
}

impl Head {
    /// The head as an item.
    pub(crate) fn to_item(&self, pk: &str, ttl_s: i64, now_ms: i64) -> Item {
        use aws_sdk_dynamodb::types::AttributeValue;
        let mut item = key(pk, HEAD_SK);
        let mut put = |name: &str, value| {
            item.insert(name.to_owned(), value);
        };
        put(attr::SCHEMA, n(SCHEMA));
        put(attr::KIND, s(kind::HEAD));
        put(attr::LIFE, n(self.life));
        put(attr::FIRST_SEQ, n(self.first_seq));
        put(attr::LAST_SEQ, n(self.last_seq));
        put(attr::FIRST_RUN, n(self.first_run));
        put(attr::RUNS, n(self.runs));
        put(attr::EXPIRES_AT_MS, n(self.expires_at_ms));
        put(attr::HORIZON, n(self.horizon));
        put(attr::EXPIRATION_TIME, n(self.item_expiration(ttl_s)));
        put(attr::DELETED, AttributeValue::Bool(self.deleted));
        put(attr::PREV_LIFE, n(self.prev_life));
        put(attr::PREV_DELETED, AttributeValue::Bool(self.prev_deleted));
        put(attr::UPDATED_AT, n(now_ms));
        if let Some(seq) = self.summary_seq {
            put(attr::SUMMARY_SEQ, n(seq));
        }
        if let Some(from) = self.migrated_from {
            put(attr::MIGRATED_FROM, n(from));
        }
        item
    }
}

/// The head's full update to `new` under `expect`: every attribute is set (the head is small
/// and DynamoDB bills the whole item anyway).
pub(crate) fn write(pk: &str, new: &Head, ttl_s: i64, now_ms: i64, expect: Expect) -> UpdateSpec {
    let item = new.to_item(pk, ttl_s, now_ms);
    // A write that does not pin the entry count (or the run count) in its condition must not
    // set it either: another process may have moved it since `new` was read, and writing the
    // old value back would hide its commit (or hand out its run number again).
    let (pins_entries, pins_runs) = match &expect {
        Expect::Same { last_seq, runs, .. } => (last_seq.is_some(), runs.is_some()),
        _ => (true, true),
    };
    let unpinned = |name: &str| {
        (!pins_entries && (name == attr::LAST_SEQ || name == attr::SUMMARY_SEQ))
            || (!pins_runs && name == attr::RUNS)
    };
    let mut e = Expr::default();
    let mut names: Vec<&String> = item
        .keys()
        .filter(|name| *name != attr::PK && *name != attr::SK && !unpinned(name))
        .collect();
    names.sort();
    let sets: Vec<String> = names
        .into_iter()
        .map(|name| {
            let placeholder = e.name(name);
            let value = e.value(&format!("v_{name}"), item[name].clone());
            format!("{placeholder} = {value}")
        })
        .collect();
    let removes: Vec<String> = [attr::SUMMARY_SEQ, attr::MIGRATED_FROM]
        .into_iter()
        .filter(|name| !item.contains_key(*name) && !unpinned(name))
        .map(|name| e.name(name))
        .collect();
    let mut update = format!("SET {}", sets.join(", "));
    if !removes.is_empty() {
        update.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    let condition = condition(&mut e, expect);
    UpdateSpec {
        key: key(pk, HEAD_SK),
        update,
        condition: Some(condition),
        expr: e,
    }
}

/// The condition expression for `expect`.
pub(crate) fn condition(e: &mut Expr, expect: Expect) -> String {
    match expect {
        Expect::Absent => format!("attribute_not_exists({})", e.name(attr::PK)),
        Expect::Schema2 {
            incarnation,
            version,
        } => format!(
            "{} = {} AND {} = {} AND {} = {}",
            e.name(attr::SCHEMA),
            e.num("c_schema", SCHEMA_2),
            e.name("incarnation"),
            e.str("c_incarnation", incarnation),
            e.name("version"),
            e.num("c_version", version)
        ),
        Expect::Ended { life, now_ms } => format!(
            "{} = {} AND ({} = {} OR {} <= {})",
            e.name(attr::LIFE),
            e.num("c_life", life),
            e.name(attr::DELETED),
            e.value(
                "c_true",
                aws_sdk_dynamodb::types::AttributeValue::Bool(true)
            ),
            e.name(attr::EXPIRES_AT_MS),
            e.num("c_now", now_ms)
        ),
        Expect::Same {
            life,
            last_seq,
            runs,
            horizon,
            live_at,
        } => {
            let mut parts = vec![
                format!("{} = {}", e.name(attr::LIFE), e.num("c_life", life)),
                format!(
                    "{} = {}",
                    e.name(attr::DELETED),
                    e.value(
                        "c_false",
                        aws_sdk_dynamodb::types::AttributeValue::Bool(false)
                    )
                ),
                format!(
                    "{} = {}",
                    e.name(attr::HORIZON),
                    e.num("c_horizon", horizon)
                ),
            ];
            if let Some(seq) = last_seq {
                parts.push(format!(
                    "{} = {}",
                    e.name(attr::LAST_SEQ),
                    e.num("c_last_seq", seq)
                ));
            }
            if let Some(runs) = runs {
                parts.push(format!(
                    "{} = {}",
                    e.name(attr::RUNS),
                    e.num("c_runs", runs)
                ));
            }
            if let Some(now) = live_at {
                parts.push(format!(
                    "{} > {}",
                    e.name(attr::EXPIRES_AT_MS),
                    e.num("c_now", now)
                ));
            }
            parts.join(" AND ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(head: &Head) -> Item {
        head.to_item("messages#s", 60, 1)
    }

    #[test]
    fn heads_round_trip_and_are_checked() {
        let mut head = Head::new_life(None, 1_700_000_000_000);
        head.last_seq = 3;
        head.runs = 2;
        head.summary_seq = Some(2);
        head.expires_at_ms = 1_700_000_060_000;
        head.horizon = 1_700_000_200;
        let stored = item(&head);
        assert_eq!(
            Head::parse("messages#s", &stored).unwrap(),
            HeadItem::Current(head.clone())
        );
        let mut bad = stored.clone();
        bad.insert(attr::LAST_SEQ.into(), n(MAX_SEQ + 1));
        let error = Head::parse("messages#s", &bad).unwrap_err();
        assert!(error.message().contains("out of range"), "{error}");
        let mut newer = stored;
        newer.insert(attr::SCHEMA.into(), n(4));
        assert_eq!(
            Head::parse("messages#s", &newer).unwrap_err().kind(),
            agent_session::SessionErrorKind::Incompatible
        );
        let next = Head::new_life(Some(&head), 5);
        assert_eq!(
            (next.life, next.first_seq, next.first_run),
            (head.life + 1, 4, 3)
        );
        assert!(!next.has_entries() && next.version().is_empty());
    }
}
