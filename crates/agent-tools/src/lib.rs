//! # agent-tools
//!
//! The `#[tool]` attribute (work in progress).

use proc_macro::TokenStream;

/// Turns a function into an agent tool (work in progress: emits the function unchanged).
#[proc_macro_attribute]
pub fn tool(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
