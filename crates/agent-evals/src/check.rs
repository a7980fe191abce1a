//! Checking a run against its case.

use std::time::Duration;

use agent_core::{RunResult, ToolCallStatus, ToolInvocation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::case::{AnswerChecks, EvalCase, Limits, ToolChecks};

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckOutcome {
    /// Which check (`answer.contains "Oslo"`, `tools.called get_weather`, `limits.max_steps`, …).
    pub check: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was found, when it failed (or the judge's reason).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl CheckOutcome {
    fn new(check: impl Into<String>, passed: bool, detail: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            passed,
            detail: if passed { String::new() } else { detail.into() },
        }
    }
}

/// Every check of `case` but the judge's, on `result`, which took `latency`.
pub(crate) fn check_run(
    case: &EvalCase,
    result: &RunResult,
    latency: Duration,
) -> Vec<CheckOutcome> {
    let mut outcomes = Vec::new();
    check_answer(&case.answer, result, &mut outcomes);
    let calls: Vec<&ToolInvocation> = result
        .reasoning
        .steps
        .iter()
        .flat_map(|step| step.tools.iter())
        .filter(|call| call.status != ToolCallStatus::Running)
        .collect();
    check_tools(&case.tools, &calls, &mut outcomes);
    check_limits(&case.limits, result, latency, &mut outcomes);
    outcomes
}

fn shorten(text: &str) -> String {
    const MAX: usize = 200;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX).collect();
    cut.push('…');
    cut
}

fn check_answer(checks: &AnswerChecks, result: &RunResult, outcomes: &mut Vec<CheckOutcome>) {
    let answer = result.response.as_str();
    let lower = answer.to_lowercase();
    let said = || format!("the answer was {:?}", shorten(answer));
    for text in &checks.contains {
        outcomes.push(CheckOutcome::new(
            format!("answer.contains {text:?}"),
            lower.contains(&text.to_lowercase()),
            said(),
        ));
    }
    for text in &checks.not_contains {
        outcomes.push(CheckOutcome::new(
            format!("answer.not_contains {text:?}"),
            !lower.contains(&text.to_lowercase()),
            said(),
        ));
    }
    if let Some(pattern) = &checks.regex {
        let outcome = match regex::Regex::new(pattern) {
            Ok(regex) => CheckOutcome::new(
                format!("answer.regex {pattern:?}"),
                regex.is_match(answer),
                said(),
            ),
            Err(error) => CheckOutcome::new(
                format!("answer.regex {pattern:?}"),
                false,
                format!("the pattern does not compile: {error}"),
            ),
        };
        outcomes.push(outcome);
    }
    if let Some(expected) = &checks.equals {
        outcomes.push(CheckOutcome::new(
            "answer.equals",
            answer.trim() == expected.trim(),
            format!("expected {:?}; {}", shorten(expected), said()),
        ));
    }
    if let Some(schema) = &checks.json_schema {
        let value = result
            .structured
            .clone()
            .or_else(|| serde_json::from_str::<Value>(answer.trim()).ok());
        let outcome = match (jsonschema::validator_for(schema), value) {
            (Err(error), _) => CheckOutcome::new(
                "answer.json_schema",
                false,
                format!("not a schema: {error}"),
            ),
            (Ok(_), None) => CheckOutcome::new(
                "answer.json_schema",
                false,
                format!("the answer is not JSON; {}", said()),
            ),
            (Ok(validator), Some(value)) => {
                let errors: Vec<String> = validator
                    .iter_errors(&value)
                    .take(3)
                    .map(|error| format!("{} at {}", error, error.instance_path()))
                    .collect();
                CheckOutcome::new("answer.json_schema", errors.is_empty(), errors.join("; "))
            }
        };
        outcomes.push(outcome);
    }
}

/// Whether `actual` holds everything `expected` says: every key of an object (recursively),
/// arrays and other values equal.
pub(crate) fn holds(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => expected
            .iter()
            .all(|(key, value)| actual.get(key).is_some_and(|found| holds(found, value))),
        _ => actual == expected,
    }
}

fn check_tools(checks: &ToolChecks, calls: &[&ToolInvocation], outcomes: &mut Vec<CheckOutcome>) {
    let made = || {
        if calls.is_empty() {
            "no tool was called".to_owned()
        } else {
            let list: Vec<String> = calls
                .iter()
                .map(|call| format!("{} {}", call.name, shorten(&call.inputs.to_string())))
                .collect();
            format!("the calls were: {}", list.join("; "))
        }
    };
    for expected in &checks.called {
        let found = calls.iter().any(|call| {
            call.name == expected.name
                && expected
                    .input
                    .as_ref()
                    .is_none_or(|input| holds(&call.inputs, input))
        });
        let label = match &expected.input {
            Some(input) => format!("tools.called {} {input}", expected.name),
            None => format!("tools.called {}", expected.name),
        };
        outcomes.push(CheckOutcome::new(label, found, made()));
    }
    if !checks.order.is_empty() {
        let mut wanted = checks.order.iter().peekable();
        for call in calls {
            if wanted.peek().is_some_and(|name| **name == call.name) {
                wanted.next();
            }
        }
        outcomes.push(CheckOutcome::new(
            format!("tools.order {}", checks.order.join(" → ")),
            wanted.peek().is_none(),
            made(),
        ));
    }
    for name in &checks.never {
        outcomes.push(CheckOutcome::new(
            format!("tools.never {name}"),
            !calls.iter().any(|call| call.name == *name),
            made(),
        ));
    }
}

fn check_limits(
    limits: &Limits,
    result: &RunResult,
    latency: Duration,
    outcomes: &mut Vec<CheckOutcome>,
) {
    if let Some(max) = limits.max_steps {
        let steps = result.reasoning.total_steps;
        outcomes.push(CheckOutcome::new(
            format!("limits.max_steps {max}"),
            steps <= max,
            format!("{steps} steps"),
        ));
    }
    if let Some(max) = limits.max_tokens {
        let tokens = result.usage.input_tokens + result.usage.output_tokens;
        outcomes.push(CheckOutcome::new(
            format!("limits.max_tokens {max}"),
            tokens <= max,
            format!("{tokens} tokens"),
        ));
    }
    if let Some(max) = limits.max_latency_ms {
        let millis = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        outcomes.push(CheckOutcome::new(
            format!("limits.max_latency_ms {max}"),
            millis <= max,
            format!("{millis} ms"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_input_holds_what_the_case_expects() {
        let input = json!({"city": "Oslo", "units": {"temp": "C", "wind": "m/s"}, "days": [1, 2]});
        assert!(holds(&input, &json!({"city": "Oslo"})));
        assert!(holds(&input, &json!({"units": {"temp": "C"}})));
        assert!(!holds(&input, &json!({"units": {"temp": "F"}})));
        assert!(
            !holds(&input, &json!({"days": [1]})),
            "arrays are equal or not"
        );
        assert!(!holds(&input, &json!({"country": "NO"})));
    }
}
