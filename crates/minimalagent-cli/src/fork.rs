//! `sessions fork`: a new session holding another's conversation — whole, up to a run, or up
//! to a tool step of a run — in the same store or another (`Sessions::fork_into`).

use std::io::Write;

use minimalagent::session::{SessionErrorKind, SessionId};
use minimalagent::{ErrorKind, ForkPoint, Forked, fork_origin};
use serde_json::json;

use crate::cli::StepPoint;
use crate::commands::{existing_head, output_error};
use crate::failure::{Exit, Failure};
use crate::render;
use crate::store::{self, Access, OpenStore};
use crate::text::one_line;

/// What `sessions fork` was asked.
pub(crate) struct ForkArgs<'a> {
    pub(crate) source: &'a str,
    pub(crate) new: &'a str,
    pub(crate) after_run: Option<u64>,
    pub(crate) after_step: Option<StepPoint>,
    pub(crate) to_store: Option<&'a str>,
    pub(crate) json: bool,
}

/// `sessions fork`.
pub(crate) async fn fork(store: &OpenStore, args: &ForkArgs<'_>) -> Result<(), Failure> {
    let at = match (args.after_step, args.after_run) {
        (Some(StepPoint { run, step }), _) => ForkPoint::AfterStep { run, step },
        (None, Some(run)) => ForkPoint::AfterRun(run),
        (None, None) => ForkPoint::End,
    };
    // The new id first: a typo there should not wait for the store.
    SessionId::new(args.new).map_err(|error| {
        Failure::usage(format!(
            "{error} (session ids are 1 to 128 characters of A-Z a-z 0-9 _ -)"
        ))
    })?;
    let head = existing_head(store, args.source).await?;
    if head.version.is_empty() {
        // Runs, but no kept turn: the first run is still running, paused or failed.
        return Err(Failure::new(
            Exit::NotFound,
            format!(
                "session `{}` has no kept turn to fork yet (its first run has not completed): \
                 see `minimalagent sessions show {}`",
                one_line(args.source),
                one_line(args.source)
            ),
        ));
    }
    let target = match args.to_store {
        // Checked as every store the command opens: it must exist, and a mistyped path or
        // table is an error, not a new empty store.
        Some(url) => store::open(url, Access::Write).await?,
        None => store.clone(),
    };
    let forked = match store
        .sessions
        .fork_into(args.source, at, &target.sessions, args.new)
        .await
    {
        Ok(forked) => forked,
        Err(error) => {
            let failure = refusal(&error, args, at, store, &target);
            if failure.exit() != Exit::Conflict {
                remove_partial_fork(&target, args).await;
            }
            return Err(failure);
        }
    };
    print(args, &forked, store, &target)
}

/// Removes what a failed fork left behind. `Sessions::fork_into` checks the fork point before
/// writing, but a store failing midway (throttled, unreachable) leaves the new session holding
/// the turns committed so far. It did not exist before (the fork refuses an existing one with
/// a conflict, which never gets here), and it names this source as its origin; anything else
/// is left alone.
async fn remove_partial_fork(target: &OpenStore, args: &ForkArgs<'_>) {
    let Ok(state) = target.sessions.state(args.new).await else {
        return;
    };
    let ours = fork_origin(&state).is_some_and(|origin| origin.session == args.source);
    if ours && let Err(error) = target.sessions.delete(args.new).await {
        Failure::failed(format!(
            "the refused fork left session `{}` in {} with part of the conversation, and it \
             could not be deleted ({error}): delete it with `minimalagent sessions delete {}`",
            one_line(args.new),
            target.label,
            one_line(args.new)
        ))
        .warn();
    }
}

/// Why the fork was refused, with the exit code of the command line's mistake where it was
/// one.
fn refusal(
    error: &minimalagent::Error,
    args: &ForkArgs<'_>,
    at: ForkPoint,
    source: &OpenStore,
    target: &OpenStore,
) -> Failure {
    let kind = match (error.kind(), error.session_error()) {
        (ErrorKind::Store, Some(session)) => session.kind(),
        _ => return Failure::from_error(error, &source.label),
    };
    match kind {
        SessionErrorKind::Conflict => Failure::new(
            Exit::Conflict,
            format!(
                "session `{}` exists in {}: a fork makes a new session; choose another id \
                 (or delete that session first)",
                one_line(args.new),
                target.label
            ),
        ),
        // The source exists (checked first), so what is missing is the run the command line
        // names, and a step that is not a tool step is the command line's mistake too.
        SessionErrorKind::NotFound | SessionErrorKind::InvalidInput if at != ForkPoint::End => {
            Failure::usage(format!(
                "{}: {error} (`minimalagent sessions show {}` lists its runs and their steps)",
                source.label,
                one_line(args.source)
            ))
        }
        _ => Failure::from_error(error, &source.label),
    }
}

fn print(
    args: &ForkArgs<'_>,
    forked: &Forked,
    source: &OpenStore,
    target: &OpenStore,
) -> Result<(), Failure> {
    let origin = &forked.origin;
    let mut out = anstream::stdout().lock();
    if args.json {
        let line = json!({
            "session": args.new,
            "store": target.url,
            "origin": origin,
            "turns": forked.turns,
            "linked_in_source": forked.linked_in_source,
        });
        writeln!(out, "{line}").map_err(output_error)?;
        return out.flush().map_err(output_error);
    }
    let place = if target.url == source.url {
        format!("in {}", target.label)
    } else {
        format!("from {} to {}", source.label, target.label)
    };
    let turns = forked.turns;
    writeln!(
        out,
        "Forked session `{}` {} into `{}`: {turns} turn{} {place}.",
        one_line(&origin.session),
        render::cut(origin.run, origin.step),
        one_line(args.new),
        if turns == 1 { "" } else { "s" },
    )
    .map_err(output_error)?;
    let link = if forked.linked_in_source {
        format!(
            "`{}` lists the fork in its state (fork.child:{}); `{}` names its origin \
             (fork.origin).",
            one_line(&origin.session),
            one_line(args.new),
            one_line(args.new)
        )
    } else {
        format!(
            "`{}` names its origin (fork.origin); `{}` does not record the fork (its store \
             cannot change a session's state outside a run).",
            one_line(args.new),
            one_line(&origin.session)
        )
    };
    writeln!(out, "{link}").map_err(output_error)?;
    out.flush().map_err(output_error)
}
