//! The published JSON Schemas of the stored records (`docs/schemas/`): generated from the Rust
//! types, they must match the committed files, and the records a real run stores must validate
//! against them.
//!
//! After changing a record type, regenerate the files with
//! `MINIMALAGENT_BLESS_SCHEMAS=1 cargo test -p minimalagent-session --test record_schemas`
//! and say what changed in `CHANGELOG.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use agent_core::{
    AgentEvent, CachePoint, ContentBlock, DocumentBlock, DocumentFormat, EventSink, ImageBlock,
    ImageFormat, Message, Reasoning, ReasoningContent, ReasoningText, Role, ToolResult,
    ToolResultContent, ToolSet,
};
use agent_loop::{AgentLoop, RunInput};
use agent_session::{EntryBody, Summary};
use agent_testkit::{EchoTool, ScriptedModel};
use schemars::{JsonSchema, Schema, schema_for};
use serde_json::{Value, json};

/// One published schema: its file name (without `.schema.json`), what it describes, and the
/// schema generated from the type.
struct Published {
    name: &'static str,
    schema: Schema,
}

fn published<T: JsonSchema>(name: &'static str, title: &str, description: &str) -> Published {
    let mut schema = schema_for!(T);
    schema.insert("title".into(), title.into());
    schema.insert("description".into(), description.into());
    Published { name, schema }
}

const FORWARD: &str = " Newer versions may add fields, content block types and enum values: \
                       readers should keep or skip what they do not know.";

fn all() -> Vec<Published> {
    vec![
        published::<EntryBody>(
            "conversation-entry",
            "Conversation entry",
            &format!(
                "One entry of a session's conversation: a run's turn or a summary of earlier \
                 turns (the `body` column of the SQLite store; the DynamoDB store keeps the \
                 turn's `messages` and the `summary` as attributes of their own).{FORWARD}"
            ),
        ),
        published::<Vec<Message>>(
            "turn-messages",
            "Turn messages",
            &format!(
                "The messages one run added to a session's conversation, in Converse's JSON \
                 (the `messages` attribute of a DynamoDB entry item, as the Python MinimalAgent \
                 named it).{FORWARD}"
            ),
        ),
        published::<Summary>(
            "conversation-summary",
            "Conversation summary",
            &format!(
                "A summary of a conversation's earlier turns (the `summary` attribute of a \
                 DynamoDB entry item).{FORWARD}"
            ),
        ),
        published::<Reasoning>(
            "reasoning-record",
            "Reasoning record",
            &format!(
                "One run's reasoning trace, with the Python MinimalAgent's field names (the \
                 `reasoning` attribute of a `reasoning#{{session_id}}` item, the `reasoning` \
                 column of the SQLite store).{FORWARD}"
            ),
        ),
        published::<AgentEvent>(
            "run-event",
            "Run event",
            &format!(
                "One event of a run recorded in real time (the `event` attribute of an \
                 `events#{{session_id}}` item, the `event` column of the SQLite store), and one \
                 event of `Agent::stream`.{FORWARD}"
            ),
        ),
    ]
}

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/schemas")
}

/// The schema as committed: keys sorted at every level, so that the text is the same whether or
/// not a dependency turns on serde_json's `preserve_order` (workspace-wide builds do).
fn text_of(schema: &Schema) -> String {
    fn sorted(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(
                    entries
                        .into_iter()
                        .map(|(key, value)| (key, sorted(value)))
                        .collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(sorted).collect())
            }
            other => other,
        }
    }
    let value = sorted(serde_json::to_value(schema).unwrap());
    let mut text = serde_json::to_string_pretty(&value).unwrap();
    text.push('\n');
    text
}

#[test]
fn the_committed_schemas_are_those_of_the_types() {
    let bless = std::env::var_os("MINIMALAGENT_BLESS_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for Published { name, schema } in all() {
        let path = schemas_dir().join(format!("{name}.schema.json"));
        let expected = text_of(&schema);
        if bless {
            std::fs::create_dir_all(schemas_dir()).unwrap();
            std::fs::write(&path, &expected).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == expected => {}
            _ => stale.push(path.display().to_string()),
        }
    }
    assert!(
        stale.is_empty(),
        "these schemas differ from the types: {stale:?}. Regenerate them with \
         `MINIMALAGENT_BLESS_SCHEMAS=1 cargo test -p minimalagent-session --test record_schemas`, \
         review the diff, and record the change in CHANGELOG.md."
    );
}

#[derive(Default)]
struct Collect(Mutex<Vec<AgentEvent>>);

impl EventSink for Collect {
    fn emit(&self, event: &AgentEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

fn validator(name: &str) -> jsonschema::Validator {
    let schema = all()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap()
        .schema
        .to_value();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, what: &str, value: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not fit its schema: {errors:?}\n{value:#}"
    );
}

#[tokio::test]
async fn the_records_of_a_real_run_fit_their_schemas() {
    let model = ScriptedModel::new()
        .then_tools(Some("Look it up"), &[("echo", json!({"text": "hi"}))])
        .then_text("<thinking>done</thinking>It says hi.");
    let agent = AgentLoop::new(
        Arc::new(model),
        ToolSet::new([Arc::new(EchoTool) as _]).unwrap(),
    );
    let events = Collect::default();
    let mut input = RunInput::new("What does it say?");
    input.session_id = Some("user123".into());
    let result = agent.run(input, &events).await.unwrap();
    let mut events = events.0.into_inner().unwrap();
    events.push(AgentEvent::RunFinished {
        result: Box::new(result.clone()),
    });

    let entry = validator("turn-messages");
    assert_valid(&entry, "the run's messages", &json!(result.messages));
    let every_block = vec![
        Message::user(vec![
            ContentBlock::Text("Look".into()),
            ContentBlock::Image(ImageBlock::from_bytes(ImageFormat::Png, vec![1, 2, 3])),
            ContentBlock::Document(DocumentBlock::from_s3(
                DocumentFormat::Pdf,
                "Report",
                "s3://bucket/report.pdf",
            )),
            ContentBlock::CachePoint(CachePoint::default()),
        ]),
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(ReasoningText {
                    text: "thinking".into(),
                    signature: Some("sig".into()),
                })),
                ContentBlock::ReasoningContent(ReasoningContent::RedactedContent("cmVk".into())),
            ],
        },
        Message::user(vec![ContentBlock::ToolResult(ToolResult {
            tool_use_id: "t1".into(),
            content: vec![
                ToolResultContent::Json(json!({"a": 1})),
                ToolResultContent::Text("text".into()),
                ToolResultContent::Image(ImageBlock::from_s3(ImageFormat::Jpeg, "s3://b/k.jpg")),
            ],
            status: Some(agent_core::ToolResultStatus::Error),
        })]),
    ];
    assert_valid(
        &entry,
        "messages with every block type",
        &json!(every_block),
    );
    assert!(
        !entry.is_valid(&json!([{"role": "user", "content": [{"text": 42}]}])),
        "the schema must reject a text block that is not text"
    );

    let reasoning = validator("reasoning-record");
    assert_valid(&reasoning, "the run's reasoning", &json!(result.reasoning));
    assert!(!reasoning.is_valid(&json!({"query": 1})));

    let event = validator("run-event");
    for recorded in &events {
        assert_valid(&event, recorded.type_name(), &json!(recorded));
    }
    assert!(events.len() >= 6, "{events:?}");
    assert!(!event.is_valid(&json!({"type": "tool_result"})));

    let summary = validator("conversation-summary");
    assert_valid(
        &summary,
        "a summary",
        &json!(Summary::new("Earlier: weather.", 4, 8)),
    );
}
