//! [`Agent`] and its builder.

use std::sync::Arc;
use std::time::Duration;

use agent_core::{AgentLoop, InferenceConfig, Model, Reasoning, RunObserver, Tool, ToolSet};
use agent_session::SessionStore;

use crate::display::ReasoningPrinter;
use crate::error::{ConfigError, Error};

/// The default step limit, as in the Python MinimalAgent.
pub const DEFAULT_MAX_STEPS: u32 = 5;
/// The default session time to live: one hour after the session's last run.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(3600);
/// The default DynamoDB table for sessions.
pub const DEFAULT_SESSION_TABLE_NAME: &str = "minimalagent-session-table";

/// An agent: a model, its tools and settings, and optionally a session store.
///
/// `Send + Sync` and cheap to clone (one `Arc`), so one agent serves many concurrent runs —
/// build it once at start-up (in a web server's state, or outside a Lambda handler).
#[derive(Clone)]
pub struct Agent {
    inner: Arc<AgentInner>,
}

struct AgentInner {
    agent_loop: AgentLoop,
    observers: Vec<Arc<dyn RunObserver>>,
    sessions: Option<Sessions>,
}

/// An agent's session settings, once validated.
pub(crate) struct Sessions {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) real_time_reasoning: bool,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("agent_loop", &self.inner.agent_loop)
            .field("observers", &self.inner.observers.len())
            .field(
                "session_store",
                &self.inner.sessions.as_ref().map(|s| &s.store),
            )
            .finish()
    }
}

impl Agent {
    /// A builder with the defaults of the Python MinimalAgent.
    pub fn builder() -> AgentBuilder {
        AgentBuilder::default()
    }

    /// Runs a query without session memory and returns the answer and the run's trace.
    pub async fn run(&self, query: &str) -> Result<(String, Reasoning), Error> {
        let mut reasoning = Reasoning::start(query, None);
        match self
            .inner
            .agent_loop
            .run(Vec::new(), &mut reasoning, &self.inner.observers)
            .await
        {
            Ok(output) => Ok((output.response, reasoning)),
            Err(error) => Err(Error::Run {
                error,
                reasoning: Box::new(reasoning),
            }),
        }
    }

    /// The loop this agent runs: its tools and step limit.
    pub fn agent_loop(&self) -> &AgentLoop {
        &self.inner.agent_loop
    }

    pub(crate) fn observers(&self) -> &Vec<Arc<dyn RunObserver>> {
        &self.inner.observers
    }

    pub(crate) fn sessions(&self) -> Result<&Sessions, Error> {
        self.inner.sessions.as_ref().ok_or(Error::SessionsDisabled)
    }

    /// The session store, when sessions are on.
    pub fn session_store(&self) -> Option<&Arc<dyn SessionStore>> {
        self.inner.sessions.as_ref().map(|sessions| &sessions.store)
    }
}

/// Builds an [`Agent`]. Settings are checked by [`build`](AgentBuilder::build), which returns a
/// typed [`ConfigError`] for the first invalid one.
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
    observers: Vec<Arc<dyn RunObserver>>,
    use_session_memory: bool,
    session_ttl: Duration,
    session_table_name: String,
    memory_region: Option<String>,
    real_time_reasoning: bool,
    session_store: Option<Arc<dyn SessionStore>>,
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
            observers: Vec::new(),
            use_session_memory: false,
            session_ttl: DEFAULT_SESSION_TTL,
            session_table_name: DEFAULT_SESSION_TABLE_NAME.to_owned(),
            memory_region: None,
            real_time_reasoning: false,
            session_store: None,
        }
    }
}

impl AgentBuilder {
    /// Adds a tool (for example the struct `#[tool]` made from a function).
    pub fn tool(mut self, tool: impl Tool + 'static) -> Self {
        self.tools.push(Arc::new(tool));
        self
    }

    /// Adds several tools of one type; for tools of different types, call
    /// [`tool`](Self::tool) for each or pass `Arc<dyn Tool>`s.
    pub fn tools<T: Tool + 'static>(mut self, tools: impl IntoIterator<Item = T>) -> Self {
        self.tools.extend(
            tools
                .into_iter()
                .map(|tool| Arc::new(tool) as Arc<dyn Tool>),
        );
        self
    }

    /// The most tool steps per run (default 5, must be > 0). When the model still asks for
    /// tools after that, it is told the limit was reached and asked for its final answer.
    pub fn max_steps(mut self, max_steps: u32) -> Self {
        self.max_steps = max_steps;
        self
    }

    /// The Bedrock model id or inference profile (default `us.amazon.nova-pro-v1:0`).
    pub fn model_id(mut self, model_id: impl Into<String>) -> Self {
        self.model_id = Some(model_id.into());
        self
    }

    /// The Bedrock region (default: the AWS environment's, else `us-west-2`).
    pub fn bedrock_region(mut self, region: impl Into<String>) -> Self {
        self.bedrock_region = Some(region.into());
        self
    }

    /// Uses this model instead of Bedrock (a configured `BedrockModel`, another provider, or a
    /// scripted model in tests). `model_id` and `bedrock_region` then do not apply.
    pub fn model(mut self, model: impl Model + 'static) -> Self {
        self.model = Some(Arc::new(model));
        self
    }

    /// The system prompt, sent after a line with the current UTC time.
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.system_prompt = prompt.into();
        self
    }

    /// Whether to print the coloured reasoning trace to stderr (default `true`).
    pub fn show_reasoning(mut self, show: bool) -> Self {
        self.show_reasoning = show;
        self
    }

    /// Inference settings sent with every request (max tokens, temperature, top_p, stop
    /// sequences).
    pub fn inference(mut self, inference: InferenceConfig) -> Self {
        self.inference = inference;
        self
    }

    /// Adds an observer that sees every run's events as they happen (a live display, metrics,
    /// a channel to a UI).
    pub fn observer(mut self, observer: impl RunObserver + 'static) -> Self {
        self.observers.push(Arc::new(observer));
        self
    }

    /// Keeps conversations and reasoning in DynamoDB (default `false`).
    pub fn use_session_memory(mut self, enabled: bool) -> Self {
        self.use_session_memory = enabled;
        self
    }

    /// How long a session lives after its last run (default one hour, must be > 0).
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// The DynamoDB table (default `minimalagent-session-table`). A name other than the default
    /// turns session memory on, as in the Python MinimalAgent.
    pub fn session_table_name(mut self, name: impl Into<String>) -> Self {
        self.session_table_name = name.into();
        self
    }

    /// The region of the session table (default: the Bedrock region).
    pub fn memory_region(mut self, region: impl Into<String>) -> Self {
        self.memory_region = Some(region.into());
        self
    }

    /// Writes each run's reasoning as it happens, so another process can watch it (default
    /// `false`; needs sessions, and is ignored with a warning without them).
    pub fn real_time_reasoning(mut self, enabled: bool) -> Self {
        self.real_time_reasoning = enabled;
        self
    }

    /// Uses this session store (turns sessions on), for example an `InMemorySessionStore` in
    /// tests and short-lived programs, or a DynamoDB store built with custom settings.
    pub fn session_store(mut self, store: impl SessionStore + 'static) -> Self {
        self.session_store = Some(Arc::new(store));
        self
    }

    /// Checks the settings, sets up the model and the session store, and builds the agent.
    pub async fn build(self) -> Result<Agent, Error> {
        if self.max_steps == 0 {
            return Err(ConfigError::ZeroMaxSteps.into());
        }
        let tools = ToolSet::new(self.tools).map_err(ConfigError::from)?;
        if self.session_ttl.is_zero() {
            return Err(ConfigError::ZeroSessionTtl.into());
        }
        if !is_valid_table_name(&self.session_table_name) {
            return Err(ConfigError::InvalidTableName(self.session_table_name).into());
        }
        let sessions_wanted = self.session_store.is_some()
            || self.use_session_memory
            || self.session_table_name != DEFAULT_SESSION_TABLE_NAME;
        if self.real_time_reasoning && !sessions_wanted {
            tracing::warn!("real_time_reasoning needs session memory; it is ignored");
        }
        let model = match self.model {
            Some(model) => model,
            None => default_model(self.model_id, self.bedrock_region.clone()).await?,
        };
        let sessions = if sessions_wanted {
            let store = match self.session_store {
                Some(store) => {
                    // These configure the DynamoDB store the agent builds itself; a given store
                    // keeps its own settings.
                    if self.session_table_name != DEFAULT_SESSION_TABLE_NAME
                        || self.memory_region.is_some()
                        || self.session_ttl != DEFAULT_SESSION_TTL
                    {
                        tracing::warn!(
                            "session_table_name, memory_region and session_ttl apply to the \
                             DynamoDB store the agent builds; the store given with \
                             session_store(..) keeps its own settings"
                        );
                    }
                    store
                }
                None => {
                    default_session_store(
                        &self.session_table_name,
                        self.memory_region.or(self.bedrock_region),
                        self.session_ttl,
                    )
                    .await?
                }
            };
            Some(Sessions {
                store,
                real_time_reasoning: self.real_time_reasoning,
            })
        } else {
            None
        };
        let mut observers = self.observers;
        if self.show_reasoning {
            observers.insert(0, Arc::new(ReasoningPrinter));
        }
        let agent_loop = AgentLoop::new(
            model,
            tools,
            self.system_prompt,
            self.max_steps,
            self.inference,
        );
        Ok(Agent {
            inner: Arc::new(AgentInner {
                agent_loop,
                observers,
                sessions,
            }),
        })
    }
}

/// Whether `name` is a DynamoDB table name: 3 to 255 characters of `[A-Za-z0-9_.-]`.
pub fn is_valid_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
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

#[cfg(feature = "dynamodb")]
async fn default_session_store(
    table_name: &str,
    region: Option<String>,
    ttl: Duration,
) -> Result<Arc<dyn SessionStore>, Error> {
    let mut builder = agent_session_dynamo::DynamoSessionStore::builder()
        .table_name(table_name)
        .ttl(ttl);
    if let Some(region) = region {
        builder = builder.region(region);
    }
    Ok(Arc::new(builder.build().await?))
}

#[cfg(not(feature = "dynamodb"))]
async fn default_session_store(
    _table_name: &str,
    _region: Option<String>,
    _ttl: Duration,
) -> Result<Arc<dyn SessionStore>, Error> {
    Err(ConfigError::NoSessionStore.into())
}
