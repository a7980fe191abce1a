//! The text the commands print: sessions, conversations, run traces and followed events,
//! coloured when the terminal takes colours. Everything that comes from the store is
//! sanitised first (`crate::text::sanitize`): it is untrusted.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use minimalagent::core::ReasoningContent;
use minimalagent::{
    AgentEvent, ContentBlock, FollowedEvent, Interrupt, InterruptDecision, Message, PausedRun,
    Reasoning, Role, RunStatus, SessionState, ToolCallStatus, ToolInvocation, ToolResultContent,
    fork_children, fork_origin,
};
use serde_json::Value;

use crate::summary::SessionSummary;
use crate::text::{
    clip, duration_ms, millis_between, one_line, sanitize, shorten, timestamp, usage,
};

pub(crate) const BOLD: Style = Style::new().bold();
pub(crate) const DIM: Style = Style::new().dimmed();
const HEADING: Style = Style::new().bold().underline();
const THINKING: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Magenta)));
const TOOL: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));
const GOOD: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
const BAD: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
const WARN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
/// Calls and runs that wait for a person.
const HELD: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Magenta)));
const ANSWER: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Blue)));

/// How long texts may be in `show` unless `--full`.
pub(crate) const SHOWN_CHARS: usize = 1_000;

/// The style of a run status.
pub(crate) fn status_style(status: &RunStatus) -> Style {
    match status {
        RunStatus::Completed => GOOD,
        RunStatus::Running => TOOL.bold(),
        RunStatus::Failed => BAD,
        RunStatus::Interrupted => WARN.bold(),
        RunStatus::Paused => HELD.bold(),
        RunStatus::Damaged => BAD.bold(),
        _ => WARN,
    }
}

/// Writes `text` indented by `indent` spaces on every line after the first.
fn write_block(out: &mut impl Write, indent: usize, text: &str) -> io::Result<()> {
    let pad = " ".repeat(indent);
    for (n, line) in text.lines().enumerate() {
        if n > 0 {
            write!(out, "\n{pad}")?;
        }
        write!(out, "{line}")?;
    }
    writeln!(out)
}

/// A JSON value on one line, sanitised and cut.
fn json(value: &Value, limit: Option<usize>) -> String {
    shorten(&sanitize(&value.to_string(), false), limit)
}

/// A text, sanitised (newlines kept) and cut.
fn text(value: &str, limit: Option<usize>) -> String {
    shorten(&sanitize(value, true), limit)
}

// ---------------------------------------------------------------------------------- list

/// The session table of `sessions list`.
pub(crate) fn session_table(
    out: &mut impl Write,
    sessions: &[SessionSummary],
    store: &str,
) -> io::Result<()> {
    if sessions.is_empty() {
        return writeln!(out, "No sessions in {store}.");
    }
    let width = sessions
        .iter()
        .map(|s| s.id.chars().count())
        .max()
        .unwrap_or(0)
        .max("SESSION".len());
    writeln!(
        out,
        "{BOLD}{:<width$}  {:>4}  {:>7}  {:<11}  {:<20}  {:<20}  QUERY{BOLD:#}",
        "SESSION", "RUNS", "ENTRIES", "LATEST RUN", "STARTED", "EXPIRES"
    )?;
    for session in sessions {
        let (status, started, query) = match &session.latest_run {
            // A record that cannot be read has no query: its key and why stand in its place.
            Some(run) if run.status == RunStatus::Damaged => (
                run.status.clone(),
                String::new(),
                shorten(
                    &one_line(run.error.as_deref().unwrap_or("store.damaged_record")),
                    Some(96),
                ),
            ),
            Some(run) => (
                run.status.clone(),
                run.started_at.map(timestamp).unwrap_or_default(),
                shorten(&one_line(&run.query), Some(48)),
            ),
            None => (
                RunStatus::Other("-".to_owned()),
                String::new(),
                String::new(),
            ),
        };
        let style = status_style(&status);
        writeln!(
            out,
            "{:<width$}  {:>4}  {:>7}  {style}{:<11}{style:#}  {:<20}  {:<20}  {}",
            session.id,
            session.runs,
            session.entries,
            status.as_str(),
            started,
            session.expires_at.map(timestamp).unwrap_or_default(),
            query
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------- pending

/// How long reasons and inputs may be in the `pending` table unless `--full`.
pub(crate) const PENDING_REASON_CHARS: usize = 40;
/// See [`PENDING_REASON_CHARS`].
pub(crate) const PENDING_INPUT_CHARS: usize = 60;

/// The table of `sessions pending`: one line per held call.
pub(crate) fn pending_table(
    out: &mut impl Write,
    runs: &[(String, PausedRun)],
    full: bool,
    nothing: &str,
) -> io::Result<()> {
    let calls: Vec<(&str, &PausedRun, &Interrupt)> = runs
        .iter()
        .flat_map(|(session, run)| {
            run.interrupts
                .iter()
                .map(move |interrupt| (session.as_str(), run, interrupt))
        })
        .collect();
    if calls.is_empty() {
        return writeln!(out, "{nothing}");
    }
    let now = jiff::Timestamp::now();
    let reason_limit = (!full).then_some(PENDING_REASON_CHARS);
    let input_limit = (!full).then_some(PENDING_INPUT_CHARS);
    let rows: Vec<[String; 7]> = calls
        .iter()
        .map(|(session, run, interrupt)| {
            [
                one_line(session),
                run.run.to_string(),
                one_line(&interrupt.id),
                one_line(&interrupt.tool),
                expiry(interrupt, now),
                clip(&one_line(&interrupt.reason), reason_limit),
                clip(&sanitize(&interrupt.input.to_string(), false), input_limit),
            ]
        })
        .collect();
    let header = [
        "SESSION",
        "RUN",
        "INTERRUPT",
        "TOOL",
        "EXPIRY",
        "REASON",
        "INPUT",
    ];
    let mut widths = header.map(|name| name.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 7]| -> String {
        let mut text = String::new();
        for (n, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if n == 6 {
                text.push_str(cell);
            } else if n == 1 {
                text.push_str(&format!("{cell:>width$}  "));
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        text
    };
    writeln!(out, "{BOLD}{}{BOLD:#}", line(header))?;
    for row in &rows {
        writeln!(out, "{}", line(row.each_ref().map(String::as_str)))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------- show

/// "after run N" or "after run N step S".
pub(crate) fn cut(run: u64, step: Option<u32>) -> String {
    match step {
        Some(step) => format!("after run {run} step {step}"),
        None => format!("after run {run}"),
    }
}

/// Where a session was forked from, and the sessions forked from it, as its state says (one
/// line each; nothing when it says neither). The state comes from the store: the library's
/// readers skip a value of another shape.
pub(crate) fn fork_links(out: &mut impl Write, state: &SessionState) -> io::Result<()> {
    if let Some(origin) = fork_origin(state) {
        writeln!(
            out,
            "{BOLD}forked from{BOLD:#} {} {} {DIM}· {}{DIM:#}",
            one_line(&origin.session),
            cut(origin.run, origin.step),
            timestamp(origin.forked_at)
        )?;
    }
    let forks: Vec<String> = fork_children(state)
        .iter()
        .map(|child| {
            format!(
                "{} ({})",
                one_line(&child.session),
                cut(child.run, child.step)
            )
        })
        .collect();
    if !forks.is_empty() {
        writeln!(out, "{BOLD}forks:{BOLD:#} {}", forks.join(", "))?;
    }
    Ok(())
}

/// A conversation entry as `show` prints it: its number, and its messages or summary.
pub(crate) fn entry(
    out: &mut impl Write,
    entry: &Value,
    messages: &[Message],
    limit: Option<usize>,
) -> io::Result<()> {
    let seq = entry.get("seq").and_then(Value::as_u64).unwrap_or(0);
    let written = entry
        .get("written_at")
        .and_then(Value::as_str)
        .and_then(|at| at.parse().ok())
        .map(|at| format!(" · {}", timestamp(at)))
        .unwrap_or_default();
    let body = entry.get("body").unwrap_or(&Value::Null);
    match body.get("type").and_then(Value::as_str) {
        Some("turn") => {
            let run = body
                .get("run_id")
                .and_then(Value::as_str)
                .map(|id| format!(" · run {}", one_line(id)))
                .unwrap_or_default();
            writeln!(out, "{BOLD}#{seq} turn{BOLD:#}{DIM}{run}{written}{DIM:#}")?;
            for message in messages {
                self::message(out, message, limit)?;
            }
        }
        Some("summary") => {
            let through = body.get("through_seq").and_then(Value::as_u64).unwrap_or(0);
            let count = body.get("messages").and_then(Value::as_u64).unwrap_or(0);
            writeln!(
                out,
                "{BOLD}#{seq} summary{BOLD:#}{DIM} of #{through} and before ({count} messages){written}{DIM:#}"
            )?;
            let summary = body.get("text").and_then(Value::as_str).unwrap_or_default();
            write!(out, "  ")?;
            write_block(out, 2, &text(summary, limit))?;
        }
        other => {
            let kind = one_line(other.unwrap_or("unknown"));
            writeln!(
                out,
                "{BOLD}#{seq} {kind}{BOLD:#}{DIM} (an entry this version does not show){written}{DIM:#}"
            )?;
        }
    }
    Ok(())
}

/// One message: its role, then each block.
fn message(out: &mut impl Write, message: &Message, limit: Option<usize>) -> io::Result<()> {
    let role = match message.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    const INDENT: usize = 13;
    let mut first = true;
    for block in &message.content {
        let lead = if first {
            format!("  {BOLD}{role:<10}{BOLD:#} ")
        } else {
            " ".repeat(INDENT)
        };
        let line = match block {
            ContentBlock::Text(value) => text(value, limit),
            ContentBlock::ToolUse(tool_use) => format!(
                "{TOOL}→ {} ({}){TOOL:#} {}",
                one_line(&tool_use.name),
                one_line(&tool_use.tool_use_id),
                json(&tool_use.input, limit)
            ),
            ContentBlock::ToolResult(result) => {
                let (style, word) = if result.is_error() {
                    (BAD, "error")
                } else {
                    (GOOD, "result")
                };
                let content: Vec<String> = result
                    .content
                    .iter()
                    .map(|content| tool_result_content(content, limit))
                    .collect();
                format!(
                    "{style}← {word} ({}){style:#} {}",
                    one_line(&result.tool_use_id),
                    content.join(" ")
                )
            }
            ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(reasoning)) => {
                format!(
                    "{THINKING}[thinking] {}{THINKING:#}",
                    text(&reasoning.text, limit)
                )
            }
            ContentBlock::ReasoningContent(_) => {
                format!("{THINKING}[redacted thinking]{THINKING:#}")
            }
            ContentBlock::Image(image) => format!(
                "{DIM}[image {} · {}]{DIM:#}",
                one_line(image.format.as_str()),
                one_line(&image.source.describe())
            ),
            ContentBlock::Document(document) => format!(
                "{DIM}[document {} {} · {}]{DIM:#}",
                one_line(&document.name),
                one_line(document.format.as_str()),
                one_line(&document.source.describe())
            ),
            ContentBlock::CachePoint(_) => continue,
            other => format!(
                "{DIM}[{}]{DIM:#} {}",
                other.type_name(),
                json(&serde_json::to_value(other).unwrap_or_default(), limit)
            ),
        };
        write!(out, "{lead}")?;
        write_block(out, INDENT, &line)?;
        first = false;
    }
    if first {
        writeln!(out, "  {BOLD}{role:<10}{BOLD:#} {DIM}(empty){DIM:#}")?;
    }
    Ok(())
}

fn tool_result_content(content: &ToolResultContent, limit: Option<usize>) -> String {
    match content {
        ToolResultContent::Json(value) => json(value, limit),
        ToolResultContent::Text(value) => text(value, limit),
        ToolResultContent::Image(image) => format!("[image {}]", one_line(image.format.as_str())),
        ToolResultContent::Document(document) => {
            format!("[document {}]", one_line(&document.name))
        }
        other => json(&serde_json::to_value(other).unwrap_or_default(), limit),
    }
}

/// One run's trace: status, times, usage, query, steps with thinking and tool calls, answer.
pub(crate) fn run(
    out: &mut impl Write,
    number: usize,
    reasoning: &Reasoning,
    limit: Option<usize>,
) -> io::Result<()> {
    let style = status_style(&reasoning.status);
    if reasoning.status == RunStatus::Damaged {
        // The store could not read this run's record: what stands in for it has no id, query
        // or steps, only the record's key and why (in its error). The other runs are whole.
        writeln!(
            out,
            "{BOLD}Run {number}{BOLD:#} {style}damaged{style:#}: its record in the store cannot \
             be read"
        )?;
        if let Some(error) = &reasoning.error {
            writeln!(out, "  {BAD}record:{BAD:#} {}", one_line(&error.message))?;
        }
        return Ok(());
    }
    write!(
        out,
        "{BOLD}Run {number}{BOLD:#} {DIM}{}{DIM:#} {style}{}{style:#} · {} step{}",
        reasoning.run_id,
        reasoning.status,
        reasoning.total_steps,
        if reasoning.total_steps == 1 { "" } else { "s" }
    )?;
    if let (Some(start), Some(end)) = (reasoning.started_at, reasoning.ended_at) {
        write!(out, " · {}", duration_ms(millis_between(start, end)))?;
    }
    writeln!(out, " · tokens {}", usage(&reasoning.usage))?;
    if let Some(start) = reasoning.started_at {
        write!(out, "  {DIM}started {}", timestamp(start))?;
        if let Some(end) = reasoning.ended_at {
            write!(out, " · ended {}", timestamp(end))?;
        }
        writeln!(out, "{DIM:#}")?;
    }
    write!(out, "  {BOLD}query:{BOLD:#} ")?;
    write_block(out, 9, &text(&reasoning.query, limit))?;
    for step in &reasoning.steps {
        write!(out, "  {BOLD}step {}{BOLD:#}", step.step_number)?;
        if let Some(at) = step.timestamp {
            write!(out, " {DIM}· {}", timestamp(at))?;
            if let Some(start) = reasoning.started_at {
                write!(out, " (+{})", duration_ms(millis_between(start, at)))?;
            }
            write!(out, "{DIM:#}")?;
        }
        writeln!(out, " · tokens {}", usage(&step.usage))?;
        if let Some(thinking) = &step.thinking {
            write!(out, "    {THINKING}thinking:{THINKING:#} ")?;
            write_block(out, 14, &text(thinking, limit))?;
        }
        for tool in &step.tools {
            tool_call(out, tool, hold_of(reasoning, tool), limit)?;
        }
    }
    if reasoning.step_limit_reached {
        writeln!(
            out,
            "  {WARN}step limit reached: the model was asked for its final answer{WARN:#}"
        )?;
    }
    if let Some(thinking) = &reasoning.final_thinking {
        write!(out, "  {THINKING}final thinking:{THINKING:#} ")?;
        write_block(out, 18, &text(thinking, limit))?;
    }
    if let Some(answer) = &reasoning.final_response {
        write!(out, "  {ANSWER}answer:{ANSWER:#} ")?;
        write_block(out, 10, &text(answer, limit))?;
    }
    if let Some(error) = &reasoning.error {
        writeln!(
            out,
            "  {BAD}error:{BAD:#} {}: {}",
            one_line(&error.kind),
            one_line(&error.message)
        )?;
    }
    interrupts(out, reasoning, limit)
}

/// What a paused run waits for, and what was decided on its held calls.
fn interrupts(out: &mut impl Write, reasoning: &Reasoning, limit: Option<usize>) -> io::Result<()> {
    let pending = &reasoning.pending_interrupts;
    if !pending.is_empty() {
        writeln!(
            out,
            "  {HELD}waiting for a decision:{HELD:#} {} held call{} (minimalagent sessions approve / deny)",
            pending.len(),
            if pending.len() == 1 { "" } else { "s" }
        )?;
        let now = jiff::Timestamp::now();
        for interrupt in pending {
            writeln!(
                out,
                "    {HELD}⏸ {}{HELD:#} {DIM}({}){DIM:#} {} · {}",
                one_line(&interrupt.tool),
                one_line(&interrupt.id),
                one_line(&shorten(&interrupt.reason, limit)),
                expiry(interrupt, now)
            )?;
            writeln!(out, "        input:  {}", json(&interrupt.input, limit))?;
        }
    } else if reasoning.status == RunStatus::Paused {
        writeln!(
            out,
            "  {HELD}every held call is decided:{HELD:#} the run goes on when a process running \
             the agent calls Agent::respond(session, Decisions::new())"
        )?;
    }
    if !reasoning.answered_interrupts.is_empty() {
        writeln!(out, "  {BOLD}decisions:{BOLD:#}")?;
        for answered in &reasoning.answered_interrupts {
            writeln!(
                out,
                "    {} {DIM}({}){DIM:#} → {} {DIM}· {}{DIM:#}",
                one_line(&answered.interrupt.tool),
                one_line(&answered.interrupt.id),
                decision(&answered.decision, limit),
                timestamp(answered.answered_at)
            )?;
        }
    }
    Ok(())
}

/// When a held call stops waiting.
pub(crate) fn expiry(interrupt: &Interrupt, now: jiff::Timestamp) -> String {
    match interrupt.expires_at {
        None => "never expires".to_owned(),
        Some(at) if interrupt.is_expired(now) => format!("expired {}", timestamp(at)),
        Some(at) => format!("expires {}", timestamp(at)),
    }
}

/// A decision in words, on one line.
pub(crate) fn decision(decision: &InterruptDecision, limit: Option<usize>) -> String {
    match decision {
        InterruptDecision::Approve => format!("{GOOD}approve{GOOD:#}"),
        InterruptDecision::ApproveAlways { this_input_only } => format!(
            "{GOOD}approve always{GOOD:#}{}",
            if *this_input_only {
                " (this input only)"
            } else {
                ""
            }
        ),
        InterruptDecision::ApproveWithInput { input } => {
            format!("{GOOD}approve with input{GOOD:#} {}", json(input, limit))
        }
        InterruptDecision::Deny { message } => {
            format!("{BAD}deny{BAD:#}: {}", one_line(&shorten(message, limit)))
        }
        InterruptDecision::Answer { output } => {
            format!(
                "{TOOL}answer in place of the tool{TOOL:#} {}",
                json(output, limit)
            )
        }
        InterruptDecision::Expired => {
            format!("{BAD}expired{BAD:#} (nobody decided in time: denied)")
        }
        other => one_line(other.as_str()),
    }
}

/// Where a tool call stands with respect to a person's decision.
#[derive(Clone, Copy)]
enum Hold<'a> {
    /// It runs (or ran) without one.
    None,
    /// It waits for one.
    Waiting,
    /// It was decided; the run has not gone on yet.
    Decided(&'a InterruptDecision),
}

/// Whether `tool`, which has not run, is held for a decision in `reasoning`.
fn hold_of<'a>(reasoning: &'a Reasoning, tool: &ToolInvocation) -> Hold<'a> {
    if tool.status != ToolCallStatus::Running {
        return Hold::None;
    }
    if reasoning
        .pending_interrupts
        .iter()
        .any(|held| held.id == tool.tool_use_id)
    {
        return Hold::Waiting;
    }
    reasoning
        .answered_interrupts
        .iter()
        .rev()
        .find(|answered| answered.interrupt.id == tool.tool_use_id)
        .map_or(Hold::None, |answered| Hold::Decided(&answered.decision))
}

fn tool_call(
    out: &mut impl Write,
    tool: &ToolInvocation,
    hold: Hold<'_>,
    limit: Option<usize>,
) -> io::Result<()> {
    let (style, mark) = match (hold, &tool.status) {
        (Hold::Waiting | Hold::Decided(_), _) => (HELD, "⏸"),
        (_, ToolCallStatus::Succeeded) => (GOOD, "✓"),
        (_, ToolCallStatus::Running) => (TOOL, "…"),
        (_, ToolCallStatus::Failed) => (BAD, "✗"),
        _ => (WARN, "?"),
    };
    write!(
        out,
        "    {style}{mark} {}{style:#} {DIM}({}){DIM:#}",
        one_line(&tool.name),
        one_line(&tool.tool_use_id)
    )?;
    match (hold, &tool.status) {
        (Hold::Waiting, _) => write!(out, " waiting for a decision")?,
        (Hold::Decided(decided), _) => write!(
            out,
            " decided ({}), waiting for the run to go on",
            one_line(decided.as_str())
        )?,
        (Hold::None, ToolCallStatus::Running) => write!(out, " running")?,
        (Hold::None, ToolCallStatus::Succeeded) => {}
        (Hold::None, other) => write!(out, " {}", one_line(&status_name(other)))?,
    }
    if let Some(ms) = tool.duration_ms {
        write!(out, " · {}", duration_ms(ms))?;
    }
    writeln!(out)?;
    writeln!(out, "        input:  {}", json(&tool.inputs, limit))?;
    if let Some(result) = &tool.result {
        writeln!(out, "        result: {}", json(result, limit))?;
    }
    if let Some(error) = &tool.error {
        writeln!(
            out,
            "        {BAD}error:{BAD:#}  {}: {}",
            error.kind,
            text(&error.message, limit)
        )?;
    }
    Ok(())
}

fn status_name(status: &ToolCallStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

pub(crate) fn heading(out: &mut impl Write, title: &str) -> io::Result<()> {
    writeln!(out, "\n{HEADING}{title}{HEADING:#}")
}

// ---------------------------------------------------------------------------------- follow

/// Shown parts of streamed text and inputs in `follow`.
const FOLLOW_CHARS: usize = 300;

/// One followed event on one line, starting with the position to resume from.
pub(crate) fn followed(out: &mut impl Write, followed: &FollowedEvent) -> io::Result<()> {
    let limit = Some(FOLLOW_CHARS);
    let kind = followed.event.type_name();
    let detail = match &followed.event {
        AgentEvent::RunStarted {
            query, started_at, ..
        } => format!(
            "{BOLD}{}{BOLD:#} {DIM}{}{DIM:#}",
            one_line(&shorten(query, limit)),
            timestamp(*started_at)
        ),
        AgentEvent::TextDelta { step, text } => {
            format!("step {step}: {}", one_line(&shorten(text, limit)))
        }
        AgentEvent::ThinkingDelta { step, text } => format!(
            "step {step}: {THINKING}{}{THINKING:#}",
            one_line(&shorten(text, limit))
        ),
        AgentEvent::ToolCallStarted {
            step,
            tool_use_id,
            name,
        } => format!(
            "step {step}: {TOOL}{}{TOOL:#} ({})",
            one_line(name),
            one_line(tool_use_id)
        ),
        AgentEvent::ToolInputComplete {
            step,
            tool_use_id,
            name,
            input,
            error,
        } => match error {
            None => format!(
                "step {step}: {TOOL}{}{TOOL:#} ({}) {}",
                one_line(name),
                one_line(tool_use_id),
                json(input, limit)
            ),
            Some(error) => format!(
                "step {step}: {BAD}{} ({}) bad input: {}{BAD:#}",
                one_line(name),
                one_line(tool_use_id),
                one_line(error)
            ),
        },
        AgentEvent::ModelReply {
            step,
            message,
            stop_reason,
            usage: used,
            ..
        } => format!(
            "step {step}: {} · tokens {} · {}",
            one_line(stop_reason.as_str()),
            usage(used),
            one_line(&shorten(&message.text(), limit))
        ),
        AgentEvent::StepLimitReached { step, max_steps } => {
            format!("step {step}: {WARN}the step limit ({max_steps}) is reached{WARN:#}")
        }
        AgentEvent::ToolResult { step, invocation } => {
            let outcome = match (&invocation.result, &invocation.error) {
                (_, Some(error)) => format!(
                    "{BAD}{}: {}{BAD:#}",
                    error.kind,
                    one_line(&shorten(&error.message, limit))
                ),
                (Some(result), None) => json(result, limit),
                (None, None) => String::new(),
            };
            format!(
                "step {step}: {TOOL}{}{TOOL:#} ({}) {}{} {outcome}",
                one_line(&invocation.name),
                one_line(&invocation.tool_use_id),
                status_name(&invocation.status),
                invocation
                    .duration_ms
                    .map(|ms| format!(" in {}", duration_ms(ms)))
                    .unwrap_or_default()
            )
        }
        AgentEvent::StepFinished { step } => format!("step {step}"),
        AgentEvent::ToolExecutionStarted {
            step,
            tool_use_id,
            name,
        } => format!(
            "step {step}: {TOOL}{}{TOOL:#} ({}) runs",
            one_line(name),
            one_line(tool_use_id)
        ),
        AgentEvent::StateChanged { step, changes } => {
            let keys: Vec<String> = changes.iter().map(|(key, _)| one_line(key)).collect();
            format!(
                "step {step}: session state: {}",
                shorten(&keys.join(", "), limit)
            )
        }
        AgentEvent::InterruptRequested { step, interrupt } => format!(
            "step {step}: {HELD}{} ({}) waits for a decision{HELD:#}: {} · input {} · {}",
            one_line(&interrupt.tool),
            one_line(&interrupt.id),
            one_line(&shorten(&interrupt.reason, limit)),
            json(&interrupt.input, limit),
            expiry(interrupt, jiff::Timestamp::now())
        ),
        AgentEvent::InterruptAnswered {
            step,
            interrupt_id,
            decision: decided,
            answered_at,
        } => format!(
            "step {step}: ({}) {} {DIM}{}{DIM:#}",
            one_line(interrupt_id),
            decision(decided, limit),
            timestamp(*answered_at)
        ),
        AgentEvent::Usage {
            step,
            usage: used,
            latency_ms,
        } => format!(
            "step {step}: tokens {}{}",
            usage(used),
            latency_ms
                .map(|ms| format!(" · {}", duration_ms(ms)))
                .unwrap_or_default()
        ),
        AgentEvent::ModelRetry {
            step,
            attempt,
            error,
        } => format!(
            "step {step}: {WARN}attempt {attempt} failed, retrying: {}{WARN:#}",
            one_line(error)
        ),
        AgentEvent::RunFinished { result } => format!(
            "{GOOD}completed{GOOD:#} after {} steps{} · tokens {}: {ANSWER}{}{ANSWER:#}",
            result.reasoning.total_steps,
            run_duration(&result.reasoning),
            usage(&result.reasoning.usage),
            one_line(&shorten(&result.response, limit))
        ),
        AgentEvent::RunEnded { reasoning } => {
            let style = status_style(&reasoning.status);
            format!(
                "{style}{}{style:#} after {} steps{}{}",
                reasoning.status,
                reasoning.total_steps,
                run_duration(reasoning),
                reasoning
                    .error
                    .as_ref()
                    .map(|e| format!(": {}: {}", one_line(&e.kind), one_line(&e.message)))
                    .unwrap_or_default()
            )
        }
        _ => String::new(),
    };
    writeln!(
        out,
        "{DIM}{}{DIM:#} run {} {BOLD}{kind}{BOLD:#} {detail}",
        followed.position, followed.run
    )
}

fn run_duration(reasoning: &Reasoning) -> String {
    match (reasoning.started_at, reasoning.ended_at) {
        (Some(start), Some(end)) => format!(" in {}", duration_ms(millis_between(start, end))),
        _ => String::new(),
    }
}
