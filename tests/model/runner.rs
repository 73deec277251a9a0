//! The real run: the scenario on the engine, on a paused current-thread runtime, observed.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HRes {
    Val(TRes),
    /// An `OptionalHandle` yielded `None`.
    OptNone,
}

#[derive(Default)]
pub(crate) struct OScope {
    pub(crate) started: Option<u64>,
    pub(crate) fate: Option<Fate>,
    pub(crate) handle: Option<Scope>,
    /// Its `Inline` handle, if it runs inline.
    pub(crate) inline: Option<Inline<'static>>,
    /// `ScopeError::failures()` of the error `run` returned.
    pub(crate) error_failures: Option<Vec<TaskFailure>>,
    pub(crate) join: Option<Result<(), RKind>>,
    pub(crate) over: bool,
    /// Its snapshot said `ShuttingDown` once the scenario was over.
    pub(crate) shut_down: bool,
}

#[derive(Default)]
pub(crate) struct OTask {
    pub(crate) id: Option<TaskId>,
    pub(crate) start: Option<u64>,
    pub(crate) end: Option<u64>,
    pub(crate) alive: bool,
    pub(crate) handle: Option<HRes>,
}

#[derive(Default)]
pub(crate) struct OHandler {
    pub(crate) calls: u32,
    pub(crate) delivered: Vec<usize>,
    pub(crate) panicked_on: Option<usize>,
}

#[derive(Default)]
pub(crate) struct Obs {
    pub(crate) scopes: Vec<OScope>,
    pub(crate) tasks: Vec<OTask>,
    pub(crate) handlers: Vec<OHandler>,
    pub(crate) ids: HashMap<TaskId, usize>,
    pub(crate) violations: Vec<String>,
}

pub(crate) struct Ctx {
    pub(crate) flat: Flat,
    pub(crate) t0: Instant,
    pub(crate) strict: bool,
    pub(crate) obs: Mutex<Obs>,
}

pub(crate) fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

impl Ctx {
    pub(crate) fn obs(&self) -> MutexGuard<'_, Obs> {
        self.obs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> u64 {
        let d = Instant::now() - self.t0;
        assert_eq!(d.subsec_micros() % 1000, 0, "paused time moves by whole ms");
        d.as_millis() as u64
    }

    pub(crate) fn name(&self, t: usize) -> String {
        self.flat.task_name(t)
    }

    pub(crate) fn task_of(&self, obs: &Obs, failure: &TaskFailure) -> usize {
        *obs.ids
            .get(&failure.task())
            .expect("a failure of a task this test spawned")
    }

    pub(crate) fn reason(&self, obs: &Obs, reason: &Reason) -> RKind {
        match reason {
            Reason::TaskFailed(f) => RKind::TaskFailed(self.task_of(obs, f)),
            Reason::CriticalTaskFailed(f) => RKind::Critical(self.task_of(obs, f)),
            Reason::BodyFailed(_) => RKind::BodyFailed,
            Reason::Cancelled => RKind::Cancelled,
            Reason::TimedOut => RKind::TimedOut,
            other => panic!("unknown reason {other:?}"),
        }
    }

    pub(crate) fn on_handler(&self, h: usize, failure: &TaskFailure) {
        let panic = {
            let mut obs = self.obs();
            let t = self.task_of(&obs, failure);
            let handler = &mut obs.handlers[h];
            handler.calls += 1;
            if self.flat.handlers[h].panics_on == Some(handler.calls) {
                handler.panicked_on = Some(t);
                true
            } else {
                handler.delivered.push(t);
                false
            }
        };
        if panic {
            panic!("model: handler {h} panics");
        }
    }
}

/// Wraps every task's future: a live-task drop guard that also records polls
/// after an enclosing scope ended.
pub(crate) struct Probe {
    pub(crate) ctx: Arc<Ctx>,
    pub(crate) t: usize,
    pub(crate) fut: BoxFuture<Result<(), BoxError>>,
}

impl Future for Probe {
    type Output = Result<(), BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        {
            let ctx = &self.ctx;
            let mut obs = ctx.obs();
            for &s in &ctx.flat.tasks[self.t].enclosing {
                if obs.scopes[s].over {
                    let v = format!(
                        "task {} polled at {} after scope s{s} ended or was dropped",
                        ctx.name(self.t),
                        ctx.now()
                    );
                    obs.violations.push(v);
                }
            }
        }
        self.fut.as_mut().poll(cx)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let now = self.ctx.now();
        let mut obs = self.ctx.obs();
        obs.tasks[self.t].end = Some(now);
        obs.tasks[self.t].alive = false;
    }
}

pub(crate) fn outcome(o: Outcome) -> Result<(), BoxError> {
    match o {
        Outcome::Ok => Ok(()),
        Outcome::Err => Err("model: task error".into()),
        Outcome::Panic => panic!("model: task panics"),
    }
}

/// The closure the body passes to `spawn*` for task `t`.
pub(crate) fn task_closure(
    ctx: Arc<Ctx>,
    t: usize,
) -> impl FnOnce(CancellationToken) -> Probe + Send + 'static {
    move |signal| {
        let now = ctx.now();
        {
            let mut obs = ctx.obs();
            let task = &mut obs.tasks[t];
            assert!(task.start.is_none(), "a closure called twice");
            task.start = Some(now);
            task.alive = true;
        }
        inline::check_entered(&ctx, t);
        let fut: BoxFuture<Result<(), BoxError>> = match ctx.flat.tasks[t].behavior {
            FBehavior::Finish {
                after,
                outcome: o,
                on_signal,
            } => Box::pin(async move {
                match on_signal {
                    Some(sig) => tokio::select! {
                        biased;
                        () = signal.cancelled() => outcome(sig),
                        () = tokio::time::sleep(ms(after)) => outcome(o),
                    },
                    None => {
                        tokio::time::sleep(ms(after)).await;
                        outcome(o)
                    }
                }
            }),
            FBehavior::Hang { on_signal } => Box::pin(async move {
                match on_signal {
                    Some(sig) => {
                        signal.cancelled().await;
                        outcome(sig)
                    }
                    None => std::future::pending().await,
                }
            }),
            FBehavior::Nested(n) => {
                let ctx = ctx.clone();
                Box::pin(async move {
                    match run_scope(ctx, n).await {
                        None | Some(Ok(())) => Ok(()),
                        Some(Err(e)) => Err(e.into()),
                    }
                })
            }
            FBehavior::Spawner {
                after,
                on_signal,
                child,
            } => {
                let ctx = ctx.clone();
                Box::pin(async move {
                    if let Some(sig) = on_signal {
                        tokio::select! {
                            biased;
                            () = signal.cancelled() => return outcome(sig),
                            () = tokio::time::sleep(ms(after)) => {}
                        }
                    } else {
                        tokio::time::sleep(ms(after)).await;
                    }
                    let scope = Scope::current().expect("a task runs in its scope");
                    spawn_task(&scope, &ctx, child).watch(&ctx, child);
                    Ok(())
                })
            }
            FBehavior::Canceller { after } => Box::pin(async move {
                tokio::time::sleep(ms(after)).await;
                Scope::current().expect("a task runs in its scope").cancel();
                Ok(())
            }),
            FBehavior::Shutdowner { after } => Box::pin(async move {
                tokio::time::sleep(ms(after)).await;
                Scope::current()
                    .expect("a task runs in its scope")
                    .shutdown();
                Ok(())
            }),
            FBehavior::TokenCanceller { after } => Box::pin(async move {
                tokio::time::sleep(ms(after)).await;
                signal.cancel();
                tokio::task::yield_now().await;
                Ok(())
            }),
        };
        Probe { ctx, t, fut }
    }
}

/// Spawns task `t` of the scenario into `scope` with its kind; records its id.
pub(crate) fn spawn_task(scope: &Scope, ctx: &Arc<Ctx>, t: usize) -> AnyHandle {
    let task = task_closure(ctx.clone(), t);
    let handle = match ctx.flat.tasks[t].kind {
        TaskKind::Normal => AnyHandle::Task(scope.spawn(task)),
        TaskKind::Critical => AnyHandle::Task(scope.spawn_critical(task)),
        TaskKind::Optional => AnyHandle::Opt(scope.spawn_optional(task)),
    };
    record_id(ctx, t, &handle);
    handle
}

/// Records the id of task `t`, to map failures and reasons back to it.
pub(crate) fn record_id(ctx: &Ctx, t: usize, handle: &AnyHandle) {
    let mut obs = ctx.obs();
    obs.ids.insert(handle.id(), t);
    obs.tasks[t].id = Some(handle.id());
}

/// Handles the body keeps to cancel them later; whatever is left is watched
/// when the body ends, panics or is dropped.
pub(crate) struct Kept {
    pub(crate) ctx: Arc<Ctx>,
    pub(crate) handles: HashMap<usize, AnyHandle>,
}

impl Drop for Kept {
    fn drop(&mut self) {
        for (t, handle) in self.handles.drain() {
            handle.watch(&self.ctx, t);
        }
    }
}

pub(crate) enum AnyHandle {
    Task(TaskHandle<()>),
    Opt(OptionalHandle<()>),
}

impl AnyHandle {
    pub(crate) fn id(&self) -> TaskId {
        match self {
            AnyHandle::Task(h) => h.id(),
            AnyHandle::Opt(h) => h.id(),
        }
    }

    pub(crate) fn cancel(&self) {
        match self {
            AnyHandle::Task(h) => h.cancel(),
            AnyHandle::Opt(h) => h.cancel(),
        }
    }

    /// Awaits the handle in a plain Tokio task and records what it yields.
    pub(crate) fn watch(self, ctx: &Arc<Ctx>, t: usize) {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let result = match self {
                AnyHandle::Task(h) => HRes::Val(match h.await {
                    Ok(()) => TRes::Ok,
                    Err(TaskError::Failed(_)) => TRes::Failed,
                    Err(TaskError::Panicked(_)) => TRes::Panicked,
                    Err(TaskError::Cancelled) => TRes::Cancelled,
                    Err(other) => panic!("unknown task error {other:?}"),
                }),
                AnyHandle::Opt(h) => match h.await {
                    Some(()) => HRes::Val(TRes::Ok),
                    None => HRes::OptNone,
                },
            };
            ctx.obs().tasks[t].handle = Some(result);
        });
    }
}

/// The body of scope `s`; `inline` is its `Inline` handle if it runs inline.
pub(crate) async fn body(
    ctx: Arc<Ctx>,
    s: usize,
    scope: Scope,
    inline: Option<Inline<'static>>,
) -> Result<(), BoxError> {
    {
        let mut obs = ctx.obs();
        obs.scopes[s].handle = Some(scope.clone());
        obs.scopes[s].inline = inline.clone();
    }
    let start = Instant::now();
    let mut kept = Kept {
        ctx: ctx.clone(),
        handles: HashMap::new(),
    };
    let has_cancel: Vec<usize> = ctx.flat.scopes[s]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Ev::CancelTask(t) => Some(*t),
            _ => None,
        })
        .collect();
    for i in 0..ctx.flat.scopes[s].events.len() {
        let (at, ev) = ctx.flat.scopes[s].events[i];
        let due = start + ms(at);
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        match ev {
            Ev::Spawn(t) => {
                let handle = match &inline {
                    Some(inline) if ctx.flat.tasks[t].inline => {
                        inline::spawn_inline(inline, &ctx, t)
                    }
                    _ => spawn_task(&scope, &ctx, t),
                };
                if has_cancel.contains(&t) {
                    kept.handles.insert(t, handle);
                } else {
                    handle.watch(&ctx, t);
                }
            }
            Ev::CancelTask(t) => {
                let handle = kept.handles.remove(&t).expect("spawned before");
                handle.cancel();
                handle.watch(&ctx, t);
            }
            Ev::CancelScope => scope.cancel(),
            Ev::ShutdownScope => scope.shutdown(),
            Ev::Inline(n, propagate) => {
                if let Some(Err(e)) = run_scope(ctx.clone(), n).await {
                    if propagate {
                        return Err(e.into());
                    }
                }
            }
            Ev::End(o) => {
                drop(kept);
                return match o {
                    Outcome::Ok => Ok(()),
                    Outcome::Err => Err("model: body error".into()),
                    Outcome::Panic => panic!("model: body panics"),
                };
            }
            Ev::Join => {
                drop(kept);
                let result = scope.wait_for_completion().await;
                let mut obs = ctx.obs();
                let join = match result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(ctx.reason(&obs, e.reason())),
                };
                obs.scopes[s].join = Some(join);
                return Ok(());
            }
        }
    }
    unreachable!("every body ends with End or Join")
}

/// Marks a scope over when its `run` returns, panics or is dropped.
pub(crate) struct ScopeGuard {
    pub(crate) ctx: Arc<Ctx>,
    pub(crate) s: usize,
    pub(crate) done: bool,
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let now = self.ctx.now();
        let mut obs = self.ctx.obs();
        obs.scopes[self.s].over = true;
        obs.scopes[self.s].fate = Some(if std::thread::panicking() {
            Fate::Ended {
                at: now,
                result: ScopeResult::Panic,
            }
        } else {
            Fate::Dropped { at: now }
        });
    }
}

/// Runs scope `s`: `None` if its future was dropped (its `drop_at`).
pub(crate) fn run_scope(ctx: Arc<Ctx>, s: usize) -> BoxFuture<Option<Result<(), ScopeError>>> {
    Box::pin(async move {
        let spec = &ctx.flat.scopes[s];
        let mut builder = Scope::builder()
            .policy(spec.policy)
            .grace(ms(spec.grace))
            .name(format!("s{s}"));
        if let Some(after) = spec.timeout {
            builder = builder.timeout(ms(after));
        }
        if let Some(limit) = spec.max_concurrency {
            builder = builder.max_concurrency(limit);
        }
        if let Some(h) = spec.handler {
            // Weak: the context keeps the scopes' handles, which keep the handler.
            let ctx = Arc::downgrade(&ctx);
            builder = builder.on_error(move |failure| {
                if let Some(ctx) = ctx.upgrade() {
                    ctx.on_handler(h, failure);
                }
            });
        }
        ctx.obs().scopes[s].started = Some(ctx.now());
        let mut guard = ScopeGuard {
            ctx: ctx.clone(),
            s,
            done: false,
        };
        let b = ctx.clone();
        let run: BoxFuture<Result<(), ScopeError>> = if spec.runs_inline {
            Box::pin(builder.run_inline(move |scope, inline| body(b, s, scope, Some(inline))))
        } else {
            Box::pin(builder.run(move |scope| body(b, s, scope, None)))
        };
        let result = match spec.drop_at {
            Some(after) => tokio::time::timeout(ms(after), run).await.ok(),
            None => Some(run.await),
        };
        guard.done = true;
        let now = ctx.now();
        let mut obs = ctx.obs();
        obs.scopes[s].over = true;
        match &result {
            None => obs.scopes[s].fate = Some(Fate::Dropped { at: now }),
            Some(r) => {
                let result = match r {
                    Ok(()) => ScopeResult::Ok,
                    Err(e) => ScopeResult::Err(ctx.reason(&obs, e.reason())),
                };
                obs.scopes[s].fate = Some(Fate::Ended { at: now, result });
                if let Err(e) = r {
                    obs.scopes[s].error_failures = Some(e.failures().to_vec());
                }
                if ctx.strict {
                    let alive: Vec<String> = spec
                        .subtree_tasks
                        .iter()
                        .filter(|&&t| obs.tasks[t].alive)
                        .map(|&t| ctx.name(t))
                        .collect();
                    if !alive.is_empty() {
                        let v = format!(
                            "tasks {alive:?} still alive (destructor pending) when scope s{s} returned at {now}"
                        );
                        obs.violations.push(v);
                    }
                }
            }
        }
        result
    })
}

/// Catches a panic of the root scope (its body panicked).
pub(crate) struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(move || fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

/// Silences the panics this test causes on purpose (their message starts with `model:`).
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Runs the scenario on the engine; returns the observations.
pub(crate) fn run_real(flat: Flat, strict: bool) -> Arc<Ctx> {
    common::quiet_panics("model:");
    let rt = runtime();
    let ctx = rt.block_on(async move {
        let ctx = Arc::new(Ctx {
            obs: Mutex::new(Obs {
                scopes: flat.scopes.iter().map(|_| OScope::default()).collect(),
                tasks: flat.tasks.iter().map(|_| OTask::default()).collect(),
                handlers: flat.handlers.iter().map(|_| OHandler::default()).collect(),
                ..Obs::default()
            }),
            flat,
            t0: Instant::now(),
            strict,
        });
        let root = CatchUnwind(Box::pin(run_scope(ctx.clone(), 0))).await;
        if let Err(payload) = root {
            let msg = payload.downcast_ref::<&str>().copied().unwrap_or("?");
            assert_eq!(msg, "model: body panics", "the root panicked otherwise");
        }
        // Let the runtime drop what was aborted (no time passes).
        for _ in 0..64 {
            tokio::task::yield_now().await;
        }
        // Whether each scope was shut down (and did not fail), before the
        // late `cancel()` below names a reason for it.
        {
            let mut obs = ctx.obs();
            for o in &mut obs.scopes {
                if let Some(scope) = &o.handle {
                    o.shut_down = scope.snapshot().state() == ScopeState::ShuttingDown;
                }
            }
        }
        // Guarantee 4: a handle used after its scope ended refuses spawns
        // without calling the closure, and nothing panics.
        let handles: Vec<(usize, Scope)> = ctx
            .obs()
            .scopes
            .iter()
            .enumerate()
            .filter_map(|(s, o)| o.handle.clone().map(|h| (s, h)))
            .collect();
        for (s, scope) in handles {
            let called = Arc::new(AtomicUsize::new(0));
            let c = called.clone();
            let late = scope.spawn(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, BoxError>(()) }
            });
            scope.cancel();
            let result = late.await;
            if called.load(Ordering::SeqCst) != 0 || !matches!(result, Err(TaskError::Cancelled)) {
                let v = format!("s{s}: a spawn after the scope ended was not refused: {result:?}");
                ctx.obs().violations.push(v);
            }
        }
        inline::check_late_spawns(&ctx).await;
        ctx
    });
    drop(rt);
    ctx
}
