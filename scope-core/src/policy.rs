//! Failure policies and task kinds, and the policy decision itself: one pure
//! function ([`decide`]) from policy × task kind to what the scope does when a
//! task fails. Every rule of SPEC.md's table that concerns a task's failure is
//! decided here and nowhere else; the scope only carries it out
//! (`scope/failure.rs`). Tasks that succeed or are cancelled need no decision:
//! success is returned to the handle, and cancellation is never a failure.

use std::fmt;
use std::str::FromStr;

/// How a scope reacts when one of its [`Normal`](TaskKind::Normal) tasks fails.
///
/// Critical and optional tasks ignore the policy: a critical failure always
/// fails the scope, an optional failure never does.
///
/// # Examples
///
/// ```
/// use async_scope::Policy;
///
/// assert_eq!(Policy::default(), Policy::Cancel);
/// assert_eq!("supervise".parse::<Policy>(), Ok(Policy::Supervise));
/// assert!("supervize".parse::<Policy>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// The first failure cancels every sibling and fails the scope.
    #[default]
    Cancel,
    /// Siblings go on; failures are recorded and sent to the nearest error handler.
    Supervise,
}

impl Policy {
    /// Returns the policy's name as the macros spell it: `"cancel"` or `"supervise"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(async_scope::Policy::Supervise.as_str(), "supervise");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Policy::Cancel => "cancel",
            Policy::Supervise => "supervise",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Policy`] from a string.
///
/// # Examples
///
/// ```
/// let err = "panic".parse::<async_scope::Policy>().unwrap_err();
/// assert_eq!(err.to_string(), "unknown policy `panic`, expected `cancel` or `supervise`");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy `{0}`, expected `cancel` or `supervise`")]
pub struct ParsePolicyError(String);

impl FromStr for Policy {
    type Err = ParsePolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cancel" => Ok(Policy::Cancel),
            "supervise" => Ok(Policy::Supervise),
            other => Err(ParsePolicyError(other.to_owned())),
        }
    }
}

/// What a task's failure means to its scope.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use async_scope::{with_scope, TaskKind};
///
/// with_scope(|scope| async move {
///     let failure = scope.spawn_optional(|_| async { Err::<(), _>("metrics down") });
///     assert_eq!(failure.await, None);
///     assert_eq!(scope.errors()[0].kind(), TaskKind::Optional);
///     Ok::<_, std::io::Error>(())
/// })
/// .await
/// .unwrap();
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskKind {
    /// Started with [`Scope::spawn`](crate::Scope::spawn): its failure is handled by the scope's policy.
    Normal,
    /// Started with [`Scope::spawn_critical`](crate::Scope::spawn_critical): its failure always fails the scope.
    Critical,
    /// Started with [`Scope::spawn_optional`](crate::Scope::spawn_optional): its failure never fails the scope.
    Optional,
}

impl TaskKind {
    /// Returns the kind's name as the `scope!` macro spells it: `"normal"`, `"critical"` or `"optional"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(async_scope::TaskKind::Critical.as_str(), "critical");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskKind::Normal => "normal",
            TaskKind::Critical => "critical",
            TaskKind::Optional => "optional",
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the scope does with a task's failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Record the failure, fail the scope with `Reason::TaskFailed` and cancel it.
    FailScope,
    /// Record the failure, fail the scope with `Reason::CriticalTaskFailed` and cancel it.
    FailScopeCritical,
    /// Record the failure and hand it to the nearest error handler; the scope goes on.
    Report,
}

/// Decides what a task's failure (an `Err` or a panic) means for its scope.
pub(crate) fn decide(policy: Policy, kind: TaskKind) -> Action {
    match (kind, policy) {
        (TaskKind::Critical, _) => Action::FailScopeCritical,
        (TaskKind::Optional, _) => Action::Report,
        (TaskKind::Normal, Policy::Cancel) => Action::FailScope,
        (TaskKind::Normal, Policy::Supervise) => Action::Report,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_table() {
        use Action::*;
        use Policy::*;
        use TaskKind::*;
        let table = [
            (Cancel, Normal, FailScope),
            (Cancel, Critical, FailScopeCritical),
            (Cancel, Optional, Report),
            (Supervise, Normal, Report),
            (Supervise, Critical, FailScopeCritical),
            (Supervise, Optional, Report),
        ];
        for (policy, kind, expected) in table {
            assert_eq!(decide(policy, kind), expected, "{policy:?} {kind:?}");
        }
    }
}
