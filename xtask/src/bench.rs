//! `cargo xtask bench [--quick] [--only NAME,…]`: runs the benchmarks (each a `cargo bench`
//! child process writing `target/bench/<name>.json`, and the soak test writing
//! `target/bench/soak.json`), then prints one table of every figure next to its baseline and
//! writes it to `target/bench/summary.json`.
//!
//! What is measured, and the targets, are described in `docs/performance.md`. The rows are
//! `bench_support::Row`s, read and written with serde_json.

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bench_support::settings::{OUT_DIR_ENV, QUICK_ENV};
use bench_support::{BenchFile, Row, render_table};
use serde::Serialize;

use crate::dynamodb_local::DynamoDbLocal;

/// How long the soak test runs within `cargo xtask bench`, unless `MINIMALAGENT_SOAK_SECONDS`
/// says otherwise.
const SOAK_SECONDS: u64 = 120;
/// The same with `--quick`.
const QUICK_SOAK_SECONDS: u64 = 30;
/// Read by the soak test.
const SOAK_SECONDS_ENV: &str = "MINIMALAGENT_SOAK_SECONDS";

/// How a benchmark is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A `[[bench]]` target, run with `cargo bench`.
    Bench,
    /// An integration test that reports figures (the soak test), run with
    /// `cargo test --release`.
    Test,
}

/// One benchmark and what it needs.
struct Bench {
    /// The target's name; also the JSON file it writes.
    name: &'static str,
    /// The package it belongs to.
    package: &'static str,
    /// Its source, relative to the workspace root (a missing one is skipped, with a note).
    source: &'static str,
    /// How it is run.
    kind: Kind,
    /// Whether it needs DynamoDB Local: `Some(true)` when it cannot run without it,
    /// `Some(false)` when it leaves its DynamoDB figures out without it.
    dynamodb: Option<bool>,
}

const BENCHES: &[Bench] = &[
    Bench {
        name: "loop_overhead",
        package: "minimalagent-loop",
        source: "crates/agent-loop/benches/loop_overhead.rs",
        kind: Kind::Bench,
        dynamodb: None,
    },
    Bench {
        name: "loop_alloc",
        package: "minimalagent-loop",
        source: "crates/agent-loop/benches/loop_alloc.rs",
        kind: Kind::Bench,
        dynamodb: None,
    },
    Bench {
        name: "streaming",
        package: "bench-support",
        source: "crates/bench-support/benches/streaming.rs",
        kind: Kind::Bench,
        dynamodb: None,
    },
    Bench {
        name: "store_cost",
        package: "bench-support",
        source: "crates/bench-support/benches/store_cost.rs",
        kind: Kind::Bench,
        dynamodb: Some(false),
    },
    Bench {
        name: "context_growth",
        package: "bench-support",
        source: "crates/bench-support/benches/context_growth.rs",
        kind: Kind::Bench,
        dynamodb: Some(false),
    },
    Bench {
        name: "sustained_writers",
        package: "bench-support",
        source: "crates/bench-support/benches/sustained_writers.rs",
        kind: Kind::Bench,
        dynamodb: Some(false),
    },
    Bench {
        name: "end_to_end",
        package: "minimalagent",
        source: "crates/minimalagent/benches/end_to_end.rs",
        kind: Kind::Bench,
        dynamodb: Some(false),
    },
    Bench {
        name: "idle_session",
        package: "minimalagent",
        source: "crates/minimalagent/benches/idle_session.rs",
        kind: Kind::Bench,
        dynamodb: None,
    },
    Bench {
        name: "cold_start",
        package: "minimalagent",
        source: "crates/minimalagent/benches/cold_start.rs",
        kind: Kind::Bench,
        dynamodb: Some(false),
    },
    Bench {
        name: "soak",
        package: "minimalagent-session-dynamo",
        source: "crates/agent-session-dynamo/tests/soak.rs",
        kind: Kind::Test,
        dynamodb: Some(true),
    },
];

const USAGE: &str = "\
usage: cargo xtask bench [--quick] [--only NAME[,NAME…]]

  --quick       fewer samples and smaller loads, a 30 s soak
  --only NAMES  run only these: loop_overhead, loop_alloc, streaming, store_cost,
                context_growth, sustained_writers, end_to_end, idle_session, cold_start,
                soak

The soak runs 120 s (30 s with --quick) unless MINIMALAGENT_SOAK_SECONDS says otherwise.";

struct Options {
    quick: bool,
    only: Option<Vec<String>>,
}

/// The options, or `None` when help was asked for.
fn parse_args() -> Result<Option<Options>> {
    let mut options = Options {
        quick: false,
        only: None,
    };
    let mut args = env::args().skip(2);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--only" => {
                let names = args.next().context("--only needs a list of names")?;
                options.only = Some(names.split(',').map(str::to_owned).collect());
            }
            "-h" | "--help" => return Ok(None),
            other => bail!("unknown option `{other}`\n\n{USAGE}"),
        }
    }
    if let Some(only) = &options.only {
        for name in only {
            if !BENCHES.iter().any(|bench| bench.name == name) {
                bail!("no benchmark named `{name}`\n\n{USAGE}");
            }
        }
    }
    Ok(Some(options))
}

/// Runs the benchmarks and reports them.
pub(crate) fn run(root: &Path) -> Result<()> {
    let Some(options) = parse_args()? else {
        eprintln!("{USAGE}");
        return Ok(());
    };
    let out_dir = target_dir(root).join("bench");
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;

    let mut skipped = Vec::new();
    let selected: Vec<&Bench> = BENCHES
        .iter()
        .filter(|bench| {
            options
                .only
                .as_ref()
                .is_none_or(|only| only.iter().any(|name| name == bench.name))
        })
        .filter(|bench| {
            let present = root.join(bench.source).is_file();
            if !present {
                skipped.push(format!(
                    "{} skipped: {} does not exist yet",
                    bench.name, bench.source
                ));
            }
            present
        })
        .collect();
    if selected.is_empty() {
        bail!("no benchmark to run ({})", skipped.join("; "));
    }
    for bench in &selected {
        // A stale file must not pass for this run's figures.
        let _ = fs::remove_file(out_dir.join(format!("{}.json", bench.name)));
    }

    // Build everything first, so that no benchmark runs while another one compiles.
    let mut packages: BTreeMap<(&str, bool), Vec<&str>> = BTreeMap::new();
    for bench in &selected {
        packages
            .entry((bench.package, bench.kind == Kind::Test))
            .or_default()
            .push(bench.name);
    }
    for ((package, test), names) in &packages {
        let mut command = crate::cargo(root);
        if *test {
            command.args(["test", "--release", "--quiet", "--no-run", "-p", package]);
            for name in names {
                command.args(["--test", name]);
            }
        } else {
            command.args(["bench", "--quiet", "--no-run", "-p", package]);
            for name in names {
                command.args(["--bench", name]);
            }
        }
        crate::step(&format!("build benchmarks of {package}"), &mut command)?;
    }

    let emulator = if selected.iter().any(|bench| bench.dynamodb.is_some()) {
        match DynamoDbLocal::start(root) {
            Ok(emulator) => {
                eprintln!("xtask: DynamoDB Local at {}", emulator.endpoint());
                Some(emulator)
            }
            Err(error) => {
                skipped.push(format!(
                    "DynamoDB Local did not start ({error:#}): the DynamoDB figures are missing"
                ));
                None
            }
        }
    } else {
        None
    };

    let started = Instant::now();
    let load_before = load_average();
    let mut failed = Vec::new();
    let mut idle_wait_budget = Duration::from_secs(60);
    for bench in &selected {
        if bench.dynamodb == Some(true) && emulator.is_none() {
            skipped.push(format!("{} skipped: it needs DynamoDB Local", bench.name));
            continue;
        }
        wait_until_idle(&mut idle_wait_budget);
        let mut command = bench_command(root, bench, &options, &out_dir);
        if bench.dynamodb.is_some() {
            match &emulator {
                Some(emulator) => crate::with_dynamodb_local(&mut command, emulator),
                None => {
                    command.env_remove("AWS_ENDPOINT_URL_DYNAMODB");
                }
            }
        }
        if let Err(error) = crate::step(&format!("benchmark {}", bench.name), &mut command) {
            eprintln!("xtask: {error:#}");
            failed.push(bench.name);
        }
    }
    drop(emulator);
    let elapsed = started.elapsed();

    let mut rows = Vec::new();
    for bench in &selected {
        let path = out_dir.join(format!("{}.json", bench.name));
        let Ok(text) = fs::read_to_string(&path) else {
            if !failed.contains(&bench.name) && !skipped.iter().any(|s| s.starts_with(bench.name)) {
                failed.push(bench.name);
            }
            continue;
        };
        let file: BenchFile =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        rows.extend(file.rows.into_iter().map(|row| (bench.name, row)));
    }

    let machine = Machine::read();
    print_table(&rows, &machine, options.quick, &skipped);
    let summary = Summary {
        generated_at: jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now()),
        quick: options.quick,
        seconds: elapsed.as_secs_f64().round(),
        machine: &machine,
        load_average_at_start: load_before,
        rows: rows
            .iter()
            .map(|(bench, row)| SummaryRow {
                bench,
                ratio_to_baseline: row.ratio(),
                row,
            })
            .collect(),
        not_measured: &skipped,
        failed: &failed,
    };
    let summary_path = out_dir.join("summary.json");
    let text = serde_json::to_string_pretty(&summary).context("writing the summary")?;
    fs::write(&summary_path, text + "\n")
        .with_context(|| format!("writing {}", summary_path.display()))?;
    eprintln!("xtask: wrote {}", summary_path.display());
    let markdown_path = out_dir.join("summary.md");
    let plain_rows: Vec<Row> = rows.iter().map(|(_, row)| row.clone()).collect();
    fs::write(&markdown_path, markdown_tables(&plain_rows))
        .with_context(|| format!("writing {}", markdown_path.display()))?;
    eprintln!(
        "xtask: wrote {} (the tables for docs/performance.md)",
        markdown_path.display()
    );
    if !failed.is_empty() {
        bail!(
            "benchmarks failed or wrote no figures: {}",
            failed.join(", ")
        );
    }
    Ok(())
}

/// The command that runs one benchmark, with the environment every benchmark gets.
fn bench_command(root: &Path, bench: &Bench, options: &Options, out_dir: &Path) -> Command {
    let mut command = crate::cargo(root);
    match bench.kind {
        Kind::Bench => {
            command.args([
                "bench",
                "--quiet",
                "-p",
                bench.package,
                "--bench",
                bench.name,
            ]);
        }
        Kind::Test => {
            command.args([
                "test",
                "--release",
                "--quiet",
                "-p",
                bench.package,
                "--test",
                bench.name,
                "--",
                "--nocapture",
            ]);
            if env::var_os(SOAK_SECONDS_ENV).is_none() {
                let seconds = if options.quick {
                    QUICK_SOAK_SECONDS
                } else {
                    SOAK_SECONDS
                };
                command.env(SOAK_SECONDS_ENV, seconds.to_string());
            }
        }
    }
    command
        .env(OUT_DIR_ENV, out_dir)
        .env(QUICK_ENV, if options.quick { "1" } else { "0" })
        // Explicit dummy credentials and region: the SDK never looks further for them.
        .env("AWS_ACCESS_KEY_ID", "minimalagent")
        .env("AWS_SECRET_ACCESS_KEY", "minimalagent")
        .env("AWS_REGION", "us-west-2");
    command
}

fn target_dir(root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// `target/bench/summary.json`.
#[derive(Serialize)]
struct Summary<'a> {
    generated_at: jiff::Timestamp,
    quick: bool,
    seconds: f64,
    machine: &'a Machine,
    load_average_at_start: Option<f64>,
    rows: Vec<SummaryRow<'a>>,
    not_measured: &'a [String],
    failed: &'a [&'a str],
}

/// A row of the summary: the benchmark's row, which benchmark wrote it, and its ratio.
#[derive(Serialize)]
struct SummaryRow<'a> {
    bench: &'a str,
    #[serde(flatten)]
    row: &'a Row,
    ratio_to_baseline: Option<f64>,
}

fn print_table(rows: &[(&str, Row)], machine: &Machine, quick: bool, skipped: &[String]) {
    let rows: Vec<Row> = rows.iter().map(|(_, row)| row.clone()).collect();
    let mut out = format!(
        "\nMinimalAgent benchmarks{} — {} cores, {}, {} memory\n",
        if quick { " (quick)" } else { "" },
        machine.cores,
        machine.cpu,
        machine.memory
    );
    out.push_str(&render_table(&rows));
    for skip in skipped {
        out.push_str(&format!("\nnot measured: {skip}\n"));
    }
    // The table is this task's output.
    #[allow(clippy::print_stdout)]
    {
        println!("{out}");
    }
}

/// The rows as Markdown tables, one per section with its baselines, for
/// `docs/performance.md`.
fn markdown_tables(rows: &[Row]) -> String {
    let mut out = String::new();
    let mut start = 0;
    while start < rows.len() {
        let section = &rows[start].section;
        let end = rows[start..]
            .iter()
            .position(|row| &row.section != section)
            .map_or(rows.len(), |offset| start + offset);
        out.push_str(&format!("#### {section}\n\n"));
        let mut labels: Vec<&str> = Vec::new();
        for row in &rows[start..end] {
            if let Some(label) = row.baseline_label.as_deref()
                && !labels.contains(&label)
            {
                labels.push(label);
            }
        }
        for label in &labels {
            out.push_str(&format!("Baseline: {label}.\n"));
        }
        if !labels.is_empty() {
            out.push('\n');
        }
        out.push_str("| case | metric | value | baseline | unit | × base | target |\n");
        out.push_str("|---|---|--:|--:|---|--:|---|\n");
        let mut notes: Vec<&str> = Vec::new();
        for row in &rows[start..end] {
            let figure =
                |value: Option<f64>| value.map_or_else(|| "-".to_owned(), bench_support::number);
            let target = match (&row.target, row.met) {
                (Some(target), Some(true)) => format!("{target}: **met**"),
                (Some(target), _) => format!("{target}: **MISSED**"),
                _ => String::new(),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                row.case,
                row.metric,
                figure(row.value),
                figure(row.baseline),
                row.unit,
                row.ratio().map_or_else(String::new, |r| format!("{r:.2}")),
                target
            ));
            if let Some(note) = row.note.as_deref()
                && !notes.contains(&note)
            {
                notes.push(note);
            }
        }
        out.push('\n');
        for note in notes {
            out.push_str(&format!("- {note}\n"));
        }
        out.push('\n');
        start = end;
    }
    out
}

/// What the figures were measured on.
#[derive(Serialize)]
struct Machine {
    cores: usize,
    cpu: String,
    memory: String,
    kernel: String,
    rustc: String,
}

impl Machine {
    fn read() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(
                || "unknown CPU".to_owned(),
                |(_, name)| name.trim().to_owned(),
            );
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|kb| kb.trim().parse::<f64>().ok())
            .map_or_else(
                || "unknown".to_owned(),
                |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0),
            );
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|text| text.trim().to_owned())
            .unwrap_or_default();
        let rustc = Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .unwrap_or_default();
        Self {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            cpu,
            memory,
            kernel,
            rustc,
        }
    }
}

/// The 1-minute load average.
fn load_average() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Busy and total jiffies of all CPUs, from /proc/stat.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .filter_map(|field| field.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    // idle and iowait are fields 4 and 5.
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Waits until the machine's CPUs are mostly idle, so that a benchmark does not run next to a
/// build, taking the time it waits out of `budget` (a minute for the whole run): other people's
/// work on a shared machine is not ours to stop, so past that it measures anyway and says so.
fn wait_until_idle(budget: &mut Duration) {
    const MOST_BUSY: f64 = 0.35;
    let started = Instant::now();
    let mut warned = false;
    loop {
        let Some((busy_a, total_a)) = cpu_jiffies() else {
            return;
        };
        std::thread::sleep(Duration::from_millis(500));
        let Some((busy_b, total_b)) = cpu_jiffies() else {
            return;
        };
        let busy = (busy_b - busy_a) as f64 / (total_b - total_a).max(1) as f64;
        let waited = started.elapsed();
        if busy <= MOST_BUSY {
            *budget = budget.saturating_sub(waited);
            return;
        }
        if waited >= *budget {
            *budget = Duration::ZERO;
            eprintln!(
                "xtask: the CPUs are {:.0}% busy with other work; measuring anyway, expect noise",
                busy * 100.0
            );
            return;
        }
        if !warned {
            eprintln!(
                "xtask: the CPUs are {:.0}% busy with other work; waiting (up to {} s) for them",
                busy * 100.0,
                budget.as_secs()
            );
            warned = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_the_benchmarks_rows_with_their_ratio() {
        let text = r#"{"bench": "x", "rows": [{"section": "1. S", "case": "c", "metric": "m",
            "unit": "µs", "value": 3.0, "baseline": 1.5, "baseline_label": "b",
            "target": "< 20", "met": true, "note": null}]}"#;
        let file: BenchFile = serde_json::from_str(text).unwrap();
        let row = &file.rows[0];
        let summary = Summary {
            generated_at: jiff::Timestamp::UNIX_EPOCH,
            quick: true,
            seconds: 3.0,
            machine: &Machine::read(),
            load_average_at_start: Some(0.5),
            rows: vec![SummaryRow {
                bench: "x",
                row,
                ratio_to_baseline: row.ratio(),
            }],
            not_measured: &[],
            failed: &[],
        };
        let back: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&summary).unwrap()).unwrap();
        assert_eq!(back["generated_at"], "1970-01-01T00:00:00Z");
        assert_eq!(back["rows"][0]["bench"], "x");
        assert_eq!(back["rows"][0]["metric"], "m");
        assert_eq!(back["rows"][0]["ratio_to_baseline"], 2.0);
        assert_eq!(back["rows"][0]["met"], true);
    }

    #[test]
    fn every_benchmark_has_a_unique_name() {
        for (index, bench) in BENCHES.iter().enumerate() {
            assert!(
                BENCHES[..index]
                    .iter()
                    .all(|other| other.name != bench.name),
                "{}",
                bench.name
            );
        }
    }
}
