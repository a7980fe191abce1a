//! Images and documents in a prompt: sent to the model in Converse's blocks, kept in the
//! session, and shown in traces as their format and size, never as bytes.
//!
//! ```sh
//! cargo run --example media
//! ```

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use minimalagent::{Agent, DocumentBlock, DocumentFormat, ImageBlock, ImageFormat, Prompt};

/// A 1×1 PNG, so that the example needs no file.
const PIXEL: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let example = common::example_model().await?;
    let agent = common::with_sessions(Agent::builder(), "media")
        .model(example.model)
        .show_reasoning(false)
        .build()
        .await?;
    let prompt = Prompt::new("What is in this image, and what does the note say?")
        .image(ImageBlock::from_bytes(ImageFormat::Png, PIXEL.to_vec()))
        .document(DocumentBlock::from_bytes(
            DocumentFormat::Txt,
            "Field note",
            b"Seen at dawn: one red pixel.".to_vec(),
        ));
    let session = format!("media-{}", std::process::id());
    let result = agent.run_in_session(prompt, &session).await?;
    println!("{}", result.response);
    let stored = agent.conversation(&session, None).await?.messages();
    for block in &stored[0].content {
        match block {
            minimalagent::ContentBlock::Image(image) => {
                println!(
                    "stored image: {} ({})",
                    image.format.as_str(),
                    image.source.describe()
                );
            }
            minimalagent::ContentBlock::Document(document) => println!(
                "stored document {:?}: {} ({})",
                document.name,
                document.format.as_str(),
                document.source.describe()
            ),
            _ => {}
        }
    }
    agent.delete_session(&session).await?;
    Ok(())
}
