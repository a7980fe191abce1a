//! The rows a benchmark reports: printed as a table by the benchmark, written as JSON for
//! `cargo xtask bench` to gather into one table (`target/bench/summary.json`).

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::settings::{out_dir, quick};
use crate::stats::number;

/// One figure, next to the baseline measured in the same run.
///
/// Made with [`Report::row`] and finished with the builder methods. Figures that are not
/// finite (a ratio over zero) are kept as `None` and printed as `-`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Row {
    /// The table it belongs to (`2. Store cost per run`).
    pub section: String,
    /// What was measured (`SQLite, real time off, run 100`).
    pub case: String,
    /// Which figure of it (`CPU per run`).
    pub metric: String,
    /// The figure's unit (`µs`, `B`, `WCU`).
    pub unit: String,
    /// The figure.
    pub value: Option<f64>,
    /// The baseline's figure, measured in the same run.
    pub baseline: Option<f64>,
    /// What the baseline is (`bare SDK converse_stream`).
    pub baseline_label: Option<String>,
    /// The target this figure is held to (`≤ 1.1 × baseline`).
    pub target: Option<String>,
    /// Whether the target is met.
    pub met: Option<bool>,
    /// A remark printed under the table.
    pub note: Option<String>,
}

impl Row {
    /// The baseline, and what it is (for example "direct model calls").
    #[must_use]
    pub fn baseline(mut self, value: f64, label: impl Into<String>) -> Self {
        self.baseline = finite(value);
        self.baseline_label = Some(label.into());
        self
    }

    /// The target this figure is held to, and whether it is met.
    #[must_use]
    pub fn target(mut self, target: impl Into<String>, met: bool) -> Self {
        self.target = Some(target.into());
        self.met = Some(met);
        self
    }

    /// A short remark printed under the table.
    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// The figure divided by its baseline, when both are known and the baseline is not zero.
    pub fn ratio(&self) -> Option<f64> {
        match (self.value, self.baseline) {
            (Some(value), Some(baseline)) if baseline != 0.0 => finite(value / baseline),
            _ => None,
        }
    }
}

fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

/// What a benchmark writes to `target/bench/<bench>.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BenchFile {
    /// The benchmark's name (the file's name).
    pub bench: String,
    /// Whether it was a quick run.
    pub quick: bool,
    /// Its rows, in order.
    pub rows: Vec<Row>,
}

/// The rows of one benchmark target.
#[derive(Debug)]
pub struct Report {
    bench: String,
    section: String,
    rows: Vec<Row>,
}

impl Report {
    /// A report of the benchmark `bench` (the JSON file's name) under the table heading
    /// `section`.
    pub fn new(bench: impl Into<String>, section: impl Into<String>) -> Self {
        Self {
            bench: bench.into(),
            section: section.into(),
            rows: Vec::new(),
        }
    }

    /// Starts a new table: rows made from now on belong to `section`.
    pub fn section(&mut self, section: impl Into<String>) {
        self.section = section.into();
    }

    /// A new row in the current section; finish it with the builder methods and
    /// [`Report::push`].
    pub fn row(
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
            value: finite(value),
            ..Row::default()
        }
    }

    /// Adds a row.
    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// The rows so far.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Prints the rows as a table on stdout and writes `<out dir>/<bench>.json`; returns the
    /// file's path.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created or the file cannot be written.
    pub fn finish(&self) -> std::io::Result<PathBuf> {
        // Printing the table is this function's job.
        #[allow(clippy::print_stdout)]
        {
            println!("{}", render_table(&self.rows));
        }
        let dir = out_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.json", self.bench));
        let file = BenchFile {
            bench: self.bench.clone(),
            quick: quick(),
            rows: self.rows.clone(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
        std::fs::write(&path, text + "\n")?;
        Ok(path)
    }
}

/// The rows as plain-text tables, one per section (with its baseline and notes), numbers
/// right-aligned: what a benchmark and `cargo xtask bench` print.
pub fn render_table(rows: &[Row]) -> String {
    const HEADERS: [&str; 8] = [
        "case", "metric", "value", "baseline", "unit", "x base", "target", "",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|row| {
            [
                row.case.clone(),
                row.metric.clone(),
                row.value.map_or_else(|| "-".to_owned(), number),
                row.baseline.map_or_else(|| "-".to_owned(), number),
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
    let mut out = String::new();
    let mut start = 0;
    while start < rows.len() {
        let section = &rows[start].section;
        let end = rows[start..]
            .iter()
            .position(|row| &row.section != section)
            .map_or(rows.len(), |offset| start + offset);
        let mut widths = HEADERS.map(|h| h.chars().count());
        for row in &cells[start..end] {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let _ = writeln!(out, "\n{section}");
        let mut labels: Vec<&str> = Vec::new();
        for row in &rows[start..end] {
            if let Some(label) = row.baseline_label.as_deref()
                && !labels.contains(&label)
            {
                labels.push(label);
            }
        }
        for label in labels {
            let _ = writeln!(out, "  baseline: {label}");
        }
        let _ = writeln!(out, "{}", line(&HEADERS.map(str::to_owned), &widths));
        let mut notes: Vec<&str> = Vec::new();
        for (row, cells) in rows[start..end].iter().zip(&cells[start..end]) {
            let _ = writeln!(out, "{}", line(cells, &widths));
            if let Some(note) = row.note.as_deref()
                && !notes.contains(&note)
            {
                notes.push(note);
            }
        }
        for note in notes {
            let _ = writeln!(out, "  note: {note}");
        }
        start = end;
    }
    out
}

fn line(cells: &[String; 8], widths: &[usize; 8]) -> String {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_json_and_drop_non_finite_figures() {
        let mut report = Report::new("x", "1. Section");
        report.push(
            report
                .row("case", "metric", "µs", 3.0)
                .baseline(1.5, "the baseline")
                .target("≤ 2×", true)
                .note("a note"),
        );
        report.push(report.row("case", "growth", "×", f64::NAN));
        let file = BenchFile {
            bench: "x".into(),
            quick: true,
            rows: report.rows().to_vec(),
        };
        let text = serde_json::to_string(&file).unwrap();
        let back: BenchFile = serde_json::from_str(&text).unwrap();
        assert_eq!(back, file);
        assert_eq!(back.rows[0].ratio(), Some(2.0));
        assert_eq!(back.rows[1].value, None);
        let table = render_table(&back.rows);
        assert!(table.contains("baseline: the baseline"));
        assert!(table.contains("met"));
        assert!(table.contains("note: a note"));
    }

    #[test]
    fn files_from_older_benchmarks_still_read() {
        let text = r#"{"bench": "x", "rows": [{"section": "s", "case": "c", "metric": "m",
            "unit": "B", "value": 1, "baseline": null, "extra": 3}]}"#;
        let file: BenchFile = serde_json::from_str(text).unwrap();
        assert!(!file.quick);
        assert_eq!(file.rows[0].value, Some(1.0));
        assert_eq!(file.rows[0].met, None);
    }
}
