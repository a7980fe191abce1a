//! A channel between a run, which must never wait, and a reader that may fall behind: what the
//! run sends while the reader is behind joins the item before it where the two can be one, so a
//! streamed answer is held as one growing text, never as a queue of one item per token.
//!
//! [`EventSink::emit`](crate::EventSink::emit) is synchronous and must not block the loop, so a
//! bounded channel (which would make the sender wait or drop) does not fit, and an unbounded
//! one grows by one item per token while its reader is slow (a stalled store, a client that
//! stopped reading). This one holds at most what the run itself holds: its durable events
//! (also kept in its trace) and its text.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;

use crate::AgentEvent;

/// An item that can take the next one into itself.
pub trait Coalesce {
    /// Takes `next` into `self` when the two can be one item (`next` is then dropped): whether it
    /// did. The default takes nothing.
    fn absorb(&mut self, next: &Self) -> bool {
        let _ = next;
        false
    }
}

/// A text delta takes the text delta of the same step after it, and a thinking delta the
/// thinking delta: joined, they say what the two said. Every other event stays itself.
impl Coalesce for AgentEvent {
    fn absorb(&mut self, next: &Self) -> bool {
        match (self, next) {
            (
                AgentEvent::TextDelta { step, text },
                AgentEvent::TextDelta {
                    step: next_step,
                    text: next_text,
                },
            )
            | (
                AgentEvent::ThinkingDelta { step, text },
                AgentEvent::ThinkingDelta {
                    step: next_step,
                    text: next_text,
                },
            ) if step == next_step => {
                text.push_str(next_text);
                true
            }
            _ => false,
        }
    }
}

/// A new channel: items come out in the order they were sent, an item sent while the one
/// before it is still unread joins it where [`Coalesce::absorb`] allows.
pub fn coalescing_channel<T: Coalesce>() -> (CoalescingSender<T>, CoalescingReceiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            senders: 1,
            receiving: true,
        }),
        waker: AtomicWaker::new(),
    });
    (
        CoalescingSender {
            shared: shared.clone(),
        },
        CoalescingReceiver { shared },
    )
}

struct Shared<T> {
    state: Mutex<State<T>>,
    waker: AtomicWaker,
}

struct State<T> {
    items: VecDeque<T>,
    senders: usize,
    receiving: bool,
}

impl<T> Shared<T> {
    /// The state, also after a panic elsewhere while it was held (every change to it is a
    /// single push, pop or count, so it is never left half-made).
    fn state(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending half of a [`coalescing_channel`]; cloned for each sender. Sending never waits.
pub struct CoalescingSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Coalesce> CoalescingSender<T> {
    /// Sends `item`, or hands it back when the receiver is gone.
    ///
    /// # Errors
    ///
    /// The item, when the receiver was dropped.
    pub fn send(&self, item: T) -> Result<(), T> {
        {
            let mut state = self.shared.state();
            if !state.receiving {
                return Err(item);
            }
            let absorbed = state
                .items
                .back_mut()
                .is_some_and(|last| last.absorb(&item));
            if !absorbed {
                state.items.push_back(item);
            }
        }
        self.shared.waker.wake();
        Ok(())
    }

    /// How many items wait unread.
    pub fn unread(&self) -> usize {
        self.shared.state().items.len()
    }
}

impl<T> Clone for CoalescingSender<T> {
    fn clone(&self) -> Self {
        self.shared.state().senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for CoalescingSender<T> {
    fn drop(&mut self) {
        let last = {
            let mut state = self.shared.state();
            state.senders = state.senders.saturating_sub(1);
            state.senders == 0
        };
        if last {
            self.shared.waker.wake();
        }
    }
}

impl<T> std::fmt::Debug for CoalescingSender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoalescingSender").finish_non_exhaustive()
    }
}

/// The receiving half of a [`coalescing_channel`]. Dropping it drops what is unread, and later
/// sends fail.
pub struct CoalescingReceiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> CoalescingReceiver<T> {
    /// The next item; `None` once every sender is gone and every item read. Cancel-safe: an item
    /// is taken only when it is returned.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next item if one is there now.
    pub fn try_recv(&mut self) -> Option<T> {
        self.shared.state().items.pop_front()
    }

    /// Polls for the next item (see [`recv`](Self::recv)).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(ready) = self.ready() {
            return Poll::Ready(ready);
        }
        self.shared.waker.register(cx.waker());
        // Looked at again: a send between the first look and the registration woke nobody.
        match self.ready() {
            Some(ready) => Poll::Ready(ready),
            None => Poll::Pending,
        }
    }

    /// How many items wait unread.
    pub fn len(&self) -> usize {
        self.shared.state().items.len()
    }

    /// Whether no item waits unread.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn ready(&self) -> Option<Option<T>> {
        let mut state = self.shared.state();
        match state.items.pop_front() {
            Some(item) => Some(Some(item)),
            None if state.senders == 0 => Some(None),
            None => None,
        }
    }
}

impl<T> Drop for CoalescingReceiver<T> {
    fn drop(&mut self) {
        let unread = {
            let mut state = self.shared.state();
            state.receiving = false;
            std::mem::take(&mut state.items)
        };
        // Dropped outside the lock: an item's own drop (a reply channel) may do work.
        drop(unread);
    }
}

// A panic cannot leave the shared state half-changed (every change is one push, pop or count
// under the lock, and a poisoned lock is taken as it is), so both halves may cross
// `catch_unwind` like the channels they replace.
impl<T> std::panic::UnwindSafe for CoalescingSender<T> {}
impl<T> std::panic::RefUnwindSafe for CoalescingSender<T> {}
impl<T> std::panic::UnwindSafe for CoalescingReceiver<T> {}
impl<T> std::panic::RefUnwindSafe for CoalescingReceiver<T> {}

impl<T> std::fmt::Debug for CoalescingReceiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoalescingReceiver")
            .field("unread", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn text(step: u32, text: &str) -> AgentEvent {
        AgentEvent::TextDelta {
            step,
            text: text.into(),
        }
    }

    fn thinking(step: u32, text: &str) -> AgentEvent {
        AgentEvent::ThinkingDelta {
            step,
            text: text.into(),
        }
    }

    #[test]
    fn an_unread_answer_is_one_item_however_many_tokens() {
        let (sender, mut receiver) = coalescing_channel();
        for _ in 0..100_000 {
            sender.send(text(1, "ab")).unwrap();
        }
        assert_eq!(receiver.len(), 1);
        let Some(AgentEvent::TextDelta { step: 1, text }) = receiver.try_recv() else {
            panic!("expected one text delta");
        };
        assert_eq!(text.len(), 200_000);
        assert!(receiver.is_empty());
    }

    #[test]
    fn only_deltas_of_one_kind_and_step_join_and_order_is_kept() {
        let (sender, mut receiver) = coalescing_channel();
        let sent = [
            thinking(1, "hm"),
            thinking(1, "m"),
            text(1, "A"),
            text(1, "B"),
            text(2, "C"),
            AgentEvent::StepLimitReached {
                step: 2,
                max_steps: 2,
            },
            text(2, "D"),
            text(2, "E"),
        ];
        for event in sent {
            sender.send(event).unwrap();
        }
        let mut received = Vec::new();
        while let Some(event) = receiver.try_recv() {
            received.push(event);
        }
        assert_eq!(
            received,
            vec![
                thinking(1, "hmm"),
                text(1, "AB"),
                text(2, "C"),
                AgentEvent::StepLimitReached {
                    step: 2,
                    max_steps: 2,
                },
                text(2, "DE"),
            ]
        );
    }

    #[test]
    fn a_read_delta_is_not_joined_again() {
        let (sender, mut receiver) = coalescing_channel();
        sender.send(text(1, "A")).unwrap();
        assert_eq!(receiver.try_recv(), Some(text(1, "A")));
        sender.send(text(1, "B")).unwrap();
        assert_eq!(receiver.try_recv(), Some(text(1, "B")));
    }

    #[test]
    fn sending_to_a_dropped_receiver_hands_the_item_back() {
        let (sender, receiver) = coalescing_channel();
        sender.send(text(1, "kept")).unwrap();
        drop(receiver);
        assert_eq!(sender.send(text(1, "late")), Err(text(1, "late")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_receiver_wakes_for_an_item_and_ends_with_the_last_sender() {
        let (sender, mut receiver) = coalescing_channel();
        let second = sender.clone();
        let task = tokio::spawn(async move {
            let mut received = Vec::new();
            while let Some(event) = receiver.recv().await {
                received.push(event);
            }
            received
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        sender.send(text(1, "A")).unwrap();
        drop(sender);
        tokio::time::sleep(Duration::from_millis(10)).await;
        second.send(text(2, "B")).unwrap();
        assert!(!task.is_finished());
        drop(second);
        let received = tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(received, vec![text(1, "A"), text(2, "B")]);
    }
}
