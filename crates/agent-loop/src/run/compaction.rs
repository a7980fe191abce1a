//! Making the history smaller when the model says a request is too long.

use std::borrow::Borrow;
use std::io;

use agent_core::Message;

use super::RunState;

/// How many times one run may compact its history after the model said it was too long.
const MAX_COMPACTIONS: u32 = 3;

impl RunState<'_> {
    /// Replaces the history with a compacted one; false when it cannot be made smaller.
    pub(super) async fn compact(&mut self) -> bool {
        if self.compactions >= MAX_COMPACTIONS {
            return false;
        }
        let Some(compactor) = self.compactor.clone() else {
            return false;
        };
        let history = &self.request.messages[..self.first_new];
        let Some(compacted) = compactor.compact(history).await else {
            return false;
        };
        if compacted.history.len() >= self.first_new
            && compacted.context_notes == self.context_notes
        {
            return false;
        }
        self.compactions += 1;
        tracing::info!(
            before = self.first_new,
            after = compacted.history.len(),
            "the request was too long for the model; the history was compacted"
        );
        let own = self.request.messages.split_off(self.first_new);
        self.first_new = compacted.history.len();
        self.request.messages = compacted.history;
        self.request.messages.extend(own);
        self.context_notes = compacted.context_notes;
        // The model's conversion cache stays: it knows the messages kept by identity and
        // converts the rest again.
        self.request.system = self.system_blocks();
        true
    }
}

/// A rough token count of messages (owned or shared): a quarter of their JSON size. Enough to
/// decide when to window or summarise; the provider's count is the truth.
pub fn estimate_tokens<M: Borrow<Message>>(messages: &[M]) -> u64 {
    let mut counter = ByteCounter(0);
    for message in messages {
        // Counted as written, not collected: a window is measured on every run. A `Message`'s
        // JSON cannot fail; were it to, the bytes written so far would count.
        serde_json::to_writer(&mut counter, message.borrow()).ok();
    }
    counter.0.div_ceil(4)
}

/// A writer that keeps only the number of bytes written to it.
struct ByteCounter(u64);

impl io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0 += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
