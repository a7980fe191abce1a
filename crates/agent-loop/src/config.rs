//! [`AgentLoop`]: the loop's settings, shared by every run of an agent, and its entry point.

use std::sync::Arc;
use std::time::Duration;

use agent_core::{
    Clock, EventSink, Extensions, InferenceConfig, Model, ModelIdentity, RunResult, SystemClock,
    ToolChoice, ToolSet,
};
use tracing::Instrument;

use crate::error::FailedRun;
use crate::hooks::{Hook, Hooks};
use crate::input::RunInput;
use crate::run::RunState;
use crate::telemetry;

/// The default number of times a model call whose stream broke off is made again.
pub const DEFAULT_STREAM_RETRIES: u32 = 2;

/// The settings of the loop. Cheap to clone; shared by every run of an agent.
#[derive(Clone)]
pub struct AgentLoop {
    config: Arc<LoopConfig>,
}

#[derive(Clone)]
pub(crate) struct LoopConfig {
    pub(crate) model: Arc<dyn Model>,
    pub(crate) identity: ModelIdentity,
    pub(crate) tools: ToolSet,
    pub(crate) system_prompt: String,
    pub(crate) max_steps: u32,
    pub(crate) inference: InferenceConfig,
    pub(crate) tool_choice: Option<ToolChoice>,
    pub(crate) stream_retries: u32,
    pub(crate) extensions: Extensions,
    pub(crate) capture_content: bool,
    pub(crate) name: String,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hooks: Hooks,
    pub(crate) interrupt_ttl: Option<Duration>,
}

impl std::fmt::Debug for AgentLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.config;
        f.debug_struct("AgentLoop")
            .field("model", &c.identity)
            .field("tools", &c.tools)
            .field("system_prompt", &c.system_prompt)
            .field("max_steps", &c.max_steps)
            .field("inference", &c.inference)
            .finish_non_exhaustive()
    }
}

impl AgentLoop {
    /// A loop over `model` offering `tools`, with a step limit of 5 and no system prompt.
    pub fn new(model: Arc<dyn Model>, tools: ToolSet) -> Self {
        let identity = model.identity();
        Self {
            config: Arc::new(LoopConfig {
                model,
                identity,
                tools,
                system_prompt: String::new(),
                max_steps: 5,
                inference: InferenceConfig::default(),
                tool_choice: None,
                stream_retries: DEFAULT_STREAM_RETRIES,
                extensions: Extensions::default(),
                capture_content: false,
                name: "minimalagent".to_owned(),
                clock: Arc::new(SystemClock),
                hooks: Hooks::default(),
                interrupt_ttl: None,
            }),
        }
    }

    fn configure(mut self, change: impl FnOnce(&mut LoopConfig)) -> Self {
        change(Arc::make_mut(&mut self.config));
        self
    }

    /// The system prompt. The current UTC time is not part of it (a prompt that changes on
    /// every run could never be read from the prompt cache): it ends each run's user turn
    /// instead (see [`time_line`](crate::time_line)).
    #[must_use]
    pub fn with_system_prompt(self, prompt: impl Into<String>) -> Self {
        let prompt = prompt.into();
        self.configure(|c| c.system_prompt = prompt)
    }

    /// The most tool steps a run takes before it asks for a final answer (0 is raised to 1).
    #[must_use]
    pub fn with_max_steps(self, max_steps: u32) -> Self {
        self.configure(|c| c.max_steps = max_steps.max(1))
    }

    /// Inference settings sent with every request.
    #[must_use]
    pub fn with_inference(self, inference: InferenceConfig) -> Self {
        self.configure(|c| c.inference = inference)
    }

    /// How the model must choose among the tools (default: left to the model).
    #[must_use]
    pub fn with_tool_choice(self, choice: Option<ToolChoice>) -> Self {
        self.configure(|c| c.tool_choice = choice)
    }

    /// How many times a model call whose stream broke off (or was throttled mid-stream) is made
    /// again before the run fails (default [`DEFAULT_STREAM_RETRIES`]).
    #[must_use]
    pub fn with_stream_retries(self, retries: u32) -> Self {
        self.configure(|c| c.stream_retries = retries)
    }

    /// Values shared with every tool call ([`ToolContext::state`](agent_core::ToolContext::state)).
    #[must_use]
    pub fn with_extensions(self, extensions: Extensions) -> Self {
        self.configure(|c| c.extensions = extensions)
    }

    /// Whether spans carry message content (prompts, answers, tool arguments and results).
    /// Off by default: content may be private.
    #[must_use]
    pub fn with_content_in_spans(self, capture: bool) -> Self {
        self.configure(|c| c.capture_content = capture)
    }

    /// The agent's name in traces (`gen_ai.agent.name`; default `minimalagent`).
    #[must_use]
    pub fn with_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.configure(|c| c.name = name)
    }

    /// Where runs take the time from (the time of each user turn, event times); the system
    /// clock by default.
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.configure(|c| c.clock = clock)
    }

    /// Adds a hook, called after the ones added before it (see [`Hook`]).
    #[must_use]
    pub fn with_hook(self, hook: Arc<dyn Hook>) -> Self {
        self.configure(|c| c.hooks.push(hook))
    }

    /// How long a tool call held for approval waits before it reads as denied (its
    /// [`expires_at`](agent_core::Interrupt::expires_at)); `None` (the default) leaves it to the
    /// run's input ([`RunInput::interrupt_ttl`]), and without either it never expires.
    #[must_use]
    pub fn with_interrupt_ttl(self, ttl: Option<Duration>) -> Self {
        self.configure(|c| c.interrupt_ttl = ttl)
    }

    /// The model.
    pub fn model(&self) -> &Arc<dyn Model> {
        &self.config.model
    }

    /// The tools offered to the model.
    pub fn tools(&self) -> &ToolSet {
        &self.config.tools
    }

    /// The most tool steps a run takes before it asks for a final answer.
    pub fn max_steps(&self) -> u32 {
        self.config.max_steps
    }

    /// The agent's name in traces.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Runs one query, reporting every event to `sink`.
    ///
    /// The trace it returns (in the result or the failure) is the fold of the events `sink`
    /// saw. The loop does not report the end of the run (`RunFinished`, `RunEnded`): its caller
    /// does, once it has done what it must with the result (a session commits it first).
    pub async fn run(&self, input: RunInput, sink: &dyn EventSink) -> Result<RunResult, FailedRun> {
        let c = &self.config;
        let span = telemetry::invoke_agent(
            &c.identity,
            &c.name,
            input.session_id.as_deref(),
            input.run_id,
            c.capture_content.then_some(input.query.as_slice()),
        );
        let run = async {
            let mut state = RunState::start(c, input, sink);
            let outcome = state.drive().await;
            state.report_end(&outcome).await;
            state.end(outcome)
        };
        let result = run.instrument(span.clone()).await;
        match &result {
            Ok(result) => {
                telemetry::record_run_end(&span, &result.usage, None);
                if c.capture_content {
                    telemetry::record_answer(&span, result);
                }
            }
            Err(failed) => telemetry::record_run_end(
                &span,
                &failed.reasoning.usage,
                Some(failed.error.kind_name().as_str()),
            ),
        }
        result
    }
}
