//! A plain HTTP/1.1 client for talking to the stand-in on the wire.
#![allow(dead_code, reason = "each test binary uses some of the helpers")]

use std::collections::VecDeque;

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
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

/// The `Authorization` header the helpers send: signed for us-west-2, as the SDK would be.
const AUTHORIZATION: &str =
    "AWS4-HMAC-SHA256 Credential=test/20250101/us-west-2/bedrock/aws4_request";

fn request(authority: &str, method: &str, path: &str, body: &str) -> hyper::Request<Full<Bytes>> {
    request_with(authority, method, path, body, Some(AUTHORIZATION))
}

fn request_with(
    authority: &str,
    method: &str,
    path: &str,
    body: &str,
    authorization: Option<&str>,
) -> hyper::Request<Full<Bytes>> {
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority)
        .header("content-type", "application/json");
    if let Some(authorization) = authorization {
        builder = builder.header("authorization", authorization);
    }
    builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

/// Sends `method path` with `body` to `endpoint` (`http://127.0.0.1:PORT`) on a new connection.
pub(crate) async fn send(endpoint: &str, method: &str, path: &str, body: &str) -> HttpReply {
    send_with(endpoint, method, path, body, Some(AUTHORIZATION)).await
}

/// Sends a Converse request for `model_id` signed for `region` (no `Authorization` header
/// with `None`).
pub(crate) async fn converse_from(
    endpoint: &str,
    model_id: &str,
    body: &Value,
    region: Option<&str>,
) -> HttpReply {
    let authorization = region.map(|region| {
        format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/{region}/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=0")
    });
    send_with(
        endpoint,
        "POST",
        &format!("/model/{}/converse", encode_model_id(model_id)),
        &body.to_string(),
        authorization.as_deref(),
    )
    .await
}

async fn send_with(
    endpoint: &str,
    method: &str,
    path: &str,
    body: &str,
    authorization: Option<&str>,
) -> HttpReply {
    let authority = endpoint.trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&authority).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender
        .send_request(request_with(&authority, method, path, body, authorization))
        .await
        .unwrap();
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

fn encode_model_id(model_id: &str) -> String {
    model_id.replace(':', "%3A").replace('/', "%2F")
}

/// Sends a Converse request for `model_id` (percent-encoded in the path, as the SDK does).
pub(crate) async fn converse(endpoint: &str, model_id: &str, body: &Value) -> HttpReply {
    send(
        endpoint,
        "POST",
        &format!("/model/{}/converse", encode_model_id(model_id)),
        &body.to_string(),
    )
    .await
}

/// One event-stream message, read: its type header, `:message-type` and JSON payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    /// `:event-type` for events, `:exception-type` for exceptions.
    pub(crate) kind: String,
    /// `:message-type`: `event` or `exception`.
    pub(crate) message_type: String,
    /// `:content-type`.
    pub(crate) content_type: String,
    /// The payload, as JSON.
    pub(crate) payload: Value,
}

/// A ConverseStream answer as a client received it.
#[derive(Debug)]
pub(crate) struct StreamReply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    /// The body's data frames, as hyper handed them over (an HTTP chunk, or part of one).
    pub(crate) chunks: Vec<Bytes>,
    /// The error that ended the body early, if any.
    pub(crate) body_error: Option<String>,
    /// The event-stream messages in the body, decoded by aws-smithy-eventstream (which
    /// checks both CRCs); the test fails on a broken frame.
    pub(crate) messages: Vec<Message>,
    /// Bytes after the last whole message (a cut message).
    pub(crate) leftover: usize,
    /// For answers that are not event streams: the body as JSON (or a JSON string).
    pub(crate) json: Value,
}

impl StreamReply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The decoded messages, read.
    pub(crate) fn events(&self) -> Vec<Event> {
        self.messages.iter().map(read_event).collect()
    }

    /// The `:event-type`s in order (exceptions by their `:exception-type`).
    pub(crate) fn kinds(&self) -> Vec<String> {
        self.events().into_iter().map(|e| e.kind).collect()
    }

    /// The payloads of the `contentBlockDelta`s of block `index`.
    pub(crate) fn deltas(&self, index: u64) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e.kind == "contentBlockDelta" && e.payload["contentBlockIndex"] == index)
            .map(|e| e.payload["delta"].clone())
            .collect()
    }

    /// The text of block `index`'s deltas at `field` (`/text`, `/toolUse/input`, …) joined.
    pub(crate) fn joined(&self, index: u64, field: &str) -> String {
        self.deltas(index)
            .iter()
            .filter_map(|delta| delta.pointer(field).and_then(Value::as_str))
            .collect()
    }

    /// The payload of the first event of this kind.
    pub(crate) fn payload(&self, kind: &str) -> Option<Value> {
        self.events()
            .into_iter()
            .find(|e| e.kind == kind)
            .map(|e| e.payload)
    }
}

fn header_str<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

pub(crate) fn read_event(message: &Message) -> Event {
    let message_type = header_str(message, ":message-type").unwrap().to_owned();
    let kind_header = if message_type == "exception" {
        ":exception-type"
    } else {
        ":event-type"
    };
    Event {
        kind: header_str(message, kind_header).unwrap().to_owned(),
        message_type,
        content_type: header_str(message, ":content-type")
            .unwrap_or_default()
            .to_owned(),
        payload: serde_json::from_slice(message.payload()).unwrap(),
    }
}

/// Sends a ConverseStream request for `model_id` and reads the whole answer.
pub(crate) async fn converse_stream(endpoint: &str, model_id: &str, body: &Value) -> StreamReply {
    converse_stream_until(endpoint, model_id, body, None).await
}

/// Sends a ConverseStream request; with `hang_up_after`, closes the connection as soon as that
/// many messages arrived.
pub(crate) async fn converse_stream_until(
    endpoint: &str,
    model_id: &str,
    body: &Value,
    hang_up_after: Option<usize>,
) -> StreamReply {
    let authority = endpoint.trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&authority).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let path = format!("/model/{}/converse-stream", encode_model_id(model_id));
    let response = sender
        .send_request(request(&authority, "POST", &path, &body.to_string()))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = response.into_body();
    let mut chunks = Vec::new();
    let mut body_error = None;
    let mut buffer: VecDeque<u8> = VecDeque::new();
    let mut decoder = MessageFrameDecoder::new();
    let mut messages = Vec::new();
    let event_stream = headers
        .get("content-type")
        .is_some_and(|v| v == "application/vnd.amazon.eventstream");
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    buffer.extend(data.iter());
                    chunks.push(data);
                }
            }
            Err(error) => {
                body_error = Some(error.to_string());
                break;
            }
        }
        if event_stream {
            while let DecodedFrame::Complete(message) = decoder.decode_frame(&mut buffer).unwrap() {
                messages.push(message);
            }
        }
        if hang_up_after.is_some_and(|count| messages.len() >= count) {
            drop(body);
            connection.abort();
            break;
        }
    }
    let bytes: Vec<u8> = chunks.iter().flatten().copied().collect();
    let json = if event_stream {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    StreamReply {
        status,
        headers,
        chunks,
        body_error,
        messages,
        // The decoder keeps a prelude it has read; count it as left over too.
        leftover: if event_stream {
            bytes.len() - consumed_len(&bytes)
        } else {
            0
        },
        json,
    }
}

/// How many bytes of `bytes` whole messages take, reading their length prefixes.
fn consumed_len(bytes: &[u8]) -> usize {
    let mut at = 0;
    while bytes.len() - at >= 4 {
        let total = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if bytes.len() - at < total {
            break;
        }
        at += total;
    }
    at
}
