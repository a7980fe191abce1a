//! Signatures `#[tool]` accepts besides the common ones: no arguments, `mut` and raw names,
//! kept attributes, every `Result` spelling, `impl Serialize`, a tool inside a function, and
//! code that passes strict lints.

#![deny(warnings, missing_docs, unreachable_pub, missing_debug_implementations)]

use minimalagent::{Tool, ToolExt, tool};
use serde_json::json;

/// Tools of a public module, as a library would offer them.
pub mod library {
    use minimalagent::tool;

    /// Says hello.
    #[tool]
    pub fn hello() -> &'static str {
        "hello"
    }

    /// Counts to a number.
    ///
    /// # Arguments
    /// * `to` - Where to stop
    #[tool]
    pub async fn count(mut to: u32) -> Vec<u32> {
        let mut numbers = Vec::new();
        while to > 0 {
            numbers.push(to);
            to -= 1;
        }
        numbers.reverse();
        numbers
    }

    /// Fails with an I/O error.
    #[tool]
    pub fn fail_io() -> std::io::Result<()> {
        Err(std::io::Error::other("disk on fire"))
    }
}

mod private {
    /// A `Result` of the module's own.
    type Result<T> = std::result::Result<T, String>;

    /// Checks a name.
    ///
    /// # Arguments
    /// * `type` - The kind of name
    /// * `name` - The name
    #[minimalagent::tool]
    pub(crate) fn check(r#type: String, #[allow(unused_variables)] name: String) -> Result<bool> {
        if r#type.is_empty() {
            Err("a kind is needed".to_owned())
        } else {
            Ok(true)
        }
    }

    /// Gives anything that serializes.
    #[minimalagent::tool]
    pub(crate) fn anything() -> impl serde::Serialize {
        [1, 2, 3]
    }
}

/// Says which run called it: the call's context by reference.
///
/// # Arguments
/// * `greeting` - What to say first
#[tool]
fn whoami(greeting: String, context: &minimalagent::ToolContext) -> String {
    format!("{greeting} from run {}", context.run_id())
}

/// Reads the shared state from the context taken by value, and is async.
#[tool]
async fn shared(context: minimalagent::ToolContext) -> Option<u32> {
    context.state::<u32>().copied()
}

/// Does nothing, with a unit return type written out.
#[tool]
fn nothing() -> () {}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    /// Defined inside a function.
    #[tool]
    fn inner() -> u8 {
        7
    }

    assert_eq!(
        library::Hello.call_detached(json!({})).await.unwrap(),
        json!("hello")
    );
    assert_eq!(
        library::Count.call_detached(json!({"to": 3})).await.unwrap(),
        json!([1, 2, 3])
    );
    let error = library::FailIo.call_detached(json!({})).await.unwrap_err();
    assert_eq!(error.message(), "disk on fire");
    assert_eq!(
        private::Check
            .call_detached(json!({"type": "", "name": "x"}))
            .await
            .unwrap_err()
            .message(),
        "a kind is needed"
    );
    assert_eq!(private::Check.name(), "check");
    assert_eq!(
        private::Anything.call_detached(json!(null)).await.unwrap(),
        json!([1, 2, 3])
    );
    assert_eq!(Nothing.call_detached(json!({})).await.unwrap(), json!(null));
    assert_eq!(Inner.call_detached(json!({})).await.unwrap(), json!(7));
    assert_eq!(library::count(2).await, [1, 2]);

    let context = minimalagent::ToolContext::detached()
        .with_extensions(minimalagent::Extensions::new().with(41_u32));
    let output = Whoami
        .call(json!({"greeting": "hi"}), &context)
        .await
        .unwrap()
        .into_value();
    assert_eq!(output, json!(format!("hi from run {}", context.run_id())));
    assert_eq!(
        Whoami.input_schema()["properties"].as_object().unwrap().len(),
        1,
        "the context is not an argument the model fills in"
    );
    let shared = Shared.call(json!({}), &context).await.unwrap().into_value();
    assert_eq!(shared, json!(41));
}
