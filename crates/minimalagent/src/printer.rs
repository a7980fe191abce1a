//! The coloured reasoning trace that `show_reasoning` prints to stderr, as the run streams.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::mpsc::{Sender, channel};

use agent_core::{AgentEvent, EventSink, RunStatus, ToolCallStatus};
use anstyle::{AnsiColor, Style};

/// Prints each event of a run to stderr as it happens: the query, the model's text and
/// thinking as they stream, tool calls with their inputs, results or errors, and the end of
/// the run with its step count.
///
/// Writing happens on a thread of its own, so a slow or blocked terminal never holds up the
/// runtime. Colours follow the terminal: plain text when stderr is not a terminal or
/// `NO_COLOR` is set (the `anstream` conventions, `CLICOLOR_FORCE` included).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReasoningPrinter;

/// The longest tool input or result shown in full; longer ones are cut in the display only.
const SHOWN_CHARS: usize = 600;

const HEADER: Style = Style::new().bold();
const THINKING: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Magenta)));
const TOOL: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));
const SUCCESS: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
const FAILURE: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
const ANSWER: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Blue)));

fn shorten(text: String) -> String {
    if text.chars().count() <= SHOWN_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(SHOWN_CHARS).collect();
    cut.push_str(" …");
    cut
}

/// Renders one event as the text the printer shows (empty for events it does not show).
pub(crate) fn render(event: &AgentEvent) -> String {
    match event {
        AgentEvent::RunStarted { query, .. } => format!("{HEADER}Query:{HEADER:#} {query}\n"),
        AgentEvent::TextDelta { text, .. } => text.clone(),
        AgentEvent::ThinkingDelta { text, .. } => format!("{THINKING}{text}{THINKING:#}"),
        // A tool's input is complete while the reply is still streaming, often right after
        // text on the same line: each tool line starts a line of its own, and the end of the
        // reply ends the last one.
        AgentEvent::ModelReply { .. } => "\n".to_owned(),
        AgentEvent::ToolInputComplete {
            name, input, error, ..
        } => match error {
            None => format!(
                "\n  {TOOL}Tool {name}{TOOL:#} {}",
                shorten(input.to_string())
            ),
            Some(error) => format!("\n  {FAILURE}Tool {name}: {error}{FAILURE:#}"),
        },
        AgentEvent::ToolResult { invocation, .. } => {
            match (&invocation.status, &invocation.error) {
                (ToolCallStatus::Succeeded, _) => format!(
                    "  {SUCCESS}Result of {}:{SUCCESS:#} {}\n",
                    invocation.name,
                    shorten(
                        invocation
                            .result
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    )
                ),
                (_, Some(error)) => format!(
                    "  {FAILURE}Error from {} ({}):{FAILURE:#} {}\n",
                    invocation.name, error.kind, error.message
                ),
                _ => String::new(),
            }
        }
        AgentEvent::StepLimitReached { max_steps, .. } => format!(
            "  {FAILURE}Step limit ({max_steps}) reached: asking for the final answer{FAILURE:#}\n"
        ),
        AgentEvent::ModelRetry { error, .. } => {
            format!("\n  {FAILURE}The reply broke off ({error}); asking again{FAILURE:#}\n")
        }
        AgentEvent::RunFinished { result } => {
            let steps = result.reasoning.total_steps;
            format!(
                "{ANSWER}Answered{ANSWER:#} after {steps} step{} ({})\n",
                if steps == 1 { "" } else { "s" },
                result.outcome.as_str()
            )
        }
        AgentEvent::RunEnded { reasoning } => {
            let message = reasoning
                .error
                .as_ref()
                .map_or("no reason given", |error| error.message.as_str());
            let what = match reasoning.status {
                RunStatus::Cancelled => "Run cancelled",
                RunStatus::Interrupted => "Run interrupted",
                _ => "Run failed",
            };
            format!("\n{FAILURE}{what}:{FAILURE:#} {message}\n")
        }
        _ => String::new(),
    }
}

/// The printing thread, started on first use and shared by every printer of the process.
fn printer_thread() -> &'static Option<std::sync::Mutex<Sender<String>>> {
    static THREAD: OnceLock<Option<std::sync::Mutex<Sender<String>>>> = OnceLock::new();
    THREAD.get_or_init(|| {
        let (sender, texts) = channel::<String>();
        let started = std::thread::Builder::new()
            .name("minimalagent-trace".to_owned())
            .spawn(move || {
                for text in texts {
                    // anstream strips the colour codes when stderr is not a terminal or
                    // NO_COLOR is set. A closed stderr must not fail anything: the trace is a
                    // courtesy.
                    let mut stderr = anstream::stderr().lock();
                    let _ = stderr.write_all(text.as_bytes());
                    let _ = stderr.flush();
                }
            });
        started.ok().map(|_| std::sync::Mutex::new(sender))
    })
}

impl EventSink for ReasoningPrinter {
    fn emit(&self, event: &AgentEvent) {
        let text = render(event);
        if text.is_empty() {
            return;
        }
        if let Some(sender) = printer_thread() {
            let sender = sender
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = sender.send(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_core::{Reasoning, RunResult, TokenUsage, ToolInvocation};
    use serde_json::json;

    fn plain(event: &AgentEvent) -> String {
        anstream::adapter::strip_str(&render(event)).to_string()
    }

    #[test]
    fn renders_text_tools_and_the_end() {
        let started = AgentEvent::RunStarted {
            run_id: uuid::Uuid::nil(),
            session_id: None,
            query: "weather?".into(),
            started_at: jiff::Timestamp::UNIX_EPOCH,
        };
        assert_eq!(plain(&started), "Query: weather?\n");
        assert_eq!(
            plain(&AgentEvent::TextDelta {
                step: 1,
                text: "Sun".into()
            }),
            "Sun"
        );
        let input = AgentEvent::ToolInputComplete {
            step: 1,
            tool_use_id: "t".into(),
            name: "get_weather".into(),
            input: json!({"location": "Seattle"}),
            error: None,
        };
        assert!(
            render(&input).contains("\u{1b}["),
            "coloured before stripping"
        );
        assert_eq!(
            plain(&input),
            "\n  Tool get_weather {\"location\":\"Seattle\"}"
        );
        let result = AgentEvent::ToolResult {
            step: 1,
            invocation: ToolInvocation {
                name: "get_weather".into(),
                tool_use_id: "t".into(),
                inputs: json!({}),
                result: Some(json!({"temp": 12})),
                status: ToolCallStatus::Succeeded,
                error: None,
                duration_ms: Some(1),
            },
        };
        assert_eq!(plain(&result), "  Result of get_weather: {\"temp\":12}\n");
        let mut reasoning = Reasoning::start("q", None);
        reasoning.total_steps = 1;
        reasoning.usage = TokenUsage::new(1, 1);
        let finished = AgentEvent::RunFinished {
            result: Box::new(RunResult::new("12 degrees".into(), reasoning, Vec::new())),
        };
        assert_eq!(plain(&finished), "Answered after 1 step (answered)\n");
    }
}
