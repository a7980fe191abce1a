//! A tool with a `#[state]` argument, public like its function, used from another module.

mod tools {
    use std::sync::{Arc, Mutex};

    use minimalagent::tool;

    /// The application's notes.
    #[derive(Default)]
    pub struct Notebook {
        pub notes: Mutex<Vec<String>>,
    }

    /// Write a note down.
    ///
    /// # Arguments
    /// * `text` - What to write
    #[tool]
    pub fn take_note(#[state] notebook: Arc<Notebook>, text: String) -> usize {
        let mut notes = notebook.notes.lock().unwrap();
        notes.push(text);
        notes.len()
    }
}

use std::sync::Arc;

use minimalagent::{Tool, ToolExt};
use tools::{Notebook, TakeNote, take_note};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let notebook = Arc::new(Notebook::default());
    let tool = TakeNote::new(Arc::clone(&notebook));
    let count = tool
        .call_detached(serde_json::json!({"text": "buy milk"}))
        .await
        .unwrap();
    assert_eq!(count, serde_json::json!(1));
    assert_eq!(take_note(Arc::clone(&notebook), "call mum".to_owned()), 2);
    assert_eq!(tool.input_schema()["required"], serde_json::json!(["text"]));
    // Cloning the tool shares the state.
    let copy = tool.clone();
    copy.call_detached(serde_json::json!({"text": "again"}))
        .await
        .unwrap();
    assert_eq!(notebook.notes.lock().unwrap().len(), 3);
}
