//! Heap allocation per agent-loop run: bytes and allocations of `AgentLoop` runs over the
//! zero-latency model and instant tools, next to the same model calls made directly.
//!
//! A counting global allocator (`stats_alloc`) wraps the system allocator, so this is its own
//! bench target: the timing benchmarks run on the plain allocator. Writes `loop_alloc.json`.
//!
//! `cargo bench -p minimalagent-core --bench loop_alloc`.

// A benchmark that cannot build its workload has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used)]

mod common;

use std::alloc::System;
use std::hint::black_box;

use bench_support::{Report, quick, run_by_cargo_bench};
use common::fixture::{SHAPES, Shape, agent_loop, direct_calls, run_once};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, Stats, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes and allocations per run, averaged over `runs`.
#[derive(Debug, Clone, Copy)]
struct PerRun {
    bytes: f64,
    allocations: f64,
}

impl PerRun {
    fn from_stats(stats: Stats, runs: usize) -> Self {
        // `stats_alloc` already counts a reallocation's growth in `bytes_allocated` (and its
        // shrinking in `bytes_deallocated`): adding `bytes_reallocated` would count it twice.
        let bytes = stats.bytes_allocated as f64;
        let allocations = (stats.allocations + stats.reallocations) as f64;
        Self {
            bytes: bytes / runs as f64,
            allocations: allocations / runs as f64,
        }
    }
}

fn main() {
    if !run_by_cargo_bench("loop_alloc") {
        return;
    }
    let runs = if quick() { 200 } else { 2000 };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a Tokio runtime");
    let mut report = Report::new(
        "loop_alloc",
        "1. Agent-loop heap allocation per run (counting allocator)",
    );
    for shape in SHAPES {
        let (looped, direct) = runtime.block_on(measure(shape, runs));
        add_rows(&mut report, shape, looped, direct);
    }
    report.finish().expect("the report is written");
}

async fn measure(shape: Shape, runs: usize) -> (PerRun, PerRun) {
    let (agent_loop, model) = agent_loop(shape);
    let requests = model.direct_requests();
    // Warm up: lazily initialised statics (tracing callsites, Tokio's task machinery) allocate
    // once; that is not a per-run cost.
    for _ in 0..20 {
        black_box(run_once(&agent_loop).await.expect("the run completes"));
        black_box(
            direct_calls(&model, &requests)
                .await
                .expect("the model answers"),
        );
    }
    let region = Region::new(GLOBAL);
    for _ in 0..runs {
        black_box(run_once(&agent_loop).await.expect("the run completes"));
    }
    let looped = PerRun::from_stats(region.change(), runs);
    let region = Region::new(GLOBAL);
    for _ in 0..runs {
        black_box(
            direct_calls(&model, &requests)
                .await
                .expect("the model answers"),
        );
    }
    let direct = PerRun::from_stats(region.change(), runs);
    (looped, direct)
}

fn add_rows(report: &mut Report, shape: Shape, looped: PerRun, direct: PerRun) {
    const BASELINE: &str = "same model calls, no loop";
    let case = shape.label();
    report.push(
        report
            .row(&case, "bytes allocated per run", "B", looped.bytes)
            .baseline(direct.bytes, BASELINE),
    );
    report.push(
        report
            .row(&case, "allocations per run", "allocs", looped.allocations)
            .baseline(direct.allocations, BASELINE),
    );
}
