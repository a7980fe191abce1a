//! Run-level checks of forked sessions.

use super::*;

use agent_session::InMemorySessionStore;

use crate::fork::{FORK_ORIGIN_KEY, ForkOrigin, ForkPoint, fork_children};

/// A 20-turn session with a tool step in every turn is forked after every run and within each
/// run's tool step, on the same store and into another store; each fork holds exactly the
/// source's conversation up to the cut, names its origin, is listed by its source, and goes on:
/// its next run sees the forked history and its turn is kept after it.
pub async fn forks_continue_from_every_step_boundary(store: Arc<dyn SessionStore>) {
    let session = session_for("fork-source");
    let model = Arc::new(EchoModel::default());
    let agent = agent(model.clone(), &SlowTool::default());
    let source = runner(&store, false);
    for turn in 1..=20 {
        run(&source, &agent, &session, &format!("question {turn}")).await;
    }
    let history = all_messages(&source, &session).await;
    assert_eq!(
        history.len(),
        80,
        "20 turns of query, tool call, result, answer"
    );
    let other: Arc<dyn SessionStore> = Arc::new(InMemorySessionStore::new());

    let mut forks = 0;
    for run_number in 1..=20u64 {
        for (point, kept) in [
            (ForkPoint::AfterRun(run_number), run_number as usize * 4),
            (
                ForkPoint::AfterStep {
                    run: run_number,
                    step: 1,
                },
                run_number as usize * 4 - 1,
            ),
        ] {
            // Every other fork goes to another store.
            let (target_store, target_runner) = if forks % 2 == 0 {
                (store.clone(), runner(&store, false))
            } else {
                (other.clone(), runner(&other, false))
            };
            forks += 1;
            let target = session_for("fork");
            let forked = source
                .fork(&session, point, &target_store, &target)
                .await
                .unwrap_or_else(|error| panic!("fork at {point:?}: {error}"));
            assert_eq!(forked.origin.run, run_number);
            let copied = all_messages(&target_runner, &target).await;
            assert_eq!(
                copied,
                history[..kept],
                "the fork at {point:?} holds the source's prefix"
            );
            let origin: ForkOrigin = target_store
                .head(&target)
                .await
                .unwrap()
                .state
                .get(FORK_ORIGIN_KEY)
                .unwrap()
                .expect("the fork names its origin");
            assert_eq!(origin.session, session.to_string());
            assert_eq!(
                origin.step,
                matches!(point, ForkPoint::AfterStep { .. }).then_some(1)
            );

            // The fork goes on from there.
            let calls = model.calls.load(Ordering::SeqCst);
            let answer = run(&target_runner, &agent, &target, "a different question").await;
            assert_eq!(answer, "answer to a different question");
            let continued = all_messages(&target_runner, &target).await;
            assert_eq!(continued[..kept], history[..kept]);
            assert!(continued.len() > kept);
            assert_eq!(model.calls.load(Ordering::SeqCst), calls + 2);
            let records = target_runner.reasoning_history(&target).await.unwrap();
            assert!(records.iter().all(|r| r.status == RunStatus::Completed));
        }
    }
    let children = fork_children(&store.head(&session).await.unwrap().state);
    assert_eq!(children.len(), forks, "the source lists its forks");
    // Two forks written at once are both listed.
    let (one, two) = (session_for("fork-a"), session_for("fork-b"));
    let (a, b) = tokio::join!(
        source.fork(&session, ForkPoint::AfterRun(1), &store, &one),
        source.fork(&session, ForkPoint::AfterRun(2), &store, &two)
    );
    assert!(a.unwrap().linked_in_source && b.unwrap().linked_in_source);
    let children = fork_children(&store.head(&session).await.unwrap().state);
    for fork in [&one, &two] {
        assert!(
            children
                .iter()
                .any(|child| child.session == fork.to_string()),
            "{fork} is listed"
        );
    }
    // The source is as it was.
    assert_eq!(all_messages(&source, &session).await, history);
    // A step that is the run's answer is no place to cut.
    let refused = session_for("fork-bad");
    let error = source
        .fork(
            &session,
            ForkPoint::AfterStep { run: 3, step: 2 },
            &store,
            &refused,
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        agent_session::SessionErrorKind::InvalidInput,
        "{error}"
    );
    // Refused before anything is written: no partial fork of runs 1 and 2 is left behind.
    assert!(
        !store.head(&refused).await.unwrap().exists(),
        "a refused fork leaves no session"
    );
}
