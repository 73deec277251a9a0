//! Failure reporting: a task failed → [`decide`] → record it and name the
//! reason → fail the scope, or hand the failure to the nearest error handler.
//!
//! SPEC.md's rule: every failure of a scope's own tasks is recorded once, in
//! order (the `retain_failures` most recent are kept, all are counted); the first event that fails a scope decides its reason (so the reason
//! is always the first failure in `failures()`); a failure that does not fail
//! the scope goes to exactly one handler, the nearest in service, walking up
//! the chain of parents (a handler that panics is removed and the next one up
//! takes over). Failures never flow up as failures: a nested scope's failure
//! reaches its parent only as the error of the task or body that awaited it.

use std::panic::Location;

use super::inner::Inner;
use crate::error::{Reason, TaskError, TaskFailure};
use crate::ids::{TaskId, TaskMeta};
use crate::observe;
use crate::policy::{decide, Action, TaskKind};

impl Inner {
    /// Called when a task's future completed with a failure (before it is
    /// counted out).
    pub(super) fn task_failed(&self, id: TaskId, error: TaskError) {
        // A task reports from its last poll, before Tokio marks it finished:
        // its record cannot have been pruned.
        let meta = self.lock().records.mark_failed(id);
        debug_assert!(meta.is_some(), "task {id} reported without a record");
        let meta = meta.unwrap_or(TaskMeta {
            id,
            kind: TaskKind::Normal,
            location: Location::caller(),
            name: None,
            inline: false,
        });
        self.report(TaskFailure::new(&meta, error));
    }

    /// The one place a task failure is handled.
    fn report(&self, failure: TaskFailure) {
        let action = decide(self.policy, failure.kind());
        // Should the subscriber panic, the failure is still recorded and
        // acted on, then its panic goes on.
        let panic = observe::shielded(|| {
            observe::task_failed(
                self.id,
                self.name.as_deref(),
                &failure,
                action != Action::Report,
            );
        });
        self.record(failure, action);
        observe::resume(panic);
    }

    /// Records a failure and does what `decide` said.
    fn record(&self, failure: TaskFailure, action: Action) {
        let mut state = self.lock();
        // Recording the failure and naming the reason happen under one lock,
        // so the reason is always the first failure in `failures()`.
        state.failure_count += 1;
        if self.retain > 0 {
            if state.failures.len() == self.retain {
                state.failures.pop_front();
            }
            state.failures.push_back(failure.clone());
        }
        match action {
            Action::FailScope => self.fail_locked(state, Reason::TaskFailed(failure)),
            Action::FailScopeCritical => {
                self.fail_locked(state, Reason::CriticalTaskFailed(failure));
            }
            Action::Report => {
                drop(state);
                self.dispatch(&failure);
            }
        }
    }

    /// Hands a failure that does not fail the scope to the nearest error
    /// handler in service, this scope's or an ancestor's.
    fn dispatch(&self, failure: &TaskFailure) {
        let mut scope = Some(self);
        while let Some(inner) = scope {
            if let Some(handler) = inner.handler.as_ref().filter(|h| h.in_service()) {
                let called = handler.call(failure);
                observe::handler_called(inner.id, &inner.span, failure, !called);
                if called {
                    return;
                }
            }
            scope = inner.parent.as_deref();
        }
    }
}
