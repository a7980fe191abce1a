//! Images and documents: formats, document names, sources, sizes and how many a request holds,
//! and the document rules of every family: a text block beside a document, unique names.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::{Rule, RuleViolation, WireMessage};

const IMAGE_FORMATS: [&str; 4] = ["png", "jpeg", "gif", "webp"];
const DOCUMENT_FORMATS: [&str; 9] = [
    "pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md",
];

/// The largest inline image Converse takes: 3.75 MB.
pub(super) const MAX_IMAGE_BYTES: usize = 3_932_160;
/// The largest inline document Converse takes: 4.5 MB.
pub(super) const MAX_DOCUMENT_BYTES: usize = 4_718_592;
/// The most images one request may hold.
pub(super) const MAX_IMAGES: usize = 20;
/// The most documents one request may hold.
pub(super) const MAX_DOCUMENTS: usize = 5;

#[derive(Default)]
struct MediaCount<'a> {
    images: usize,
    documents: usize,
    /// The document names seen so far.
    names: HashSet<&'a str>,
}

/// Checks every image and document of the conversation, in message content and in tool
/// results, then how many there are.
pub(super) fn check_media(messages: &[WireMessage<'_>]) -> Result<(), RuleViolation> {
    let mut count = MediaCount::default();
    for (index, message) in messages.iter().enumerate() {
        check_text_beside_documents(message)?;
        for (block_index, block) in message.content.iter().enumerate() {
            let at = format!("messages.{index}.content.{block_index}");
            check_block(block, &at, &mut count)?;
            let results = block
                .get("toolResult")
                .and_then(|result| result.get("content"))
                .and_then(Value::as_array);
            for (item_index, item) in results.into_iter().flatten().enumerate() {
                check_block(
                    item,
                    &format!("{at}.toolResult.content.{item_index}"),
                    &mut count,
                )?;
            }
        }
    }
    if count.images > MAX_IMAGES {
        return Err(RuleViolation::new(
            Rule::TooManyMedia,
            format!(
                "The request holds {} images; a request can hold at most {MAX_IMAGES} images.",
                count.images
            ),
        ));
    }
    if count.documents > MAX_DOCUMENTS {
        return Err(RuleViolation::new(
            Rule::TooManyMedia,
            format!(
                "The request holds {} documents; a request can hold at most {MAX_DOCUMENTS} \
                 documents.",
                count.documents
            ),
        ));
    }
    Ok(())
}

/// A message holding a document must hold a text block too (every family; seen on Claude):
/// <https://github.com/BerriAI/litellm/pull/36499> , <https://github.com/maximhq/bifrost/pull/5817> .
/// Documents inside tool results are the tool's answer and need none.
fn check_text_beside_documents(message: &WireMessage<'_>) -> Result<(), RuleViolation> {
    let has_document = message
        .content
        .iter()
        .any(|block| block.get("document").is_some());
    let has_text = message
        .content
        .iter()
        .any(|block| block.get("text").is_some());
    if has_document && !has_text {
        return Err(RuleViolation::new(
            Rule::DocumentWithoutText,
            "A text block must be included when using documents. Add a text block and retry your \
             request.",
        ));
    }
    Ok(())
}

fn check_block<'a>(
    block: &'a Value,
    at: &str,
    count: &mut MediaCount<'a>,
) -> Result<(), RuleViolation> {
    if let Some(image) = block.get("image") {
        count.images += 1;
        check_format(image, &format!("{at}.image"), &IMAGE_FORMATS)?;
        check_source(
            image,
            &format!("{at}.image"),
            "image",
            MAX_IMAGE_BYTES,
            "3.75 MB",
        )?;
    }
    if let Some(document) = block.get("document") {
        count.documents += 1;
        check_format(document, &format!("{at}.document"), &DOCUMENT_FORMATS)?;
        check_document_name(document, at)?;
        // Document names are unique across the request, tool results included:
        // https://github.com/maximhq/bifrost/issues/7003 (the text),
        // https://github.com/aws-samples/sample-strands-agent-with-agentcore/pull/290 .
        let name = document.get("name").and_then(Value::as_str).unwrap_or("");
        if !count.names.insert(name) {
            return Err(RuleViolation::new(
                Rule::DuplicateDocumentName,
                "Messages can't contain duplicate document names. Rename the document and retry \
                 your request.",
            ));
        }
        check_source(
            document,
            &format!("{at}.document"),
            "document",
            MAX_DOCUMENT_BYTES,
            "4.5 MB",
        )?;
    }
    Ok(())
}

fn check_format(medium: &Value, at: &str, formats: &[&str]) -> Result<(), RuleViolation> {
    let format = medium.get("format").and_then(Value::as_str);
    if format.is_some_and(|format| formats.contains(&format)) {
        return Ok(());
    }
    Err(RuleViolation::new(
        Rule::UnsupportedMediaFormat,
        format!(
            "1 validation error detected: Value '{}' at '{at}.format' failed to satisfy \
             constraint: Member must satisfy enum value set: [{}]",
            format.unwrap_or("null"),
            formats.join(", ")
        ),
    ))
}

/// Converse's rule for document names: letters and digits, single spaces, hyphens,
/// parentheses and square brackets.
fn check_document_name(document: &Value, at: &str) -> Result<(), RuleViolation> {
    let name = document.get("name").and_then(Value::as_str).unwrap_or("");
    let allowed = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '(' | ')' | '[' | ']'));
    if !name.is_empty() && allowed && !name.contains("  ") {
        return Ok(());
    }
    Err(RuleViolation::new(
        Rule::InvalidDocumentName,
        format!(
            "The document name '{name}' at {at}.document is not valid. The document file name \
             can only contain alphanumeric characters, whitespace characters, hyphens, \
             parentheses, and square brackets. The name can't contain more than one \
             consecutive whitespace character."
        ),
    ))
}

fn check_source(
    medium: &Value,
    at: &str,
    kind: &str,
    max_bytes: usize,
    max_text: &str,
) -> Result<(), RuleViolation> {
    let invalid = |why: String| {
        Err(RuleViolation::new(
            Rule::InvalidMediaSource,
            format!("The source of the {kind} at {at} is not valid: {why}"),
        ))
    };
    let source = match medium.get("source").and_then(Value::as_object) {
        Some(source) if source.len() == 1 => source,
        Some(source) if source.len() > 1 => {
            return invalid(
                "give exactly one of bytes and s3Location, not several sources.".to_owned(),
            );
        }
        _ => return invalid("give one of bytes and s3Location.".to_owned()),
    };
    if let Some(bytes) = source.get("bytes") {
        let Some(text) = bytes.as_str() else {
            return invalid("bytes must be base64 text.".to_owned());
        };
        let Ok(decoded) = STANDARD.decode(text) else {
            return invalid("bytes is not valid base64.".to_owned());
        };
        if decoded.len() > max_bytes {
            return Err(RuleViolation::new(
                Rule::MediaTooLarge,
                format!(
                    "The {kind} at {at} is {} bytes, more than the {max_text} ({max_bytes} \
                     bytes) allowed for an inline {kind}.",
                    decoded.len()
                ),
            ));
        }
        return Ok(());
    }
    if let Some(location) = source.get("s3Location") {
        let uri = location.get("uri").and_then(Value::as_str).unwrap_or("");
        if uri
            .strip_prefix("s3://")
            .is_some_and(|rest| !rest.is_empty())
        {
            return Ok(());
        }
        return invalid(format!(
            "s3Location.uri '{uri}' must be an s3:// URI (s3://bucket/key)."
        ));
    }
    invalid("give one of bytes and s3Location.".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule_of(blocks: Value) -> Option<Rule> {
        let body = json!({"messages": [{"role": "user", "content": blocks}]});
        super::super::check_converse_request(&body)
            .err()
            .map(|v| v.rule())
    }

    #[test]
    fn size_limits_count_decoded_bytes() {
        let at_limit = STANDARD.encode(vec![0u8; MAX_IMAGE_BYTES]);
        let over = STANDARD.encode(vec![0u8; MAX_IMAGE_BYTES + 1]);
        let image = |data: &str| json!([{"text": "?"}, {"image": {"format": "png", "source": {"bytes": data}}}]);
        assert_eq!(rule_of(image(&at_limit)), None);
        assert_eq!(rule_of(image(&over)), Some(Rule::MediaTooLarge));
        // A document may be larger than an image.
        let document = json!([{"text": "?"}, {"document": {"format": "pdf", "name": "Big", "source": {"bytes": over}}}]);
        assert_eq!(rule_of(document), None);
    }

    #[test]
    fn document_names_allow_only_converse_characters() {
        let named = |name: &str| json!([{"text": "?"}, {"document": {"format": "txt", "name": name, "source": {"bytes": "aGk="}}}]);
        for good in ["Report 2026", "Q1-results (draft) [v2]", "a"] {
            assert_eq!(rule_of(named(good)), None, "{good}");
        }
        for bad in [
            "",
            "two  spaces",
            "report.pdf",
            "under_score",
            "tab\tname",
            "Résumé",
        ] {
            assert_eq!(
                rule_of(named(bad)),
                Some(Rule::InvalidDocumentName),
                "{bad}"
            );
        }
    }
}
