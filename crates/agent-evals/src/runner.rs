//! Running cases against an agent, concurrently with a bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_core::{NoEvents, RunResult, async_trait};
use agent_loop::{AgentLoop, RunInput};
use futures::StreamExt;

use crate::case::EvalCase;
use crate::check::{CheckOutcome, check_run};
use crate::judge::Judge;
use crate::report::{CaseReport, EvalReport};

/// What cases run against: an agent, live or on replay.
#[async_trait]
pub trait EvalTarget: Send + Sync {
    /// Runs `case`'s prompt after its conversation, and gives the run's result; `Err` says why
    /// the run failed (the case then fails).
    async fn run_case(&self, case: &EvalCase) -> Result<RunResult, String>;
}

#[async_trait]
impl EvalTarget for AgentLoop {
    async fn run_case(&self, case: &EvalCase) -> Result<RunResult, String> {
        let input = RunInput::new(case.prompt.clone()).with_history(case.conversation.clone());
        self.run(input, &NoEvents)
            .await
            .map_err(|failed| failed.error.to_string())
    }
}

#[async_trait]
impl<T: EvalTarget + ?Sized> EvalTarget for Arc<T> {
    async fn run_case(&self, case: &EvalCase) -> Result<RunResult, String> {
        (**self).run_case(case).await
    }
}

/// Runs cases: at most `concurrency` at once, each scored by the judge when it has one.
#[derive(Debug, Clone)]
pub struct EvalRunner {
    concurrency: usize,
    judge: Option<Judge>,
    timeout: Option<Duration>,
}

impl Default for EvalRunner {
    fn default() -> Self {
        Self::new()
    }
}

impl EvalRunner {
    /// A runner of 4 cases at once, without a judge or a timeout.
    pub fn new() -> Self {
        Self {
            concurrency: 4,
            judge: None,
            timeout: None,
        }
    }

    /// How many cases run at once (at least 1).
    #[must_use]
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// The judge for cases with a `judge` check; without one such checks fail, saying so.
    #[must_use]
    pub fn with_judge(mut self, judge: Judge) -> Self {
        self.judge = Some(judge);
        self
    }

    /// The longest one case may run before it fails.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs every case against `target` and reports them in the cases' order.
    pub async fn run(&self, target: &dyn EvalTarget, cases: &[EvalCase]) -> EvalReport {
        let reports: Vec<CaseReport> = futures::stream::iter(cases)
            .map(|case| self.run_one(target, case))
            .buffered(self.concurrency)
            .collect()
            .await;
        EvalReport::new(reports)
    }

    async fn run_one(&self, target: &dyn EvalTarget, case: &EvalCase) -> CaseReport {
        let started = Instant::now();
        let ran = match self.timeout {
            Some(limit) => match tokio::time::timeout(limit, target.run_case(case)).await {
                Ok(ran) => ran,
                Err(_) => Err(format!("the run took longer than {limit:?}")),
            },
            None => target.run_case(case).await,
        };
        let latency = started.elapsed();
        let result = match ran {
            Ok(result) => result,
            Err(error) => return CaseReport::failed_run(case, error, latency),
        };
        let mut checks = check_run(case, &result, latency);
        let mut score = None;
        if let Some(judge_check) = &case.judge {
            let outcome = match &self.judge {
                None => CheckOutcome {
                    check: "judge".into(),
                    passed: false,
                    detail: "the case asks for a judge and the runner has none".into(),
                },
                Some(judge) => match judge
                    .score(&case.prompt, &result, &judge_check.rubric)
                    .await
                {
                    Ok(verdict) => {
                        score = Some(verdict.score);
                        CheckOutcome {
                            check: format!("judge ≥ {}", judge_check.min_score),
                            passed: verdict.score >= judge_check.min_score,
                            detail: format!("score {:.2}: {}", verdict.score, verdict.reason),
                        }
                    }
                    Err(error) => CheckOutcome {
                        check: "judge".into(),
                        passed: false,
                        detail: error,
                    },
                },
            };
            checks.push(outcome);
        }
        CaseReport::ran(case, &result, checks, score, latency)
    }
}
