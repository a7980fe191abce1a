//! # bench-support
//!
//! What MinimalAgent's benchmarks share, so that each of them measures and reports the same
//! way (`cargo xtask bench`, `docs/performance.md`):
//!
//! - [`Report`] and [`Row`]: one figure next to the baseline measured in the same run, with the
//!   target it is held to and whether it is met, printed as a table and written as JSON
//!   ([`BenchFile`]) to `target/bench/<bench>.json`, which `cargo xtask bench` gathers into one
//!   table and `target/bench/summary.json`;
//! - [`settings`]: quick runs, where the JSON goes, loopback-only endpoints, and the guard that
//!   keeps `cargo test --benches` from measuring;
//! - [`stats`]: quantiles, means and the formatting of numbers;
//! - [`process`]: this process's (or another's) CPU time by thread, memory and I/O counters
//!   from `/proc`;
//! - [`child`]: spawning the benchmark's own executable in another role (several processes,
//!   fresh processes per configuration);
//! - `aws` (feature `aws`): SDK settings for loopback endpoints. A feature, so that `xtask`,
//!   which only reads the reports, does not build the AWS SDK.
//!
//! The benchmarks that span several crates (store cost, streaming, context growth, sustained
//! writers) live in this crate's `benches/`; the others in the crate they measure, with this
//! crate as a dev-dependency. Not published.

#[cfg(feature = "aws")]
pub mod aws;
pub mod child;
pub mod process;
mod report;
pub mod settings;
pub mod stats;

pub use report::{BenchFile, Report, Row, render_table};
pub use settings::{loopback_url, out_dir, quick, run_by_cargo_bench};
pub use stats::{mean, median, micros, millis, number, quantile};
