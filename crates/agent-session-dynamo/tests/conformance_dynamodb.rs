//! The session-store and run-level conformance suites on DynamoDB Local: one test per check,
//! each on the shared test table with its own session ids. Needs `AWS_ENDPOINT_URL_DYNAMODB` (set by
//! `cargo xtask test`).

mod common;

use std::time::Duration;

agent_session::session_store_conformance!(async |ttl: Duration| {
    common::store_with_ttl(ttl).await
});

/// The run-level checks: real agent runs (sustained writers, followers, crashes, resume).
mod runs {
    use super::common;
    use std::time::Duration;

    agent_runtime::session_runs_conformance!(async |ttl: Duration| {
        common::store_with_ttl(ttl).await
    });
}
