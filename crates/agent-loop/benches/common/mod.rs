//! What the agent-loop benchmarks share: the workload. The report is `bench-support`'s.

pub(crate) mod fixture;
