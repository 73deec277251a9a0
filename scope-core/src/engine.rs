//! The policy decision: one pure function from policy × task kind to what
//! the scope does when a task fails. Every rule of SPEC.md's table that
//! concerns a task's failure is decided here and nowhere else; the runtime
//! only carries it out (`Inner::report`). Tasks that succeed or are cancelled
//! need no decision: success is returned to the handle, and cancellation is
//! never a failure.

use crate::policy::{Policy, TaskKind};

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
