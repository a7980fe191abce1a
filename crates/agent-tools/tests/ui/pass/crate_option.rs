//! `#[tool(crate = "…")]` with a path to the runtime crate that the manifest lookup could not
//! know: a re-export inside this crate.

mod runtime {
    pub use minimalagent::*;
}

/// Says yes.
#[agent_tools::tool(crate = "crate::runtime")]
fn yes() -> bool {
    true
}

fn main() {
    use runtime::Tool;
    assert_eq!(Yes.name(), "yes");
}
