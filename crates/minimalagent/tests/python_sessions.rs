//! Sessions the Python MinimalAgent wrote to DynamoDB with a tool call left without a result
//! (its process killed while the tool ran): an agent of this crate takes the session over and
//! goes on, its requests repaired so that Converse takes them. The model is the real
//! `BedrockModel` on the real SDK client, talking to the wire-level Converse stand-in, which
//! refuses a request whose `toolUse` is not answered by a `toolResult` in the next message.
//!
//! Runs on DynamoDB Local (`AWS_ENDPOINT_URL_DYNAMODB`, set by `cargo xtask test`); fails,
//! never skips, without it.
#![cfg(all(feature = "bedrock", feature = "dynamodb"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code: a panic is a failed assertion.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agent_testkit::{ConverseStandIn, RecordedRequest, Reply};
use aws_credential_types::Credentials;
use futures::StreamExt;
use minimalagent::bedrock::aws_config::{self, BehaviorVersion, Region};
use minimalagent::core::{
    EARLIER_RUN_NOT_RUN, ModelRequest, ToolResultContent, ToolResultStatus, ToolSpec,
};
use minimalagent::dynamodb::aws_sdk_dynamodb::Client;
use minimalagent::dynamodb::aws_sdk_dynamodb::types::AttributeValue;
use minimalagent::session::SessionId;
use minimalagent::{
    Agent, AgentEvent, BedrockModel, Message, Model, RunResult, RunStatus, Tool, ToolContext,
    ToolError, ToolOutput, async_trait, open_store,
};
use serde_json::{Value, json};

/// The table of the DynamoDB store's own tests, where each test uses its own sessions.
const TABLE: &str = "minimalagent-test-sessions";

/// The id of the call the Python agent never answered.
const ORPHAN: &str = "tooluse_python_pay_1";

/// The model families whose Converse rules the stand-in enforces differently.
const MODELS: [&str; 2] = [
    "us.amazon.nova-pro-v1:0",
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
];

fn endpoint() -> String {
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") else {
        panic!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: these tests run against DynamoDB Local. Run \
             them with `cargo xtask test`, or start it with `cargo xtask dynamodb-local` and \
             export the variables it prints."
        );
    };
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
        "AWS_ENDPOINT_URL_DYNAMODB={endpoint} is not DynamoDB Local on loopback"
    );
    endpoint
}

fn store_url() -> String {
    format!(
        "dynamodb://{TABLE}?region=us-west-2&endpoint={}",
        endpoint()
    )
}

async fn sdk_config(endpoint: String) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("dummy", "dummy", None, None, "tests"))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// Writes a session as the Python MinimalAgent 0.2.x does: the whole history in one
/// `messages#` item and, when its run ended, its trace in a `reasoning#` item, sort keys in
/// Unix seconds.
async fn write_python_session(session: &str, history: &Value, trace: Option<&Value>) {
    // The table exists once a store was opened on it.
    open_store(&store_url(), None).await.unwrap();
    let client = Client::new(&sdk_config(endpoint()).await);
    let at = jiff::Timestamp::now().as_second() - 60;
    let mut items = vec![HashMap::from([
        ("pk".to_owned(), s(format!("messages#{session}"))),
        ("sk".to_owned(), n(at)),
        ("messages".to_owned(), s(history.to_string())),
        ("expiration_time".to_owned(), n(at + 3600)),
    ])];
    if let Some(trace) = trace {
        items.push(HashMap::from([
            ("pk".to_owned(), s(format!("reasoning#{session}"))),
            ("sk".to_owned(), n(at)),
            ("reasoning".to_owned(), s(trace.to_string())),
            ("expiration_time".to_owned(), n(at + 3600)),
        ]));
    }
    for item in items {
        client
            .put_item()
            .table_name(TABLE)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
}

fn s(value: String) -> AttributeValue {
    AttributeValue::S(value)
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn session_id(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::now_v7().simple())
}

/// The Python agent's first turn, cut off while `pay` ran: the assistant's call has no result.
fn python_turn_cut_off() -> Vec<Value> {
    vec![
        json!({"role": "user", "content": [{"text": "Pay the rent, 1200."}]}),
        json!({"role": "assistant", "content": [
            {"text": "<thinking>I pay it.</thinking>"},
            {"toolUse": {"toolUseId": ORPHAN, "name": "pay", "input": {"amount": 1200}}}
        ]}),
    ]
}

/// A tool that counts its calls.
#[derive(Debug, Clone)]
struct Counted {
    name: &'static str,
    calls: Arc<AtomicUsize>,
}

impl Counted {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            calls: Arc::default(),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Tool for Counted {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        "A test tool."
    }

    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"amount": {"type": "number"}}})
    }

    async fn call(&self, _input: Value, _context: &ToolContext) -> Result<ToolOutput, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(ToolOutput::from(json!({"balance": 100})))
    }
}

/// Runs a turn, returning its result and the `history_repaired` events it streamed.
async fn turn(agent: &Agent, query: &str, session: &str) -> (RunResult, Vec<Vec<String>>) {
    let mut stream = agent.stream_in_session(query, session);
    let mut repaired = Vec::new();
    let finished = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = stream.next().await {
            match event.unwrap_or_else(|e| panic!("the turn {query:?} failed: {e}")) {
                AgentEvent::HistoryRepaired { tool_use_ids, .. } => repaired.push(tool_use_ids),
                AgentEvent::RunFinished { result } => return *result,
                _ => {}
            }
        }
        panic!("the stream ended without the run's end");
    })
    .await
    .expect("the turn ends");
    (finished, repaired)
}

/// The `history_repaired` events the store keeps for the session's newest run.
async fn stored_repairs(agent: &Agent, session: &str) -> Vec<Vec<String>> {
    let store = agent.session_store().unwrap();
    let id = SessionId::new(session).unwrap();
    let run = store.latest_run(&id).await.unwrap().unwrap().run;
    store
        .events(&id, run, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|stored| match stored.event {
            AgentEvent::HistoryRepaired { tool_use_ids, .. } => Some(tool_use_ids),
            _ => None,
        })
        .collect()
}

/// Every request the stand-in got was valid and answered.
fn all_accepted(requests: &[RecordedRequest]) {
    for request in requests {
        assert_eq!(
            request.violation, None,
            "request {} was refused: {:#}",
            request.index, request.body
        );
        assert_eq!(request.status, 200, "request {}", request.index);
    }
}

/// The orphan call is answered, in the message after it, by an error result saying why.
fn orphan_answered(request: &RecordedRequest) {
    let messages = request.messages().unwrap();
    let at = messages
        .iter()
        .position(|m| m.tool_uses().any(|call| call.tool_use_id == ORPHAN))
        .unwrap_or_else(|| panic!("the orphan call was not sent: {:#}", request.body));
    let result = messages[at + 1]
        .tool_results()
        .find(|result| result.tool_use_id == ORPHAN)
        .unwrap_or_else(|| panic!("the orphan call is not answered: {:#}", request.body));
    // Families that take no `status` on results get the text alone.
    assert_ne!(result.status, Some(ToolResultStatus::Success));
    assert!(
        result
            .content
            .iter()
            .any(|c| matches!(c, ToolResultContent::Text(t) if t.contains(EARLIER_RUN_NOT_RUN))),
        "{result:?}"
    );
}

/// A Python session with `python` as its history (and `trace` as its one run's trace) takes
/// two turns from an agent of this crate; `repaired_again` says whether the second turn's
/// request needs the repair too (an orphan inside the history, which the store never
/// rewrites) or not (an orphan at the end, answered by the first turn's kept user turn).
async fn a_python_session_with_an_orphan_call_goes_on(
    model_id: &str,
    python: Vec<Value>,
    trace: Option<Value>,
    repaired_again: bool,
) {
    let session = session_id("python-orphan");
    let trace = trace.map(|mut trace| {
        trace["session_id"] = json!(session);
        trace
    });
    write_python_session(&session, &Value::Array(python.clone()), trace.as_ref()).await;
    let python_messages: Vec<Message> = serde_json::from_value(Value::Array(python)).unwrap();
    let python_runs = usize::from(trace.is_some());

    // The control: the stored history sent as it is, with the next question, is refused.
    let control = ConverseStandIn::scripted([Reply::text("unused")])
        .await
        .unwrap();
    let raw = BedrockModel::from_sdk_config(&sdk_config(control.endpoint_url()).await, model_id);
    let mut unrepaired = python_messages.clone();
    unrepaired.push(Message::user_text("Did the payment go through?"));
    let tools: Vec<ToolSpec> = [Counted::new("pay"), Counted::new("read_balance")]
        .iter()
        .map(|tool| ToolSpec {
            name: tool.name().to_owned(),
            description: tool.description().to_owned(),
            input_schema: tool.input_schema(),
        })
        .collect();
    let refused = raw
        .converse(&ModelRequest::new(unrepaired).with_tools(tools.into()))
        .await;
    assert!(refused.is_err(), "{model_id}: {refused:?}");
    let [request] = control.requests().try_into().unwrap();
    assert!(
        request.violation.is_some() && request.status == 400,
        "{model_id}: the stand-in took an unanswered call: {request:?}"
    );

    let standin = ConverseStandIn::scripted([
        Reply::text("I could not confirm the payment."),
        Reply::tool_use(None, &[("read_balance", json!({}))]),
        Reply::text("Your balance is 100."),
    ])
    .await
    .unwrap();
    let model = BedrockModel::from_sdk_config(&sdk_config(standin.endpoint_url()).await, model_id);
    let (pay, read_balance) = (Counted::new("pay"), Counted::new("read_balance"));
    let agent = Agent::builder()
        .model(model)
        .tool(pay.clone())
        .tool(read_balance.clone())
        .sessions(open_store(&store_url(), None).await.unwrap())
        .real_time_reasoning(true)
        .show_reasoning(false)
        .build()
        .await
        .unwrap();

    // The first turn: the orphan call is answered before the model is called.
    let (first, repaired) = turn(&agent, "Did the payment go through?", &session).await;
    assert_eq!(first.response, "I could not confirm the payment.");
    assert_eq!(first.reasoning.status, RunStatus::Completed);
    assert_eq!(repaired, [vec![ORPHAN.to_owned()]], "{model_id}");
    assert_eq!(
        stored_repairs(&agent, &session).await,
        repaired,
        "{model_id}"
    );
    let requests = standin.requests();
    assert_eq!(requests.len(), 1);
    all_accepted(&requests);
    orphan_answered(&requests[0]);

    // The second turn, with a tool call of its own.
    let (second, repaired) = turn(&agent, "What is my balance?", &session).await;
    assert_eq!(second.response, "Your balance is 100.");
    let expected: Vec<Vec<String>> = if repaired_again {
        vec![vec![ORPHAN.to_owned()]]
    } else {
        Vec::new()
    };
    assert_eq!(repaired, expected, "{model_id}");
    assert_eq!(
        stored_repairs(&agent, &session).await,
        expected,
        "{model_id}"
    );
    let requests = standin.requests();
    assert_eq!(requests.len(), 3);
    all_accepted(&requests);
    for request in &requests[1..] {
        orphan_answered(request);
    }
    assert_eq!((pay.calls(), read_balance.calls()), (0, 1));

    // The stored conversation: the Python history as it was, then both turns.
    let mut kept = Vec::new();
    let mut from = None;
    loop {
        let page = agent
            .sessions()
            .unwrap()
            .conversation(&session, from, 100)
            .await
            .unwrap();
        kept.extend(page.messages());
        match page.next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    assert_eq!(kept.len(), python_messages.len() + 2 + 4, "{kept:?}");
    assert_eq!(kept[..python_messages.len()], python_messages[..]);
    assert_eq!(
        kept.last().unwrap().text(),
        "Your balance is 100.",
        "{kept:?}"
    );
    let history = agent.get_reasoning_history(&session).await.unwrap();
    assert_eq!(history.len(), python_runs + 2, "{history:?}");
    assert!(
        history[python_runs..]
            .iter()
            .all(|r| r.status == RunStatus::Completed),
        "{history:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_session_ending_with_an_unanswered_tool_call_is_repaired() {
    for model_id in MODELS {
        // Killed mid-tool: no trace was written.
        a_python_session_with_an_orphan_call_goes_on(model_id, python_turn_cut_off(), None, false)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_session_with_an_unanswered_tool_call_inside_is_repaired() {
    for model_id in MODELS {
        // The user wrote again after the cut-off call, and the Python agent answered.
        let mut history = python_turn_cut_off();
        history.push(json!({"role": "user", "content": [{"text": "Hello?"}]}));
        history.push(json!({"role": "assistant", "content": [{"text": "Hello! How can I help?"}]}));
        let trace = json!({"session_id": null, "query": "Hello?", "steps": [],
               "total_steps": 0, "final_thinking": null, "final_response": "Hello! How can I help?",
               "truncated": false, "exceeded_size_limit": false});
        a_python_session_with_an_orphan_call_goes_on(model_id, history, Some(trace), true).await;
    }
}
