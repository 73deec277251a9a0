//! Observability (scope-core's `observe` and `snapshot` modules): the tracing
//! spans and events of scopes and tasks, `Scope::snapshot()` and the text tree
//! it draws, and the `ASYNC_SCOPE_DEBUG` lines on stderr.
//!
//! One module per topic: `spans` and `events` (with the `tracing` feature,
//! through the recording subscriber of `recorder`), `snapshot` and `debug`;
//! `support` holds what they share.
//!
//! Tracing tests install a recording layer as the thread's default
//! subscriber and run on a `current_thread` runtime, so that every task is
//! polled on the thread where that default is set. Snapshot tests run on
//! paused time, so ages are exact. `ASYNC_SCOPE_DEBUG` is read once per
//! process: those tests run an `#[ignore]`d child test in a new process of
//! this binary.

#[path = "../common/mod.rs"]
mod common;

mod debug;
#[cfg(feature = "tracing")]
mod events;
#[cfg(feature = "tracing")]
mod recorder;
mod snapshot;
#[cfg(feature = "tracing")]
mod spans;
mod support;
