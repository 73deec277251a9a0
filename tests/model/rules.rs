//! The reference model's rules: scopes (start, body, end, stop, drop, handlers) and tasks (spawn, cancel, start, end, slots).

use super::*;

impl Model<'_> {
    // --- scopes ---

    pub(crate) fn alive(&self, s: usize) -> bool {
        self.scopes[s].started.is_some() && self.scopes[s].fate == Fate::NotStarted
    }

    pub(crate) fn start_scope(&mut self, s: usize) {
        let spec = &self.flat.scopes[s];
        self.scopes[s].started = Some(self.now);
        if let Some(parent) = spec.parent {
            let p = &self.scopes[parent];
            if p.token && p.reason.is_none() && p.shut_down {
                // Opened in a scope that was shut down (and has not failed):
                // SPEC.md "Nested scopes are shut down too, and end `Ok`".
                self.stop(s, Stop::Shutdown);
            } else if p.token {
                // Born cancelled: its token is a child of a cancelled one.
                self.stop(s, Stop::Fail(RKind::Cancelled));
            }
        }
        if let Some(after) = spec.timeout {
            self.arm(self.now + after, Timer::Timeout(s));
        }
        if let Some(after) = spec.drop_at {
            self.arm(self.now + after, Timer::Drop(s));
        }
        self.body_step(s);
    }

    pub(crate) fn body_step(&mut self, s: usize) {
        let start = self.scopes[s].started.unwrap();
        self.scopes[s].sleeping_until = None;
        while self.alive(s) && self.scopes[s].body == BodyState::Running {
            let (at, ev) = self.flat.scopes[s].events[self.scopes[s].next_event];
            if start + at > self.now {
                self.scopes[s].sleeping_until = Some(start + at);
                self.arm(start + at, Timer::Body(s));
                return;
            }
            self.scopes[s].next_event += 1;
            match ev {
                Ev::Spawn(t) => self.spawn(s, t),
                Ev::CancelTask(t) => self.cancel_task(t),
                Ev::CancelScope => self.fail_scope(s, RKind::Cancelled),
                Ev::ShutdownScope => self.stop(s, Stop::Shutdown),
                Ev::End(o) => {
                    match o {
                        Outcome::Ok => {}
                        Outcome::Err => self.fail_scope(s, RKind::BodyFailed),
                        Outcome::Panic => self.fail_scope(s, RKind::Cancelled),
                    }
                    self.scopes[s].body = BodyState::Done(o);
                    self.scope_check(s);
                }
                Ev::Inline(n, _) => {
                    self.scopes[s].body = BodyState::InNested(n);
                    self.start_scope(n);
                    // Ended at once or not, `resume_inline` continues the body.
                    return;
                }
                Ev::Join => {
                    // `wait_for_completion` returns without yielding when no task is left.
                    self.scopes[s].body = BodyState::Joining;
                    if self.scopes[s].live == 0 {
                        self.body_resume(s);
                    }
                }
            }
        }
    }

    /// The inline nested scope `n` of `p`'s body ended (`Some`) or was dropped.
    pub(crate) fn resume_inline(&mut self, p: usize, result: Option<ScopeResult>) {
        if !self.alive(p) {
            return;
        }
        let BodyState::InNested(n) = self.scopes[p].body else {
            unreachable!("model bug: resuming a body that is not awaiting")
        };
        let propagate = self.flat.scopes[p]
            .events
            .iter()
            .any(|e| e.1 == Ev::Inline(n, true));
        match result {
            Some(ScopeResult::Panic) => {
                self.fail_scope(p, RKind::Cancelled);
                self.scopes[p].body = BodyState::Done(Outcome::Panic);
                self.scope_check(p);
            }
            Some(ScopeResult::Err(_)) if propagate => {
                self.fail_scope(p, RKind::BodyFailed);
                self.scopes[p].body = BodyState::Done(Outcome::Err);
                self.scope_check(p);
            }
            _ => {
                self.scopes[p].body = BodyState::Running;
                self.body_step(p);
            }
        }
    }

    /// The body's `wait_for_completion` returns once no task is left.
    pub(crate) fn body_resume(&mut self, s: usize) {
        let scope = &self.scopes[s];
        if self.alive(s) && scope.body == BodyState::Joining && scope.live == 0 {
            self.scopes[s].join = Some(self.scopes[s].reason.map_or(Ok(()), Err));
            self.scopes[s].body = BodyState::Done(Outcome::Ok);
            self.scope_check(s);
        }
    }

    pub(crate) fn scope_check(&mut self, s: usize) {
        if !self.alive(s) || self.scopes[s].live > 0 {
            return;
        }
        let BodyState::Done(out) = self.scopes[s].body else {
            return;
        };
        let reason = self.scopes[s].reason;
        let result = match out {
            Outcome::Ok => reason.map_or(ScopeResult::Ok, ScopeResult::Err),
            Outcome::Err => ScopeResult::Err(reason.expect("a body error fails the scope")),
            Outcome::Panic => ScopeResult::Panic,
        };
        self.scopes[s].fate = Fate::Ended {
            at: self.now,
            result,
        };
        self.scopes[s].closed = true;
        match self.flat.scopes[s].holder {
            Holder::Task(t) => {
                let r = match result {
                    ScopeResult::Ok => TRes::Ok,
                    ScopeResult::Err(_) => TRes::Failed,
                    ScopeResult::Panic => TRes::Panicked,
                };
                self.end_task(t, r);
            }
            Holder::Body(p) => self.resume_inline(p, Some(result)),
            Holder::Root => {}
        }
    }

    /// `Inner::fail`: the first reason wins; cancel; abort at once without grace.
    pub(crate) fn fail_scope(&mut self, s: usize, reason: RKind) {
        self.stop(s, Stop::Fail(reason));
    }

    /// Stops scope `s` (fails it, or shuts it down), then every alive scope
    /// nested in it (a failure reaches them as `Cancelled`, a shutdown as a
    /// shutdown) unless `s` was stopped that way before.
    ///
    /// - A failure: the first reason wins. A token cancelled before by a
    ///   shutdown does not make it `Cancelled` (no reason was named then).
    /// - A shutdown: nothing new if `s` already failed or was shut down;
    ///   else `s` is shut down: no reason, but its token is cancelled (tasks
    ///   signalled, aborted after the grace period) and spawns refused.
    pub(crate) fn stop(&mut self, s: usize, stop: Stop) {
        let scope = &mut self.scopes[s];
        scope.closed = true;
        let first = match stop {
            _ if scope.reason.is_some() => false,
            Stop::Shutdown if scope.shut_down => false,
            Stop::Shutdown => {
                scope.shut_down = true;
                self.shutdowns += 1;
                true
            }
            Stop::Fail(reason) => {
                // Cannot happen here (no scenario cancels a signal by hand),
                // kept as the rule: a token cancelled before without a
                // shutdown was a cancel.
                let by_hand = scope.token && !scope.shut_down;
                scope.reason = Some(if by_hand { RKind::Cancelled } else { reason });
                true
            }
        };
        self.cancel_token(s);
        if first {
            let below = match stop {
                Stop::Fail(_) => Stop::Fail(RKind::Cancelled),
                Stop::Shutdown => Stop::Shutdown,
            };
            for &n in &self.flat.scopes[s].children {
                if self.alive(n) {
                    self.stop(n, below);
                }
            }
        }
    }

    /// The scope's token is cancelled (once; by `stop`): with no grace period
    /// its tasks are aborted at once, else signalled, and aborted when the
    /// grace period after this first cancellation ends.
    pub(crate) fn cancel_token(&mut self, s: usize) {
        if self.scopes[s].token {
            return;
        }
        self.scopes[s].token = true;
        self.scopes[s].closed = true;
        let grace = self.flat.scopes[s].grace;
        if grace == 0 {
            self.abort_all(s);
        } else {
            self.scopes[s].grace_at = Some(self.now + grace);
            self.arm(self.now + grace, Timer::Grace(s));
            for &t in &self.flat.scopes[s].tasks {
                self.signal_task(t);
            }
        }
    }

    /// Aborts the scope's tasks: spawned ones at once, inline ones when its
    /// run loop next runs (`Ready::DropInline`, `model/inline.rs`).
    pub(crate) fn abort_all(&mut self, s: usize) {
        self.scopes[s].closed = true;
        self.scopes[s].aborted = true;
        let mut inline = false;
        for &t in &self.flat.scopes[s].tasks {
            if matches!(
                self.tasks[t].state,
                TState::Pending | TState::Waiting | TState::Running
            ) {
                if self.flat.tasks[t].inline {
                    inline = true;
                } else {
                    self.end_task(t, TRes::Cancelled);
                }
            }
        }
        if inline {
            self.ready.push_back(Ready::DropInline(s));
        }
    }

    /// The scope's future is dropped: every task is aborted at once, and a
    /// nested scope its body awaits is dropped with the body.
    pub(crate) fn drop_scope(&mut self, s: usize) {
        self.scopes[s].fate = Fate::Dropped { at: self.now };
        self.scopes[s].closed = true;
        self.scopes[s].aborted = true;
        self.scopes[s].token = true;
        for &t in &self.flat.scopes[s].tasks {
            if matches!(
                self.tasks[t].state,
                TState::Pending | TState::Waiting | TState::Running
            ) {
                self.end_task(t, TRes::Cancelled);
            }
        }
        for &n in &self.flat.scopes[s].children {
            if self.alive(n) {
                self.drop_scope(n);
            }
        }
    }

    /// Hands a failure that does not fail its scope to the nearest handler.
    pub(crate) fn dispatch(&mut self, s: usize, t: usize) {
        let mut scope = Some(s);
        while let Some(x) = scope {
            if let Some(h) = self.flat.scopes[x].handler {
                let handler = &mut self.handlers[h];
                handler.arrivals.push(self.now);
                if !handler.removed {
                    handler.calls += 1;
                    if self.flat.handlers[h].panics_on == Some(handler.calls) {
                        handler.removed = true;
                        handler.panicked_on = Some((self.now, t));
                    } else {
                        handler.delivered.push(t);
                        return;
                    }
                }
            }
            scope = self.flat.scopes[x].parent;
        }
    }

    // --- tasks ---

    pub(crate) fn spawn(&mut self, s: usize, t: usize) {
        let scope = &mut self.scopes[s];
        if scope.closed || scope.token {
            self.tasks[t].state = TState::Refused;
            return;
        }
        scope.live += 1;
        match &mut scope.free {
            None => self.tasks[t].state = TState::Pending,
            Some(0) => {
                self.tasks[t].state = TState::Waiting;
                scope.waiters.push_back(t);
            }
            Some(free) => {
                *free -= 1;
                self.tasks[t].has_slot = true;
                self.tasks[t].state = TState::Pending;
            }
        }
        if self.tasks[t].state == TState::Pending {
            self.ready.push_back(Ready::FirstPoll(t));
        }
    }

    pub(crate) fn cancel_task(&mut self, t: usize) {
        if !matches!(
            self.tasks[t].state,
            TState::Pending | TState::Waiting | TState::Running
        ) {
            return;
        }
        if self.flat.scopes[self.flat.tasks[t].scope].grace == 0 {
            self.end_task(t, TRes::Cancelled);
        } else {
            self.signal_task(t);
        }
    }

    /// The task's own token is cancelled (only with a grace period).
    pub(crate) fn signal_task(&mut self, t: usize) {
        let task = &mut self.tasks[t];
        if task.signal.is_some() {
            return;
        }
        let grace = self.flat.scopes[self.flat.tasks[t].scope].grace;
        match task.state {
            TState::Waiting => {
                task.signal = Some(self.now);
                self.end_task(t, TRes::Cancelled);
            }
            TState::Pending | TState::Running => {
                task.signal = Some(self.now);
                task.grace_at = Some(self.now + grace);
                let running = task.state == TState::Running;
                self.arm(self.now + grace, Timer::TaskGrace(t));
                if running {
                    self.ready.push_back(Ready::Signal(t));
                }
            }
            _ => {}
        }
    }

    /// First poll with a slot: the closure is called.
    pub(crate) fn start_task(&mut self, t: usize) {
        self.tasks[t].state = TState::Running;
        self.tasks[t].start = Some(self.now);
        let signalled = self.tasks[t].signal.is_some();
        match self.flat.tasks[t].behavior {
            FBehavior::Finish {
                after, on_signal, ..
            } => match on_signal {
                Some(o) if signalled => self.end_task(t, outcome_result(o)),
                _ => {
                    self.tasks[t].done_at = Some(self.now + after);
                    self.arm(self.now + after, Timer::TaskDone(t));
                }
            },
            FBehavior::Hang { on_signal } => {
                if let (Some(o), true) = (on_signal, signalled) {
                    self.end_task(t, outcome_result(o));
                }
            }
            FBehavior::Nested(n) => self.start_scope(n),
            FBehavior::Spawner {
                after, on_signal, ..
            } => match on_signal {
                Some(o) if signalled => self.end_task(t, outcome_result(o)),
                _ => {
                    self.tasks[t].done_at = Some(self.now + after);
                    self.arm(self.now + after, Timer::TaskDone(t));
                }
            },
            FBehavior::Canceller { after }
            | FBehavior::Shutdowner { after }
            | FBehavior::TokenCanceller { after } => {
                self.tasks[t].done_at = Some(self.now + after);
                self.arm(self.now + after, Timer::TaskDone(t));
            }
        }
    }

    pub(crate) fn end_task(&mut self, t: usize, result: TRes) {
        let prev = self.tasks[t].state;
        if !matches!(prev, TState::Pending | TState::Waiting | TState::Running) {
            return;
        }
        let s = self.flat.tasks[t].scope;
        let task = &mut self.tasks[t];
        task.state = TState::Ended;
        task.end = Some(self.now);
        task.result = Some(result);
        if prev == TState::Waiting {
            self.scopes[s].waiters.retain(|&w| w != t);
        }
        self.scopes[s].live -= 1;
        if std::mem::take(&mut self.tasks[t].has_slot) {
            self.release(s);
        }
        if matches!(result, TRes::Failed | TRes::Panicked) {
            self.scopes[s].failures.push((self.now, t, result));
            let kind = self.flat.tasks[t].kind;
            match (kind, self.flat.scopes[s].policy) {
                (TaskKind::Critical, _) => self.fail_scope(s, RKind::Critical(t)),
                (TaskKind::Normal, Policy::Cancel) => self.fail_scope(s, RKind::TaskFailed(t)),
                _ => self.dispatch(s, t),
            }
        }
        if let FBehavior::Nested(n) = self.flat.tasks[t].behavior {
            if self.alive(n) {
                // The task was aborted: its nested scope's future is dropped.
                self.drop_scope(n);
            }
        }
        if self.scopes[s].live == 0 {
            self.ready.push_back(Ready::ScopeCheck(s));
            if self.scopes[s].body == BodyState::Joining {
                self.ready.push_back(Ready::BodyResume(s));
            }
        }
    }

    /// A slot is given back: the first task still waiting gets it.
    pub(crate) fn release(&mut self, s: usize) {
        while let Some(w) = self.scopes[s].waiters.pop_front() {
            if self.tasks[w].state == TState::Waiting {
                self.tasks[w].has_slot = true;
                self.ready.push_back(Ready::SlotStart(w));
                return;
            }
        }
        *self.scopes[s].free.as_mut().unwrap() += 1;
    }
}

pub(crate) fn group_failures(failures: &[(u64, usize, TRes)]) -> Vec<Vec<(usize, TRes)>> {
    let mut groups: Vec<(u64, Vec<(usize, TRes)>)> = Vec::new();
    for &(at, t, r) in failures {
        match groups.last_mut() {
            Some((last, group)) if *last == at => group.push((t, r)),
            _ => groups.push((at, vec![(t, r)])),
        }
    }
    groups
        .into_iter()
        .map(|(_, mut g)| {
            g.sort_unstable();
            g
        })
        .collect()
}
