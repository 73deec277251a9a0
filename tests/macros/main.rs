//! Run-time behaviour of `#[scoped]` and `scope!`: each form behaves as the
//! engine calls it expands to, written by hand (SPEC.md, "Macros").
//!
//! One module per topic: `scoped_attr` (`#[scoped]`), `scope_macro`
//! (`scope!`), `options` (`grace_ms`, `max_concurrency`, `retain_failures`),
//! `usage` (the documentation's examples, `Send`, other attributes),
//! `control_flow` (spawns in loops and branches) and `inline`
//! (`spawn inline`); `support` holds what they share.
//!
//! Timing uses `start_paused` and the engine's own signals, never racy sleeps.

// A renamed path to the crate, for `crate = "renamed"`.
extern crate async_scope as renamed;

mod control_flow;
mod inline;
mod options;
mod scope_macro;
mod scoped_attr;
mod support;
mod usage;
