//! Maintainer tasks for MinimalAgent for Rust. Run `cargo xtask --help`.

#![allow(clippy::print_stdout)] // A command-line tool: its help and reports go to stdout.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod api;
mod bench;
mod dynamodb_local;
mod licenses;
mod live;
mod release;
mod workspace;

use dynamodb_local::DynamoDbLocal;

const HELP: &str = "\
cargo xtask <task>

Tasks:
  test                 What CI runs: fmt check; clippy (-D warnings) on the workspace and on the
                       facade and the CLI with each feature alone and none; unused
                       dependencies (cargo-machete); every test with DynamoDB Local started,
                       headless Chromium and a Python with boto3; every example run offline;
                       the quick start twice on SQLite (the second run remembers); licences
                       (deny.toml); the docs as docs.rs builds them; the public API listings;
                       the release dry run (every published crate packaged and verified).
                       Needs Java 17+ and npm (the emulator comes from the npm package
                       amplify-dynamodb-simulator, installed into .dynamodb-local/), python3,
                       cargo-machete and /usr/bin/chromium (scripts/install-chromium.sh).
                       MINIMALAGENT_PYTHON picks the Python; else a venv under target/.
  dynamodb-local       Start DynamoDB Local on a free loopback port, print the endpoint and the
                       environment lines to use, and stop it on Enter or Ctrl-C.
  example NAME         Run examples/NAME.rs offline: against the built-in Converse stand-in,
                       with DynamoDB Local when the example uses sessions.
  test-live            For maintainers with AWS credentials: against real Amazon Bedrock, for
                       each model id of MINIMALAGENT_LIVE_MODELS (comma-separated; default: the
                       Region's Nova Pro profile, us.anthropic.claude-sonnet-4-20250514-v1:0,
                       us.meta.llama3-3-70b-instruct-v1:0, us.mistral.pixtral-large-2502-v1:0),
                       the Bedrock client's live tests (crates/agent-llm-bedrock/tests/live.rs)
                       and then every example once per model (sessions in DynamoDB Local).
                       Costs a few cents per model. Without credentials it does NOT run: it
                       says why and exits with 3 (never a silent pass).
  bench [--quick]      Run the benchmarks and print one table (target/bench/summary.json).
  doc                  Build the API docs as docs.rs does (all features, --cfg docsrs), with
                       warnings denied (target/doc).
  api [--bless]        Check each published crate's public API against its reviewed listing in
                       api/CRATE.txt (--bless rewrites them), and, once a release is tagged,
                       run cargo semver-checks against it.
  licenses             Check that every dependency's licence is allowed by deny.toml (offline).
  package              Check the published crates' metadata and `cargo package` them, with
                       verification (each builds from its package alone).
  release [--dry-run] [VERSION]
                       Bump every crate to VERSION (default: the current one), check that
                       CHANGELOG.md has its section, package every published crate and print
                       the order they publish in. --dry-run works on a copy of the tracked
                       files under target/ and changes nothing. Never publishes
                       (docs/releasing.md).
  help                 This text.
";

/// The exit code of `cargo xtask test-live` when it did not run (no AWS credentials): distinct
/// from a pass (0) and a failure (1).
const LIVE_NOT_RUN: u8 = 3;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(not_run) = error.downcast_ref::<live::NotRun>() {
                eprintln!("xtask: {not_run}");
                return ExitCode::from(LIVE_NOT_RUN);
            }
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut args = env::args().skip(1);
    let task = args.next().unwrap_or_else(|| "help".to_owned());
    let root = workspace_root()?;
    match task.as_str() {
        "test" => test(&root),
        "dynamodb-local" => dynamodb_local::run_foreground(&root),
        "example" => {
            let name = args
                .next()
                .context("usage: cargo xtask example NAME (see examples/)")?;
            example(&root, &name)
        }
        "test-live" => live::run(&root),
        "bench" => bench::run(&root),
        "doc" => doc(&root),
        "api" => api::run(&root, &args.collect::<Vec<_>>()),
        "licenses" => licenses::check(&root),
        "package" => release::package(&root),
        "release" => release::release(&root, &args.collect::<Vec<_>>()),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => bail!("unknown task `{other}`\n\n{HELP}"),
    }
}

fn workspace_root() -> Result<PathBuf> {
    let manifest_dir =
        env::var("CARGO_MANIFEST_DIR").context("run xtask through cargo: `cargo xtask <task>`")?;
    Path::new(&manifest_dir)
        .parent()
        .map(Path::to_path_buf)
        .context("xtask has no parent directory")
}

fn cargo(root: &Path) -> Command {
    let mut command = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.current_dir(root);
    // Never let the AWS SDK probe the EC2 instance metadata service from a developer's or CI's
    // machine: tests and examples run on loopback only.
    command.env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

fn step(name: &str, command: &mut Command) -> Result<()> {
    eprintln!("xtask: {name}");
    let status = command
        .status()
        .with_context(|| format!("could not start `{name}`"))?;
    if !status.success() {
        bail!("`{name}` failed ({status})");
    }
    Ok(())
}

/// Points a command at a running DynamoDB Local with dummy credentials.
fn with_dynamodb_local(command: &mut Command, emulator: &DynamoDbLocal) {
    command
        .env("AWS_ENDPOINT_URL_DYNAMODB", emulator.endpoint())
        .env("AWS_ACCESS_KEY_ID", "minimalagent")
        .env("AWS_SECRET_ACCESS_KEY", "minimalagent")
        .env("AWS_REGION", "us-west-2");
}

fn test(root: &Path) -> Result<()> {
    step(
        "cargo fmt --check",
        cargo(root).args(["fmt", "--all", "--check"]),
    )?;
    step(
        "cargo clippy -D warnings",
        cargo(root).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    feature_combinations(root)?;
    unused_dependencies(root)?;
    licenses::check(root)?;
    let chromium = Path::new(CHROMIUM);
    if !chromium.is_file() {
        bail!(
            "{} is missing: the trace viewer's browser tests need Debian's Chromium; \
             install it with `bash scripts/install-chromium.sh`",
            chromium.display()
        );
    }
    let python = python_with_boto3(root)?;
    let emulator = DynamoDbLocal::start(root)
        .context("DynamoDB Local did not start, so the DynamoDB store's tests cannot run")?;
    eprintln!("xtask: DynamoDB Local at {}", emulator.endpoint());
    let mut tests = cargo(root);
    tests
        .args(["test", "--workspace", "--all-features", "--no-fail-fast"])
        // What passing tests print stays in the log: the sustained-writers, multi-process and
        // soak tests print their figures (throughput, retries, detection time, memory).
        .args(["--", "--show-output"])
        .env("MINIMALAGENT_PYTHON", &python)
        // The MCP tests' server, as this build makes it (agent-testkit's binary, built before
        // any test runs), so that they need not build it again with other features.
        .env(
            "MCP_TEST_SERVER",
            target_dir(root).join("debug").join("mcp-test-server"),
        );
    with_dynamodb_local(&mut tests, &emulator);
    step("cargo test", &mut tests)?;
    // The examples compiled with the tests; run each offline, as a newcomer would, once as
    // each model family the stand-in plays (its rules differ per family).
    for model_id in EXAMPLE_MODELS {
        for name in example_names(root)? {
            run_example(root, &name, Some(&emulator), Some(model_id))?;
        }
    }
    drop(emulator);
    quickstart_remembers(root)?;
    doc(root)?;
    api::run(root, &[])?;
    release::release(root, &["--dry-run".to_owned()])
}

/// Cargo's target directory.
fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// The models every example runs as in `cargo xtask test`: the default (Amazon Nova Pro) and a
/// Claude 4 model. The Converse stand-in enforces each family's rules.
const EXAMPLE_MODELS: [&str; 2] = [
    "us.amazon.nova-pro-v1:0",
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
];

/// Where the trace viewer's browser tests expect Chromium (Debian's package).
const CHROMIUM: &str = "/usr/bin/chromium";

/// Every feature of the crates users build, alone and with none, compiles without warnings:
/// the facade and the CLI, with `--no-default-features`, so a feature that only builds next to
/// another is caught. The features come from `cargo metadata`, so a new one is checked at once.
fn feature_combinations(root: &Path) -> Result<()> {
    let metadata = workspace::metadata(root, true)?;
    for name in ["minimalagent", "minimalagent-cli"] {
        let package = metadata
            .packages
            .iter()
            .find(|package| package.name == name)
            .with_context(|| format!("the workspace has no package `{name}`"))?;
        let mut combinations = vec![String::new()];
        combinations.extend(
            package
                .features
                .keys()
                .filter(|feature| feature.as_str() != "default")
                .cloned(),
        );
        for features in combinations {
            let label = if features.is_empty() {
                "no features".to_owned()
            } else {
                format!("feature {features}")
            };
            let mut command = cargo(root);
            command.args(["clippy", "--quiet", "-p", name, "--no-default-features"]);
            if !features.is_empty() {
                command.args(["--features", &features]);
            }
            command.args(["--", "-D", "warnings"]);
            step(&format!("{name} with {label}"), &mut command)?;
        }
    }
    Ok(())
}

/// Dependencies no code uses, with cargo-machete (`cargo install cargo-machete --locked`;
/// `.ci/run` installs it).
fn unused_dependencies(root: &Path) -> Result<()> {
    let found = Command::new("cargo-machete")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        bail!(
            "cargo-machete is missing: it checks for unused dependencies; install it with \
             `cargo install cargo-machete --locked`"
        );
    }
    step(
        "cargo machete",
        Command::new("cargo-machete").current_dir(root),
    )
}

/// A Python with boto3, for the test that reads our DynamoDB items with the seed's own code:
/// `MINIMALAGENT_PYTHON` when set, else a virtual environment made once under `target/`.
fn python_with_boto3(root: &Path) -> Result<PathBuf> {
    if let Some(python) = env::var_os("MINIMALAGENT_PYTHON").filter(|value| !value.is_empty()) {
        return Ok(PathBuf::from(python));
    }
    let venv = root.join("target").join("xtask-python");
    let python = venv.join("bin").join("python");
    let has_boto3 = |python: &Path| {
        Command::new(python)
            .args(["-c", "import boto3"])
            .status()
            .is_ok_and(|status| status.success())
    };
    if python.is_file() && has_boto3(&python) {
        return Ok(python);
    }
    step(
        "python3 -m venv target/xtask-python",
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
    )?;
    step(
        "pip install boto3",
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "boto3",
        ]),
    )?;
    if !has_boto3(&python) {
        bail!(
            "boto3 did not import after `pip install boto3` in {}",
            venv.display()
        );
    }
    Ok(python)
}

/// The README's first command, `cargo run --example quickstart`, offline with no DynamoDB:
/// the session lives in a SQLite file, and a second run finds the first run's interactions.
fn quickstart_remembers(root: &Path) -> Result<()> {
    let database = target_dir(root).join("quickstart-sessions.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut path = database.clone().into_os_string();
        path.push(suffix);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| format!("removing {}", path.display()));
            }
        }
    }
    let run = |attempt: &str| -> Result<String> {
        eprintln!("xtask: quickstart with SQLite, {attempt} run");
        let output = cargo(root)
            .args(["run", "--quiet", "--example", "quickstart"])
            .env("MINIMALAGENT_OFFLINE", "1")
            .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
            .env_remove("AWS_ENDPOINT_URL")
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("could not run the quickstart example")?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "the quickstart example failed ({}):\n{stdout}",
                output.status
            );
        }
        Ok(stdout)
    };
    let first = run("first")?;
    if !first.contains("sqlite://") || !first.contains("is new") {
        bail!("the quickstart's first run did not start a new SQLite session:\n{first}");
    }
    let second = run("second")?;
    if !second.contains("already holds") {
        bail!("the quickstart's second run did not find the first run's session:\n{second}");
    }
    Ok(())
}

/// The examples in `examples/`, by name.
fn example_names(root: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.join("examples")).context("reading examples/")? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "rs")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            names.push(stem.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The API docs as docs.rs builds them: every published crate asks docs.rs for all its
/// features and `--cfg docsrs` (`cargo xtask package` checks that), which turns on the
/// nightly-only `doc_cfg` ("Available on crate feature … only"); docs.rs builds with nightly,
/// this with the pinned stable toolchain and `RUSTC_BOOTSTRAP=1`.
fn doc(root: &Path) -> Result<()> {
    step(
        "cargo doc as docs.rs builds it (all features, --cfg docsrs), -D warnings",
        cargo(root)
            .args(["doc", "--workspace", "--no-deps", "--all-features"])
            .env("RUSTDOCFLAGS", "--cfg docsrs -D warnings")
            .env("RUSTC_BOOTSTRAP", "1"),
    )
}

fn example(root: &Path, name: &str) -> Result<()> {
    run_example(root, name, None, None)
}

/// Runs one example offline (the Converse stand-in), as `model_id` when given (else the
/// default), with DynamoDB Local when it uses sessions: `emulator` when given, else one started
/// for it.
fn run_example(
    root: &Path,
    name: &str,
    emulator: Option<&DynamoDbLocal>,
    model_id: Option<&str>,
) -> Result<()> {
    let path = root.join("examples").join(format!("{name}.rs"));
    if !path.exists() {
        bail!("no example `{name}` (looked for {})", path.display());
    }
    let source =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut command = cargo(root);
    command
        .args(["run", "--quiet", "--example", name])
        .env("MINIMALAGENT_OFFLINE", "1");
    if let Some(model_id) = model_id {
        command.env("MINIMALAGENT_MODEL_ID", model_id);
    }
    let uses_sessions = ["with_sessions", "use_session_memory", "session_table_name"]
        .iter()
        .any(|marker| source.contains(marker));
    let mut own_emulator = None;
    if uses_sessions {
        let emulator = match emulator {
            Some(shared) => shared,
            None => {
                let started = DynamoDbLocal::start(root)?;
                eprintln!("xtask: DynamoDB Local at {}", started.endpoint());
                own_emulator.insert(started)
            }
        };
        with_dynamodb_local(&mut command, emulator);
    }
    let label = match model_id {
        Some(model_id) => format!("example {name} as {model_id}"),
        None => format!("example {name}"),
    };
    step(&label, &mut command)
}
