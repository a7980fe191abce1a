//! Conversation messages, shaped exactly like the Bedrock Converse API's JSON.
//!
//! A stored conversation is plain Converse JSON: `{"role":"user","content":[{"text":"…"}]}`,
//! `{"toolUse":{"toolUseId":…,"name":…,"input":…}}`, `{"toolResult":{…,"status":"error"}}`,
//! `{"reasoningContent":{"reasoningText":{"text":…,"signature":…}}}`,
//! `{"image":{"format":"png","source":{"bytes":"<base64>"}}}`, `{"cachePoint":{"type":"default"}}`.
//! Serde's externally tagged enums give that shape directly, so there is no hand-written
//! (de)serialiser to keep in step.
//!
//! **Forward compatibility.** A block this version does not know (written by a newer version,
//! or a Converse block type added later) is read as [`ContentBlock::Unknown`] holding its JSON
//! unchanged, and written back exactly as it was read: a stored conversation never fails to
//! load because of one block, and nothing is lost on re-save.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The user, or the agent speaking for the user (tool results are user messages).
    User,
    /// The model.
    Assistant,
}

/// One message of a conversation: a role and its content blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it says, in order.
    pub content: Vec<ContentBlock>,
}

impl Message {
    /// A user message holding one text block.
    pub fn user_text(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: vec![ContentBlock::Text(text.into())],
        }
    }

    /// A user message holding these blocks (text, images, documents), in order.
    pub fn user(content: Vec<ContentBlock>) -> Self {
        Self {
            role: Role::User,
            content,
        }
    }

    /// An assistant message holding one text block.
    pub fn assistant_text(text: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: vec![ContentBlock::Text(text.into())],
        }
    }

    /// The `toolUse` blocks of this message, in the model's order.
    pub fn tool_uses(&self) -> impl Iterator<Item = &ToolUse> {
        self.content.iter().filter_map(|block| match block {
            ContentBlock::ToolUse(tool_use) => Some(tool_use),
            _ => None,
        })
    }

    /// The `toolResult` blocks of this message, in order.
    pub fn tool_results(&self) -> impl Iterator<Item = &ToolResult> {
        self.content.iter().filter_map(|block| match block {
            ContentBlock::ToolResult(result) => Some(result),
            _ => None,
        })
    }

    /// Whether the message holds at least one non-blank text block.
    pub fn has_text(&self) -> bool {
        self.content
            .iter()
            .any(|block| matches!(block, ContentBlock::Text(text) if !text.trim().is_empty()))
    }

    /// The message's text blocks joined by newlines (reasoning, tool and media blocks left
    /// out).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for block in &self.content {
            if let ContentBlock::Text(text) = block {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(text);
            }
        }
        out
    }
}

/// One content block of a message.
///
/// Serialises as Converse's single-key objects: `{"text": …}`, `{"toolUse": …}`,
/// `{"toolResult": …}`, `{"reasoningContent": …}`, `{"image": …}`, `{"document": …}`,
/// `{"cachePoint": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ContentBlock {
    /// Plain text.
    Text(String),
    /// The model asks for a tool to be run.
    ToolUse(ToolUse),
    /// The result of a tool the model asked for.
    ToolResult(ToolResult),
    /// The model's native reasoning (extended thinking), passed back unchanged on later turns.
    ReasoningContent(ReasoningContent),
    /// An image, in a user message or a tool result.
    Image(ImageBlock),
    /// A document (PDF, spreadsheet, text, …), in a user message or a tool result.
    Document(DocumentBlock),
    /// A prompt-cache checkpoint: the request up to here may be cached by the provider.
    CachePoint(CachePoint),
    /// A block this version does not know, kept as the JSON it was read from and written back
    /// unchanged. Models that cannot send it leave it out of their requests.
    #[serde(untagged)]
    #[schemars(skip)]
    Unknown(Value),
}

impl ContentBlock {
    /// The Converse name of the block's type (`text`, `toolUse`, …; `unknown` for
    /// [`ContentBlock::Unknown`]).
    pub fn type_name(&self) -> &'static str {
        match self {
            ContentBlock::Text(_) => "text",
            ContentBlock::ToolUse(_) => "toolUse",
            ContentBlock::ToolResult(_) => "toolResult",
            ContentBlock::ReasoningContent(_) => "reasoningContent",
            ContentBlock::Image(_) => "image",
            ContentBlock::Document(_) => "document",
            ContentBlock::CachePoint(_) => "cachePoint",
            ContentBlock::Unknown(_) => "unknown",
        }
    }

    /// A default prompt-cache checkpoint.
    pub fn cache_point() -> Self {
        ContentBlock::CachePoint(CachePoint::default())
    }
}

/// A request from the model to run one tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolUse {
    /// The id the matching `toolResult` must carry.
    pub tool_use_id: String,
    /// The tool's name, as given in the tool spec.
    pub name: String,
    /// The arguments, as JSON the model wrote against the tool's input schema.
    pub input: Value,
}

/// The answer to one `toolUse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolResult {
    /// The id of the `toolUse` this answers.
    pub tool_use_id: String,
    /// The result, as JSON, text or media blocks.
    pub content: Vec<ToolResultContent>,
    /// `error` when the tool did not succeed; absent on success, as Converse writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ToolResultStatus>,
}

impl ToolResult {
    /// A successful result. A JSON object is sent as a `json` block, a string as a `text` block,
    /// and any other value as its JSON text (Converse expects `json` results to be objects).
    pub fn success(tool_use_id: impl Into<String>, value: Value) -> Self {
        let content = match value {
            Value::Object(_) => ToolResultContent::Json(value),
            Value::String(text) => ToolResultContent::Text(text),
            other => ToolResultContent::Text(other.to_string()),
        };
        Self {
            tool_use_id: tool_use_id.into(),
            content: vec![content],
            status: None,
        }
    }

    /// A failed result whose text tells the model what went wrong.
    pub fn error(tool_use_id: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            tool_use_id: tool_use_id.into(),
            content: vec![ToolResultContent::Text(message.into())],
            status: Some(ToolResultStatus::Error),
        }
    }

    /// Whether the result says the tool failed.
    pub fn is_error(&self) -> bool {
        self.status == Some(ToolResultStatus::Error)
    }
}

/// One block of a tool result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ToolResultContent {
    /// A JSON document.
    Json(Value),
    /// Text.
    Text(String),
    /// An image.
    Image(ImageBlock),
    /// A document.
    Document(DocumentBlock),
    /// A block this version does not know, kept as read (see [`ContentBlock::Unknown`]).
    #[serde(untagged)]
    #[schemars(skip)]
    Unknown(Value),
}

/// Whether a tool result is a success or an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ToolResultStatus {
    /// The tool succeeded.
    Success,
    /// The tool failed, or was not run; the content says why.
    Error,
}

/// The model's native reasoning (for example Claude's extended thinking).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ReasoningContent {
    /// Readable reasoning, with the signature the model needs to see it again.
    ReasoningText(ReasoningText),
    /// Reasoning the provider encrypted, base64-encoded; kept only to be sent back.
    RedactedContent(String),
    /// A kind of reasoning this version does not know, kept as read.
    #[serde(untagged)]
    #[schemars(skip)]
    Unknown(Value),
}

/// Readable reasoning text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningText {
    /// The reasoning.
    pub text: String,
    /// The provider's signature over it, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// A prompt-cache checkpoint (`{"type": "default"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CachePoint {
    /// The kind of checkpoint; Converse knows `default`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl Default for CachePoint {
    fn default() -> Self {
        Self {
            kind: "default".to_owned(),
        }
    }
}

/// An image: its format and where its bytes are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageBlock {
    /// The image format.
    pub format: ImageFormat,
    /// The image's bytes, inline or in Amazon S3.
    pub source: MediaSource,
}

impl ImageBlock {
    /// An image whose bytes travel with the message.
    pub fn from_bytes(format: ImageFormat, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            format,
            source: MediaSource::Bytes(bytes.into()),
        }
    }

    /// An image in Amazon S3 (`s3://bucket/key`).
    pub fn from_s3(format: ImageFormat, uri: impl Into<String>) -> Self {
        Self {
            format,
            source: MediaSource::S3Location(S3Location {
                uri: uri.into(),
                bucket_owner: None,
            }),
        }
    }
}

/// A document: its format, a name the model sees, and where its bytes are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocumentBlock {
    /// The document format.
    pub format: DocumentFormat,
    /// The name the model sees: letters, digits, single spaces, hyphens, parentheses and
    /// square brackets (Converse's rule).
    pub name: String,
    /// The document's bytes, inline or in Amazon S3.
    pub source: MediaSource,
}

impl DocumentBlock {
    /// A document whose bytes travel with the message.
    pub fn from_bytes(
        format: DocumentFormat,
        name: impl Into<String>,
        bytes: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            format,
            name: name.into(),
            source: MediaSource::Bytes(bytes.into()),
        }
    }

    /// A document in Amazon S3 (`s3://bucket/key`).
    pub fn from_s3(
        format: DocumentFormat,
        name: impl Into<String>,
        uri: impl Into<String>,
    ) -> Self {
        Self {
            format,
            name: name.into(),
            source: MediaSource::S3Location(S3Location {
                uri: uri.into(),
                bucket_owner: None,
            }),
        }
    }
}

/// Where a medium's bytes are. Inline bytes serialise as base64, as Converse's JSON has them.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum MediaSource {
    /// The bytes themselves.
    Bytes(
        #[serde(with = "base64_bytes")]
        #[schemars(schema_with = "crate::schema::base64_bytes")]
        Vec<u8>,
    ),
    /// An object in Amazon S3.
    S3Location(S3Location),
    /// A source this version does not know, kept as read.
    #[serde(untagged)]
    #[schemars(skip)]
    Unknown(Value),
}

impl fmt::Debug for MediaSource {
    /// Shows the size of inline bytes, not the bytes: traces and logs stay readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaSource::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            MediaSource::S3Location(location) => {
                f.debug_tuple("S3Location").field(location).finish()
            }
            MediaSource::Unknown(value) => f.debug_tuple("Unknown").field(value).finish(),
        }
    }
}

impl MediaSource {
    /// A short description for traces: `1234 bytes` or the S3 URI.
    pub fn describe(&self) -> String {
        match self {
            MediaSource::Bytes(bytes) => format!("{} bytes", bytes.len()),
            MediaSource::S3Location(location) => location.uri.clone(),
            MediaSource::Unknown(_) => "unknown source".to_owned(),
        }
    }
}

/// An object in Amazon S3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Location {
    /// `s3://bucket/key`.
    pub uri: String,
    /// The bucket owner's account id, when the bucket is in another account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_owner: Option<String>,
}

/// Image formats Converse accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ImageFormat {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// GIF.
    Gif,
    /// WebP.
    Webp,
    /// A format this version does not know, kept as written.
    #[serde(untagged)]
    #[schemars(skip)]
    Other(String),
}

impl ImageFormat {
    /// The Converse name of the format.
    pub fn as_str(&self) -> &str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Gif => "gif",
            ImageFormat::Webp => "webp",
            ImageFormat::Other(other) => other,
        }
    }
}

/// Document formats Converse accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DocumentFormat {
    /// PDF.
    Pdf,
    /// CSV.
    Csv,
    /// Word 97–2003.
    Doc,
    /// Word.
    Docx,
    /// Excel 97–2003.
    Xls,
    /// Excel.
    Xlsx,
    /// HTML.
    Html,
    /// Plain text.
    Txt,
    /// Markdown.
    Md,
    /// A format this version does not know, kept as written.
    #[serde(untagged)]
    #[schemars(skip)]
    Other(String),
}

impl DocumentFormat {
    /// The Converse name of the format.
    pub fn as_str(&self) -> &str {
        match self {
            DocumentFormat::Pdf => "pdf",
            DocumentFormat::Csv => "csv",
            DocumentFormat::Doc => "doc",
            DocumentFormat::Docx => "docx",
            DocumentFormat::Xls => "xls",
            DocumentFormat::Xlsx => "xlsx",
            DocumentFormat::Html => "html",
            DocumentFormat::Txt => "txt",
            DocumentFormat::Md => "md",
            DocumentFormat::Other(other) => other,
        }
    }
}

/// Base64 (standard alphabet, padded) for inline media bytes, as Converse's JSON writes them.
mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_serialise_as_converse_json() {
        let message = Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(ReasoningText {
                    text: "hmm".into(),
                    signature: Some("sig".into()),
                })),
                ContentBlock::Text("hi".into()),
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: "t1".into(),
                    name: "get_weather".into(),
                    input: json!({"location": "Seattle"}),
                }),
            ],
        };
        let expected = json!({"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
            {"text": "hi"},
            {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"location": "Seattle"}}}
        ]});
        assert_eq!(serde_json::to_value(&message).unwrap(), expected);
        let back: Message = serde_json::from_value(expected).unwrap();
        assert_eq!(back, message);
    }

    #[test]
    fn tool_results_serialise_with_status_only_on_error() {
        let ok = ToolResult::success("t1", json!({"temp": 12}));
        assert_eq!(
            serde_json::to_value(&ok).unwrap(),
            json!({"toolUseId": "t1", "content": [{"json": {"temp": 12}}]})
        );
        let err = ToolResult::error("t2", "boom");
        assert!(err.is_error());
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"toolUseId": "t2", "content": [{"text": "boom"}], "status": "error"})
        );
        assert_eq!(
            ToolResult::success("t3", json!(42)).content,
            vec![ToolResultContent::Text("42".into())]
        );
    }

    #[test]
    fn media_and_cache_points_serialise_as_converse_json() {
        let message = Message::user(vec![
            ContentBlock::Text("What is in this picture?".into()),
            ContentBlock::Image(ImageBlock::from_bytes(
                ImageFormat::Png,
                b"\x89PNG".to_vec(),
            )),
            ContentBlock::Document(DocumentBlock::from_s3(
                DocumentFormat::Pdf,
                "Report 2026",
                "s3://bucket/report.pdf",
            )),
            ContentBlock::cache_point(),
        ]);
        let expected = json!({"role": "user", "content": [
            {"text": "What is in this picture?"},
            {"image": {"format": "png", "source": {"bytes": "iVBORw=="}}},
            {"document": {"format": "pdf", "name": "Report 2026",
                          "source": {"s3Location": {"uri": "s3://bucket/report.pdf"}}}},
            {"cachePoint": {"type": "default"}}
        ]});
        assert_eq!(serde_json::to_value(&message).unwrap(), expected);
        let back: Message = serde_json::from_value(expected).unwrap();
        assert_eq!(back, message);
        let ContentBlock::Image(image) = &back.content[1] else {
            panic!("expected an image");
        };
        assert_eq!(format!("{:?}", image.source), "Bytes(4 bytes)");
    }

    #[test]
    fn unknown_blocks_formats_and_sources_are_kept_and_written_back_unchanged() {
        let stored = json!({"role": "assistant", "content": [
            {"text": "known"},
            {"videoClip": {"format": "mkv", "source": {"bytes": "AAAA"}}},
            {"image": {"format": "heic", "source": {"bytes": "AAAA"}}},
            {"image": {"format": "png", "source": {"ipfs": "Qm123"}}},
            {"reasoningContent": {"quantumThought": {"qubits": 3}}},
            {"toolResult": {"toolUseId": "t", "content": [{"hologram": {}}], "status": "error"}}
        ]});
        let message: Message = serde_json::from_value(stored.clone()).unwrap();
        assert!(matches!(message.content[1], ContentBlock::Unknown(_)));
        let ContentBlock::Image(image) = &message.content[2] else {
            panic!("expected an image");
        };
        assert_eq!(image.format, ImageFormat::Other("heic".into()));
        let ContentBlock::Image(image) = &message.content[3] else {
            panic!("expected an image");
        };
        assert!(matches!(image.source, MediaSource::Unknown(_)));
        assert!(matches!(
            message.content[4],
            ContentBlock::ReasoningContent(ReasoningContent::Unknown(_))
        ));
        assert_eq!(serde_json::to_value(&message).unwrap(), stored);
        assert_eq!(message.content[1].type_name(), "unknown");
    }
}
