//! The runtime engine of [async-scope](https://docs.rs/async-scope): scopes
//! that own their tasks, cancel downwards and collect every failure.
//!
//! Users depend on `async-scope`, which re-exports this crate and adds the
//! `#[scoped]` and `scope!` macros; this crate is usable alone.
//!
//! # Vocabulary
//!
//! - **scope**: owns tasks; does not end before every task it spawned has ended.
//! - **cancel**: the cooperative signal, a [`CancellationToken`] every task receives.
//! - **abort**: Tokio's hard stop; the task is dropped at its next `.await`.
//!   Cancelled tasks are aborted after the scope's grace period (default zero).
//! - **failure**: a task that returned `Err` or panicked. Cancellation is not a failure.
//! - **fail** (a scope): the scope ends with a [`ScopeError`] and its [`Reason`].
//! - **join**: wait for tasks to end.
//!
//! # Design
//!
//! - `policy`: [`Policy`] and [`TaskKind`], the inputs of the decision.
//! - `engine`: the decision itself, a pure function from policy × kind × outcome to an action.
//! - `scope`: [`Scope`], [`ScopeBuilder`] and the private state that carries decisions out.
//! - `task`: [`TaskHandle`], [`OptionalHandle`], [`TaskId`] and the per-task wrapper future.
//! - `limit`: `max_concurrency` slots, in spawn order.
//! - `error`: [`TaskError`], [`TaskFailure`], [`ScopeError`], [`Reason`].
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
pub use crate::ids::{ScopeId, TaskId};
pub use crate::policy::{ParsePolicyError, Policy, TaskKind};
pub use crate::scope::{with_scope, Scope, ScopeBuilder, TaskBuilder};
pub use crate::snapshot::{ScopeSnapshot, ScopeState, TaskSnapshot, TaskState};
