//! `sessions pending`, `approve`, `deny` and `answer`: the tool calls paused runs hold for a
//! person, listed and decided.
//!
//! Deciding records the decision in the store (`Sessions::decide`) and nothing more: it runs no
//! tool and no model. The run goes on when a process running the agent calls
//! `Agent::respond(session, Decisions::new())`. It is no way around an approval either: whoever
//! can run it can already write to the store.

use std::io::Write;

use futures::{StreamExt, TryStreamExt};
use minimalagent::{Decisions, Interrupt, InterruptDecision, PausedRun, ResumeRefusal, Sessions};
use serde_json::{Value, json};

use crate::commands::{existing_head, output_error};
use crate::failure::{Exit, Failure};
use crate::render;
use crate::store::OpenStore;
use crate::text::one_line;

/// Sessions listed per store request.
const LIST_PAGE: usize = 100;
/// How many sessions' runs are read at once.
const CONCURRENT_READS: usize = 8;

/// The session's paused runs, oldest first.
async fn paused(store: &OpenStore, id: &str) -> Result<Vec<PausedRun>, Failure> {
    store
        .sessions
        .paused_runs(id)
        .await
        .map_err(|error| Failure::from_error(&error, &store.label))
}

/// Every live session's paused runs: every run of every session is read.
async fn every_paused(store: &OpenStore) -> Result<Vec<(String, PausedRun)>, Failure> {
    let mut found = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = store
            .sessions
            .list(next.as_deref(), LIST_PAGE)
            .await
            .map_err(|error| Failure::from_error(&error, &store.label))?;
        let ids: Vec<String> = page
            .sessions
            .iter()
            .map(|info| info.id.to_string())
            .collect();
        let runs: Vec<(String, Vec<PausedRun>)> = futures::stream::iter(ids)
            .map(|id| async move {
                let runs = store.sessions.paused_runs(&id).await?;
                Ok::<_, minimalagent::Error>((id, runs))
            })
            .buffered(CONCURRENT_READS)
            .try_collect()
            .await
            .map_err(|error| Failure::from_error(&error, &store.label))?;
        found.extend(
            runs.into_iter()
                .flat_map(|(id, runs)| runs.into_iter().map(move |run| (id.clone(), run))),
        );
        match page.next {
            Some(after) if !page.sessions.is_empty() => next = Some(after),
            _ => return Ok(found),
        }
    }
}

/// One held call as a JSON line of `pending --json`.
fn pending_line(session: &str, run: &PausedRun, interrupt: &Interrupt) -> Result<Value, Failure> {
    let mut line = json!({
        "session_id": session,
        "run": run.run,
        "run_id": run.run_id,
        "query": run.query,
    });
    let held =
        serde_json::to_value(interrupt).map_err(|error| Failure::failed(error.to_string()))?;
    if let (Value::Object(line), Value::Object(held)) = (&mut line, held) {
        line.extend(held);
        line.insert(
            "expired".to_owned(),
            Value::Bool(interrupt.is_expired(jiff::Timestamp::now())),
        );
    }
    Ok(line)
}

/// `sessions pending`.
pub(crate) async fn pending(
    store: &OpenStore,
    id: Option<&str>,
    as_json: bool,
    full: bool,
) -> Result<(), Failure> {
    let (runs, nothing) = match id {
        Some(id) => {
            existing_head(store, id).await?;
            let runs = paused(store, id).await?;
            let runs = runs.into_iter().map(|run| (id.to_owned(), run)).collect();
            let nothing = format!("No run of session `{}` waits for a decision.", one_line(id));
            (runs, nothing)
        }
        None => (
            every_paused(store).await?,
            format!("No run waits for a decision in {}.", store.label),
        ),
    };
    let mut out = anstream::stdout().lock();
    if as_json {
        for (session, run) in &runs {
            for interrupt in &run.interrupts {
                let line = pending_line(session, run, interrupt)?;
                writeln!(out, "{line}").map_err(output_error)?;
            }
        }
    } else {
        render::pending_table(&mut out, &runs, full, &nothing).map_err(output_error)?;
    }
    out.flush().map_err(output_error)
}

/// Which held calls a decision is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Which<'a> {
    /// The call with this interrupt id.
    One(&'a str),
    /// Every held call of the session's newest run that holds any.
    All,
}

/// `sessions approve`, `deny` and `answer`: records `decision` on the held calls `which`
/// names, then says what was recorded and what still waits.
pub(crate) async fn decide(
    store: &OpenStore,
    id: &str,
    which: Which<'_>,
    decision: InterruptDecision,
    as_json: bool,
) -> Result<(), Failure> {
    existing_head(store, id).await?;
    let before = paused(store, id).await?;
    let ids: Vec<String> = match which {
        Which::One(interrupt) => vec![interrupt.to_owned()],
        Which::All => match before.iter().rev().find(|run| !run.interrupts.is_empty()) {
            Some(run) => run.interrupts.iter().map(|held| held.id.clone()).collect(),
            None => {
                return Err(Failure::new(
                    Exit::Conflict,
                    format!(
                        "no run of session `{}` holds a call waiting for a decision",
                        one_line(id)
                    ),
                ));
            }
        },
    };
    let decisions = ids.iter().fold(Decisions::new(), |decisions, held| {
        decisions.with(held.clone(), decision.clone())
    });
    let after = store
        .sessions
        .decide(id, &decisions)
        .await
        .map_err(|error| refused(store, id, &ids, &before, &error))?;
    let read_back = recorded(&store.sessions, id, after.run_id, &ids)
        .await
        .map_err(|error| Failure::from_error(&error, &store.label))?;
    let recorded: Vec<(Interrupt, InterruptDecision)> = ids
        .iter()
        .filter_map(|wanted| {
            read_back
                .iter()
                .find(|(held, _)| held.id == *wanted)
                .cloned()
                // Not in the trace read (a later write came between): what was asked, on
                // the call as it was listed.
                .or_else(|| {
                    before
                        .iter()
                        .flat_map(|run| &run.interrupts)
                        .find(|held| held.id == *wanted)
                        .map(|held| (held.clone(), decision.clone()))
                })
        })
        .collect();
    let mut out = anstream::stdout().lock();
    if as_json {
        let document = json!({
            "session_id": id,
            "run": after.run,
            "run_id": after.run_id,
            "recorded": recorded.iter().map(|(interrupt, decided)| json!({
                "id": interrupt.id,
                "tool": interrupt.tool,
                "decision": decided,
            })).collect::<Vec<_>>(),
            "pending": after.interrupts,
            "ready_to_continue": after.interrupts.is_empty(),
        });
        writeln!(out, "{document}").map_err(output_error)?;
    } else {
        write_outcome(&mut out, id, &after, &recorded).map_err(output_error)?;
    }
    out.flush().map_err(output_error)?;
    // A call whose time ran out is answered `expired` whatever was asked: say so with an exit
    // code, so that a script never reads an approval that did not happen as one.
    let expired: Vec<String> = recorded
        .iter()
        .filter(|(_, decided)| matches!(decided, InterruptDecision::Expired))
        .map(|(interrupt, _)| format!("`{}`", one_line(&interrupt.id)))
        .collect();
    if expired.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            Exit::Conflict,
            format!(
                "{} had expired: recorded as expired (the model is told the call was denied), \
                 not as `{}`",
                expired.join(", "),
                decision.as_str()
            ),
        ))
    }
}

/// What the store recorded for `ids` on the run `run_id`, read back from the run's trace: the
/// decision asked, or `expired` for a call whose time had run out. Ids the trace does not
/// answer (yet) are left out.
pub(crate) async fn recorded(
    sessions: &Sessions,
    id: &str,
    run_id: uuid::Uuid,
    ids: &[String],
) -> Result<Vec<(Interrupt, InterruptDecision)>, minimalagent::Error> {
    let history = sessions.reasoning_history(id).await?;
    let answered = history
        .iter()
        .find(|run| run.run_id == run_id)
        .map(|run| run.answered_interrupts.as_slice())
        .unwrap_or_default();
    Ok(ids
        .iter()
        .filter_map(|wanted| {
            answered
                .iter()
                .rev()
                .find(|answer| answer.interrupt.id == *wanted)
                .map(|answer| (answer.interrupt.clone(), answer.decision.clone()))
        })
        .collect())
}

fn write_outcome(
    out: &mut impl Write,
    id: &str,
    after: &PausedRun,
    recorded: &[(Interrupt, InterruptDecision)],
) -> std::io::Result<()> {
    let bold = render::BOLD;
    writeln!(
        out,
        "Recorded on run {} of session `{}` ({}):",
        after.run,
        one_line(id),
        one_line(&crate::text::shorten(&after.query, Some(80)))
    )?;
    for (interrupt, decided) in recorded {
        writeln!(
            out,
            "  {} ({}) → {}",
            one_line(&interrupt.tool),
            one_line(&interrupt.id),
            render::decision(decided, Some(render::SHOWN_CHARS))
        )?;
    }
    if after.interrupts.is_empty() {
        writeln!(
            out,
            "{bold}Every held call of run {} is decided.{bold:#} The run goes on when a process \
             running the agent calls Agent::respond(\"{}\", Decisions::new()); this command only \
             records decisions: it runs no tool and no model.",
            after.run,
            one_line(id)
        )
    } else {
        writeln!(
            out,
            "{bold}{} held call{} still wait{}:{bold:#}",
            after.interrupts.len(),
            if after.interrupts.len() == 1 { "" } else { "s" },
            if after.interrupts.len() == 1 { "s" } else { "" },
        )?;
        let runs = [(id.to_owned(), after.clone())];
        render::pending_table(out, &runs, false, "")?;
        writeln!(
            out,
            "The run goes on once every held call is decided (minimalagent sessions approve / \
             deny {} ID).",
            one_line(id)
        )
    }
}

/// Why `decide` refused, in the command's words.
fn refused(
    store: &OpenStore,
    id: &str,
    ids: &[String],
    before: &[PausedRun],
    error: &minimalagent::Error,
) -> Failure {
    let asked = ids
        .iter()
        .map(|held| format!("`{}`", one_line(held)))
        .collect::<Vec<_>>()
        .join(", ");
    let waiting: Vec<String> = before
        .iter()
        .flat_map(|run| &run.interrupts)
        .map(|held| one_line(&held.id))
        .collect();
    let still = if waiting.is_empty() {
        "no call of the session waits for a decision".to_owned()
    } else {
        format!("waiting: {}", waiting.join(", "))
    };
    match error.resume_refusal() {
        Some(ResumeRefusal::AlreadyAnswered { run }) => Failure::new(
            Exit::Conflict,
            format!(
                "{asked} of run {run} of session `{}` was answered already (by another process, \
                 or before): nothing recorded; `minimalagent sessions pending {}` lists what \
                 still waits",
                one_line(id),
                one_line(id)
            ),
        ),
        Some(ResumeRefusal::NothingPaused | ResumeRefusal::UnknownInterrupt { .. }) => {
            Failure::new(
                Exit::Conflict,
                format!(
                    "no run of session `{}` holds a call {asked} waiting for a decision \
                     ({still})",
                    one_line(id)
                ),
            )
        }
        _ => Failure::from_error(error, &store.label),
    }
}

#[cfg(test)]
mod tests {
    // A failed unwrap is a failed test.
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::sync::Arc;

    use agent_testkit::ScriptedModel;
    use minimalagent::session::InMemorySessionStore;
    use minimalagent::{Agent, RunOutcome, SessionOptions, tool};
    use serde_json::json;

    use super::*;

    /// Send money: each call waits for a person's approval.
    ///
    /// # Arguments
    /// * `amount` - How much
    #[tool(approval = "money leaves the account")]
    async fn pay(amount: u64) -> Value {
        json!({ "paid": amount })
    }

    /// The memory store (which lives in one process, so the binary cannot be run on it): the
    /// same decisions as on SQLite, through the commands' own functions.
    #[tokio::test]
    async fn decisions_on_the_memory_store() {
        let memory = InMemorySessionStore::new();
        let model = ScriptedModel::new()
            .then_tools(
                None,
                &[("pay", json!({"amount": 1})), ("pay", json!({"amount": 2}))],
            )
            .then_text("Paid.");
        let agent = Agent::builder()
            .model(model)
            .tool(Pay)
            .sessions(memory.clone())
            .show_reasoning(false)
            .build()
            .await
            .unwrap();
        let paused = agent.run_in_session("Pay twice.", "memo").await.unwrap();
        assert_eq!(paused.outcome, RunOutcome::Paused);
        let store = OpenStore {
            sessions: Sessions::with_options(Arc::new(memory), SessionOptions::default()),
            label: "memory".to_owned(),
            url: "memory://".to_owned(),
        };
        pending(&store, Some("memo"), true, false).await.unwrap();
        pending(&store, None, false, false).await.unwrap();

        decide(
            &store,
            "memo",
            Which::One("tool-1"),
            InterruptDecision::Approve,
            false,
        )
        .await
        .unwrap();
        let again = decide(
            &store,
            "memo",
            Which::One("tool-1"),
            InterruptDecision::Approve,
            false,
        )
        .await
        .unwrap_err();
        assert_eq!(again.exit(), Exit::Conflict, "{again}");
        assert!(again.to_string().contains("answered already"), "{again}");
        let unknown = decide(
            &store,
            "memo",
            Which::One("tool-7"),
            InterruptDecision::Approve,
            false,
        )
        .await
        .unwrap_err();
        assert_eq!(unknown.exit(), Exit::Conflict, "{unknown}");
        assert!(unknown.to_string().contains("waiting: tool-2"), "{unknown}");
        let missing = decide(
            &store,
            "nobody",
            Which::All,
            InterruptDecision::Approve,
            false,
        )
        .await
        .unwrap_err();
        assert_eq!(missing.exit(), Exit::NotFound, "{missing}");

        let deny = InterruptDecision::Deny {
            message: "no".to_owned(),
        };
        decide(&store, "memo", Which::All, deny.clone(), true)
            .await
            .unwrap();
        let nothing = decide(&store, "memo", Which::All, deny, false)
            .await
            .unwrap_err();
        assert_eq!(nothing.exit(), Exit::Conflict, "{nothing}");
        assert!(
            store.sessions.paused_runs("memo").await.unwrap()[0]
                .interrupts
                .is_empty()
        );

        let done = agent.respond("memo", Decisions::new()).await.unwrap();
        assert_eq!(done.response, "Paid.");
        assert!(store.sessions.paused_runs("memo").await.unwrap().is_empty());
    }
}
