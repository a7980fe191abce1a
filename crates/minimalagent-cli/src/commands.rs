//! `sessions list`, `show`, `delete` and `export`.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;

use minimalagent::evals::replay::{Recording, RecordingError};
use minimalagent::evals::{cases_from_recording, cases_to_jsonl};
use minimalagent::session::{SessionHead, SessionId};
use minimalagent::{Message, Reasoning};
use serde_json::{Value, json};

use crate::failure::{Exit, Failure};
use crate::render;
use crate::store::OpenStore;
use crate::summary;
use crate::text::one_line;

/// Sessions listed per store request.
const LIST_PAGE: usize = 100;
/// Conversation entries read per store request.
const CONVERSATION_PAGE: usize = 200;

/// Maps a write error: a closed pipe (`… | head`) ends the command quietly.
pub(crate) fn output_error(error: io::Error) -> Failure {
    if error.kind() == io::ErrorKind::BrokenPipe {
        Failure::reader_gone()
    } else {
        Failure::failed(format!("cannot write the output: {error}"))
    }
}

/// The session's head, or `NotFound` when it does not exist.
pub(crate) async fn existing_head(store: &OpenStore, id: &str) -> Result<SessionHead, Failure> {
    let session = SessionId::new(id).map_err(|error| {
        Failure::usage(format!(
            "{error} (session ids are 1 to 128 characters of A-Z a-z 0-9 _ -)"
        ))
    })?;
    let head = store
        .sessions
        .store()
        .head(&session)
        .await
        .map_err(|error| Failure::from_error(&error.into(), &store.label))?;
    if head.exists() {
        Ok(head)
    } else {
        Err(Failure::not_found(id, &store.label))
    }
}

/// `sessions list`.
pub(crate) async fn list(
    store: &OpenStore,
    json_lines: bool,
    limit: Option<usize>,
) -> Result<(), Failure> {
    let mut out = anstream::stdout().lock();
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let wanted = limit.map_or(LIST_PAGE, |limit| {
            (limit - all.len().min(limit)).min(LIST_PAGE)
        });
        if wanted == 0 {
            break;
        }
        let (page, after) = summary::page(&store.sessions, next.as_deref(), wanted, false)
            .await
            .map_err(|error| Failure::from_error(&error, &store.label))?;
        if json_lines {
            for session in &page {
                let line = serde_json::to_string(session)
                    .map_err(|error| Failure::failed(error.to_string()))?;
                writeln!(out, "{line}").map_err(output_error)?;
            }
        }
        all.extend(page);
        match after {
            Some(after) => next = Some(after),
            None => break,
        }
    }
    if !json_lines {
        render::session_table(&mut out, &all, &store.label).map_err(output_error)?;
    }
    out.flush().map_err(output_error)
}

/// The whole conversation of a session, as (entry JSON, its messages) pairs.
async fn conversation(store: &OpenStore, id: &str) -> Result<Vec<(Value, Vec<Message>)>, Failure> {
    let mut entries = Vec::new();
    let mut from = None;
    loop {
        let page = store
            .sessions
            .conversation(id, from, CONVERSATION_PAGE)
            .await
            .map_err(|error| Failure::from_error(&error, &store.label))?;
        for entry in &page.entries {
            let value =
                serde_json::to_value(entry).map_err(|error| Failure::failed(error.to_string()))?;
            entries.push((value, entry.body.messages().to_vec()));
        }
        match page.next {
            Some(next) if !page.entries.is_empty() => from = Some(next),
            _ => break,
        }
    }
    Ok(entries)
}

async fn history(store: &OpenStore, id: &str) -> Result<Vec<Reasoning>, Failure> {
    store
        .sessions
        .reasoning_history(id)
        .await
        .map_err(|error| Failure::from_error(&error, &store.label))
}

/// `sessions show`.
pub(crate) async fn show(
    store: &OpenStore,
    id: &str,
    as_json: bool,
    full: bool,
) -> Result<(), Failure> {
    let head = existing_head(store, id).await?;
    let entries = conversation(store, id).await?;
    let runs = history(store, id).await?;
    let mut out = anstream::stdout().lock();
    if as_json {
        let document = json!({
            "session_id": id,
            "head": head,
            "conversation": entries.iter().map(|(entry, _)| entry).collect::<Vec<_>>(),
            "runs": runs,
        });
        let text = serde_json::to_string_pretty(&document)
            .map_err(|error| Failure::failed(error.to_string()))?;
        writeln!(out, "{text}").map_err(output_error)?;
        return out.flush().map_err(output_error);
    }
    let limit = (!full).then_some(render::SHOWN_CHARS);
    let write = |out: &mut anstream::AutoStream<io::StdoutLock<'static>>| -> io::Result<()> {
        let bold = render::BOLD;
        let dim = render::DIM;
        write!(
            out,
            "{bold}Session {}{bold:#} {dim}· {} · {} run{} · {} entr{}",
            one_line(id),
            store.label,
            runs.len(),
            if runs.len() == 1 { "" } else { "s" },
            head.entry_count(),
            if head.entry_count() == 1 { "y" } else { "ies" },
        )?;
        if let Some(expires) = head.expires_at {
            write!(out, " · expires {}", crate::text::timestamp(expires))?;
        }
        writeln!(out, "{dim:#}")?;
        render::fork_links(out, &head.state)?;
        render::heading(out, "Conversation")?;
        if entries.is_empty() {
            writeln!(out, "(no entries: no run of this session has committed)")?;
        }
        for (entry, messages) in &entries {
            render::entry(out, entry, messages, limit)?;
        }
        render::heading(out, "Runs")?;
        if runs.is_empty() {
            writeln!(out, "(no runs)")?;
        }
        for (index, run) in runs.iter().enumerate() {
            if index > 0 {
                writeln!(out)?;
            }
            render::run(out, index + 1, run, limit)?;
        }
        out.flush()
    };
    write(&mut out).map_err(output_error)
}

/// `sessions delete`: asks on stderr and reads the answer from stdin unless `yes`.
pub(crate) async fn delete(store: &OpenStore, id: &str, yes: bool) -> Result<(), Failure> {
    let head = existing_head(store, id).await?;
    if !yes {
        let question = format!(
            "Delete session `{}` ({} runs, {} entries) from {}? This cannot be undone. [y/N] ",
            one_line(id),
            summary::run_count(&head),
            head.entry_count(),
            store.label
        );
        let answer = tokio::task::spawn_blocking(move || {
            let mut err = anstream::stderr();
            let _ = write!(err, "{question}");
            let _ = err.flush();
            let mut line = String::new();
            let read = io::stdin().lock().read_line(&mut line).map(|_| line);
            if !io::stdin().is_terminal() {
                // The answer was not echoed: end the question's line.
                let _ = writeln!(err);
            }
            read
        })
        .await
        .map_err(|error| Failure::failed(error.to_string()))?
        .map_err(|error| Failure::failed(format!("cannot read the answer: {error}")))?;
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Err(Failure::new(
                Exit::NotConfirmed,
                format!(
                    "session `{}` was not deleted: answer `y` to confirm, or pass --yes",
                    one_line(id)
                ),
            ));
        }
    }
    store
        .sessions
        .delete(id)
        .await
        .map_err(|error| Failure::from_error(&error, &store.label))?;
    anstream::eprintln!("Deleted session `{}` from {}.", one_line(id), store.label);
    Ok(())
}

/// `sessions export`: the session as the library exports it (`Sessions::export_jsonl`, the
/// format `Recording::from_export` reads), or, with `as_cases`, its runs as eval cases.
pub(crate) async fn export(
    store: &OpenStore,
    id: &str,
    output: Option<&Path>,
    as_cases: Option<&str>,
) -> Result<(), Failure> {
    existing_head(store, id).await?;
    let exported = store
        .sessions
        .export_jsonl(id)
        .await
        .map_err(|error| Failure::from_error(&error, &store.label))?;
    let (text, what) = match as_cases {
        None => {
            let lines = exported.lines().count();
            (exported, format!("{lines} lines"))
        }
        Some(prefix) => {
            let cases = match Recording::from_export(&exported) {
                Ok(recording) => cases_from_recording(&recording, prefix),
                // A session whose runs have not kept a turn yet (the first run still running
                // or paused) has nothing to make a case of: no cases, said on stderr.
                Err(RecordingError::Empty) => Vec::new(),
                Err(error) => {
                    return Err(Failure::failed(format!(
                        "cannot read the runs of session `{}` from {}: {error}",
                        one_line(id),
                        store.label
                    )));
                }
            };
            if cases.is_empty() {
                Failure::failed(format!(
                    "session `{}` has no run with a kept turn yet: no cases written",
                    one_line(id)
                ))
                .warn();
            }
            let count = cases.len();
            (
                cases_to_jsonl(&cases),
                format!("{count} case{}", if count == 1 { "" } else { "s" }),
            )
        }
    };
    match output {
        Some(path) => {
            std::fs::write(path, text).map_err(|error| {
                Failure::failed(format!("cannot write `{}`: {error}", path.display()))
            })?;
            anstream::eprintln!(
                "Exported {what} of session `{}` to {}.",
                one_line(id),
                path.display()
            );
            Ok(())
        }
        None => {
            let mut out = io::stdout().lock();
            out.write_all(text.as_bytes()).map_err(output_error)?;
            out.flush().map_err(output_error)
        }
    }
}
