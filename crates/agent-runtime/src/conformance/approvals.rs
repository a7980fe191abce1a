//! Run-level checks of runs that wait for a person, and of session state.

use super::*;

use agent_core::{Decisions, InterruptDecision, RunOutcome};

use crate::outcome::ResumeRefusal;

/// A model for approvals: asked `PAY …`, it calls `transfer` (held for approval) and `lookup`
/// in one step; asked `PAY TWICE …`, `transfer` and `refund` (both held); asked `NOTE k`, it
/// calls `lookup` with key `k`. Given tool results, it answers with what the tools said.
#[derive(Default)]
struct PayModel {
    calls: AtomicUsize,
}

#[async_trait]
impl Model for PayModel {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let last = request
            .messages
            .last()
            .ok_or_else(|| ModelError::new(ModelErrorKind::Validation, "no messages"))?;
        if last.tool_results().next().is_some() {
            let told: Vec<String> = last
                .tool_results()
                .map(|result| format!("{:?}", result.content))
                .collect();
            return Ok(text(format!("done: {}", told.join(" | "))));
        }
        let question = question_of(&request.messages);
        let call = |name: &str, input: Value| {
            ContentBlock::ToolUse(ToolUse {
                tool_use_id: format!("{name}-{n}"),
                name: name.into(),
                input,
            })
        };
        let calls = if let Some(key) = question.strip_prefix("NOTE ") {
            vec![call("lookup", json!({ "key": key }))]
        } else if question.starts_with("PAY TWICE") {
            vec![
                call("transfer", json!({"amount": 100})),
                call("refund", json!({"amount": 7})),
            ]
        } else if question.starts_with("PAY") {
            vec![
                call("transfer", json!({"amount": 100})),
                call("lookup", json!({"key": "looked"})),
            ]
        } else {
            return Ok(text(format!("answer to {question}")));
        };
        Ok(ModelResponse::new(
            Message {
                role: agent_core::Role::Assistant,
                content: calls,
            },
            StopReason::ToolUse,
        ))
    }
}

/// A counted tool; `held` asks for approval; it writes `ran.{name}` (or the input's `key`) in
/// the session state.
#[derive(Clone)]
struct MoneyTool {
    name: &'static str,
    held: bool,
    calls: Arc<AtomicUsize>,
    inputs: Arc<Mutex<Vec<Value>>>,
}

impl MoneyTool {
    fn new(name: &'static str, held: bool) -> Self {
        Self {
            name,
            held,
            calls: Arc::default(),
            inputs: Arc::default(),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Tool for MoneyTool {
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        "Moves money, or looks something up."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }
    fn approval(&self) -> Option<&str> {
        self.held.then_some("money moves")
    }
    async fn call(&self, input: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inputs.lock().unwrap().push(input.clone());
        let key = input
            .get("key")
            .and_then(Value::as_str)
            .map_or_else(|| format!("ran.{}", self.name), str::to_owned);
        context
            .session_state()
            .set(&key, &true)
            .map_err(|error| ToolError::failed(error.to_string()))?;
        Ok(json!({ "tool": self.name, "input": input }).into())
    }
}

/// The tools of [`PayModel`]'s runs.
struct Till {
    transfer: MoneyTool,
    refund: MoneyTool,
    lookup: MoneyTool,
}

impl Till {
    fn new() -> Self {
        Self {
            transfer: MoneyTool::new("transfer", true),
            refund: MoneyTool::new("refund", true),
            lookup: MoneyTool::new("lookup", false),
        }
    }

    fn agent(&self) -> AgentLoop {
        let tools: Vec<Arc<dyn Tool>> = vec![
            Arc::new(self.transfer.clone()),
            Arc::new(self.refund.clone()),
            Arc::new(self.lookup.clone()),
        ];
        AgentLoop::new(Arc::new(PayModel::default()), ToolSet::new(tools).unwrap())
            .with_max_steps(3)
    }
}

async fn pause(
    runner: &SessionRunner,
    agent: &AgentLoop,
    session: &SessionId,
    query: &str,
) -> crate::outcome::SessionRunOutput {
    let output = runner
        .run(agent, session, RunInput::new(query), &NoEvents)
        .await
        .unwrap_or_else(|error| panic!("run {query:?} failed: {error}"));
    assert!(
        output.is_paused(),
        "{query:?} pauses: {:?}",
        output.result.outcome
    );
    output
}

async fn respond(
    runner: &SessionRunner,
    agent: &AgentLoop,
    session: &SessionId,
    decisions: &Decisions,
) -> Result<crate::outcome::SessionRunOutput, SessionRunError> {
    runner
        .respond(
            agent,
            session,
            decisions,
            CancellationToken::new(),
            &NoEvents,
        )
        .await
}

/// A held call pauses the run after the step's other calls ran: the record says `paused`, holds
/// no lease, the conversation is unchanged and the run is listed as waiting; another process
/// approves, the call runs once, nothing that ran runs again, the turn is kept, and a follower
/// sees the request and the decision — with real-time recording and without.
pub async fn paused_runs_wait_and_go_on_in_another_process(store: Arc<dyn SessionStore>) {
    for real_time in [true, false] {
        let session = session_for("paused");
        let till = Till::new();
        let agent = till.agent();
        let worker = runner(&store, real_time);
        let paused = pause(&worker, &agent, &session, "PAY bob").await;
        assert_eq!(paused.committed, None);
        let run = paused.run.expect("the paused run has a record");
        assert_eq!(till.transfer.calls(), 0, "held");
        assert_eq!(till.lookup.calls(), 1, "the step's other call ran");
        let record = store.latest_run(&session).await.unwrap().unwrap();
        assert_eq!(record.run, run);
        assert_eq!(record.reasoning.status, RunStatus::Paused);
        assert_eq!(record.lease, None, "a paused run holds no lease");
        assert!(all_messages(&worker, &session).await.is_empty());
        let waiting = worker.paused_runs(&session).await.unwrap();
        assert_eq!(waiting.len(), 1);
        let held = &waiting[0].interrupts[0];
        assert_eq!(
            (held.tool.as_str(), held.reason.as_str()),
            ("transfer", "money moves")
        );

        // Another process answers.
        let operator = runner(&store, real_time);
        let done = respond(
            &operator,
            &agent,
            &session,
            &Decisions::new().approve(&held.id),
        )
        .await
        .unwrap();
        assert_eq!(done.result.outcome, RunOutcome::Answered);
        assert!(done.committed.is_some());
        assert_eq!(done.run, Some(run), "the same record");
        assert_eq!((till.transfer.calls(), till.lookup.calls()), (1, 1));
        assert_eq!(all_messages(&operator, &session).await.len(), 4);
        let history = operator.reasoning_history(&session).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].status, RunStatus::Completed);
        assert_eq!(
            history[0].answered_interrupts[0].decision,
            InterruptDecision::Approve
        );
        assert!(operator.paused_runs(&session).await.unwrap().is_empty());
        let followed = collect_until(
            operator.follow(&session, FollowPosition::start()),
            |events| ended_runs(events) == 1,
        )
        .await;
        let kinds = names(&followed);
        let requested = kinds
            .iter()
            .position(|k| k.ends_with(":interrupt_requested"))
            .unwrap_or_else(|| panic!("{kinds:?}"));
        let answered = kinds
            .iter()
            .position(|k| k.ends_with(":interrupt_answered"))
            .unwrap_or_else(|| panic!("{kinds:?}"));
        assert!(requested < answered, "{kinds:?}");
        assert!(
            kinds.last().unwrap().ends_with(":run_finished"),
            "{kinds:?}"
        );
    }
}

/// Every kind of decision reaches the model and the trace: approve, approve with another
/// input, approve always (kept in the session state: the next call runs without asking),
/// deny with a message, answer in place of the tool.
pub async fn every_decision_is_kept(store: Arc<dyn SessionStore>) {
    let kinds: Vec<(InterruptDecision, Option<Value>, &str)> = vec![
        (
            InterruptDecision::Approve,
            Some(json!({"amount": 100})),
            "transfer",
        ),
        (
            InterruptDecision::ApproveWithInput {
                input: json!({"amount": 5}),
            },
            Some(json!({"amount": 5})),
            "transfer",
        ),
        (
            InterruptDecision::ApproveAlways {
                this_input_only: false,
            },
            Some(json!({"amount": 100})),
            "transfer",
        ),
        (
            InterruptDecision::Deny {
                message: "not this one".into(),
            },
            None,
            "not this one",
        ),
        (
            InterruptDecision::Answer {
                output: json!({"sent": "by hand"}),
            },
            None,
            "by hand",
        ),
    ];
    for (decision, ran_with, told) in kinds {
        let session = session_for("decision");
        let till = Till::new();
        let agent = till.agent();
        let runner = runner(&store, true);
        let paused = pause(&runner, &agent, &session, "PAY carol").await;
        let id = paused.result.pending_interrupts[0].id.clone();
        let done = respond(
            &runner,
            &agent,
            &session,
            &Decisions::new().with(&id, decision.clone()),
        )
        .await
        .unwrap_or_else(|error| panic!("{decision:?}: {error}"));
        assert!(
            done.result.response.contains(told),
            "{decision:?}: {}",
            done.result.response
        );
        let inputs = till.transfer.inputs.lock().unwrap().clone();
        assert_eq!(
            inputs,
            ran_with.into_iter().collect::<Vec<_>>(),
            "{decision:?}"
        );
        let record = store.latest_run(&session).await.unwrap().unwrap();
        assert_eq!(record.reasoning.answered_interrupts[0].decision, decision);
        if matches!(decision, InterruptDecision::ApproveAlways { .. }) {
            let state = store.head(&session).await.unwrap().state;
            assert_eq!(
                state
                    .get::<bool>(&agent_loop::always_approve_key("transfer"))
                    .unwrap(),
                Some(true)
            );
            let again = runner
                .run(&agent, &session, RunInput::new("PAY dave"), &NoEvents)
                .await
                .unwrap();
            assert_eq!(again.result.outcome, RunOutcome::Answered, "no longer asks");
            assert_eq!(till.transfer.calls(), 2);
        }
    }
}

/// Two held calls in one step: answered together by one of two concurrent responders (the
/// other is told another process answered), or one at a time — decided by an operator who
/// does not run the agent, then continued by a process that does.
pub async fn held_calls_are_answered_once_together_or_one_by_one(store: Arc<dyn SessionStore>) {
    let session = session_for("two-held");
    let till = Till::new();
    let agent = till.agent();
    let (first, second) = (runner(&store, true), runner(&store, true));
    let paused = pause(&first, &agent, &session, "PAY TWICE").await;
    let ids: Vec<String> = paused
        .result
        .pending_interrupts
        .iter()
        .map(|i| i.id.clone())
        .collect();
    assert_eq!(ids.len(), 2);
    let both = Decisions::new().approve(&ids[0]).approve(&ids[1]);
    let (a, b) = tokio::join!(
        respond(&first, &agent, &session, &both),
        respond(&second, &agent, &session, &both)
    );
    let (won, lost) = match (a, b) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
        (Ok(_), Ok(_)) => panic!("two responders both won"),
        (Err(a), Err(b)) => panic!("neither responder won: {a}; {b}"),
    };
    assert_eq!(won.result.outcome, RunOutcome::Answered);
    assert!(
        matches!(
            &lost,
            SessionRunError::NotResumable {
                reason: ResumeRefusal::AlreadyAnswered { .. },
                ..
            }
        ),
        "{lost}"
    );
    assert_eq!((till.transfer.calls(), till.refund.calls()), (1, 1));

    // One at a time: an operator decides the first, then the second; the agent continues.
    let paused = pause(&first, &agent, &session, "PAY TWICE again").await;
    let ids: Vec<String> = paused
        .result
        .pending_interrupts
        .iter()
        .map(|i| i.id.clone())
        .collect();
    let waiting = first
        .decide(&session, &Decisions::new().approve(&ids[0]))
        .await
        .unwrap();
    assert_eq!(waiting.interrupts.len(), 1);
    assert_eq!(waiting.interrupts[0].id, ids[1]);
    let early = respond(&second, &agent, &session, &Decisions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            early,
            SessionRunError::NotResumable {
                reason: ResumeRefusal::NoDecisions,
                ..
            }
        ),
        "a run with a call still waiting does not go on: {early}"
    );
    let waiting = second
        .decide(&session, &Decisions::new().deny(&ids[1], "no refunds"))
        .await
        .unwrap();
    assert!(waiting.interrupts.is_empty());
    assert_eq!(till.transfer.calls(), 1, "deciding runs nothing");
    let done = respond(&second, &agent, &session, &Decisions::new())
        .await
        .unwrap();
    assert!(
        done.result.response.contains("no refunds"),
        "{}",
        done.result.response
    );
    assert_eq!((till.transfer.calls(), till.refund.calls()), (2, 1));
    assert_eq!(all_messages(&second, &session).await.len(), 8);
}

/// A held call that waited longer than its time to live is answered as expired: not run, and
/// the model is told it was denied.
pub async fn held_calls_expire_as_denied(store: Arc<dyn SessionStore>) {
    let session = session_for("expired");
    let till = Till::new();
    let agent = till
        .agent()
        .with_interrupt_ttl(Some(Duration::from_secs(1)));
    let runner = runner(&store, true);
    let paused = pause(&runner, &agent, &session, "PAY late").await;
    let held = &paused.result.pending_interrupts[0];
    assert!(held.expires_at.is_some());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let done = respond(
        &runner,
        &agent,
        &session,
        &Decisions::new().approve(&held.id),
    )
    .await
    .unwrap();
    assert_eq!(till.transfer.calls(), 0, "an expired call does not run");
    assert!(
        done.result.response.contains("expired"),
        "{}",
        done.result.response
    );
    assert_eq!(
        done.result.reasoning.answered_interrupts[0].decision,
        InterruptDecision::Expired
    );
}

/// Tools' state writes are kept with the turn: two concurrent runs that wrote different keys
/// both keep theirs; a run whose turn is not kept leaves the state as it was.
pub async fn session_state_is_kept_with_the_turn(store: Arc<dyn SessionStore>) {
    let session = session_for("state");
    let till = Till::new();
    let agent = till.agent();
    let (one, two) = (runner(&store, false), runner(&store, true));
    let (a, b) = tokio::join!(
        one.run(&agent, &session, RunInput::new("NOTE alpha"), &NoEvents),
        two.run(&agent, &session, RunInput::new("NOTE beta"), &NoEvents)
    );
    a.unwrap();
    b.unwrap();
    let state = store.head(&session).await.unwrap().state;
    assert_eq!(state.get::<bool>("alpha").unwrap(), Some(true));
    assert_eq!(state.get::<bool>("beta").unwrap(), Some(true));
    // A run that does not complete keeps nothing.
    let cancel = CancellationToken::new();
    cancel.cancel();
    let mut input = RunInput::new("NOTE gamma");
    input.cancellation = cancel;
    assert!(one.run(&agent, &session, input, &NoEvents).await.is_err());
    let after = store.head(&session).await.unwrap().state;
    assert_eq!(after, state);
}

/// A held `transfer` that, when it runs (in the run continued after its approval), reads the
/// run's trace as any reader does.
#[derive(Clone)]
struct ReadingTransfer {
    reader: SessionRunner,
    session: SessionId,
    seen: Arc<Mutex<Option<agent_core::Reasoning>>>,
}

#[async_trait]
impl Tool for ReadingTransfer {
    fn name(&self) -> &str {
        "transfer"
    }
    fn description(&self) -> &str {
        "Moves money, and reads the run's trace while it does."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }
    fn approval(&self) -> Option<&str> {
        Some("money moves")
    }
    async fn call(&self, _input: Value, _context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let read = self
            .reader
            .latest_reasoning(&self.session)
            .await
            .map_err(|error| ToolError::failed(error.to_string()))?;
        *self.seen.lock().unwrap() = read;
        Ok(json!({"moved": true}).into())
    }
}

/// While a paused run goes on after its decisions, a reader sees its trace once: the step
/// before the pause and its decision counted once, not again over the record the responder
/// claimed — with real-time recording and without.
pub async fn a_continuing_run_is_read_once(store: Arc<dyn SessionStore>) {
    for real_time in [true, false] {
        let session = session_for("continuing");
        let seen = Arc::new(Mutex::new(None));
        let lookup = MoneyTool::new("lookup", false);
        let tools: Vec<Arc<dyn Tool>> = vec![
            Arc::new(ReadingTransfer {
                reader: runner(&store, real_time),
                session: session.clone(),
                seen: seen.clone(),
            }),
            Arc::new(lookup.clone()),
        ];
        let agent = AgentLoop::new(Arc::new(PayModel::default()), ToolSet::new(tools).unwrap())
            .with_max_steps(3);
        let worker = runner(&store, real_time);
        pause(&worker, &agent, &session, "PAY bob").await;
        let held = worker.paused_runs(&session).await.unwrap()[0].interrupts[0]
            .id
            .clone();
        let done = respond(&worker, &agent, &session, &Decisions::new().approve(&held))
            .await
            .unwrap();
        assert_eq!(done.result.outcome, RunOutcome::Answered);
        let read = seen
            .lock()
            .unwrap()
            .take()
            .expect("the transfer read the run");
        assert_eq!(read.status, RunStatus::Running, "read while it went on");
        assert_eq!(
            read.steps.len(),
            1,
            "the step before the pause, once: {:?}",
            read.steps
        );
        let answered: Vec<&str> = read
            .answered_interrupts
            .iter()
            .map(|a| a.interrupt.id.as_str())
            .collect();
        assert_eq!(answered, [held.as_str()], "real time: {real_time}");
        assert_eq!(lookup.calls(), 1);
    }
}
