//! A scope's [`ScopeSnapshot`], taken from its state: its live and failed
//! tasks, and its open nested scopes, each drawn under the task that runs it.
//!
//! The recursion down nested scopes stops at [`ScopeSnapshot::MAX_DEPTH`]
//! levels; the open scopes below are counted with a loop (`count_open`), so
//! that a chain of 100,000 nested scopes is snapshotted in linear time and a
//! bounded stack (SPEC.md "depth").

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::inner::{Inner, OpenedIn, State};
use crate::snapshot::{ScopeSnapshot, ScopeState, TaskSnapshot, TaskState};

impl Inner {
    /// The scope's snapshot at `now`, nested scopes included down to
    /// [`ScopeSnapshot::MAX_DEPTH`] levels below it.
    pub(super) fn snapshot(&self, now: Instant) -> ScopeSnapshot {
        self.snapshot_at(now, 0)
    }

    /// The snapshot of a scope `depth` levels below the one asked for: the
    /// recursion stops at the depth limit, and the scopes below are counted.
    fn snapshot_at(&self, now: Instant, depth: usize) -> ScopeSnapshot {
        let mut waiting = self.slots.as_ref().map(|s| s.waiting()).unwrap_or_default();
        waiting.sort_unstable();
        let mut state = self.lock();
        // Exact as of now: the ends logged since are taken in.
        state.records.take_ends(&self.ends);
        let mut open = open_children(&state);
        // The Tokio task each spawned task runs as, if a nested scope was
        // opened in one: it is drawn under that task (a map, so that a server
        // scope's thousands of request scopes are placed in linear time; not
        // built at all for a scope without them, which is the usual case).
        let need_runners = open
            .iter()
            .any(|child| matches!(child.opened_in, OpenedIn::Tokio(_)));
        let mut runners = HashMap::new();
        // A task that failed is reported from its last poll, before it is
        // counted out: list it once, as failed (if its failure is still
        // retained).
        let mut tasks: Vec<TaskSnapshot> = state
            .records
            .running()
            .map(|record| {
                if let Some(abort) = record.abort.as_ref().filter(|_| need_runners) {
                    runners.insert(abort.id(), record.id);
                }
                TaskSnapshot {
                    id: record.id,
                    name: state.records.name(record.id),
                    kind: record.kind,
                    state: if waiting.binary_search(&record.id).is_ok() {
                        TaskState::Waiting
                    } else {
                        TaskState::Running
                    },
                    location: record.location,
                    age: Some(Duration::from_nanos(
                        self.since_opened(now).saturating_sub(record.spawned),
                    )),
                    error: None,
                    scopes: Vec::new(),
                    inline: record.inline,
                }
            })
            .collect();
        tasks.extend(state.failures.iter().map(|failure| TaskSnapshot {
            id: failure.task(),
            name: failure.task_name().cloned(),
            kind: failure.kind(),
            state: TaskState::Failed,
            location: failure.location(),
            age: None,
            error: Some(failure.error().clone()),
            scopes: Vec::new(),
            inline: failure.is_inline(),
        }));
        tasks.sort_by_key(|task| task.id);
        let scope_state = if state.reason.is_none() && state.shut_down {
            ScopeState::ShuttingDown
        } else if state.reason.is_some() || self.token.is_cancelled() {
            ScopeState::Cancelled
        } else if !state.accepting || self.body_ended.load(Ordering::Acquire) {
            ScopeState::Closing
        } else {
            ScopeState::Running
        };
        let reason = state.reason.clone();
        let (done, cancelled) = state.records.counts();
        drop(state);
        // In the order they were opened (ids grow with each opening).
        open.sort_unstable_by_key(|child| child.id);
        // A nested scope goes under the task that runs it, if it is one of
        // ours; else (opened by the body) under the scope itself.
        let mut scopes = Vec::new();
        let mut elided = 0;
        if depth + 1 >= ScopeSnapshot::MAX_DEPTH {
            elided = count_open(open);
        } else {
            for child in open {
                let snapshot = child.snapshot_at(now, depth + 1);
                let runner = match child.opened_in {
                    OpenedIn::Inline(id) => Some(id),
                    OpenedIn::Tokio(tokio_id) => runners.get(&tokio_id).copied(),
                    OpenedIn::Nowhere => None,
                }
                .and_then(|id| {
                    // `tasks` is in id order.
                    let at = tasks.binary_search_by_key(&id, |task| task.id).ok()?;
                    Some(&mut tasks[at])
                });
                match runner {
                    Some(task) => task.scopes.push(snapshot),
                    None => scopes.push(snapshot),
                }
            }
        }
        ScopeSnapshot {
            id: self.id,
            name: self.name.clone(),
            policy: self.policy,
            state: scope_state,
            reason,
            age: now.saturating_duration_since(self.opened),
            tasks,
            done,
            cancelled,
            scopes,
            elided,
        }
    }
}

/// How many open scopes `scopes` and every scope nested in them are.
fn count_open(scopes: Vec<Arc<Inner>>) -> usize {
    let mut count = 0;
    let mut stack = scopes;
    while let Some(scope) = stack.pop() {
        count += 1;
        let open = open_children(&scope.lock());
        stack.extend(open);
    }
    count
}

/// The nested scopes of a scope that are still open, in no particular order.
fn open_children(state: &State) -> Vec<Arc<Inner>> {
    state
        .children
        .iter()
        .filter_map(Weak::upgrade)
        .filter(|child| !child.ended.load(Ordering::Acquire))
        .collect()
}
