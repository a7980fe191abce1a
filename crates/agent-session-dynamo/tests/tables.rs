//! Tables on DynamoDB Local: created on demand with TTL, checked and never altered, bad settings
//! refused before any I/O; and the item-size calculator checked against DynamoDB's 400 KB.
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (set by `cargo xtask test`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic is a failed assertion.

mod common;

use std::time::Duration;

use agent_session::{SessionErrorKind, SessionVersion};
use agent_session_dynamo::aws_sdk_dynamodb::primitives::Blob;
use agent_session_dynamo::aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveStatus,
};
use agent_session_dynamo::size::{MAX_ITEM_BYTES, item_size};
use common::*;
use uuid::Uuid;

type Item = std::collections::HashMap<String, AttributeValue>;

#[tokio::test]
async fn the_size_calculator_agrees_with_dynamodb_at_400_kb() {
    let raw = raw_client().await;
    let _ = store().await; // creates the shared table if needed
    let pk = format!("size-edge-{}", Uuid::now_v7().simple());
    // Items whose calculated size is exactly 400 KB are accepted, with long attribute names,
    // multibyte UTF-8, numbers and binary in them.
    let exact = |filler_bytes: usize| {
        let mut item = Item::new();
        item.insert("pk".into(), s(&pk));
        item.insert("sk".into(), n(123_456_789));
        item.insert("a_rather_long_attribute_name_é".into(), n("1700000000.5"));
        item.insert("bin".into(), AttributeValue::B(Blob::new(vec![0u8; 1000])));
        item.insert("list".into(), AttributeValue::L(vec![s("x"), n(1)]));
        let base = {
            let mut probe = item.clone();
            probe.insert("text".into(), s(""));
            item_size(&probe)
        };
        // 2-byte and 3-byte characters count as their UTF-8 bytes.
        let target = filler_bytes.saturating_sub(base);
        let mut text = "é漢".repeat(target / 5);
        while text.len() > target {
            text.pop();
        }
        while text.len() < target {
            text.push('a');
        }
        item.insert("text".into(), s(text));
        item
    };
    let fits = exact(MAX_ITEM_BYTES);
    assert_eq!(item_size(&fits), MAX_ITEM_BYTES);
    raw.put_item()
        .table_name(SHARED_TABLE)
        .set_item(Some(fits))
        .send()
        .await
        .expect("an item the calculator says fits is accepted");
    let over = exact(MAX_ITEM_BYTES + 64);
    assert!(item_size(&over) > MAX_ITEM_BYTES);
    let error = raw
        .put_item()
        .table_name(SHARED_TABLE)
        .set_item(Some(over))
        .send()
        .await
        .expect_err("an item over 400 KB is refused");
    assert!(format!("{error:?}").contains("Item size"), "{error:?}");
}

// ------------------------------------------------------------------------------ tables

#[tokio::test]
async fn a_missing_table_is_created_on_demand_with_ttl() {
    let table = table("created");
    builder(&table).await.build().await.unwrap();
    let raw = raw_client().await;
    let described = raw
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let described = described.table.unwrap();
    assert_eq!(
        described
            .billing_mode_summary()
            .and_then(|b| b.billing_mode().cloned()),
        Some(BillingMode::PayPerRequest)
    );
    let ttl = raw
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("expiration_time"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    // A second store checks the table and leaves it as it is.
    builder(&table).await.build().await.unwrap();
    raw.delete_table().table_name(&table).send().await.unwrap();
}

async fn create_raw_table(name: &str, sk_type: ScalarAttributeType) {
    let raw = raw_client().await;
    raw.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("sk")
                .attribute_type(sk_type)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("sk")
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn tables_are_checked_and_never_altered() {
    // The wrong key schema: a clear error, and the table is left alone.
    let wrong = table("wrongkeys");
    create_raw_table(&wrong, ScalarAttributeType::S).await;
    let error = builder(&wrong).await.build().await.unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Misconfigured, "{error}");
    assert!(error.to_string().contains("sk S RANGE"), "{error}");

    // A pre-made table without TTL works (with a warning), and TTL stays off.
    let premade = table("premade");
    create_raw_table(&premade, ScalarAttributeType::N).await;
    let store = builder(&premade)
        .await
        .create_table_if_missing(false)
        .build()
        .await
        .unwrap();
    let session = session("premade");
    commit(&store, &session, SessionVersion::EMPTY, &run("q", "a")).await;
    let raw = raw_client().await;
    let ttl = raw
        .describe_time_to_live()
        .table_name(&premade)
        .send()
        .await
        .unwrap();
    assert_ne!(
        ttl.time_to_live_description()
            .and_then(|d| d.time_to_live_status()),
        Some(&TimeToLiveStatus::Enabled)
    );

    // No table and no permission to create one.
    let error = builder(&table("absent"))
        .await
        .create_table_if_missing(false)
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Misconfigured);
    for name in [wrong, premade] {
        raw.delete_table().table_name(name).send().await.unwrap();
    }
}

#[tokio::test]
async fn bad_settings_are_rejected_before_any_io() {
    for name in ["ab", "has space", "slash/", "ü-table", &"x".repeat(256)] {
        let error = builder(name).await.build().await.unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::InvalidInput, "{name}");
    }
    let error = builder("fine-name")
        .await
        .ttl(Duration::ZERO)
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::InvalidInput);
    assert!(agent_session_dynamo::validate_table_name(&"x".repeat(255)).is_ok());
    assert!(agent_session_dynamo::validate_table_name("a.b-c_D9").is_ok());
}
