//! Putting a conversation on the wire the way its model family takes it.
//!
//! The stored conversation keeps every message as the model and the tools wrote it; only what
//! is sent changes, per the capability table's rules (and what the process learned), each rule
//! with its source in `families`:
//!
//! - a user turn of tool results holds nothing else where the family says so: other blocks (the
//!   step-limit prompt, the turn's time line, a new query after unanswered calls) move into the
//!   last result;
//! - an assistant turn of tool calls holds no text where the family says so;
//! - `status` is sent on tool results only where the family takes it;
//! - the model's reasoning goes back signed, unsigned, or not at all;
//! - tool call ids become nine letters and digits where the family demands it (the same id
//!   always maps to the same one);
//! - images and documents inside tool results become a note where the family refuses them;
//! - on every family (service rules): a tool result's `json` must be an object (other JSON is
//!   sent as text), a tool result must have content, document names are letters, digits,
//!   single spaces, hyphens, parentheses and brackets, unique in the request, and tool calls in
//!   the history of a request that offers no tools are sent as text (Converse wants a
//!   `toolConfig` for them).

use std::collections::HashSet;

use agent_core::{ContentBlock, Message, ReasoningContent, Role, ToolResultContent};
use aws_sdk_bedrockruntime::types as sdk;

use crate::convert::{ConversionError, block_to_sdk, document_to_sdk, image_to_sdk};
use crate::families::ReasoningReplay;
use crate::plan::WireRules;

/// What conversion keeps across the messages of one request: the document names used so far.
#[derive(Debug, Default, Clone)]
pub(crate) struct WireState {
    document_names: HashSet<String>,
}

impl WireState {
    /// Whether converting the messages so far left nothing that later messages depend on.
    pub(crate) fn is_empty(&self) -> bool {
        self.document_names.is_empty()
    }
}

/// A message as its family takes it.
pub(crate) fn message_to_wire(
    message: &Message,
    rules: &WireRules,
    tools_offered: bool,
    state: &mut WireState,
) -> Result<sdk::Message, ConversionError> {
    let role = match message.role {
        Role::User => sdk::ConversationRole::User,
        Role::Assistant => sdk::ConversationRole::Assistant,
    };
    let has_tool_results = message
        .content
        .iter()
        .any(|block| matches!(block, ContentBlock::ToolResult(_)));
    let has_tool_uses = message
        .content
        .iter()
        .any(|block| matches!(block, ContentBlock::ToolUse(_)));
    // Converse rejects blank text blocks ("The text field in the ContentBlock object at
    // messages.N.content.M is blank"), yet models write them (a bare "\n\n" before a toolUse).
    // They are left out when the message holds anything else. Blocks this version does not
    // know (written by a newer one) cannot be sent and are left out too.
    let has_other_content = message
        .content
        .iter()
        .any(|block| !is_blank_text(block) && !matches!(block, ContentBlock::Unknown(_)));
    let mut content: Vec<sdk::ContentBlock> = Vec::with_capacity(message.content.len());
    // Blocks that must join the last tool result instead of standing beside the results.
    let mut folded: Vec<sdk::ToolResultContentBlock> = Vec::new();
    let fold_into_results = has_tool_results && !rules.mixed_tool_result_turn;
    for block in &message.content {
        if (has_other_content && is_blank_text(block)) || matches!(block, ContentBlock::Unknown(_))
        {
            continue;
        }
        match block {
            ContentBlock::ToolUse(call) if !tools_offered => {
                content.push(sdk::ContentBlock::Text(format!(
                    "[called tool {} with {}]",
                    call.name, call.input
                )));
            }
            ContentBlock::ToolResult(result) if !tools_offered => {
                let text = result
                    .content
                    .iter()
                    .map(|item| match item {
                        ToolResultContent::Text(text) => text.clone(),
                        ToolResultContent::Json(value) => value.to_string(),
                        _ => "(media)".to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                content.push(sdk::ContentBlock::Text(format!("[tool result: {text}]")));
            }
            ContentBlock::ToolUse(call) => {
                let mut call = call.clone();
                if !rules.original_tool_call_ids {
                    call.tool_use_id = nine_char_id(&call.tool_use_id);
                }
                content.push(block_to_sdk(&ContentBlock::ToolUse(call))?);
            }
            ContentBlock::ToolResult(result) => {
                let mut items = Vec::with_capacity(result.content.len().max(1));
                for item in &result.content {
                    items.push(result_item_to_wire(item, rules, state)?);
                }
                if items.is_empty() {
                    // Strict models refuse a result without content.
                    items.push(sdk::ToolResultContentBlock::Text("(no output)".to_owned()));
                }
                let status = rules
                    .tool_result_status
                    .then_some(result.status)
                    .flatten()
                    .map(|status| match status {
                        agent_core::ToolResultStatus::Success => sdk::ToolResultStatus::Success,
                        agent_core::ToolResultStatus::Error => sdk::ToolResultStatus::Error,
                    });
                let id = if rules.original_tool_call_ids {
                    result.tool_use_id.clone()
                } else {
                    nine_char_id(&result.tool_use_id)
                };
                content.push(sdk::ContentBlock::ToolResult(
                    sdk::ToolResultBlock::builder()
                        .tool_use_id(id)
                        .set_content(Some(items))
                        .set_status(status)
                        .build()?,
                ));
            }
            ContentBlock::Text(text) if fold_into_results => {
                folded.push(sdk::ToolResultContentBlock::Text(text.clone()));
            }
            ContentBlock::Image(_) | ContentBlock::Document(_) if fold_into_results => {
                let item = match block {
                    ContentBlock::Image(image) => ToolResultContent::Image(image.clone()),
                    ContentBlock::Document(document) => {
                        ToolResultContent::Document(document.clone())
                    }
                    _ => continue,
                };
                folded.push(result_item_to_wire(&item, rules, state)?);
            }
            ContentBlock::Text(_) if has_tool_uses && !rules.mixed_tool_use_turn => {}
            ContentBlock::ReasoningContent(reasoning) => {
                if let Some(block) = reasoning_to_wire(reasoning, rules.reasoning)? {
                    content.push(block);
                }
            }
            ContentBlock::Document(document) => {
                let mut document = document.clone();
                document.name = unique_document_name(&document.name, state);
                content.push(sdk::ContentBlock::Document(document_to_sdk(&document)?));
            }
            other => content.push(block_to_sdk(other)?),
        }
    }
    if !folded.is_empty() {
        fold_into_last_result(&mut content, folded)?;
    }
    if content.is_empty() {
        // Converse rejects a message without content ("The content field in the Message object
        // at messages.N is empty"): what was left out (reasoning only, blocks of a newer
        // version) leaves a placeholder.
        content.push(sdk::ContentBlock::Text("(nothing to show)".to_owned()));
    }
    Ok(sdk::Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()?)
}

fn is_blank_text(block: &ContentBlock) -> bool {
    matches!(block, ContentBlock::Text(text) if text.trim().is_empty())
}

/// One item of a tool result, as its family takes it.
fn result_item_to_wire(
    item: &ToolResultContent,
    rules: &WireRules,
    state: &mut WireState,
) -> Result<sdk::ToolResultContentBlock, ConversionError> {
    Ok(match item {
        // "Provide a json object for the field" (sigoden/aichat PR#1550): other JSON is text.
        ToolResultContent::Json(value) if value.is_object() => {
            sdk::ToolResultContentBlock::Json(crate::convert::json_to_document(value))
        }
        ToolResultContent::Json(value) => sdk::ToolResultContentBlock::Text(value.to_string()),
        ToolResultContent::Text(text) if text.trim().is_empty() => {
            sdk::ToolResultContentBlock::Text("(empty)".to_owned())
        }
        ToolResultContent::Text(text) => sdk::ToolResultContentBlock::Text(text.clone()),
        ToolResultContent::Image(_) | ToolResultContent::Document(_)
            if !rules.media_in_tool_results =>
        {
            sdk::ToolResultContentBlock::Text(
                "(an image or document the tool returned was left out: this model does not \
                 take them in tool results)"
                    .to_owned(),
            )
        }
        ToolResultContent::Image(image) => sdk::ToolResultContentBlock::Image(image_to_sdk(image)?),
        ToolResultContent::Document(document) => {
            let mut document = document.clone();
            document.name = unique_document_name(&document.name, state);
            sdk::ToolResultContentBlock::Document(document_to_sdk(&document)?)
        }
        // A block a newer version wrote: tell the model something was there.
        _ => sdk::ToolResultContentBlock::Text(
            "(a result block this client cannot send was left out)".to_owned(),
        ),
    })
}

/// Moves `items` into the last tool result of `content`.
fn fold_into_last_result(
    content: &mut [sdk::ContentBlock],
    items: Vec<sdk::ToolResultContentBlock>,
) -> Result<(), ConversionError> {
    let Some(sdk::ContentBlock::ToolResult(last)) = content
        .iter_mut()
        .rev()
        .find(|block| matches!(block, sdk::ContentBlock::ToolResult(_)))
    else {
        return Ok(());
    };
    let mut merged = last.content().to_vec();
    merged.extend(items);
    *last = sdk::ToolResultBlock::builder()
        .tool_use_id(last.tool_use_id())
        .set_content(Some(merged))
        .set_status(last.status().cloned())
        .build()?;
    Ok(())
}

/// A reasoning block as the family takes it back, or nothing.
fn reasoning_to_wire(
    reasoning: &ReasoningContent,
    replay: ReasoningReplay,
) -> Result<Option<sdk::ContentBlock>, ConversionError> {
    Ok(match (replay, reasoning) {
        (ReasoningReplay::Never, _) => None,
        // Signed families refuse reasoning without its signature ("thinking.signature: Field
        // required"): reasoning another model wrote is left out.
        (ReasoningReplay::Signed, ReasoningContent::ReasoningText(text))
            if text.signature.is_none() =>
        {
            None
        }
        (ReasoningReplay::Signed, other) => Some(block_to_sdk(&ContentBlock::ReasoningContent(
            other.clone(),
        ))?),
        (ReasoningReplay::Unsigned, ReasoningContent::ReasoningText(text)) => {
            let mut text = text.clone();
            text.signature = None;
            Some(block_to_sdk(&ContentBlock::ReasoningContent(
                ReasoningContent::ReasoningText(text),
            ))?)
        }
        // Encrypted reasoning is Claude's own.
        (ReasoningReplay::Unsigned, _) => None,
    })
}

/// A tool call id of exactly nine letters and digits: the id itself when it already is one,
/// else one made from it (always the same for the same id).
pub(crate) fn nine_char_id(id: &str) -> String {
    if id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return id.to_owned();
    }
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    // FNV-1a: stable across processes and versions, unlike the standard library's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (0..9)
        .map(|_| {
            let digit = (hash % 62) as usize;
            hash /= 62;
            char::from(ALPHABET[digit])
        })
        .collect()
}

/// A document name Converse takes — letters, digits, single spaces, hyphens, parentheses and
/// square brackets (vercel/ai PR#20366) — and not used before in the request (bifrost#7003).
fn unique_document_name(name: &str, state: &mut WireState) -> String {
    let mut clean = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if c.is_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']') {
            c
        } else {
            ' '
        };
        if c == ' ' && (clean.is_empty() || clean.ends_with(' ')) {
            continue;
        }
        clean.push(c);
    }
    let mut clean = clean.trim_end().chars().take(190).collect::<String>();
    if clean.is_empty() {
        clean = "document".to_owned();
    }
    let mut candidate = clean.clone();
    let mut n = 2;
    while !state.document_names.insert(candidate.clone()) {
        candidate = format!("{clean} ({n})");
        n += 1;
    }
    candidate
}

/// `system` folded into the first user turn, for a model that takes no system prompt.
pub(crate) fn fold_system(
    messages: &mut [sdk::Message],
    system: &[String],
) -> Result<(), ConversionError> {
    let text = system
        .iter()
        .map(|block| block.trim())
        .filter(|block| !block.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    if text.is_empty() {
        return Ok(());
    }
    let Some(first) = messages
        .iter_mut()
        .find(|message| *message.role() == sdk::ConversationRole::User)
    else {
        return Ok(());
    };
    let mut content = Vec::with_capacity(first.content().len() + 1);
    let has_tool_results = first.content().iter().any(|block| block.is_tool_result());
    if has_tool_results {
        // A turn of tool results takes nothing beside them: the instructions go into the first
        // result.
        content.extend(first.content().iter().cloned());
        let items = vec![sdk::ToolResultContentBlock::Text(format!(
            "Instructions: {text}"
        ))];
        fold_into_last_result(&mut content, items)?;
    } else {
        content.push(sdk::ContentBlock::Text(format!("Instructions: {text}")));
        content.extend(first.content().iter().cloned());
    }
    *first = sdk::Message::builder()
        .role(first.role().clone())
        .set_content(Some(content))
        .build()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_core::{DocumentBlock, DocumentFormat, ImageBlock, ImageFormat, ToolResult, ToolUse};
    use serde_json::json;

    fn rules() -> WireRules {
        WireRules {
            system_block: true,
            tool_result_status: true,
            mixed_tool_result_turn: true,
            mixed_tool_use_turn: true,
            reasoning: ReasoningReplay::Signed,
            original_tool_call_ids: true,
            media_in_tool_results: true,
            full_tool_schemas: true,
        }
    }

    fn wire(message: &Message, rules: &WireRules) -> sdk::Message {
        message_to_wire(message, rules, true, &mut WireState::default()).unwrap()
    }

    #[test]
    fn text_beside_tool_results_folds_into_the_last_result_where_it_must() {
        let turn = Message::user(vec![
            ContentBlock::ToolResult(ToolResult::success("a", json!({"t": 1}))),
            ContentBlock::ToolResult(ToolResult::error("b", "failed")),
            ContentBlock::Text("Give your final answer.".into()),
        ]);
        let mixed = wire(&turn, &rules());
        assert_eq!(mixed.content().len(), 3);
        let alone = wire(
            &turn,
            &WireRules {
                mixed_tool_result_turn: false,
                tool_result_status: false,
                ..rules()
            },
        );
        assert_eq!(alone.content().len(), 2);
        let last = alone.content()[1].as_tool_result().unwrap();
        assert_eq!(last.content().len(), 2);
        assert_eq!(
            last.content()[1].as_text().unwrap(),
            "Give your final answer."
        );
        assert!(
            last.status().is_none(),
            "no status where the family takes none"
        );
        assert!(
            mixed.content()[1]
                .as_tool_result()
                .unwrap()
                .status()
                .is_some()
        );
    }

    #[test]
    fn text_beside_tool_calls_is_left_out_where_it_must() {
        let reply = Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Text("Let me look.".into()),
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: "tooluse_abcdefghijklmnop".into(),
                    name: "lookup".into(),
                    input: json!({}),
                }),
            ],
        };
        let sent = wire(
            &reply,
            &WireRules {
                mixed_tool_use_turn: false,
                original_tool_call_ids: false,
                ..rules()
            },
        );
        assert_eq!(sent.content().len(), 1);
        let id = sent.content()[0].as_tool_use().unwrap().tool_use_id();
        assert_eq!(id.len(), 9);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(id, nine_char_id("tooluse_abcdefghijklmnop"), "stable");
        assert_eq!(nine_char_id("abcDEF123"), "abcDEF123");
    }

    #[test]
    fn reasoning_goes_back_as_the_family_takes_it() {
        use agent_core::ReasoningText;
        let signed = ReasoningContent::ReasoningText(ReasoningText {
            text: "hmm".into(),
            signature: Some("sig".into()),
        });
        let unsigned = ReasoningContent::ReasoningText(ReasoningText {
            text: "hmm".into(),
            signature: None,
        });
        let check = |replay, reasoning: &ReasoningContent| {
            reasoning_to_wire(reasoning, replay).unwrap().map(|block| {
                block
                    .as_reasoning_content()
                    .unwrap()
                    .as_reasoning_text()
                    .unwrap()
                    .signature()
                    .map(str::to_owned)
            })
        };
        assert_eq!(
            check(ReasoningReplay::Signed, &signed),
            Some(Some("sig".into()))
        );
        assert_eq!(check(ReasoningReplay::Signed, &unsigned), None);
        assert_eq!(check(ReasoningReplay::Unsigned, &signed), Some(None));
        assert_eq!(check(ReasoningReplay::Never, &signed), None);
    }

    #[test]
    fn service_rules_hold_for_every_family() {
        let turn = Message::user(vec![
            ContentBlock::ToolResult(ToolResult {
                tool_use_id: "a".into(),
                content: vec![ToolResultContent::Json(json!([1, 2]))],
                status: None,
            }),
            ContentBlock::ToolResult(ToolResult {
                tool_use_id: "b".into(),
                content: vec![],
                status: None,
            }),
        ]);
        let sent = wire(&turn, &rules());
        let first = sent.content()[0].as_tool_result().unwrap();
        assert_eq!(first.content()[0].as_text().unwrap(), "[1,2]");
        let second = sent.content()[1].as_tool_result().unwrap();
        assert_eq!(second.content()[0].as_text().unwrap(), "(no output)");

        let mut state = WireState::default();
        let docs = Message::user(vec![
            ContentBlock::Document(DocumentBlock::from_bytes(
                DocumentFormat::Pdf,
                "report.pdf",
                vec![1],
            )),
            ContentBlock::Document(DocumentBlock::from_bytes(
                DocumentFormat::Pdf,
                "report pdf",
                vec![2],
            )),
            ContentBlock::Text("Compare them.".into()),
        ]);
        let sent = message_to_wire(&docs, &rules(), true, &mut state).unwrap();
        let names: Vec<&str> = sent
            .content()
            .iter()
            .filter_map(|b| b.as_document().ok())
            .map(|d| d.name())
            .collect();
        assert_eq!(names, ["report pdf", "report pdf (2)"]);
    }

    #[test]
    fn media_in_tool_results_becomes_a_note_where_it_is_refused() {
        let turn = Message::user(vec![ContentBlock::ToolResult(ToolResult {
            tool_use_id: "a".into(),
            content: vec![ToolResultContent::Image(ImageBlock::from_bytes(
                ImageFormat::Png,
                vec![1],
            ))],
            status: None,
        })]);
        let refused = wire(
            &turn,
            &WireRules {
                media_in_tool_results: false,
                ..rules()
            },
        );
        let result = refused.content()[0].as_tool_result().unwrap();
        assert!(result.content()[0].as_text().unwrap().contains("left out"));
        let kept = wire(&turn, &rules());
        assert!(kept.content()[0].as_tool_result().unwrap().content()[0].is_image());
    }

    #[test]
    fn the_system_prompt_folds_into_the_first_user_turn() {
        let mut messages = vec![
            wire(&Message::user_text("hi"), &rules()),
            wire(&Message::assistant_text("hello"), &rules()),
        ];
        fold_system(&mut messages, &["Be brief.".to_owned()]).unwrap();
        assert_eq!(
            messages[0].content()[0].as_text().unwrap(),
            "Instructions: Be brief."
        );
        assert_eq!(messages[0].content()[1].as_text().unwrap(), "hi");
    }

    #[test]
    fn tool_blocks_are_text_when_no_tools_are_offered() {
        let reply = Message {
            role: Role::Assistant,
            content: vec![ContentBlock::ToolUse(ToolUse {
                tool_use_id: "a".into(),
                name: "lookup".into(),
                input: json!({"q": 1}),
            })],
        };
        let sent = message_to_wire(&reply, &rules(), false, &mut WireState::default()).unwrap();
        assert!(sent.content()[0].as_text().unwrap().contains("lookup"));
    }
}
