//! The facade's `Agent`: building, validation and plain runs.
#![allow(clippy::unwrap_used)] // Test helpers: a panic is a failed assertion.

use std::time::Duration;

use agent_testkit::ScriptedModel;
use minimalagent::{Agent, ConfigError, Error, Tool, ToolError, ToolSetError, async_trait};
use serde_json::{Value, json};

struct Named(&'static str);

#[async_trait]
impl Tool for Named {
    fn name(&self) -> &str {
        self.0
    }
    fn description(&self) -> &str {
        "A test tool."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {}})
    }
    async fn call(&self, _input: Value) -> Result<Value, ToolError> {
        Ok(json!({"tool": self.0}))
    }
}

fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

#[test]
fn agents_are_send_sync_and_cheap_to_clone() {
    assert_send_sync_clone::<Agent>();
}

#[tokio::test]
async fn runs_a_tool_conversation_on_a_given_model() {
    let model = ScriptedModel::new()
        .then_tools(Some("check"), &[("lookup", json!({}))])
        .then_text("Found it.");
    let agent = Agent::builder()
        .model(model.clone())
        .tool(Named("lookup"))
        .system_prompt("Be helpful.")
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let (response, reasoning) = agent.clone().run("find").await.unwrap();
    assert_eq!(response, "Found it.");
    assert_eq!(reasoning.total_steps, 1);
    assert_eq!(
        reasoning.steps[0].tools[0].result,
        Some(json!({"tool": "lookup"}))
    );
    assert!(model.requests()[0].system[0].ends_with("Be helpful."));
}

#[tokio::test]
async fn concurrent_runs_share_one_agent() {
    let model = ScriptedModel::new().with_latency(Duration::from_millis(50));
    for i in 0..16 {
        model.push(agent_testkit::ScriptedReply::Respond(
            agent_testkit::text_response(format!("answer {i}")),
        ));
    }
    let agent = Agent::builder()
        .model(model.clone())
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let runs: Vec<_> = (0..16)
        .map(|i| {
            let agent = agent.clone();
            tokio::spawn(async move { agent.run(&format!("q{i}")).await })
        })
        .collect();
    for run in runs {
        run.await.unwrap().unwrap();
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(16 * 50),
        "runs were serialised: {elapsed:?}"
    );
    assert_eq!(model.requests().len(), 16);
}

#[tokio::test]
async fn invalid_settings_are_typed_errors_at_build() {
    let model = ScriptedModel::new();
    let zero = Agent::builder()
        .model(model.clone())
        .max_steps(0)
        .build()
        .await;
    assert!(matches!(
        zero,
        Err(Error::Config(ConfigError::ZeroMaxSteps))
    ));

    let duplicate = Agent::builder()
        .model(model.clone())
        .tool(Named("same"))
        .tool(Named("same"))
        .build()
        .await;
    assert!(matches!(
        duplicate,
        Err(Error::Config(ConfigError::Tools(ToolSetError::DuplicateName(name)))) if name == "same"
    ));

    let ttl = Agent::builder()
        .model(model.clone())
        .session_ttl(Duration::ZERO)
        .build()
        .await;
    assert!(matches!(
        ttl,
        Err(Error::Config(ConfigError::ZeroSessionTtl))
    ));

    for bad in ["ab", "has space", "x/y"] {
        let table = Agent::builder()
            .model(model.clone())
            .session_table_name(bad)
            .build()
            .await;
        assert!(
            matches!(table, Err(Error::Config(ConfigError::InvalidTableName(_)))),
            "{bad} accepted"
        );
    }
}

#[tokio::test]
async fn real_time_reasoning_without_sessions_is_ignored() {
    let agent = Agent::builder()
        .model(ScriptedModel::new().then_text("ok"))
        .real_time_reasoning(true)
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    assert!(agent.session_store().is_none());
    assert_eq!(agent.run("q").await.unwrap().0, "ok");
}

#[tokio::test]
async fn a_model_error_is_a_typed_error_not_a_response() {
    let model = ScriptedModel::new().then_fail(minimalagent::ModelError::new(
        minimalagent::ModelErrorKind::AccessDenied,
        "You don't have access to the model with the specified model ID.",
    ));
    let agent = Agent::builder()
        .model(model)
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let error = agent.run("q").await.unwrap_err();
    assert_eq!(
        error.model_error().map(|e| e.kind()),
        Some(minimalagent::ModelErrorKind::AccessDenied)
    );
    assert!(error.to_string().contains("specified model ID"));
}
