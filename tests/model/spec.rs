//! The scenarios proptest generates: a tree of scopes and tasks ([`ScopeSpec`]).

use super::*;

/// One scope: its options, its body's timeline and its tasks. Times are
/// milliseconds after the scope started.
#[derive(Clone, Debug)]
pub(crate) struct ScopeSpec {
    pub(crate) policy: Policy,
    pub(crate) timeout: Option<u64>,
    pub(crate) grace: u64,
    pub(crate) max_concurrency: Option<usize>,
    pub(crate) handler: Option<HandlerSpec>,
    /// The body calls `scope.cancel()` at this time.
    pub(crate) cancel_at: Option<u64>,
    /// The body calls `scope.shutdown()` at this time.
    pub(crate) shutdown_at: Option<u64>,
    /// The scope's future is dropped at this time (the root or a task's `timeout`).
    pub(crate) drop_at: Option<u64>,
    pub(crate) end: BodyEnd,
    pub(crate) tasks: Vec<TaskSpec>,
    /// The body runs a nested scope inline (awaits it) at this time.
    pub(crate) inline: Option<InlineSpec>,
    /// The scope runs with `run_inline`: its tasks marked `inline` are
    /// spawned with `Inline::spawn*` (see `model/inline.rs`).
    pub(crate) runs_inline: bool,
}

/// A nested scope the body awaits; with `propagate`, its error becomes the body's (`?`).
#[derive(Clone, Debug)]
pub(crate) struct InlineSpec {
    pub(crate) at: u64,
    pub(crate) propagate: bool,
    pub(crate) scope: Box<ScopeSpec>,
}

/// An error handler; it panics on its n-th call (1-based) if `panics_on` says so.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HandlerSpec {
    pub(crate) panics_on: Option<u32>,
}

/// How the body ends, after it has done everything timed before then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyEnd {
    /// Returns `Ok(())` at this time.
    Ok(u64),
    /// After its last event, awaits `wait_for_completion()` then returns `Ok(())`.
    Join,
    /// Returns `Err` at this time.
    Err(u64),
    /// Panics at this time.
    Panic(u64),
}

#[derive(Clone, Debug)]
pub(crate) struct TaskSpec {
    pub(crate) kind: TaskKind,
    /// The body spawns it at this time.
    pub(crate) spawn_at: u64,
    /// The body cancels it through its handle this long after spawning it.
    pub(crate) cancel_after: Option<u64>,
    pub(crate) behavior: Behavior,
    /// Spawned as an inline task (`Inline::spawn*`), if its scope runs
    /// inline; ignored otherwise, and for a child a `Spawner` spawns.
    pub(crate) inline: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Behavior {
    /// Sleeps `after` ms, then ends with `outcome`; on its signal, ends at once
    /// with `on_signal`, or ignores the signal when that is `None`.
    Finish {
        after: u64,
        outcome: Outcome,
        on_signal: Option<Outcome>,
    },
    /// Never ends by itself; on its signal, ends with `on_signal` or ignores it.
    Hang { on_signal: Option<Outcome> },
    /// Runs a nested scope and returns its result (`Ok(())` if it was dropped).
    Nested(Box<ScopeSpec>),
    /// Sleeps `after` ms (or ends at once with `on_signal` on its signal), then
    /// spawns `child` into its own scope (found with `Scope::current()`) and
    /// returns `Ok(())`.
    Spawner {
        after: u64,
        on_signal: Option<Outcome>,
        child: Box<TaskSpec>,
    },
    /// Sleeps `after` ms ignoring its signal, then cancels its own scope
    /// (`Scope::current().cancel()`) and returns `Ok(())`.
    Canceller { after: u64 },
    /// Sleeps `after` ms ignoring its signal, then shuts its own scope down
    /// (`Scope::current().shutdown()`) and returns `Ok(())`.
    Shutdowner { after: u64 },
    /// Sleeps `after` ms ignoring its signal, then cancels its own token,
    /// yields once (an `.await` at which it is not aborted: its token is its
    /// own business) and returns `Ok(())`. Nothing else sees it.
    TokenCanceller { after: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Err,
    Panic,
}
