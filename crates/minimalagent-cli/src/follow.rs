//! `sessions follow`: a session's run events as any process writes them, one line each with
//! the position to resume from.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use minimalagent::{AgentEvent, FollowPosition, RunStatus};
use tokio::time::Instant;
use uuid::Uuid;

use crate::commands::output_error;
use crate::failure::Failure;
use crate::render;
use crate::store::OpenStore;
use crate::text::one_line;

/// When to stop following.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// Never (until interrupted).
    Forever,
    /// When no run is in progress and what the store held was printed.
    Idle,
    /// After the first run that ends or pauses (waits for a person's decision).
    OneRun,
}

/// How long the stream must be quiet before checking whether the session is idle.
const QUIET: Duration = Duration::from_millis(300);
/// How long the stream must be quiet to stop when the latest run ended before the position
/// followed from (its end is never printed), or paused (a paused run has no end event; the
/// follower's slowest poll is 2 s).
const CAUGHT_UP: Duration = Duration::from_secs(2);

/// `sessions follow`.
pub(crate) async fn follow(
    store: &OpenStore,
    id: &str,
    from: Option<FollowPosition>,
    until: Until,
    as_json: bool,
) -> Result<(), Failure> {
    // An unknown session is followed all the same (its first run may be about to start), but
    // say so on stderr.
    if let Err(failure) = crate::commands::existing_head(store, id).await {
        if failure.exit() == crate::failure::Exit::NotFound {
            if until == Until::Idle {
                return Err(failure);
            }
            anstream::eprintln!(
                "Session `{}` has no runs in {} yet; waiting for its first run…",
                one_line(id),
                store.label
            );
        } else {
            return Err(failure);
        }
    }
    let mut stream = store
        .sessions
        .follow(id, from.unwrap_or_else(FollowPosition::start))
        .map_err(|error| Failure::from_error(&error, &store.label))?;
    let mut out = anstream::stdout();
    let mut open: HashSet<Uuid> = HashSet::new();
    let mut ended: HashSet<Uuid> = HashSet::new();
    // Runs that asked for a decision: they may be paused, which is not an end (no terminal
    // event comes until a process continues them), so the store says when they wait.
    let mut held: HashSet<Uuid> = HashSet::new();
    let mut last_position: Option<FollowPosition> = None;
    let mut last_event = Instant::now();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            item = stream.next() => {
                let Some(item) = item else { return Ok(()) };
                let followed = match item {
                    Ok(followed) => followed,
                    Err(error) => {
                        // The follower goes on after a pause; say what happened.
                        Failure::from_error(&error, &store.label).warn();
                        continue;
                    }
                };
                last_event = Instant::now();
                if as_json {
                    let line = serde_json::to_string(&followed)
                        .map_err(|error| Failure::failed(error.to_string()))?;
                    writeln!(out, "{line}").map_err(output_error)?;
                } else {
                    render::followed(&mut out, &followed).map_err(output_error)?;
                }
                out.flush().map_err(output_error)?;
                last_position = Some(followed.position.clone());
                match &followed.event {
                    AgentEvent::RunStarted { .. } => {
                        open.insert(followed.run_id);
                    }
                    AgentEvent::InterruptRequested { .. } => {
                        held.insert(followed.run_id);
                    }
                    event if event.is_terminal() => {
                        open.remove(&followed.run_id);
                        held.remove(&followed.run_id);
                        ended.insert(followed.run_id);
                        if until == Until::OneRun {
                            return Ok(());
                        }
                    }
                    _ => {}
                }
            }
            () = tokio::time::sleep(QUIET), if quiet_check(until, &open, &held) => {
                let quiet_for = last_event.elapsed();
                let done = match until {
                    Until::Idle => is_idle(store, id, &ended, quiet_for).await?,
                    Until::OneRun => is_paused(store, id, &held, quiet_for).await?,
                    Until::Forever => false,
                };
                if done {
                    return Ok(());
                }
            }
            _ = &mut ctrl_c => {
                if let Some(position) = last_position {
                    anstream::eprintln!(
                        "Stopped. Resume with: minimalagent sessions follow {} --from {position}",
                        one_line(id)
                    );
                }
                return Ok(());
            }
        }
    }
}

/// Whether a quiet stream is worth a look at the store: with `--until-idle` when every run
/// seen starting has ended or asked for a decision, with `--once` when a run asked for one.
fn quiet_check(until: Until, open: &HashSet<Uuid>, held: &HashSet<Uuid>) -> bool {
    match until {
        Until::Idle => open.iter().all(|run| held.contains(run)),
        Until::OneRun => !held.is_empty(),
        Until::Forever => false,
    }
}

/// Whether a run that asked for a decision is now the session's latest and paused, and the
/// stream has been quiet long enough for every held call of its step to have been printed.
async fn is_paused(
    store: &OpenStore,
    id: &str,
    held: &HashSet<Uuid>,
    quiet_for: Duration,
) -> Result<bool, Failure> {
    if quiet_for < CAUGHT_UP {
        return Ok(false);
    }
    let latest = store
        .sessions
        .get_reasoning(id)
        .await
        .map_err(|error| Failure::from_error(&error, &store.label))?;
    Ok(latest.is_some_and(|run| run.status == RunStatus::Paused && held.contains(&run.run_id)))
}

/// Whether following can stop: no run is in progress, and the latest run's end was printed
/// (or nothing came for a while: it ended before the position followed from).
async fn is_idle(
    store: &OpenStore,
    id: &str,
    ended: &HashSet<Uuid>,
    quiet_for: Duration,
) -> Result<bool, Failure> {
    let latest = store
        .sessions
        .get_reasoning(id)
        .await
        .map_err(|error| Failure::from_error(&error, &store.label))?;
    Ok(match latest {
        None => true,
        Some(run) if run.status == RunStatus::Running => false,
        Some(run) => ended.contains(&run.run_id) || quiet_for >= CAUGHT_UP,
    })
}
