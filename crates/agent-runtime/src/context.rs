//! Context policies: what part of a session's conversation the model sees, and how a
//! conversation too long for the model is made smaller — persisted with the session.

use std::sync::{Arc, Mutex, PoisonError};

use agent_core::{ContentBlock, Message, Model, ModelRequest, Role, TokenUsage, async_trait};
use agent_loop::{Compacted, ContextCompactor, estimate_tokens};
use agent_session::Summary;

/// What the model sees of a session's conversation.
///
/// Windows and summaries never split a tool call from its result and always start the
/// conversation with the user's text, as Converse requires: they cut only between turns (a
/// turn is one run's messages). The whole history always stays in the store, readable with
/// `Agent::conversation`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ContextPolicy {
    /// Every message of the session (the default, and the Python MinimalAgent's behaviour). A
    /// conversation that outgrows the model's context window fails with
    /// `ContextWindowExceeded`, naming the session and its size.
    #[default]
    WholeHistory,
    /// The newest turns within a limit. When the model still says the request is too long, the
    /// window is halved (at most three times per run).
    Window(Window),
    /// A summary of older turns and the newest turns within a limit. When the turns after the
    /// summary grow past `summarize_above` tokens, the model writes a new summary of all but the
    /// newest turns; it is stored in the session as its own entry, so later loads read summary
    /// plus tail and never summarise the same turns again.
    Summarize(SummaryPolicy),
}

/// A limit on the newest turns the model sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Window {
    /// At most this many messages (whole turns only; the newest turn is always kept).
    Messages(usize),
    /// At most about this many tokens (estimated as a quarter of the JSON size; whole turns
    /// only; the newest turn is always kept).
    Tokens(u64),
}

/// How a summarising policy works.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SummaryPolicy {
    /// The newest turns kept word for word after the summary.
    pub keep: Window,
    /// Summarise when the turns after the summary exceed about this many tokens.
    pub summarize_above: u64,
    /// The instruction the model gets to write the summary.
    pub instruction: String,
}

/// The default instruction for writing a summary.
pub const SUMMARY_INSTRUCTION: &str = "Summarise the conversation below for your own later use. \
Keep every fact, name, number, decision and open question the user or the tools gave; drop \
pleasantries. Write plain prose, at most 300 words.";

impl SummaryPolicy {
    /// Keep `keep` after the summary; summarise above `summarize_above` tokens.
    pub fn new(keep: Window, summarize_above: u64) -> Self {
        Self {
            keep,
            summarize_above,
            instruction: SUMMARY_INSTRUCTION.to_owned(),
        }
    }

    /// The same policy with this summary instruction.
    #[must_use]
    pub fn with_instruction(mut self, instruction: impl Into<String>) -> Self {
        self.instruction = instruction.into();
        self
    }
}

impl ContextPolicy {
    /// A window of the newest `n` messages.
    pub fn window_messages(n: usize) -> Self {
        ContextPolicy::Window(Window::Messages(n.max(1)))
    }

    /// A window of about `n` tokens.
    pub fn window_tokens(n: u64) -> Self {
        ContextPolicy::Window(Window::Tokens(n.max(1)))
    }

    /// A summary plus the newest turns within `keep`, summarising above `summarize_above`
    /// tokens.
    pub fn summarize(keep: Window, summarize_above: u64) -> Self {
        ContextPolicy::Summarize(SummaryPolicy::new(keep, summarize_above))
    }

    /// Whether the model sees every message (so a cached copy must be whole).
    pub fn needs_whole_history(&self) -> bool {
        matches!(self, ContextPolicy::WholeHistory)
    }
}

/// One turn of the conversation: the sequence number of its entry and its messages.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Turn {
    pub(crate) seq: u64,
    pub(crate) messages: Arc<[Arc<Message>]>,
}

/// How many of the newest `turns` fit `window` (at least one when there is any).
pub(crate) fn turns_within(turns: &[Turn], window: Window) -> usize {
    let mut used_messages = 0usize;
    let mut used_tokens = 0u64;
    let mut count = 0;
    for turn in turns.iter().rev() {
        let fits = match window {
            Window::Messages(limit) => used_messages + turn.messages.len() <= limit,
            Window::Tokens(limit) => used_tokens + estimate_tokens(&turn.messages) <= limit,
        };
        if !fits && count > 0 {
            break;
        }
        used_messages += turn.messages.len();
        if matches!(window, Window::Tokens(_)) {
            used_tokens += estimate_tokens(&turn.messages);
        }
        count += 1;
    }
    count
}

/// The messages of `turns`, made a valid start of a conversation: `toolResult` blocks whose
/// `toolUse` was cut off with earlier turns are dropped from the first message.
pub(crate) fn messages_of(turns: &[Turn]) -> Vec<Arc<Message>> {
    let mut messages: Vec<Arc<Message>> =
        Vec::with_capacity(turns.iter().map(|turn| turn.messages.len()).sum());
    for turn in turns {
        messages.extend(turn.messages.iter().cloned());
    }
    if let Some(shared) = messages.first_mut()
        && shared.role == Role::User
        && shared
            .content
            .iter()
            .any(|block| matches!(block, ContentBlock::ToolResult(_)))
    {
        // The run's own copy of this one message; the cached turn keeps it whole.
        let first = Arc::make_mut(shared);
        first
            .content
            .retain(|block| !matches!(block, ContentBlock::ToolResult(_)));
        if first.content.is_empty() {
            first.content.push(ContentBlock::Text(
                "(the start of this conversation was left out)".to_owned(),
            ));
        }
    }
    messages
}

/// The system note carrying a summary.
pub(crate) fn summary_note(summary: &Summary) -> String {
    format!(
        "Summary of the earlier conversation ({} messages):\n{}",
        summary.messages, summary.text
    )
}

/// A conversation as text, for the model to summarise.
fn transcript(previous: Option<&Summary>, turns: &[Turn]) -> String {
    let mut out = String::new();
    if let Some(summary) = previous {
        out.push_str("Summary so far:\n");
        out.push_str(&summary.text);
        out.push_str("\n\n");
    }
    for message in turns.iter().flat_map(|turn| turn.messages.iter()) {
        let who = match message.role {
            Role::User => "User",
            Role::Assistant => "Assistant",
        };
        for block in &message.content {
            let line = match block {
                ContentBlock::Text(text) => text.clone(),
                ContentBlock::ToolUse(call) => format!("[calls {} with {}]", call.name, call.input),
                ContentBlock::ToolResult(result) => {
                    format!(
                        "[tool result: {}]",
                        serde_json::to_string(&result.content).unwrap_or_default()
                    )
                }
                ContentBlock::Image(image) => format!("[image, {}]", image.format.as_str()),
                ContentBlock::Document(document) => format!("[document {}]", document.name),
                _ => continue,
            };
            out.push_str(who);
            out.push_str(": ");
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Asks `model` for a summary of `turns` (after `previous`, when there is one).
pub(crate) async fn summarise(
    model: &dyn Model,
    instruction: &str,
    previous: Option<&Summary>,
    turns: &[Turn],
    usage: &Mutex<TokenUsage>,
) -> Option<Summary> {
    let last = turns.last()?;
    let request = ModelRequest::new(vec![Message::user_text(format!(
        "{instruction}\n\n<conversation>\n{}</conversation>",
        transcript(previous, turns)
    ))]);
    match model.converse(&request).await {
        Ok(response) => {
            // The summary is part of the run's cost: its tokens join the run's usage.
            *usage.lock().unwrap_or_else(PoisonError::into_inner) += response.usage;
            let text = response.message.text();
            if text.trim().is_empty() {
                return None;
            }
            let covered = previous.map_or(0, |s| s.messages)
                + turns.iter().map(|t| t.messages.len() as u64).sum::<u64>();
            Some(Summary::new(text.trim(), last.seq, covered))
        }
        Err(error) => {
            tracing::warn!(%error, "the model could not write a summary; the window is used as it is");
            None
        }
    }
}

/// The context a run starts from, and how it may be made smaller.
pub(crate) struct PreparedContext {
    pub(crate) history: Vec<Arc<Message>>,
    pub(crate) notes: Vec<String>,
    /// A new summary to commit with the run's turn.
    pub(crate) compactor: Option<Arc<PolicyCompactor>>,
    /// Tokens the summary calls used (added to the run's usage).
    pub(crate) usage: Arc<Mutex<TokenUsage>>,
}

/// Makes a run's history smaller when the model says the request is too long, following the
/// session's policy; remembers the summary it wrote so that the run commits it.
pub(crate) struct PolicyCompactor {
    policy: ContextPolicy,
    model: Arc<dyn Model>,
    state: Mutex<CompactorState>,
    usage: Arc<Mutex<TokenUsage>>,
}

struct CompactorState {
    /// The turns the history is made of now.
    turns: Vec<Turn>,
    summary: Option<Summary>,
    new_summary: Option<Summary>,
}

impl PolicyCompactor {
    pub(crate) fn new(
        policy: ContextPolicy,
        model: Arc<dyn Model>,
        turns: Vec<Turn>,
        summary: Option<Summary>,
        new_summary: Option<Summary>,
        usage: Arc<Mutex<TokenUsage>>,
    ) -> Self {
        Self {
            policy,
            model,
            state: Mutex::new(CompactorState {
                turns,
                summary,
                new_summary,
            }),
            usage,
        }
    }

    /// The summary written for this run, to commit with its turn.
    pub(crate) fn new_summary(&self) -> Option<Summary> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .new_summary
            .clone()
    }
}

#[async_trait]
impl ContextCompactor for PolicyCompactor {
    async fn compact(&self, _history: &[Arc<Message>]) -> Option<Compacted> {
        let (turns, summary) = {
            let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            (state.turns.clone(), state.summary.clone())
        };
        if turns.len() <= 1 {
            return None;
        }
        let keep = turns.len() / 2;
        let (older, newer) = turns.split_at(turns.len() - keep.max(1));
        let newer = newer.to_vec();
        let (notes, summary) = match &self.policy {
            ContextPolicy::WholeHistory => return None,
            ContextPolicy::Window(_) => {
                (summary.iter().map(summary_note).collect(), summary.clone())
            }
            ContextPolicy::Summarize(policy) => {
                let written = summarise(
                    &*self.model,
                    &policy.instruction,
                    summary.as_ref(),
                    older,
                    &self.usage,
                )
                .await;
                let summary = written.or(summary);
                (summary.iter().map(summary_note).collect(), summary)
            }
        };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(self.policy, ContextPolicy::Summarize(_)) && summary != state.summary {
            state.new_summary.clone_from(&summary);
        }
        state.turns.clone_from(&newer);
        state.summary = summary;
        Some(Compacted::new(messages_of(&newer), notes))
    }
}

/// The context a run of `policy` starts from, given the turns a load read (all of them after
/// the summary, or at least the window) and the stored summary.
pub(crate) async fn prepare(
    policy: &ContextPolicy,
    model: &Arc<dyn Model>,
    turns: Vec<Turn>,
    summary: Option<Summary>,
) -> PreparedContext {
    let usage = Arc::new(Mutex::new(TokenUsage::default()));
    match policy {
        ContextPolicy::WholeHistory => PreparedContext {
            history: messages_of(&turns),
            notes: Vec::new(),
            compactor: None,
            usage,
        },
        ContextPolicy::Window(window) => {
            let kept = turns_within(&turns, *window);
            let turns = turns[turns.len() - kept..].to_vec();
            PreparedContext {
                history: messages_of(&turns),
                notes: Vec::new(),
                compactor: Some(Arc::new(PolicyCompactor::new(
                    policy.clone(),
                    model.clone(),
                    turns,
                    None,
                    None,
                    usage.clone(),
                ))),
                usage,
            }
        }
        ContextPolicy::Summarize(summary_policy) => {
            let after: Vec<Turn> = turns
                .into_iter()
                .filter(|turn| summary.as_ref().is_none_or(|s| turn.seq > s.through_seq))
                .collect();
            let tokens: u64 = after.iter().map(|t| estimate_tokens(&t.messages)).sum();
            let kept = turns_within(&after, summary_policy.keep);
            let mut current = summary;
            let mut new_summary = None;
            if tokens > summary_policy.summarize_above && kept < after.len() {
                let older = &after[..after.len() - kept];
                if let Some(written) = summarise(
                    &**model,
                    &summary_policy.instruction,
                    current.as_ref(),
                    older,
                    &usage,
                )
                .await
                {
                    new_summary = Some(written.clone());
                    current = Some(written);
                }
            }
            // Without a (new) summary covering the older turns, the model still sees them.
            let start = match &current {
                Some(s) => after
                    .iter()
                    .position(|t| t.seq > s.through_seq)
                    .unwrap_or(after.len()),
                None => 0,
            };
            let shown = after[start..].to_vec();
            PreparedContext {
                history: messages_of(&shown),
                notes: current.iter().map(summary_note).collect(),
                compactor: Some(Arc::new(PolicyCompactor::new(
                    policy.clone(),
                    model.clone(),
                    shown,
                    current,
                    new_summary,
                    usage.clone(),
                ))),
                usage,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_core::{ToolResult, ToolUse};
    use serde_json::json;

    fn turn(seq: u64, query: &str, tool: bool) -> Turn {
        let mut messages = vec![Message::user_text(query)];
        if tool {
            messages.push(Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse(ToolUse {
                    tool_use_id: format!("t{seq}"),
                    name: "echo".into(),
                    input: json!({}),
                })],
            });
            messages.push(Message::user(vec![ContentBlock::ToolResult(
                ToolResult::success(format!("t{seq}"), json!({"ok": true})),
            )]));
        }
        messages.push(Message::assistant_text(format!("re {query}")));
        Turn {
            seq,
            messages: messages.into_iter().map(Arc::new).collect(),
        }
    }

    #[test]
    fn windows_take_whole_newest_turns() {
        let turns = vec![turn(1, "a", true), turn(2, "b", false), turn(3, "c", true)];
        assert_eq!(turns_within(&turns, Window::Messages(4)), 1);
        assert_eq!(turns_within(&turns, Window::Messages(6)), 2);
        assert_eq!(turns_within(&turns, Window::Messages(100)), 3);
        assert_eq!(
            turns_within(&turns, Window::Messages(1)),
            1,
            "the newest turn is kept"
        );
        let tokens = estimate_tokens(&turns[2].messages) + estimate_tokens(&turns[1].messages);
        assert_eq!(turns_within(&turns, Window::Tokens(tokens)), 2);
    }

    #[test]
    fn a_window_never_starts_with_an_orphaned_tool_result() {
        let mut second = turn(2, "b", false);
        // A turn that answered tools an earlier run left unanswered starts with their results.
        let mut messages = second.messages.to_vec();
        Arc::make_mut(&mut messages[0]).content.insert(
            0,
            ContentBlock::ToolResult(ToolResult::error("t1", "not run")),
        );
        second.messages = messages.into();
        let shown = messages_of(std::slice::from_ref(&second));
        assert_eq!(shown[0].role, Role::User);
        assert!(shown[0].tool_results().next().is_none());
        assert_eq!(shown[0].text(), "b");
        assert_eq!(
            second.messages[0].tool_results().count(),
            1,
            "the cached turn keeps the message whole"
        );
    }

    #[test]
    fn a_history_shares_the_cached_messages_instead_of_copying_them() {
        let turns = vec![turn(1, "a", true), turn(2, "b", false)];
        let history = messages_of(&turns);
        let cached: Vec<&Arc<Message>> = turns.iter().flat_map(|t| t.messages.iter()).collect();
        assert_eq!(history.len(), cached.len());
        for (shown, held) in history.iter().zip(cached) {
            assert!(Arc::ptr_eq(shown, held), "{shown:?} was copied");
        }
    }
}
