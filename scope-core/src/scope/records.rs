//! What a scope keeps of its tasks ([`Records`], under the scope's lock) and
//! how their ends reach it ([`EndLog`], under a lock of its own).
//!
//! A task is recorded when it is admitted and its abort handle added once it
//! is spawned, both by the spawning thread under the scope's lock. Its end
//! comes from another thread, usually a worker the spawner is contending
//! with, so while many tasks are live it does not take that lock: it is
//! pushed onto the scope's `EndLog`, a lock of its own that the spawner
//! takes only for a moment, to swap the log out, when the records take it in
//! (`Records::take_ends`): before a prune and before a snapshot, which must
//! be exact. Until then an ended task's record is still there (its failure,
//! if any, was reported before it was counted out: a failed record is marked
//! at once, `mark_failed`), and the counts of done and cancelled tasks lag
//! by the entries in the log. The last few tasks of a scope end under the
//! scope's lock (`Records::end`), which the last one takes anyway: a small
//! scope pays no log (`Inner::task_ended`).
//!
//! Both stay bounded in a long-lived scope: the records are pruned (the
//! ended ones dropped) whenever they have doubled since the last prune, so
//! they hold at most max(64, twice the tasks live at the last prune) plus
//! those spawned since; the log holds one entry per ended task whose record
//! has not been pruned yet, and never outgrows them.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::task::AbortHandle;

use crate::ids::{TaskId, TaskMeta, TaskName};
use crate::policy::TaskKind;

/// The records of a scope's tasks, in id order (ids are taken under the
/// scope's lock), ended ones pruned lazily (see `push`).
pub(super) struct Records {
    tasks: Vec<TaskRecord>,
    /// Names of the named tasks in `tasks`, in id order.
    names: Vec<(TaskId, TaskName)>,
    /// `tasks` is pruned when it reaches this length.
    prune_at: usize,
    /// The log's other buffer (`take_ends`), empty between calls.
    spare: Vec<(TaskId, End)>,
    /// Tasks that returned `Ok`, but for those still in the log.
    done: usize,
    /// Tasks that ended cancelled or aborted, but for those still in the log.
    cancelled: usize,
}

/// What the scope keeps of each task (40 bytes), for its failures, its
/// snapshot and aborting it. Named tasks' names are kept apart
/// (`Records::names`): most tasks have none.
pub(super) struct TaskRecord {
    pub(super) id: TaskId,
    /// Set just after the spawn (`set_abort`).
    pub(super) abort: Option<AbortHandle>,
    pub(super) location: &'static std::panic::Location<'static>,
    /// Nanoseconds from the scope's opening to the spawn.
    pub(super) spawned: u64,
    pub(super) kind: TaskKind,
    /// An inline task (`inline.rs`): it has no abort handle, and a snapshot marks it.
    pub(super) inline: bool,
    /// The task failed (it is reported from its last poll, before it is
    /// counted out): a snapshot leaves its record out and shows the
    /// retained failure instead.
    pub(super) failed: bool,
    /// The task was counted out (its future is gone) and its end taken in
    /// (`end`, at once or from the log): a snapshot leaves it out, and the
    /// next prune drops it.
    pub(super) ended: bool,
}

/// How a task ended, as its scope counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    /// Returned `Ok`.
    Done,
    /// Returned `Err` or panicked (already reported).
    Failed,
    /// Cancelled, aborted, or dropped before it completed.
    Cancelled,
}

/// The ends of a scope's tasks not yet taken in by its records.
pub(super) struct EndLog(Mutex<Vec<(TaskId, End)>>);

const MIN_PRUNE: usize = 64;

impl Records {
    pub(super) fn new() -> Records {
        Records {
            tasks: Vec::new(),
            names: Vec::new(),
            prune_at: MIN_PRUNE,
            spare: Vec::new(),
            done: 0,
            cancelled: 0,
        }
    }

    /// Records a new task, pruning the ended ones first when they may have
    /// grown to half of the records (`ends` is taken in first).
    pub(super) fn push(&mut self, record: TaskRecord, name: Option<&TaskName>, ends: &EndLog) {
        if self.tasks.len() >= self.prune_at {
            self.take_ends(ends);
            self.prune();
        }
        if let Some(name) = name {
            self.names.push((record.id, name.clone()));
        }
        self.tasks.push(record);
    }

    /// Drops the records of ended tasks; the next prune comes once the
    /// records have doubled again (see the module docs).
    fn prune(&mut self) {
        self.tasks.retain(|r| !r.ended);
        let tasks = &self.tasks;
        self.names
            .retain(|(id, _)| tasks.binary_search_by_key(id, |r| r.id).is_ok());
        self.prune_at = (self.tasks.len() * 2).max(MIN_PRUNE);
    }

    /// Takes in the ends logged since the last call: marks the records
    /// ended and counts them.
    pub(super) fn take_ends(&mut self, ends: &EndLog) {
        // Swapped out, so that ending tasks wait for the swap only, not for
        // the look-ups; both buffers keep their capacity.
        let mut taken = std::mem::take(&mut self.spare);
        std::mem::swap(&mut *ends.lock(), &mut taken);
        for &(id, end) in &taken {
            self.end(id, end);
        }
        taken.clear();
        self.spare = taken;
    }

    /// Marks task `id`'s record ended and counts how it ended (a task that
    /// could not be spawned has no record left: `remove`).
    pub(super) fn end(&mut self, id: TaskId, end: End) {
        match end {
            End::Done => self.done += 1,
            End::Cancelled => self.cancelled += 1,
            End::Failed => {}
        }
        if let Ok(at) = self.find(id) {
            self.tasks[at].ended = true;
        }
    }

    /// Where task `id`'s record is (`tasks` is in id order).
    ///
    /// Looked for first where it would be if the ids between it and the
    /// newest record (or the oldest) were consecutive, as they are while
    /// one scope spawns alone and since the last prune: found in one probe
    /// then, rather than by a binary search over records scattered in
    /// memory (a cache miss per step); else by binary search.
    fn find(&self, id: TaskId) -> Result<usize, usize> {
        let tasks = &self.tasks;
        let (Some(first), Some(last)) = (tasks.first(), tasks.last()) else {
            return Err(0);
        };
        let from_last = last
            .id
            .as_u64()
            .checked_sub(id.as_u64())
            .and_then(|apart| usize::try_from(apart).ok())
            .and_then(|apart| (tasks.len() - 1).checked_sub(apart));
        let from_first = id
            .as_u64()
            .checked_sub(first.id.as_u64())
            .and_then(|apart| usize::try_from(apart).ok());
        for at in [from_last, from_first].into_iter().flatten() {
            if tasks.get(at).is_some_and(|r| r.id == id) {
                return Ok(at);
            }
        }
        tasks.binary_search_by_key(&id, |r| r.id)
    }

    /// Keeps a spawned task's abort handle in its record (pushed moments
    /// ago: `find` looks from the newest first).
    pub(super) fn set_abort(&mut self, id: TaskId, abort: AbortHandle) {
        if let Ok(at) = self.find(id) {
            self.tasks[at].abort = Some(abort);
        }
    }

    /// Drops the record of a task that could not be spawned.
    pub(super) fn remove(&mut self, id: TaskId) {
        if let Ok(at) = self.find(id) {
            self.tasks.remove(at);
        }
    }

    /// The abort handles of the spawned tasks (ended ones included: aborting
    /// those does nothing).
    pub(super) fn abort_handles(&self) -> impl Iterator<Item = &AbortHandle> {
        self.tasks.iter().filter_map(|r| r.abort.as_ref())
    }

    /// The records of the tasks neither ended nor failed (but for the ends
    /// still in the log: `take_ends` first for an exact list).
    pub(super) fn running(&self) -> impl Iterator<Item = &TaskRecord> {
        self.tasks.iter().filter(|r| !r.ended && !r.failed)
    }

    /// How many tasks returned `Ok`, and how many were cancelled (but for
    /// the ends still in the log).
    pub(super) fn counts(&self) -> (usize, usize) {
        (self.done, self.cancelled)
    }

    pub(super) fn name(&self, id: TaskId) -> Option<TaskName> {
        let at = self.names.binary_search_by_key(&id, |(id, _)| *id).ok()?;
        Some(self.names[at].1.clone())
    }

    pub(super) fn meta(&self, id: TaskId) -> Option<TaskMeta> {
        let record = &self.tasks[self.find(id).ok()?];
        Some(self.meta_of(record))
    }

    /// Marks task `id` as failed (a snapshot then leaves its record out:
    /// it shows the retained failure instead); its identity.
    pub(super) fn mark_failed(&mut self, id: TaskId) -> Option<TaskMeta> {
        let at = self.find(id).ok()?;
        self.tasks[at].failed = true;
        Some(self.meta_of(&self.tasks[at]))
    }

    fn meta_of(&self, record: &TaskRecord) -> TaskMeta {
        let id = record.id;
        TaskMeta {
            id,
            kind: record.kind,
            location: record.location,
            name: self.name(id),
            inline: record.inline,
        }
    }
}

impl EndLog {
    pub(super) fn new() -> EndLog {
        EndLog(Mutex::new(Vec::new()))
    }

    /// Logs task `id`'s end, for the records to take in.
    pub(super) fn push(&self, id: TaskId, end: End) {
        self.lock().push((id, end));
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(TaskId, End)>> {
        // Only this file's code runs under the lock: poison cannot leave the
        // log inconsistent.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
