//! The run-level conformance suite on the in-memory store.

use std::time::Duration;

use agent_session::InMemorySessionStore;

agent_runtime::session_runs_conformance!(async |ttl: Duration| {
    InMemorySessionStore::with_ttl(ttl).expect("a valid ttl")
});
