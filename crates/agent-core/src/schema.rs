//! JSON Schemas of the values whose serde form is custom (timestamps, base64 bytes), for the
//! `JsonSchema` derives of the stored records (`docs/schemas/`).
//!
//! The schemas say what this version writes. The variants that keep what a newer version wrote
//! (`Unknown`, `Other`) are `#[schemars(skip)]`: they accept anything, and would make every
//! schema accept anything. Readers of the records should, like this crate, keep values and
//! fields they do not know.

use schemars::{Schema, SchemaGenerator, json_schema};

/// An RFC 3339 timestamp (`jiff::Timestamp`'s serde form).
pub(crate) fn timestamp(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "format": "date-time"})
}

/// An optional RFC 3339 timestamp.
pub(crate) fn optional_timestamp(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": ["string", "null"], "format": "date-time"})
}

/// Bytes, base64-encoded (standard alphabet, padded), as Converse's JSON has them.
pub(crate) fn base64_bytes(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "contentEncoding": "base64"})
}
