//! Ids: [`TaskId`], [`ScopeId`], [`TaskName`], and a task's identity card
//! (`TaskMeta`). Depends on nothing of the crate but [`TaskKind`], so that
//! every other file can name tasks and scopes without depending on the code
//! that owns them.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::policy::TaskKind;

/// A task's id, unique in the process. Ids grow in spawn order.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// async_scope::with_scope(|scope| async move {
///     let a = scope.spawn(|_| async { Ok::<_, std::io::Error>(()) });
///     let b = scope.spawn(|_| async { Ok::<_, std::io::Error>(()) });
///     assert!(a.id() < b.id());
///     assert_eq!(a.id().to_string(), a.id().as_u64().to_string());
///     Ok::<_, std::io::Error>(())
/// })
/// .await
/// .unwrap();
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(u64);

impl TaskId {
    pub(crate) fn next() -> TaskId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TaskId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// Returns the id as a number.
    ///
    /// # Examples
    ///
    /// See [`TaskId`].
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A scope's id, unique in the process; shown in snapshots, tracing and
/// `ASYNC_SCOPE_DEBUG` lines. Ids grow in the order scopes are opened.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// async_scope::with_scope(|outer| async move {
///     async_scope::with_scope(|inner| async move {
///         assert!(outer.id() < inner.id());
///         assert_eq!(inner.id().to_string(), inner.id().as_u64().to_string());
///         Ok::<_, std::io::Error>(())
///     })
///     .await
/// })
/// .await
/// .unwrap();
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeId(u64);

impl ScopeId {
    pub(crate) fn next() -> ScopeId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ScopeId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// Returns the id as a number.
    ///
    /// # Examples
    ///
    /// See [`ScopeId`].
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ScopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What a task's scope knows of it, to report it: in a failure, in a
/// snapshot, in tracing. Built from the scope's records (`TaskRecord`, and
/// `State::names`) when needed, never kept in the task, whose future stays
/// small.
pub(crate) struct TaskMeta {
    pub(crate) id: TaskId,
    pub(crate) kind: TaskKind,
    pub(crate) location: &'static Location<'static>,
    pub(crate) name: Option<TaskName>,
    /// An inline task (`Inline::spawn`).
    pub(crate) inline: bool,
}

/// A task's name (see [`Scope::spawn_named`](crate::Scope::spawn_named) and
/// [`TaskBuilder::name`](crate::TaskBuilder::name)): a `&'static str` is kept
/// as it is, at no cost; any other name is kept once, shared by every copy
/// (the task's record, its failure, snapshots).
///
/// # Examples
///
/// ```
/// use async_scope::TaskName;
///
/// let fixed = TaskName::from("accept"); // no allocation
/// let made = TaskName::from(format!("conn {}", 7));
/// assert_eq!(&*fixed, "accept");
/// assert_eq!(made.to_string(), "conn 7");
/// ```
#[derive(Clone)]
pub struct TaskName(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Deref for TaskName {
    type Target = str;

    fn deref(&self) -> &str {
        match &self.0 {
            Repr::Static(name) => name,
            Repr::Shared(name) => name,
        }
    }
}

impl From<&'static str> for TaskName {
    fn from(name: &'static str) -> Self {
        TaskName(Repr::Static(name))
    }
}

impl From<String> for TaskName {
    fn from(name: String) -> Self {
        TaskName(Repr::Shared(Arc::from(name)))
    }
}

impl From<Arc<str>> for TaskName {
    fn from(name: Arc<str>) -> Self {
        TaskName(Repr::Shared(name))
    }
}

impl From<Box<str>> for TaskName {
    fn from(name: Box<str>) -> Self {
        TaskName(Repr::Shared(Arc::from(name)))
    }
}

impl From<Cow<'static, str>> for TaskName {
    fn from(name: Cow<'static, str>) -> Self {
        match name {
            Cow::Borrowed(name) => name.into(),
            Cow::Owned(name) => name.into(),
        }
    }
}

impl fmt::Display for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl fmt::Debug for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
