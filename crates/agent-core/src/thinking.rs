//! Pulling the model's `<thinking>…</thinking>` text out of its replies.

use crate::message::{ContentBlock, Message, ReasoningContent};

const OPEN: &str = "<thinking>";
const CLOSE: &str = "</thinking>";

/// Splits text into what is inside `<thinking>` tags and what is outside.
///
/// Every tagged section counts; an unclosed tag runs to the end of the text. Both parts are
/// trimmed; the thinking is `None` when there was no tag.
pub fn split_thinking(text: &str) -> (Option<String>, String) {
    let mut thinking: Vec<&str> = Vec::new();
    let mut outside = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        outside.push_str(&rest[..start]);
        let after_open = &rest[start + OPEN.len()..];
        match after_open.find(CLOSE) {
            Some(end) => {
                thinking.push(after_open[..end].trim());
                rest = &after_open[end + CLOSE.len()..];
            }
            None => {
                thinking.push(after_open.trim());
                rest = "";
            }
        }
    }
    outside.push_str(rest);
    let thinking = (!thinking.is_empty()).then(|| thinking.join("\n"));
    (thinking, outside.trim().to_owned())
}

/// A reply's thinking (native reasoning blocks first, then `<thinking>` text) and its answer
/// text with the tags removed.
pub fn thinking_and_answer(message: &Message) -> (Option<String>, String) {
    let mut thinking: Vec<String> = Vec::new();
    let mut answer: Vec<String> = Vec::new();
    for block in &message.content {
        match block {
            ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(reasoning)) => {
                let text = reasoning.text.trim();
                if !text.is_empty() {
                    thinking.push(text.to_owned());
                }
            }
            ContentBlock::Text(text) => {
                let (tagged, outside) = split_thinking(text);
                thinking.extend(tagged.filter(|t| !t.is_empty()));
                if !outside.is_empty() {
                    answer.push(outside);
                }
            }
            _ => {}
        }
    }
    let thinking = (!thinking.is_empty()).then(|| thinking.join("\n"));
    (thinking, answer.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{ReasoningText, Role};

    #[test]
    fn splits_tagged_thinking_from_the_answer() {
        let (thinking, rest) =
            split_thinking("<thinking>first</thinking> Hello <thinking> second </thinking>world");
        assert_eq!(thinking.as_deref(), Some("first\nsecond"));
        assert_eq!(rest, "Hello world");
        assert_eq!(split_thinking("plain"), (None, "plain".to_owned()));
        assert_eq!(
            split_thinking("a <thinking>never closed"),
            (Some("never closed".to_owned()), "a".to_owned())
        );
    }

    #[test]
    fn native_reasoning_blocks_count_as_thinking() {
        let message = Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(ReasoningText {
                    text: "native".into(),
                    signature: None,
                })),
                ContentBlock::Text("<thinking>tagged</thinking>The answer.".into()),
            ],
        };
        let (thinking, answer) = thinking_and_answer(&message);
        assert_eq!(thinking.as_deref(), Some("native\ntagged"));
        assert_eq!(answer, "The answer.");
    }
}
