//! Making the history smaller when the model says a request is too long.

use agent_core::{ConversionCache, Message};

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
        self.request.system = self.system_blocks();
        // The model's conversion of the old history no longer applies.
        self.request.cache = ConversionCache::default();
        true
    }
}

/// A rough token count of messages: a quarter of their JSON size. Enough to decide when to
/// window or summarise; the provider's count is the truth.
pub fn estimate_tokens(messages: &[Message]) -> u64 {
    let bytes: usize = messages
        .iter()
        .map(|m| serde_json::to_vec(m).map_or(0, |v| v.len()))
        .sum();
    (bytes as u64).div_ceil(4)
}
