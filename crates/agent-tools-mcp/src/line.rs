//! Newline-delimited JSON-RPC over a byte stream (the MCP stdio transport), with a policy for
//! what is not an MCP message.

use std::sync::Arc;

use rmcp::model::{
    ClientJsonRpcMessage, ErrorCode, ErrorData, JsonRpcError, JsonRpcMessage, RequestId,
    ServerJsonRpcMessage,
};
use rmcp::service::RoleClient;
use rmcp::transport::Transport;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::Mutex;

use crate::process::Diagnostics;

/// The largest message read from a stdio (or `io`) server, 64 MiB: a longer line is a protocol
/// violation (or, when stray output is tolerated, skipped).
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

const READ_CHUNK: usize = 64 << 10;
const PREVIEW_CHARS: usize = 120;

/// What to do with a line that is not an MCP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrayOutput {
    /// Close the connection: the server broke the protocol (the stdio transport's rule is that
    /// a server writes nothing but MCP messages on stdout).
    Fail,
    /// Log it and skip it.
    Ignore,
}

/// The stdio transport of the MCP spec over any reader and writer.
pub(crate) struct LineTransport<R, W> {
    reader: R,
    writer: Arc<Mutex<Option<W>>>,
    buffer: Vec<u8>,
    scanned: usize,
    discarding: bool,
    chunk: Box<[u8]>,
    stray: StrayOutput,
    diagnostics: Arc<Diagnostics>,
    finished: bool,
}

enum Line {
    Message(Box<ServerJsonRpcMessage>),
    Skip,
    Fatal(String),
}

impl<R, W> LineTransport<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    pub(crate) fn new(
        reader: R,
        writer: W,
        stray: StrayOutput,
        diagnostics: Arc<Diagnostics>,
    ) -> Self {
        Self {
            reader,
            writer: Arc::new(Mutex::new(Some(writer))),
            buffer: Vec::new(),
            scanned: 0,
            discarding: false,
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
            stray,
            diagnostics,
            finished: false,
        }
    }

    /// The next complete line in the buffer, if any (cancel-safe: no await).
    fn next_line(&mut self) -> Option<Line> {
        loop {
            let Some(offset) = self.buffer[self.scanned..]
                .iter()
                .position(|&byte| byte == b'\n')
            else {
                self.scanned = self.buffer.len();
                if self.buffer.len() > MAX_MESSAGE_BYTES {
                    if self.stray == StrayOutput::Fail {
                        return Some(Line::Fatal(too_long()));
                    }
                    tracing::warn!("skipping a message longer than {MAX_MESSAGE_BYTES} bytes");
                    self.discarding = true;
                    self.buffer.clear();
                    self.scanned = 0;
                }
                if self.discarding {
                    self.buffer.clear();
                    self.scanned = 0;
                }
                return None;
            };
            let end = self.scanned + offset;
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            self.scanned = 0;
            if self.discarding {
                self.discarding = false;
                continue;
            }
            if line.len() > MAX_MESSAGE_BYTES + 1 {
                if self.stray == StrayOutput::Fail {
                    return Some(Line::Fatal(too_long()));
                }
                continue;
            }
            return Some(self.parse(&line));
        }
    }

    fn parse(&self, line: &[u8]) -> Line {
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        let line = line.trim_ascii();
        if line.is_empty() {
            return Line::Skip;
        }
        let error = match serde_json::from_slice::<ServerJsonRpcMessage>(line) {
            Ok(message) => return Line::Message(Box::new(message)),
            Err(error) => error,
        };
        let Ok(value) = serde_json::from_slice::<Value>(line) else {
            return self.stray_line(format!(
                "wrote something that is not JSON-RPC on stdout: {}",
                preview(line)
            ));
        };
        let Some(object) = value.as_object() else {
            return self.stray_line(format!(
                "wrote JSON that is not a JSON-RPC message on stdout: {}",
                preview(line)
            ));
        };
        let id = object
            .get("id")
            .filter(|id| !id.is_null())
            .and_then(|id| serde_json::from_value::<RequestId>(id.clone()).ok());
        if let Some(id) = id
            && (object.contains_key("result") || object.contains_key("error"))
        {
            // A response we cannot read (for example content of a kind this version does not
            // know): fail that request alone, and keep the connection.
            tracing::warn!(%error, "an MCP response could not be read");
            return Line::Message(Box::new(JsonRpcMessage::Error(JsonRpcError::new(
                Some(id),
                ErrorData::new(
                    ErrorCode::INTERNAL_ERROR,
                    format!("the server's response could not be read: {error}"),
                    None,
                ),
            ))));
        }
        if object.contains_key("method") {
            // A request or notification we cannot read: nothing waits for it.
            tracing::warn!(%error, message = %preview(line), "skipping an MCP message that could not be read");
            return Line::Skip;
        }
        self.stray_line(format!(
            "wrote JSON that is not a JSON-RPC message on stdout: {}",
            preview(line)
        ))
    }

    fn stray_line(&self, message: String) -> Line {
        match self.stray {
            StrayOutput::Fail => Line::Fatal(message),
            StrayOutput::Ignore => {
                tracing::warn!("MCP server {message} (skipped)");
                Line::Skip
            }
        }
    }

    async fn receive_message(&mut self) -> Option<ServerJsonRpcMessage> {
        loop {
            if self.finished {
                return None;
            }
            match self.next_line() {
                Some(Line::Message(message)) => return Some(*message),
                Some(Line::Skip) => continue,
                Some(Line::Fatal(message)) => {
                    self.diagnostics.set_protocol_violation(message);
                    self.finished = true;
                    return None;
                }
                None => {}
            }
            // `read` is cancel-safe: if this future is dropped here, no byte is lost.
            match self.reader.read(&mut self.chunk).await {
                Ok(0) => {
                    self.finished = true;
                    // A last message without its newline.
                    if !self.discarding && !self.buffer.trim_ascii().is_empty() {
                        let line = std::mem::take(&mut self.buffer);
                        match self.parse(&line) {
                            Line::Message(message) => return Some(*message),
                            Line::Skip => {}
                            Line::Fatal(message) => {
                                self.diagnostics.set_protocol_violation(message)
                            }
                        }
                    }
                    return None;
                }
                Ok(read) => self.buffer.extend_from_slice(&self.chunk[..read]),
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => {
                    self.diagnostics
                        .set_read_error(format!("reading from the server failed: {error}"));
                    self.finished = true;
                    return None;
                }
            }
        }
    }
}

fn too_long() -> String {
    format!("wrote a message longer than {MAX_MESSAGE_BYTES} bytes")
}

/// The start of a line, quoted, for error messages.
fn preview(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut preview: String = text.chars().take(PREVIEW_CHARS).collect();
    if text.chars().count() > PREVIEW_CHARS {
        preview.push('…');
    }
    format!("{preview:?}")
}

impl<R, W> Transport<RoleClient> for LineTransport<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let writer = self.writer.clone();
        let bytes = serde_json::to_vec(&item);
        async move {
            let mut bytes = bytes.map_err(std::io::Error::other)?;
            bytes.push(b'\n');
            let mut writer = writer.lock().await;
            let Some(writer) = writer.as_mut() else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "the connection is closed",
                ));
            };
            writer.write_all(&bytes).await?;
            writer.flush().await
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ServerJsonRpcMessage>> + Send {
        self.receive_message()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // Closing our end (the server's stdin) is how a stdio server is asked to stop.
        let writer = self.writer.lock().await.take();
        if let Some(mut writer) = writer {
            let _ = writer.shutdown().await;
        }
        Ok(())
    }
}
