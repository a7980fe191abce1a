//! Eval cases: what to ask, and what the run must do ([`EvalCase`]), read from JSON Lines.

use agent_core::Message;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why cases could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaseError {
    /// A line is not a case.
    #[error("line {line}: {message}")]
    BadLine {
        /// The line's number, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A case is not usable as written.
    #[error("case `{case}`: {message}")]
    Invalid {
        /// The case's name.
        case: String,
        /// What is wrong.
        message: String,
    },
    /// Two cases have one name (reports and comparisons go by name).
    #[error("two cases are named `{0}`")]
    DuplicateName(String),
}

/// One case: a prompt (after an optional conversation) and the checks its run must pass.
///
/// As JSON (one per line in a cases file):
///
/// ```json
/// {"name": "weather-oslo", "prompt": "What is the weather in Oslo?",
///  "answer": {"contains": ["Oslo"], "regex": "\\d+ ?°?C"},
///  "tools": {"called": [{"name": "get_weather", "input": {"city": "Oslo"}}], "never": ["delete_account"]},
///  "limits": {"max_steps": 3, "max_tokens": 8000, "max_latency_ms": 20000},
///  "judge": {"rubric": "The answer gives Oslo's temperature.", "min_score": 0.7}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EvalCase {
    /// Its name, unique in its file.
    pub name: String,
    /// What the user asks.
    pub prompt: String,
    /// Earlier turns the run continues, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversation: Vec<Message>,
    /// Checks on the answer.
    #[serde(default, skip_serializing_if = "AnswerChecks::is_empty")]
    pub answer: AnswerChecks,
    /// Checks on the tools the run called.
    #[serde(default, skip_serializing_if = "ToolChecks::is_empty")]
    pub tools: ToolChecks,
    /// Limits on the run.
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
    /// A judge model's score, with the rubric it scores by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeCheck>,
}

impl EvalCase {
    /// A case asking `prompt`, with no check yet.
    pub fn new(name: impl Into<String>, prompt: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            prompt: prompt.into(),
            conversation: Vec::new(),
            answer: AnswerChecks::default(),
            tools: ToolChecks::default(),
            limits: Limits::default(),
            judge: None,
        }
    }

    /// Checks what can be checked before running: regexes compile, schemas are schemas,
    /// the judge's minimum is a score.
    ///
    /// # Errors
    ///
    /// [`CaseError::Invalid`] saying what is wrong.
    pub fn validate(&self) -> Result<(), CaseError> {
        let invalid = |message: String| CaseError::Invalid {
            case: self.name.clone(),
            message,
        };
        if self.name.trim().is_empty() {
            return Err(invalid("the name is empty".into()));
        }
        if let Some(pattern) = &self.answer.regex {
            regex::Regex::new(pattern)
                .map_err(|error| invalid(format!("`answer.regex`: {error}")))?;
        }
        if let Some(schema) = &self.answer.json_schema {
            jsonschema::validator_for(schema)
                .map_err(|error| invalid(format!("`answer.json_schema`: {error}")))?;
        }
        if let Some(judge) = &self.judge
            && !(0.0..=1.0).contains(&judge.min_score)
        {
            return Err(invalid(format!(
                "`judge.min_score` is {}; a score is between 0 and 1",
                judge.min_score
            )));
        }
        Ok(())
    }
}

/// Checks on the answer's text (or, for a typed answer, its JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AnswerChecks {
    /// Texts the answer holds (case-insensitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contains: Vec<String>,
    /// Texts the answer must not hold (case-insensitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_contains: Vec<String>,
    /// A regular expression the answer matches (`regex` crate syntax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The whole answer, trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// A JSON Schema the answer (a typed answer, or the text parsed as JSON) must fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<Value>,
}

impl AnswerChecks {
    /// Whether there is no check.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Checks on the run's trajectory: the tools it called.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ToolChecks {
    /// Calls the run made, each by name and, optionally, with an input holding this JSON
    /// (every key given, recursively; arrays equal).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub called: Vec<ExpectedCall>,
    /// Tools the run called in this order (others may come between).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order: Vec<String>,
    /// Tools the run never called.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub never: Vec<String>,
}

impl ToolChecks {
    /// Whether there is no check.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A call the run must have made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ExpectedCall {
    /// The tool.
    pub name: String,
    /// JSON the call's input holds, if it matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
}

impl ExpectedCall {
    /// A call of `name`, with any input.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            input: None,
        }
    }

    /// A call of `name` with an input holding `input`.
    pub fn with_input(name: impl Into<String>, input: Value) -> Self {
        Self {
            name: name.into(),
            input: Some(input),
        }
    }
}

/// Limits on the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Limits {
    /// The most model calls with tool steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u32>,
    /// The most tokens, input and output, over the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// The longest the run may take, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency_ms: Option<u64>,
}

impl Limits {
    /// Whether there is no limit.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A judge model's score of the answer against a rubric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JudgeCheck {
    /// What a good answer does.
    pub rubric: String,
    /// The lowest passing score, from 0 to 1.
    #[serde(default = "default_min_score")]
    pub min_score: f64,
}

fn default_min_score() -> f64 {
    0.5
}

/// Reads cases from JSON Lines (blank lines and lines starting with `#` or `//` are skipped),
/// checking each and that names are unique.
///
/// # Errors
///
/// The first [`CaseError`].
pub fn parse_cases(jsonl: &str) -> Result<Vec<EvalCase>, CaseError> {
    let mut cases: Vec<EvalCase> = Vec::new();
    for (number, line) in jsonl.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("//") {
            continue;
        }
        let case: EvalCase = serde_json::from_str(trimmed).map_err(|error| CaseError::BadLine {
            line: number + 1,
            message: error.to_string(),
        })?;
        case.validate()?;
        if cases.iter().any(|seen| seen.name == case.name) {
            return Err(CaseError::DuplicateName(case.name));
        }
        cases.push(case);
    }
    Ok(cases)
}

/// Writes cases as JSON Lines.
pub fn cases_to_jsonl(cases: &[EvalCase]) -> String {
    let mut text = String::new();
    for case in cases {
        if let Ok(line) = serde_json::to_string(case) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}
