//! Agent-loop overhead: CPU time and throughput of `AgentLoop` runs over a zero-latency,
//! in-process model and instant tools, next to the same model calls made directly (no loop).
//!
//! Runs on criterion (custom timing: each sample returns the process's CPU time, so other
//! work on a shared machine does not inflate it) on a current-thread Tokio runtime, with no
//! `tracing` subscriber. Writes `loop_overhead.json` for `cargo xtask bench`.
//!
//! `cargo bench -p minimalagent-core --bench loop_overhead` (`MINIMALAGENT_BENCH_QUICK=1` for a short
//! run).

// A benchmark that cannot build its workload has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used)]

mod common;

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bench_support::{Report, micros, quick, run_by_cargo_bench};
use common::fixture::{SHAPES, Shape, agent_loop, direct_calls, run_once};
use cpu_time::ProcessTime;
use criterion::Criterion;

/// Per-step overhead the loop should stay under, in µs of CPU.
const TARGET_US_PER_STEP: f64 = 20.0;

/// The samples of one benchmark: (iterations, CPU time, wall time) per call of the routine.
type Samples = Rc<RefCell<Vec<(u64, Duration, Duration)>>>;

/// Per-iteration CPU and wall time over the measurement samples: the least-squares slope
/// through the origin, as criterion estimates it (warm-up calls come first and are skipped).
fn per_iteration(samples: &Samples, sample_size: usize) -> (Duration, Duration) {
    let samples = samples.borrow();
    let measured = &samples[samples.len().saturating_sub(sample_size)..];
    let (mut xx, mut xcpu, mut xwall) = (0.0, 0.0, 0.0);
    for &(iters, cpu, wall) in measured {
        let x = iters as f64;
        xx += x * x;
        xcpu += x * cpu.as_secs_f64();
        xwall += x * wall.as_secs_f64();
    }
    if xx == 0.0 {
        return (Duration::ZERO, Duration::ZERO);
    }
    (
        Duration::from_secs_f64(xcpu / xx),
        Duration::from_secs_f64(xwall / xx),
    )
}

fn main() {
    if !run_by_cargo_bench("loop_overhead") {
        return;
    }
    let quick = quick();
    let sample_size = if quick { 10 } else { 30 };
    let mut criterion = Criterion::default()
        .sample_size(sample_size)
        .warm_up_time(Duration::from_millis(if quick { 300 } else { 1000 }))
        .measurement_time(Duration::from_millis(if quick { 1000 } else { 3000 }))
        .without_plots()
        .configure_from_args();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a Tokio runtime");

    let mut report = Report::new(
        "loop_overhead",
        "1. Agent-loop overhead (zero-latency in-process model, instant tools; CPU time)",
    );
    let mut group = criterion.benchmark_group("agent_loop");
    for shape in SHAPES {
        let (agent_loop, model) = agent_loop(shape);
        let requests = model.direct_requests();

        let looped: Samples = Rc::default();
        let record = Rc::clone(&looped);
        group.bench_function(format!("loop/{}", shape.id()), |b| {
            b.iter_custom(|iters| {
                let cpu = ProcessTime::now();
                let wall = Instant::now();
                runtime.block_on(async {
                    for _ in 0..iters {
                        black_box(run_once(&agent_loop).await.expect("the run completes"));
                    }
                });
                let (cpu, wall) = (cpu.elapsed(), wall.elapsed());
                record.borrow_mut().push((iters, cpu, wall));
                cpu
            });
        });

        let direct: Samples = Rc::default();
        let record = Rc::clone(&direct);
        group.bench_function(format!("model_only/{}", shape.id()), |b| {
            b.iter_custom(|iters| {
                let cpu = ProcessTime::now();
                let wall = Instant::now();
                runtime.block_on(async {
                    for _ in 0..iters {
                        black_box(
                            direct_calls(&model, &requests)
                                .await
                                .expect("the model answers"),
                        );
                    }
                });
                let (cpu, wall) = (cpu.elapsed(), wall.elapsed());
                record.borrow_mut().push((iters, cpu, wall));
                cpu
            });
        });

        add_rows(
            &mut report,
            shape,
            per_iteration(&looped, sample_size),
            per_iteration(&direct, sample_size),
        );
    }
    group.finish();
    criterion.final_summary();
    report.finish().expect("the report is written");
}

fn add_rows(
    report: &mut Report,
    shape: Shape,
    (loop_cpu, loop_wall): (Duration, Duration),
    (direct_cpu, direct_wall): (Duration, Duration),
) {
    const BASELINE: &str = "same model calls, no loop";
    let case = shape.label();
    let rate = |per_run: Duration| {
        if per_run.is_zero() {
            0.0
        } else {
            1.0 / per_run.as_secs_f64()
        }
    };
    report.push(
        report
            .row(
                &case,
                "runs per second (1 thread)",
                "runs/s",
                rate(loop_wall),
            )
            .baseline(rate(direct_wall), BASELINE),
    );
    report.push(
        report
            .row(&case, "CPU per run", "µs", micros(loop_cpu))
            .baseline(micros(direct_cpu), BASELINE),
    );
    // A step is one turn of the loop: a model call and the tools it asked for. Every run has
    // one more turn than tool steps (the final answer).
    let turns = shape.model_calls() as f64;
    let overhead_per_step = (micros(loop_cpu) - micros(direct_cpu)) / turns;
    report.push(
        report
            .row(
                &case,
                "CPU per step beyond baseline",
                "µs",
                overhead_per_step,
            )
            .baseline(
                micros(direct_cpu) / turns,
                "same model calls, no loop (CPU per call)",
            )
            .target(
                format!("< {TARGET_US_PER_STEP} µs/step"),
                overhead_per_step < TARGET_US_PER_STEP,
            )
            .note("step = one loop turn: a model call plus the tools it asked for"),
    );
}
