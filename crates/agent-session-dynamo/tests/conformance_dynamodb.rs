//! The session-store conformance suite on DynamoDB Local: one test per check, each on the
//! shared test table with its own session ids. Needs `AWS_ENDPOINT_URL_DYNAMODB` (set by
//! `cargo xtask test`).

mod common;

use std::time::Duration;

agent_session::session_store_conformance!(async |ttl: Duration| {
    common::store_with_ttl(ttl).await
});
