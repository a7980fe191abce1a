//! An LLM judge: any [`Model`] scoring an answer against a rubric.

use std::sync::Arc;

use agent_core::{InferenceConfig, Message, Model, ModelRequest, RunResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the judge said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Verdict {
    /// The score, from 0 to 1.
    pub score: f64,
    /// Why.
    pub reason: String,
}

/// A judge: a model asked to score answers, with what it is told.
#[derive(Clone)]
pub struct Judge {
    model: Arc<dyn Model>,
}

impl std::fmt::Debug for Judge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Judge")
            .field("model", &self.model.identity())
            .finish()
    }
}

/// The judge's instructions: a score and a reason, as JSON, nothing else.
pub const JUDGE_INSTRUCTIONS: &str = "You grade an AI agent's answer against a rubric. Read the \
    question, the tools the agent called, the answer and the rubric. Reply with one JSON object \
    and nothing else: {\"score\": <a number from 0 to 1>, \"reason\": \"<one or two sentences>\"}. \
    1 means the answer fully meets the rubric, 0 that it does not at all.";

impl Judge {
    /// A judge asking `model`.
    pub fn new(model: Arc<dyn Model>) -> Self {
        Self { model }
    }

    /// Scores `result`, the answer to `question`, against `rubric`.
    ///
    /// # Errors
    ///
    /// The model's error, or a message saying the reply held no usable score.
    pub async fn score(
        &self,
        question: &str,
        result: &RunResult,
        rubric: &str,
    ) -> Result<Verdict, String> {
        let calls: Vec<String> = result
            .reasoning
            .steps
            .iter()
            .flat_map(|step| step.tools.iter())
            .map(|call| format!("- {} {}", call.name, call.inputs))
            .collect();
        let prompt = format!(
            "Question:\n{question}\n\nTools called:\n{}\n\nAnswer:\n{}\n\nRubric:\n{rubric}",
            if calls.is_empty() {
                "(none)".to_owned()
            } else {
                calls.join("\n")
            },
            result.response
        );
        let mut request = ModelRequest::new(vec![Message::user_text(prompt)]);
        request.system = vec![JUDGE_INSTRUCTIONS.to_owned()];
        request.inference = InferenceConfig {
            temperature: Some(0.0),
            ..InferenceConfig::default()
        };
        let reply = self
            .model
            .converse(&request)
            .await
            .map_err(|error| format!("the judge's model failed: {error}"))?;
        parse_verdict(&reply.message.text())
    }
}

/// The first JSON object in `text` holding a `score` from 0 to 1 (models wrap JSON in prose or
/// code fences).
pub(crate) fn parse_verdict(text: &str) -> Result<Verdict, String> {
    let mut from = 0;
    while let Some(start) = text[from..].find('{').map(|at| at + from) {
        let mut depth = 0usize;
        let mut end = None;
        let mut in_string = false;
        let mut escaped = false;
        for (at, c) in text[start..].char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if in_string => escaped = true,
                '"' => in_string = !in_string,
                '{' if !in_string => depth += 1,
                '}' if !in_string => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = Some(start + at + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        if let Ok(value) = serde_json::from_str::<Value>(&text[start..end])
            && let Some(score) = value.get("score").and_then(Value::as_f64)
        {
            if !(0.0..=1.0).contains(&score) {
                return Err(format!("the judge's score {score} is not between 0 and 1"));
            }
            let reason = value
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            return Ok(Verdict { score, reason });
        }
        from = start + 1;
    }
    Err(format!(
        "the judge's reply holds no JSON object with a score: {:?}",
        text.chars().take(200).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_found_in_prose_and_fences() {
        let verdict = parse_verdict(
            "Sure.\n```json\n{\"score\": 0.8, \"reason\": \"gives {the} temp\"}\n```",
        )
        .unwrap();
        assert_eq!(verdict.score, 0.8);
        assert_eq!(verdict.reason, "gives {the} temp");
        assert!(parse_verdict("{\"score\": 7}").is_err());
        assert!(parse_verdict("no json here").is_err());
        assert!(parse_verdict("{\"other\": 1} then {\"score\": 1}").is_ok());
    }
}
