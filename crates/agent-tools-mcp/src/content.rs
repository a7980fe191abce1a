//! From MCP tool results to Converse tool results.

use agent_core::{
    DocumentBlock, DocumentFormat, ImageBlock, ImageFormat, ToolError, ToolOutput,
    ToolResultContent,
};
use base64::Engine as _;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use serde_json::Value;

/// The model's view of a `tools/call` result: content blocks, or a failure when the server set
/// `isError`.
///
/// - text → a `text` block, or a `json` block when the whole text is a JSON object;
/// - `structuredContent` → a `json` block (an object; anything else as its JSON text), in place
///   of the text block that repeats it (as the spec advises servers to send);
/// - images → `image` blocks when their MIME type is one Converse accepts (PNG, JPEG, GIF,
///   WebP), otherwise a note;
/// - embedded text resources → `text` blocks headed by their URI; embedded binary resources →
///   `image` or `document` blocks when Converse accepts their MIME type, otherwise a note;
/// - resource links and audio → a line of text describing them.
pub(crate) fn tool_output(result: CallToolResult) -> Result<ToolOutput, ToolError> {
    if result.is_error == Some(true) {
        return Err(ToolError::failed(error_text(&result)));
    }
    let mut blocks = Vec::with_capacity(result.content.len() + 1);
    let structured = result.structured_content;
    if let Some(structured) = &structured {
        blocks.push(match structured {
            Value::Object(_) => ToolResultContent::Json(structured.clone()),
            other => ToolResultContent::Text(other.to_string()),
        });
    }
    for block in result.content {
        if let (Some(structured), ContentBlock::Text(text)) = (&structured, &block)
            && serde_json::from_str::<Value>(&text.text).ok().as_ref() == Some(structured)
        {
            continue;
        }
        blocks.push(content_block(block));
    }
    if blocks.is_empty() {
        blocks.push(ToolResultContent::Text(
            "(the tool returned no content)".into(),
        ));
    }
    Ok(ToolOutput::Content(blocks))
}

/// The text of an error result: its text blocks, or its structured content, or a default.
fn error_text(result: &CallToolResult) -> String {
    let texts: Vec<&str> = result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.as_str()))
        .filter(|text| !text.trim().is_empty())
        .collect();
    if !texts.is_empty() {
        return texts.join("\n");
    }
    match &result.structured_content {
        Some(structured) => structured.to_string(),
        None => "the tool reported an error without a message".into(),
    }
}

fn content_block(block: ContentBlock) -> ToolResultContent {
    match block {
        ContentBlock::Text(text) => text_block(text.text),
        ContentBlock::Image(image) => media_block(&image.mime_type, &image.data, None)
            .unwrap_or_else(|| {
                ToolResultContent::Text(format!(
                    "[an image of type {} was left out: Converse accepts PNG, JPEG, GIF and WebP]",
                    image.mime_type
                ))
            }),
        ContentBlock::Audio(audio) => ToolResultContent::Text(format!(
            "[an audio clip of type {} was left out: Converse does not accept audio]",
            audio.mime_type
        )),
        ContentBlock::Resource(embedded) => match embedded.resource {
            ResourceContents::TextResourceContents { uri, text, .. } => {
                if uri.is_empty() {
                    ToolResultContent::Text(text)
                } else {
                    ToolResultContent::Text(format!("[resource {uri}]\n{text}"))
                }
            }
            ResourceContents::BlobResourceContents {
                uri,
                mime_type,
                blob,
                ..
            } => {
                let mime = mime_type.unwrap_or_else(|| "application/octet-stream".into());
                media_block(&mime, &blob, Some(&uri)).unwrap_or_else(|| {
                    ToolResultContent::Text(format!(
                        "[the binary resource {uri} ({mime}) was left out: Converse does not \
                         accept this type]"
                    ))
                })
            }
            #[allow(unreachable_patterns)]
            _ => ToolResultContent::Text("[a resource of an unknown kind was left out]".into()),
        },
        ContentBlock::ResourceLink(link) => {
            let mut text = format!("[resource link: {} ({})", link.name, link.uri);
            if let Some(mime) = &link.mime_type {
                text.push_str(&format!(", {mime}"));
            }
            if let Some(description) = &link.description {
                text.push_str(&format!(": {description}"));
            }
            text.push(']');
            ToolResultContent::Text(text)
        }
        #[allow(unreachable_patterns)]
        other => ToolResultContent::Text(match serde_json::to_value(&other) {
            Ok(value) => value.to_string(),
            Err(_) => "[a content block of an unknown kind was left out]".into(),
        }),
    }
}

/// A text block, or a JSON block when the whole text is a JSON object.
fn text_block(text: String) -> ToolResultContent {
    let trimmed = text.trim();
    if trimmed.starts_with('{')
        && trimmed.ends_with('}')
        && let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(trimmed)
    {
        return ToolResultContent::Json(value);
    }
    ToolResultContent::Text(text)
}

/// An image or document block from base64 data, if Converse accepts the MIME type and the
/// data decodes.
fn media_block(mime: &str, base64_data: &str, uri: Option<&str>) -> Option<ToolResultContent> {
    let mime = mime
        .split(';')
        .next()
        .unwrap_or(mime)
        .trim()
        .to_ascii_lowercase();
    if let Some(format) = image_format(&mime) {
        let bytes = decode_base64(base64_data)?;
        return Some(ToolResultContent::Image(ImageBlock::from_bytes(
            format, bytes,
        )));
    }
    let format = document_format(&mime)?;
    let bytes = decode_base64(base64_data)?;
    Some(ToolResultContent::Document(DocumentBlock::from_bytes(
        format,
        document_name(uri.unwrap_or("document")),
        bytes,
    )))
}

fn decode_base64(data: &str) -> Option<Vec<u8>> {
    let data: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(&data)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&data))
        .ok()
}

/// The Converse image format of a MIME type.
pub(crate) fn image_format(mime: &str) -> Option<ImageFormat> {
    match mime {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" | "image/jpg" => Some(ImageFormat::Jpeg),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::Webp),
        _ => None,
    }
}

fn document_format(mime: &str) -> Option<DocumentFormat> {
    match mime {
        "application/pdf" => Some(DocumentFormat::Pdf),
        "text/csv" => Some(DocumentFormat::Csv),
        "application/msword" => Some(DocumentFormat::Doc),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
            Some(DocumentFormat::Docx)
        }
        "application/vnd.ms-excel" => Some(DocumentFormat::Xls),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => {
            Some(DocumentFormat::Xlsx)
        }
        "text/html" => Some(DocumentFormat::Html),
        "text/plain" => Some(DocumentFormat::Txt),
        "text/markdown" => Some(DocumentFormat::Md),
        _ => None,
    }
}

/// A document name Converse accepts (letters, digits, single spaces, hyphens, parentheses and
/// square brackets), from the last segment of a URI.
fn document_name(uri: &str) -> String {
    let last = uri
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or(uri);
    let mut name = String::new();
    for c in last.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']') {
            c
        } else {
            ' '
        };
        if c == ' ' && (name.is_empty() || name.ends_with(' ')) {
            continue;
        }
        name.push(c);
        if name.len() >= 100 {
            break;
        }
    }
    let name = name.trim_end().to_owned();
    if name.is_empty() {
        "document".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::Resource as RawResource;
    use serde_json::json;

    fn text_of(output: &ToolOutput) -> Vec<ToolResultContent> {
        match output {
            ToolOutput::Content(blocks) => blocks.clone(),
            other => panic!("expected content, got {other:?}"),
        }
    }

    #[test]
    fn json_object_text_becomes_a_json_block_and_other_text_stays_text() {
        let result = CallToolResult::success(vec![
            ContentBlock::text(r#" {"a": 1} "#),
            ContentBlock::text("[1, 2]"),
            ContentBlock::text("plain"),
            ContentBlock::text("{not json}"),
        ]);
        let blocks = text_of(&tool_output(result).unwrap());
        assert_eq!(
            blocks,
            vec![
                ToolResultContent::Json(json!({"a": 1})),
                ToolResultContent::Text("[1, 2]".into()),
                ToolResultContent::Text("plain".into()),
                ToolResultContent::Text("{not json}".into()),
            ]
        );
    }

    #[test]
    fn structured_content_replaces_the_text_that_repeats_it() {
        let result = CallToolResult::structured(json!({"sum": 3.0}));
        let blocks = text_of(&tool_output(result).unwrap());
        assert_eq!(blocks, vec![ToolResultContent::Json(json!({"sum": 3.0}))]);

        let mut result = CallToolResult::success(vec![ContentBlock::text("a summary")]);
        result.structured_content = Some(json!({"rows": 2}));
        let blocks = text_of(&tool_output(result).unwrap());
        assert_eq!(
            blocks,
            vec![
                ToolResultContent::Json(json!({"rows": 2})),
                ToolResultContent::Text("a summary".into()),
            ]
        );
    }

    #[test]
    fn is_error_gives_a_failure_with_the_servers_text() {
        let result = CallToolResult::error(vec![ContentBlock::text("disk full")]);
        let error = tool_output(result).unwrap_err();
        assert_eq!(error.kind(), &agent_core::ToolErrorKind::Failed);
        assert_eq!(error.message(), "disk full");

        let error = tool_output(CallToolResult::error(vec![])).unwrap_err();
        assert_eq!(
            error.message(),
            "the tool reported an error without a message"
        );
    }

    #[test]
    fn images_map_by_mime_type() {
        let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG");
        let result = CallToolResult::success(vec![
            ContentBlock::image(png.clone(), "image/png"),
            ContentBlock::image(png.clone(), "IMAGE/JPEG; q=1"),
            ContentBlock::image(png.clone(), "image/tiff"),
            ContentBlock::image("***", "image/png"),
        ]);
        let blocks = text_of(&tool_output(result).unwrap());
        assert_eq!(
            blocks[0],
            ToolResultContent::Image(ImageBlock::from_bytes(
                ImageFormat::Png,
                b"\x89PNG".to_vec()
            ))
        );
        assert_eq!(
            blocks[1],
            ToolResultContent::Image(ImageBlock::from_bytes(
                ImageFormat::Jpeg,
                b"\x89PNG".to_vec()
            ))
        );
        assert!(matches!(&blocks[2], ToolResultContent::Text(text) if text.contains("image/tiff")));
        assert!(matches!(&blocks[3], ToolResultContent::Text(_)));
    }

    #[test]
    fn resources_become_text_or_media() {
        let pdf = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.7");
        let result = CallToolResult::success(vec![
            ContentBlock::embedded_text("file:///notes.txt", "hello"),
            ContentBlock::resource(ResourceContents::BlobResourceContents {
                uri: "file:///reports/Q3 report.pdf".into(),
                mime_type: Some("application/pdf".into()),
                blob: pdf,
                meta: None,
            }),
            ContentBlock::resource(ResourceContents::BlobResourceContents {
                uri: "file:///a.bin".into(),
                mime_type: None,
                blob: "AAAA".into(),
                meta: None,
            }),
            ContentBlock::resource_link(RawResource::new("file:///big.csv", "big.csv")),
            ContentBlock::audio("AAAA", "audio/wav"),
        ]);
        let blocks = text_of(&tool_output(result).unwrap());
        assert_eq!(
            blocks[0],
            ToolResultContent::Text("[resource file:///notes.txt]\nhello".into())
        );
        assert_eq!(
            blocks[1],
            ToolResultContent::Document(DocumentBlock::from_bytes(
                DocumentFormat::Pdf,
                "Q3 report pdf",
                b"%PDF-1.7".to_vec()
            ))
        );
        assert!(matches!(&blocks[2], ToolResultContent::Text(text) if text.contains("a.bin")));
        assert_eq!(
            blocks[3],
            ToolResultContent::Text("[resource link: big.csv (file:///big.csv)]".into())
        );
        assert!(matches!(&blocks[4], ToolResultContent::Text(text) if text.contains("audio")));
    }

    #[test]
    fn an_empty_result_says_so() {
        let blocks = text_of(&tool_output(CallToolResult::success(vec![])).unwrap());
        assert_eq!(
            blocks,
            vec![ToolResultContent::Text(
                "(the tool returned no content)".into()
            )]
        );
    }

    #[test]
    fn document_names_keep_to_converses_characters() {
        assert_eq!(document_name("file:///x/My  file_v2.pdf"), "My file v2 pdf");
        assert_eq!(document_name("urn:..."), "document");
    }
}
