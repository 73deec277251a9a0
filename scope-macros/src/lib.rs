//! The `#[scoped]` attribute and the `scope!` macro of
//! [async-scope](https://docs.rs/async-scope).
//!
//! Use them through the `async-scope` crate, which re-exports both: their
//! expansions name the engine as `::async_scope` (or the path given by
//! `crate = "..."`). Each expansion is the engine calls a person would write
//! by hand, shown under "Equivalent code without the macro" on each macro:
//! no extra task, allocation or boxing.
//!
//! # Options
//!
//! Both macros take the same options, as `#[scoped(key = value, ...)]` or as
//! a leading `key = value, ...;` statement of `scope!`. Each one is a call on
//! the engine's `ScopeBuilder`; an option left out leaves the engine's
//! default.
//!
//! | option | builder call | default |
//! |---|---|---|
//! | `policy = "cancel"` or `"supervise"` | `.policy(Policy::..)` | `"cancel"` |
//! | `name = "..."` | `.name("...")` | none |
//! | `timeout_ms = N`, `N >= 1` | `.timeout(Duration::from_millis(N))` | none |
//! | `grace_ms = N` | `.grace(Duration::from_millis(N))`: how long a cancelled task may go on before it is aborted | `0` |
//! | `max_concurrency = N`, `N >= 1` | `.max_concurrency(N)`: at most `N` tasks run at once, the others wait their turn | no limit |
//! | `retain_failures = N` | `.retain_failures(N)`: keep the `N` most recent failures (`0` keeps none) | all |
//! | `crate = "path"` | the path the calls go through | `::async_scope` |
//!
//! ```text
//! #[scoped(policy = "supervise", grace_ms = 500, max_concurrency = 8, retain_failures = 100)]
//! async fn serve(listener: TcpListener) -> Result<(), AppError> { .. }
//!
//! scope! {
//!     grace_ms = 500, max_concurrency = 8, retain_failures = 100;
//!     for job in jobs { scope.spawn(move |signal| run(job, signal)); }
//! }?;
//! ```
//!
//! Misuse is a compile error that points at the offending tokens and says
//! what was expected; the macros never panic, whatever tokens they are given.
//! The `ui-tests/` directory of the repository holds one case per diagnostic.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![forbid(unsafe_code)]

mod diagnostics;
mod krate;
mod options;
mod scope;
mod scoped;

#[cfg(test)]
mod proptests;

use proc_macro::TokenStream;

/// Runs the body of an `async fn` in a scope, bound to `scope` in the body.
///
/// The function must be an `async fn` returning `Result<T, E>`, where
/// `E: From<ScopeError>` (and usually `From<TaskError>`, so that `?` works
/// on task handles). When the scope ends:
///
/// - the body's own `Err` comes back to the caller unchanged;
/// - a failure of the scope (a task failed, the timeout elapsed, the scope
///   was cancelled) converts through `From<ScopeError>`;
/// - when the scope failed before the body returned, the scope's error wins,
///   even if the body then returned an error of its own.
///
/// `return` and `?` in the body behave as in the function without the
/// attribute. Free functions, inherent and trait methods (`&self`,
/// `&mut self`), generics, `where` clauses, `impl Trait` arguments and
/// lifetimes are all supported. The return type must be written as a path
/// whose last segment is `Result` or ends in `Result` (`Result<T, E>`,
/// `io::Result<T>`, `AppResult<T>`), so that a non-`Result` type is caught
/// with a clear message; other aliases are rejected.
///
/// With other attribute macros, put `#[scoped]` first: `#[scoped]` above
/// `#[tokio::test]` or `#[tokio::main]` runs the test's or program's body in
/// the scope, while below them it would be handed a function that is no
/// longer `async`.
///
/// # Arguments
///
/// | argument | meaning | default |
/// |---|---|---|
/// | `policy = "cancel"` or `"supervise"` | the scope's `Policy` | `"cancel"` |
/// | `name = "..."` | the scope's name, shown in its errors | none |
/// | `timeout_ms = N` | `N >= 1`: the scope fails with `Reason::TimedOut` after `N` milliseconds | none |
/// | `grace_ms = N` | a cancelled task may go on for `N` milliseconds after its signal, then it is aborted | `0`: aborted at its next `.await` |
/// | `max_concurrency = N` | `N >= 1`: at most `N` tasks of the scope run at once; later spawns wait their turn, in spawn order | no limit |
/// | `retain_failures = N` | `errors()` and `ScopeError::failures()` keep only the `N` most recent failures (`0` keeps none); `failure_count()` counts all | all |
/// | `crate = "path"` | where the engine is, when `async_scope` is renamed or re-exported | `::async_scope` |
///
/// # Examples
///
/// ```text
/// use async_scope::{scoped, ScopeError, TaskError};
///
/// #[derive(Debug, thiserror::Error)]
/// enum AppError {
///     #[error(transparent)]
///     Scope(#[from] ScopeError),
///     #[error(transparent)]
///     Task(#[from] TaskError),
/// }
///
/// #[scoped(policy = "supervise", timeout_ms = 500)]
/// async fn load(id: u64) -> Result<u64, AppError> {
///     let user = scope.spawn(move |_| async move { Ok::<_, std::io::Error>(id * 2) });
///     Ok(user.await?)
/// }
/// ```
///
/// A long-lived scope, as a server's: a task that ignores its signal gets
/// half a second after a shutdown, at most 8 connections are served at once,
/// and only the last 100 failures are kept.
///
/// ```text
/// #[scoped(policy = "supervise", grace_ms = 500, max_concurrency = 8, retain_failures = 100)]
/// async fn serve(listener: TcpListener) -> Result<(), AppError> {
///     loop {
///         let (socket, _) = listener.accept().await?;
///         scope.spawn(move |signal| handle(socket, signal));
///     }
/// }
/// ```
///
/// The repository's `tests/macros/` runs examples like this one.
///
/// # Equivalent code without the macro
///
/// ```text
/// async fn load(id: u64) -> Result<u64, AppError> {
///     let mut slot = None;
///     let result = async_scope::Scope::builder()
///         .policy(async_scope::Policy::Supervise)
///         .timeout(std::time::Duration::from_millis(500))
///         .run(|scope| {
///             let slot = &mut slot;
///             async move {
///                 // the body as written; `return` and `?` leave this block
///                 let body: Result<u64, AppError> = async move {
///                     let user = scope.spawn(move |_| async move { Ok::<_, std::io::Error>(id * 2) });
///                     Ok(user.await?)
///                 }
///                 .await;
///                 // keep the body's own error to give it back unchanged
///                 body.map_err(|error| {
///                     *slot = Some(error);
///                     async_scope::__private::BodyError
///                 })
///             }
///         })
///         .await;
///     match result {
///         Ok(value) => Ok(value),
///         Err(scope_error) => match slot {
///             Some(error) if matches!(scope_error.reason(), async_scope::Reason::BodyFailed(_)) => {
///                 Err(error)
///             }
///             _ => Err(AppError::from(scope_error)),
///         },
///     }
/// }
/// ```
///
/// Without arguments the scope is started with `async_scope::with_scope`
/// instead of the builder.
///
/// # Errors at compile time
///
/// Each of these is a compile error pointing at the offending tokens: an
/// item that is not an `async fn`, a missing or non-`Result` return type, a
/// parameter named `scope` (the body's `scope` would hide it), a function
/// without a body, `#[scoped]` applied twice, and for the arguments: an
/// unknown argument (with a suggestion when it is close to a valid one), a
/// duplicate argument, a bad policy, a `timeout_ms` or `max_concurrency`
/// that is not a positive integer literal, a `grace_ms` or `retain_failures`
/// that is not a non-negative one, an integer too large for its type, a
/// `crate` value that is not a path in a string literal. All mistakes in the
/// arguments are reported at once.
#[proc_macro_attribute]
pub fn scoped(args: TokenStream, item: TokenStream) -> TokenStream {
    scoped::scoped(args.into(), item.into()).into()
}

/// Runs a block of statements in a scope, spawning tasks with `spawn`
/// statements; evaluates to `Result<T, ScopeError>`.
///
/// Used in async code: the macro expands to an `.await`ed run of a scope.
///
/// ```text
/// scope! {
///     [policy = "supervise", name = "...", timeout_ms = N, grace_ms = N,
///      max_concurrency = N, retain_failures = N, crate = "path";]          // optional
///     let user = spawn { fetch_user().await };             // a normal task, its handle bound
///     let billing = spawn critical { fetch_billing().await };
///     spawn optional |signal| { send_metrics(signal).await };
///     for u in &urls { spawn inline { check(u).await } }   // inline tasks borrow
///     let total = 1 + 2;                                   // ordinary statements
///     Ok((user.await?, billing.await?, total))             // the tail: the body's result
/// }
/// ```
///
/// - **Options**: a first statement `key = literal, ...;` with the keys of
///   [`macro@scoped`] (`policy`, `name`, `timeout_ms`, `grace_ms`,
///   `max_concurrency`, `retain_failures`, `crate`), with the same meaning
///   and checks. A first
///   statement is read as options when it starts with one of those keys
///   followed by `=` (or with a likely misspelling of one followed by `=` and
///   a literal, to report it).
/// - **Tasks**: a statement `spawn {..}`, `spawn critical {..}` or
///   `spawn optional {..}` starts a task running the block as an
///   `async move` block: `Scope::spawn`, `spawn_critical` or
///   `spawn_optional`. `let h = spawn ..;` (with any pattern, and a type if
///   you like) binds its handle. The task may name its signal (the
///   `CancellationToken` it receives) after its kind: `spawn |signal| {..}`,
///   `spawn critical |signal| {..}`. A spawn needs no `;` after its block,
///   and may carry outer attributes (`#[cfg(..)]`).
///   Spawns may stand at the top level or anywhere in the body's own control
///   flow: in the blocks of `for`, `while`, `loop`, `if`/`else`, plain
///   blocks, and as a `match` arm (`Some(u) => spawn { fetch(u).await },`),
///   at any depth; `for u in urls.clone() { let h = spawn { fetch(u).await };
///   handles.push(h); }` starts one task per turn. Inside a closure or an
///   `async` block (a task's block is one), a spawn is a compile error: call
///   `scope.spawn(..)` there. The spawns of a nested `scope!` are its own,
///   and the macro never looks inside other macros' input.
///   At the top level, `spawn` is a keyword when a block, a word (other than
///   `as`), `|` or `;` follows it; below it, when words, an optional signal
///   and a block follow it. `spawn(x)`, `spawn!(..)`, `x.spawn(..)`,
///   `tokio::spawn(..)` and `spawn as u8` are ordinary Rust.
/// - **Inline tasks**: `spawn inline {..}`, `spawn inline critical {..}` and
///   `spawn inline optional {..}` (with a signal as other spawns:
///   `spawn inline |signal| {..}`, `spawn inline critical |signal| {..}`)
///   start inline tasks: `Inline::spawn`, `spawn_critical` or
///   `spawn_optional`. An inline task runs on the task that awaits the
///   scope, beside the body, so it may borrow anything the code around the
///   `scope!` can: `for u in &urls { let h = spawn inline { fetch(u).await };
///   .. }` needs no clone or `Arc`. The block is still an `async move` one:
///   to borrow a value rather than move it into the task, take a reference
///   first (`let counter = &counter;`), as a loop that shares it must. A
///   `scope!` with at least one `spawn inline`, anywhere a spawn may stand,
///   runs as `run_inline` (`with_scope_inline` without options), and
///   **`inline`** names its `Inline` handle in the body and in inline
///   tasks; an inline task that names it gets its own clone. Without a
///   `spawn inline`, `inline` is an ordinary name. Ordinary and inline
///   spawns mix freely; the ordinary ones still own what they use.
/// - **`scope`** names the scope (a `Scope`) in the body and in each task; a
///   task that names it gets its own clone.
/// - **The body** is an `async move` block whose error type is fixed to
///   `BoxError`, so `?` works in it on any error without annotations. In a
///   `scope!` with a `spawn inline`, it is a block that borrows instead: it
///   takes `scope` and `inline` by value and borrows the rest (or moves
///   what a task moves), so that its inline tasks may borrow from outside
///   the macro; what the body itself owns ends before they do, so they
///   cannot borrow that.
///   Its result is the tail expression, or `Ok(())` when the body ends with
///   a statement (a final `for`, `while` or `if` without `else` counts as a
///   statement). `return` leaves the body, not the enclosing function.
/// - **A task's error type** is its own, inferred from its block. A block
///   whose value is `Ok(..)`, with no `return` and no macro that could hide
///   one, has nothing to infer it from (written by hand, it needs the type
///   named); the macro then fixes it to `BoxError`. Other blocks are
///   unchanged: one that uses `?` and also `return`s may need its type
///   named, as any async block does.
///
/// An empty `scope!` (no statements, with or without options) is a compile
/// error: it would be a scope with nothing to do.
///
/// # Examples
///
/// ```text
/// use async_scope::scope;
///
/// async fn totals(
///     orders: Vec<u32>,
/// ) -> Result<(u32, usize), async_scope::BoxError> {
///     let (sum, count) = scope! {
///         policy = "supervise";
///         let sum = spawn { Ok(orders.iter().sum::<u32>()) };
///         let count = spawn critical |signal| {
///             let rows = load_rows(&signal).await?;   // any error type
///             Ok(rows.len())
///         };
///         spawn optional { send_metrics().await };
///         Ok((sum.await?, count.await?))
///     }?;
///     Ok((sum, count))
/// }
/// ```
///
/// With the options of a long-lived scope: at most 8 jobs run at once, a job
/// that ignores its signal is aborted 500 ms after the scope is cancelled,
/// and only the last 100 failures are kept.
///
/// ```text
/// scope! {
///     policy = "supervise", grace_ms = 500, max_concurrency = 8, retain_failures = 100;
///     for job in jobs {
///         scope.spawn(move |signal| run(job, signal));
///     }
/// }?;
/// ```
///
/// The repository's `tests/macros/` runs examples like this one.
///
/// # Equivalent code without the macro
///
/// ```text
/// let (sum, count) = async_scope::Scope::builder()    // with_scope(..) without options
///     .policy(async_scope::Policy::Supervise)
///     .run(|scope| async move {
///         let sum = scope.spawn(move |_| async move {
///             Ok::<_, async_scope::BoxError>(orders.iter().sum::<u32>())
///         });
///         let count = scope.spawn_critical(move |signal| async move {
///             let rows = load_rows(&signal).await?;
///             Ok::<_, async_scope::BoxError>(rows.len())
///         });
///         scope.spawn_optional(move |_| async move { send_metrics().await });
///         Ok::<_, async_scope::BoxError>((sum.await?, count.await?))
///     })
///     .await?;
/// ```
///
/// A task whose block names `scope` is written
/// `scope.spawn({ let scope = scope.clone(); move |_| async move { .. } })`.
///
/// With inline tasks, the body borrows instead of moving (here `urls`, a
/// `Vec<String>` owned by the code around the macro):
///
/// ```text
/// let total = scope! {
///     let mut handles = Vec::new();
///     for u in &urls {
///         let h = spawn inline { Ok::<_, std::io::Error>(u.len()) };
///         handles.push(h);
///     }
///     let mut total = 0;
///     for h in handles { total += h.await?; }
///     Ok(total)
/// }?;
///
/// // expands to
/// let total = async_scope::with_scope_inline(|_, inline| async {
///     let inline = inline;                  // the block owns the handle, borrows `urls`
///     let mut handles = Vec::new();
///     for u in &urls {
///         let h = inline.spawn(move |_| async move { Ok::<_, std::io::Error>(u.len()) });
///         handles.push(h);
///     }
///     let mut total = 0;
///     for h in handles { total += h.await?; }
///     Ok::<_, async_scope::BoxError>(total)
/// })
/// .await?;
/// ```
///
/// # Errors at compile time
///
/// Each of these is a compile error pointing at the offending tokens: an
/// unknown task kind (`spawn critcal`, `spawn inline critcal`, with a
/// suggestion), two kinds on one task, `inline` twice or after the kind or
/// the signal (`spawn critical inline`: write `spawn inline critical`),
/// `spawn` without a block or with an expression instead of a block,
/// `spawn async {..}`, empty signal bars, tokens after a spawn's block, a
/// spawn inside a closure or an `async` block, a spawn used as a value
/// (`f(spawn {..})`), an
/// unknown, duplicate or bad option, and an empty `scope!`. Errors that rustc
/// finds inside a task (a value that is not `Send` held across an `.await`,
/// a block that does not return a `Result`) point at the task's block; an
/// inline task that borrows what the body owns is reported at the first
/// `spawn inline`'s `inline`, with the borrow it made.
#[proc_macro]
pub fn scope(input: TokenStream) -> TokenStream {
    scope::scope(input.into()).into()
}
