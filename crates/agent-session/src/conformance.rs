//! The conformance suite every [`SessionStore`] must pass (feature `conformance`).
//!
//! Each check calls the store directly and asserts what the
//! [`SessionStore` contract](SessionStore#contract) promises: ordered, dense, complete reads;
//! conditional, atomic commits that recognise their own retries however many commits came in
//! between; run records numbered densely, written without contending with commits, fenced by
//! leases; real-time events read back by position; time to live; delete without resurrection;
//! byte-exact round trips of large, multibyte and forward-compatible values. (How agents use a
//! store — runs in sessions, followers, crash detection — is checked by `agent-runtime`'s own
//! suite, which store crates run too.)
//!
//! # Running the suite on a store
//!
//! Enable the feature for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! agent-session = { version = "0.1", features = ["conformance"] }
//! ```
//!
//! Then, in a test file, give the macro a constructor: an async closure (or an `async fn`) that
//! takes the time to live the check needs and returns a fresh store (any [`SessionStore`], an
//! `Arc<dyn SessionStore>` included).
//!
//! ```
//! use std::time::Duration;
//! use agent_session::InMemorySessionStore;
//!
//! agent_session::session_store_conformance!(async |ttl: Duration| {
//!     InMemorySessionStore::with_ttl(ttl).unwrap()
//! });
//! ```
//!
//! This expands to one `#[test]` per check, named after it, so `cargo test` lists each result.
//! Each test builds its own multi-threaded tokio runtime, calls the constructor inside it, and
//! runs the check under [`CHECK_TIMEOUT`]. Every check uses its own session ids
//! (`conf-<check>-<uuid>`), so all of them may share one table or database. Attributes written
//! after the constructor go on every generated test. The time-to-live checks wait in real time
//! (about 3 and 7 seconds), since stores count time to live in whole seconds of the wall clock.

// A failed check is a test failure: the suite asserts, and panics on a store error or a
// timeout, like any test. It is library code only so that other crates can run it.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use agent_core::{
    AgentEvent, CachePoint, ContentBlock, DocumentBlock, DocumentFormat, ImageBlock, ImageFormat,
    MAX_STATE_VALUE_BYTES, Message, Reasoning, ReasoningContent, ReasoningText, Role, RunFailure,
    RunStatus, StateChanges, ToolResult, ToolResultContent, ToolUse,
};
use serde_json::{Value, json};
use uuid::Uuid;

pub use crate::counting::{CountingStore, StoreCalls};
use crate::error::{SessionError, SessionErrorKind};
use crate::id::SessionId;
use crate::store::{Commit, Committed, EntryBody, RunClaim, SessionStore, StoredEvent, Summary};
use crate::version::SessionVersion;

/// The time to live most checks ask the constructor for: one hour, so nothing expires.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// The time to live of [`expired_sessions_read_as_gone`].
pub const EXPIRY_TTL: Duration = Duration::from_secs(2);

/// The time to live of [`ttl_counts_from_the_last_write`].
pub const REFRESH_TTL: Duration = Duration::from_secs(5);

/// The longest one check may take; a check that runs longer fails.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(180);

/// Stores may round expiry times to whole seconds.
const TTL_SLACK: Duration = Duration::from_secs(1);

/// A boxed check future.
type CheckFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One check of the suite: its name, the time to live its store must have, and the check.
#[derive(Clone, Copy)]
pub struct Check {
    name: &'static str,
    ttl: Duration,
    run: fn(Arc<dyn SessionStore>) -> CheckFuture,
}

impl Check {
    /// The check's name, which is also the name of its `pub async fn` and generated test.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The time to live the store under test must be built with.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Runs the check on `store` (built with [`Check::ttl`]); panics when it fails.
    pub fn run(&self, store: Arc<dyn SessionStore>) -> impl Future<Output = ()> + Send + use<> {
        let name = self.name;
        let check = (self.run)(store);
        async move {
            if tokio::time::timeout(CHECK_TIMEOUT, check).await.is_err() {
                panic!("conformance check `{name}` did not finish within {CHECK_TIMEOUT:?}");
            }
        }
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A lease that has expired by the time anyone reads it: for checks that claim runs at once.
const EXPIRED: Duration = Duration::ZERO;

/// A lease that holds for the whole check.
const HELD: Duration = Duration::from_secs(3600);

/// The checks, listed once: calls `$callback!` with `name: ttl` pairs.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_checks {
    ($callback:path { $($prefix:tt)* }) => {
        $callback! { $($prefix)*
            empty_sessions_read_as_empty: DEFAULT_TTL,
            commits_append_in_order: DEFAULT_TTL,
            commits_are_conditional: DEFAULT_TTL,
            retried_commits_are_recognised: DEFAULT_TTL,
            summaries_commit_with_their_turn: DEFAULT_TTL,
            concurrent_commits_are_all_kept_by_rebasing: DEFAULT_TTL,
            real_time_runs_record_events_by_position: DEFAULT_TTL,
            leases_fence_a_taken_over_run: DEFAULT_TTL,
            runs_that_did_not_commit_are_recorded: DEFAULT_TTL,
            a_live_lease_is_never_claimed: DEFAULT_TTL,
            repeated_run_writes_keep_one_record: DEFAULT_TTL,
            run_records_do_not_contend_with_commits: DEFAULT_TTL,
            delete_removes_everything_and_is_never_undone: DEFAULT_TTL,
            expired_sessions_read_as_gone: EXPIRY_TTL,
            ttl_counts_from_the_last_write: REFRESH_TTL,
            large_and_multibyte_values_round_trip: DEFAULT_TTL,
            long_histories_are_read_in_full: DEFAULT_TTL,
            newer_records_are_kept_as_written: DEFAULT_TTL,
            sessions_are_listed: DEFAULT_TTL,
            session_state_commits_with_the_turn: DEFAULT_TTL,
            paused_runs_are_answered_once: DEFAULT_TTL,
            state_is_changed_outside_a_run: DEFAULT_TTL,
        }
    };
}

macro_rules! define_checks {
    ($($name:ident: $ttl:expr),* $(,)?) => {
        /// Every check of the suite, in the order [`run_all`] runs them.
        pub const CHECKS: &[Check] = &[
            $(Check {
                name: stringify!($name),
                ttl: $ttl,
                run: |store| Box::pin($name(store)),
            }),*
        ];
    };
}

__store_conformance_checks!(define_checks {});

/// Expands to one `#[test]` per conformance check, each running the check on a store made by
/// the given constructor. See the [module docs](crate::conformance).
///
/// ```
/// agent_session::session_store_conformance!(async |ttl: std::time::Duration| {
///     agent_session::InMemorySessionStore::with_ttl(ttl).unwrap()
/// });
/// ```
#[macro_export]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
macro_rules! session_store_conformance {
    (@test [$($attr:tt)*] ($make:expr) $name:ident) => {
        #[test]
        $($attr)*
        fn $name() {
            $crate::conformance::run_check(stringify!($name), $make);
        }
    };
    (@tests $attrs:tt ($make:expr) $($name:ident: $ttl:expr),* $(,)?) => {
        $($crate::session_store_conformance!(@test $attrs ($make) $name);)*
    };
    ($make:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::__store_conformance_checks!(
            $crate::session_store_conformance { @tests [$(#[$attr])*] ($make) }
        );
    };
}

/// Runs the check called `name` on a store made by `make`, on a new multi-threaded tokio
/// runtime: what each test generated by [`session_store_conformance!`] does.
///
/// Panics when the check fails, takes longer than [`CHECK_TIMEOUT`], or does not exist.
pub fn run_check<F, S>(name: &str, make: F)
where
    F: AsyncFnOnce(Duration) -> S,
    S: SessionStore + 'static,
{
    let Some(check) = CHECKS.iter().find(|check| check.name == name) else {
        panic!("there is no conformance check named `{name}`");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the conformance check");
    runtime.block_on(async {
        let store = make(check.ttl).await;
        check.run(Arc::new(store)).await;
    });
}

/// Runs every check in turn on the current runtime, each on a new store made by `make` with the
/// check's time to live. Panics at the first failure.
pub async fn run_all<F, S>(make: F)
where
    F: AsyncFn(Duration) -> S,
    S: SessionStore + 'static,
{
    for check in CHECKS {
        check.run(Arc::new(make(check.ttl).await)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A fresh session id for a check.
pub fn session_for(check: &str) -> SessionId {
    SessionId::new(format!("conf-{check}-{}", Uuid::now_v7().simple())).expect("a valid id")
}

/// A run's messages: the query, a tool call and its result, and the answer.
pub fn turn_messages(query: &str) -> Vec<Message> {
    vec![
        Message::user_text(query),
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Text(format!("<thinking>look up {query}</thinking>")),
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: format!("t-{query}"),
                    name: "lookup".into(),
                    input: json!({"q": query}),
                }),
            ],
        },
        Message::user(vec![ContentBlock::ToolResult(ToolResult::success(
            format!("t-{query}"),
            json!({"found": query}),
        ))]),
        Message::assistant_text(format!("answer to {query}")),
    ]
}

fn trace(session: &SessionId, query: &str, status: RunStatus) -> Reasoning {
    let mut reasoning = Reasoning::start(query, Some(session.to_string()));
    reasoning.status = status;
    reasoning.final_response = Some(format!("answer to {query}"));
    reasoning
}

/// Commits one turn of `query` on `base`.
pub async fn commit_turn(
    store: &dyn SessionStore,
    session: &SessionId,
    base: SessionVersion,
    query: &str,
) -> Result<Committed, SessionError> {
    let messages = turn_messages(query);
    let reasoning = trace(session, query, RunStatus::Completed);
    store
        .commit(
            session,
            Commit::new(reasoning.run_id, base, &messages, &reasoning),
        )
        .await
}

/// Every message of the session's current life, in order.
pub async fn all_messages(store: &dyn SessionStore, session: &SessionId) -> Vec<Message> {
    let head = store.head(session).await.expect("head");
    if head.version.is_empty() {
        return Vec::new();
    }
    store
        .entries(session, head.first_seq, head.last_seq())
        .await
        .expect("entries")
        .into_iter()
        .flat_map(|entry| entry.body.messages().to_vec())
        .collect()
}

fn event(index: u32, text: &str) -> StoredEvent {
    StoredEvent {
        index,
        event: AgentEvent::TextDelta {
            step: 1,
            text: text.to_owned(),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

/// A session never written reads as empty: no version, no runs, no entries to read.
pub async fn empty_sessions_read_as_empty(store: Arc<dyn SessionStore>) {
    let session = session_for("empty");
    let head = store.head(&session).await.unwrap();
    assert_eq!(head.version, SessionVersion::EMPTY);
    assert!(!head.exists());
    assert!(store.runs(&session, 0, 10).await.unwrap().is_empty());
    assert!(store.latest_run(&session).await.unwrap().is_none());
    assert!(store.events(&session, 1, 0, 10).await.unwrap().is_empty());
    let error = store.entries(&session, 1, 1).await.unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::NotFound, "{error}");
}

/// Turns committed one after another are read back in order, dense, each with its run record
/// numbered in commit order and pointing at its entry.
pub async fn commits_append_in_order(store: Arc<dyn SessionStore>) {
    let session = session_for("order");
    let mut base = SessionVersion::EMPTY;
    let mut seqs = Vec::new();
    for n in 0..3 {
        let committed = commit_turn(&*store, &session, base, &format!("q{n}"))
            .await
            .unwrap();
        assert!(!committed.replayed);
        assert_ne!(committed.version, base);
        assert_eq!(committed.version.seq(), committed.seq);
        base = committed.version;
        seqs.push((committed.seq, committed.run));
    }
    let head = store.head(&session).await.unwrap();
    assert_eq!(head.version, base);
    assert_eq!(head.entry_count(), 3);
    assert_eq!(head.runs + 1 - head.first_run, 3);
    let entries = store
        .entries(&session, head.first_seq, head.last_seq())
        .await
        .unwrap();
    let seq_numbers: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(
        seq_numbers,
        (head.first_seq..=head.last_seq()).collect::<Vec<_>>()
    );
    for (n, entry) in entries.iter().enumerate() {
        assert_eq!(entry.body.messages(), turn_messages(&format!("q{n}")));
    }
    let one = store
        .entries(&session, head.last_seq(), head.last_seq())
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].body.messages(), turn_messages("q2"));
    let runs = store.runs(&session, 0, 10).await.unwrap();
    assert_eq!(runs.len(), 3);
    for ((seq, run), record) in seqs.iter().zip(&runs) {
        assert_eq!(record.run, *run);
        assert_eq!(record.committed_seq, Some(*seq));
        assert_eq!(record.reasoning.status, RunStatus::Completed);
        assert!(record.lease.is_none());
    }
    assert_eq!(runs[1].run, runs[0].run + 1, "run numbers are dense");
    assert_eq!(
        store.runs(&session, runs[0].run, 1).await.unwrap()[0].run,
        runs[1].run
    );
    assert_eq!(
        store.latest_run(&session).await.unwrap().unwrap().run,
        runs[2].run
    );
    let error = store
        .entries(&session, head.last_seq() + 1, head.last_seq() + 1)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::NotFound, "{error}");
}

/// A commit computed from a version the session has moved past fails with `Conflict` and writes
/// nothing; so does a commit that thinks the session is new when it is not.
pub async fn commits_are_conditional(store: Arc<dyn SessionStore>) {
    let session = session_for("conditional");
    let v1 = commit_turn(&*store, &session, SessionVersion::EMPTY, "a")
        .await
        .unwrap()
        .version;
    let v2 = commit_turn(&*store, &session, v1, "b")
        .await
        .unwrap()
        .version;
    for stale in [v1, SessionVersion::EMPTY] {
        let error = commit_turn(&*store, &session, stale, "stale")
            .await
            .unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::Conflict, "{error}");
        assert!(error.is_conflict());
        assert_eq!(error.session(), Some(session.as_str()));
    }
    assert_eq!(store.head(&session).await.unwrap().version, v2);
    assert_eq!(all_messages(&*store, &session).await.len(), 8);
    assert_eq!(store.runs(&session, 0, 10).await.unwrap().len(), 2);
}

/// Committing a run a second time (its first response was lost) returns the first commit,
/// marked `replayed`, even after other runs committed, and writes nothing again.
pub async fn retried_commits_are_recognised(store: Arc<dyn SessionStore>) {
    let session = session_for("retry");
    let messages = turn_messages("mine");
    let reasoning = trace(&session, "mine", RunStatus::Completed);
    let mine = Commit::new(
        reasoning.run_id,
        SessionVersion::EMPTY,
        &messages,
        &reasoning,
    );
    let first = store.commit(&session, mine).await.unwrap();
    let mut base = first.version;
    for n in 0..3 {
        base = commit_turn(&*store, &session, base, &format!("other{n}"))
            .await
            .unwrap()
            .version;
    }
    let again = store.commit(&session, mine).await.unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.version, again.seq, again.run),
        (first.version, first.seq, first.run)
    );
    let head = store.head(&session).await.unwrap();
    assert_eq!(head.version, base);
    assert_eq!(head.entry_count(), 4);
    assert_eq!(store.runs(&session, 0, 10).await.unwrap().len(), 4);
}

/// A summary written with a turn lands just before it, and the head points at it.
pub async fn summaries_commit_with_their_turn(store: Arc<dyn SessionStore>) {
    let session = session_for("summary");
    let mut base = SessionVersion::EMPTY;
    for n in 0..2 {
        base = commit_turn(&*store, &session, base, &format!("q{n}"))
            .await
            .unwrap()
            .version;
    }
    let summary = Summary::new("They asked q0 and q1.", base.seq(), 8);
    let messages = turn_messages("q2");
    let reasoning = trace(&session, "q2", RunStatus::Completed);
    let committed = store
        .commit(
            &session,
            Commit::new(reasoning.run_id, base, &messages, &reasoning).with_summary(Some(&summary)),
        )
        .await
        .unwrap();
    assert_eq!(committed.seq, base.seq() + 2);
    let head = store.head(&session).await.unwrap();
    assert_eq!(head.summary_seq, Some(base.seq() + 1));
    let entries = store
        .entries(&session, base.seq() + 1, head.last_seq())
        .await
        .unwrap();
    assert_eq!(entries[0].body, EntryBody::Summary(summary));
    assert_eq!(entries[1].body.messages(), messages);
}

/// Runs committing on one session at once: per base exactly one wins, and each loser that
/// re-reads the head and commits again gets in; nothing is lost or doubled, runs stay dense.
pub async fn concurrent_commits_are_all_kept_by_rebasing(store: Arc<dyn SessionStore>) {
    let session = session_for("concurrent");
    const WRITERS: usize = 8;
    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for n in 0..WRITERS {
        let (store, session, barrier) = (store.clone(), session.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let messages = turn_messages(&format!("w{n}"));
            let reasoning = trace(&session, &format!("w{n}"), RunStatus::Completed);
            let mut base = SessionVersion::EMPTY;
            let mut conflicts = 0;
            barrier.wait().await;
            loop {
                let commit = Commit::new(reasoning.run_id, base, &messages, &reasoning);
                match store.commit(&session, commit).await {
                    Ok(committed) => return (committed, conflicts),
                    Err(error) if error.is_conflict() => {
                        conflicts += 1;
                        base = store.head(&session).await.unwrap().version;
                    }
                    Err(error) if error.is_retryable() => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(error) => panic!("writer {n}: {error}"),
                }
            }
        }));
    }
    let mut conflicts = 0;
    let mut seqs = HashSet::new();
    for task in tasks {
        let (committed, lost) = task.await.unwrap();
        conflicts += lost;
        assert!(
            seqs.insert(committed.seq),
            "two commits at seq {}",
            committed.seq
        );
    }
    assert!(conflicts > 0, "{WRITERS} writers on one base must conflict");
    let messages = all_messages(&*store, &session).await;
    assert_eq!(messages.len(), WRITERS * 4);
    let queries: HashSet<String> = messages
        .chunks(4)
        .map(|turn| {
            assert_eq!(turn[0].role, Role::User, "turns are not torn");
            turn[0].text()
        })
        .collect();
    assert_eq!(queries.len(), WRITERS, "every writer's turn is there once");
    let runs = store.runs(&session, 0, 100).await.unwrap();
    let numbers: Vec<u64> = runs.iter().map(|r| r.run).collect();
    let first = numbers[0];
    assert_eq!(numbers, (first..first + WRITERS as u64).collect::<Vec<_>>());
}

/// A run recorded in real time gets the next number and a record saying `running` with a
/// heartbeat; its events are read back by index, a rewritten index replaces the event, and its
/// commit ends the record.
pub async fn real_time_runs_record_events_by_position(store: Arc<dyn SessionStore>) {
    let session = session_for("events");
    let base = commit_turn(&*store, &session, SessionVersion::EMPTY, "before")
        .await
        .unwrap();
    let running = trace(&session, "live", RunStatus::Running);
    let lease = store.begin_run(&session, &running, EXPIRED).await.unwrap();
    assert_eq!(lease.run, base.run + 1);
    let record = store.latest_run(&session).await.unwrap().unwrap();
    assert_eq!(record.run, lease.run);
    assert_eq!(record.reasoning.status, RunStatus::Running);
    assert_eq!(record.lease, Some(lease.lease));
    assert!(record.heartbeat_at.is_some());
    store
        .append_events(&session, &lease, &[event(1, "a"), event(2, "b")])
        .await
        .unwrap();
    store
        .append_events(&session, &lease, &[event(3, "c")])
        .await
        .unwrap();
    store
        .append_events(&session, &lease, &[event(2, "B")])
        .await
        .unwrap();
    let all = store.events(&session, lease.run, 0, 100).await.unwrap();
    assert_eq!(all, vec![event(1, "a"), event(2, "B"), event(3, "c")]);
    assert_eq!(
        store.events(&session, lease.run, 2, 100).await.unwrap(),
        vec![event(3, "c")]
    );
    assert_eq!(
        store.events(&session, lease.run, 0, 1).await.unwrap(),
        vec![event(1, "a")]
    );
    store.heartbeat(&session, &lease, EXPIRED).await.unwrap();
    let messages = turn_messages("live");
    let done = trace(&session, "live", RunStatus::Completed);
    let committed = store
        .commit(
            &session,
            Commit::new(running.run_id, base.version, &messages, &done).with_lease(Some(lease)),
        )
        .await
        .unwrap();
    assert_eq!(committed.run, lease.run);
    let record = store.latest_run(&session).await.unwrap().unwrap();
    assert_eq!(record.reasoning, done);
    assert_eq!(record.committed_seq, Some(committed.seq));
    assert!(record.lease.is_none(), "an ended run holds no lease");
    assert_eq!(
        store
            .events(&session, lease.run, 0, 100)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(store.runs(&session, 0, 10).await.unwrap().len(), 2);
}

/// A run whose process stopped heart-beating is taken over only by a claim that saw its last
/// heartbeat; from then on the old lease can neither beat nor commit. (Appends under the old
/// lease are not fenced by every store: a taken-over process learns it at its next heartbeat.)
pub async fn leases_fence_a_taken_over_run(store: Arc<dyn SessionStore>) {
    let session = session_for("lease");
    let running = trace(&session, "long", RunStatus::Running);
    let old = store.begin_run(&session, &running, EXPIRED).await.unwrap();
    store
        .append_events(&session, &old, &[event(1, "a")])
        .await
        .unwrap();
    let record = store.latest_run(&session).await.unwrap().unwrap();
    let wrong = record
        .heartbeat_at
        .map(|at| at - jiff::SignedDuration::from_secs(1));
    let error = store
        .claim_run(&session, &RunClaim::new(old.run, wrong, EXPIRED))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Conflict, "{error}");
    let claim = RunClaim::new(old.run, record.heartbeat_at, EXPIRED);
    let new = store.claim_run(&session, &claim).await.unwrap();
    assert_eq!(new.run, old.run);
    assert_ne!(new.lease, old.lease);
    assert_eq!(new.lease, claim.lease, "the lease is the claimant's");
    assert_eq!(
        store.claim_run(&session, &claim).await.unwrap(),
        new,
        "the same claim repeated (its answer lost) is recognised"
    );
    let error = store
        .claim_run(
            &session,
            &RunClaim::new(old.run, record.heartbeat_at, EXPIRED),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        SessionErrorKind::Conflict,
        "a second claim loses: {error}"
    );
    let error = store.heartbeat(&session, &old, EXPIRED).await.unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Conflict, "{error}");
    assert!(
        store
            .append_events(&session, &old, &[event(2, "x")])
            .await
            .is_err()
    );
    let messages = turn_messages("long");
    let done = trace(&session, "long", RunStatus::Completed);
    let stale =
        Commit::new(running.run_id, SessionVersion::EMPTY, &messages, &done).with_lease(Some(old));
    assert!(store.commit(&session, stale).await.is_err());
    assert!(store.head(&session).await.unwrap().version.is_empty());
    store.heartbeat(&session, &new, EXPIRED).await.unwrap();
    store
        .append_events(&session, &new, &[event(2, "b")])
        .await
        .unwrap();
    assert_eq!(
        store.events(&session, new.run, 0, 10).await.unwrap().len(),
        2
    );
    let done =
        Commit::new(running.run_id, SessionVersion::EMPTY, &messages, &done).with_lease(Some(new));
    assert_eq!(store.commit(&session, done).await.unwrap().run, new.run);
}

/// A run that failed or was cancelled gets a record (its own number, or the next one) and
/// leaves the conversation as it was.
pub async fn runs_that_did_not_commit_are_recorded(store: Arc<dyn SessionStore>) {
    let session = session_for("failed");
    let base = commit_turn(&*store, &session, SessionVersion::EMPTY, "ok")
        .await
        .unwrap();
    let mut failed = trace(&session, "boom", RunStatus::Failed);
    failed.error = Some(RunFailure {
        kind: "model.throttled".into(),
        message: "slow down".into(),
    });
    let run = store.finish_run(&session, None, &failed).await.unwrap();
    assert_eq!(run, base.run + 1);
    let running = trace(&session, "cut", RunStatus::Running);
    let lease = store.begin_run(&session, &running, EXPIRED).await.unwrap();
    let cancelled = trace(&session, "cut", RunStatus::Cancelled);
    assert_eq!(
        store
            .finish_run(&session, Some(&lease), &cancelled)
            .await
            .unwrap(),
        lease.run
    );
    let runs = store.runs(&session, 0, 10).await.unwrap();
    let statuses: Vec<RunStatus> = runs.iter().map(|r| r.reasoning.status.clone()).collect();
    assert_eq!(
        statuses,
        [
            RunStatus::Completed,
            RunStatus::Failed,
            RunStatus::Cancelled
        ]
    );
    assert_eq!(runs[1].reasoning, failed);
    assert!(runs[1].committed_seq.is_none() && runs[2].lease.is_none());
    assert_eq!(store.head(&session).await.unwrap().version, base.version);
    assert!(
        store.heartbeat(&session, &lease, EXPIRED).await.is_err(),
        "an ended run's lease is spent"
    );
}

/// Real-time run records and events never make another run's commit conflict, and a run
/// recorded in real time commits on top of turns committed while it ran.
pub async fn run_records_do_not_contend_with_commits(store: Arc<dyn SessionStore>) {
    let session = session_for("contend");
    let running = trace(&session, "slow", RunStatus::Running);
    let lease = store.begin_run(&session, &running, EXPIRED).await.unwrap();
    let head = store.head(&session).await.unwrap();
    let mut base = head.version;
    for n in 0..3 {
        store
            .append_events(&session, &lease, &[event(n + 1, "step")])
            .await
            .unwrap();
        store.heartbeat(&session, &lease, EXPIRED).await.unwrap();
        base = commit_turn(&*store, &session, base, &format!("fast{n}"))
            .await
            .unwrap()
            .version;
    }
    let messages = turn_messages("slow");
    let done = trace(&session, "slow", RunStatus::Completed);
    let committed = store
        .commit(
            &session,
            Commit::new(running.run_id, base, &messages, &done).with_lease(Some(lease)),
        )
        .await
        .unwrap();
    assert_eq!(committed.run, lease.run);
    let runs = store.runs(&session, 0, 10).await.unwrap();
    assert_eq!(runs.len(), 4);
    assert_eq!(
        runs[0].run, lease.run,
        "the slow run kept the number it began with"
    );
    assert_eq!(all_messages(&*store, &session).await.len(), 16);
}

/// Delete removes the conversation, the runs and their events at once; a run computed before
/// the delete cannot commit (`Deleted`), and the session starts a new life when written again.
pub async fn delete_removes_everything_and_is_never_undone(store: Arc<dyn SessionStore>) {
    let session = session_for("delete");
    let old = commit_turn(&*store, &session, SessionVersion::EMPTY, "old")
        .await
        .unwrap();
    let lease = store
        .begin_run(
            &session,
            &trace(&session, "live", RunStatus::Running),
            EXPIRED,
        )
        .await
        .unwrap();
    store
        .append_events(&session, &lease, &[event(1, "a")])
        .await
        .unwrap();
    store.delete(&session).await.unwrap();
    let head = store.head(&session).await.unwrap();
    assert!(head.version.is_empty() && !head.exists());
    assert!(store.runs(&session, 0, 10).await.unwrap().is_empty());
    assert!(store.latest_run(&session).await.unwrap().is_none());
    assert!(
        store
            .events(&session, lease.run, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let error = commit_turn(&*store, &session, old.version, "stale")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Deleted, "{error}");
    assert!(!error.is_retryable());
    assert!(store.heartbeat(&session, &lease, EXPIRED).await.is_err());
    assert!(
        store.head(&session).await.unwrap().version.is_empty(),
        "not resurrected"
    );
    let fresh = commit_turn(&*store, &session, SessionVersion::EMPTY, "new")
        .await
        .unwrap();
    assert_ne!(
        fresh.version, old.version,
        "a new life never reuses a version"
    );
    assert_eq!(all_messages(&*store, &session).await, turn_messages("new"));
    store.delete(&session).await.unwrap();
    store.delete(&session).await.unwrap();
}

/// A session reads as gone once its time to live has passed since its last write, whether or
/// not the backend removed it yet; a run that read it before still commits and brings it back
/// with its history (its data is still there).
pub async fn expired_sessions_read_as_gone(store: Arc<dyn SessionStore>) {
    let session = session_for("expiry");
    let first = commit_turn(&*store, &session, SessionVersion::EMPTY, "early")
        .await
        .unwrap();
    tokio::time::sleep(EXPIRY_TTL + TTL_SLACK).await;
    let head = store.head(&session).await.unwrap();
    assert!(head.version.is_empty(), "expired: {head:?}");
    assert!(store.runs(&session, 0, 10).await.unwrap().is_empty());
    let late = commit_turn(&*store, &session, first.version, "late")
        .await
        .unwrap();
    assert_eq!(late.version.life(), first.version.life());
    assert_eq!(all_messages(&*store, &session).await.len(), 8);
    tokio::time::sleep(EXPIRY_TTL + TTL_SLACK).await;
    let fresh = commit_turn(&*store, &session, SessionVersion::EMPTY, "fresh")
        .await
        .unwrap();
    assert_ne!(fresh.version.life(), first.version.life());
    assert_eq!(
        all_messages(&*store, &session).await,
        turn_messages("fresh")
    );
}

/// A session lives until the time to live after its *last* write.
pub async fn ttl_counts_from_the_last_write(store: Arc<dyn SessionStore>) {
    let session = session_for("refresh");
    let first = commit_turn(&*store, &session, SessionVersion::EMPTY, "one")
        .await
        .unwrap();
    tokio::time::sleep(REFRESH_TTL - Duration::from_secs(2)).await;
    let second = commit_turn(&*store, &session, first.version, "two")
        .await
        .unwrap();
    tokio::time::sleep(REFRESH_TTL - Duration::from_secs(2)).await;
    assert_eq!(
        store.head(&session).await.unwrap().version,
        second.version,
        "still alive"
    );
    tokio::time::sleep(Duration::from_secs(2) + TTL_SLACK * 2).await;
    assert!(store.head(&session).await.unwrap().version.is_empty());
}

/// A megabyte of tool output, images and documents (inline and in S3), cache points, signed and
/// redacted reasoning, multibyte text and a large trace come back byte for byte.
pub async fn large_and_multibyte_values_round_trip(store: Arc<dyn SessionStore>) {
    let session = session_for("large");
    let big: String = (0..1_050_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let multibyte = "Grüße, 世界! 🦀 ".repeat(2000);
    let image: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let messages = vec![
        Message::user(vec![
            ContentBlock::Text(multibyte.clone()),
            ContentBlock::Image(ImageBlock::from_bytes(ImageFormat::Png, image)),
            ContentBlock::Image(ImageBlock::from_s3(
                ImageFormat::Jpeg,
                "s3://bucket/photos/1.jpg",
            )),
            ContentBlock::Document(DocumentBlock::from_bytes(
                DocumentFormat::Pdf,
                "Quarterly report (Q3)",
                b"%PDF-1.7 not really".to_vec(),
            )),
            ContentBlock::CachePoint(CachePoint::default()),
        ]),
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(ReasoningText {
                    text: multibyte.clone(),
                    signature: Some("c2lnbmF0dXJl".into()),
                })),
                ContentBlock::ReasoningContent(ReasoningContent::RedactedContent(
                    "cmVkYWN0ZWQ=".into(),
                )),
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: "t".into(),
                    name: "fetch".into(),
                    input: json!({"url": "https://example.com"}),
                }),
            ],
        },
        Message::user(vec![ContentBlock::ToolResult(ToolResult {
            tool_use_id: "t".into(),
            content: vec![ToolResultContent::Text(big.clone())],
            status: None,
        })]),
        Message::assistant_text(multibyte.clone()),
    ];
    let mut reasoning = trace(&session, &multibyte, RunStatus::Completed);
    reasoning.final_response = Some(big.clone());
    let committed = store
        .commit(
            &session,
            Commit::new(
                reasoning.run_id,
                SessionVersion::EMPTY,
                &messages,
                &reasoning,
            ),
        )
        .await
        .unwrap();
    assert_eq!(all_messages(&*store, &session).await, messages);
    let record = store.latest_run(&session).await.unwrap().unwrap();
    assert_eq!(record.reasoning, reasoning);
    let next = commit_turn(&*store, &session, committed.version, "small")
        .await
        .unwrap();
    assert_eq!(next.seq, committed.seq + 1);
}

/// A history larger than any one read page is read whole, in order.
pub async fn long_histories_are_read_in_full(store: Arc<dyn SessionStore>) {
    let session = session_for("long");
    let padding = "x".repeat(12_000);
    let mut base = SessionVersion::EMPTY;
    const TURNS: usize = 100;
    for n in 0..TURNS {
        let messages = vec![
            Message::user_text(format!("q{n} {padding}")),
            Message::assistant_text(format!("a{n}")),
        ];
        let reasoning = trace(&session, &format!("q{n}"), RunStatus::Completed);
        base = store
            .commit(
                &session,
                Commit::new(reasoning.run_id, base, &messages, &reasoning),
            )
            .await
            .unwrap()
            .version;
    }
    let messages = all_messages(&*store, &session).await;
    assert_eq!(messages.len(), TURNS * 2);
    for (n, pair) in messages.chunks(2).enumerate() {
        assert_eq!(pair[1].text(), format!("a{n}"));
    }
    assert_eq!(store.runs(&session, 0, 1000).await.unwrap().len(), TURNS);
}

/// Messages and traces written by a newer version (unknown blocks, statuses, events) load and
/// are kept exactly as written.
pub async fn newer_records_are_kept_as_written(store: Arc<dyn SessionStore>) {
    let session = session_for("newer");
    let messages: Vec<Message> = serde_json::from_value(json!([
        {"role": "user", "content": [{"text": "hi"}, {"hologram": {"frames": 3}}]},
        {"role": "assistant", "content": [{"text": "hello"}, {"reasoningContent": {"quantum": {}}}]}
    ]))
    .unwrap();
    let reasoning: Reasoning = serde_json::from_value(json!({
        "run_id": Uuid::now_v7(), "session_id": session.as_str(), "query": "hi",
        "status": "paused_for_approval", "steps": [{"step_number": 1,
            "tools": [{"name": "t", "status": "awaiting_human"}]}],
        "total_steps": 1, "final_response": "hello", "future_field": true
    }))
    .unwrap();
    assert_eq!(
        reasoning.status,
        RunStatus::Other("paused_for_approval".into())
    );
    store
        .commit(
            &session,
            Commit::new(
                reasoning.run_id,
                SessionVersion::EMPTY,
                &messages,
                &reasoning,
            ),
        )
        .await
        .unwrap();
    assert_eq!(all_messages(&*store, &session).await, messages);
    assert_eq!(
        store.latest_run(&session).await.unwrap().unwrap().reasoning,
        reasoning
    );
    let lease = store
        .begin_run(
            &session,
            &trace(&session, "next", RunStatus::Running),
            EXPIRED,
        )
        .await
        .unwrap();
    let unknown: AgentEvent =
        serde_json::from_value(json!({"type": "approval_requested"})).unwrap();
    store
        .append_events(&session, &lease, &[StoredEvent::new(1, unknown.clone())])
        .await
        .unwrap();
    assert_eq!(
        store.events(&session, lease.run, 0, 10).await.unwrap()[0].event,
        unknown
    );
    let stored: Value =
        serde_json::to_value(&store.latest_run(&session).await.unwrap().unwrap().reasoning)
            .unwrap();
    assert_eq!(stored["status"], "running");
}

/// Live sessions are listed, a page at a time; deleted ones are not. A store that cannot list
/// says `Unsupported`.
pub async fn sessions_are_listed(store: Arc<dyn SessionStore>) {
    let sessions: Vec<SessionId> = (0..3).map(|_| session_for("list")).collect();
    for session in &sessions {
        commit_turn(&*store, session, SessionVersion::EMPTY, "hi")
            .await
            .unwrap();
    }
    store.delete(&sessions[2]).await.unwrap();
    let mut seen = HashSet::new();
    let mut page = None;
    loop {
        let listed = match store.list_sessions(page.as_deref(), 2).await {
            Ok(listed) => listed,
            Err(error) if error.kind() == SessionErrorKind::Unsupported => return,
            Err(error) => panic!("{error}"),
        };
        assert!(listed.sessions.len() <= 2);
        for info in listed.sessions {
            // Other checks' sessions may share the store (a session with runs and no turn yet
            // is listed too); this check's sessions each hold a turn.
            if sessions.contains(&info.id) {
                assert!(!info.head.version.is_empty());
            }
            seen.insert(info.id);
        }
        match listed.next {
            Some(next) => page = Some(next),
            None => break,
        }
    }
    assert!(seen.contains(&sessions[0]) && seen.contains(&sessions[1]));
    assert!(
        !seen.contains(&sessions[2]),
        "a deleted session is not listed"
    );
}

/// A run whose lease holds cannot be claimed, however the claimant judges its heartbeat: the
/// lease's end is in the record, moved on by every heartbeat.
pub async fn a_live_lease_is_never_claimed(store: Arc<dyn SessionStore>) {
    let session = session_for("held");
    let running = trace(&session, "held", RunStatus::Running);
    let lease = store.begin_run(&session, &running, HELD).await.unwrap();
    let record = store.latest_run(&session).await.unwrap().unwrap();
    let until = record
        .lease_expires_at
        .expect("the record holds the lease's end");
    let heartbeat = record.heartbeat_at.expect("and its heartbeat");
    assert!(
        until >= heartbeat + jiff::SignedDuration::from_secs(3599),
        "{until} is the heartbeat ({heartbeat}) plus the lease"
    );
    let error = store
        .claim_run(
            &session,
            &RunClaim::new(lease.run, record.heartbeat_at, HELD),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Conflict, "{error}");
    store.heartbeat(&session, &lease, HELD).await.unwrap();
    let beaten = store.latest_run(&session).await.unwrap().unwrap();
    assert!(beaten.lease_expires_at >= record.lease_expires_at);
    assert_eq!(
        beaten.lease,
        Some(lease.lease),
        "the failed claim changed nothing"
    );
}

/// Writes a run repeats when their answer is lost keep one record: `begin_run` again gives the
/// same run and lease, `finish_run` again (with or without a lease) the same record, and a
/// `finish_run` after the run's commit keeps the committed record.
pub async fn repeated_run_writes_keep_one_record(store: Arc<dyn SessionStore>) {
    let session = session_for("repeat");
    let running = trace(&session, "again", RunStatus::Running);
    let lease = store.begin_run(&session, &running, HELD).await.unwrap();
    assert_eq!(
        store.begin_run(&session, &running, HELD).await.unwrap(),
        lease,
        "a repeated begin is recognised"
    );
    let mut failed = trace(&session, "again", RunStatus::Failed);
    failed.run_id = running.run_id;
    let first = store
        .finish_run(&session, Some(&lease), &failed)
        .await
        .unwrap();
    let second = store
        .finish_run(&session, Some(&lease), &failed)
        .await
        .unwrap();
    assert_eq!((first, second), (lease.run, lease.run));
    let plain = trace(&session, "plain", RunStatus::Failed);
    let a = store.finish_run(&session, None, &plain).await.unwrap();
    let b = store.finish_run(&session, None, &plain).await.unwrap();
    assert_eq!(
        a, b,
        "a repeated record of a run without a lease is recognised"
    );
    assert_eq!(store.runs(&session, 0, 10).await.unwrap().len(), 2);

    // A commit whose answer was lost, then the run's failure recorded: the commit's record
    // stays.
    let committing = trace(&session, "kept", RunStatus::Running);
    let lease = store.begin_run(&session, &committing, HELD).await.unwrap();
    let messages = turn_messages("kept");
    let mut done = trace(&session, "kept", RunStatus::Completed);
    done.run_id = committing.run_id;
    let base = store.head(&session).await.unwrap().version;
    store
        .commit(
            &session,
            Commit::new(committing.run_id, base, &messages, &done).with_lease(Some(lease)),
        )
        .await
        .unwrap();
    let mut not_kept = done.clone();
    not_kept.status = RunStatus::Failed;
    assert_eq!(
        store
            .finish_run(&session, Some(&lease), &not_kept)
            .await
            .unwrap(),
        lease.run
    );
    let record = store.latest_run(&session).await.unwrap().unwrap();
    assert_eq!(record.reasoning.status, RunStatus::Completed);
    assert_eq!(store.runs(&session, 0, 10).await.unwrap().len(), 3);
}

/// Session state is written by commits only, in the same write as the turn: key by key on the
/// state the session has then (so two runs that wrote different keys both keep theirs), a
/// removal removes, a state too large is refused with nothing written, a retried commit
/// applies nothing twice, and a deleted session starts again with no state.
pub async fn session_state_commits_with_the_turn(store: Arc<dyn SessionStore>) {
    let session = session_for("state");
    assert!(store.head(&session).await.unwrap().state.is_empty());
    let commit_with = async |base: SessionVersion, query: &str, changes: &StateChanges| {
        let messages = turn_messages(query);
        let reasoning = trace(&session, query, RunStatus::Completed);
        store
            .commit(
                &session,
                Commit::new(reasoning.run_id, base, &messages, &reasoning)
                    .with_state(Some(changes)),
            )
            .await
    };
    let mut first = StateChanges::new();
    first.set_value("plan", json!("free")).unwrap();
    first.set_value("seen", json!(["a"])).unwrap();
    let one = commit_with(SessionVersion::EMPTY, "one", &first)
        .await
        .unwrap();
    let head = store.head(&session).await.unwrap();
    assert_eq!(
        head.state.get::<String>("plan").unwrap().as_deref(),
        Some("free")
    );
    assert_eq!(head.state.len(), 2);

    // Two runs from the same head: each wrote its own key; the second re-bases and keeps both.
    let mut second = StateChanges::new();
    second.set_value("plan", json!("pro")).unwrap();
    let mut third = StateChanges::new();
    third.set_value("approved:transfer", json!(true)).unwrap();
    third.remove("seen").unwrap();
    commit_with(one.version, "two", &second).await.unwrap();
    let conflict = commit_with(one.version, "three", &third).await.unwrap_err();
    assert_eq!(conflict.kind(), SessionErrorKind::Conflict, "{conflict}");
    let head = store.head(&session).await.unwrap();
    assert_eq!(head.state.len(), 2, "the losing commit wrote no state");
    commit_with(head.version, "three", &third).await.unwrap();
    let head = store.head(&session).await.unwrap();
    assert_eq!(
        head.state.get::<String>("plan").unwrap().as_deref(),
        Some("pro")
    );
    assert_eq!(
        head.state.get::<bool>("approved:transfer").unwrap(),
        Some(true)
    );
    assert_eq!(head.state.get_value("seen"), None, "a removal removes");

    // Too large in all: refused, nothing written.
    let mut huge = StateChanges::new();
    for n in 0..5 {
        huge.set_value(
            &format!("big{n}"),
            json!("x".repeat(MAX_STATE_VALUE_BYTES - 16)),
        )
        .unwrap();
    }
    let refused = commit_with(head.version, "huge", &huge).await.unwrap_err();
    assert_eq!(refused.kind(), SessionErrorKind::InvalidInput, "{refused}");
    let after = store.head(&session).await.unwrap();
    assert_eq!(
        after.version, head.version,
        "the refused commit wrote no turn"
    );
    assert_eq!(after.state, head.state);

    // Deleted: the next life starts with no state.
    store.delete(&session).await.unwrap();
    commit_turn(&*store, &session, SessionVersion::EMPTY, "again")
        .await
        .unwrap();
    assert!(store.head(&session).await.unwrap().state.is_empty());
}

/// A paused run (a run waiting for a person's decisions) holds no lease and keeps its events;
/// pausing again after a lost answer is recognised; of two processes that claim it on the
/// heartbeat they read, exactly one wins, and its claim writes the record it gives (the run is
/// `running` again); the winner can record and commit; a claim on a stale heartbeat fails.
pub async fn paused_runs_are_answered_once(store: Arc<dyn SessionStore>) {
    let session = session_for("paused");
    let running = trace(&session, "pay", RunStatus::Running);
    let lease = store.begin_run(&session, &running, HELD).await.unwrap();
    store
        .append_events(&session, &lease, &[event(1, "asked")])
        .await
        .unwrap();
    let mut paused = running.clone();
    paused.status = RunStatus::Paused;
    assert_eq!(
        store
            .finish_run(&session, Some(&lease), &paused)
            .await
            .unwrap(),
        lease.run
    );
    assert_eq!(
        store
            .finish_run(&session, Some(&lease), &paused)
            .await
            .unwrap(),
        lease.run,
        "a repeated pause is recognised"
    );
    let record = store.latest_run(&session).await.unwrap().unwrap();
    assert_eq!(record.reasoning.status, RunStatus::Paused);
    assert_eq!(record.lease, None, "a paused run holds no lease");
    assert_eq!(
        store
            .events(&session, lease.run, 0, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let error = store
        .heartbeat(&session, &lease, HELD)
        .await
        .expect_err("the old lease is released");
    assert_eq!(error.kind(), SessionErrorKind::Conflict, "{error}");

    let mut resumed = running.clone();
    resumed.final_response = Some("resumed".into());
    let claim = |n: u8| {
        let mut reasoning = resumed.clone();
        reasoning.query = format!("claim {n}");
        RunClaim::new(lease.run, record.heartbeat_at, HELD).with_reasoning(reasoning)
    };
    let (first, second) = (claim(1), claim(2));
    let (a, b) = tokio::join!(
        store.claim_run(&session, &first),
        store.claim_run(&session, &second)
    );
    let (won, winner) = match (a, b) {
        (Ok(won), Err(error)) => {
            assert_eq!(error.kind(), SessionErrorKind::Conflict, "{error}");
            (won, first)
        }
        (Err(error), Ok(won)) => {
            assert_eq!(error.kind(), SessionErrorKind::Conflict, "{error}");
            (won, second)
        }
        other => panic!("exactly one claim wins: {other:?}"),
    };
    assert_eq!(
        store.claim_run(&session, &winner).await.unwrap(),
        won,
        "a repeated claim is the claimant's own"
    );
    let record = store.latest_run(&session).await.unwrap().unwrap();
    assert_eq!(record.reasoning.status, RunStatus::Running);
    assert_eq!(
        Some(&record.reasoning.query),
        winner.reasoning.as_ref().map(|r| &r.query),
        "the claim wrote its record"
    );
    assert_eq!(record.lease, Some(won.lease));
    let stale = RunClaim::new(lease.run, record.heartbeat_at, HELD);
    assert_eq!(
        store.claim_run(&session, &stale).await.unwrap_err().kind(),
        SessionErrorKind::Conflict,
        "a live continued run is not claimed"
    );
    store
        .append_events(&session, &won, &[event(2, "answered")])
        .await
        .unwrap();
    let messages = turn_messages("pay");
    let mut done = trace(&session, "pay", RunStatus::Completed);
    done.run_id = running.run_id;
    store
        .commit(
            &session,
            Commit::new(running.run_id, SessionVersion::EMPTY, &messages, &done)
                .with_lease(Some(won)),
        )
        .await
        .unwrap();
    let record = store.latest_run(&session).await.unwrap().unwrap();
    assert_eq!(record.reasoning.status, RunStatus::Completed);
    assert_eq!(
        store
            .events(&session, lease.run, 0, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.runs(&session, 0, 10).await.unwrap().len(), 1);
}

/// A live session's state can be changed outside a run (`update_state`): key by key, with no
/// turn written and the version unchanged; a session that does not exist is `NotFound`; a state
/// too large is refused with nothing written; a later commit merges with it.
pub async fn state_is_changed_outside_a_run(store: Arc<dyn SessionStore>) {
    let session = session_for("state-outside");
    let mut allow = StateChanges::new();
    allow
        .set_value("approval.always.transfer", json!(true))
        .unwrap();
    let missing = store.update_state(&session, &allow).await.unwrap_err();
    assert_eq!(missing.kind(), SessionErrorKind::NotFound, "{missing}");

    let committed = commit_turn(&*store, &session, SessionVersion::EMPTY, "first")
        .await
        .unwrap();
    let before = store.head(&session).await.unwrap();
    let head = store.update_state(&session, &allow).await.unwrap();
    assert_eq!(head.version, committed.version, "no turn was written");
    assert_eq!(
        head.state.get::<bool>("approval.always.transfer").unwrap(),
        Some(true)
    );
    let read = store.head(&session).await.unwrap();
    assert_eq!(read.state, head.state);
    assert_eq!(read.runs, before.runs, "no run was recorded");

    let mut revoke = StateChanges::new();
    revoke.remove("approval.always.transfer").unwrap();
    revoke
        .set_value("note", json!("revoked by an operator"))
        .unwrap();
    store.update_state(&session, &revoke).await.unwrap();
    let mut huge = StateChanges::new();
    for n in 0..5 {
        huge.set_value(
            &format!("big{n}"),
            json!("x".repeat(MAX_STATE_VALUE_BYTES - 16)),
        )
        .unwrap();
    }
    let refused = store.update_state(&session, &huge).await.unwrap_err();
    assert_eq!(refused.kind(), SessionErrorKind::InvalidInput, "{refused}");

    let messages = turn_messages("second");
    let reasoning = trace(&session, "second", RunStatus::Completed);
    let mut later = StateChanges::new();
    later.set_value("plan", json!("pro")).unwrap();
    store
        .commit(
            &session,
            Commit::new(reasoning.run_id, committed.version, &messages, &reasoning)
                .with_state(Some(&later)),
        )
        .await
        .unwrap();
    let state = store.head(&session).await.unwrap().state;
    assert_eq!(state.get_value("approval.always.transfer"), None);
    assert_eq!(
        state.get::<String>("note").unwrap().as_deref(),
        Some("revoked by an operator")
    );
    assert_eq!(state.get::<String>("plan").unwrap().as_deref(), Some("pro"));
    assert_eq!(state.len(), 2);
}
