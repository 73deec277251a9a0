//! A guide to async-scope: its concepts, its rules, and how it compares with
//! `JoinSet`, `TaskTracker` and moro.
//!
//! This module holds no items; it is documentation only. Every example in it
//! is compiled and run as a test.
//!
//! - [Concepts](#concepts)
//! - [Policies and task kinds](#policies-and-task-kinds)
//! - [Cancellation and grace](#cancellation-and-grace)
//! - [Nesting](#nesting)
//! - [Error handlers](#error-handlers)
//! - [Limiting concurrency](#limiting-concurrency)
//! - [Writing a server](#writing-a-server)
//! - [Borrowing: inline tasks](#borrowing-inline-tasks)
//! - [Macros](#macros)
//! - [Comparison with `JoinSet`, `TaskTracker` and moro](#comparison-with-joinset-tasktracker-and-moro)
//!
//! # Concepts
//!
//! **Scope.** A scope owns tasks. [`with_scope`] or [`ScopeBuilder::run`]
//! opens one and runs its *body*, a closure that receives a [`Scope`] handle
//! and returns a future. The scope ends when the body has returned *and* every
//! task spawned in it has ended, never before: no task outlives its scope.
//!
//! The body is polled inline by the caller, like any future, so it may borrow
//! from the caller's stack and need not be `Send`. Tasks are Tokio tasks: they
//! run in parallel on the runtime and must be `Send + 'static`
//! ([`Scope::spawn_local`] runs `!Send` tasks on a [`LocalSet`]). A
//! [`Scope`] handle is cheap to clone and `Send + Sync`; any task may spawn
//! into its scope through it.
//!
//! **Task.** [`Scope::spawn`] takes a closure that receives the task's
//! [`CancellationToken`] and returns the task's future, whose output is a
//! `Result<T, E>` for any `E: Into<BoxError>`. It returns a [`TaskHandle<T>`]
//! at once. Awaiting the handle yields `Ok(value)` or a [`TaskError`]:
//! `Failed` (the task returned `Err`), `Panicked`, or `Cancelled`. Dropping a
//! handle neither cancels nor detaches its task: the scope still waits for it,
//! and its failure still counts.
//!
//! **Token, cancel and abort.** To *cancel* is to signal: cancelling a scope
//! cancels the token of every task in it and of every nested scope. To *abort*
//! is to stop: Tokio drops the task's future at its next `.await`, and its
//! destructors run. A cancelled task is aborted once the scope's *grace
//! period* has passed, zero by default. Code that never reaches an `.await`
//! cannot be stopped by either.
//!
//! **Failure.** A task *fails* when it returns `Err` or panics; the panic is
//! caught and becomes [`TaskError::Panicked`] with its message. Cancellation
//! is never a failure. What a failure does depends on the scope's [`Policy`]
//! and the task's [`TaskKind`] ([below](#policies-and-task-kinds)). Every
//! failure is recorded in order, with the task's id, kind and spawn location:
//! [`Scope::errors`] while the scope runs, [`ScopeError::failures`] when it
//! has failed.
//!
//! A *scope fails* when it ends with a [`ScopeError`]. Its [`Reason`] is the
//! first event that failed it: a task (`TaskFailed`, `CriticalTaskFailed`),
//! the body's `Err` (`BodyFailed`), cancellation (`Cancelled`) or the timeout
//! (`TimedOut`). Only the scope decides success or failure: a failure never
//! escapes except through its scope's result.
//!
//! **Join.** To join is to wait for tasks to end. [`with_scope`] and
//! [`ScopeBuilder::run`] join every task before they return;
//! [`Scope::wait_for_completion`] joins the tasks spawned so far, from inside
//! the scope; awaiting a handle joins one task.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use async_scope::{with_scope, Reason, TaskError};
//!
//! let err = with_scope(|scope| async move {
//!     let user = scope.spawn(|_signal| async { Ok::<_, std::io::Error>("ada") });
//!     let plan = scope.spawn(|_signal| async { Err::<&str, _>("billing is down") });
//!     Ok::<_, TaskError>((user.await?, plan.await?))
//! })
//! .await
//! .unwrap_err();
//!
//! // The task's failure came first, so it is the reason, not the body's `Err`.
//! assert!(matches!(err.reason(), Reason::TaskFailed(_)));
//! assert_eq!(err.failures()[0].error().to_string(), "billing is down");
//! # }
//! ```
//!
//! # Policies and task kinds
//!
//! A scope's [`Policy`] says what the failure of a normal task means; a task's
//! kind can override it. Set the policy with [`ScopeBuilder::policy`]; pick
//! the kind with the spawn method.
//!
//! | a task that fails (returns `Err` or panics) | [`Policy::Cancel`] (default) | [`Policy::Supervise`] |
//! |---|---|---|
//! | [`spawn`](crate::Scope::spawn) ([`Normal`](crate::TaskKind::Normal)) | the scope is cancelled (every sibling and nested scope) and fails with [`Reason::TaskFailed`] | siblings go on; the failure goes to the nearest error handler; the scope does not fail |
//! | [`spawn_critical`](crate::Scope::spawn_critical) ([`Critical`](crate::TaskKind::Critical)) | the scope is cancelled at once and fails with [`Reason::CriticalTaskFailed`] | the same: a critical task overrides the policy |
//! | [`spawn_optional`](crate::Scope::spawn_optional) ([`Optional`](crate::TaskKind::Optional)) | its [`OptionalHandle`] yields `None`; the failure goes to the nearest error handler; the scope is neither cancelled nor failed | the same |
//!
//! Under either policy, every failure is recorded in [`Scope::errors`]. An
//! optional task is still cancelled with its scope. Once a `Cancel` scope has
//! failed, later failures of its normal tasks are only recorded; they go to
//! no handler.
//!
//! The body's own outcome:
//!
//! | the body | the scope |
//! |---|---|
//! | returns `Ok(v)` | waits for every task; then `Ok(v)`, or `Err` if it failed meanwhile |
//! | returns `Err(e)` | is cancelled and fails with [`Reason::BodyFailed`] (unless it had already failed) |
//! | panics | is cancelled and joins its tasks; then the panic continues: it is not turned into an error |
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use async_scope::{Policy, Reason, Scope, TaskKind};
//!
//! let err = Scope::builder()
//!     .policy(Policy::Supervise)
//!     .run(|scope| async move {
//!         let flaky = scope.spawn(|_| async { Err::<u8, _>("flaky") });
//!         assert!(flaky.await.is_err()); // supervised: the scope goes on
//!         let metrics = scope.spawn_optional(|_| async { Err::<u8, _>("statsd down") });
//!         assert_eq!(metrics.await, None); // optional: only `None`
//!         scope.spawn_critical(|_| async { Err::<u8, _>("commit failed") });
//!         Ok::<_, std::io::Error>(())
//!     })
//!     .await
//!     .unwrap_err(); // critical: the scope fails
//!
//! assert!(matches!(err.reason(), Reason::CriticalTaskFailed(_)));
//! let kinds: Vec<_> = err.failures().iter().map(|f| f.kind()).collect();
//! assert_eq!(kinds, [TaskKind::Normal, TaskKind::Optional, TaskKind::Critical]);
//! # }
//! ```
//!
//! # Cancellation and grace
//!
//! A scope is cancelled by [`Scope::cancel`] ([`Reason::Cancelled`]), by an
//! ancestor's cancellation or failure (`Cancelled`), by a failure as above
//! (`TaskFailed`, `CriticalTaskFailed`, `BodyFailed`), or by its
//! [`timeout`](crate::ScopeBuilder::timeout) (`TimedOut`). Whatever the cause:
//!
//! 1. the scope's token, every task's token and every nested scope are
//!    cancelled at once;
//! 2. later spawns are refused: their closure is never called, and their
//!    handle yields `Err(TaskError::Cancelled)` (`None` for an optional task).
//!    Tasks still waiting for a [`max_concurrency`](#limiting-concurrency)
//!    slot never start;
//! 3. once the [grace period](crate::ScopeBuilder::grace) has passed, every
//!    task still running is aborted at its next `.await`. A task that ends by
//!    itself during the grace period keeps its result, `Ok(v)` included;
//! 4. the body is not interrupted: it runs to its end and sees the
//!    cancellation through its handles (they resolve with `Cancelled`),
//!    [`Scope::is_cancelled`] and [`Scope::signal`];
//! 5. the scope still ends only after its last task has ended.
//!
//! With the default grace period of zero, the token fires and the abort
//! follows at once: a task cannot count on running any code after its token
//! fires. The token still reaches work the task handed it to (a
//! `spawn_blocking` closure, a thread). Give the scope a grace period when
//! tasks must clean up asynchronously:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use async_scope::{Reason, Scope};
//! use tokio::time::{sleep, Instant};
//!
//! let start = Instant::now();
//! let err = Scope::builder()
//!     .timeout(Duration::from_secs(5))
//!     .grace(Duration::from_millis(500))
//!     .run(|scope| async move {
//!         let writer = scope.spawn(|signal| async move {
//!             signal.cancelled().await; // the timeout fired
//!             sleep(Duration::from_millis(100)).await; // flush, close, say goodbye
//!             Ok::<_, std::io::Error>("flushed")
//!         });
//!         let stubborn = scope.spawn(|_signal| async {
//!             sleep(Duration::from_secs(3600)).await; // never looks at its token
//!             Ok::<_, std::io::Error>("done")
//!         });
//!         assert_eq!(writer.await.unwrap(), "flushed");
//!         assert!(stubborn.await.unwrap_err().is_cancelled()); // aborted
//!         Ok::<_, std::io::Error>(())
//!     })
//!     .await
//!     .unwrap_err();
//! assert!(matches!(err.reason(), Reason::TimedOut));
//! assert_eq!(start.elapsed(), Duration::from_millis(5500)); // timeout + grace
//! # }
//! ```
//!
//! **One task.** [`TaskHandle::cancel`] (and [`OptionalHandle::cancel`])
//! cancels a single task. It ends with [`TaskError::Cancelled`] (`None` from
//! an `OptionalHandle`) unless it finished first; that is not a failure, and
//! the scope goes on. How the task is stopped depends on the grace period:
//!
//! Each task has a token of its own, a child of its scope's
//! [signal](crate::Scope::signal): `cancel` cancels that token at once (work
//! the task handed it to, a blocking thread say, learns of it), then the task
//! is aborted at its next `.await`, at once or when the grace period ends.
//!
//! **A task's token is its own.** Cancelling it, through the handle, from
//! inside the task, or from any component the task handed it to (a
//! `drop_guard`, a helper that cancels when done), reaches that task alone:
//! never a sibling, a sibling's nested scope, or the scope, whatever the grace
//! period. A task that cancels its own token is not aborted for it: that is
//! its own business. To stop the whole scope, call [`Scope::cancel`];
//! cancelling [`Scope::signal`] by hand is the same thing, noticed at once
//! (later spawns are refused and the scope fails with `Cancelled`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use async_scope::{with_scope, Scope, TaskError};
//!
//! // No grace period: the task is aborted.
//! with_scope(|scope| async move {
//!     let forever = scope.spawn(|_| std::future::pending::<Result<(), std::io::Error>>());
//!     forever.cancel();
//!     assert!(matches!(forever.await, Err(TaskError::Cancelled)));
//!     assert!(!scope.is_cancelled()); // only that task
//!     Ok::<_, std::io::Error>(())
//! })
//! .await
//! .unwrap(); // a cancelled task does not fail its scope
//!
//! // A grace period: the task sees its own token and may finish.
//! Scope::builder()
//!     .grace(Duration::from_secs(1))
//!     .run(|scope| async move {
//!         let task = scope.spawn(|signal| async move {
//!             signal.cancelled().await;
//!             Ok::<_, std::io::Error>("stopped cleanly")
//!         });
//!         task.cancel();
//!         assert_eq!(task.await.unwrap(), "stopped cleanly");
//!         Ok::<_, std::io::Error>(())
//!     })
//!     .await
//!     .unwrap();
//! # }
//! ```
//!
//! **Dropping the scope's future.** When the future of [`with_scope`] or
//! [`ScopeBuilder::run`] is dropped before it ends (a `select!` took another
//! branch, `tokio::time::timeout` elapsed, the enclosing task was aborted),
//! every task of the scope and of its nested scopes is aborted at once, with
//! no grace period, and none is polled again (on a multi-thread runtime, a
//! poll already under way on another worker runs to its next `.await`):
//! nothing keeps running in the background. There is no result and no
//! [`ScopeError`]. Tokio drops the aborted tasks, running their destructors,
//! when it next gets to them, which can be just after the scope's future is
//! gone. Prefer [`ScopeBuilder::timeout`] to `tokio::time::timeout` around a
//! scope: it honours the grace period and reports [`Reason::TimedOut`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use async_scope::with_scope;
//! use tokio::time::{sleep, timeout, Instant};
//!
//! let start = Instant::now();
//! let (tx, rx) = tokio::sync::oneshot::channel::<()>();
//! let scope = with_scope(|scope| async move {
//!     scope.spawn(move |_| async move {
//!         let _tx = tx; // dropped with the task's future
//!         sleep(Duration::from_secs(3600)).await;
//!         Ok::<_, std::io::Error>(())
//!     });
//!     Ok::<_, std::io::Error>(())
//! });
//! assert!(timeout(Duration::from_secs(1), scope).await.is_err());
//! assert!(rx.await.is_err()); // the task was dropped...
//! assert_eq!(start.elapsed(), Duration::from_secs(1)); // ...without running on
//! # }
//! ```
//!
//! # Nesting
//!
//! A scope opened while another scope's body or task is running is that
//! scope's child; the engine finds the parent through [`Scope::current`] when
//! the child's future is first polled.
//!
//! - **Cancellation flows down.** Cancelling the parent, or its failure,
//!   cancels the child at once, with [`Reason::Cancelled`]; a child opened
//!   under a parent already cancelled starts cancelled.
//! - **Failures do not flow up.** A child that fails affects its parent only
//!   where it is awaited: its [`ScopeError`] is a value like any other. A task
//!   of the parent that returns it is an ordinary failing task of the parent,
//!   handled by the parent's policy.
//! - **Failures belong to their scope.** A child's failures are in the
//!   child's [`errors`](crate::Scope::errors), not the parent's. Those that
//!   do not fail the child go to the nearest [error handler](#error-handlers),
//!   which may be an ancestor's.
//!
//! [`Scope::current`] is set only while a scope's body or one of its tasks is
//! being polled. A scope opened in a task started with `tokio::spawn` is a
//! root, even when that `tokio::spawn` was called from inside a scope:
//! `tokio::spawn` leaves the structure. Spawn through the scope instead.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use async_scope::{with_scope, Reason};
//!
//! let outer = with_scope(|outer| async move {
//!     // A child that fails: the parent goes on.
//!     let child = with_scope(|inner| async move {
//!         inner.spawn(|_| async { Err::<(), _>("cache down") });
//!         Ok::<_, std::io::Error>(())
//!     })
//!     .await;
//!     assert!(matches!(child.unwrap_err().reason(), Reason::TaskFailed(_)));
//!     assert!(!outer.is_cancelled());
//!     assert!(outer.errors().is_empty()); // the failure is the child's
//!
//!     // A parent that is cancelled: the child is cancelled at once.
//!     let parent = outer.clone();
//!     let child = with_scope(|inner| async move {
//!         let waiting = inner.spawn(|signal| async move {
//!             signal.cancelled().await;
//!             Ok::<_, std::io::Error>(())
//!         });
//!         parent.cancel();
//!         assert!(inner.is_cancelled());
//!         assert!(waiting.await.unwrap_err().is_cancelled());
//!         Ok::<_, std::io::Error>(())
//!     })
//!     .await;
//!     assert!(child.unwrap_err().is_cancelled());
//!     Ok::<_, std::io::Error>(())
//! })
//! .await;
//! assert!(outer.unwrap_err().is_cancelled());
//! # }
//! ```
//!
//! # Error handlers
//!
//! [`ScopeBuilder::on_error`] installs a handler, an
//! `Fn(&TaskFailure) + Send + Sync + 'static`:
//!
//! - it is called once for each failure that does not fail its scope:
//!   supervised failures of normal tasks, and failures of optional tasks
//!   under either policy. Failures that fail a scope reach the caller through
//!   [`ScopeError`], not a handler; cancellation reaches neither;
//! - the nearest handler gets the failure: that of the failing task's scope,
//!   else that of the nearest ancestor that has one. A nested scope's handler
//!   takes over from its parent's;
//! - a handler that panics is removed: the panic is caught, the scope does
//!   not fail, and that failure and later ones go to the next handler up;
//! - the handler runs on the failing task's thread as the task ends, with no
//!   lock held. Keep it short and non-blocking; send slow work to a channel.
//!
//! Handlers are for reporting. Every failure stays in [`Scope::errors`]
//! whoever handled it, and no failure reaches two handlers.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::{Arc, Mutex};
//! use async_scope::{Policy, Scope, ScopeError};
//!
//! let outer_log = Arc::new(Mutex::new(Vec::new()));
//! let inner_log = Arc::new(Mutex::new(Vec::new()));
//! let (outer_seen, inner_seen) = (outer_log.clone(), inner_log.clone());
//!
//! Scope::builder()
//!     .on_error(move |failure| outer_seen.lock().unwrap().push(failure.error().to_string()))
//!     .run(|_| async move {
//!         Scope::builder()
//!             .policy(Policy::Supervise)
//!             .on_error(move |failure| {
//!                 let message = failure.error().to_string();
//!                 inner_seen.lock().unwrap().push(message.clone());
//!                 if message == "bad input" {
//!                     panic!("a bug in the handler");
//!                 }
//!             })
//!             .run(|scope| async move {
//!                 for message in ["timeout", "bad input", "disk full"] {
//!                     scope.spawn(move |_| async move { Err::<(), _>(message) });
//!                     scope.wait_for_completion().await?;
//!                 }
//!                 assert_eq!(scope.errors().len(), 3); // all of them, whoever saw them
//!                 Ok::<_, ScopeError>(())
//!             })
//!             .await
//!     })
//!     .await
//!     .unwrap();
//!
//! // The nested handler took over until it panicked; the outer one then took over.
//! assert_eq!(*inner_log.lock().unwrap(), ["timeout", "bad input"]);
//! assert_eq!(*outer_log.lock().unwrap(), ["bad input", "disk full"]);
//! # }
//! ```
//!
//! # Limiting concurrency
//!
//! [`ScopeBuilder::max_concurrency`] lets at most `n` tasks of the scope run
//! at once. Further tasks wait their turn in spawn order; `spawn` itself
//! never blocks and returns the handle at once. A waiting task's closure is
//! called only when its turn comes, and never if the scope is cancelled
//! first (its handle then yields `Cancelled`). The limit counts the scope's
//! own tasks; a nested scope has its own limit, if any. `max_concurrency(0)`
//! panics.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use async_scope::Scope;
//! use tokio::time::{sleep, Instant};
//!
//! let start = Instant::now();
//! let started = Arc::new(Mutex::new(Vec::new()));
//! let log = started.clone();
//! Scope::builder()
//!     .max_concurrency(2)
//!     .run(|scope| async move {
//!         for i in 0..5 {
//!             let log = log.clone();
//!             scope.spawn(move |_| async move {
//!                 log.lock().unwrap().push(i);
//!                 sleep(Duration::from_millis(10)).await;
//!                 Ok::<_, std::io::Error>(())
//!             });
//!         }
//!         Ok::<_, std::io::Error>(())
//!     })
//!     .await
//!     .unwrap();
//! assert_eq!(*started.lock().unwrap(), [0, 1, 2, 3, 4]); // in spawn order
//! assert_eq!(start.elapsed(), Duration::from_millis(30)); // two at a time
//! # }
//! ```
//!
//! # Writing a server
//!
//! A server is one long-lived scope: an accept loop in the body spawns a task
//! per connection, under [`Policy::Supervise`] so that one connection's
//! failure is its own. The scope lives for hours; four things keep it sound.
//! `examples/server.rs` is a complete one (`cargo run --example server`).
//!
//! **Backpressure: reserve, then accept.** With
//! [`max_concurrency`](crate::ScopeBuilder::max_concurrency), [`Scope::reserve`]
//! waits for a free slot and hands it over in a [`SpawnPermit`]; only then
//! does the loop accept, and `permit.spawn` starts the connection in that
//! slot. A client beyond the limit waits in the listener's backlog, not in
//! the server's memory. `reserve` returns `None` once the scope stops
//! accepting spawns, and `select!` on [`Scope::cancelled`] ends a pending
//! `accept` at a shutdown:
//!
//! ```text
//! while let Some(permit) = scope.reserve().await {
//!     let (stream, _) = tokio::select! {
//!         accepted = listener.accept() => accepted?,
//!         () = scope.cancelled() => break,
//!     };
//!     permit.spawn(move |token| handle(stream, token));
//! }
//! ```
//!
//! **Graceful shutdown.** [`ScopeBuilder::shutdown_on`]`(tokio::signal::ctrl_c())`
//! (or [`Scope::shutdown`], from anywhere) shuts the scope down: every
//! connection's token is cancelled at once and the accept loop ends, but it
//! is not a failure, and the scope ends `Ok` with the body's value. A
//! handler watches its token *between* requests, lets the request in flight
//! run to its end, says goodbye and returns; a handler still busy when the
//! [grace period](crate::ScopeBuilder::grace) ends (a client that never reads
//! its replies, so that a write never completes) is aborted.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use async_scope::{CancellationToken, Policy, Scope};
//! use tokio::io::{duplex, AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};
//! use tokio::sync::{mpsc, oneshot};
//! use tokio::time::timeout;
//!
//! /// One connection: a line in, the line in capitals out, until EOF or shutdown.
//! async fn handle(stream: DuplexStream, token: CancellationToken) -> std::io::Result<()> {
//!     let (reader, mut writer) = tokio::io::split(stream);
//!     let mut lines = BufReader::new(reader).lines();
//!     loop {
//!         let line = tokio::select! {
//!             biased;
//!             () = token.cancelled() => break, // between requests: stop here
//!             line = lines.next_line() => line?, // cancel safe
//!         };
//!         let Some(line) = line else { return Ok(()) }; // the client left
//!         // The request in flight runs to its end, shutdown or not.
//!         writer.write_all(format!("{}\n", line.to_uppercase()).as_bytes()).await?;
//!     }
//!     writer.write_all(b"bye\n").await
//! }
//!
//! /// A client: a connection handed to the server, and its lines.
//! async fn connect(listener: &mpsc::Sender<DuplexStream>) -> (BufReader<DuplexStream>, Vec<u8>) {
//!     let (client, server) = duplex(1024);
//!     listener.send(server).await.unwrap();
//!     (BufReader::new(client), Vec::new())
//! }
//!
//! // In memory, for the example: connections arrive on a channel instead of
//! // a `TcpListener`, and a oneshot stands in for `tokio::signal::ctrl_c()`.
//! let (listener, mut incoming) = mpsc::channel::<DuplexStream>(8);
//! let (ctrl_c, signalled) = oneshot::channel::<()>();
//!
//! let server = Scope::builder()
//!     .name("server")
//!     .policy(Policy::Supervise)
//!     .max_concurrency(2)
//!     .grace(Duration::from_secs(2))
//!     .shutdown_on(signalled)
//!     .run(|scope| async move {
//!         let mut accepted = 0;
//!         while let Some(permit) = scope.reserve().await {
//!             let stream = tokio::select! {
//!                 Some(stream) = incoming.recv() => stream,
//!                 () = scope.cancelled() => break,
//!             };
//!             accepted += 1;
//!             permit.spawn(move |token| handle(stream, token));
//!         }
//!         Ok::<_, std::io::Error>(accepted)
//!     });
//!
//! let clients = async move {
//!     let (mut first, mut line) = connect(&listener).await;
//!     first.get_mut().write_all(b"hello\n").await?;
//!     first.read_until(b'\n', &mut line).await?;
//!     assert_eq!(line, b"HELLO\n");
//!
//!     // Two connections fill the two slots: the third is not accepted...
//!     let (second, _) = connect(&listener).await;
//!     let (mut third, mut line) = connect(&listener).await;
//!     third.get_mut().write_all(b"are you there?\n").await?;
//!     let waiting = timeout(Duration::from_secs(60), third.read_until(b'\n', &mut line)).await;
//!     assert!(waiting.is_err());
//!     // ...until one of them closes.
//!     drop(second);
//!     third.read_until(b'\n', &mut line).await?;
//!     assert_eq!(line, b"ARE YOU THERE?\n");
//!
//!     // Ctrl-C: every connection says goodbye, and the server ends Ok.
//!     ctrl_c.send(()).unwrap();
//!     for client in [&mut first, &mut third] {
//!         let mut bye = String::new();
//!         client.read_line(&mut bye).await?;
//!         assert_eq!(bye, "bye\n");
//!     }
//!     Ok::<_, std::io::Error>(())
//! };
//!
//! let (accepted, clients) = tokio::join!(server, clients);
//! clients.unwrap();
//! assert_eq!(accepted.unwrap(), 3); // a shutdown is not a failure
//! # }
//! ```
//!
//! **Bounded failures.** A connection that fails (a malformed request, a
//! reset) is a supervised failure: the other connections go on, it is
//! counted, and it goes to the [error handler](#error-handlers), the place to
//! log it or count it in metrics (with the default `tracing` feature the
//! engine also emits a `task failed` warning event of its own). A scope
//! keeps every failure by default, which a server cannot afford:
//! [`ScopeBuilder::retain_failures`]`(n)` keeps the `n` most recent in
//! [`Scope::errors`] and snapshots, while [`Scope::failure_count`] counts all
//! of them and the handler still sees each once. Memory then stays flat
//! however many connections fail (`tests/server_soak.rs` runs a million
//! tasks, one in six failing, through such a scope).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use async_scope::{Policy, Scope, ScopeError};
//!
//! let logged = Arc::new(AtomicUsize::new(0));
//! let log = logged.clone();
//! Scope::builder()
//!     .name("server")
//!     .policy(Policy::Supervise)
//!     .retain_failures(2)
//!     .on_error(move |failure| {
//!         eprintln!("connection {failure}"); // tracing::warn! in a server
//!         log.fetch_add(1, Ordering::Relaxed);
//!     })
//!     .run(|scope| async move {
//!         for connection in 0..10 {
//!             scope.spawn(move |_| async move {
//!                 if connection % 2 == 0 {
//!                     return Err(format!("connection {connection}: malformed request"));
//!                 }
//!                 Ok(())
//!             });
//!         }
//!         scope.wait_for_completion().await?;
//!         assert_eq!(scope.failure_count(), 5); // every failure
//!         assert_eq!(scope.errors().len(), 2); // the most recent ones
//!         let tree = scope.snapshot().to_string();
//!         assert!(tree.contains("2 failed"), "{tree}");
//!         Ok::<_, ScopeError>(())
//!     })
//!     .await
//!     .unwrap();
//! assert_eq!(logged.load(Ordering::Relaxed), 5); // the handler saw each once
//! # }
//! ```
//!
//! **Looking at a live server.** [`Scope::snapshot`] is cheap enough to
//! serve on demand: the example answers a `SNAPSHOT` command with its tree
//! (the live connections with their age and spawn location, and the failures
//! kept), and `STATS` with [`Scope::failure_count`] and the number of
//! running tasks. With the `tracing` feature every scope and every task is a
//! span, so a connection's log lines carry its scope and task. For
//! tokio-console, build with `RUSTFLAGS="--cfg tokio_unstable"` and install
//! `console-subscriber` in your program (`console_subscriber::init()`):
//! the scope's tasks then appear named `scope/task`, with their spawn
//! location.
//!
//! # Borrowing: inline tasks
//!
//! A task spawned with [`Scope::spawn`] is a Tokio task: it may run on any
//! worker thread, in parallel with the others, and must therefore be
//! `'static`: it cannot borrow from the function that opened the scope. For
//! CPU-bound work that is the right price; for most async fan-out (I/O:
//! requests, queries, reads) parallelism buys little, and borrowing is what
//! you want, as `std::thread::scope` lets threads borrow.
//!
//! An *inline* task runs on the task that awaits its scope, polled by the
//! scope's run loop beside the body (as a `FuturesUnordered` would poll it),
//! so it may borrow anything that outlives the call that opened the scope.
//! [`with_scope_inline`] and [`ScopeBuilder::run_inline`] hand the body an
//! [`Inline`] handle beside the [`Scope`]; [`Inline::spawn`],
//! `spawn_critical` and `spawn_optional` start inline tasks. In every other
//! respect an inline task is a task of its scope: policies and kinds, error
//! handlers, [`Scope::errors`], [`Scope::wait_for_completion`], its own token,
//! the grace period and then the abort (its future is dropped),
//! `max_concurrency`, the timeout, shutdown, snapshots (where it is marked
//! `inline`) and [`Scope::current`] inside it. The scope's future stays
//! `Send`, and inline and ordinary tasks mix freely in one scope: fan out
//! the I/O inline, and hand the CPU-bound part to a parallel task.
//!
//! The body is an `async move` block (it owns the `Inline` handle), so what
//! the tasks borrow is borrowed outside it: a reference parameter, as below,
//! or `let urls = &urls;` before the call.
//!
//! ```
//! # use std::time::Duration;
//! # async fn fetch(url: &str) -> Result<usize, std::io::Error> {
//! #     tokio::time::sleep(Duration::from_millis(10 * url.len() as u64)).await;
//! #     Ok(url.len() * 100)
//! # }
//! use async_scope::{with_scope_inline, ScopeError, TaskError};
//!
//! /// The total size of every page, fetched concurrently: no clone of
//! /// `urls`, no `Arc`.
//! async fn total_size(urls: &[String]) -> Result<usize, ScopeError> {
//!     with_scope_inline(|_scope, inline| async move {
//!         let sizes: Vec<_> = urls
//!             .iter()
//!             .map(|url| inline.spawn(move |_| fetch(url)))
//!             .collect();
//!         let mut total = 0;
//!         for size in sizes {
//!             total += size.await?;
//!         }
//!         Ok::<_, TaskError>(total)
//!     })
//!     .await
//! }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let urls = vec!["a.example".to_string(), "bb.example".to_string()];
//! assert_eq!(total_size(&urls).await.unwrap(), 1900);
//! # }
//! ```
//!
//! A failing inline task fails the scope as any task does (the first
//! failure cancels the others under [`Policy::Cancel`]):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use async_scope::{with_scope_inline, Reason, TaskError};
//!
//! let replicas = &["eu", "us", "ap"];
//! let err = with_scope_inline(|_scope, inline| async move {
//!     let checks: Vec<_> = replicas
//!         .iter()
//!         .map(|replica| {
//!             inline.spawn(move |signal| async move {
//!                 if *replica == "us" {
//!                     return Err(format!("{replica} is unreachable"));
//!                 }
//!                 signal.cancelled().await; // the others wait: the failure stops them
//!                 Ok(())
//!             })
//!         })
//!         .collect();
//!     for check in checks {
//!         let _ = check.await;
//!     }
//!     Ok::<_, TaskError>(())
//! })
//! .await
//! .unwrap_err();
//! assert!(matches!(err.reason(), Reason::TaskFailed(f) if f.is_inline()));
//! # }
//! ```
//!
//! What inline tasks do not give: parallelism (they share the thread of the
//! task awaiting the scope, so a task that blocks blocks them all, and the
//! body too), and `'static` handles (a handle whose value borrows cannot
//! leave the borrow's lifetime). An [`Inline`] kept after its scope ended
//! refuses spawns, as a [`Scope`] does.
//!
//! # Macros
//!
//! Two macros write the calls above for you; each expands to the engine calls
//! a person would write, shown under "Equivalent code without the macro" on
//! [`#[scoped]`](crate::scoped) and [`scope!`](crate::scope).
//!
//! **`#[scoped]`** runs the body of an `async fn` in a scope bound to `scope`.
//! The function returns `Result<T, E>`, where `E: From<ScopeError> +
//! std::error::Error + Send + Sync + 'static`, and usually
//! `From<TaskError>` so that `?` works on handles. The body's own `Err` comes
//! back to the caller unchanged; a failure of the scope converts through
//! `From<ScopeError>`; when the scope failed before the body returned, the
//! scope's error wins. Arguments: `policy = "cancel"` or `"supervise"`,
//! `name = "..."`, `timeout_ms = N`, `crate = "path"`. Put `#[scoped]` above
//! `#[tokio::main]` or `#[tokio::test]`.
//!
//! **`scope!`** runs a block of statements in a scope and evaluates to
//! `Result<T, ScopeError>`; use it in async code.
//!
//! - An optional first statement sets options, with the same keys:
//!   `policy = "supervise", timeout_ms = 500;`.
//! - A statement `spawn {..}`, `spawn critical {..}` or
//!   `spawn optional {..}` starts a task running the block as an
//!   `async move` block; `let h = spawn ..;` binds its handle. A task names
//!   its token after its kind: `spawn |signal| {..}`,
//!   `spawn critical |signal| {..}`.
//! - `spawn inline {..}` (and `spawn inline critical`, `spawn inline
//!   optional`, with a signal as above) starts an [inline
//!   task](#borrowing-inline-tasks). A `scope!` with one runs as
//!   [`ScopeBuilder::run_inline`], its body borrows instead of moving, and
//!   `inline` names the [`Inline`] handle: tasks may borrow anything the code
//!   around the `scope!` can, as in `for url in &urls { spawn inline { .. } }`.
//!   (The whole body then borrows what it uses from around the `scope!`
//!   rather than moving it: for the scope's future to be `Send`, what it
//!   borrows must be `Sync`. Write `let x = x;` in the body to move a value.)
//! - Spawn statements may stand anywhere in the body's own control flow
//!   (`for`, `while`, `loop`, `if`/`else`, `match` arms, blocks); inside a
//!   closure, an `async` block, an item or a task's block they are an error
//!   that says what to write instead (`scope.spawn(..)`). Elsewhere `spawn`
//!   and `inline` are ordinary names. `scope` names the scope in the body and
//!   in tasks.
//! - The body's error type is [`BoxError`], so `?` works on any error. Its
//!   value is the tail expression, or `Ok(())` when it ends with a statement.
//!   A task's error type is its own, inferred from its block.
//!
//! ```
//! use async_scope::{scope, scoped, ScopeError, TaskError};
//!
//! #[derive(Debug)]
//! enum AppError {
//!     Scope(ScopeError),
//!     Task(TaskError),
//! }
//! // `From<ScopeError>`, `From<TaskError>`, `Display` and `Error`, as usual.
//! # impl From<ScopeError> for AppError {
//! #     fn from(e: ScopeError) -> Self { AppError::Scope(e) }
//! # }
//! # impl From<TaskError> for AppError {
//! #     fn from(e: TaskError) -> Self { AppError::Task(e) }
//! # }
//! # impl std::fmt::Display for AppError {
//! #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//! #         match self {
//! #             AppError::Scope(e) => write!(f, "{e}"),
//! #             AppError::Task(e) => write!(f, "{e}"),
//! #         }
//! #     }
//! # }
//! # impl std::error::Error for AppError {}
//!
//! #[scoped(policy = "supervise", name = "profile")]
//! async fn profile(id: u64) -> Result<(String, Option<u32>), AppError> {
//!     let name = scope.spawn(move |_| async move { Ok::<_, std::io::Error>(format!("user-{id}")) });
//!     let visits = scope.spawn_optional(|_| async { Err::<u32, _>("analytics down") });
//!     Ok((name.await?, visits.await))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! assert_eq!(profile(7).await?, ("user-7".to_owned(), None));
//!
//! let (user, total) = scope! {
//!     policy = "supervise", timeout_ms = 2000;
//!     let user = spawn { Ok::<_, std::io::Error>("ada") };
//!     let total = spawn critical |signal| {
//!         assert!(!signal.is_cancelled());
//!         Ok::<_, std::io::Error>(42)
//!     };
//!     spawn optional { Err::<(), _>("metrics are down") }; // never fails the scope
//!     Ok((user.await?, total.await?))
//! }?;
//! assert_eq!((user, total), ("ada", 42));
//!
//! // Inline tasks borrow `urls` from here, spawned in a loop: no clone.
//! let urls = vec!["a.example".to_string(), "bb.example".to_string()];
//! let total = scope! {
//!     let mut sizes = Vec::new();
//!     for url in &urls {
//!         let size = spawn inline { Ok::<_, std::io::Error>(url.len()) };
//!         sizes.push(size);
//!     }
//!     let mut total = 0;
//!     for size in sizes {
//!         total += size.await?;
//!     }
//!     Ok(total)
//! }?;
//! assert_eq!(total, 19);
//! # Ok(())
//! # }
//! ```
//!
//! # Comparison with `JoinSet`, `TaskTracker` and moro
//!
//! The same small program, four ways: fetch a user, their billing and their
//! permissions concurrently; the first failure cancels the other fetches;
//! report the errors. In each example, `fetch` (hidden) takes 30, 10 and
//! 20 ms, and the billing fetch fails.
//!
//! With Tokio's [`JoinSet`] and a [`CancellationToken`]: each task watches
//! the token; the owner drains the set, cancels on the first error and puts
//! the results back in order.
//!
//! ```
//! # use std::time::Duration;
//! # async fn fetch(what: &'static str) -> Result<String, std::io::Error> {
//! #     let ms = match what { "user" => 30, "billing" => 10, _ => 20 };
//! #     tokio::time::sleep(Duration::from_millis(ms)).await;
//! #     if what == "billing" {
//! #         return Err(std::io::Error::other("billing is down"));
//! #     }
//! #     Ok(format!("{what}: ok"))
//! # }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use tokio::task::JoinSet;
//! use tokio_util::sync::CancellationToken;
//!
//! let token = CancellationToken::new();
//! let mut set = JoinSet::new();
//! for (i, what) in ["user", "billing", "permissions"].into_iter().enumerate() {
//!     let token = token.clone();
//!     set.spawn(async move {
//!         tokio::select! {
//!             result = fetch(what) => (i, result.map(Some)),
//!             () = token.cancelled() => (i, Ok(None)),
//!         }
//!     });
//! }
//! let mut values = vec![None; 3];
//! let mut errors = Vec::new();
//! while let Some(joined) = set.join_next().await {
//!     match joined {
//!         Ok((i, Ok(value))) => values[i] = value,
//!         Ok((_, Err(e))) => {
//!             token.cancel();
//!             errors.push(e.to_string());
//!         }
//!         Err(e) => {
//!             // a panic (or an abort): nothing cancels the others but us
//!             token.cancel();
//!             errors.push(e.to_string());
//!         }
//!     }
//! }
//! assert_eq!(errors, ["billing is down"]);
//! assert_eq!(values[2], None); // cancelled
//! # }
//! ```
//!
//! With tokio-util's [`TaskTracker`] and a token: the tracker waits, but
//! results, errors and cancellation are the tasks' business.
//!
//! ```
//! # use std::time::Duration;
//! # async fn fetch(what: &'static str) -> Result<String, std::io::Error> {
//! #     let ms = match what { "user" => 30, "billing" => 10, _ => 20 };
//! #     tokio::time::sleep(Duration::from_millis(ms)).await;
//! #     if what == "billing" {
//! #         return Err(std::io::Error::other("billing is down"));
//! #     }
//! #     Ok(format!("{what}: ok"))
//! # }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::sync::{Arc, Mutex};
//! use tokio_util::sync::CancellationToken;
//! use tokio_util::task::TaskTracker;
//!
//! let tracker = TaskTracker::new();
//! let token = CancellationToken::new();
//! let errors = Arc::new(Mutex::new(Vec::new()));
//! let handles: Vec<_> = ["user", "billing", "permissions"]
//!     .into_iter()
//!     .map(|what| {
//!         let (token, errors) = (token.clone(), errors.clone());
//!         tracker.spawn(async move {
//!             let result = tokio::select! {
//!                 result = fetch(what) => result,
//!                 () = token.cancelled() => return None,
//!             };
//!             match result {
//!                 Ok(value) => Some(value),
//!                 Err(e) => {
//!                     token.cancel();
//!                     errors.lock().unwrap().push(e.to_string());
//!                     None
//!                 }
//!             }
//!         })
//!     })
//!     .collect();
//! tracker.close();
//! tracker.wait().await;
//! let mut values = Vec::new();
//! for handle in handles {
//!     values.push(handle.await.unwrap()); // a panic surfaces only here
//! }
//! assert_eq!(*errors.lock().unwrap(), ["billing is down"]);
//! assert_eq!(values, [None, None, None]); // user and permissions were cancelled
//! # }
//! ```
//!
//! With async-scope: the policy cancels, the scope waits and collects.
//!
//! ```
//! # use std::time::Duration;
//! # async fn fetch(what: &'static str) -> Result<String, std::io::Error> {
//! #     let ms = match what { "user" => 30, "billing" => 10, _ => 20 };
//! #     tokio::time::sleep(Duration::from_millis(ms)).await;
//! #     if what == "billing" {
//! #         return Err(std::io::Error::other("billing is down"));
//! #     }
//! #     Ok(format!("{what}: ok"))
//! # }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use async_scope::{with_scope, Reason, TaskError};
//!
//! let result = with_scope(|scope| async move {
//!     let handles: Vec<_> = ["user", "billing", "permissions"]
//!         .into_iter()
//!         .map(|what| scope.spawn(move |_signal| fetch(what)))
//!         .collect();
//!     let mut values = Vec::new();
//!     for handle in handles {
//!         values.push(handle.await?);
//!     }
//!     Ok::<_, TaskError>(values)
//! })
//! .await;
//!
//! let err = result.unwrap_err();
//! assert!(matches!(err.reason(), Reason::TaskFailed(_)));
//! let errors: Vec<_> = err.failures().iter().map(|f| f.error().to_string()).collect();
//! assert_eq!(errors, ["billing is down"]);
//! // Each failure also knows its task's id, kind and spawn location:
//! assert!(err.to_string().contains("(spawned at "));
//! # }
//! ```
//!
//! With moro (not a dependency here; a sketch against moro 0.4's API, not
//! compiled): jobs are futures polled inside the scope's own future, and
//! `terminate` ends the scope with a value, dropping every job at its next
//! `.await`.
//!
//! ```text
//! let result: Result<Vec<String>, io::Error> = moro::async_scope!(|scope| {
//!     let jobs: Vec<_> = ["user", "billing", "permissions"]
//!         .into_iter()
//!         .map(|what| scope.spawn(async move {
//!             match fetch(what).await {
//!                 Ok(value) => value,
//!                 Err(e) => scope.terminate(Err(e)).await, // never returns
//!             }
//!         }))
//!         .collect();
//!     let mut values = Vec::new();
//!     for job in jobs {
//!         values.push(job.await);
//!     }
//!     Ok(values)
//! })
//! .await;
//! ```
//!
//! What each gives:
//!
//! | | `JoinSet` + token | `TaskTracker` + token | moro | async-scope |
//! |---|---|---|---|---|
//! | the owner waits for every task | only while you drain `join_next`; dropping the set aborts its tasks without waiting | yes: `close`, then `wait` | yes | yes: `run` returns after every task, nested scopes included |
//! | a failure cancels the rest | by hand | by hand | by hand: `terminate` | by the [policy](#policies-and-task-kinds): `Cancel` by default, `Supervise`, per-task kinds |
//! | tasks learn of cancellation | through the token you pass | through the token you pass | no: jobs are dropped at their next `.await` | each task's token, then an abort after the grace period |
//! | a panic | a `JoinError`; cancels nothing | seen only by whoever awaits its `JoinHandle`; cancels nothing | unwinds through the scope's future | a failure like an `Err` ([`TaskError::Panicked`]) |
//! | nesting | by hand: `child_token`, a set per level | by hand | an inner scope is a future inside a job | automatic: cancellation flows down, failures stay in their scope |
//! | error collection | what you gather from `join_next` | what you gather in shared state | the one value passed to `terminate` | [`ScopeError`] (reason and every failure), [`Scope::errors`], error handlers |
//! | parallelism | yes | yes | no: one future, polled by one thread at a time | yes |
//! | `Send` | tasks `Send + 'static`; `spawn_local` for `!Send` | the same | moro 0.4: jobs must be `Send`; the moro-local fork takes `!Send` ones | tasks `Send + 'static`; [`Scope::spawn_local`] for `!Send`; the body need not be `Send` |
//! | borrowing | no: `'static` | no: `'static` | yes: jobs borrow from outside the scope, polled in the scope's own future | yes, in safe Rust: [inline tasks](#borrowing-inline-tasks) borrow from outside the scope, beside parallel `'static` tasks in the same scope, under the same policies |
//!
//! In short: `JoinSet` and `TaskTracker` are building blocks (async-scope
//! itself is built on Tokio's `JoinHandle` and `AbortHandle` and on
//! `CancellationToken`); who cancels whom and who reports what is yours to
//! write, at every level. moro gives borrowing and automatic joining, at the
//! price of parallelism. async-scope gives tasks a tree: owners that wait,
//! cancellation that flows down, and failures that are always reported; its
//! tasks are parallel and `'static`, or inline and borrowing, in one scope.
//!
//! [`with_scope`]: crate::with_scope
//! [`with_scope_inline`]: crate::with_scope_inline
//! [`ScopeBuilder::run_inline`]: crate::ScopeBuilder::run_inline
//! [`Inline`]: crate::Inline
//! [`Inline::spawn`]: crate::Inline::spawn
//! [`Scope`]: crate::Scope
//! [`Scope::spawn`]: crate::Scope::spawn
//! [`Scope::spawn_local`]: crate::Scope::spawn_local
//! [`Scope::errors`]: crate::Scope::errors
//! [`Scope::cancel`]: crate::Scope::cancel
//! [`Scope::is_cancelled`]: crate::Scope::is_cancelled
//! [`Scope::signal`]: crate::Scope::signal
//! [`Scope::current`]: crate::Scope::current
//! [`Scope::wait_for_completion`]: crate::Scope::wait_for_completion
//! [`ScopeBuilder::run`]: crate::ScopeBuilder::run
//! [`Scope::shutdown`]: crate::Scope::shutdown
//! [`Scope::cancelled`]: crate::Scope::cancelled
//! [`Scope::reserve`]: crate::Scope::reserve
//! [`Scope::snapshot`]: crate::Scope::snapshot
//! [`Scope::failure_count`]: crate::Scope::failure_count
//! [`SpawnPermit`]: crate::SpawnPermit
//! [`ScopeBuilder::shutdown_on`]: crate::ScopeBuilder::shutdown_on
//! [`ScopeBuilder::retain_failures`]: crate::ScopeBuilder::retain_failures
//! [`ScopeBuilder::policy`]: crate::ScopeBuilder::policy
//! [`ScopeBuilder::timeout`]: crate::ScopeBuilder::timeout
//! [`ScopeBuilder::on_error`]: crate::ScopeBuilder::on_error
//! [`ScopeBuilder::max_concurrency`]: crate::ScopeBuilder::max_concurrency
//! [`TaskHandle<T>`]: crate::TaskHandle
//! [`TaskHandle::cancel`]: crate::TaskHandle::cancel
//! [`OptionalHandle`]: crate::OptionalHandle
//! [`OptionalHandle::cancel`]: crate::OptionalHandle::cancel
//! [`TaskError`]: crate::TaskError
//! [`TaskError::Panicked`]: crate::TaskError::Panicked
//! [`TaskError::Cancelled`]: crate::TaskError::Cancelled
//! [`Policy`]: crate::Policy
//! [`Policy::Cancel`]: crate::Policy::Cancel
//! [`Policy::Supervise`]: crate::Policy::Supervise
//! [`TaskKind`]: crate::TaskKind
//! [`ScopeError`]: crate::ScopeError
//! [`ScopeError::failures`]: crate::ScopeError::failures
//! [`Reason`]: crate::Reason
//! [`Reason::TaskFailed`]: crate::Reason::TaskFailed
//! [`Reason::CriticalTaskFailed`]: crate::Reason::CriticalTaskFailed
//! [`Reason::BodyFailed`]: crate::Reason::BodyFailed
//! [`Reason::Cancelled`]: crate::Reason::Cancelled
//! [`Reason::TimedOut`]: crate::Reason::TimedOut
//! [`CancellationToken`]: crate::CancellationToken
//! [`BoxError`]: crate::BoxError
//! [`LocalSet`]: https://docs.rs/tokio/latest/tokio/task/struct.LocalSet.html
//! [`JoinSet`]: https://docs.rs/tokio/latest/tokio/task/struct.JoinSet.html
//! [`TaskTracker`]: https://docs.rs/tokio-util/latest/tokio_util/task/task_tracker/struct.TaskTracker.html
