//! The reference model ([`Model`]): its state, and the driver (schedules, virtual time, ready items).

use super::*;

/// Why a scenario is not used: its outcome depends on scheduling (or it
/// would expose a known engine bug).
#[derive(Debug)]
pub(crate) struct Ambiguous(pub(crate) String);

/// How the model stops a scope (`Inner::stop_locked`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stop {
    /// Fails with this reason unless it failed before; cancels.
    Fail(RKind),
    /// Cancels without naming a reason (`Scope::shutdown`).
    Shutdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Timer {
    TaskDone(usize),
    TaskGrace(usize),
    Grace(usize),
    Timeout(usize),
    Body(usize),
    Drop(usize),
}

/// Timers with the same key may fire at the same instant in any order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    Task(usize),
    Grace(usize),
    Timeout(usize),
    Body(usize),
    Drop(usize),
}

/// Things that become ready at an instant and run in an unspecified order.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ready {
    FirstPoll(usize),
    SlotStart(usize),
    Signal(usize),
    BodyResume(usize),
    ScopeCheck(usize),
    /// The run loop of this scope, which aborted its tasks, drops its inline
    /// tasks (`model/inline.rs`).
    DropInline(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TState {
    NotSpawned,
    Refused,
    /// Spawned, not polled yet (holds a slot if the scope has a limit).
    Pending,
    /// Waiting for a `max_concurrency` slot (`has_slot` once one was sent).
    Waiting,
    Running,
    Ended,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyState {
    Running,
    Joining,
    /// Awaiting this nested scope inline.
    InNested(usize),
    Done(Outcome),
}

pub(crate) struct MScope {
    pub(crate) started: Option<u64>,
    pub(crate) fate: Fate,
    /// The token is cancelled (explicitly, by a failure, an ancestor, the timeout, a shutdown or a drop).
    pub(crate) token: bool,
    pub(crate) reason: Option<RKind>,
    /// Shut down (by its body, a task or an ancestor's shutdown), whether or not it failed.
    pub(crate) shut_down: bool,
    pub(crate) closed: bool,
    pub(crate) grace_at: Option<u64>,
    pub(crate) timeout_fired: bool,
    /// Its tasks were aborted (the engine's `Inner::is_aborted`): its inline
    /// tasks are never polled again, and are dropped by `Ready::DropInline`.
    pub(crate) aborted: bool,
    pub(crate) failures: Vec<(u64, usize, TRes)>,
    pub(crate) live: usize,
    pub(crate) free: Option<usize>,
    pub(crate) waiters: VecDeque<usize>,
    pub(crate) next_event: usize,
    pub(crate) sleeping_until: Option<u64>,
    pub(crate) body: BodyState,
    pub(crate) join: Option<Result<(), RKind>>,
}

pub(crate) struct MTask {
    pub(crate) state: TState,
    pub(crate) start: Option<u64>,
    pub(crate) end: Option<u64>,
    pub(crate) result: Option<TRes>,
    pub(crate) signal: Option<u64>,
    pub(crate) done_at: Option<u64>,
    pub(crate) grace_at: Option<u64>,
    pub(crate) has_slot: bool,
}

pub(crate) struct MHandler {
    pub(crate) calls: u32,
    pub(crate) removed: bool,
    pub(crate) delivered: Vec<usize>,
    pub(crate) panicked_on: Option<(u64, usize)>,
    /// (time, failure) of every failure that reached this handler's level.
    pub(crate) arrivals: Vec<u64>,
}

/// The order in which the model runs what is ready at one instant: schedule 0
/// is FIFO (close to Tokio's current-thread runtime), 1 LIFO, the others
/// random picks (xorshift).
pub(crate) enum Schedule {
    Fifo,
    Lifo,
    Random(u64),
}

pub(crate) struct Model<'f> {
    pub(crate) flat: &'f Flat,
    pub(crate) now: u64,
    pub(crate) timers: BTreeMap<(u64, Timer), ()>,
    pub(crate) ready: VecDeque<Ready>,
    /// The order in which same-instant ready items run.
    pub(crate) schedule: Schedule,
    pub(crate) scopes: Vec<MScope>,
    pub(crate) tasks: Vec<MTask>,
    pub(crate) handlers: Vec<MHandler>,
    /// How many scopes were shut down.
    pub(crate) shutdowns: usize,
}

pub(crate) fn outcome_result(o: Outcome) -> TRes {
    match o {
        Outcome::Ok => TRes::Ok,
        Outcome::Err => TRes::Failed,
        Outcome::Panic => TRes::Panicked,
    }
}

impl<'f> Model<'f> {
    pub(crate) fn new(flat: &'f Flat, seed: u64) -> Self {
        Model {
            flat,
            now: 0,
            timers: BTreeMap::new(),
            ready: VecDeque::new(),
            schedule: match seed {
                0 => Schedule::Fifo,
                1 => Schedule::Lifo,
                _ => Schedule::Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            },
            scopes: flat
                .scopes
                .iter()
                .map(|s| MScope {
                    started: None,
                    fate: Fate::NotStarted,
                    token: false,
                    reason: None,
                    shut_down: false,
                    closed: false,
                    grace_at: None,
                    timeout_fired: false,
                    aborted: false,
                    failures: Vec::new(),
                    live: 0,
                    free: s.max_concurrency,
                    waiters: VecDeque::new(),
                    next_event: 0,
                    sleeping_until: None,
                    body: BodyState::Running,
                    join: None,
                })
                .collect(),
            tasks: flat
                .tasks
                .iter()
                .map(|_| MTask {
                    state: TState::NotSpawned,
                    start: None,
                    end: None,
                    result: None,
                    signal: None,
                    done_at: None,
                    grace_at: None,
                    has_slot: false,
                })
                .collect(),
            handlers: flat
                .handlers
                .iter()
                .map(|_| MHandler {
                    calls: 0,
                    removed: false,
                    delivered: Vec::new(),
                    panicked_on: None,
                    arrivals: Vec::new(),
                })
                .collect(),
            shutdowns: 0,
        }
    }

    /// Predicts the scenario, or says it is timing-dependent.
    pub(crate) fn predict(flat: &Flat) -> Result<Prediction, Ambiguous> {
        let first = Model::new(flat, 0).simulate()?;
        for seed in 1..SCHEDULES {
            let other = Model::new(flat, seed).simulate()?;
            if other != first {
                return Err(Ambiguous(format!(
                    "the outcome depends on the order of same-instant events (schedule {seed})"
                )));
            }
        }
        Ok(first)
    }

    pub(crate) fn simulate(mut self) -> Result<Prediction, Ambiguous> {
        self.start_scope(0);
        self.drain();
        while let Some(at) = self.next_instant() {
            self.now = at;
            let due: Vec<Timer> = self
                .timers
                .range((at, Timer::TaskDone(0))..)
                .take_while(|((t, _), _)| *t == at)
                .map(|((_, timer), _)| *timer)
                .collect();
            let mut keys: Vec<TimerKey> = due
                .iter()
                .filter(|timer| self.timer_valid(at, **timer))
                .map(|timer| self.key(*timer))
                .collect();
            keys.sort();
            keys.dedup();
            if keys.len() > 1 {
                return Err(Ambiguous(format!(
                    "timers {keys:?} fire at the same instant {at}"
                )));
            }
            for timer in due {
                self.timers.remove(&(at, timer));
                if self.timer_valid(at, timer) {
                    self.fire(timer);
                    self.drain();
                }
            }
        }
        for (s, scope) in self.scopes.iter().enumerate() {
            assert!(
                scope.started.is_none() || scope.fate != Fate::NotStarted,
                "model bug: scope s{s} never finished"
            );
        }
        for (h, handler) in self.handlers.iter().enumerate() {
            if let Some((at, _)) = handler.panicked_on {
                if handler.arrivals.iter().filter(|&&a| a == at).count() > 1 {
                    return Err(Ambiguous(format!(
                        "handler {h} panics at {at} where several failures reach it"
                    )));
                }
            }
        }
        Ok(self.prediction())
    }

    pub(crate) fn prediction(&self) -> Prediction {
        Prediction {
            scopes: self
                .scopes
                .iter()
                .map(|s| ScopePred {
                    fate: s.fate,
                    failures: group_failures(&s.failures),
                    join: s.join,
                    shut_down: s.shut_down && s.reason.is_none(),
                })
                .collect(),
            tasks: self
                .tasks
                .iter()
                .map(|t| match t.state {
                    TState::NotSpawned => TaskFate::NotSpawned,
                    TState::Refused => TaskFate::Refused,
                    TState::Ended => TaskFate::Admitted {
                        start: t.start,
                        end: t.end.unwrap(),
                        result: t.result.unwrap(),
                    },
                    other => panic!("model bug: a task left {other:?}"),
                })
                .collect(),
            handlers: self
                .handlers
                .iter()
                .map(|h| {
                    let mut delivered = h.delivered.clone();
                    delivered.sort_unstable();
                    HandlerPred {
                        delivered,
                        panicked_on: h.panicked_on.map(|(_, t)| t),
                    }
                })
                .collect(),
            shutdowns: self.shutdowns,
            shutdowns_failed: self
                .scopes
                .iter()
                .filter(|s| s.shut_down && s.reason.is_some())
                .count(),
        }
    }

    // --- time ---

    pub(crate) fn arm(&mut self, at: u64, timer: Timer) {
        self.timers.insert((at, timer), ());
    }

    pub(crate) fn next_instant(&mut self) -> Option<u64> {
        loop {
            let (&(at, timer), _) = self.timers.iter().next()?;
            if self.timer_valid(at, timer) {
                return Some(at);
            }
            self.timers.remove(&(at, timer));
        }
    }

    pub(crate) fn key(&self, timer: Timer) -> TimerKey {
        match timer {
            Timer::TaskDone(t) => TimerKey::Task(t),
            Timer::TaskGrace(t) => TimerKey::Grace(self.flat.tasks[t].scope),
            Timer::Grace(s) => TimerKey::Grace(s),
            Timer::Timeout(s) => TimerKey::Timeout(s),
            Timer::Body(s) => TimerKey::Body(s),
            Timer::Drop(s) => TimerKey::Drop(s),
        }
    }

    /// Whether a timer is still armed and would change anything (nothing
    /// polled through an aborted inline task is: `model/inline.rs`).
    pub(crate) fn timer_valid(&self, at: u64, timer: Timer) -> bool {
        match timer {
            Timer::TaskDone(t) | Timer::TaskGrace(t) if self.stuck(t) => false,
            Timer::Grace(s) | Timer::Timeout(s) | Timer::Body(s) | Timer::Drop(s)
                if self.frozen(s) =>
            {
                false
            }
            Timer::TaskDone(t) => {
                self.tasks[t].state == TState::Running && self.tasks[t].done_at == Some(at)
            }
            Timer::TaskGrace(t) => {
                self.tasks[t].state == TState::Running && self.tasks[t].grace_at == Some(at)
            }
            Timer::Grace(s) => {
                self.alive(s) && self.scopes[s].grace_at == Some(at) && self.scopes[s].live > 0
            }
            Timer::Timeout(s) => {
                self.alive(s) && !self.scopes[s].timeout_fired && self.scopes[s].reason.is_none()
            }
            Timer::Body(s) => self.alive(s) && self.scopes[s].sleeping_until == Some(at),
            Timer::Drop(s) => self.alive(s),
        }
    }

    pub(crate) fn fire(&mut self, timer: Timer) {
        match timer {
            Timer::TaskDone(t) => match self.flat.tasks[t].behavior {
                FBehavior::Finish { outcome, .. } => self.end_task(t, outcome_result(outcome)),
                FBehavior::Spawner { child, .. } => {
                    // Spawns, then returns `Ok(())`, in one poll.
                    self.spawn(self.flat.tasks[t].scope, child);
                    self.end_task(t, TRes::Ok);
                }
                FBehavior::Canceller { .. } => {
                    // Cancels its scope and returns in the same poll: its own
                    // abort cannot stop a poll that completes.
                    self.end_task(t, TRes::Ok);
                    self.fail_scope(self.flat.tasks[t].scope, RKind::Cancelled);
                }
                // The same, with a shutdown.
                FBehavior::Shutdowner { .. } => {
                    self.end_task(t, TRes::Ok);
                    self.stop(self.flat.tasks[t].scope, Stop::Shutdown);
                }
                // Its own token reaches no one else, and does not abort it.
                FBehavior::TokenCanceller { .. } => self.end_task(t, TRes::Ok),
                _ => unreachable!(),
            },
            Timer::TaskGrace(t) => self.end_task(t, TRes::Cancelled),
            Timer::Grace(s) => self.abort_all(s),
            Timer::Timeout(s) => {
                self.scopes[s].timeout_fired = true;
                self.fail_scope(s, RKind::TimedOut);
            }
            Timer::Body(s) => self.body_step(s),
            Timer::Drop(s) => {
                self.drop_scope(s);
                match self.flat.scopes[s].holder {
                    // The task's `timeout` elapsed: it returns `Ok(())`.
                    Holder::Task(t) => self.end_task(t, TRes::Ok),
                    Holder::Body(p) => self.resume_inline(p, None),
                    Holder::Root => {}
                }
            }
        }
    }

    pub(crate) fn drain(&mut self) {
        while let Some(item) = self.pick() {
            match item {
                // Not polled: dropped by `DropInline` (`model/inline.rs`).
                Ready::FirstPoll(t) | Ready::SlotStart(t) | Ready::Signal(t) if self.stuck(t) => {}
                Ready::BodyResume(s) | Ready::ScopeCheck(s) if self.frozen(s) => {}
                Ready::DropInline(s) => self.drop_inline(s),
                Ready::FirstPoll(t) => {
                    if self.tasks[t].state == TState::Pending {
                        self.start_task(t);
                    }
                }
                Ready::SlotStart(t) => {
                    if self.tasks[t].state == TState::Waiting {
                        debug_assert!(self.tasks[t].has_slot && self.tasks[t].signal.is_none());
                        self.start_task(t);
                    }
                }
                Ready::Signal(t) => {
                    if self.tasks[t].state == TState::Running {
                        match self.flat.tasks[t].behavior {
                            FBehavior::Finish {
                                on_signal: Some(o), ..
                            }
                            | FBehavior::Spawner {
                                on_signal: Some(o), ..
                            }
                            | FBehavior::Hang { on_signal: Some(o) } => {
                                self.end_task(t, outcome_result(o))
                            }
                            _ => {}
                        }
                    }
                }
                Ready::BodyResume(s) => self.body_resume(s),
                Ready::ScopeCheck(s) => self.scope_check(s),
            }
        }
    }

    pub(crate) fn pick(&mut self) -> Option<Ready> {
        match &mut self.schedule {
            Schedule::Fifo => self.ready.pop_front(),
            Schedule::Lifo => self.ready.pop_back(),
            Schedule::Random(state) => {
                if self.ready.is_empty() {
                    return None;
                }
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                let i = (*state % self.ready.len() as u64) as usize;
                self.ready.remove(i)
            }
        }
    }
}
