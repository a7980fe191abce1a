//! What the benchmarks of this crate share: the workload (a model that answers at once after a
//! given number of tool steps, an instant tool), the stores and a wrapper that counts what a
//! run asks of them, and SDK settings that never leave loopback.

#![allow(dead_code)] // Not every benchmark uses every helper.

pub(crate) mod aws;
pub(crate) mod stores;
pub(crate) mod workload;
