//! A plain HTTP/1.1 client for talking to the stand-in on the wire.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::HeaderMap;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// One HTTP answer.
#[derive(Debug)]
pub(crate) struct HttpReply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl HttpReply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `method path` with `body` to `endpoint` (`http://127.0.0.1:PORT`) on a new connection.
pub(crate) async fn send(endpoint: &str, method: &str, path: &str, body: &str) -> HttpReply {
    let authority = endpoint.trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&authority).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority)
        .header("content-type", "application/json")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20250101/us-west-2/bedrock/aws4_request",
        )
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    HttpReply {
        status,
        headers,
        body,
    }
}

/// Sends a Converse request for `model_id` (percent-encoded in the path, as the SDK does).
pub(crate) async fn converse(endpoint: &str, model_id: &str, body: &Value) -> HttpReply {
    let encoded = model_id.replace(':', "%3A").replace('/', "%2F");
    send(
        endpoint,
        "POST",
        &format!("/model/{encoded}/converse"),
        &body.to_string(),
    )
    .await
}
