//! Bring your own DynamoDB table: the agent uses a table made beforehand (by CloudFormation,
//! see `docs/cloudformation/session-table.yaml`), checks its schema, and never alters it. A
//! pre-made table needs only the permissions of the least-privilege policy in
//! `docs/design/session-layout.md`.
//!
//! ```sh
//! cargo xtask example byo_table      # offline: creates the table in DynamoDB Local first
//! cargo run --example byo_table      # AWS: the table `my-agent-sessions` must exist
//! ```

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use minimalagent::dynamodb::aws_config::{self, BehaviorVersion};
use minimalagent::dynamodb::aws_sdk_dynamodb::Client;
use minimalagent::dynamodb::aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use minimalagent::{Agent, tool};

/// The table the CloudFormation template in docs/ creates.
const TABLE: &str = "my-agent-sessions";

/// Example tool functionality.
///
/// # Arguments
/// * `param` - What to process
#[tool]
fn example_tool(param: String) -> serde_json::Value {
    serde_json::json!({"result": format!("Processed {param}")})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let example = common::example_model().await?;
    let local = std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some();
    if !common::dynamodb_available() {
        anyhow::bail!(
            "this example needs DynamoDB: run `cargo xtask example byo_table` (DynamoDB Local), \
             or configure AWS credentials"
        );
    }
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let dynamodb = Client::new(&config);
    if local {
        // What the CloudFormation template does, done here so the example runs offline.
        create_table(&dynamodb, TABLE, true).await?;
        create_table(&dynamodb, "wrong-schema-table", false).await?;
    }

    // The agent checks the table (DescribeTable, DescribeTimeToLive) and uses it as it is.
    let agent = Agent::builder()
        .model(example.model.clone())
        .tool(ExampleTool)
        .session_table_name(TABLE) // a non-default table name turns session memory on
        .show_reasoning(false)
        .build()
        .await?;
    let session_id = format!("byo-{}", std::process::id());
    let result = agent
        .run_in_session("Please process the word 'hello'.", &session_id)
        .await?;
    println!("Answer: {}", result.response);
    println!(
        "Reasoning records in {TABLE} for {session_id}: {}",
        agent.get_reasoning_history(&session_id).await?.len()
    );
    agent.delete_session(&session_id).await?;

    if local {
        // A table with the wrong key schema is a clear error at build time, not a lost turn.
        let error = Agent::builder()
            .model(example.model)
            .session_table_name("wrong-schema-table")
            .show_reasoning(false)
            .build()
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("a table with the wrong schema was accepted"))?;
        println!("A table with the wrong schema is refused: {error}");
    }
    Ok(())
}

/// Creates a table (the right schema: `pk` S + `sk` N; the wrong one: `pk` only) unless it
/// exists, and enables TTL on `expiration_time`.
async fn create_table(dynamodb: &Client, name: &str, right_schema: bool) -> anyhow::Result<()> {
    if dynamodb
        .describe_table()
        .table_name(name)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    let mut request = dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()?,
        );
    if right_schema {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sk")
                    .attribute_type(ScalarAttributeType::N)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("sk")
                    .key_type(KeyType::Range)
                    .build()?,
            );
    }
    request.send().await?;
    dynamodb
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expiration_time")
                .enabled(true)
                .build()?,
        )
        .send()
        .await?;
    println!("Created table {name} (as the CloudFormation template would).");
    Ok(())
}
