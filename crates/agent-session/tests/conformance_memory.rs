//! The store conformance suite, run on [`InMemorySessionStore`]: one test per check.

use std::time::Duration;

use agent_session::InMemorySessionStore;

agent_session::session_store_conformance!(async |ttl: Duration| {
    InMemorySessionStore::with_ttl(ttl).unwrap()
});
