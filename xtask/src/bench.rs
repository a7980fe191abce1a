//! `cargo xtask bench [--quick] [--only NAME,…]`: runs the benchmarks (each a `cargo bench`
//! child process writing `target/bench/<name>.json`), then prints one table of every figure
//! next to its baseline and writes it to `target/bench/summary.json`.
//!
//! What is measured, and the targets, are described in `docs/performance.md`.

use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::dynamodb_local::DynamoDbLocal;

/// Set to `1` for a quick run; read by the benchmarks.
const QUICK_ENV: &str = "MINIMALAGENT_BENCH_QUICK";
/// Where the benchmarks write their JSON; read by the benchmarks.
const OUT_DIR_ENV: &str = "MINIMALAGENT_BENCH_OUT";

/// One bench target and what it needs.
struct Bench {
    /// The target's name; also the JSON file it writes.
    name: &'static str,
    /// The package it belongs to.
    package: &'static str,
    /// Its source, relative to the workspace root (a missing one is skipped, with a note).
    source: &'static str,
    /// Whether it needs DynamoDB Local.
    dynamodb: bool,
}

const BENCHES: &[Bench] = &[
    Bench {
        name: "loop_overhead",
        package: "agent-core",
        source: "crates/agent-core/benches/loop_overhead.rs",
        dynamodb: false,
    },
    Bench {
        name: "loop_alloc",
        package: "agent-core",
        source: "crates/agent-core/benches/loop_alloc.rs",
        dynamodb: false,
    },
    Bench {
        name: "store_cost",
        package: "agent-session-dynamo",
        source: "crates/agent-session-dynamo/benches/store_cost.rs",
        dynamodb: true,
    },
    Bench {
        name: "end_to_end",
        package: "minimalagent",
        source: "crates/minimalagent/benches/end_to_end.rs",
        dynamodb: true,
    },
    Bench {
        name: "cold_start",
        package: "minimalagent",
        source: "crates/minimalagent/benches/cold_start.rs",
        dynamodb: true,
    },
];

const USAGE: &str = "\
usage: cargo xtask bench [--quick] [--only NAME[,NAME…]]

  --quick       fewer samples and smaller loads (a couple of minutes once built)
  --only NAMES  run only these benchmarks: loop_overhead, loop_alloc, store_cost, end_to_end,
                cold_start";

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
    let mut packages: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for bench in &selected {
        packages.entry(bench.package).or_default().push(bench.name);
    }
    for (package, names) in &packages {
        let mut command = crate::cargo(root);
        command.args(["bench", "--quiet", "--no-run", "-p", package]);
        for name in names {
            command.args(["--bench", name]);
        }
        crate::step(&format!("build benchmarks of {package}"), &mut command)?;
    }

    let emulator = if selected.iter().any(|bench| bench.dynamodb) {
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
        wait_until_idle(&mut idle_wait_budget);
        let mut command = crate::cargo(root);
        command
            .args([
                "bench",
                "--quiet",
                "-p",
                bench.package,
                "--bench",
                bench.name,
            ])
            .env(OUT_DIR_ENV, &out_dir)
            .env(QUICK_ENV, if options.quick { "1" } else { "0" })
            // Explicit dummy credentials and region: the SDK never looks further for them.
            .env("AWS_ACCESS_KEY_ID", "minimalagent")
            .env("AWS_SECRET_ACCESS_KEY", "minimalagent")
            .env("AWS_REGION", "us-west-2");
        if bench.dynamodb {
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
            if !failed.contains(&bench.name) {
                failed.push(bench.name);
            }
            continue;
        };
        let document = json::parse(&text).with_context(|| format!("reading {}", path.display()))?;
        if let Some(json::Value::Array(bench_rows)) = document.get("rows") {
            for row in bench_rows {
                rows.push(Row::from_json(bench.name, row));
            }
        }
    }

    let machine = Machine::read();
    print_table(&rows, &machine, options.quick, &skipped);
    let summary = summary_json(
        &rows,
        &machine,
        options.quick,
        elapsed,
        load_before,
        &skipped,
    );
    let summary_path = out_dir.join("summary.json");
    fs::write(&summary_path, summary)
        .with_context(|| format!("writing {}", summary_path.display()))?;
    eprintln!("xtask: wrote {}", summary_path.display());
    if !failed.is_empty() {
        bail!(
            "benchmarks failed or wrote no figures: {}",
            failed.join(", ")
        );
    }
    Ok(())
}

fn target_dir(root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// One row of the table.
struct Row {
    bench: String,
    section: String,
    case: String,
    metric: String,
    unit: String,
    value: Option<f64>,
    baseline: Option<f64>,
    baseline_label: Option<String>,
    target: Option<String>,
    met: Option<bool>,
    note: Option<String>,
}

impl Row {
    fn from_json(bench: &str, value: &json::Value) -> Self {
        let text = |key: &str| {
            value
                .get(key)
                .and_then(json::Value::as_str)
                .map(str::to_owned)
        };
        Self {
            bench: bench.to_owned(),
            section: text("section").unwrap_or_default(),
            case: text("case").unwrap_or_default(),
            metric: text("metric").unwrap_or_default(),
            unit: text("unit").unwrap_or_default(),
            value: value.get("value").and_then(json::Value::as_f64),
            baseline: value.get("baseline").and_then(json::Value::as_f64),
            baseline_label: text("baseline_label"),
            target: text("target"),
            met: value.get("met").and_then(json::Value::as_bool),
            note: text("note"),
        }
    }

    fn ratio(&self) -> Option<f64> {
        match (self.value, self.baseline) {
            (Some(value), Some(baseline)) if baseline != 0.0 => Some(value / baseline),
            _ => None,
        }
    }
}

fn number(value: Option<f64>) -> String {
    let Some(value) = value.filter(|v| v.is_finite()) else {
        return "-".to_owned();
    };
    let magnitude = value.abs();
    if magnitude >= 100.0 || value == value.trunc() {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn print_table(rows: &[Row], machine: &Machine, quick: bool, skipped: &[String]) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nMinimalAgent benchmarks{} — {} cores, {}, {} memory",
        if quick { " (quick)" } else { "" },
        machine.cores,
        machine.cpu,
        machine.memory
    );
    let headers = [
        "case", "metric", "value", "baseline", "unit", "x base", "target", "",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|row| {
            [
                row.case.clone(),
                row.metric.clone(),
                number(row.value),
                number(row.baseline),
                row.unit.clone(),
                row.ratio().map_or_else(String::new, |r| format!("{r:.2}")),
                row.target.clone().unwrap_or_default(),
                match row.met {
                    Some(true) => "met".to_owned(),
                    Some(false) => "MISSED".to_owned(),
                    None => String::new(),
                },
            ]
        })
        .collect();
    let mut widths = headers.map(|h| h.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 8]| {
        let mut text = String::from(" ");
        for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
            let pad = width.saturating_sub(cell.chars().count());
            // Numbers right-aligned, words left-aligned.
            if (2..=5).contains(&index) {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            }
            text.push_str("  ");
        }
        text.trim_end().to_owned()
    };
    let header_cells = headers.map(str::to_owned);
    let mut section = None;
    let mut notes: Vec<String> = Vec::new();
    for (row, cells) in rows.iter().zip(&cells) {
        if section != Some(&row.section) {
            flush_notes(&mut out, &mut notes);
            section = Some(&row.section);
            let _ = writeln!(out, "\n{}", row.section);
            if let Some(label) = &row.baseline_label {
                let _ = writeln!(out, "  baseline: {label}");
            }
            let _ = writeln!(out, "{}", line(&header_cells));
        }
        let _ = writeln!(out, "{}", line(cells));
        if let Some(note) = &row.note
            && !notes.contains(note)
        {
            notes.push(note.clone());
        }
    }
    flush_notes(&mut out, &mut notes);
    for skip in skipped {
        let _ = writeln!(out, "\nnot measured: {skip}");
    }
    // The table is this task's output.
    #[allow(clippy::print_stdout)]
    {
        println!("{out}");
    }
}

fn flush_notes(out: &mut String, notes: &mut Vec<String>) {
    for note in notes.drain(..) {
        let _ = writeln!(out, "  note: {note}");
    }
}

/// What the figures were measured on.
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
        let rustc = std::process::Command::new("rustc")
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

fn summary_json(
    rows: &[Row],
    machine: &Machine,
    quick: bool,
    elapsed: Duration,
    load_before: Option<f64>,
    skipped: &[String],
) -> String {
    use json::{Value, object};
    let text = |s: &str| Value::String(s.to_owned());
    let opt_text = |s: &Option<String>| s.as_deref().map_or(Value::Null, text);
    let opt_num = |n: Option<f64>| {
        n.filter(|n| n.is_finite())
            .map_or(Value::Null, Value::Number)
    };
    let rows = rows
        .iter()
        .map(|row| {
            object([
                ("bench", text(&row.bench)),
                ("section", text(&row.section)),
                ("case", text(&row.case)),
                ("metric", text(&row.metric)),
                ("unit", text(&row.unit)),
                ("value", opt_num(row.value)),
                ("baseline", opt_num(row.baseline)),
                ("baseline_label", opt_text(&row.baseline_label)),
                ("ratio_to_baseline", opt_num(row.ratio())),
                ("target", opt_text(&row.target)),
                ("met", row.met.map_or(Value::Null, Value::Bool)),
                ("note", opt_text(&row.note)),
            ])
        })
        .collect();
    let document = object([
        ("generated_at", text(&utc_now())),
        ("quick", Value::Bool(quick)),
        ("seconds", Value::Number(elapsed.as_secs_f64().round())),
        (
            "machine",
            object([
                ("cores", Value::Number(machine.cores as f64)),
                ("cpu", text(&machine.cpu)),
                ("memory", text(&machine.memory)),
                ("kernel", text(&machine.kernel)),
                ("rustc", text(&machine.rustc)),
                ("load_average_at_start", opt_num(load_before)),
            ]),
        ),
        ("rows", Value::Array(rows)),
        (
            "not_measured",
            Value::Array(skipped.iter().map(|s| text(s)).collect()),
        ),
    ]);
    let mut out = String::new();
    document.write_pretty(&mut out, 0);
    out.push('\n');
    out
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Just enough JSON for the benchmarks' own files: xtask keeps to `std` and `anyhow`.
mod json {
    use anyhow::{Result, bail};

    /// A JSON value. Objects keep their keys in order.
    #[derive(Debug, Clone, PartialEq)]
    pub(crate) enum Value {
        Null,
        Bool(bool),
        Number(f64),
        String(String),
        Array(Vec<Value>),
        Object(Vec<(String, Value)>),
    }

    /// An object from key–value pairs.
    pub(crate) fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
        Value::Object(
            pairs
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect(),
        )
    }

    impl Value {
        pub(crate) fn get(&self, key: &str) -> Option<&Value> {
            match self {
                Value::Object(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }

        pub(crate) fn as_str(&self) -> Option<&str> {
            match self {
                Value::String(s) => Some(s),
                _ => None,
            }
        }

        pub(crate) fn as_f64(&self) -> Option<f64> {
            match self {
                Value::Number(n) => Some(*n),
                _ => None,
            }
        }

        pub(crate) fn as_bool(&self) -> Option<bool> {
            match self {
                Value::Bool(b) => Some(*b),
                _ => None,
            }
        }

        /// Writes the value, indented by two spaces a level.
        pub(crate) fn write_pretty(&self, out: &mut String, depth: usize) {
            let indent = |out: &mut String, depth: usize| out.push_str(&"  ".repeat(depth));
            match self {
                Value::Null => out.push_str("null"),
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Number(n) if n.is_finite() => {
                    if *n == n.trunc() && n.abs() < 1e15 {
                        out.push_str(&format!("{}", *n as i64));
                    } else {
                        out.push_str(&format!("{n}"));
                    }
                }
                Value::Number(_) => out.push_str("null"),
                Value::String(s) => write_string(out, s),
                Value::Array(items) if items.is_empty() => out.push_str("[]"),
                Value::Array(items) => {
                    out.push_str("[\n");
                    for (index, item) in items.iter().enumerate() {
                        indent(out, depth + 1);
                        item.write_pretty(out, depth + 1);
                        out.push_str(if index + 1 < items.len() { ",\n" } else { "\n" });
                    }
                    indent(out, depth);
                    out.push(']');
                }
                Value::Object(pairs) if pairs.is_empty() => out.push_str("{}"),
                Value::Object(pairs) => {
                    out.push_str("{\n");
                    for (index, (key, value)) in pairs.iter().enumerate() {
                        indent(out, depth + 1);
                        write_string(out, key);
                        out.push_str(": ");
                        value.write_pretty(out, depth + 1);
                        out.push_str(if index + 1 < pairs.len() { ",\n" } else { "\n" });
                    }
                    indent(out, depth);
                    out.push('}');
                }
            }
        }
    }

    fn write_string(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }

    /// Parses one JSON document.
    pub(crate) fn parse(text: &str) -> Result<Value> {
        let mut parser = Parser {
            bytes: text.as_bytes(),
            pos: 0,
        };
        let value = parser.value(0)?;
        parser.skip_space();
        if parser.pos != parser.bytes.len() {
            bail!("JSON: trailing characters at byte {}", parser.pos);
        }
        Ok(value)
    }

    struct Parser<'a> {
        bytes: &'a [u8],
        pos: usize,
    }

    impl Parser<'_> {
        fn skip_space(&mut self) {
            while self
                .bytes
                .get(self.pos)
                .is_some_and(|b| b.is_ascii_whitespace())
            {
                self.pos += 1;
            }
        }

        fn peek(&self) -> Option<u8> {
            self.bytes.get(self.pos).copied()
        }

        fn expect(&mut self, byte: u8) -> Result<()> {
            if self.peek() != Some(byte) {
                bail!("JSON: expected `{}` at byte {}", byte as char, self.pos);
            }
            self.pos += 1;
            Ok(())
        }

        fn literal(&mut self, word: &str, value: Value) -> Result<Value> {
            if self.bytes[self.pos..].starts_with(word.as_bytes()) {
                self.pos += word.len();
                Ok(value)
            } else {
                bail!("JSON: unexpected text at byte {}", self.pos)
            }
        }

        fn value(&mut self, depth: usize) -> Result<Value> {
            if depth > 64 {
                bail!("JSON: nested too deeply");
            }
            self.skip_space();
            match self.peek() {
                Some(b'n') => self.literal("null", Value::Null),
                Some(b't') => self.literal("true", Value::Bool(true)),
                Some(b'f') => self.literal("false", Value::Bool(false)),
                Some(b'"') => Ok(Value::String(self.string()?)),
                Some(b'[') => {
                    self.pos += 1;
                    let mut items = Vec::new();
                    self.skip_space();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        return Ok(Value::Array(items));
                    }
                    loop {
                        items.push(self.value(depth + 1)?);
                        self.skip_space();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                return Ok(Value::Array(items));
                            }
                            _ => bail!("JSON: expected `,` or `]` at byte {}", self.pos),
                        }
                    }
                }
                Some(b'{') => {
                    self.pos += 1;
                    let mut pairs = Vec::new();
                    self.skip_space();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        return Ok(Value::Object(pairs));
                    }
                    loop {
                        self.skip_space();
                        let key = self.string()?;
                        self.skip_space();
                        self.expect(b':')?;
                        let value = self.value(depth + 1)?;
                        pairs.push((key, value));
                        self.skip_space();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b'}') => {
                                self.pos += 1;
                                return Ok(Value::Object(pairs));
                            }
                            _ => bail!("JSON: expected `,` or `}}` at byte {}", self.pos),
                        }
                    }
                }
                Some(b'-' | b'0'..=b'9') => {
                    let start = self.pos;
                    while self
                        .peek()
                        .is_some_and(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
                    {
                        self.pos += 1;
                    }
                    let text = std::str::from_utf8(&self.bytes[start..self.pos])?;
                    Ok(Value::Number(text.parse().map_err(|_| {
                        anyhow::anyhow!("JSON: bad number `{text}` at byte {start}")
                    })?))
                }
                _ => bail!("JSON: unexpected character at byte {}", self.pos),
            }
        }

        fn hex4(&mut self) -> Result<u32> {
            let digits = self
                .bytes
                .get(self.pos..self.pos + 4)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| u32::from_str_radix(d, 16).ok());
            let Some(code) = digits else {
                bail!("JSON: bad \\u escape at byte {}", self.pos);
            };
            self.pos += 4;
            Ok(code)
        }

        fn string(&mut self) -> Result<String> {
            self.expect(b'"')?;
            let mut out = String::new();
            loop {
                let start = self.pos;
                while self.peek().is_some_and(|b| b != b'"' && b != b'\\') {
                    self.pos += 1;
                }
                out.push_str(std::str::from_utf8(&self.bytes[start..self.pos])?);
                match self.peek() {
                    Some(b'"') => {
                        self.pos += 1;
                        return Ok(out);
                    }
                    Some(b'\\') => {
                        self.pos += 1;
                        let escape = self.peek();
                        self.pos += 1;
                        match escape {
                            Some(b'"') => out.push('"'),
                            Some(b'\\') => out.push('\\'),
                            Some(b'/') => out.push('/'),
                            Some(b'b') => out.push('\u{8}'),
                            Some(b'f') => out.push('\u{c}'),
                            Some(b'n') => out.push('\n'),
                            Some(b'r') => out.push('\r'),
                            Some(b't') => out.push('\t'),
                            Some(b'u') => {
                                let mut code = self.hex4()?;
                                if (0xD800..0xDC00).contains(&code)
                                    && self.bytes[self.pos..].starts_with(b"\\u")
                                {
                                    self.pos += 2;
                                    let low = self.hex4()?;
                                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                                }
                                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                            }
                            _ => bail!("JSON: bad escape at byte {}", self.pos - 1),
                        }
                    }
                    _ => bail!("JSON: unterminated string"),
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn reads_what_it_writes() {
            let value = object([
                ("name", Value::String("µs \"quoted\"\n".into())),
                (
                    "rows",
                    Value::Array(vec![Value::Number(1.5), Value::Null, Value::Bool(true)]),
                ),
                ("empty", Value::Object(Vec::new())),
                ("count", Value::Number(42.0)),
            ]);
            let mut text = String::new();
            value.write_pretty(&mut text, 0);
            assert_eq!(parse(&text).unwrap(), value);
        }

        #[test]
        fn reads_escapes_and_exponents() {
            let value = parse(r#"{"a": "\u00b5\ud83d\ude00\/", "b": -1.5e3, "c": []}"#).unwrap();
            assert_eq!(value.get("a").and_then(Value::as_str), Some("µ😀/"));
            assert_eq!(value.get("b").and_then(Value::as_f64), Some(-1500.0));
            assert!(parse("{\"a\": }").is_err());
            assert!(parse("[1, 2").is_err());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_from_the_benchmarks_json() {
        let text = r#"{"bench": "x", "rows": [{"section": "1. S", "case": "c", "metric": "m",
            "unit": "µs", "value": 3.0, "baseline": 1.5, "baseline_label": "b",
            "target": "< 20", "met": true, "note": null}]}"#;
        let document = json::parse(text).unwrap();
        let Some(json::Value::Array(rows)) = document.get("rows") else {
            panic!("no rows");
        };
        let row = Row::from_json("x", &rows[0]);
        assert_eq!(row.ratio(), Some(2.0));
        assert_eq!(row.met, Some(true));
        assert_eq!(row.note, None);
        let summary = summary_json(
            &[row],
            &Machine::read(),
            true,
            Duration::from_secs(3),
            Some(0.5),
            &[],
        );
        let back = json::parse(&summary).unwrap();
        assert_eq!(back.get("quick").and_then(json::Value::as_bool), Some(true));
    }

    #[test]
    fn dates_are_civil() {
        let now = utc_now();
        assert_eq!(now.len(), 20);
        assert!(now.ends_with('Z'));
    }
}
