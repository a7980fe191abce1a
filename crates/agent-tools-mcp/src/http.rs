//! The streamable HTTP transport's configuration.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use crate::error::McpError;

/// How many times a broken response stream is resumed.
const SSE_RETRIES: usize = 2;
/// The first delay before resuming a broken response stream; it doubles each time.
const SSE_RETRY_BASE: Duration = Duration::from_millis(200);
/// The longest delay before resuming a broken response stream.
const SSE_RETRY_MAX: Duration = Duration::from_secs(2);

/// Headers the transport sets itself.
const RESERVED_HEADERS: &[&str] = &["accept", "mcp-session-id", "last-event-id"];

/// The transport's configuration, with the URL and headers checked.
pub(crate) fn transport_config(
    server: &str,
    url: &str,
    headers: &[(String, String)],
    bearer_token: Option<String>,
) -> Result<StreamableHttpClientTransportConfig, McpError> {
    let invalid = |message: String| McpError::InvalidConfig {
        server: server.to_owned(),
        message,
    };
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        if !cfg!(feature = "rustls") {
            return Err(invalid(format!(
                "`{url}` is an https URL, and this build has no TLS: enable the `rustls` feature \
                 of agent-tools-mcp"
            )));
        }
    } else if !lower.starts_with("http://") {
        return Err(invalid(format!(
            "`{url}` is not an http:// or https:// URL"
        )));
    }
    let mut custom = HashMap::new();
    for (name, value) in headers {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(format!("`{name}` is not a valid HTTP header name")))?;
        if RESERVED_HEADERS.contains(&header_name.as_str()) {
            return Err(invalid(format!(
                "the header `{name}` is set by the MCP transport and cannot be given"
            )));
        }
        let mut header_value = HeaderValue::from_str(value).map_err(|_| {
            invalid(format!(
                "the value of the header `{name}` is not valid HTTP"
            ))
        })?;
        header_value.set_sensitive(true);
        custom.insert(header_name, header_value);
    }
    let mut config = StreamableHttpClientTransportConfig::with_uri(url)
        .custom_headers(custom)
        // After a server restart, start a new session instead of failing every call.
        .reinit_on_expired_session(true);
    // A response stream that breaks is resumed twice (at once, then after the server's SSE
    // `retry` interval, else 0.4 s), not forever: a call to a server that died fails with
    // `Unavailable` within seconds instead of waiting for the call timeout.
    let mut retry = ExponentialBackoff::default();
    retry.max_times = Some(SSE_RETRIES);
    retry.base_duration = SSE_RETRY_BASE;
    retry.max_delay = Some(SSE_RETRY_MAX);
    config.retry_config = Arc::new(retry);
    if let Some(token) = bearer_token {
        if HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
            return Err(invalid(
                "the bearer token is not a valid HTTP header value".into(),
            ));
        }
        config = config.auth_header(token);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::McpErrorKind;

    #[test]
    fn urls_and_headers_are_checked() {
        let config = |url: &str, headers: &[(&str, &str)]| {
            let headers: Vec<(String, String)> = headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect();
            transport_config("s", url, &headers, None)
        };
        assert!(config("http://127.0.0.1:1/mcp", &[("X-Api-Key", "k")]).is_ok());
        assert_eq!(
            config("ftp://x/mcp", &[]).unwrap_err().kind(),
            McpErrorKind::InvalidConfig
        );
        assert_eq!(
            config("http://x/mcp", &[("Bad Header", "v")])
                .unwrap_err()
                .kind(),
            McpErrorKind::InvalidConfig
        );
        assert_eq!(
            config("http://x/mcp", &[("X-Ok", "line\nbreak")])
                .unwrap_err()
                .kind(),
            McpErrorKind::InvalidConfig
        );
        let reserved = config("http://x/mcp", &[("Mcp-Session-Id", "1")]).unwrap_err();
        assert!(reserved.to_string().contains("Mcp-Session-Id"));
    }
}
