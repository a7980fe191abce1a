//! What the agent-loop benchmarks share: the workload and the report.

pub(crate) mod fixture;
pub(crate) mod report;
