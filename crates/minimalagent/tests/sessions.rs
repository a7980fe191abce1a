//! The facade's session methods on the in-memory store.
#![allow(clippy::unwrap_used, clippy::panic)] // Test code: a panic is a failed assertion.

use std::sync::Arc;

use agent_session::conformance::CountingStore;
use agent_testkit::ScriptedModel;
use futures::StreamExt;
use minimalagent::session::{InMemorySessionStore, SessionStore};
use minimalagent::{
    Agent, AgentEvent, ErrorKind, FollowPosition, ModelError, ModelErrorKind, RunStatus, Sessions,
};

async fn agent(
    model: &ScriptedModel,
    store: impl SessionStore + 'static,
    real_time: bool,
) -> Agent {
    Agent::builder()
        .model(model.clone())
        .sessions(store)
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
    let agent = agent(&model, store.clone(), true).await;
    let first = agent
        .run_in_session("What is the meaning of life?", "user-123")
        .await
        .unwrap();
    let second = agent
        .run_in_session("Can you elaborate on that?", "user-123")
        .await
        .unwrap();
    assert_eq!(first.response, "42.");
    assert_eq!(second.response, "It is a joke from a novel.");
    assert_eq!(second.reasoning.session_id.as_deref(), Some("user-123"));
    // Memory is checked where it matters: the model saw the first turn.
    let second_request = &model.requests()[1];
    assert_eq!(second_request.messages.len(), 3);
    assert_eq!(
        second_request.messages[0].content[0],
        minimalagent::ContentBlock::Text("What is the meaning of life?".into())
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

    // A monitor needs no model: the same store read through `Sessions`.
    let monitor = Sessions::new(store);
    assert_eq!(
        monitor.reasoning_history("user-123").await.unwrap(),
        history
    );
    let listed = monitor.list(None, 10).await.unwrap();
    assert_eq!(listed.sessions[0].id.as_str(), "user-123");

    agent.delete_session("user-123").await.unwrap();
    assert!(agent.get_reasoning("user-123").await.unwrap().is_none());
}

#[tokio::test]
async fn invalid_session_ids_are_rejected_before_anything_runs() {
    let model = ScriptedModel::new().then_text("never");
    let counting = CountingStore::new(Arc::new(InMemorySessionStore::new()));
    let agent = agent(&model, counting.clone(), false).await;
    for bad in ["", "has space", "slash/", &"x".repeat(129)] {
        let error = agent.run_in_session("q", bad).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidSessionId, "{bad:?}");
        assert!(agent.get_reasoning(bad).await.is_err());
        assert!(agent.follow(bad).is_err());
    }
    assert_eq!(counting.calls().total(), 0, "no store call for a bad id");
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
    let error = agent.run_in_session("q", "s").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::SessionsDisabled);
    assert_eq!(
        agent.get_reasoning("s").await.unwrap_err().kind(),
        ErrorKind::SessionsDisabled
    );
    assert!(agent.session_store().is_none());
}

#[tokio::test]
async fn a_failed_run_leaves_the_conversation_and_records_the_failure() {
    let model = ScriptedModel::new()
        .then_text("first")
        .then_fail(ModelError::new(ModelErrorKind::ServiceUnavailable, "down"));
    let agent = agent(&model, InMemorySessionStore::new(), false).await;
    agent.run_in_session("one", "s").await.unwrap();
    let error = agent.run_in_session("two", "s").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Model);
    assert_eq!(error.reasoning().unwrap().status, RunStatus::Failed);
    let conversation = agent.conversation("s", None).await.unwrap();
    assert_eq!(conversation.messages().len(), 2);
    let history = agent.get_reasoning_history("s").await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].status, RunStatus::Failed);
    assert_eq!(
        history[1].error.as_ref().unwrap().kind,
        "model.service_unavailable"
    );
}

#[tokio::test]
async fn a_real_time_run_is_followed_from_another_handle() {
    let model = ScriptedModel::new().then_text("Watched.");
    let store = InMemorySessionStore::new();
    let agent = agent(&model, store.clone(), true).await;
    let monitor = Sessions::new(store);
    let mut follow = monitor.follow("watched", FollowPosition::start()).unwrap();
    let run = {
        let agent = agent.clone();
        tokio::spawn(async move { agent.run_in_session("watch", "watched").await })
    };
    let mut kinds = Vec::new();
    let mut last_position = None;
    while let Some(item) = follow.next().await {
        let item = item.unwrap();
        kinds.push(item.event.type_name());
        last_position = Some(item.position);
        if item.event.is_terminal() {
            break;
        }
    }
    run.await.unwrap().unwrap();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    // Resuming after the last event gives nothing more until the next run.
    let mut after = monitor.follow("watched", last_position.unwrap()).unwrap();
    agent.run_in_session("again", "watched").await.ok();
    let next = after.next().await.unwrap().unwrap();
    assert!(matches!(next.event, AgentEvent::RunStarted { ref query, .. } if query == "again"));
}

#[tokio::test]
async fn resuming_when_nothing_was_interrupted_says_why() {
    let model = ScriptedModel::new().then_text("done");
    let agent = agent(&model, InMemorySessionStore::new(), true).await;
    let error = agent.resume("nothing").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotResumable);
    agent.run_in_session("q", "nothing").await.unwrap();
    let error = agent.resume("nothing").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotResumable);
    assert!(error.to_string().contains("completed"), "{error}");
}

#[tokio::test]
async fn session_options_with_real_time_stay_real_time() {
    let model = ScriptedModel::new().then_text("Recorded as it went.");
    let store = InMemorySessionStore::new();
    let agent = Agent::builder()
        .model(model.clone())
        .sessions(store.clone())
        .session_options(minimalagent::SessionOptions::default().with_real_time(true))
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    agent.run_in_session("q", "options").await.unwrap();
    let id = minimalagent::session::SessionId::new("options").unwrap();
    let record = store.latest_run(&id).await.unwrap().unwrap();
    // Real-time runs append their events; a run recorded only at its commit has none.
    let events = store.events(&id, record.run, 0, 100).await.unwrap();
    assert!(!events.is_empty(), "the run was recorded in real time");
}

#[tokio::test]
async fn a_setting_never_silently_undoes_another() {
    let conflicting = |builder: minimalagent::AgentBuilder| async {
        builder
            .model(ScriptedModel::new())
            .sessions(InMemorySessionStore::new())
            .show_reasoning(false)
            .build()
            .await
            .unwrap_err()
    };
    let options = || minimalagent::SessionOptions::default().with_real_time(true);
    let error = conflicting(
        Agent::builder()
            .session_options(options())
            .real_time_reasoning(false),
    )
    .await;
    assert!(error.is_config(), "{error}");
    assert!(
        format!("{:#}", anyhow::Error::new(error)).contains("real_time_reasoning"),
        "the error names the setting"
    );
    let error = conflicting(
        Agent::builder()
            .context_policy(minimalagent::ContextPolicy::window_messages(4))
            .session_options(options()),
    )
    .await;
    assert!(error.is_config(), "{error}");
    // Agreeing settings are fine.
    Agent::builder()
        .model(ScriptedModel::new())
        .sessions(InMemorySessionStore::new())
        .session_options(options())
        .real_time_reasoning(true)
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
}
