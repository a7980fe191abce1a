//! The HTTP body of a streamed answer: chunks sent over time, an abort when a fault or a
//! shutdown asks for one, and a note in the record when the client goes away early.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use tokio::sync::watch;

use super::stream::ChunkedBody;
use super::{Shared, lock};

enum Item {
    Chunk { bytes: Bytes, pause_before: bool },
    Abort,
}

/// Notes in the record that the client went away when the body is dropped after it started
/// to be sent and before it was all sent (hyper drops a body whose connection closed).
struct DisconnectWatch {
    shared: Arc<Shared>,
    index: usize,
    started: bool,
    finished: bool,
}

impl Drop for DisconnectWatch {
    fn drop(&mut self) {
        if self.started && !self.finished {
            let mut state = lock(&self.shared.state);
            if let Some(request) = state.requests.iter_mut().find(|r| r.index == self.index) {
                request.client_disconnected = true;
            }
        }
    }
}

struct BodyState {
    items: VecDeque<Item>,
    event_delay: Duration,
    stop: watch::Receiver<bool>,
    watch: DisconnectWatch,
}

/// A body sending `chunked` with `event_delay` between event groups; request `index` of
/// `shared` gets `client_disconnected` if the client goes away first.
pub(super) fn stream_body(
    chunked: ChunkedBody,
    event_delay: Duration,
    shared: Arc<Shared>,
    index: usize,
) -> Body {
    let mut items = VecDeque::new();
    for (position, group) in chunked.groups.into_iter().enumerate() {
        for (offset, bytes) in group.into_iter().enumerate() {
            items.push_back(Item::Chunk {
                bytes,
                pause_before: position > 0 && offset == 0,
            });
        }
    }
    if chunked.abort {
        items.push_back(Item::Abort);
    }
    let stop = shared.stop.subscribe();
    let state = BodyState {
        items,
        event_delay,
        stop,
        watch: DisconnectWatch {
            shared,
            index,
            started: false,
            finished: false,
        },
    };
    Body::from_stream(futures::stream::unfold(state, next_chunk))
}

async fn next_chunk(mut state: BodyState) -> Option<(Result<Bytes, io::Error>, BodyState)> {
    state.watch.started = true;
    let Some(item) = state.items.pop_front() else {
        state.watch.finished = true;
        return None;
    };
    match item {
        Item::Chunk {
            bytes,
            pause_before,
        } => {
            if pause_before && !state.event_delay.is_zero() {
                let delay = state.event_delay;
                let stopped = tokio::select! {
                    () = tokio::time::sleep(delay) => false,
                    _ = state.stop.wait_for(|stop| *stop) => true,
                };
                if stopped {
                    state.watch.finished = true;
                    let error = io::Error::other("the Converse stand-in is shutting down");
                    return Some((Err(error), state));
                }
            }
            Some((Ok(bytes), state))
        }
        Item::Abort => {
            // An error from the body makes hyper close the connection without the final
            // chunk: the client sees the body end early. Hyper drops what it has buffered but
            // not written when that happens; it flushes whenever the body is pending, so be
            // pending once first and what was sent before the drop reaches the client.
            tokio::task::yield_now().await;
            state.watch.finished = true;
            let error = io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the Converse stand-in drops the connection, as a test asked",
            );
            Some((Err(error), state))
        }
    }
}
