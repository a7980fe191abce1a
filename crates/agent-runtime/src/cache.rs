//! Incremental loads: the conversations a process has seen, kept in a bounded cache and
//! brought up to date with the entries written since, after one small read of the head.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use agent_core::ConversionCache;
use agent_loop::estimate_tokens;
use agent_session::{
    Entry, EntryBody, SessionError, SessionHead, SessionId, SessionStore, SessionVersion, Summary,
};
use lru::LruCache;

use crate::context::{ContextPolicy, Turn, turns_within};

/// How many sessions a cache holds by default.
pub const DEFAULT_CACHED_SESSIONS: usize = 1024;

/// How many bytes of messages (as JSON) a cache holds by default.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// A session's conversation as far as a process has read it.
#[derive(Debug, Clone)]
pub(crate) struct Conversation {
    pub(crate) version: SessionVersion,
    /// The lowest sequence number of the entries held: everything from here to `version` is in
    /// `turns` (and `summary`).
    pub(crate) holds_from: u64,
    pub(crate) turns: Vec<Turn>,
    pub(crate) summary: Option<Summary>,
    /// The entry `summary` was read from.
    summary_seq: Option<u64>,
    bytes: usize,
    /// The model's wire form of these messages, which the session's runs share: a run
    /// converts only the messages added since the one before. It holds about as much as the
    /// messages again, for the sessions the cache holds.
    pub(crate) conversion: ConversionCache,
}

impl Conversation {
    fn empty() -> Self {
        Self {
            version: SessionVersion::EMPTY,
            holds_from: 1,
            turns: Vec::new(),
            summary: None,
            summary_seq: None,
            bytes: 0,
            conversion: ConversionCache::default(),
        }
    }

    fn extend(&mut self, entries: Vec<Entry>) {
        for entry in entries {
            match entry.body {
                EntryBody::Turn { messages, .. } => {
                    self.bytes += estimate_tokens(&messages) as usize * 4;
                    self.turns.push(Turn {
                        seq: entry.seq,
                        messages: messages.into_iter().map(Arc::new).collect(),
                    });
                }
                EntryBody::Summary(summary) => {
                    self.summary = Some(summary);
                    self.summary_seq = Some(entry.seq);
                }
                _ => {}
            }
        }
    }

    /// Whether this copy holds what `policy` needs of a session at `head`.
    fn serves(&self, policy: &ContextPolicy, head: &SessionHead) -> bool {
        match policy {
            ContextPolicy::WholeHistory => self.holds_from <= head.first_seq,
            ContextPolicy::Summarize(_) => match head.summary_seq {
                Some(seq) => self.summary_seq == Some(seq) || self.holds_from <= seq,
                None => self.holds_from <= head.first_seq,
            },
            ContextPolicy::Window(window) => {
                self.holds_from <= head.first_seq
                    || turns_within(&self.turns, *window) < self.turns.len()
            }
        }
    }

    /// Drops what `policy` will never need again, so that the cache stays small.
    fn trim(&mut self, policy: &ContextPolicy) {
        let keep_from = match policy {
            ContextPolicy::WholeHistory => return,
            ContextPolicy::Summarize(_) => match &self.summary {
                Some(summary) => self.turns.partition_point(|t| t.seq <= summary.through_seq),
                None => return,
            },
            ContextPolicy::Window(window) => {
                // Keep twice the window, so that a few new turns never force a cold read.
                let kept = turns_within(&self.turns, *window).saturating_mul(2);
                self.turns.len().saturating_sub(kept)
            }
        };
        if keep_from == 0 {
            return;
        }
        let dropped: Vec<Turn> = self.turns.drain(..keep_from).collect();
        self.bytes -= dropped
            .iter()
            .map(|t| estimate_tokens(&t.messages) as usize * 4)
            .sum::<usize>()
            .min(self.bytes);
        if let Some(first) = self.turns.first() {
            self.holds_from = first.seq;
        } else {
            self.holds_from = self.version.seq() + 1;
        }
    }
}

/// A bounded cache of conversations, least recently used first out.
pub(crate) struct ConversationCache {
    inner: Mutex<CacheState>,
}

struct CacheState {
    sessions: LruCache<SessionId, Conversation>,
    bytes: usize,
    max_bytes: usize,
}

impl std::fmt::Debug for ConversationCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("ConversationCache")
            .field("sessions", &state.sessions.len())
            .field("bytes", &state.bytes)
            .finish()
    }
}

impl ConversationCache {
    pub(crate) fn new(max_sessions: usize, max_bytes: usize) -> Self {
        let capacity = NonZeroUsize::new(max_sessions.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            inner: Mutex::new(CacheState {
                sessions: LruCache::new(capacity),
                bytes: 0,
                max_bytes,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, session: &SessionId) -> Option<Conversation> {
        self.lock().sessions.get(session).cloned()
    }

    fn put(&self, session: &SessionId, conversation: Conversation) {
        let mut state = self.lock();
        if conversation.bytes > state.max_bytes {
            if let Some(old) = state.sessions.pop(session) {
                state.bytes -= old.bytes.min(state.bytes);
            }
            return;
        }
        state.bytes += conversation.bytes;
        if let Some((_, old)) = state.sessions.push(session.clone(), conversation) {
            state.bytes -= old.bytes.min(state.bytes);
        }
        while state.bytes > state.max_bytes {
            match state.sessions.pop_lru() {
                Some((_, old)) => state.bytes -= old.bytes.min(state.bytes),
                None => break,
            }
        }
    }

    pub(crate) fn forget(&self, session: &SessionId) {
        let mut state = self.lock();
        if let Some(old) = state.sessions.pop(session) {
            state.bytes -= old.bytes.min(state.bytes);
        }
    }

    /// Adds a run's own commit to the session's cached conversation, when the cache was at the
    /// commit's base (otherwise the next load reads what it lacks).
    pub(crate) fn record_commit(
        &self,
        session: &SessionId,
        base: SessionVersion,
        committed: SessionVersion,
        summary: Option<&Summary>,
        messages: &[agent_core::Message],
    ) {
        let mut state = self.lock();
        let Some(cached) = state.sessions.get_mut(session) else {
            return;
        };
        let written = 1 + u64::from(summary.is_some());
        if cached.version != base
            || base.seq() + written != committed.seq()
            || base.life() != committed.life() && !base.is_empty()
        {
            return;
        }
        let mut entries = Vec::new();
        if let Some(summary) = summary {
            entries.push(Entry::new(
                base.seq() + 1,
                EntryBody::Summary(summary.clone()),
                None,
            ));
        }
        entries.push(Entry::new(
            committed.seq(),
            EntryBody::Turn {
                run_id: uuid::Uuid::nil(),
                messages: messages.to_vec(),
            },
            None,
        ));
        let before = cached.bytes;
        cached.extend(entries);
        cached.version = committed;
        let added = cached.bytes - before;
        state.bytes += added;
    }

    /// The number of sessions held.
    pub(crate) fn len(&self) -> usize {
        self.lock().sessions.len()
    }
}

/// Reads what a run of `policy` needs of the session: one strongly consistent read of the head,
/// then only the entries the cache lacks (none when nothing changed).
pub(crate) async fn load(
    store: &dyn SessionStore,
    cache: &ConversationCache,
    session: &SessionId,
    policy: &ContextPolicy,
) -> Result<(SessionHead, Conversation), SessionError> {
    let head = store.head(session).await?;
    if head.version.is_empty() {
        // Kept, so that the run's own commit lands in the cache and the next run reads only
        // the head (a new session's second turn costs the same as any other).
        cache.put(
            session,
            Conversation {
                holds_from: head.first_seq,
                ..Conversation::empty()
            },
        );
        return Ok((head, Conversation::empty()));
    }
    if let Some(mut cached) = cache.get(session)
        && cached.version.is_extended_by(&head.version)
    {
        if cached.version != head.version {
            let entries = store
                .entries(session, cached.version.seq() + 1, head.last_seq())
                .await?;
            cached.extend(entries);
            cached.version = head.version;
        }
        if cached.serves(policy, &head) {
            cached.trim(policy);
            cache.put(session, cached.clone());
            return Ok((head, cached));
        }
    }
    let conversation = cold_load(store, session, policy, &head).await?;
    let mut kept = conversation.clone();
    kept.trim(policy);
    cache.put(session, kept);
    Ok((head, conversation))
}

/// Reads a session the cache does not hold: the whole log, the summary and what follows it, or
/// the newest entries until the window is full.
async fn cold_load(
    store: &dyn SessionStore,
    session: &SessionId,
    policy: &ContextPolicy,
    head: &SessionHead,
) -> Result<Conversation, SessionError> {
    let last = head.last_seq();
    let mut conversation = Conversation {
        version: head.version,
        ..Conversation::empty()
    };
    let from = match policy {
        ContextPolicy::WholeHistory => head.first_seq,
        ContextPolicy::Summarize(_) => match head.summary_seq {
            // The summary entry is written after the turns it leaves out, and the turns it
            // keeps come before it too: read it, then everything after what it summarises.
            Some(seq) => {
                let summary = store.entries(session, seq, seq).await?;
                let through = summary.iter().find_map(|entry| match &entry.body {
                    EntryBody::Summary(summary) => Some(summary.through_seq),
                    _ => None,
                });
                match through {
                    Some(through) => through.saturating_add(1).clamp(head.first_seq, seq),
                    None => head.first_seq,
                }
            }
            None => head.first_seq,
        },
        ContextPolicy::Window(window) => {
            // Read backwards, more each time, until the window is full or the log is read.
            let mut span = 8u64;
            loop {
                let from = last.saturating_sub(span - 1).max(head.first_seq);
                let mut candidate = Conversation {
                    version: head.version,
                    holds_from: from,
                    ..Conversation::empty()
                };
                candidate.extend(store.entries(session, from, last).await?);
                if from == head.first_seq
                    || turns_within(&candidate.turns, *window) < candidate.turns.len()
                {
                    return Ok(candidate);
                }
                span = span.saturating_mul(4);
            }
        }
    };
    conversation.holds_from = from;
    conversation.extend(store.entries(session, from, last).await?);
    Ok(conversation)
}
