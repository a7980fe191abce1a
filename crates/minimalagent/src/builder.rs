//! [`AgentBuilder`]: one builder that composes a model, tools and a session store.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use agent_core::{EventSink, Extensions, InferenceConfig, Model, Tool, ToolChoice, ToolSet};
use agent_loop::{AgentLoop, Hook};
use agent_runtime::{ContextPolicy, SessionOptions, SessionRunner};
use agent_session::SessionStore;

use crate::agent::{Agent, AgentInner};
use crate::error::{ConfigError, Error};
use crate::printer::ReasoningPrinter;
use crate::sessions::Sessions;

/// The default step limit, as in the Python MinimalAgent.
pub const DEFAULT_MAX_STEPS: u32 = 5;

/// Builds an [`Agent`].
///
/// Models and stores are objects built by their own builders and handed over —
/// `.model(BedrockModel::builder()…build().await?)`, `.sessions(store)` — and the Python
/// MinimalAgent's keyword options stay as shortcuts that build them for you (`model_id`,
/// `bedrock_region`, `use_session_memory`, `session_table_name`, `memory_region`,
/// `session_ttl`). A shortcut next to the object it would configure is a `build()` error, never
/// a silent choice. Settings are checked by [`build`](Self::build), which returns a typed
/// [`ConfigError`] for the first invalid one.
///
/// ```no_run
/// use minimalagent::{Agent, BedrockModel, ContextPolicy};
/// use minimalagent::dynamodb::DynamoSessionStore;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// // Composed from objects…
/// let agent = Agent::builder()
///     .model(BedrockModel::builder().model_id("us.anthropic.claude-sonnet-4-20250514-v1:0").build().await?)
///     .sessions(DynamoSessionStore::builder().table_name("my-sessions").build().await?)
///     .context_policy(ContextPolicy::window_messages(40))
///     .build()
///     .await?;
///
/// // …or with the seed's shortcuts.
/// let agent = Agent::builder()
///     .use_session_memory(true)
///     .session_table_name("my-sessions")
///     .real_time_reasoning(true)
///     .build()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct AgentBuilder {
    tools: Vec<Arc<dyn Tool>>,
    max_steps: u32,
    model: Option<Arc<dyn Model>>,
    model_id: Option<String>,
    bedrock_region: Option<String>,
    system_prompt: String,
    show_reasoning: bool,
    inference: InferenceConfig,
    tool_choice: Option<ToolChoice>,
    sinks: Vec<Arc<dyn EventSink>>,
    extensions: Extensions,
    name: Option<String>,
    content_in_spans: bool,
    sessions: Option<Arc<dyn SessionStore>>,
    use_session_memory: bool,
    session_ttl: Option<Duration>,
    session_table_name: Option<String>,
    memory_region: Option<String>,
    dynamodb_endpoint: Option<String>,
    store_url: Option<String>,
    /// Every session setting at once, when given.
    session_options: Option<SessionOptions>,
    /// Session settings given one by one (a conflict with `session_options` is a build error).
    context_policy: Option<ContextPolicy>,
    commit_timeout: Option<Duration>,
    heartbeat: Option<(Duration, Duration)>,
    real_time_reasoning: Option<bool>,
    hooks: Vec<Arc<dyn Hook>>,
    interrupt_ttl: Option<Duration>,
}

impl Default for AgentBuilder {
    fn default() -> Self {
        Self {
            tools: Vec::new(),
            max_steps: DEFAULT_MAX_STEPS,
            model: None,
            model_id: None,
            bedrock_region: None,
            system_prompt: String::new(),
            show_reasoning: true,
            inference: InferenceConfig::default(),
            tool_choice: None,
            sinks: Vec::new(),
            extensions: Extensions::default(),
            name: None,
            content_in_spans: false,
            sessions: None,
            use_session_memory: false,
            session_ttl: None,
            session_table_name: None,
            memory_region: None,
            dynamodb_endpoint: None,
            store_url: None,
            session_options: None,
            context_policy: None,
            commit_timeout: None,
            heartbeat: None,
            real_time_reasoning: None,
            hooks: Vec::new(),
            interrupt_ttl: None,
        }
    }
}

impl AgentBuilder {
    // ------------------------------------------------------------------ the model

    /// The model: a `BedrockModel` built with its own builder, another provider, or a scripted
    /// model in tests. Without it, the agent builds a `BedrockModel` (feature `bedrock`) from
    /// [`model_id`](Self::model_id) and [`bedrock_region`](Self::bedrock_region).
    pub fn model(mut self, model: impl Model + 'static) -> Self {
        self.model = Some(Arc::new(model));
        self
    }

    /// Shortcut: the Bedrock model id or inference profile of the model the agent builds
    /// (default `us.amazon.nova-pro-v1:0`). Not with [`model`](Self::model).
    pub fn model_id(mut self, model_id: impl Into<String>) -> Self {
        self.model_id = Some(model_id.into());
        self
    }

    /// Shortcut: the region of the Bedrock model the agent builds (default: the AWS
    /// environment's, else `us-west-2`). Not with [`model`](Self::model).
    pub fn bedrock_region(mut self, region: impl Into<String>) -> Self {
        self.bedrock_region = Some(region.into());
        self
    }

    /// Inference settings sent with every request (max tokens, temperature, top_p, stop
    /// sequences).
    pub fn inference(mut self, inference: InferenceConfig) -> Self {
        self.inference = inference;
        self
    }

    /// How the model must choose among the tools (`auto` by default; `any`, or a named tool).
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    // ------------------------------------------------------------------ tools and prompt

    /// Adds a tool (for example the struct `#[tool]` made from a function).
    pub fn tool(mut self, tool: impl Tool + 'static) -> Self {
        self.tools.push(Arc::new(tool));
        self
    }

    /// Adds tools of any kinds (for example the tools of an MCP server).
    pub fn tools(mut self, tools: impl IntoIterator<Item = Arc<dyn Tool>>) -> Self {
        self.tools.extend(tools);
        self
    }

    /// Shares a value with every tool call, reached with `ToolContext::state::<T>()` (one value
    /// per type; a later one replaces an earlier one of the same type).
    pub fn state<T: Any + Send + Sync>(mut self, value: T) -> Self {
        self.extensions = self.extensions.with(value);
        self
    }

    /// Adds a hook, called after the ones added before it: before and after each model call
    /// and each tool call, and at the run's start and end, deciding to proceed, deny a call,
    /// rewrite its input, hold it for a person's approval, or stop the run (see [`Hook`]).
    pub fn hook(mut self, hook: impl Hook + 'static) -> Self {
        self.hooks.push(Arc::new(hook));
        self
    }

    /// How long a tool call held for approval waits before it reads as denied (default: as
    /// long as the session lives, the store's time to live).
    pub fn interrupt_ttl(mut self, ttl: Duration) -> Self {
        self.interrupt_ttl = Some(ttl);
        self
    }

    /// The most tool steps per run (default 5, must be > 0). When the model still asks for
    /// tools after that, it is told the limit was reached and asked for its final answer.
    pub fn max_steps(mut self, max_steps: u32) -> Self {
        self.max_steps = max_steps;
        self
    }

    /// The system prompt, sent after a line with the current UTC time.
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.system_prompt = prompt.into();
        self
    }

    // ------------------------------------------------------------------ watching runs

    /// Whether to print the coloured reasoning trace to stderr as runs stream (default
    /// `true`, as the Python MinimalAgent prints it). It is the only thing the library prints:
    /// a service or a Lambda function that logs through `tracing` turns it off with
    /// `.show_reasoning(false)`; `NO_COLOR` keeps it plain.
    pub fn show_reasoning(mut self, show: bool) -> Self {
        self.show_reasoning = show;
        self
    }

    /// Adds a sink that sees every event of every run (metrics, a channel to a UI). It must
    /// not block.
    pub fn on_event(mut self, sink: impl EventSink + 'static) -> Self {
        self.sinks.push(Arc::new(sink));
        self
    }

    /// The agent's name in traces (`gen_ai.agent.name`; default `minimalagent`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Whether spans carry message content (prompts, answers, tool arguments and results).
    /// Off by default: content may be private.
    pub fn content_in_spans(mut self, capture: bool) -> Self {
        self.content_in_spans = capture;
        self
    }

    // ------------------------------------------------------------------ sessions

    /// The session store: an `InMemorySessionStore`, a DynamoDB or SQLite store built with its
    /// own builder, or your own. Turns sessions on. Not with the store shortcuts
    /// (`session_table_name`, `memory_region`, `session_ttl`, `dynamodb_endpoint`,
    /// `session_store_url`): the store keeps its own settings.
    pub fn sessions(mut self, store: impl SessionStore + 'static) -> Self {
        self.sessions = Some(Arc::new(store));
        self
    }

    /// Shortcut: keeps conversations and reasoning in a DynamoDB table the agent sets up
    /// (feature `dynamodb`; default `false`).
    pub fn use_session_memory(mut self, enabled: bool) -> Self {
        self.use_session_memory = enabled;
        self
    }

    /// Shortcut: the session store named by a URL, so applications can switch by
    /// configuration: `sqlite://path/to/sessions.db` (feature `sqlite`),
    /// `dynamodb://table?region=us-east-1&endpoint=http://localhost:8000` (feature
    /// `dynamodb`), or `memory://`. Turns sessions on.
    pub fn session_store_url(mut self, url: impl Into<String>) -> Self {
        self.store_url = Some(url.into());
        self
    }

    /// Shortcut: how long a session lives after its last run (default one hour, at least a
    /// second).
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = Some(ttl);
        self
    }

    /// Shortcut: the DynamoDB table (default `minimalagent-session-table`). A name other than
    /// the default turns session memory on, as in the Python MinimalAgent.
    pub fn session_table_name(mut self, name: impl Into<String>) -> Self {
        self.session_table_name = Some(name.into());
        self
    }

    /// Shortcut: the region of the session table (default: the Bedrock region).
    pub fn memory_region(mut self, region: impl Into<String>) -> Self {
        self.memory_region = Some(region.into());
        self
    }

    /// Shortcut: the DynamoDB endpoint for this agent's sessions (DynamoDB Local, a VPC
    /// endpoint), over the AWS environment's `AWS_ENDPOINT_URL_DYNAMODB`.
    pub fn dynamodb_endpoint(mut self, url: impl Into<String>) -> Self {
        self.dynamodb_endpoint = Some(url.into());
        self
    }

    /// Records each run's events as they happen, so another process can follow the run and a
    /// crashed run can be resumed (default `false`; needs sessions).
    pub fn real_time_reasoning(mut self, enabled: bool) -> Self {
        self.real_time_reasoning = Some(enabled);
        self
    }

    /// What the model sees of a session's conversation (default: all of it).
    pub fn context_policy(mut self, policy: ContextPolicy) -> Self {
        self.context_policy = Some(policy);
        self
    }

    /// How long a run keeps trying to commit its turn when other runs of the session keep
    /// committing first or the store keeps failing (default 60 s). Every store call of a run
    /// after the model's answer is bounded by it.
    pub fn commit_timeout(mut self, timeout: Duration) -> Self {
        self.commit_timeout = Some(timeout);
        self
    }

    /// How often a real-time run beats its heart (default 10 s), and how long without one makes
    /// it interrupted for readers and followers (default 30 s).
    pub fn heartbeat(mut self, interval: Duration, interrupted_after: Duration) -> Self {
        self.heartbeat = Some((interval, interrupted_after));
        self
    }

    /// Every session setting at once. Not with the one-by-one settings (`context_policy`,
    /// `commit_timeout`, `heartbeat`), and `real_time_reasoning` only when it agrees with
    /// `options.real_time`: a setting is never silently undone by another (`build()` says which
    /// two conflict).
    pub fn session_options(mut self, options: SessionOptions) -> Self {
        self.session_options = Some(options);
        self
    }

    /// The session settings, from `session_options` or the one-by-one settings.
    fn resolved_session_options(&self) -> Result<SessionOptions, ConfigError> {
        let Some(options) = &self.session_options else {
            let mut options = SessionOptions::default();
            if let Some(policy) = &self.context_policy {
                options.context = policy.clone();
            }
            if let Some(timeout) = self.commit_timeout {
                options.commit_timeout = timeout;
            }
            if let Some((interval, after)) = self.heartbeat {
                options.heartbeat_interval = interval;
                options.interrupted_after = after;
            }
            options.real_time = self.real_time_reasoning.unwrap_or(false);
            return Ok(options);
        };
        let one_by_one = [
            ("context_policy", self.context_policy.is_some()),
            ("commit_timeout", self.commit_timeout.is_some()),
            ("heartbeat", self.heartbeat.is_some()),
        ];
        if let Some((setting, _)) = one_by_one.iter().find(|(_, set)| *set) {
            return Err(ConfigError::Conflict {
                first: setting,
                second: "session_options(..)",
                why: "session_options sets every session setting; set this one in it instead",
            });
        }
        if let Some(real_time) = self.real_time_reasoning
            && real_time != options.real_time
        {
            return Err(ConfigError::Conflict {
                first: "real_time_reasoning",
                second: "session_options(..)",
                why: "the two disagree on real-time recording; set it in one place",
            });
        }
        Ok(options.clone())
    }

    // ------------------------------------------------------------------ build

    fn check(&self) -> Result<(), ConfigError> {
        if self.max_steps == 0 {
            return Err(ConfigError::ZeroMaxSteps);
        }
        if self.model.is_some() {
            let shortcut = if self.model_id.is_some() {
                Some("model_id")
            } else if self.bedrock_region.is_some() {
                Some("bedrock_region")
            } else {
                None
            };
            if let Some(shortcut) = shortcut {
                return Err(ConfigError::Conflict {
                    first: shortcut,
                    second: "model(..)",
                    why: "the shortcut configures the Bedrock model the agent builds; set it on \
                          the model you give instead",
                });
            }
        }
        let store_shortcuts = [
            ("session_table_name", self.session_table_name.is_some()),
            ("memory_region", self.memory_region.is_some()),
            ("session_ttl", self.session_ttl.is_some()),
            ("dynamodb_endpoint", self.dynamodb_endpoint.is_some()),
            ("session_store_url", self.store_url.is_some()),
        ];
        if self.sessions.is_some()
            && let Some((shortcut, _)) = store_shortcuts.iter().find(|(_, set)| *set)
        {
            return Err(ConfigError::Conflict {
                first: shortcut,
                second: "sessions(..)",
                why: "the shortcut configures the store the agent builds; set it on the store \
                      you give instead",
            });
        }
        if self.store_url.is_some()
            && let Some((shortcut, _)) = store_shortcuts[..2]
                .iter()
                .chain(&store_shortcuts[3..4])
                .find(|(_, set)| *set)
        {
            return Err(ConfigError::Conflict {
                first: shortcut,
                second: "session_store_url(..)",
                why: "the URL names the store and its settings (dynamodb://table?region=…&endpoint=…)",
            });
        }
        if let Some(ttl) = self.session_ttl
            && agent_session::check_ttl(ttl).is_err()
        {
            return Err(ConfigError::InvalidSessionTtl);
        }
        let options = self.resolved_session_options()?;
        if options.real_time && !self.sessions_wanted() {
            return Err(ConfigError::RealTimeWithoutSessions);
        }
        Ok(())
    }

    /// Whether the settings turn sessions on (a table name other than the default does, as in
    /// the Python MinimalAgent).
    fn sessions_wanted(&self) -> bool {
        self.sessions.is_some()
            || self.use_session_memory
            || self.store_url.is_some()
            || self
                .session_table_name
                .as_deref()
                .is_some_and(|name| name != crate::stores::DEFAULT_TABLE_NAME)
    }

    /// Checks the settings, sets up the model and the session store, and builds the agent.
    ///
    /// # Errors
    ///
    /// An [`Error`] of kind `Config` with the [`ConfigError`] for the first invalid or
    /// conflicting setting, or for a model or store that could not be set up.
    pub async fn build(self) -> Result<Agent, Error> {
        self.check()?;
        let session_options = self.resolved_session_options()?;
        let tools = ToolSet::new(self.tools.iter().cloned()).map_err(ConfigError::from)?;
        let sessions_wanted = self.sessions_wanted();
        let model = match self.model {
            Some(model) => model,
            None => default_model(self.model_id, self.bedrock_region.clone()).await?,
        };
        let store = match (self.sessions, self.store_url) {
            (Some(store), _) => Some(store),
            (None, Some(url)) => Some(crate::stores::open_store(&url, self.session_ttl).await?),
            (None, None) if sessions_wanted => Some(
                crate::stores::dynamodb_store(crate::stores::DynamoSettings {
                    table_name: self.session_table_name,
                    region: self.memory_region.or(self.bedrock_region),
                    endpoint: self.dynamodb_endpoint,
                    ttl: self.session_ttl,
                })
                .await?,
            ),
            (None, None) => None,
        };
        let mut sinks = self.sinks;
        if self.show_reasoning {
            sinks.insert(0, Arc::new(ReasoningPrinter));
        }
        let mut agent_loop = AgentLoop::new(model, tools)
            .with_system_prompt(self.system_prompt)
            .with_max_steps(self.max_steps)
            .with_inference(self.inference)
            .with_tool_choice(self.tool_choice)
            .with_extensions(self.extensions)
            .with_content_in_spans(self.content_in_spans);
        if let Some(name) = self.name {
            agent_loop = agent_loop.with_name(name);
        }
        for hook in self.hooks {
            agent_loop = agent_loop.with_hook(hook);
        }
        agent_loop = agent_loop.with_interrupt_ttl(self.interrupt_ttl);
        // One clock for the session's times and the time of each turn.
        agent_loop = agent_loop.with_clock(session_options.clock.clone());
        let sessions =
            store.map(|store| Sessions::from_runner(SessionRunner::new(store, session_options)));
        Ok(Agent::from_parts(AgentInner {
            agent_loop,
            sinks,
            sessions,
            runs: tokio_util::task::TaskTracker::new(),
        }))
    }
}

#[cfg(feature = "bedrock")]
async fn default_model(
    model_id: Option<String>,
    region: Option<String>,
) -> Result<Arc<dyn Model>, Error> {
    let mut builder = agent_llm_bedrock::BedrockModel::builder();
    if let Some(model_id) = model_id {
        builder = builder.model_id(model_id);
    }
    if let Some(region) = region {
        builder = builder.region(region);
    }
    let model = builder.build().await.map_err(ConfigError::from)?;
    Ok(Arc::new(model))
}

#[cfg(not(feature = "bedrock"))]
async fn default_model(
    _model_id: Option<String>,
    _region: Option<String>,
) -> Result<Arc<dyn Model>, Error> {
    Err(ConfigError::NoModel.into())
}
