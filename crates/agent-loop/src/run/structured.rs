//! Typed answers: the model answers by calling a final tool whose input schema is the answer's
//! shape; an answer that does not fit is sent back with what is wrong, up to a bound.

use agent_core::{ContentBlock, Message, ModelResponse, Role, ToolError, ToolUse};
use serde_json::Value;

use super::RunState;
use crate::error::RunError;
use crate::input::StructuredAnswer;

impl RunState<'_> {
    /// Decides what a reply means for a structured answer.
    pub(super) fn structured_reply(
        &mut self,
        answer: &StructuredAnswer,
        response: &ModelResponse,
        calls: &[ToolUse],
    ) -> StructuredStep {
        let final_call = calls.iter().find(|c| c.name == answer.tool_name).cloned();
        let candidate = match &final_call {
            Some(call) => Some(call.input.clone()),
            // A model that answers in text may still have written the JSON.
            None if calls.is_empty() => json_in_text(&response.message.text()),
            None => return StructuredStep::Continue,
        };
        let verdict = match &candidate {
            Some(value) => (answer.check)(value).map(|()| value.clone()),
            None => Err("the answer was text, not a call of the answer tool".to_owned()),
        };
        match verdict {
            Ok(value) => StructuredStep::Done(value),
            Err(error) => {
                self.structured_failures += 1;
                if self.structured_failures >= answer.max_attempts.max(1) {
                    return StructuredStep::Failed(RunError::InvalidStructuredAnswer {
                        attempts: self.structured_failures,
                        error,
                    });
                }
                match final_call {
                    // The call stays a tool step: its error result tells the model what to fix.
                    Some(_) => StructuredStep::Continue,
                    None => StructuredStep::AskAgain(format!(
                        "{error}. Give your answer by calling the `{}` tool.",
                        answer.tool_name
                    )),
                }
            }
        }
    }

    /// The error result for a call of the structured-answer tool that did not fit.
    pub(super) fn structured_error(&self, call: &ToolUse) -> Option<ToolError> {
        let answer = self.structured.as_ref()?;
        if answer.tool_name != call.name {
            return None;
        }
        let error = match (answer.check)(&call.input) {
            Ok(()) => return None,
            Err(error) => error,
        };
        Some(ToolError::invalid_input(format!(
            "the answer does not fit the required shape: {error}. Call `{}` again with a \
             corrected answer.",
            answer.tool_name
        )))
    }
}

pub(crate) enum StructuredStep {
    Done(Value),
    Failed(RunError),
    AskAgain(String),
    Continue,
}

/// The final message of a structured answer: the reply's reasoning, then the answer as JSON
/// text, so the conversation holds the answer without an unanswered tool call.
pub(crate) fn structured_message(reply: &Message, answer: &Value) -> Message {
    let mut content: Vec<ContentBlock> = reply
        .content
        .iter()
        .filter(|block| matches!(block, ContentBlock::ReasoningContent(_)))
        .cloned()
        .collect();
    content.push(ContentBlock::Text(answer.to_string()));
    Message {
        role: Role::Assistant,
        content,
    }
}

/// The first JSON object in `text` (whole, or inside a code fence), if there is one.
pub(crate) fn json_in_text(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    if let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(trimmed) {
        return Some(value);
    }
    let start = trimmed.find('{')?;
    let end = trimmed.rfind('}')?;
    (start < end)
        .then(|| serde_json::from_str::<Value>(&trimmed[start..=end]).ok())
        .flatten()
        .filter(Value::is_object)
}
