//! Long-lived scopes (servers) and blocking work (SPEC.md, "Long-lived scopes
//! (servers) and blocking work"): `Scope::shutdown`, `ScopeBuilder::shutdown_on`,
//! `Scope::cancelled`, `retain_failures` with `failure_count`,
//! `Scope::spawn_blocking`, and backpressure through `Scope::reserve`.
//!
//! One test per rule, named after it, and one module per row of that
//! section's table: `shutdown`, `shutdown_on`, `cancelled`,
//! `retain_failures`, `blocking` and `reserve`; `support` holds what they
//! share. Time is paused wherever an instant matters ("aborted exactly at
//! shutdown + grace"); tests whose closures run on Tokio's blocking pool run
//! in real time with explicit synchronisation (channels the test controls)
//! and [`common::guard_for`] only turning a hang into a failure.
//!
//! `shutdown::a_nested_scope_opened_after_its_parents_shutdown_is_shut_down_too_and_ends_ok`
//! found an engine bug (such a scope started cancelled, `Reason::Cancelled`,
//! instead of shut down); it is fixed and the test runs.

#[path = "../common/mod.rs"]
mod common;

mod blocking;
mod cancelled;
mod reserve;
mod retain_failures;
mod shutdown;
mod shutdown_on;
mod support;
