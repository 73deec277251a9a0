//! [`Scope::snapshot`](crate::Scope::snapshot): what a scope is waiting on,
//! as a tree a person reads at a glance.
//!
//! A snapshot lists, for a scope and every nested scope still open, each task
//! that has not ended (running, or waiting for a `max_concurrency` slot) and
//! each task that failed, with its kind, name, spawn location and age; tasks
//! that completed or were cancelled are counted, not listed, so that a scope
//! that has run a million tasks still draws in a few lines. Its `Display`
//! draws the tree:
//!
//! ```text
//! scope 1 "crawl" (supervise) running for 5s: 2 live, 1 failed, 2 done
//! ├─ ✗ task 2 "fetch /about" failed: HTTP 503, spawned at examples/hung_scope.rs:29:19
//! ├─ ▶ task 3 "fetch /slow" running for 5s, spawned at examples/hung_scope.rs:33:19
//! └─ ▶ critical task 4 "resolve" running for 5s, spawned at examples/hung_scope.rs:37:42
//!    └─ scope 2 "dns" (cancel) running for 4.8s: 1 live
//!       └─ ▶ task 6 "lookup example.com" running for 4.8s, spawned at examples/hung_scope.rs:41:29
//! ```
//!
//! (`cargo run --example hung_scope`.) A nested scope is drawn under the
//! task that runs it. Marks: `▶` running, `⧗` waiting for a slot, `✗`
//! failed, `⊘` a scope cancelled (with its reason), `✓` a scope whose body
//! has ended and that waits for its last tasks (or has ended, seen through a
//! kept handle). Ages come from Tokio's clock,
//! so they are exact under paused time.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Reason, TaskError};
use crate::ids::{ScopeId, TaskId, TaskName};
use crate::policy::{Policy, TaskKind};

/// A scope's state at the time of a [`ScopeSnapshot`].
///
/// # Examples
///
/// See [`ScopeSnapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScopeState {
    /// Open: its body runs or its tasks do, and it accepts spawns.
    Running,
    /// Cancelled or failed (see [`ScopeSnapshot::reason`]); waiting for its tasks to stop.
    Cancelled,
    /// Its body has ended; it waits for its last tasks (which may still spawn), or has ended.
    Closing,
    /// Shut down ([`Scope::shutdown`](crate::Scope::shutdown)); waiting for its tasks to stop.
    ShuttingDown,
}

/// A task's state at the time of a [`ScopeSnapshot`].
///
/// # Examples
///
/// See [`ScopeSnapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskState {
    /// Waiting for a [`max_concurrency`](crate::ScopeBuilder::max_concurrency) slot; its closure has not been called yet.
    Waiting,
    /// Started and not ended.
    Running,
    /// Returned `Err` or panicked. Tasks that returned `Ok` or were cancelled
    /// are not listed, only counted ([`ScopeSnapshot::done`],
    /// [`ScopeSnapshot::cancelled`]).
    Failed,
}

/// One task in a [`ScopeSnapshot`].
///
/// # Examples
///
/// See [`ScopeSnapshot`].
#[derive(Clone, Debug)]
pub struct TaskSnapshot {
    pub(crate) id: TaskId,
    pub(crate) name: Option<TaskName>,
    pub(crate) kind: TaskKind,
    pub(crate) state: TaskState,
    pub(crate) location: &'static Location<'static>,
    pub(crate) age: Option<Duration>,
    pub(crate) error: Option<TaskError>,
    pub(crate) scopes: Vec<ScopeSnapshot>,
    pub(crate) inline: bool,
}

/// A scope, its unfinished and failed tasks, and its open nested scopes, as
/// they were when [`Scope::snapshot`](crate::Scope::snapshot) was called.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use async_scope::{Scope, TaskState};
///
/// Scope::builder()
///     .name("crawl")
///     .run(|scope| async move {
///         scope.spawn_named("fetch", |_| async {
///             tokio::time::sleep(Duration::from_secs(5)).await;
///             Ok::<_, std::io::Error>(())
///         });
///         tokio::time::sleep(Duration::from_secs(2)).await;
///
///         let tree = scope.snapshot();
///         assert_eq!(tree.name(), Some("crawl"));
///         assert_eq!(tree.tasks()[0].name(), Some("fetch"));
///         assert_eq!(tree.tasks()[0].state(), TaskState::Running);
///         assert_eq!(tree.tasks()[0].age(), Some(Duration::from_secs(2)));
///         assert_eq!(tree.state(), async_scope::ScopeState::Running);
///         assert_eq!((tree.done(), tree.cancelled()), (0, 0));
///         assert!(tree.scopes().is_empty() && tree.tasks()[0].scopes().is_empty());
///         let text = tree.to_string();
///         assert!(text.contains("▶ task"), "{text}");
///         assert!(text.contains("\"fetch\" running for 2s"), "{text}");
///         Ok::<_, std::io::Error>(())
///     })
///     .await
///     .unwrap();
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ScopeSnapshot {
    pub(crate) id: ScopeId,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) policy: Policy,
    pub(crate) state: ScopeState,
    pub(crate) reason: Option<Reason>,
    pub(crate) age: Duration,
    pub(crate) tasks: Vec<TaskSnapshot>,
    pub(crate) done: usize,
    pub(crate) cancelled: usize,
    pub(crate) scopes: Vec<ScopeSnapshot>,
    pub(crate) elided: usize,
}

impl ScopeSnapshot {
    /// How many levels of nested scopes a snapshot holds, this scope's
    /// included: scopes nested deeper are counted at the last level
    /// ([`elided`](Self::elided)), not listed, so that a snapshot of a chain
    /// of any depth is taken, kept and drawn with a bounded stack and size.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(async_scope::ScopeSnapshot::MAX_DEPTH, 64);
    /// ```
    pub const MAX_DEPTH: usize = 64;

    /// How many open scopes nested below this one the snapshot leaves out:
    /// zero, except at its [`MAX_DEPTH`](Self::MAX_DEPTH)th level.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// async_scope::with_scope(|scope| async move {
    ///     assert_eq!(scope.snapshot().elided(), 0);
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    pub fn elided(&self) -> usize {
        self.elided
    }

    /// The scope's id.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn id(&self) -> ScopeId {
        self.id
    }

    /// The scope's name, if its builder gave it one.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The scope's policy.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The scope's state.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn state(&self) -> ScopeState {
        self.state
    }

    /// Why the scope was cancelled or failed, once it was.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn reason(&self) -> Option<&Reason> {
        self.reason.as_ref()
    }

    /// How long ago the scope was opened.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn age(&self) -> Duration {
        self.age
    }

    /// The tasks that have not ended (running or waiting for a slot) and
    /// those that failed, in spawn order.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn tasks(&self) -> &[TaskSnapshot] {
        &self.tasks
    }

    /// How many tasks returned `Ok` (they are not listed in [`tasks`](Self::tasks)).
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn done(&self) -> usize {
        self.done
    }

    /// How many tasks were cancelled or aborted (not listed either).
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn cancelled(&self) -> usize {
        self.cancelled
    }

    /// The nested scopes still open that no listed task runs, in the order
    /// they were opened: those the body runs, and those whose task is not
    /// listed (a scope whose future outlived the task that opened it, or
    /// whose task's failure is no longer retained). Those a listed task runs
    /// are under [`TaskSnapshot::scopes`].
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn scopes(&self) -> &[ScopeSnapshot] {
        &self.scopes
    }

    /// Tasks not ended yet, in this scope only.
    fn live(&self) -> usize {
        self.tasks
            .iter()
            .filter(|t| matches!(t.state, TaskState::Running | TaskState::Waiting))
            .count()
    }

    fn failed(&self) -> usize {
        self.tasks
            .iter()
            .filter(|t| t.state == TaskState::Failed)
            .count()
    }

    fn draw(&self, f: &mut fmt::Formatter<'_>, indent: &str) -> fmt::Result {
        match self.state {
            ScopeState::Running => {}
            ScopeState::Cancelled | ScopeState::ShuttingDown => f.write_str("⊘ ")?,
            ScopeState::Closing => f.write_str("✓ ")?,
        }
        write!(f, "scope {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        write!(f, " ({})", self.policy)?;
        match (&self.state, &self.reason) {
            (ScopeState::Cancelled, Some(reason)) => {
                write!(f, " cancelled ({reason}), open for {}", Age(self.age))?;
            }
            (ScopeState::Closing, _) => write!(f, " body ended, open for {}", Age(self.age))?,
            (ScopeState::ShuttingDown, _) => {
                write!(f, " shutting down, open for {}", Age(self.age))?;
            }
            _ => write!(f, " running for {}", Age(self.age))?,
        }
        let counts = [
            (self.live(), "live"),
            (self.failed(), "failed"),
            (self.done, "done"),
            (self.cancelled, "cancelled"),
        ];
        let mut sep = ": ";
        for (n, what) in counts {
            if n > 0 {
                write!(f, "{sep}{n} {what}")?;
                sep = ", ";
            }
        }
        if sep == ": " {
            f.write_str(": no tasks")?;
        }
        writeln!(f)?;

        let last = self.tasks.len() + self.scopes.len() + usize::from(self.elided > 0);
        let mut i = 0;
        for task in &self.tasks {
            i += 1;
            let (branch, more) = branch(i == last);
            write!(f, "{indent}{branch}")?;
            task.draw(f)?;
            writeln!(f)?;
            draw_scopes(f, &task.scopes, &format!("{indent}{more}"))?;
        }
        for scope in &self.scopes {
            i += 1;
            let (branch, more) = branch(i == last);
            write!(f, "{indent}{branch}")?;
            scope.draw(f, &format!("{indent}{more}"))?;
        }
        if self.elided > 0 {
            let levels = ScopeSnapshot::MAX_DEPTH;
            writeln!(
                f,
                "{indent}└─ … {} nested scope{} below not shown (a snapshot holds {levels} levels)",
                self.elided,
                if self.elided == 1 { "" } else { "s" },
            )?;
        }
        Ok(())
    }
}

/// The branch drawn before an item, and the indent of what hangs under it.
fn branch(last: bool) -> (&'static str, &'static str) {
    if last {
        ("└─ ", "   ")
    } else {
        ("├─ ", "│  ")
    }
}

/// Nested scopes hanging under a task.
fn draw_scopes(f: &mut fmt::Formatter<'_>, scopes: &[ScopeSnapshot], indent: &str) -> fmt::Result {
    for (i, scope) in scopes.iter().enumerate() {
        let (branch, more) = branch(i + 1 == scopes.len());
        write!(f, "{indent}{branch}")?;
        scope.draw(f, &format!("{indent}{more}"))?;
    }
    Ok(())
}

impl fmt::Display for ScopeSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.draw(f, "")
    }
}

impl TaskSnapshot {
    /// The task's id.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The task's name, if it was spawned with one.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The task's kind.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn kind(&self) -> TaskKind {
        self.kind
    }

    /// The task's state.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// Where the task was spawned.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// How long ago the task was spawned; `None` for a task that has ended.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn age(&self) -> Option<Duration> {
        self.age
    }

    /// Why the task failed, for a failed task.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn error(&self) -> Option<&TaskError> {
        self.error.as_ref()
    }

    /// Whether this is an inline task ([`Inline::spawn`](crate::Inline::spawn)),
    /// drawn as `inline task`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// async_scope::with_scope_inline(|scope, inline| async move {
    ///     inline.spawn(|_| std::future::pending::<Result<(), std::io::Error>>());
    ///     let snapshot = scope.snapshot();
    ///     assert!(snapshot.tasks()[0].is_inline());
    ///     assert!(snapshot.to_string().contains("inline task"));
    ///     scope.cancel();
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await
    /// .unwrap_err(); // cancelled
    /// # }
    /// ```
    pub fn is_inline(&self) -> bool {
        self.inline
    }

    /// The nested scopes this task runs, still open, in the order they were opened.
    ///
    /// # Examples
    ///
    /// See [`ScopeSnapshot`].
    pub fn scopes(&self) -> &[ScopeSnapshot] {
        &self.scopes
    }

    fn draw(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.state {
            TaskState::Waiting => "⧗",
            TaskState::Running => "▶",
            TaskState::Failed => "✗",
        };
        write!(f, "{mark} ")?;
        if self.kind != TaskKind::Normal {
            write!(f, "{} ", self.kind)?;
        }
        if self.inline {
            write!(f, "inline ")?;
        }
        write!(f, "task {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        match (self.state, self.age, &self.error) {
            (TaskState::Waiting, Some(age), _) => {
                write!(f, " waiting for a slot for {}", Age(age))?
            }
            (TaskState::Running, Some(age), _) => write!(f, " running for {}", Age(age))?,
            (TaskState::Failed, _, Some(TaskError::Panicked(message))) => {
                write!(f, " panicked: {message}")?;
            }
            (TaskState::Failed, _, Some(error)) => write!(f, " failed: {error}")?,
            _ => {}
        }
        write!(f, ", spawned at {}", self.location)
    }
}

/// A duration as a person reads it: `850ms`, `2.5s`, `3m 05s`, `2h 03m`.
struct Age(Duration);

impl fmt::Display for Age {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let secs = d.as_secs();
        if secs == 0 {
            write!(f, "{}ms", d.as_millis())
        } else if secs < 60 {
            let tenths = d.subsec_millis() / 100;
            if tenths == 0 {
                write!(f, "{secs}s")
            } else {
                write!(f, "{secs}.{tenths}s")
            }
        } else if secs < 3600 {
            write!(f, "{}m {:02}s", secs / 60, secs % 60)
        } else {
            write!(f, "{}h {:02}m", secs / 3600, secs % 3600 / 60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Age;
    use std::time::Duration;

    #[test]
    fn ages_read_at_a_glance() {
        let cases = [
            (Duration::ZERO, "0ms"),
            (Duration::from_millis(850), "850ms"),
            (Duration::from_secs(2), "2s"),
            (Duration::from_millis(2_560), "2.5s"),
            (Duration::from_secs(185), "3m 05s"),
            (Duration::from_secs(7_380), "2h 03m"),
        ];
        for (d, want) in cases {
            assert_eq!(Age(d).to_string(), want);
        }
    }
}
