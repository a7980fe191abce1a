//! `minimalagent eval`: eval cases run against a Bedrock model without tools, or against a
//! recorded session, reported in Markdown (and JSON) and compared with an earlier report. See
//! docs/evals.md.
//!
//! A replay runs each case on the recorded run that asked its prompt, alone: a fresh
//! `ReplayModel` per case answers with that run's replies, and tools named as the recorded ones
//! answer with the recorded results. The command cannot load the agent's tools, so their specs
//! (descriptions and schemas) differ from the record by construction: differences in the tools
//! offered are not reported; every other difference (the query, a tool result fed back, a
//! model call more or fewer than recorded) fails the case, or with `--lenient` is reported on
//! stderr.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use minimalagent::core::{AgentLoop, ToolSet};
use minimalagent::evals::replay::{RecordedRun, Recording, ReplayMode, ReplayModel};
use minimalagent::evals::{
    Comparison, EvalCase, EvalReport, EvalRunner, EvalTarget, Judge, parse_cases,
};
use minimalagent::{
    DEFAULT_MAX_STEPS, Role, RunResult, Tool, ToolContext, ToolError, ToolErrorKind, ToolOutput,
    async_trait,
};
use serde_json::{Value, json};

use crate::cli::{EvalArgs, StoreArgs};
use crate::commands::output_error;
use crate::failure::Failure;
use crate::text::{one_line, sanitize, shorten};

/// `minimalagent eval`.
pub(crate) async fn run(store_args: &StoreArgs, args: &EvalArgs) -> Result<(), Failure> {
    if store_args.store.is_some() || store_args.table.is_some() || store_args.endpoint.is_some() {
        return Err(Failure::usage(
            "`minimalagent eval` reads no session store: leave out --store, --table and \
             --endpoint (--region is the Bedrock Region here; --replay takes a `sessions \
             export` file)",
        ));
    }
    let cases = read_cases(&args.cases)?;
    let previous = match &args.compare {
        Some(path) => Some((path, read_report(path)?)),
        None => None,
    };
    let region = store_args.region.as_deref();
    let mut runner = EvalRunner::new().with_concurrency(usize::from(args.concurrency));
    if let Some(seconds) = args.timeout {
        runner = runner.with_timeout(Duration::from_secs(seconds));
    }
    if let Some(judge) = &args.judge_model {
        let model = bedrock::model(Some(judge), region, "judge").await?;
        runner = runner.with_judge(Judge::new(model));
    }
    let (report, notes) = match &args.replay {
        Some(export) => {
            let target = ReplayTarget::new(read_recording(export)?, &cases, !args.lenient);
            let report = runner.run(&target, &cases).await;
            (report, target.notes())
        }
        None => {
            let model = bedrock::model(args.model_id.as_deref(), region, "eval").await?;
            let mut agent =
                AgentLoop::new(model, ToolSet::default()).with_max_steps(DEFAULT_MAX_STEPS);
            if let Some(prompt) = &args.system_prompt {
                agent = agent.with_system_prompt(system_prompt(prompt)?);
            }
            (runner.run(&agent, &cases).await, Vec::new())
        }
    };
    // Where a lenient replay differed from the record, case by case, in the cases' order.
    for case in &cases {
        for (name, differences) in &notes {
            if *name == case.name {
                for difference in differences {
                    Failure::failed(format!(
                        "case `{}`: the replay differs from the record: {difference}",
                        one_line(name)
                    ))
                    .warn();
                }
            }
        }
    }
    let comparison: Option<(&Path, Comparison)> = previous
        .as_ref()
        .map(|(path, earlier)| (path.as_path(), report.compare(earlier)));
    let mut markdown = report.to_markdown();
    if let Some((_, comparison)) = &comparison {
        markdown.push('\n');
        markdown.push_str(&comparison.to_markdown());
    }
    // Answers and check details come from a model: shown as text, never as escape sequences
    // the terminal would act on (the files keep them as they are).
    let mut out = anstream::stdout().lock();
    out.write_all(sanitize(&markdown, true).as_bytes())
        .map_err(output_error)?;
    out.flush().map_err(output_error)?;
    if let Some(path) = &args.report {
        write_file(path, &report.to_json())?;
    }
    if let Some(path) = &args.markdown {
        write_file(path, &markdown)?;
    }
    verdict(&report, comparison.as_ref())
}

/// Exit 0 when every case passed and none regressed; 1 saying which otherwise.
fn verdict(report: &EvalReport, comparison: Option<&(&Path, Comparison)>) -> Result<(), Failure> {
    let mut problems = Vec::new();
    if !report.all_passed() {
        let failed: Vec<&str> = report
            .cases
            .iter()
            .filter(|case| !case.passed)
            .map(|case| case.name.as_str())
            .collect();
        problems.push(format!(
            "{} of {} cases failed ({})",
            report.failed,
            report.cases.len(),
            shorten(&one_line(&failed.join(", ")), Some(200))
        ));
    }
    if let Some((path, comparison)) = comparison
        && comparison.has_regressions()
    {
        problems.push(format!(
            "{} regressed since {} ({})",
            comparison.regressed.len(),
            path.display(),
            shorten(&one_line(&comparison.regressed.join(", ")), Some(200))
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::failed(format!(
            "{}: the report above says why",
            problems.join("; ")
        )))
    }
}

fn read_text(path: &Path, what: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|error| {
        Failure::usage(format!(
            "cannot read the {what} `{}`: {error}",
            path.display()
        ))
    })
}

fn read_cases(path: &Path) -> Result<Vec<EvalCase>, Failure> {
    let cases = parse_cases(&read_text(path, "cases file")?)
        .map_err(|error| Failure::usage(format!("{}: {error}", path.display())))?;
    if cases.is_empty() {
        return Err(Failure::usage(format!(
            "{} holds no case: one JSON object per line (see docs/evals.md)",
            path.display()
        )));
    }
    Ok(cases)
}

fn read_report(path: &Path) -> Result<EvalReport, Failure> {
    EvalReport::from_json(&read_text(path, "earlier report")?).map_err(|error| {
        Failure::usage(format!(
            "{} is not a report `minimalagent eval --report` wrote: {error}",
            path.display()
        ))
    })
}

fn read_recording(path: &Path) -> Result<Recording, Failure> {
    Recording::from_export(&read_text(path, "export")?).map_err(|error| {
        Failure::usage(format!(
            "{} is not a session export to replay (`minimalagent sessions export`): {error}",
            path.display()
        ))
    })
}

/// `--system-prompt TEXT`, or `@FILE` for a file's text.
fn system_prompt(given: &str) -> Result<String, Failure> {
    match given.strip_prefix('@') {
        Some(path) => read_text(Path::new(path), "system prompt file"),
        None => Ok(given.to_owned()),
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text)
        .map_err(|error| Failure::failed(format!("cannot write `{}`: {error}", path.display())))
}

// ---------------------------------------------------------------------------------- replay

/// Cases run on the recorded runs that asked their prompts.
struct ReplayTarget {
    /// The recorded run of each case, by case name: the k-th case asking a prompt gets the
    /// k-th recorded run that asked it.
    runs: HashMap<String, RecordedRun>,
    /// Whether a difference from the record fails the case.
    strict: bool,
    /// The differences found in lenient mode, by case.
    notes: Mutex<Vec<(String, Vec<String>)>>,
}

impl ReplayTarget {
    fn new(recording: Recording, cases: &[EvalCase], strict: bool) -> Self {
        let mut by_query: HashMap<String, VecDeque<&RecordedRun>> = HashMap::new();
        for run in recording.runs() {
            by_query.entry(run.query()).or_default().push_back(run);
        }
        let runs = cases
            .iter()
            .filter_map(|case| {
                let run = by_query.get_mut(&case.prompt)?.pop_front()?;
                Some((case.name.clone(), run.clone()))
            })
            .collect();
        Self {
            runs,
            strict,
            notes: Mutex::default(),
        }
    }

    fn notes(&self) -> Vec<(String, Vec<String>)> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl EvalTarget for ReplayTarget {
    async fn run_case(&self, case: &EvalCase) -> Result<RunResult, String> {
        let Some(run) = self.runs.get(&case.name) else {
            return Err(format!(
                "the recording holds no run that asked this case's prompt (\"{}\"): a replay \
                 answers only what was recorded",
                shorten(&one_line(&case.prompt), Some(80))
            ));
        };
        let recording = Recording::new(vec![run.clone()]);
        // Lenient underneath: the tools offered always differ (see the module's comment);
        // strictness is applied below, to the other differences.
        let model = ReplayModel::new(recording.clone(), ReplayMode::Lenient);
        let tools = as_recorded(&recording.replay_tools(&recorded_tools(run)?))?;
        let replies = run
            .messages
            .iter()
            .filter(|message| message.role == Role::Assistant)
            .count();
        let steps = u32::try_from(replies).unwrap_or(u32::MAX);
        let agent = AgentLoop::new(Arc::new(model.clone()), tools)
            .with_max_steps(DEFAULT_MAX_STEPS.max(steps));
        let result = agent.run_case(case).await;
        let mut differences: Vec<String> = model
            .divergences()
            .iter()
            .filter(|divergence| !divergence.field.starts_with("tools."))
            .map(ToString::to_string)
            .collect();
        let left = model.remaining();
        if result.is_ok() && left > 0 {
            differences.push(format!(
                "the run ended after {} of the {replies} recorded model calls",
                replies - left
            ));
        }
        if differences.is_empty() {
            return result;
        }
        if self.strict {
            let prefix = match &result {
                Err(error) => format!("{error}; "),
                Ok(_) => String::new(),
            };
            return Err(format!(
                "{prefix}the replay differs from the record: {}",
                differences.join("; ")
            ));
        }
        self.notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((case.name.clone(), differences));
        result
    }
}

/// Tools with the names of those the recorded run offered and called, and a permissive
/// schema: the specs `Recording::replay_tools` gives the recorded results under.
fn recorded_tools(run: &RecordedRun) -> Result<ToolSet, String> {
    let offered = run
        .reasoning
        .iter()
        .flat_map(|trace| trace.tools_offered.iter().map(|tool| tool.name.clone()));
    let called = run
        .messages
        .iter()
        .flat_map(|message| message.tool_uses().map(|call| call.name.clone()));
    let names: BTreeSet<String> = offered
        .chain(called)
        .filter(|name| minimalagent::core::is_valid_tool_name(name))
        .collect();
    ToolSet::new(
        names
            .into_iter()
            .map(|name| Arc::new(RecordedTool { name }) as Arc<dyn Tool>),
    )
    .map_err(|error| format!("the recorded tools cannot be offered: {error}"))
}

/// The replayed tools, each giving back a recorded failure as the error it was made from.
///
/// A failed call's recorded result is the text the loop made of the tool's error
/// (``{kind} `{tool}`: {message}``); `Recording::replay_tools` returns that whole text as a
/// new error's message, which the loop would prefix once more, so that every replayed failure
/// would differ from the record. Split back into its kind and message, it reads as recorded.
fn as_recorded(replayed: &ToolSet) -> Result<ToolSet, String> {
    let tools = replayed
        .names()
        .filter_map(|name| replayed.get(name))
        .map(|inner| {
            Arc::new(RecordedFailure {
                inner: inner.clone(),
            }) as Arc<dyn Tool>
        });
    ToolSet::new(tools).map_err(|error| format!("the recorded tools cannot be offered: {error}"))
}

/// A replayed tool whose errors are split back into the kind and message they were recorded
/// from (see [`as_recorded`]).
struct RecordedFailure {
    inner: Arc<dyn Tool>,
}

#[async_trait]
impl Tool for RecordedFailure {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn description(&self) -> &str {
        self.inner.description()
    }

    fn input_schema(&self) -> Value {
        self.inner.input_schema()
    }

    async fn call(&self, input: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let error = match self.inner.call(input, context).await {
            Err(error) if *error.kind() == ToolErrorKind::Failed => error,
            other => return other,
        };
        let marker = format!(" `{}`: ", self.inner.name());
        let Some((kind, message)) = error.message().split_once(&marker) else {
            return Err(error);
        };
        let kind = KNOWN_KINDS
            .iter()
            .find(|known| known.to_string() == kind)
            .cloned()
            .unwrap_or_else(|| ToolErrorKind::Other(kind.to_owned()));
        Err(ToolError::new(kind, message))
    }
}

/// The kinds a recorded failure names, told by the words the loop writes for them.
const KNOWN_KINDS: [ToolErrorKind; 9] = [
    ToolErrorKind::Failed,
    ToolErrorKind::InvalidInput,
    ToolErrorKind::Panicked,
    ToolErrorKind::UnknownTool,
    ToolErrorKind::NotRun,
    ToolErrorKind::Timeout,
    ToolErrorKind::Unavailable,
    ToolErrorKind::Cancelled,
    ToolErrorKind::Denied,
];

/// A tool of the recorded agent, by name only (its spec is not in the record).
struct RecordedTool {
    name: String,
}

#[async_trait]
impl Tool for RecordedTool {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        "A tool of the recorded agent, answered from the record."
    }

    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }

    async fn call(&self, _input: Value, _context: &ToolContext) -> Result<ToolOutput, ToolError> {
        // Never called: `Recording::replay_tools` answers in its place.
        Err(ToolError::new(
            ToolErrorKind::Unavailable,
            "a replayed tool answers from the record only",
        ))
    }
}

// ---------------------------------------------------------------------------------- Bedrock

#[cfg(feature = "bedrock")]
mod bedrock {
    use std::sync::Arc;

    use minimalagent::Model;
    use minimalagent::bedrock::BedrockModelBuilder;

    use crate::failure::Failure;

    /// The environment variable naming the model, as `doctor` and the examples read it.
    const MODEL_ENV: &str = "MINIMALAGENT_MODEL_ID";

    /// A Bedrock model as an agent builds it here (the AWS settings, endpoint overrides such as
    /// `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` included): `id`, else `MINIMALAGENT_MODEL_ID` (for
    /// the model under test), else the library's default for the Region.
    pub(super) async fn model(
        id: Option<&str>,
        region: Option<&str>,
        what: &str,
    ) -> Result<Arc<dyn Model>, Failure> {
        let from_env = (what == "eval")
            .then(|| std::env::var(MODEL_ENV).ok())
            .flatten()
            .filter(|id| !id.trim().is_empty());
        let mut builder = BedrockModelBuilder::default();
        if let Some(id) = id.map(str::to_owned).or(from_env) {
            builder = builder.model_id(id);
        }
        if let Some(region) = region {
            builder = builder.region(region);
        }
        let model = builder.build().await.map_err(|error| {
            Failure::usage(format!(
                "cannot set up the {what} model: {error} (`minimalagent doctor` checks the \
                 model and the AWS settings)"
            ))
        })?;
        Ok(Arc::new(model))
    }
}

/// Without Bedrock support there is no model to run live cases or a judge on.
#[cfg(not(feature = "bedrock"))]
mod bedrock {
    use std::sync::Arc;

    use minimalagent::Model;

    use crate::failure::Failure;

    pub(super) async fn model(
        _id: Option<&str>,
        _region: Option<&str>,
        what: &str,
    ) -> Result<Arc<dyn Model>, Failure> {
        let why = if what == "judge" {
            "--judge-model runs the judge on Bedrock"
        } else {
            "without --replay the cases run on a Bedrock model"
        };
        Err(Failure::usage(format!(
            "{why}, and this build of minimalagent has no Bedrock support (the `bedrock` \
             feature): install it with `cargo install minimalagent-cli` (on by default) or \
             `--features bedrock`, or run the cases on a recorded session with --replay"
        )))
    }
}
