//! The rows a benchmark reports, written as JSON for `cargo xtask bench` to gather into one
//! table (`target/bench/summary.json`), and printed by the benchmark itself.
//!
//! Shared by the benchmarks of several crates (`#[path]`), so it depends on `serde_json` only.

#![allow(dead_code)] // Not every benchmark uses every helper.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

/// Set by `cargo xtask bench --quick`: fewer samples and smaller loads, for CI-like runs.
pub(crate) const QUICK_ENV: &str = "MINIMALAGENT_BENCH_QUICK";
/// Where the JSON files go; `cargo xtask bench` sets it to `target/bench`.
pub(crate) const OUT_DIR_ENV: &str = "MINIMALAGENT_BENCH_OUT";

/// Whether this is a quick run.
pub(crate) fn quick() -> bool {
    std::env::var(QUICK_ENV).is_ok_and(|value| value == "1")
}

/// One figure, next to the baseline measured in the same run.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    section: String,
    case: String,
    metric: String,
    unit: String,
    value: f64,
    baseline: Option<f64>,
    baseline_label: Option<String>,
    target: Option<String>,
    met: Option<bool>,
    note: Option<String>,
}

impl Row {
    /// The baseline, and what it is (for example "direct model calls").
    pub(crate) fn baseline(mut self, value: f64, label: impl Into<String>) -> Self {
        self.baseline = Some(value);
        self.baseline_label = Some(label.into());
        self
    }

    /// The target this figure is held to, and whether it is met.
    pub(crate) fn target(mut self, target: impl Into<String>, met: bool) -> Self {
        self.target = Some(target.into());
        self.met = Some(met);
        self
    }

    /// A short remark printed under the table.
    pub(crate) fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    fn to_json(&self) -> Value {
        json!({
            "section": self.section,
            "case": self.case,
            "metric": self.metric,
            "unit": self.unit,
            "value": finite(self.value),
            "baseline": self.baseline.map(finite),
            "baseline_label": self.baseline_label,
            "target": self.target,
            "met": self.met,
            "note": self.note,
        })
    }
}

fn finite(value: f64) -> Value {
    if value.is_finite() {
        json!(value)
    } else {
        Value::Null
    }
}

/// The rows of one benchmark target.
#[derive(Debug)]
pub(crate) struct Report {
    bench: &'static str,
    section: String,
    rows: Vec<Row>,
}

impl Report {
    /// A report of the benchmark `bench` (the JSON file's name) under the table heading
    /// `section`.
    pub(crate) fn new(bench: &'static str, section: impl Into<String>) -> Self {
        Self {
            bench,
            section: section.into(),
            rows: Vec::new(),
        }
    }

    /// A new row; finish it with the builder methods and [`Report::push`].
    pub(crate) fn row(
        &self,
        case: impl Into<String>,
        metric: impl Into<String>,
        unit: impl Into<String>,
        value: f64,
    ) -> Row {
        Row {
            section: self.section.clone(),
            case: case.into(),
            metric: metric.into(),
            unit: unit.into(),
            value,
            baseline: None,
            baseline_label: None,
            target: None,
            met: None,
            note: None,
        }
    }

    /// Adds a row.
    pub(crate) fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Prints the rows as a plain table on stdout and writes `<out dir>/<bench>.json`.
    pub(crate) fn finish(&self) -> std::io::Result<PathBuf> {
        // Printing the table is this function's job.
        #[allow(clippy::print_stdout)]
        {
            println!("\n{}", self.section);
            for row in &self.rows {
                let baseline = row
                    .baseline
                    .map(|b| format!("  (baseline {} {})", number(b), row.unit))
                    .unwrap_or_default();
                let target = match (&row.target, row.met) {
                    (Some(target), Some(true)) => format!("  [{target}: met]"),
                    (Some(target), _) => format!("  [{target}: MISSED]"),
                    _ => String::new(),
                };
                println!(
                    "  {:<34} {:<30} {:>12} {}{baseline}{target}",
                    row.case,
                    row.metric,
                    number(row.value),
                    row.unit
                );
            }
        }
        let dir = out_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.json", self.bench));
        let document = json!({
            "bench": self.bench,
            "quick": quick(),
            "rows": self.rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&document).map_err(std::io::Error::other)?;
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

/// A number with a sensible count of digits.
pub(crate) fn number(value: f64) -> String {
    let magnitude = value.abs();
    if !value.is_finite() {
        "-".to_owned()
    } else if magnitude >= 100.0 || value == value.trunc() {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// Microseconds in a duration, as a float.
pub(crate) fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// Milliseconds in a duration, as a float.
pub(crate) fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// `target/bench`, or where `MINIMALAGENT_BENCH_OUT` says. Benchmarks run from
/// `<target>/release/deps/`, so the fallback is found from the executable's path.
pub(crate) fn out_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(OUT_DIR_ENV) {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|target| target.join("bench")))
        .unwrap_or_else(|| PathBuf::from("target").join("bench"))
}

/// The `q`-quantile (0..=1) of sorted values, by nearest rank.
pub(crate) fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of some durations (sorted in place).
pub(crate) fn median(values: &mut [Duration]) -> Duration {
    values.sort_unstable();
    quantile(values, 0.5)
}

/// The URL in environment variable `name` when it points at a loopback address
/// (`http://127.0.0.1:PORT`, `http://localhost:PORT`, `http://[::1]:PORT`): benchmarks talk to
/// nothing else. `None` when unset; an error for any other address.
pub(crate) fn loopback_url(name: &str) -> Result<Option<String>, String> {
    let Some(url) = std::env::var(name).ok().filter(|url| !url.is_empty()) else {
        return Ok(None);
    };
    let host = url
        .strip_prefix("http://")
        .map(|rest| rest.split('/').next().unwrap_or_default())
        .ok_or_else(|| format!("{name}={url:?} must be http://<loopback>:<port>"))?;
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(host, _)| host),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(Some(url))
    } else {
        Err(format!(
            "{name}={url:?} is not a loopback address; benchmarks only talk to local emulators"
        ))
    }
}

/// Whether `cargo bench` started this benchmark (it passes `--bench`). `cargo test --benches`
/// (or `--all-targets`) runs bench targets without it: they then only say so and exit, rather
/// than measure for minutes inside a test run.
pub(crate) fn run_by_cargo_bench(bench: &str) -> bool {
    let by_bench = std::env::args().any(|arg| arg == "--bench");
    if !by_bench {
        eprintln!("{bench}: a benchmark; run it with `cargo bench` or `cargo xtask bench`");
    }
    by_bench
}
