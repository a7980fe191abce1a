//! [`Prompt`]: what the user says to an agent — text, and any images or documents.

use agent_core::{ContentBlock, DocumentBlock, ImageBlock, Message};

/// The user's turn: text, and any images or documents (bytes, or objects in Amazon S3).
///
/// Every run method takes `impl Into<Prompt>`, so plain text works as it is:
///
/// ```
/// use minimalagent::{DocumentBlock, DocumentFormat, ImageBlock, ImageFormat, Prompt};
///
/// let plain: Prompt = "What's the weather in Seattle?".into();
/// let with_media = Prompt::new("What does this chart show, and does the report agree?")
///     .image(ImageBlock::from_bytes(ImageFormat::Png, vec![0x89, b'P', b'N', b'G']))
///     .document(DocumentBlock::from_s3(DocumentFormat::Pdf, "Q3 report", "s3://bucket/q3.pdf"));
/// assert_eq!(plain.text(), "What's the weather in Seattle?");
/// assert_eq!(with_media.blocks().len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    blocks: Vec<ContentBlock>,
}

impl Prompt {
    /// A prompt of this text.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            blocks: vec![ContentBlock::Text(text.into())],
        }
    }

    /// A prompt of these blocks, in order.
    pub fn from_blocks(blocks: Vec<ContentBlock>) -> Self {
        Self { blocks }
    }

    /// The same prompt with an image after what it holds.
    #[must_use]
    pub fn image(mut self, image: ImageBlock) -> Self {
        self.blocks.push(ContentBlock::Image(image));
        self
    }

    /// The same prompt with a document after what it holds.
    #[must_use]
    pub fn document(mut self, document: DocumentBlock) -> Self {
        self.blocks.push(ContentBlock::Document(document));
        self
    }

    /// The prompt's text blocks, joined by newlines.
    pub fn text(&self) -> String {
        Message::user(self.blocks.clone()).text()
    }

    /// The prompt's blocks.
    pub fn blocks(&self) -> &[ContentBlock] {
        &self.blocks
    }

    pub(crate) fn into_blocks(self) -> Vec<ContentBlock> {
        self.blocks
    }
}

impl From<&str> for Prompt {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl From<String> for Prompt {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

impl From<&String> for Prompt {
    fn from(text: &String) -> Self {
        Self::new(text.as_str())
    }
}
