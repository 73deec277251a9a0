//! The runtime engine of [async-scope](https://docs.rs/async-scope): scopes
//! that own their tasks, cancel downwards and collect every failure.
//!
//! Users depend on `async-scope`, which re-exports this crate and adds the
//! `#[scoped]` and `scope!` macros; this crate is usable alone.
//!
//! # Vocabulary
//!
//! One word per meaning, in the code as in the docs:
//!
//! - **scope**: owns tasks; does not *end* before every task it spawned has ended.
//! - **end** (a scope): its `run` returns, or its future is dropped. (The
//!   tracing event for it says "scope closed".) A task *ends* when its future
//!   completes or is dropped.
//! - **signal**: a [`CancellationToken`]. A scope has one ([`Scope::signal`]);
//!   every task receives a token of its own, a child of its scope's signal.
//! - **cancel**: cancel a signal, the cooperative request to stop. Cancelling a
//!   scope cancels its signal (so every task's token), its nested scopes, and
//!   every later spawn; cancelling a task cancels its token alone.
//! - **shut down** (a scope): cancel it as a graceful end, which is not a
//!   failure ([`Scope::shutdown`]); its nested scopes are shut down too.
//! - **abort**: Tokio's hard stop; the task is dropped at its next `.await`.
//!   Cancelled tasks are aborted after the scope's grace period (default zero).
//!   **Abort the tree**: what dropping a scope's future does: every task of
//!   that scope and of every scope nested in it is aborted at once.
//! - **failure**: a task that returned `Err` or panicked. Cancellation is not a failure.
//! - **fail** (a scope): the scope ends with a [`ScopeError`] and its [`Reason`];
//!   failing a scope cancels it.
//! - **accept** (a spawn): a scope accepts spawns until it is cancelled, fails
//!   or ends; a refused spawn never calls its closure.
//! - **join**: wait for tasks to end.
//! - **nested scope**: a scope opened while another is [`Scope::current`];
//!   that one is its **parent**.
//!
//! # Design
//!
//! One file per rule, and no import circle between files: the files of
//! `scope/` each add the methods of their rule to the scope's state, which
//! `scope/inner.rs` holds.
//!
//! | file | the rule it owns |
//! |---|---|
//! | `ids.rs` | [`TaskId`], [`ScopeId`], [`TaskName`], a task's identity (`TaskMeta`) |
//! | `policy.rs` | [`Policy`], [`TaskKind`], and `decide`: policy × kind → what a failure does (a pure, table-tested function) |
//! | `error.rs` | [`TaskError`], [`TaskFailure`], [`ScopeError`], [`Reason`] |
//! | `handle.rs` | [`TaskHandle`], [`OptionalHandle`]: awaiting a task, and cancelling it through its own token |
//! | `limit.rs` | `max_concurrency` slots, in spawn order |
//! | `observe.rs` | every lifecycle event: tracing spans and events, `ASYNC_SCOPE_DEBUG` lines |
//! | `snapshot.rs` | [`ScopeSnapshot`] and its drawing |
//! | `scope.rs` | [`Scope`], [`with_scope`], [`Scope::current`]: the front door |
//! | `scope/inner.rs` | a scope's state, its lock, admitting a task and counting it out |
//! | `scope/records.rs` | what a scope keeps of each task (records, pruned), and the log through which tasks' ends reach it without its lock |
//! | `scope/spawn.rs` | spawning: a task's own token, its future (plain or guarded), the grace period of a cancelled task; onto the runtime, the blocking pool or a `LocalSet` (named for tokio-console with `--cfg tokio_unstable`) |
//! | `scope/local.rs` | the `spawn_local` forms, for `!Send` tasks on a `LocalSet` |
//! | `scope/inline.rs` | inline tasks: [`Inline`], tasks that borrow, polled by the run loop beside the body |
//! | `scope/reserve.rs` | backpressure: [`Scope::reserve`] a `max_concurrency` slot, then spawn into it ([`SpawnPermit`]) |
//! | `scope/task_future.rs` | the future every task and body runs in: scope entered, panics caught, end counted |
//! | `scope/failure.rs` | failure reporting: a task failed → `decide` → record and reason → the nearest error handler |
//! | `scope/handler.rs` | an error handler, removed when it panics |
//! | `scope/cancel.rs` | cancellation: fail, cancel or shut down a scope and its nested scopes, abort, abort the tree, grace on one clock |
//! | `scope/nest.rs` | nesting: adopt a nested scope, leave the parent, the parent lease |
//! | `scope/slab.rs` | the list a scope keeps of its open nested scopes, each removed by its slot in constant time |
//! | `scope/run.rs` | the run loop, and dropping it |
//! | `scope/builder.rs` | [`ScopeBuilder`] and opening a scope |
//! | `scope/snapshot.rs` | a scope's state → [`ScopeSnapshot`], bounded in depth |
//! | `scope/task_builder.rs` | [`TaskBuilder`] |
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use async_scope::with_scope;
//!
//! let (user, plan) = with_scope(|scope| async move {
//!     let user = scope.spawn(|_| async { Ok::<_, std::io::Error>("ada") });
//!     let plan = scope.spawn(|_| async { Ok::<_, std::io::Error>("pro") });
//!     Ok::<_, async_scope::TaskError>((user.await?, plan.await?))
//! })
//! .await
//! .unwrap();
//! assert_eq!((user, plan), ("ada", "pro"));
//! # }
//! ```
#![doc(test(attr(deny(warnings))))]

mod error;
mod handle;
mod ids;
mod limit;
mod observe;
mod policy;
mod scope;
mod snapshot;

pub use tokio_util::sync::CancellationToken;

pub use crate::error::{BoxError, Reason, ScopeError, TaskError, TaskFailure};
pub use crate::handle::{OptionalHandle, TaskHandle};
pub use crate::ids::{ScopeId, TaskId, TaskName};
pub use crate::policy::{ParsePolicyError, Policy, TaskKind};
pub use crate::scope::{
    with_scope, with_scope_inline, Inline, Scope, ScopeBuilder, SpawnPermit, TaskBuilder,
};
pub use crate::snapshot::{ScopeSnapshot, ScopeState, TaskSnapshot, TaskState};
