//! Hooks, calls held for approval, decisions, effects on resume, history repair and session
//! state, in the loop alone (no store): a paused run is continued from the durable events it
//! reported, as a session store would keep them.
#![allow(clippy::unwrap_used, clippy::panic)] // Test code: a panic is a failed assertion.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_core::{
    AgentEvent, ContentBlock, EventSink, InterruptDecision, Message, ModelRequest, RunOutcome,
    RunStatus, SessionState, StateChanges, StateHandle, TokioClock, Tool, ToolCallStatus,
    ToolContext, ToolEffect, ToolError, ToolErrorKind, ToolOutput, ToolResult, ToolSet, ToolUse,
    async_trait,
};
use agent_loop::{
    AgentLoop, EventLog, Hook, HookContext, RunDecision, RunError, RunInput, ToolCallView,
    ToolDecision, always_approve_key,
};
use agent_testkit::ScriptedModel;
use serde_json::{Value, json};

/// A tool that counts its calls, records its inputs and writes one state key.
struct Counter {
    name: &'static str,
    approval: Option<&'static str>,
    effect: ToolEffect,
    calls: Arc<AtomicUsize>,
    inputs: Arc<Mutex<Vec<Value>>>,
}

impl Counter {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            approval: None,
            effect: ToolEffect::AtMostOnce,
            calls: Arc::default(),
            inputs: Arc::default(),
        }
    }

    fn held(mut self, reason: &'static str) -> Self {
        self.approval = Some(reason);
        self
    }

    fn repeatable(mut self) -> Self {
        self.effect = ToolEffect::AtLeastOnce;
        self
    }

    fn calls(&self) -> Arc<AtomicUsize> {
        self.calls.clone()
    }
}

#[async_trait]
impl Tool for Counter {
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        "Counts."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }
    async fn call(&self, input: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.inputs.lock().unwrap().push(input.clone());
        context
            .session_state()
            .set(&format!("ran.{}", self.name), &n)
            .map_err(|error| ToolError::failed(error.to_string()))?;
        Ok(json!({"tool": self.name, "input": input, "key": context.idempotency_key()}).into())
    }
    fn approval(&self) -> Option<&str> {
        self.approval
    }
    fn effect(&self) -> ToolEffect {
        self.effect
    }
}

#[derive(Default)]
struct Collected(Mutex<Vec<AgentEvent>>);

impl EventSink for Collected {
    fn emit(&self, event: &AgentEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Collected {
    /// The events a store would keep to continue the run.
    fn durable(&self) -> Vec<AgentEvent> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.is_durable() || matches!(e, AgentEvent::RunStarted { .. }))
            .cloned()
            .collect()
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(AgentEvent::type_name)
            .collect()
    }
}

fn tools(list: Vec<Counter>) -> ToolSet {
    ToolSet::new(list.into_iter().map(|t| Arc::new(t) as Arc<dyn Tool>)).unwrap()
}

fn answered(id: &str, decision: InterruptDecision) -> AgentEvent {
    AgentEvent::InterruptAnswered {
        step: 1,
        interrupt_id: id.to_owned(),
        decision,
        answered_at: jiff::Timestamp::now(),
    }
}

/// Pauses a run that asks for `transfer` (held) and `lookup` (not held) in one step.
async fn paused_run(
    transfer: Counter,
    lookup: Counter,
) -> (AgentLoop, Collected, agent_core::RunResult) {
    let model = ScriptedModel::new().then_tools(
        None,
        &[
            ("transfer", json!({"amount": 5000})),
            ("lookup", json!({"who": "bob"})),
        ],
    );
    let agent = AgentLoop::new(Arc::new(model), tools(vec![transfer, lookup]));
    let events = Collected::default();
    let result = agent.run(RunInput::new("pay bob"), &events).await.unwrap();
    (agent, events, result)
}

/// Continues a paused run with `decisions`, on a model that answers `answer`.
async fn respond(
    events: &Collected,
    decisions: Vec<AgentEvent>,
    tools: ToolSet,
    answer: &str,
) -> (agent_core::RunResult, ScriptedModel, Collected) {
    let model = ScriptedModel::new().then_text(answer);
    let agent = AgentLoop::new(Arc::new(model.clone()), tools);
    let mut recorded = events.durable();
    recorded.extend(decisions);
    let resumed = Collected::default();
    let result = agent
        .run(RunInput::resuming(recorded), &resumed)
        .await
        .unwrap();
    (result, model, resumed)
}

#[tokio::test]
async fn a_held_call_pauses_the_run_after_the_other_calls_ran() {
    let transfer = Counter::new("transfer").held("money moves");
    let lookup = Counter::new("lookup");
    let (transfers, lookups) = (transfer.calls(), lookup.calls());
    let (_, events, result) = paused_run(transfer, lookup).await;
    assert_eq!(result.outcome, RunOutcome::Paused);
    assert_eq!(result.reasoning.status, RunStatus::Paused);
    assert_eq!(
        transfers.load(Ordering::SeqCst),
        0,
        "the held call did not run"
    );
    assert_eq!(lookups.load(Ordering::SeqCst), 1, "the other call ran");
    let [held] = result.pending_interrupts.as_slice() else {
        panic!("one held call: {:?}", result.pending_interrupts);
    };
    assert_eq!(held.tool, "transfer");
    assert_eq!(held.reason, "money moves");
    assert_eq!(held.input, json!({"amount": 5000}));
    assert_eq!(
        result.reasoning.pending_interrupts,
        result.pending_interrupts
    );
    let kinds = events.kinds();
    assert!(kinds.contains(&"interrupt_requested"), "{kinds:?}");
    assert!(!kinds.contains(&"step_finished"), "the step is not over");
    // The turn so far ends with the reply whose calls wait.
    let last = result.messages.last().unwrap();
    assert_eq!(last.tool_uses().count(), 2);
    assert_eq!(
        result.state_changes.iter().count(),
        1,
        "the lookup's state change is the run's"
    );
}

#[tokio::test]
async fn every_decision_is_applied_and_nothing_that_ran_runs_again() {
    let cases: Vec<(InterruptDecision, Option<Value>, &str)> = vec![
        (
            InterruptDecision::Approve,
            Some(json!({"amount": 5000})),
            "succeeded",
        ),
        (
            InterruptDecision::ApproveWithInput {
                input: json!({"amount": 50}),
            },
            Some(json!({"amount": 50})),
            "succeeded",
        ),
        (
            InterruptDecision::Deny {
                message: "not today".into(),
            },
            None,
            "not today",
        ),
        (
            InterruptDecision::Answer {
                output: json!({"done": "by hand"}),
            },
            None,
            "by hand",
        ),
        (InterruptDecision::Expired, None, "expired"),
    ];
    for (decision, ran_with, told) in cases {
        let (_, events, paused) = paused_run(
            Counter::new("transfer").held("money"),
            Counter::new("lookup"),
        )
        .await;
        let id = paused.pending_interrupts[0].id.clone();
        let transfer = Counter::new("transfer").held("money");
        let lookup = Counter::new("lookup");
        let (transfers, lookups, inputs) =
            (transfer.calls(), lookup.calls(), transfer.inputs.clone());
        let (result, model, _) = respond(
            &events,
            vec![answered(&id, decision.clone())],
            tools(vec![transfer, lookup]),
            "done",
        )
        .await;
        assert_eq!(result.outcome, RunOutcome::Answered, "{decision:?}");
        assert_eq!(
            lookups.load(Ordering::SeqCst),
            0,
            "the lookup ran before the pause"
        );
        assert_eq!(
            transfers.load(Ordering::SeqCst),
            usize::from(ran_with.is_some()),
            "{decision:?}"
        );
        if let Some(input) = ran_with {
            assert_eq!(inputs.lock().unwrap().as_slice(), [input]);
        }
        let request = &model.requests()[0];
        let results: Vec<&ToolResult> = request.messages[2].tool_results().collect();
        assert_eq!(
            results.len(),
            2,
            "both calls answered, in the model's order"
        );
        let said = format!("{:?}", results[0].content);
        if told == "succeeded" {
            assert_eq!(results[0].status, None, "{said}");
        } else {
            assert!(said.contains(told), "{decision:?}: {said}");
        }
        assert_eq!(result.reasoning.answered_interrupts.len(), 1);
        assert_eq!(result.reasoning.answered_interrupts[0].decision, decision);
        assert!(result.reasoning.pending_interrupts.is_empty());
        assert_eq!(result.reasoning.status, RunStatus::Completed);
        // The whole turn, from the query, is the run's.
        assert_eq!(result.messages.len(), 4);
    }
}

#[tokio::test]
async fn several_held_calls_are_answered_together_or_one_by_one() {
    let model = ScriptedModel::new().then_tools(
        None,
        &[
            ("transfer", json!({"amount": 1})),
            ("refund", json!({"amount": 2})),
        ],
    );
    let agent = AgentLoop::new(
        Arc::new(model),
        tools(vec![
            Counter::new("transfer").held("money"),
            Counter::new("refund").held("money back"),
        ]),
    );
    let events = Collected::default();
    let paused = agent.run(RunInput::new("q"), &events).await.unwrap();
    let ids: Vec<String> = paused
        .pending_interrupts
        .iter()
        .map(|i| i.id.clone())
        .collect();
    assert_eq!(ids.len(), 2);

    // One decision: the run pauses again, waiting on the other, without asking again.
    let model = ScriptedModel::new();
    let agent = AgentLoop::new(
        Arc::new(model.clone()),
        tools(vec![
            Counter::new("transfer").held("money"),
            Counter::new("refund").held("money back"),
        ]),
    );
    let mut recorded = events.durable();
    recorded.push(answered(&ids[0], InterruptDecision::Approve));
    let again = Collected::default();
    let partly = agent
        .run(RunInput::resuming(recorded.clone()), &again)
        .await
        .unwrap();
    assert_eq!(partly.outcome, RunOutcome::Paused);
    assert_eq!(partly.pending_interrupts.len(), 1);
    assert_eq!(partly.pending_interrupts[0].id, ids[1]);
    assert!(
        model.requests().is_empty(),
        "no model call while a call waits"
    );
    assert!(
        !again.kinds().contains(&"interrupt_requested"),
        "a call still held is not asked again"
    );

    // The second decision: the run goes on; the first call ran once in all.
    let transfer = Counter::new("transfer").held("money");
    let refund = Counter::new("refund").held("money back");
    let (transfers, refunds) = (transfer.calls(), refund.calls());
    recorded.extend(again.durable());
    recorded.push(answered(
        &ids[1],
        InterruptDecision::Deny {
            message: "no".into(),
        },
    ));
    let model = ScriptedModel::new().then_text("ok");
    let agent = AgentLoop::new(Arc::new(model), tools(vec![transfer, refund]));
    let result = agent
        .run(RunInput::resuming(recorded), &Collected::default())
        .await
        .unwrap();
    assert_eq!(result.outcome, RunOutcome::Answered);
    assert_eq!(
        transfers.load(Ordering::SeqCst) + refunds.load(Ordering::SeqCst),
        0,
        "the approved call ran in the run that was told, not again here"
    );
    assert_eq!(result.reasoning.answered_interrupts.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_held_call_expires_and_reads_as_denied() {
    let clock = Arc::new(TokioClock::new());
    let model = ScriptedModel::new().then_tools(None, &[("transfer", json!({}))]);
    let agent = AgentLoop::new(
        Arc::new(model),
        tools(vec![Counter::new("transfer").held("money")]),
    )
    .with_clock(clock.clone())
    .with_interrupt_ttl(Some(Duration::from_secs(600)));
    let events = Collected::default();
    let paused = agent.run(RunInput::new("q"), &events).await.unwrap();
    let expires = paused.pending_interrupts[0].expires_at.unwrap();
    use agent_core::Clock;
    assert_eq!(
        expires.duration_since(clock.now()),
        jiff::SignedDuration::from_secs(600)
    );
    tokio::time::advance(Duration::from_secs(601)).await;

    let transfer = Counter::new("transfer").held("money");
    let transfers = transfer.calls();
    let model = ScriptedModel::new().then_text("it expired");
    let agent = AgentLoop::new(Arc::new(model.clone()), tools(vec![transfer])).with_clock(clock);
    // Continued without a decision (an operator came too late): the expiry answers.
    let result = agent
        .run(RunInput::resuming(events.durable()), &Collected::default())
        .await
        .unwrap();
    if result.outcome == RunOutcome::Paused {
        panic!(
            "an expired call does not wait: {:?}",
            result.pending_interrupts
        );
    }
    assert_eq!(transfers.load(Ordering::SeqCst), 0);
    assert_eq!(
        result.reasoning.answered_interrupts[0].decision,
        InterruptDecision::Expired
    );
    let said = format!("{:?}", model.requests()[0].messages[2]);
    assert!(said.contains("expired"), "{said}");
}

/// Denies deletes, rewrites amounts, holds what the tool does not, and stops on a word.
struct Policy {
    seen: Mutex<Vec<String>>,
}

#[async_trait]
impl Hook for Policy {
    async fn run_started(&self, run: &HookContext<'_>) -> RunDecision {
        self.seen
            .lock()
            .unwrap()
            .push(format!("start {}", run.step));
        RunDecision::Proceed
    }
    async fn before_model_call(&self, run: &HookContext<'_>, _: &ModelRequest) -> RunDecision {
        self.seen
            .lock()
            .unwrap()
            .push(format!("model {}", run.step));
        RunDecision::Proceed
    }
    async fn before_tool_call(
        &self,
        run: &HookContext<'_>,
        call: &ToolCallView<'_>,
    ) -> ToolDecision {
        self.seen
            .lock()
            .unwrap()
            .push(format!("tool {} {}", call.name, run.step));
        match call.name {
            "delete" => ToolDecision::Deny {
                message: "deletes are off".into(),
            },
            "transfer" => ToolDecision::Rewrite {
                input: json!({"amount": 1}),
            },
            "email" => ToolDecision::Interrupt {
                reason: "a customer is emailed".into(),
            },
            "halt" => ToolDecision::Stop {
                reason: "halt asked".into(),
            },
            _ => ToolDecision::Proceed,
        }
    }
    async fn after_tool_call(
        &self,
        _: &HookContext<'_>,
        call: &ToolCallView<'_>,
        invocation: &agent_core::ToolInvocation,
    ) -> RunDecision {
        self.seen
            .lock()
            .unwrap()
            .push(format!("after {} {:?}", call.name, invocation.status));
        RunDecision::Proceed
    }
    async fn run_ended(&self, _: &HookContext<'_>, status: &RunStatus) {
        self.seen.lock().unwrap().push(format!("end {status}"));
    }
}

#[tokio::test]
async fn hooks_deny_rewrite_hold_and_stop_in_order() {
    let delete = Counter::new("delete");
    let transfer = Counter::new("transfer");
    let email = Counter::new("email");
    let (deletes, transfers, emails, transfer_inputs) = (
        delete.calls(),
        transfer.calls(),
        email.calls(),
        transfer.inputs.clone(),
    );
    let model = ScriptedModel::new().then_tools(
        None,
        &[
            ("delete", json!({"id": 1})),
            ("transfer", json!({"amount": 9000})),
            ("email", json!({"to": "a@b"})),
        ],
    );
    let policy = Arc::new(Policy {
        seen: Mutex::default(),
    });
    let agent = AgentLoop::new(Arc::new(model), tools(vec![delete, transfer, email]))
        .with_hook(policy.clone());
    let result = agent
        .run(RunInput::new("do it all"), &NoopSink)
        .await
        .unwrap();
    assert_eq!(result.outcome, RunOutcome::Paused, "the email waits");
    assert_eq!(deletes.load(Ordering::SeqCst), 0, "denied");
    assert_eq!(emails.load(Ordering::SeqCst), 0, "held");
    assert_eq!(transfers.load(Ordering::SeqCst), 1);
    assert_eq!(
        transfer_inputs.lock().unwrap().as_slice(),
        [json!({"amount": 1})],
        "rewritten"
    );
    let step = &result.reasoning.steps[0];
    let denied = step.tools.iter().find(|t| t.name == "delete").unwrap();
    assert_eq!(
        denied.error.as_ref().map(|e| e.kind.clone()),
        Some(ToolErrorKind::Denied)
    );
    let rewritten = step.tools.iter().find(|t| t.name == "transfer").unwrap();
    assert_eq!(
        rewritten.inputs,
        json!({"amount": 1}),
        "the trace shows what ran"
    );
    assert_eq!(result.pending_interrupts[0].reason, "a customer is emailed");
    let seen = policy.seen.lock().unwrap().clone();
    assert_eq!(seen[0], "start 0");
    assert_eq!(seen[1], "model 1");
    assert!(seen.contains(&"after delete Failed".to_owned()), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("end paused"));

    // A stop: nothing of the step runs.
    let halt = Counter::new("halt");
    let other = Counter::new("lookup");
    let (halts, others) = (halt.calls(), other.calls());
    let model =
        ScriptedModel::new().then_tools(None, &[("lookup", json!({})), ("halt", json!({}))]);
    let failed = AgentLoop::new(Arc::new(model), tools(vec![halt, other]))
        .with_hook(Arc::new(Policy {
            seen: Mutex::default(),
        }))
        .run(RunInput::new("stop"), &NoopSink)
        .await
        .unwrap_err();
    assert!(matches!(&failed.error, RunError::Stopped { reason } if reason == "halt asked"));
    assert_eq!(failed.reasoning.status, RunStatus::Cancelled);
    assert_eq!(
        halts.load(Ordering::SeqCst) + others.load(Ordering::SeqCst),
        0
    );
}

struct NoopSink;
impl EventSink for NoopSink {
    fn emit(&self, _: &AgentEvent) {}
}

#[tokio::test]
async fn always_approve_is_kept_in_the_session_state() {
    let (_, events, paused) = paused_run(
        Counter::new("transfer").held("money"),
        Counter::new("lookup"),
    )
    .await;
    let id = paused.pending_interrupts[0].id.clone();
    let (result, _, _) = respond(
        &events,
        vec![answered(
            &id,
            InterruptDecision::ApproveAlways {
                this_input_only: false,
            },
        )],
        tools(vec![
            Counter::new("transfer").held("money"),
            Counter::new("lookup"),
        ]),
        "done",
    )
    .await;
    let key = always_approve_key("transfer");
    let mut changes = StateChanges::new();
    let (set, _) = result
        .state_changes
        .iter()
        .find(|(k, _)| **k == key)
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    changes.set_value(&set, json!(true)).unwrap();
    let state = SessionState::new().apply(&changes).unwrap();

    // The next run in the session: the tool runs without asking.
    let transfer = Counter::new("transfer").held("money");
    let transfers = transfer.calls();
    let model = ScriptedModel::new()
        .then_tools(None, &[("transfer", json!({"amount": 7}))])
        .then_text("paid");
    let agent = AgentLoop::new(Arc::new(model), tools(vec![transfer]));
    let mut input = RunInput::new("again");
    input.state = StateHandle::new(state);
    let result = agent.run(input, &NoopSink).await.unwrap();
    assert_eq!(result.outcome, RunOutcome::Answered);
    assert_eq!(transfers.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_repeatable_tool_runs_again_on_resume_and_a_failed_log_holds_back_the_others() {
    // Both started, neither recorded a result: the process died while they ran.
    let model = ScriptedModel::new()
        .then_tools(None, &[("read", json!({})), ("pay", json!({}))])
        .then_text("first");
    let agent = AgentLoop::new(
        Arc::new(model),
        tools(vec![Counter::new("read").repeatable(), Counter::new("pay")]),
    );
    let events = Collected::default();
    agent.run(RunInput::new("q"), &events).await.unwrap();
    let all = events.durable();
    let cut = all
        .iter()
        .position(|e| matches!(e, AgentEvent::ToolResult { .. }))
        .unwrap();
    let read = Counter::new("read").repeatable();
    let pay = Counter::new("pay");
    let (reads, pays) = (read.calls(), pay.calls());
    let model = ScriptedModel::new().then_text("resumed");
    let result = AgentLoop::new(Arc::new(model), tools(vec![read, pay]))
        .run(RunInput::resuming(all[..cut].to_vec()), &NoopSink)
        .await
        .unwrap();
    assert_eq!(reads.load(Ordering::SeqCst), 1, "safe to repeat: ran again");
    assert_eq!(
        pays.load(Ordering::SeqCst),
        0,
        "must not run twice: not run"
    );
    let statuses: Vec<_> = result.reasoning.steps[0]
        .tools
        .iter()
        .map(|t| t.status.clone())
        .collect();
    assert_eq!(
        statuses,
        [ToolCallStatus::Succeeded, ToolCallStatus::Failed]
    );

    // A log that cannot record a call's start: the at-most-once call is not run.
    struct Broken;
    #[async_trait]
    impl EventLog for Broken {
        async fn flush(&self) -> bool {
            false
        }
    }
    let read = Counter::new("read").repeatable();
    let pay = Counter::new("pay");
    let (reads, pays) = (read.calls(), pay.calls());
    let model = ScriptedModel::new()
        .then_tools(None, &[("read", json!({})), ("pay", json!({}))])
        .then_text("done");
    let mut input = RunInput::new("q");
    input.event_log = Some(Arc::new(Broken));
    let result = AgentLoop::new(Arc::new(model), tools(vec![read, pay]))
        .run(input, &NoopSink)
        .await
        .unwrap();
    assert_eq!(reads.load(Ordering::SeqCst), 1);
    assert_eq!(pays.load(Ordering::SeqCst), 0);
    let pay = &result.reasoning.steps[0].tools[1];
    assert_eq!(
        pay.error.as_ref().map(|e| e.kind.clone()),
        Some(ToolErrorKind::Unavailable)
    );
}

#[tokio::test]
async fn tool_calls_left_without_results_are_answered_before_the_model_call() {
    let call = |id: &str| {
        ContentBlock::ToolUse(ToolUse {
            tool_use_id: id.into(),
            name: "lookup".into(),
            input: json!({}),
        })
    };
    // As a crashed process or the Python MinimalAgent may have left it: a call answered by a
    // user text, and a call at the very end.
    let history = vec![
        Message::user_text("first"),
        Message {
            role: agent_core::Role::Assistant,
            content: vec![call("orphan-1")],
        },
        Message::user_text("second"),
        Message {
            role: agent_core::Role::Assistant,
            content: vec![ContentBlock::Text("let me look".into()), call("orphan-2")],
        },
    ];
    let model = ScriptedModel::new().then_text("fine");
    let events = Collected::default();
    let input = RunInput::new("third").with_history(history);
    let result = AgentLoop::new(Arc::new(model.clone()), ToolSet::default())
        .run(input, &events)
        .await
        .unwrap();
    assert_eq!(result.outcome, RunOutcome::Answered);
    let request = &model.requests()[0];
    for (at, message) in request.messages.iter().enumerate() {
        let asked: Vec<&str> = message
            .tool_uses()
            .map(|t| t.tool_use_id.as_str())
            .collect();
        if asked.is_empty() {
            continue;
        }
        let answered: Vec<&str> = request.messages[at + 1]
            .tool_results()
            .map(|r| r.tool_use_id.as_str())
            .collect();
        assert_eq!(
            asked, answered,
            "every call is answered by the next message"
        );
    }
    let repaired = events
        .0
        .lock()
        .unwrap()
        .iter()
        .find_map(|e| match e {
            AgentEvent::HistoryRepaired { tool_use_ids, .. } => Some(tool_use_ids.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(repaired, ["orphan-1", "orphan-2"]);
    // The run's own turn keeps the answer to the last call; the stored history is not touched.
    assert_eq!(result.messages[0].tool_results().count(), 1);
}

#[tokio::test]
async fn state_written_before_a_pause_is_kept_when_the_run_goes_on() {
    let (_, events, paused) = paused_run(
        Counter::new("transfer").held("money"),
        Counter::new("lookup"),
    )
    .await;
    assert!(events.kinds().contains(&"state_changed"));
    let id = paused.pending_interrupts[0].id.clone();
    let (result, _, _) = respond(
        &events,
        vec![answered(&id, InterruptDecision::Approve)],
        tools(vec![
            Counter::new("transfer").held("money"),
            Counter::new("lookup"),
        ]),
        "done",
    )
    .await;
    let keys: Vec<&String> = result.state_changes.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["ran.lookup", "ran.transfer"]);
}

/// Asks for approval at run time, above a limit; runs once approved.
struct Limit {
    calls: Arc<AtomicUsize>,
    approved_calls: Arc<AtomicUsize>,
}

#[async_trait]
impl Tool for Limit {
    fn name(&self) -> &str {
        "wire"
    }
    fn description(&self) -> &str {
        "Wires money."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }
    async fn call(&self, input: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let amount = input["amount"].as_u64().unwrap_or(0);
        if amount > 1000 && !context.is_approved() {
            return Err(ToolError::needs_approval(format!(
                "{amount} is over the limit"
            )));
        }
        if context.is_approved() {
            self.approved_calls.fetch_add(1, Ordering::SeqCst);
        }
        Ok(json!({"wired": amount}).into())
    }
}

#[tokio::test]
async fn a_tool_may_ask_for_approval_when_it_runs() {
    let limit = || Limit {
        calls: Arc::default(),
        approved_calls: Arc::default(),
    };
    let first = limit();
    let model = ScriptedModel::new().then_tools(None, &[("wire", json!({"amount": 5000}))]);
    let events = Collected::default();
    let paused = AgentLoop::new(
        Arc::new(model),
        ToolSet::new([Arc::new(first) as Arc<dyn Tool>]).unwrap(),
    )
    .run(RunInput::new("wire it"), &events)
    .await
    .unwrap();
    assert_eq!(paused.outcome, RunOutcome::Paused);
    assert_eq!(
        paused.pending_interrupts[0].reason,
        "5000 is over the limit"
    );
    assert!(
        !events.kinds().contains(&"tool_result"),
        "no result recorded: the call waits"
    );

    let second = limit();
    let (calls, approved) = (second.calls.clone(), second.approved_calls.clone());
    let id = paused.pending_interrupts[0].id.clone();
    let (result, _, _) = respond(
        &events,
        vec![answered(&id, InterruptDecision::Approve)],
        ToolSet::new([Arc::new(second) as Arc<dyn Tool>]).unwrap(),
        "wired",
    )
    .await;
    assert_eq!(result.outcome, RunOutcome::Answered);
    assert_eq!(
        (
            calls.load(Ordering::SeqCst),
            approved.load(Ordering::SeqCst)
        ),
        (1, 1),
        "called again once, knowing it was approved"
    );
}
