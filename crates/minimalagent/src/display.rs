//! The coloured reasoning trace that `show_reasoning` prints to stderr.

use std::io::Write;

use agent_core::{Reasoning, RunEvent, RunObserver, ToolCallStatus, async_trait};
use anstyle::{AnsiColor, Style};

/// Prints each event of a run to stderr as it happens: the query, each step's thinking, tool
/// calls with their inputs, results or errors, and the final answer with the step count.
///
/// Colours follow the terminal: plain text when stderr is not a terminal or `NO_COLOR` is set
/// (the `anstream` conventions, `CLICOLOR_FORCE` included).
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

/// Renders one event as the lines the printer shows.
pub(crate) fn render(event: RunEvent<'_>, reasoning: &Reasoning) -> String {
    let mut out = String::new();
    match event {
        RunEvent::Started => {
            out.push_str(&format!("{HEADER}Query:{HEADER:#} {}\n", reasoning.query));
        }
        RunEvent::StepStarted { step } => {
            out.push_str(&format!("{HEADER}Step {}{HEADER:#}\n", step.step_number));
            if let Some(thinking) = &step.thinking {
                out.push_str(&format!("  {THINKING}Thinking:{THINKING:#} {thinking}\n"));
            }
            for tool in &step.tools {
                out.push_str(&format!(
                    "  {TOOL}Tool {}{TOOL:#} {}\n",
                    tool.name,
                    shorten(tool.inputs.to_string())
                ));
            }
        }
        RunEvent::ToolFinished { tool, .. } => match (&tool.status, &tool.error) {
            (ToolCallStatus::Succeeded, _) => {
                let result = tool
                    .result
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  {SUCCESS}Result of {}:{SUCCESS:#} {}\n",
                    tool.name,
                    shorten(result)
                ));
            }
            (_, Some(error)) => {
                out.push_str(&format!(
                    "  {FAILURE}Error from {} ({}):{FAILURE:#} {}\n",
                    tool.name, error.kind, error.message
                ));
            }
            _ => {}
        },
        RunEvent::Completed { response } => {
            if let Some(thinking) = &reasoning.final_thinking {
                out.push_str(&format!(
                    "{THINKING}Final thinking:{THINKING:#} {thinking}\n"
                ));
            }
            out.push_str(&format!(
                "{ANSWER}Answer{ANSWER:#} after {} step{}: {response}\n",
                reasoning.total_steps,
                if reasoning.total_steps == 1 { "" } else { "s" }
            ));
        }
        RunEvent::Failed => {
            let message = reasoning
                .error
                .as_ref()
                .map_or("unknown error", |error| error.message.as_str());
            out.push_str(&format!("{FAILURE}Run failed:{FAILURE:#} {message}\n"));
        }
        _ => {}
    }
    out
}

#[async_trait]
impl RunObserver for ReasoningPrinter {
    async fn on_event(&self, event: RunEvent<'_>, reasoning: &Reasoning) {
        let text = render(event, reasoning);
        if text.is_empty() {
            return;
        }
        // anstream strips the colour codes when stderr is not a terminal or NO_COLOR is set.
        let mut stderr = anstream::stderr().lock();
        // A closed stderr must not fail the run; the trace is a courtesy.
        let _ = stderr.write_all(text.as_bytes());
        let _ = stderr.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_core::{ReasoningStep, TokenUsage, ToolInvocation};
    use serde_json::json;

    #[test]
    fn renders_steps_tools_and_answers() {
        let mut reasoning = Reasoning::start("weather?", None);
        let step = ReasoningStep {
            step_number: 1,
            timestamp: None,
            thinking: Some("look it up".into()),
            tools: vec![ToolInvocation {
                name: "get_weather".into(),
                tool_use_id: "t".into(),
                inputs: json!({"location": "Seattle"}),
                result: Some(json!({"temp": 12})),
                status: ToolCallStatus::Succeeded,
                error: None,
                duration_ms: Some(1),
            }],
            usage: TokenUsage::default(),
        };
        let started =
            anstream::adapter::strip_str(&render(RunEvent::Started, &reasoning)).to_string();
        assert_eq!(started, "Query: weather?\n");
        let text = render(RunEvent::StepStarted { step: &step }, &reasoning);
        assert!(text.contains("\u{1b}["), "coloured before stripping");
        let plain = anstream::adapter::strip_str(&text).to_string();
        assert_eq!(
            plain,
            "Step 1\n  Thinking: look it up\n  Tool get_weather {\"location\":\"Seattle\"}\n"
        );
        let finished = render(
            RunEvent::ToolFinished {
                step: &step,
                tool: &step.tools[0],
            },
            &reasoning,
        );
        assert!(
            anstream::adapter::strip_str(&finished)
                .to_string()
                .contains("Result of get_weather: {\"temp\":12}")
        );
        reasoning.total_steps = 1;
        let done = render(
            RunEvent::Completed {
                response: "12 degrees",
            },
            &reasoning,
        );
        assert_eq!(
            anstream::adapter::strip_str(&done).to_string(),
            "Answer after 1 step: 12 degrees\n"
        );
    }
}
