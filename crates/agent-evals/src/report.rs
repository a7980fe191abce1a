//! Reports: per case, as JSON and as a Markdown table, and compared with an earlier report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use agent_core::RunResult;
use serde::{Deserialize, Serialize};

use crate::case::EvalCase;
use crate::check::CheckOutcome;

/// One case's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// Whether the run ran and every check passed.
    pub passed: bool,
    /// Each check's outcome.
    pub checks: Vec<CheckOutcome>,
    /// Why the run itself failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The judge's score, if asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The answer (at most 500 characters).
    #[serde(default)]
    pub answer: String,
    /// Tool steps.
    pub steps: u32,
    /// Input and output tokens.
    pub tokens: u64,
    /// How long the run took.
    pub latency_ms: u64,
}

impl CaseReport {
    pub(crate) fn failed_run(case: &EvalCase, error: String, latency: Duration) -> Self {
        Self {
            name: case.name.clone(),
            passed: false,
            checks: Vec::new(),
            error: Some(error),
            score: None,
            answer: String::new(),
            steps: 0,
            tokens: 0,
            latency_ms: millis(latency),
        }
    }

    pub(crate) fn ran(
        case: &EvalCase,
        result: &RunResult,
        checks: Vec<CheckOutcome>,
        score: Option<f64>,
        latency: Duration,
    ) -> Self {
        Self {
            name: case.name.clone(),
            passed: checks.iter().all(|check| check.passed),
            checks,
            error: None,
            score,
            answer: result.response.chars().take(500).collect(),
            steps: result.reasoning.total_steps,
            tokens: result.usage.input_tokens + result.usage.output_tokens,
            latency_ms: millis(latency),
        }
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &CheckOutcome> {
        self.checks.iter().filter(|check| !check.passed)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A run of a suite: every case's report, in the cases' order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EvalReport {
    /// How many cases passed.
    pub passed: usize,
    /// How many failed.
    pub failed: usize,
    /// Each case.
    pub cases: Vec<CaseReport>,
}

impl EvalReport {
    pub(crate) fn new(cases: Vec<CaseReport>) -> Self {
        let passed = cases.iter().filter(|case| case.passed).count();
        Self {
            passed,
            failed: cases.len() - passed,
            cases,
        }
    }

    /// Whether every case passed (a CI job's exit code).
    pub fn all_passed(&self) -> bool {
        self.failed == 0
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// A report from its JSON.
    ///
    /// # Errors
    ///
    /// What serde found wrong.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// A Markdown table of the cases, then each failure's checks.
    pub fn to_markdown(&self) -> String {
        let mut text = format!(
            "**{} of {} cases passed.**\n\n| case | result | steps | tokens | latency | score |\n|---|---|---:|---:|---:|---:|\n",
            self.passed,
            self.cases.len()
        );
        for case in &self.cases {
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} | {} ms | {} |",
                cell(&case.name),
                if case.passed { "pass" } else { "**FAIL**" },
                case.steps,
                case.tokens,
                case.latency_ms,
                case.score.map(|s| format!("{s:.2}")).unwrap_or_default()
            );
        }
        let failing: Vec<&CaseReport> = self.cases.iter().filter(|case| !case.passed).collect();
        if !failing.is_empty() {
            text.push_str("\n### Failures\n\n");
            for case in failing {
                let _ = writeln!(text, "- **{}**", cell(&case.name));
                if let Some(error) = &case.error {
                    let _ = writeln!(text, "  - the run failed: {}", cell(error));
                }
                for check in case.failures() {
                    let _ = writeln!(text, "  - `{}`: {}", check.check, cell(&check.detail));
                }
            }
        }
        text
    }

    /// What changed since `previous`: cases that now pass, that now fail, that are new or
    /// gone, and judge scores that moved.
    pub fn compare(&self, previous: &EvalReport) -> Comparison {
        let before: BTreeMap<&str, &CaseReport> = previous
            .cases
            .iter()
            .map(|case| (case.name.as_str(), case))
            .collect();
        let now: BTreeMap<&str, &CaseReport> = self
            .cases
            .iter()
            .map(|case| (case.name.as_str(), case))
            .collect();
        let mut comparison = Comparison::default();
        for (name, case) in &now {
            match before.get(name) {
                None => comparison.new_cases.push((*name).to_owned()),
                Some(old) if old.passed && !case.passed => {
                    comparison.regressed.push((*name).to_owned());
                }
                Some(old) if !old.passed && case.passed => {
                    comparison.improved.push((*name).to_owned());
                }
                Some(old) => {
                    if let (Some(was), Some(is)) = (old.score, case.score)
                        && (is - was).abs() >= 0.1
                    {
                        comparison.score_changes.push(((*name).to_owned(), was, is));
                    }
                }
            }
        }
        comparison.removed = before
            .keys()
            .filter(|name| !now.contains_key(*name))
            .map(|name| (*name).to_owned())
            .collect();
        comparison
    }
}

/// Escapes a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// What changed between two reports ([`EvalReport::compare`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Comparison {
    /// Cases that failed before and pass now.
    pub improved: Vec<String>,
    /// Cases that passed before and fail now.
    pub regressed: Vec<String>,
    /// Cases not in the earlier report.
    pub new_cases: Vec<String>,
    /// Cases of the earlier report not run now.
    pub removed: Vec<String>,
    /// Judge scores that moved by 0.1 or more: case, before, now.
    pub score_changes: Vec<(String, f64, f64)>,
}

impl Comparison {
    /// Whether anything regressed.
    pub fn has_regressions(&self) -> bool {
        !self.regressed.is_empty()
    }

    /// The comparison in Markdown.
    pub fn to_markdown(&self) -> String {
        let mut text = String::from("### Compared with the previous report\n\n");
        let list = |text: &mut String, title: &str, names: &[String]| {
            if !names.is_empty() {
                let _ = writeln!(text, "- {title}: {}", names.join(", "));
            }
        };
        list(&mut text, "**regressed**", &self.regressed);
        list(&mut text, "improved", &self.improved);
        list(&mut text, "new", &self.new_cases);
        list(&mut text, "removed", &self.removed);
        for (name, was, is) in &self.score_changes {
            let _ = writeln!(text, "- score of {name}: {was:.2} → {is:.2}");
        }
        if self.regressed.is_empty()
            && self.improved.is_empty()
            && self.new_cases.is_empty()
            && self.removed.is_empty()
            && self.score_changes.is_empty()
        {
            text.push_str("- no change\n");
        }
        text
    }
}
