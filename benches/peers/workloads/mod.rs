//! The workloads, one module per workload or family of workloads. Each runs
//! one peer once, checks its result and returns the time measured.

pub(crate) mod cancel;
pub(crate) mod fan_out_tree;
pub(crate) mod inline_fan_out;
pub(crate) mod long_lived;
pub(crate) mod macros;
pub(crate) mod memory;
pub(crate) mod shared_spawn;
pub(crate) mod spawn_join;
pub(crate) mod supervise;
pub(crate) mod wide_nested;
