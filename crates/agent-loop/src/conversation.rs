//! Keeping the conversation valid for Converse: the run's user turn, the step-limit prompt, and
//! the final reply as it enters the conversation.

use std::sync::Arc;

use agent_core::{ContentBlock, Message, Role, ToolResult};
use jiff::Timestamp;

/// The line that tells the model the time of a user turn: `Current time: 2026-12-07T11:00:00Z`,
/// as the Python MinimalAgent wrote it.
///
/// The Python original put it at the start of the system prompt, so the prompt changed every
/// second and no request could read an earlier one's prompt cache (the cached prefix is tools,
/// then system, then messages). Here it is the last block of each run's user turn and is kept
/// with the turn: the prefix every later turn sends is the one this turn cached.
pub fn time_line(now: Timestamp) -> String {
    format!("Current time: {}", now.strftime("%Y-%m-%dT%H:%M:%SZ"))
}

/// Whether a content block is a user turn's [`time_line`].
pub fn is_time_line(block: &ContentBlock) -> bool {
    matches!(block, ContentBlock::Text(text) if text.starts_with("Current time: ") && text.len() <= 40)
}

/// The text sent with the "not run" tool results when a run reaches its step limit.
pub fn step_limit_prompt(max_steps: u32) -> String {
    format!(
        "Maximum number of tool use iterations ({max_steps}) reached. \
         Please provide a response with the information gathered so far, without calling tools."
    )
}

/// The message given to the model for a tool call skipped at the step limit.
pub const STEP_LIMIT_NOT_RUN: &str = "step limit reached; not run";

/// The message given to the model for a tool call left unanswered by an earlier run.
pub const EARLIER_RUN_NOT_RUN: &str = "the earlier run ended before this tool ran; not run";

/// The text stored for a final reply that held nothing but tool requests.
pub const NO_ANSWER: &str = "(no answer)";

/// The assistant turn inserted between two user messages found in a stored history.
pub const NO_REPLY: &str = "(no reply was recorded for the previous message)";

/// A final reply as it enters the conversation: tool calls nobody will answer are dropped (only
/// a reply to the step-limit prompt can still hold them).
pub(crate) fn final_message(mut message: Message) -> Message {
    let before = message.content.len();
    message
        .content
        .retain(|block| !matches!(block, ContentBlock::ToolUse(_)));
    if message.content.len() != before {
        tracing::warn!(
            dropped = before - message.content.len(),
            "the model asked for tools after the step limit; those requests were dropped"
        );
    }
    message
}

/// Appends the query as a user turn, keeping the conversation valid for Converse without
/// changing the messages already there (stores append; they never rewrite history):
/// toolUse blocks nobody answered (a run that stopped on its last allowed model reply) get
/// "not run" results in the new turn, and a history that ends with a user message (written by
/// another program) gets an empty-handed assistant reply first so that roles alternate. The
/// turn ends with the [`time_line`].
///
/// Returns the ids of the calls it answered.
pub(crate) fn push_user_turn(
    history: &mut Vec<Arc<Message>>,
    query: Vec<ContentBlock>,
    now: Timestamp,
) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut answered = Vec::new();
    match history.last() {
        Some(last) if last.role == Role::Assistant => {
            for tool_use in last.tool_uses() {
                answered.push(tool_use.tool_use_id.clone());
                blocks.push(ContentBlock::ToolResult(ToolResult::error(
                    &tool_use.tool_use_id,
                    EARLIER_RUN_NOT_RUN,
                )));
            }
        }
        Some(_) => history.push(Arc::new(Message::assistant_text(NO_REPLY))),
        None => {}
    }
    blocks.extend(query);
    blocks.push(ContentBlock::Text(time_line(now)));
    history.push(Arc::new(Message::user(blocks)));
    answered
}

/// Answers the tool calls inside a stored history that the next user message does not answer
/// (a crashed process, a session written by another program), with error results at the start
/// of that message, so that the request is valid. The stored history is not rewritten: the
/// repair is made again for each request. (Calls in the last message are answered by the run's
/// own user turn, see [`push_user_turn`], and kept with it.) A repaired message is the run's
/// own copy; the shared one is left as it was. Returns the ids answered.
pub(crate) fn repair_history(history: &mut [Arc<Message>]) -> Vec<String> {
    let mut answered = Vec::new();
    for at in 1..history.len() {
        let (before, after) = history.split_at_mut(at);
        let (Some(call), Some(reply)) = (before.last(), after.first_mut()) else {
            continue;
        };
        if call.role != Role::Assistant || reply.role != Role::User {
            continue;
        }
        let missing: Vec<String> = call
            .tool_uses()
            .filter(|tool_use| {
                !reply.content.iter().any(|block| {
                    matches!(block, ContentBlock::ToolResult(result) if result.tool_use_id == tool_use.tool_use_id)
                })
            })
            .map(|tool_use| tool_use.tool_use_id.clone())
            .collect();
        if missing.is_empty() {
            continue;
        }
        let results = missing
            .iter()
            .map(|id| ContentBlock::ToolResult(ToolResult::error(id, EARLIER_RUN_NOT_RUN)));
        Arc::make_mut(reply).content.splice(0..0, results);
        answered.extend(missing);
    }
    answered
}
