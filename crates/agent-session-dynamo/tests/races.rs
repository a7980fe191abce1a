//! Real agent runs racing on one session, on DynamoDB Local, through
//! `agent_runtime::SessionRunner` with real-time recording: the timings that once lost a turn.
//! The delay is put where a slow network puts it, between DynamoDB and the store (the SDK's
//! HTTP client): a store-level wrapper sees the answer only after the store has handled it.
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (set by `cargo xtask test`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests: a panic is a failed assertion.

mod common;

use common::LEASE;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_core::{
    Message, Model, ModelError, ModelRequest, ModelResponse, NoEvents, Reasoning, RunStatus,
    StopReason, ToolSet, async_trait,
};
use agent_loop::{AgentLoop, RunInput};
use agent_runtime::{SessionOptions, SessionRunner};
use agent_session::{Commit, RunClaim, SessionError, SessionStore, SessionVersion};
use agent_session_dynamo::DynamoSessionStore;
use agent_session_dynamo::aws_sdk_dynamodb::Client;
use agent_session_dynamo::aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use uuid::Uuid;

/// A model that answers without tools: at once, or after half a second when the question says
/// `slow`.
struct QuickModel;

#[async_trait]
impl Model for QuickModel {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        let question = request
            .messages
            .last()
            .map(|message| message.text())
            .unwrap_or_default();
        if question.contains("slow") {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(ModelResponse::new(
            Message::assistant_text(format!("answer to {question}")),
            StopReason::EndTurn,
        ))
    }
}

/// What happens to the answer of a write the test picks out.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// It comes back this much later.
    Late(Duration),
    /// DynamoDB applies the write; its answer is lost (a 500 comes back instead).
    Lost,
}

/// Which writes (transactions, updates, puts): those whose request holds all these strings.
type Pick = Vec<String>;

/// The SDK's HTTP client, with the answers of picked writes late or lost: put where a
/// slow or broken network puts them, between DynamoDB and the store.
#[derive(Clone)]
struct Network {
    inner: SharedHttpClient,
    rule: Arc<Mutex<Option<(Pick, Answer)>>>,
    hits: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network").finish_non_exhaustive()
    }
}

impl Network {
    fn new() -> Self {
        Self {
            inner: aws_smithy_http_client::Builder::new().build_http(),
            rule: Arc::new(Mutex::new(None)),
            hits: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// From now on, the writes holding all of `pick` get `answer`.
    fn pick(&self, pick: &[&str], answer: Answer) {
        let pick = pick.iter().map(|s| (*s).to_owned()).collect();
        *self.rule.lock().unwrap() = Some((pick, answer));
    }

    /// The network is fine again.
    fn heal(&self) {
        *self.rule.lock().unwrap() = None;
    }

    /// How many answers were late or lost.
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// A store on the shared table through this network, without the SDK's retries (a lost
    /// answer reaches the store).
    async fn store(&self) -> DynamoSessionStore {
        let config = agent_session_dynamo::aws_sdk_dynamodb::config::Builder::from(
            &common::sdk_config().await,
        )
        .http_client(self.clone())
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .build();
        DynamoSessionStore::builder()
            .client(Client::from_conf(config))
            .table_name(common::SHARED_TABLE)
            .build()
            .await
            .unwrap()
    }
}

impl HttpClient for Network {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector {
            inner: self.inner.http_connector(settings, components),
            network: self.clone(),
        })
    }
}

#[derive(Debug)]
struct Connector {
    inner: SharedHttpConnector,
    network: Network,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let write = request.headers().get("x-amz-target").is_some_and(|target| {
            ["TransactWriteItems", "UpdateItem", "PutItem"]
                .iter()
                .any(|op| target.ends_with(op))
        });
        let body = request
            .body()
            .bytes()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let answer = match &*self.network.rule.lock().unwrap() {
            Some((pick, answer)) if write && pick.iter().all(|s| body.contains(s.as_str())) => {
                Some(*answer)
            }
            _ => None,
        };
        let sent = self.inner.call(request);
        let Some(answer) = answer else {
            return sent;
        };
        let hits = self.network.hits.clone();
        HttpConnectorFuture::new(async move {
            let answered = sent.await;
            hits.fetch_add(1, Ordering::SeqCst);
            match answer {
                Answer::Late(delay) => {
                    tokio::time::sleep(delay).await;
                    answered
                }
                Answer::Lost => {
                    let mut lost = HttpResponse::new(
                        StatusCode::try_from(500).unwrap(),
                        SdkBody::from(
                            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"lost"}"#,
                        ),
                    );
                    lost.headers_mut()
                        .insert("content-type", "application/x-amz-json-1.0");
                    Ok(lost)
                }
            }
        })
    }
}

/// The commit of run `run_id`: the transaction writing its turn.
fn commit_of(run_id: Uuid) -> [String; 2] {
    [run_id.to_string(), r#"{"S":"turn"}"#.to_owned()]
}

/// Run A starts; run B starts 150 ms later; A's commit is applied at once but its answer
/// reaches the store 400 ms later, while B is still running. B's turn is kept. It once failed
/// with `store/expired: run N belongs to a life of the session that ended`: A's commit,
/// planned from the store's cached head before B began, cached that head (with the run count
/// before B's) when its answer came, over the head B's `begin_run` had cached; the cache kept
/// any head with as many entries, and B's commit read its run number past the cached count as
/// an ended life, without reading the head again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_answer_never_loses_the_next_runs_turn() {
    let run_a = RunInput::new("A");
    let network = Network::new();
    let [id, turn] = commit_of(run_a.run_id);
    network.pick(&[&id, &turn], Answer::Late(Duration::from_millis(400)));
    let store = network.store().await;
    let session = common::session("late-answer");
    // The session exists already (a turn before), as in a conversation going on.
    common::commit(
        &store,
        &session,
        SessionVersion::EMPTY,
        &common::run("hello", "hi"),
    )
    .await;
    let runner = SessionRunner::new(
        Arc::new(store) as Arc<dyn SessionStore>,
        SessionOptions::default()
            .with_real_time(true)
            .with_heartbeat(Duration::from_millis(100), Duration::from_secs(30))
            .with_commit_timeout(Duration::from_secs(30)),
    );
    let agent = AgentLoop::new(Arc::new(QuickModel), ToolSet::new(Vec::new()).unwrap());
    let first = {
        let (runner, agent, session) = (runner.clone(), agent.clone(), session.clone());
        tokio::spawn(async move { runner.run(&agent, &session, run_a, &NoEvents).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let second = runner
        .run(&agent, &session, RunInput::new("B slow"), &NoEvents)
        .await;
    let first = first.await.unwrap();
    if let Err(error) = &second {
        panic!(
            "run B: {error}: {:?}",
            std::error::Error::source(error).map(ToString::to_string)
        );
    }
    if let Err(error) = &first {
        panic!(
            "run A: {error}: {:?}",
            std::error::Error::source(error).map(ToString::to_string)
        );
    }
    assert_eq!(network.hits(), 1, "A's commit was answered late");
    // Both turns are kept, once each, and both runs' records say so.
    let fresh = common::store().await;
    let texts: Vec<String> = common::messages(&fresh, &session)
        .await
        .iter()
        .map(Message::text)
        .collect();
    assert_eq!(texts.len(), 6, "{texts:?}");
    for query in ["A", "B slow"] {
        assert_eq!(
            texts
                .iter()
                .filter(|text| text.lines().next() == Some(query))
                .count(),
            1,
            "{texts:?}"
        );
    }
    let runs = fresh.runs(&session, 0, 10).await.unwrap();
    assert_eq!(runs.len(), 3);
    assert!(
        runs.iter()
            .all(|run| run.reasoning.status == RunStatus::Completed && run.lease.is_none()),
        "{runs:?}"
    );
}

/// Writes of a run repeated after their answer was lost, by the same store or another
/// process, keep one record: a `begin_run` (even after other runs began), a `finish_run`
/// after the run's commit, a `finish_run` without a lease, and a `claim_run`.
#[tokio::test]
async fn run_writes_repeated_after_a_lost_answer_keep_one_record() {
    let network = Network::new();
    let store = network.store().await;
    let other = common::store().await;
    let session = common::session("lost-answers");
    let lost = |error: SessionError| {
        assert!(error.maybe_applied(), "{error}");
    };

    // begin_run: applied, its answer lost; three runs begin elsewhere; then repeated.
    let mut running = Reasoning::start("live", Some(session.to_string()));
    running.status = RunStatus::Running;
    let id = running.run_id.to_string();
    network.pick(&[&id], Answer::Lost);
    lost(
        store
            .begin_run(&session, &running, LEASE)
            .await
            .unwrap_err(),
    );
    network.heal();
    for n in 0..3 {
        let trace = common::reasoning(&session, &format!("other {n}"));
        other.begin_run(&session, &trace, LEASE).await.unwrap();
    }
    let lease = store.begin_run(&session, &running, LEASE).await.unwrap();
    assert_eq!(lease.run, 1, "the run's own record");
    assert_eq!(
        other.begin_run(&session, &running, LEASE).await.unwrap(),
        lease,
        "recognised by another process too"
    );
    assert_eq!(other.runs(&session, 0, 10).await.unwrap().len(), 4);

    // The run's commit applied, its answer lost; the run then records its failure (the
    // runner does when a commit fails): the commit's record is kept.
    let turn = common::run("live", "kept");
    let mut done = running.clone();
    done.status = RunStatus::Completed;
    let [id, kind] = commit_of(running.run_id);
    network.pick(&[&id, &kind], Answer::Lost);
    let commit =
        Commit::new(running.run_id, SessionVersion::EMPTY, &turn, &done).with_lease(Some(lease));
    lost(store.commit(&session, commit).await.unwrap_err());
    network.heal();
    let mut failed = running.clone();
    failed.status = RunStatus::Failed;
    assert_eq!(
        store
            .finish_run(&session, Some(&lease), &failed)
            .await
            .unwrap(),
        lease.run
    );
    let record = &other.runs(&session, 0, 1).await.unwrap()[0];
    assert_eq!(record.reasoning.status, RunStatus::Completed);
    assert_eq!(record.committed_seq, Some(1));
    assert!(store.commit(&session, commit).await.unwrap().replayed);

    // finish_run without a lease: applied, its answer lost, repeated.
    let mut plain = common::reasoning(&session, "plain");
    plain.status = RunStatus::Failed;
    network.pick(&[&plain.run_id.to_string()], Answer::Lost);
    lost(store.finish_run(&session, None, &plain).await.unwrap_err());
    network.heal();
    assert_eq!(store.finish_run(&session, None, &plain).await.unwrap(), 5);
    assert_eq!(other.finish_run(&session, None, &plain).await.unwrap(), 5);
    assert_eq!(other.runs(&session, 0, 10).await.unwrap().len(), 5);

    // claim_run of a run whose lease has expired: applied, its answer lost, repeated.
    let mut stalled = Reasoning::start("stalled", Some(session.to_string()));
    stalled.status = RunStatus::Running;
    let old = other
        .begin_run(&session, &stalled, Duration::ZERO)
        .await
        .unwrap();
    let seen = other.latest_run(&session).await.unwrap().unwrap();
    let claim = RunClaim::new(old.run, seen.heartbeat_at, LEASE);
    network.pick(&[&claim.lease.to_string()], Answer::Lost);
    lost(store.claim_run(&session, &claim).await.unwrap_err());
    network.heal();
    let new = store.claim_run(&session, &claim).await.unwrap();
    assert_eq!((new.run, new.lease), (old.run, claim.lease));
    let record = other.latest_run(&session).await.unwrap().unwrap();
    assert_eq!(record.lease, Some(claim.lease));
    let until = record.lease_expires_at.unwrap();
    assert!(until >= record.heartbeat_at.unwrap() + jiff::SignedDuration::from_secs(29));
    assert!(network.hits() >= 4);
}
