//! The command line.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use minimalagent::FollowPosition;
use serde_json::Value;

/// Read, follow, export, fork and delete MinimalAgent sessions, watch runs live in a local web
/// viewer, and run eval cases.
///
/// The store is `--store URL`, else the environment variable MINIMALAGENT_STORE, else the
/// library's default DynamoDB table (minimalagent-session-table; --table, --region and
/// --endpoint change it, and the standard AWS settings apply). Store URLs:
/// sqlite://relative/path.db, sqlite:///absolute/path.db,
/// dynamodb://TABLE?region=REGION&endpoint=URL.
///
/// Exit codes: 0 success; 1 the store failed while the command ran, or `eval`: a case failed
/// or regressed; 2 a wrong command line (arguments, store URL, session id, follow position,
/// JSON, a cases file); 3 no such session; 4 the store cannot be used (a missing file or
/// table, a file that is not a session store or of another schema version, credentials or
/// permissions); 5 a deletion was not confirmed; 6 `doctor`: a Bedrock check failed; 7 a
/// conflict: a decision was not recorded as asked (nothing waits for it, or it was answered
/// already, or the call had expired), or a fork's new session exists.
#[derive(Debug, Parser)]
#[command(name = "minimalagent", version, max_term_width = 100)]
pub(crate) struct Cli {
    /// Where the sessions are.
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// When to colour the output.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub(crate) color: ColorWhen,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Which store to read.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct StoreArgs {
    /// The session store: sqlite://PATH or dynamodb://TABLE?region=…&endpoint=… [env:
    /// MINIMALAGENT_STORE]
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) store: Option<String>,
    /// The DynamoDB table, when no store URL is given [default: minimalagent-session-table]
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) table: Option<String>,
    /// The table's AWS region; for `eval`, Bedrock's [default: the AWS environment's or
    /// profile's]
    #[arg(long, global = true, value_name = "REGION")]
    pub(crate) region: Option<String>,
    /// The DynamoDB endpoint, e.g. DynamoDB Local [default: AWS_ENDPOINT_URL_DYNAMODB, or
    /// the region's]
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) endpoint: Option<String>,
}

/// When to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorWhen {
    /// When the output is a terminal and NO_COLOR is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorWhen {
    /// Applies the choice to everything printed through `anstream`.
    pub(crate) fn apply(self) {
        let choice = match self {
            ColorWhen::Auto => anstream::ColorChoice::Auto,
            ColorWhen::Always => anstream::ColorChoice::Always,
            ColorWhen::Never => anstream::ColorChoice::Never,
        };
        choice.write_global();
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List, show, follow, export, fork and delete sessions; list and answer the tool calls
    /// that wait for a person's approval.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Run eval cases (JSON Lines) against a Bedrock model without tools, or against a recorded
    /// session, and report them (Markdown on stdout; JSON with --report).
    ///
    /// Exit codes: 0 every case passed (and, with --compare, none regressed); 1 a case failed
    /// or regressed; 2 a wrong command line, cases file, export or earlier report. See
    /// docs/evals.md for the cases' checks.
    Eval(EvalArgs),
    /// Serve the live trace viewer on http://127.0.0.1:PORT/.
    Ui(UiArgs),
    /// Check, with real calls, the Bedrock model and the session store an agent would use here,
    /// and say how to fix what fails.
    ///
    /// Prints the settings (model id and its family, Region, endpoints, credentials, store),
    /// then one line per check: Converse with a tool, ConverseStream, a prompt-cache round trip,
    /// and the store (for DynamoDB: the table, its key schema, its TTL, and writing, reading and
    /// deleting a probe item in a partition no session uses). The calls cost a few thousand
    /// input tokens at most. Exit codes: 0 every check passed or was skipped; 6 a Bedrock check
    /// failed; else 4 the store cannot be used, or 1 it could not be reached.
    Doctor(DoctorArgs),
}

/// The `doctor` command.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// The model id or inference profile to check [default: MINIMALAGENT_MODEL_ID, else the
    /// library's default for the Region]
    #[arg(long, value_name = "ID")]
    pub(crate) model: Option<String>,
}

/// The `sessions` commands.
#[derive(Debug, Subcommand)]
pub(crate) enum SessionsCommand {
    /// The store's live sessions, with their runs and latest run.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// List at most this many sessions.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// A session's conversation and the reasoning of every run.
    Show {
        /// The session id.
        id: String,
        /// One JSON document (head, conversation entries, runs) instead of text.
        #[arg(long)]
        json: bool,
        /// Show long texts, tool inputs and results in full.
        #[arg(long)]
        full: bool,
    },
    /// Print a session's run events as they happen, each with the position to resume from.
    Follow {
        /// The session id.
        id: String,
        /// Resume after the event that printed this position [default: from the first run]
        #[arg(long, value_name = "POSITION")]
        from: Option<FollowPosition>,
        /// Exit once no run is in progress (after printing what the store holds; a paused run
        /// waiting for a decision is not in progress).
        #[arg(long, conflicts_with = "once")]
        until_idle: bool,
        /// Exit after the first run that ends or pauses for a decision (the run in progress, or
        /// the next one).
        #[arg(long)]
        once: bool,
        /// One JSON object per event: {"run","run_id","event","position"}.
        #[arg(long)]
        json: bool,
    },
    /// Delete a session's conversation and runs (asks first).
    Delete {
        /// The session id.
        id: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Write a session as JSON Lines: one line per conversation entry, then one per run (or,
    /// with --as-cases, one eval case per run).
    Export {
        /// The session id.
        id: String,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Write the session's runs as eval cases instead (for `minimalagent eval`): each asks
        /// its run's query after the turns before it, and checks the recorded answer, the
        /// tools called with their inputs in order, and the steps.
        #[arg(long)]
        as_cases: bool,
        /// With --as-cases: the cases are named PREFIX-1, PREFIX-2, … [default: the session id]
        #[arg(long, value_name = "PREFIX", requires = "as_cases")]
        prefix: Option<String>,
    },
    /// Copy a session's conversation — whole, up to a run, or up to a tool step of a run —
    /// into a new session, to try another way from there.
    ///
    /// The new session holds the turns (each with its run's trace) and names its origin in
    /// its state (`fork.origin`); the source lists its forks (`fork.child:NEW`) when its store
    /// can change state outside a run. Nothing in the source changes otherwise.
    Fork {
        /// The session to fork.
        source: String,
        /// The new session's id (it must not exist).
        new: String,
        /// Fork after this run (its number, as `show` lists them) [default: after the last]
        #[arg(long, value_name = "N", conflicts_with = "after_step")]
        after_run: Option<u64>,
        /// Fork after this tool step of this run: its query, the model's first STEP replies and
        /// their tool results (RUN.STEP, e.g. 3.2).
        #[arg(long, value_name = "RUN.STEP", value_parser = step_point)]
        after_step: Option<StepPoint>,
        /// Write the new session to this store instead (it must exist; same URLs as --store).
        #[arg(long, value_name = "URL")]
        to_store: Option<String>,
        /// Print what was forked as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The tool calls that wait for a person's decision (runs paused for approval).
    ///
    /// Without a session id it reads every session the store lists and every run of each: a
    /// command for operators, slow on a large store (on DynamoDB it scans the table, which
    /// lists only sessions with a kept turn: a session whose first run paused needs its id).
    Pending {
        /// The session id [default: every live session]
        id: Option<String>,
        /// One JSON object per held call and line instead of a table.
        #[arg(long)]
        json: bool,
        /// Show inputs and reasons in full.
        #[arg(long)]
        full: bool,
    },
    /// Approve a held tool call: it runs (as the model asked, or with --input) when the run
    /// goes on.
    ///
    /// This records the decision in the store, nothing more: it runs no tool and no model. Once
    /// every held call of the run is decided, the run goes on when a process running the agent
    /// calls `Agent::respond(session, Decisions::new())`.
    Approve {
        #[command(flatten)]
        target: DecisionTarget,
        /// Run the call with this input (JSON) instead of the model's.
        #[arg(long, value_name = "JSON", value_parser = json_value, conflicts_with_all = ["all", "always"])]
        input: Option<Value>,
        /// Approve, and run this tool without asking for the rest of the session (kept in the
        /// session's state).
        #[arg(long)]
        always: bool,
        /// With --always: only when the model gives this same input.
        #[arg(long, requires = "always")]
        this_input_only: bool,
    },
    /// Deny a held tool call: it does not run, and the model is told the message.
    ///
    /// This records the decision in the store, nothing more (see `approve`).
    Deny {
        #[command(flatten)]
        target: DecisionTarget,
        /// What the model is told.
        #[arg(long, short = 'm', value_name = "TEXT", default_value = DEFAULT_DENIAL)]
        message: String,
    },
    /// Answer a held tool call in place of the tool: it does not run, and the model gets this
    /// output (JSON) as its result.
    ///
    /// This records the decision in the store, nothing more (see `approve`).
    Answer {
        /// The session id.
        id: String,
        /// The held call's interrupt id (its toolUse id, as `pending` lists it).
        interrupt: String,
        /// The tool's result, as JSON (a JSON string for plain text: '"done"').
        #[arg(long, value_name = "JSON", value_parser = json_value)]
        output: Value,
        /// Print what was recorded and what still waits as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// A tool step of a run: `--after-step RUN.STEP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StepPoint {
    pub(crate) run: u64,
    pub(crate) step: u32,
}

/// `RUN.STEP`, both from 1 (a usage error, exit 2, otherwise).
fn step_point(text: &str) -> Result<StepPoint, String> {
    let wrong = || format!("`{text}` is not RUN.STEP (a run and a step, from 1: 3.2)");
    let (run, step) = text.split_once('.').ok_or_else(wrong)?;
    let run: u64 = run.parse().map_err(|_| wrong())?;
    let step: u32 = step.parse().map_err(|_| wrong())?;
    if run == 0 || step == 0 {
        return Err(wrong());
    }
    Ok(StepPoint { run, step })
}

/// What `deny` tells the model when no --message is given.
pub(crate) const DEFAULT_DENIAL: &str = "A person denied this call.";

/// The held calls an `approve` or `deny` decides on.
#[derive(Debug, Args)]
pub(crate) struct DecisionTarget {
    /// The session id.
    pub(crate) id: String,
    /// The held call's interrupt id (its toolUse id, as `pending` lists it).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub(crate) interrupt: Option<String>,
    /// Decide every held call of the session's newest paused run the same way.
    #[arg(long)]
    pub(crate) all: bool,
    /// Print what was recorded and what still waits as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

/// A JSON value from the command line (a usage error, exit 2, when it is not JSON).
fn json_value(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|error| format!("not valid JSON ({error})"))
}

/// The `ui` command.
#[derive(Debug, Args)]
pub(crate) struct UiArgs {
    /// The port (0: any free port).
    #[arg(long, default_value_t = 7878)]
    pub(crate) port: u16,
    /// The address to listen on. The viewer has no authentication: keep it on loopback.
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub(crate) bind: IpAddr,
    /// Let the page delete sessions (it asks for confirmation first).
    #[arg(long)]
    pub(crate) allow_delete: bool,
    /// Let the page approve and deny held tool calls (loopback only; the page must send a
    /// token made at start).
    #[arg(long)]
    pub(crate) allow_approvals: bool,
}

/// The `eval` command.
#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// The cases: JSON Lines, one case per line (`#` lines are comments).
    #[arg(value_name = "CASES.jsonl")]
    pub(crate) cases: PathBuf,
    /// The Bedrock model id or inference profile the cases run on [default:
    /// MINIMALAGENT_MODEL_ID, else the library's default for the Region]
    #[arg(long, value_name = "ID", conflicts_with = "replay")]
    pub(crate) model_id: Option<String>,
    /// The system prompt: the text, or @FILE to read it from a file.
    #[arg(long, value_name = "TEXT|@FILE", conflicts_with = "replay")]
    pub(crate) system_prompt: Option<String>,
    /// Run the cases on a recorded session instead (a `sessions export` file): no network,
    /// the recorded replies, the recorded tool results. Each case replays the recorded run
    /// that asked its prompt.
    #[arg(long, value_name = "EXPORT.jsonl")]
    pub(crate) replay: Option<PathBuf>,
    /// With --replay: report where a run differs from the record (on stderr) and go on,
    /// instead of failing the case.
    #[arg(long, requires = "replay")]
    pub(crate) lenient: bool,
    /// The Bedrock model that scores the cases with a `judge` check.
    #[arg(long, value_name = "ID")]
    pub(crate) judge_model: Option<String>,
    /// How many cases run at once.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) concurrency: u16,
    /// The longest one case may run, in seconds, before it fails.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) timeout: Option<u64>,
    /// Write the report as JSON to this file (the input of a later --compare).
    #[arg(long, value_name = "OUT.json")]
    pub(crate) report: Option<PathBuf>,
    /// Write the report (and the comparison) as Markdown to this file.
    #[arg(long, value_name = "OUT.md")]
    pub(crate) markdown: Option<PathBuf>,
    /// Compare with an earlier report (written with --report): a case that passed there and
    /// fails now is a regression.
    #[arg(long, value_name = "PREVIOUS.json")]
    pub(crate) compare: Option<PathBuf>,
}
