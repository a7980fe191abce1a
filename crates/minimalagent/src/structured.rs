//! Typed final answers: [`Agent::run_structured`].

use std::sync::Arc;

use agent_core::RunResult;
use agent_loop::{AnswerCheck, StructuredAnswer};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::agent::{Agent, Job};
use crate::error::Error;
use crate::prompt::Prompt;

/// The name of the tool a structured answer is given through.
pub const ANSWER_TOOL: &str = "final_answer";

/// How many answers that do not fit the type the model may give before the run fails.
pub const ANSWER_ATTEMPTS: u32 = 3;

/// A run's answer of type `T`, with the run's result (its `response` is the answer as JSON).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Structured<T> {
    /// The answer.
    pub value: T,
    /// The run's result.
    pub result: RunResult,
}

/// The answer's JSON Schema, inlined (no `$ref`s, as tool schemas should be), wrapped in an
/// object when `T` is not one (Converse's tool inputs are objects).
fn answer_schema<T: JsonSchema>() -> (Value, bool) {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.meta_schema = None;
            settings.inline_subschemas = true;
        })
        .into_generator();
    let mut schema = Value::from(generator.root_schema_for::<T>());
    if let Some(object) = schema.as_object_mut() {
        object.remove("title");
    }
    if schema.get("type").and_then(Value::as_str) == Some("object") {
        (schema, false)
    } else {
        let wrapped = json!({
            "type": "object",
            "properties": {"answer": schema},
            "required": ["answer"],
            "additionalProperties": false
        });
        (wrapped, true)
    }
}

/// Reads a `T` from the tool input, saying where it does not fit.
fn read<T: DeserializeOwned>(input: &Value, wrapped: bool) -> Result<T, String> {
    let value = if wrapped {
        input
            .get("answer")
            .cloned()
            .ok_or("the field `answer` is missing")?
    } else {
        input.clone()
    };
    serde_path_to_error::deserialize::<_, T>(value).map_err(|error| {
        let path = error.path().to_string();
        if path == "." {
            error.into_inner().to_string()
        } else {
            format!("field `{path}`: {}", error.into_inner())
        }
    })
}

impl Agent {
    /// Runs a prompt whose answer must be a `T`: the model answers by calling a final tool whose
    /// input schema is `T`'s JSON Schema (`toolChoice` makes it call a tool; with extended
    /// thinking, which Bedrock does not combine with a forced choice, the instruction alone
    /// does). An answer that does not deserialise is sent back to the model with the error,
    /// up to [`ANSWER_ATTEMPTS`] answers, then the run fails with `InvalidStructuredAnswer`.
    ///
    /// ```
    /// use agent_testkit::ScriptedModel;
    /// use minimalagent::Agent;
    /// use serde_json::json;
    ///
    /// #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    /// struct Forecast {
    ///     city: String,
    ///     high_c: f64,
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), minimalagent::Error> {
    /// let model = ScriptedModel::new()
    ///     .then_tools(None, &[("final_answer", json!({"city": "Oslo", "high_c": 7.5}))]);
    /// let agent = Agent::builder().model(model).show_reasoning(false).build().await?;
    /// let forecast = agent.run_structured::<Forecast>("Tomorrow in Oslo?").await?;
    /// assert_eq!(forecast.value.city, "Oslo");
    /// assert_eq!(forecast.result.response, r#"{"city":"Oslo","high_c":7.5}"#);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run), plus `InvalidStructuredAnswer`.
    pub async fn run_structured<T>(&self, prompt: impl Into<Prompt>) -> Result<Structured<T>, Error>
    where
        T: JsonSchema + DeserializeOwned,
    {
        self.structured::<T>(prompt.into(), None).await
    }

    /// [`run_structured`](Self::run_structured) in a session (the answer is kept in the
    /// conversation as JSON text, like any turn).
    ///
    /// # Errors
    ///
    /// As [`run_in_session`](Self::run_in_session), plus `InvalidStructuredAnswer`.
    pub async fn run_structured_in_session<T>(
        &self,
        prompt: impl Into<Prompt>,
        session_id: &str,
    ) -> Result<Structured<T>, Error>
    where
        T: JsonSchema + DeserializeOwned,
    {
        self.structured::<T>(prompt.into(), Some(session_id)).await
    }

    async fn structured<T: JsonSchema + DeserializeOwned>(
        &self,
        prompt: Prompt,
        session_id: Option<&str>,
    ) -> Result<Structured<T>, Error> {
        let (schema, wrapped) = answer_schema::<T>();
        let check: AnswerCheck =
            Arc::new(move |input: &Value| read::<T>(input, wrapped).map(|_| ()));
        let answer = StructuredAnswer::new(
            ANSWER_TOOL,
            "Give your final answer, in exactly this shape.",
            schema,
            ANSWER_ATTEMPTS,
            check,
        );
        let session = match session_id {
            Some(id) => Some(self.session_id(id)?),
            None => None,
        };
        let job = Job::Run {
            prompt,
            session,
            structured: Some(answer),
        };
        let result = self
            .launch(Ok(job), CancellationToken::new())
            .result()
            .await?;
        let input = result
            .structured
            .clone()
            .ok_or_else(|| Error::internal("a structured run ended without its answer"))?;
        let value = read::<T>(&input, wrapped).map_err(Error::internal)?;
        Ok(Structured { value, result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, schemars::JsonSchema, PartialEq)]
    struct Point {
        x: i32,
        y: i32,
    }

    #[test]
    fn objects_are_used_as_they_are_and_other_types_are_wrapped() {
        let (schema, wrapped) = answer_schema::<Point>();
        assert!(!wrapped);
        assert_eq!(schema["type"], "object");
        assert_eq!(
            read::<Point>(&json!({"x": 1, "y": 2}), false),
            Ok(Point { x: 1, y: 2 })
        );
        assert!(
            read::<Point>(&json!({"x": "one", "y": 2}), false)
                .unwrap_err()
                .contains("x")
        );
        let (schema, wrapped) = answer_schema::<Vec<String>>();
        assert!(wrapped);
        assert_eq!(schema["properties"]["answer"]["type"], "array");
        assert_eq!(
            read::<Vec<String>>(&json!({"answer": ["a"]}), true),
            Ok(vec!["a".to_owned()])
        );
    }
}
