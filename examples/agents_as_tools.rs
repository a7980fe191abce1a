//! Agents as tools: a research agent offered to a coordinating agent as a tool, with its own
//! session per parent session; the child's run is linked from the parent's trace.
//!
//! ```sh
//! cargo run --example agents_as_tools
//! ```

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use minimalagent::session::InMemorySessionStore;
use minimalagent::{Agent, ChildSession, tool};

/// Look up facts about a country.
///
/// # Arguments
/// * `country` - The country to look up
#[tool]
async fn country_facts(country: String) -> serde_json::Value {
    serde_json::json!({"country": country, "capital": "Lisbon", "population_millions": 10.6})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let example = common::example_model().await?;
    let store = InMemorySessionStore::new();
    let researcher = Agent::builder()
        .model(example.model.clone())
        .tool(CountryFacts)
        .system_prompt("You research countries.")
        .sessions(store.clone())
        .show_reasoning(false)
        .build()
        .await?;
    let coordinator = Agent::builder()
        .model(example.model)
        .tool(
            researcher
                .as_tool("researcher", "Researches facts about a country for you.")
                .with_session(ChildSession::PerParentSession),
        )
        .system_prompt("You coordinate research.")
        .sessions(store)
        .build()
        .await?;
    let result = coordinator
        .run_in_session("Find out about Portugal for me.", "trip-planning")
        .await?;
    println!("{}", result.response);
    for tool in result.reasoning.steps.iter().flat_map(|step| &step.tools) {
        if let Some(output) = &tool.result {
            println!(
                "child run {} in session {} answered: {}",
                output["run_id"], output["session_id"], output["answer"]
            );
        }
    }
    let child = researcher.get_reasoning("trip-planning-researcher").await?;
    if let Some(child) = child {
        println!(
            "the child's own trace: {} step(s) for {:?}",
            child.total_steps, child.query
        );
    }
    Ok(())
}
