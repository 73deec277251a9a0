//! The error types: how one task ended badly ([`TaskError`]), one recorded
//! failure ([`TaskFailure`]), and why a whole scope failed ([`ScopeError`],
//! [`Reason`]). Display texts are lowercase without a trailing period.

use std::error::Error;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use crate::ids::{TaskId, TaskMeta, TaskName};
use crate::policy::TaskKind;

/// A type-erased error, the error type every task and body error converts into.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Why a task did not produce a value.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use async_scope::{Policy, Scope, TaskError};
///
/// Scope::builder()
///     .policy(Policy::Supervise)
///     .run(|scope| async move {
///         let task = scope.spawn(|_| async { Err::<(), _>("disk full") });
///         match task.await {
///             Err(TaskError::Failed(e)) => assert_eq!(e.to_string(), "disk full"),
///             other => panic!("unexpected {other:?}"),
///         }
///         Ok::<_, std::io::Error>(())
///     })
///     .await
///     .unwrap();
/// # }
/// ```
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The task returned `Err`.
    #[error("{0}")]
    Failed(Arc<dyn Error + Send + Sync + 'static>),
    /// The task panicked; the panic's message.
    #[error("panicked: {0}")]
    Panicked(String),
    /// The task was cancelled (or never started because its scope was cancelled or had ended).
    #[error("cancelled")]
    Cancelled,
}

impl TaskError {
    /// Returns `true` if the task ended by cancellation, which is not a failure.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(async_scope::TaskError::Cancelled.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }

    pub(crate) fn from_panic(payload: &(dyn std::any::Any + Send)) -> TaskError {
        TaskError::Panicked(panic_message(payload))
    }
}

/// Extracts the message of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// One failure of one task, as recorded by its scope.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use async_scope::{Policy, Scope, TaskKind};
///
/// Scope::builder()
///     .policy(Policy::Supervise)
///     .run(|scope| async move {
///         let id = scope.spawn(|_| async { Err::<(), _>("boom") }).id();
///         scope.wait_for_completion().await.unwrap();
///         let failure = &scope.errors()[0];
///         assert_eq!(failure.task(), id);
///         assert_eq!(failure.kind(), TaskKind::Normal);
///         assert_eq!(failure.error().to_string(), "boom");
///         assert!(failure.location().file().ends_with(".rs"));
///         Ok::<_, std::io::Error>(())
///     })
///     .await
///     .unwrap();
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TaskFailure {
    task: TaskId,
    kind: TaskKind,
    name: Option<TaskName>,
    error: TaskError,
    location: &'static Location<'static>,
    inline: bool,
}

impl TaskFailure {
    pub(crate) fn new(meta: &TaskMeta, error: TaskError) -> Self {
        TaskFailure {
            task: meta.id,
            kind: meta.kind,
            name: meta.name.clone(),
            error,
            location: meta.location,
            inline: meta.inline,
        }
    }

    /// Returns the task's name, if it was spawned with one
    /// ([`Scope::spawn_named`](crate::Scope::spawn_named) or [`Scope::task`](crate::Scope::task)).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use async_scope::{Policy, Scope};
    ///
    /// Scope::builder()
    ///     .policy(Policy::Supervise)
    ///     .run(|scope| async move {
    ///         scope.spawn_named("fetch", |_| async { Err::<(), _>("timeout") });
    ///         scope.wait_for_completion().await?;
    ///         let failure = &scope.errors()[0];
    ///         assert_eq!(failure.name(), Some("fetch"));
    ///         let text = failure.to_string();
    ///         assert!(text.contains(" \"fetch\" (spawned at "), "{text}");
    ///         assert!(text.ends_with("failed: timeout"), "{text}");
    ///         Ok::<_, async_scope::ScopeError>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The task's name as kept (shared, not copied, by snapshots).
    pub(crate) fn task_name(&self) -> Option<&TaskName> {
        self.name.as_ref()
    }

    /// Returns the id of the task that failed.
    ///
    /// # Examples
    ///
    /// See [`TaskFailure`].
    pub fn task(&self) -> TaskId {
        self.task
    }

    /// Returns how the task was spawned.
    ///
    /// # Examples
    ///
    /// See [`TaskFailure`].
    pub fn kind(&self) -> TaskKind {
        self.kind
    }

    /// Returns how the task failed: [`TaskError::Failed`] or [`TaskError::Panicked`].
    ///
    /// # Examples
    ///
    /// See [`TaskFailure`].
    pub fn error(&self) -> &TaskError {
        &self.error
    }

    /// Returns where the task was spawned.
    ///
    /// # Examples
    ///
    /// See [`TaskFailure`].
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// Returns `true` if the task was an inline task
    /// ([`Inline::spawn`](crate::Inline::spawn)).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = async_scope::with_scope_inline(|_scope, inline| async move {
    ///     inline.spawn(|_| async { Err::<(), _>("refused") });
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await
    /// .unwrap_err();
    /// assert!(err.failures()[0].is_inline());
    /// # }
    /// ```
    pub fn is_inline(&self) -> bool {
        self.inline
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            TaskKind::Normal => "",
            TaskKind::Critical => "critical ",
            TaskKind::Optional => "optional ",
        };
        let verb = match self.error {
            TaskError::Panicked(_) => "",
            _ => "failed: ",
        };
        write!(f, "{kind}task {}", self.task)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        write!(f, " (spawned at {}) {verb}{}", self.location, self.error)
    }
}

impl Error for TaskFailure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.error {
            TaskError::Failed(e) => Some(&**e),
            _ => None,
        }
    }
}

/// Why a scope failed. The first event that fails a scope decides it.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use async_scope::{with_scope, Reason};
///
/// let err = with_scope(|scope| async move {
///     scope.cancel();
///     Ok::<_, std::io::Error>(())
/// })
/// .await
/// .unwrap_err();
/// assert!(matches!(err.reason(), Reason::Cancelled));
/// # }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Reason {
    /// A [`Normal`](TaskKind::Normal) task failed under policy [`Cancel`](crate::Policy::Cancel).
    TaskFailed(TaskFailure),
    /// A [`Critical`](TaskKind::Critical) task failed, under either policy.
    CriticalTaskFailed(TaskFailure),
    /// The body returned `Err`.
    BodyFailed(Arc<dyn Error + Send + Sync + 'static>),
    /// [`Scope::cancel`](crate::Scope::cancel) was called, an ancestor was cancelled, or the scope's future was dropped.
    Cancelled,
    /// The builder's [`timeout`](crate::ScopeBuilder::timeout) elapsed.
    TimedOut,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::TaskFailed(failure) | Reason::CriticalTaskFailed(failure) => {
                fmt::Display::fmt(failure, f)
            }
            Reason::BodyFailed(e) => write!(f, "the body failed: {e}"),
            Reason::Cancelled => f.write_str("cancelled"),
            Reason::TimedOut => f.write_str("timed out"),
        }
    }
}

/// The error of a scope that failed: its [`Reason`] and every failure it collected.
///
/// Its `Display` names the reason, the scope's name and the first failure, for
/// example ``scope `checkout` failed: critical task 7 (spawned at src/main.rs:12:11) failed: card declined``.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use async_scope::{Reason, Scope};
///
/// let err = Scope::builder()
///     .name("checkout")
///     .run(|scope| async move {
///         scope.spawn(|_| async { Err::<(), _>("card declined") });
///         Ok::<_, std::io::Error>(())
///     })
///     .await
///     .unwrap_err();
/// assert!(matches!(err.reason(), Reason::TaskFailed(_)));
/// assert_eq!(err.failures().len(), 1);
/// assert!(err.to_string().starts_with("scope `checkout` failed: task "));
/// assert!(err.to_string().ends_with("failed: card declined"));
/// # }
/// ```
#[derive(Debug)]
pub struct ScopeError {
    reason: Reason,
    failures: Vec<TaskFailure>,
    scope_name: Option<Arc<str>>,
}

impl ScopeError {
    pub(crate) fn new(
        reason: Reason,
        failures: Vec<TaskFailure>,
        scope_name: Option<Arc<str>>,
    ) -> Self {
        ScopeError {
            reason,
            failures,
            scope_name,
        }
    }

    /// Returns why the scope failed.
    ///
    /// # Examples
    ///
    /// See [`ScopeError`].
    pub fn reason(&self) -> &Reason {
        &self.reason
    }

    /// Returns every failure the scope collected, in the order they happened.
    ///
    /// This includes supervised and optional failures, and failures that came
    /// after the one that failed the scope.
    ///
    /// # Examples
    ///
    /// See [`ScopeError`].
    pub fn failures(&self) -> &[TaskFailure] {
        &self.failures
    }

    /// Returns the scope's name, if the builder gave it one.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = async_scope::Scope::builder()
    ///     .name("import")
    ///     .run(|_| async { Err::<(), _>("bad row") })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.scope_name(), Some("import"));
    /// assert_eq!(err.to_string(), "scope `import` failed: the body failed: bad row");
    /// # }
    /// ```
    pub fn scope_name(&self) -> Option<&str> {
        self.scope_name.as_deref()
    }

    /// Returns `true` if the scope failed because it was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = async_scope::with_scope(|scope| async move {
    ///     scope.cancel();
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await
    /// .unwrap_err();
    /// assert!(err.is_cancelled());
    /// # }
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.reason, Reason::Cancelled)
    }
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scope_name {
            Some(name) => write!(f, "scope `{name}` ")?,
            None => f.write_str("scope ")?,
        }
        match &self.reason {
            Reason::Cancelled => f.write_str("was cancelled")?,
            Reason::TimedOut => f.write_str("timed out")?,
            reason => write!(f, "failed: {reason}")?,
        }
        // The reason already names the first failure when a task failed.
        let first_other = match &self.reason {
            Reason::TaskFailed(_) | Reason::CriticalTaskFailed(_) => None,
            _ => self.failures.first(),
        };
        if let Some(first) = first_other {
            write!(f, " (first failure: {first})")?;
        }
        Ok(())
    }
}

impl Error for ScopeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.reason {
            Reason::TaskFailed(failure) | Reason::CriticalTaskFailed(failure) => Some(failure),
            Reason::BodyFailed(e) => Some(&**e),
            Reason::Cancelled | Reason::TimedOut => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_static<T: Send + Sync + 'static>() {}

    #[test]
    fn errors_are_send_sync_static() {
        assert_send_sync_static::<ScopeError>();
        assert_send_sync_static::<TaskError>();
        assert_send_sync_static::<TaskFailure>();
        assert_send_sync_static::<Reason>();
    }

    #[test]
    fn panic_messages() {
        let s: Box<dyn std::any::Any + Send> = Box::new("static");
        assert_eq!(panic_message(&*s), "static");
        let s: Box<dyn std::any::Any + Send> = Box::new(String::from("owned"));
        assert_eq!(panic_message(&*s), "owned");
        let s: Box<dyn std::any::Any + Send> = Box::new(42_u8);
        assert_eq!(panic_message(&*s), "a panic with a non-string payload");
    }
}
