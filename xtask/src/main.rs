//! Maintainer tasks for MinimalAgent for Rust. Run `cargo xtask --help`.

#![allow(clippy::print_stdout)] // A command-line tool: its help and reports go to stdout.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod bench;
mod dynamodb_local;

use dynamodb_local::DynamoDbLocal;

const HELP: &str = "\
cargo xtask <task>

Tasks:
  test                 What CI runs: fmt check, clippy (-D warnings), every test with DynamoDB
                       Local started for the DynamoDB store's tests, every example run offline,
                       and cargo doc (-D warnings).
                       Needs Java 17+ and npm (the emulator comes from the npm package
                       amplify-dynamodb-simulator, installed into .dynamodb-local/).
  dynamodb-local       Start DynamoDB Local on a free loopback port, print the endpoint and the
                       environment lines to use, and stop it on Enter or Ctrl-C.
  example NAME         Run examples/NAME.rs offline: against the built-in Converse stand-in,
                       with DynamoDB Local when the example uses sessions.
  bench [--quick]      Run the benchmarks and print one table (target/bench/summary.json).
  doc                  Build the API docs with warnings denied (target/doc).
  help                 This text.
";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
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
        "bench" => bench::run(&root),
        "doc" => doc(&root),
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
    let emulator = DynamoDbLocal::start(root)
        .context("DynamoDB Local did not start, so the DynamoDB store's tests cannot run")?;
    eprintln!("xtask: DynamoDB Local at {}", emulator.endpoint());
    let mut tests = cargo(root);
    tests.args(["test", "--workspace", "--all-features", "--no-fail-fast"]);
    with_dynamodb_local(&mut tests, &emulator);
    step("cargo test", &mut tests)?;
    // The examples compiled with the tests; run each offline, as a newcomer would.
    for name in example_names(root)? {
        run_example(root, &name, Some(&emulator))?;
    }
    drop(emulator);
    doc(root)
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

fn doc(root: &Path) -> Result<()> {
    step(
        "cargo doc -D warnings",
        cargo(root)
            .args(["doc", "--workspace", "--no-deps", "--all-features"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )
}

fn example(root: &Path, name: &str) -> Result<()> {
    run_example(root, name, None)
}

/// Runs one example offline (the Converse stand-in), with DynamoDB Local when it uses sessions:
/// `emulator` when given, else one started for it.
fn run_example(root: &Path, name: &str, emulator: Option<&DynamoDbLocal>) -> Result<()> {
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
    step(&format!("example {name}"), &mut command)
}
