//! # agent-evals
//!
//! Evaluations for MinimalAgent agents: [`EvalCase`]s — a prompt (after an optional
//! conversation) with checks on the answer (contains, not contains, regex, equals, JSON Schema),
//! on the trajectory (tools called, with inputs holding given JSON, in order, never called),
//! limits (steps, tokens, latency) and an optional [`Judge`] (any `Model` scoring the answer
//! against a rubric) — run by an [`EvalRunner`] against an agent, live or on replay
//! (`agent_testkit::ReplayModel`), concurrently with a bound. The [`EvalReport`] is JSON and a
//! Markdown table, says whether every case passed (a CI job's exit code), and is compared with
//! an earlier report ([`EvalReport::compare`]: what got better, what regressed). Recorded runs
//! become cases with [`cases_from_recording`].
//!
//! ```
//! use std::sync::Arc;
//! use agent_core::ToolSet;
//! use agent_evals::{EvalRunner, parse_cases};
//! use agent_loop::AgentLoop;
//! use agent_testkit::ScriptedModel;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let cases = parse_cases(r#"
//! {"name": "greets", "prompt": "Say hello", "answer": {"contains": ["hello"]}, "limits": {"max_steps": 0}}
//! {"name": "polite", "prompt": "Say hello", "answer": {"regex": "(?i)please|thanks"}}
//! "#).unwrap();
//! let model = ScriptedModel::new().then_text("Hello there!").then_text("Hello, thanks!");
//! let agent = AgentLoop::new(Arc::new(model), ToolSet::default());
//! let report = EvalRunner::new().with_concurrency(1).run(&agent, &cases).await;
//! assert!(report.all_passed(), "{}", report.to_markdown());
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod case;
mod check;
mod from_record;
mod judge;
mod report;
mod runner;

pub use case::{
    AnswerChecks, CaseError, EvalCase, ExpectedCall, JudgeCheck, Limits, ToolChecks,
    cases_to_jsonl, parse_cases,
};
pub use check::CheckOutcome;
pub use from_record::cases_from_recording;
pub use judge::{JUDGE_INSTRUCTIONS, Judge, Verdict};
pub use report::{CaseReport, Comparison, EvalReport};
pub use runner::{EvalRunner, EvalTarget};
