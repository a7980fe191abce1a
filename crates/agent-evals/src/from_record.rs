//! Cases made from recorded runs: what a run did becomes what a later run must do.

use agent_core::{Message, Role};
use agent_testkit::Recording;

use crate::case::{AnswerChecks, EvalCase, ExpectedCall, Limits, ToolChecks};

/// One case per recorded run of `recording` (named `{prefix}-{n}`), asking the run's query
/// after the turns before it, and checking that the run answers as recorded (`answer.equals`),
/// calls the tools it called with the inputs it gave, in that order, and takes no more steps.
/// Loosen the checks for live runs (an `equals` suits a replay; a live model words its answer
/// anew).
pub fn cases_from_recording(recording: &Recording, prefix: &str) -> Vec<EvalCase> {
    let mut conversation: Vec<Message> = Vec::new();
    let mut cases = Vec::new();
    for (at, run) in recording.runs().iter().enumerate() {
        let mut case = EvalCase::new(format!("{prefix}-{}", at + 1), run.query());
        case.conversation.clone_from(&conversation);
        if let Some(answer) = run
            .messages
            .iter()
            .rev()
            .find(|message| message.role == Role::Assistant)
        {
            case.answer = AnswerChecks {
                equals: Some(answer.text()),
                ..AnswerChecks::default()
            };
        }
        let calls: Vec<ExpectedCall> = run
            .messages
            .iter()
            .flat_map(Message::tool_uses)
            .map(|call| ExpectedCall::with_input(call.name.clone(), call.input.clone()))
            .collect();
        case.tools = ToolChecks {
            order: calls.iter().map(|call| call.name.clone()).collect(),
            called: calls,
            never: Vec::new(),
        };
        if let Some(trace) = &run.reasoning {
            case.limits = Limits {
                max_steps: Some(trace.total_steps),
                ..Limits::default()
            };
        }
        cases.push(case);
        conversation.extend(run.messages.iter().cloned());
    }
    cases
}
