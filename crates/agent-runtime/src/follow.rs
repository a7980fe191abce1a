//! Following a session: the events of its runs as any process writes them, each with a
//! position a follower can resume from after a restart, with no duplicate and no gap.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use agent_core::{AgentEvent, RunResult, RunStatus};
use agent_session::{Clock, RunRecord, SessionError, SessionId, SessionStore};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::reader::{PAGE, current_reasoning, events_of_record, interrupted_in, is_interrupted};

/// Where a follower is in a session's runs: opaque, small, printable and parseable
/// (`Display`/`FromStr`, serde as a string), so a monitor can store it and resume exactly after
/// the last event it handled.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FollowPosition {
    /// The first run of the session's life being followed (a new life starts over).
    first_run: u64,
    /// Runs below this number that are not open were delivered whole.
    next_run: u64,
    /// Runs still going: the last event index delivered (0: only their start).
    open: BTreeMap<u64, u32>,
}

impl FollowPosition {
    /// The start of the session: every run, from the first.
    pub fn start() -> Self {
        Self::default()
    }

    /// Whether nothing was delivered yet.
    pub fn is_start(&self) -> bool {
        self.next_run == 0
    }
}

impl fmt::Display for FollowPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:", self.first_run, self.next_run)?;
        for (n, (run, index)) in self.open.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{run}.{index}")?;
        }
        Ok(())
    }
}

/// Text that is not a [`FollowPosition`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid follow position {0:?}")]
pub struct InvalidFollowPosition(String);

impl FromStr for FollowPosition {
    type Err = InvalidFollowPosition;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidFollowPosition(text.chars().take(200).collect());
        let mut parts = text.splitn(3, ':');
        let first_run = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(invalid)?;
        let next_run = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(invalid)?;
        let mut open = BTreeMap::new();
        for pair in parts
            .next()
            .ok_or_else(invalid)?
            .split(',')
            .filter(|p| !p.is_empty())
        {
            let (run, index) = pair.split_once('.').ok_or_else(invalid)?;
            open.insert(
                run.parse().map_err(|_| invalid())?,
                index.parse().map_err(|_| invalid())?,
            );
        }
        // A position is small by construction; a huge one is not ours.
        if open.len() > 10_000 {
            return Err(invalid());
        }
        Ok(Self {
            first_run,
            next_run,
            open,
        })
    }
}

impl Serialize for FollowPosition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FollowPosition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One event of a followed session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FollowedEvent {
    /// The run's number in the session.
    pub run: u64,
    /// The run's id.
    pub run_id: Uuid,
    /// What happened. A run starts with `RunStarted` and ends with `RunFinished` or `RunEnded`
    /// (failed, cancelled, or interrupted when its process stopped heart-beating).
    pub event: AgentEvent,
    /// Where the follower is after this event: follow from here to get the events after it.
    pub position: FollowPosition,
}

/// How a follower polls.
#[derive(Debug, Clone)]
pub(crate) struct FollowOptions {
    /// The shortest wait between reads when nothing changed.
    pub(crate) min_poll: Duration,
    /// The longest wait between reads when nothing changed (the backoff's cap).
    pub(crate) max_poll: Duration,
    /// How long a run may go without a heartbeat before it is reported interrupted.
    pub(crate) interrupted_after: Duration,
    /// The time, to judge heartbeats.
    pub(crate) clock: Arc<dyn Clock>,
}

struct Follower {
    store: Arc<dyn SessionStore>,
    session: SessionId,
    position: FollowPosition,
    options: FollowOptions,
    wait: Duration,
    /// The soonest a run in progress would read as interrupted, from the last read: the
    /// follower reads again by then, so a crashed run is reported at the limit, not up to one
    /// poll interval later.
    check_by: Option<Duration>,
}

/// The session's run events from `position` on, as any process writes them. The stream never
/// ends by itself; a store error is reported and following goes on after a pause.
pub(crate) fn follow(
    store: Arc<dyn SessionStore>,
    session: SessionId,
    position: FollowPosition,
    options: FollowOptions,
) -> impl Stream<Item = Result<FollowedEvent, SessionError>> + Send + 'static {
    let wait = options.min_poll;
    let follower = Follower {
        store,
        session,
        position,
        options,
        wait,
        check_by: None,
    };
    futures::stream::unfold(follower, |mut follower| async move {
        loop {
            match follower.next_batch().await {
                Ok(batch) if batch.is_empty() => follower.pause().await,
                Ok(batch) => {
                    follower.wait = follower.options.min_poll;
                    let items: Vec<Result<FollowedEvent, SessionError>> =
                        batch.into_iter().map(Ok).collect();
                    return Some((futures::stream::iter(items), follower));
                }
                Err(error) => {
                    follower.wait = follower.options.max_poll;
                    let store = follower.store.clone();
                    let session = follower.session.clone();
                    let wait = follower.wait;
                    store.wait_for_changes(&session, wait).await;
                    return Some((futures::stream::iter(vec![Err(error)]), follower));
                }
            }
        }
    })
    .flatten()
}

impl Follower {
    async fn pause(&mut self) {
        // A little past the limit: a heartbeat exactly at it still counts as alive.
        let wait = self.check_by.map_or(self.wait, |check_by| {
            self.wait.min(check_by + Duration::from_millis(10))
        });
        self.store.wait_for_changes(&self.session, wait).await;
        self.wait = (self.wait * 2).min(self.options.max_poll);
    }

    fn deliver(&self, batch: &mut Vec<FollowedEvent>, record: &RunRecord, event: AgentEvent) {
        batch.push(FollowedEvent {
            run: record.run,
            run_id: record.reasoning.run_id,
            event,
            position: self.position.clone(),
        });
    }

    /// The next events, or an error with the position unchanged: a batch is handed out whole
    /// or not at all, so a failed read never skips the events it had gathered.
    async fn next_batch(&mut self) -> Result<Vec<FollowedEvent>, SessionError> {
        let saved = self.position.clone();
        let batch = self.read_batch().await;
        if batch.is_err() {
            self.position = saved;
        }
        batch
    }

    async fn read_batch(&mut self) -> Result<Vec<FollowedEvent>, SessionError> {
        self.check_by = None;
        let head = self.store.head(&self.session).await?;
        if self.position.is_start() || self.position.first_run != head.first_run {
            // The first read, or a new life of the session (after a delete or an expiry):
            // follow it from its first run.
            self.position = FollowPosition {
                first_run: head.first_run,
                next_run: head.first_run,
                open: BTreeMap::new(),
            };
        }
        if !head.exists() {
            return Ok(Vec::new());
        }
        let low = self
            .position
            .open
            .keys()
            .next()
            .copied()
            .unwrap_or(self.position.next_run)
            .min(self.position.next_run);
        let records = self
            .store
            .runs(&self.session, low.saturating_sub(1), PAGE)
            .await?;
        let mut batch = Vec::new();
        for record in &records {
            let run = record.run;
            if run < self.position.next_run && !self.position.open.contains_key(&run) {
                continue;
            }
            if record.is_damaged() {
                // A record that cannot be read: said once, as the run's end, and passed by.
                self.position.next_run = self.position.next_run.max(run + 1);
                self.position.open.remove(&run);
                let reasoning = Box::new(record.reasoning.clone());
                self.deliver(&mut batch, record, AgentEvent::RunEnded { reasoning });
                continue;
            }
            if run >= self.position.next_run {
                self.position.next_run = run + 1;
                self.position.open.insert(run, 0);
                let r = &record.reasoning;
                let started = AgentEvent::RunStarted {
                    run_id: r.run_id,
                    session_id: r.session_id.clone(),
                    query: r.query.clone(),
                    started_at: r.started_at.unwrap_or(jiff::Timestamp::UNIX_EPOCH),
                };
                self.deliver(&mut batch, record, started);
            }
            if self.deliver_run(&mut batch, record).await? {
                // More events than one page: go on with them before later runs.
                break;
            }
        }
        Ok(batch)
    }

    /// Delivers a run's events after the position, and its end once it ended. Returns whether
    /// events remain to be read.
    async fn deliver_run(
        &mut self,
        batch: &mut Vec<FollowedEvent>,
        record: &RunRecord,
    ) -> Result<bool, SessionError> {
        let run = record.run;
        let delivered = self.position.open.get(&run).copied().unwrap_or(0);
        // A paused run is still open: its decisions, and the rest of the run, come later.
        let ended = record.reasoning.status.is_final();
        let stored = self
            .store
            .events(&self.session, run, delivered, PAGE)
            .await?;
        let more = stored.len() == PAGE;
        let found = !stored.is_empty();
        for event in stored {
            self.position.open.insert(run, event.index);
            self.deliver(batch, record, event.event);
        }
        if more {
            return Ok(true);
        }
        let recorded_live = found
            || (delivered > 0
                && !self
                    .store
                    .events(&self.session, run, 0, 1)
                    .await?
                    .is_empty());
        if ended && !recorded_live {
            // A run that was not recorded in real time: its events come from its record.
            for (offset, event) in events_of_record(&record.reasoning).into_iter().enumerate() {
                let index = u32::try_from(offset + 1).unwrap_or(u32::MAX);
                if index > delivered {
                    self.position.open.insert(run, index);
                    self.deliver(batch, record, event);
                }
            }
        }
        let interrupted =
            !ended && is_interrupted(record, &*self.options.clock, self.options.interrupted_after);
        if !ended
            && !interrupted
            && let Some(remaining) =
                interrupted_in(record, &*self.options.clock, self.options.interrupted_after)
        {
            self.check_by = Some(
                self.check_by
                    .map_or(remaining, |soonest| soonest.min(remaining)),
            );
        }
        if ended || interrupted {
            let reasoning = current_reasoning(
                &*self.store,
                &self.session,
                record,
                &*self.options.clock,
                self.options.interrupted_after,
            )
            .await?;
            self.position.open.remove(&run);
            let end = if reasoning.status == RunStatus::Completed {
                AgentEvent::RunFinished {
                    result: Box::new(RunResult::new(
                        reasoning.final_response.clone().unwrap_or_default(),
                        reasoning,
                        Vec::new(),
                    )),
                }
            } else {
                AgentEvent::RunEnded {
                    reasoning: Box::new(reasoning),
                }
            };
            self.deliver(batch, record, end);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_print_and_parse() {
        let mut position = FollowPosition {
            first_run: 1,
            next_run: 7,
            open: BTreeMap::new(),
        };
        assert_eq!(position.to_string(), "1:7:");
        position.open.insert(5, 12);
        position.open.insert(6, 0);
        assert_eq!(position.to_string(), "1:7:5.12,6.0");
        assert_eq!(
            position.to_string().parse::<FollowPosition>().unwrap(),
            position
        );
        assert_eq!(
            serde_json::from_value::<FollowPosition>(serde_json::to_value(&position).unwrap())
                .unwrap(),
            position
        );
        for bad in ["", "1", "1:2", "a:b:", "1:2:3", "1:2:x.1"] {
            assert!(bad.parse::<FollowPosition>().is_err(), "{bad}");
        }
        assert!(FollowPosition::start().is_start());
    }
}
