//! The facade's session methods on the in-memory store.
#![allow(clippy::unwrap_used)] // Test helpers: a panic is a failed assertion.

use agent_testkit::ScriptedModel;
use minimalagent::session::InMemorySessionStore;
use minimalagent::{Agent, Error, ModelError, ModelErrorKind, RunStatus};
use serde_json::json;

async fn agent(model: &ScriptedModel, store: &InMemorySessionStore, real_time: bool) -> Agent {
    Agent::builder()
        .model(model.clone())
        .session_store(store.clone())
        .real_time_reasoning(real_time)
        .show_reasoning(false)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_session_remembers_earlier_runs_and_keeps_one_trace_per_run() {
    let model = ScriptedModel::new()
        .then_text("42.")
        .then_text("It is a joke from a novel.");
    let store = InMemorySessionStore::new();
    let agent = agent(&model, &store, true).await;
    let (r1, _) = agent
        .run_in_session("What is the meaning of life?", "user-123")
        .await
        .unwrap();
    let (r2, reasoning2) = agent
        .run_in_session("Can you elaborate on that?", "user-123")
        .await
        .unwrap();
    assert_eq!(r1, "42.");
    assert_eq!(r2, "It is a joke from a novel.");
    assert_eq!(reasoning2.session_id.as_deref(), Some("user-123"));
    // Memory is checked where it matters: the model saw the first turn.
    let second_request = &model.requests()[1];
    assert_eq!(second_request.messages.len(), 3);
    assert_eq!(
        second_request.messages[0].text(),
        "What is the meaning of life?"
    );
    assert_eq!(second_request.messages[1].text(), "42.");

    let latest = agent.get_reasoning("user-123").await.unwrap().unwrap();
    assert_eq!(latest.query, "Can you elaborate on that?");
    assert_eq!(latest.status, RunStatus::Completed);
    let history = agent.get_reasoning_history("user-123").await.unwrap();
    let queries: Vec<_> = history.iter().map(|r| r.query.as_str()).collect();
    assert_eq!(
        queries,
        ["What is the meaning of life?", "Can you elaborate on that?"]
    );

    agent.delete_session("user-123").await.unwrap();
    assert!(agent.get_reasoning("user-123").await.unwrap().is_none());
}

#[tokio::test]
async fn invalid_session_ids_are_rejected_before_anything_runs() {
    let model = ScriptedModel::new().then_text("never sent");
    let store = InMemorySessionStore::new();
    let agent = agent(&model, &store, false).await;
    for bad in ["", "has space", "semi;colon", &"x".repeat(129)] {
        let error = agent.run_in_session("q", bad).await.unwrap_err();
        assert!(
            matches!(error, Error::InvalidSessionId(_)),
            "{bad:?}: {error}"
        );
        assert!(matches!(
            agent.get_reasoning(bad).await,
            Err(Error::InvalidSessionId(_))
        ));
    }
    assert!(model.requests().is_empty());
}

#[tokio::test]
async fn session_methods_need_sessions() {
    let agent = Agent::builder()
        .model(ScriptedModel::new())
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    assert!(matches!(
        agent.run_in_session("q", "s").await,
        Err(Error::SessionsDisabled)
    ));
    assert!(matches!(
        agent.get_reasoning_history("s").await,
        Err(Error::SessionsDisabled)
    ));
}

#[tokio::test]
async fn a_failed_run_leaves_the_conversation_and_records_the_failure() {
    let model = ScriptedModel::new()
        .then_text("first answer")
        .then_tools(None, &[("missing_tool", json!({}))])
        .then_fail(ModelError::new(
            ModelErrorKind::ServiceUnavailable,
            "Bedrock is down",
        ))
        .then_text("third answer");
    let store = InMemorySessionStore::new();
    let agent = agent(&model, &store, false).await;
    agent.run_in_session("one", "s1").await.unwrap();
    let error = agent.run_in_session("two", "s1").await.unwrap_err();
    assert_eq!(
        error.model_error().map(ModelError::kind),
        Some(ModelErrorKind::ServiceUnavailable)
    );
    assert_eq!(error.reasoning().map(|r| r.status), Some(RunStatus::Failed));
    let failed = agent.get_reasoning("s1").await.unwrap().unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert!(failed.error.unwrap().message.contains("Bedrock is down"));
    agent.run_in_session("three", "s1").await.unwrap();
    // The third run saw only the first turn: the failed one left nothing behind.
    let third_request = model.requests().last().unwrap().clone();
    let texts: Vec<String> = third_request.messages.iter().map(|m| m.text()).collect();
    assert_eq!(texts, ["one", "first answer", "three"]);
    assert_eq!(agent.get_reasoning_history("s1").await.unwrap().len(), 3);
}
