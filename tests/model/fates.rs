//! Predictions (what the model says) and observations (what the engine did) share these types.

/// How a task ended, or what its handle said.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TRes {
    Ok,
    Failed,
    Panicked,
    Cancelled,
}

/// A reason, with the failing task's id for task failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RKind {
    TaskFailed(usize),
    Critical(usize),
    BodyFailed,
    Cancelled,
    TimedOut,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScopeResult {
    Ok,
    Err(RKind),
    Panic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    NotStarted,
    Ended { at: u64, result: ScopeResult },
    Dropped { at: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskFate {
    NotSpawned,
    /// Spawned after its scope closed: closure never called, handle `Cancelled`.
    Refused,
    /// Admitted; `start` is when its closure was called (never, if aborted first).
    Admitted {
        start: Option<u64>,
        end: u64,
        result: TRes,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScopePred {
    pub(crate) fate: Fate,
    /// Failures grouped by the instant they happened; each group sorted.
    pub(crate) failures: Vec<Vec<(usize, TRes)>>,
    pub(crate) join: Option<Result<(), RKind>>,
    /// Shut down and not failed (`ScopeState::ShuttingDown` in a snapshot);
    /// compared for scopes that ended.
    pub(crate) shut_down: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HandlerPred {
    pub(crate) delivered: Vec<usize>,
    pub(crate) panicked_on: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Prediction {
    pub(crate) scopes: Vec<ScopePred>,
    pub(crate) tasks: Vec<TaskFate>,
    pub(crate) handlers: Vec<HandlerPred>,
    /// How many scopes a shutdown reached (figures only, not compared).
    pub(crate) shutdowns: usize,
    /// How many of them failed afterwards (figures only, not compared).
    pub(crate) shutdowns_failed: usize,
}
