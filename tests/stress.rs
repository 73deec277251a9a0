//! Stress: thousands of tasks with random outcomes across random trees of
//! nested scopes, on a multi_thread runtime (SPEC.md: the "no failure is
//! lost, and no handler sees one twice" paragraph, "the first event decides",
//! and the drop guards of "cancellation mechanics"). Randomness comes from a
//! small deterministic PRNG (SplitMix64) seeded per round; only the
//! interleaving varies between runs.
//!
//! After each round:
//! - nothing leaks: every task's probe and every task closure (called or not)
//!   is gone;
//! - every failure a task produced is listed exactly once, in the errors() of
//!   the scope that spawned it;
//! - every failure that does not fail its scope reached exactly the nearest
//!   handler (when there is one), and no other failure reached any handler;
//! - a scope that failed because of a task names, as its reason, the first
//!   scope-failing failure it lists; a scope that ended Ok lists none.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{
    CancellationToken, Policy, Reason, Scope, ScopeError, TaskError, TaskFailure, TaskKind,
};

mod common;

use common::{guard_for, Live, Res};

// === helpers ===

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

const ROUNDS: u64 = 500;
const ROOT_TASKS: u64 = 400;
const MAX_DEPTH: usize = 3;

/// SplitMix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Panics of this test start with this prefix; the panic hook keeps them quiet.
const PREFIX: &str = "stress t";

/// The task number a failure's message carries.
fn task_number(failure: &TaskFailure) -> usize {
    let text = match failure.error() {
        TaskError::Panicked(m) => m.clone(),
        other => other.to_string(),
    };
    let rest = text
        .strip_prefix(PREFIX)
        .unwrap_or_else(|| panic!("a failure not produced by a task: {text}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

/// One scope of the tree.
struct ScopeRecord {
    scope: Option<Scope>,
    parent: Option<usize>,
    policy: Policy,
    has_handler: bool,
    /// `None` if the scope's future was dropped before it ended.
    outcome: Option<Result<(), Reason>>,
}

/// Everything one round records.
#[derive(Clone)]
struct World {
    next_task: Arc<AtomicUsize>,
    /// Task numbers of every task that returned `Err` or panicked.
    failed: Arc<Mutex<Vec<usize>>>,
    /// (scope index, task number) per handler call.
    handled: Arc<Mutex<Vec<(usize, usize)>>>,
    scopes: Arc<Mutex<Vec<ScopeRecord>>>,
    /// Probes alive: tasks whose future exists.
    live: Live,
    /// Task closures (called or not) and their futures not yet dropped.
    held: Live,
    closures_called: Arc<AtomicUsize>,
}

impl World {
    fn new() -> World {
        World {
            next_task: Arc::default(),
            failed: Arc::default(),
            handled: Arc::default(),
            scopes: Arc::default(),
            live: Live::default(),
            held: Live::default(),
            closures_called: Arc::default(),
        }
    }

    fn probe(&self) -> common::Probe {
        self.live.hold()
    }

    /// Records that task `n` fails now: call it with no `.await` before the failure.
    fn fail(&self, n: usize) -> String {
        self.failed.lock().unwrap().push(n);
        format!("{PREFIX}{n}")
    }

    fn register(&self, parent: Option<usize>, policy: Policy, has_handler: bool) -> usize {
        let mut scopes = self.scopes.lock().unwrap();
        scopes.push(ScopeRecord {
            scope: None,
            parent,
            policy,
            has_handler,
            outcome: None,
        });
        scopes.len() - 1
    }
}

#[derive(Clone, Copy, Debug)]
enum End {
    Ok,
    Err,
    Panic,
    /// Waits for its token (or a few yields), then fails or not.
    AwaitCancel {
        fail: bool,
    },
    /// Runs a nested scope; returns its error as its own failure, or not.
    Nested {
        propagate: bool,
    },
    /// Spawns another task into its scope.
    SpawnSibling,
}

fn pick_end(rng: &mut Rng, depth: usize) -> End {
    match rng.below(100) {
        0..=2 => End::Err,
        3..=4 => End::Panic,
        5..=14 => End::AwaitCancel {
            fail: rng.chance(50),
        },
        15..=20 if depth < MAX_DEPTH => End::Nested {
            propagate: rng.chance(50),
        },
        21..=22 => End::SpawnSibling,
        _ => End::Ok,
    }
}

fn pick_kind(rng: &mut Rng) -> TaskKind {
    match rng.below(100) {
        0..=1 => TaskKind::Critical,
        2..=19 => TaskKind::Optional,
        _ => TaskKind::Normal,
    }
}

async fn yields(n: u64) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

fn spawn_task(world: &World, scope: &Scope, scope_index: usize, depth: usize, seed: u64) {
    let mut rng = Rng(seed);
    let kind = pick_kind(&mut rng);
    let end = pick_end(&mut rng, depth);
    let before = rng.below(4);
    let nested_seed = rng.next();
    let n = world.next_task.fetch_add(1, SeqCst);
    let w = world.clone();
    let held = world.held.hold();
    let task = move |token: CancellationToken| -> BoxFuture<Res> {
        w.closures_called.fetch_add(1, SeqCst);
        Box::pin(async move {
            let _held = held;
            let _probe = w.probe();
            yields(before).await;
            match end {
                End::Ok => Ok(()),
                End::Err => Err(w.fail(n).into()),
                End::Panic => panic!("{}", w.fail(n)),
                End::AwaitCancel { fail } => {
                    tokio::select! {
                        () = token.cancelled() => {
                            if fail {
                                return Err(w.fail(n).into());
                            }
                            Ok(())
                        }
                        () = yields(20) => Ok(()),
                    }
                }
                End::Nested { propagate } => {
                    match run_scope(w.clone(), Some(scope_index), depth + 1, nested_seed, None)
                        .await
                    {
                        Err(e) if propagate => Err(format!("{} nested: {e}", w.fail(n)).into()),
                        _ => Ok(()),
                    }
                }
                End::SpawnSibling => {
                    let scope = Scope::current().expect("a task runs in its scope");
                    spawn_task(&w, &scope, scope_index, depth, nested_seed);
                    Ok(())
                }
            }
        })
    };
    match kind {
        TaskKind::Normal => drop(scope.spawn(task)),
        TaskKind::Critical => drop(scope.spawn_critical(task)),
        TaskKind::Optional => drop(scope.spawn_optional(task)),
    }
}

fn run_scope(
    world: World,
    parent: Option<usize>,
    depth: usize,
    seed: u64,
    policy: Option<Policy>,
) -> BoxFuture<Result<(), ScopeError>> {
    let mut rng = Rng(seed);
    let policy = policy.unwrap_or(if rng.chance(50) {
        Policy::Cancel
    } else {
        Policy::Supervise
    });
    let has_handler = rng.chance(40);
    let index = world.register(parent, policy, has_handler);
    let mut builder = Scope::builder().policy(policy);
    if has_handler {
        let handled = world.handled.clone();
        builder = builder.on_error(move |failure| {
            handled.lock().unwrap().push((index, task_number(failure)));
        });
    }
    if rng.chance(20) {
        // Every task here ends soon after its signal: the grace never runs out.
        builder = builder.grace(Duration::from_secs(30));
    }
    if rng.chance(20) {
        builder = builder.max_concurrency(1 + rng.below(4) as usize);
    }
    let body_seed = rng.next();
    Box::pin(async move {
        let w = world.clone();
        let result = builder
            .run(|scope| async move {
                w.scopes.lock().unwrap()[index].scope = Some(scope.clone());
                let mut rng = Rng(body_seed);
                let count = if depth == 0 {
                    ROOT_TASKS
                } else {
                    5 + rng.below(25)
                };
                for _ in 0..count {
                    spawn_task(&w, &scope, index, depth, rng.next());
                    if rng.chance(10) {
                        tokio::task::yield_now().await;
                    }
                }
                match rng.below(100) {
                    0..=2 => {
                        scope.cancel();
                        Res::Ok(())
                    }
                    3..=5 => Err("body failed".into()),
                    6..=50 => {
                        let _ = scope.wait_for_completion().await;
                        Ok(())
                    }
                    _ => Ok(()),
                }
            })
            .await;
        world.scopes.lock().unwrap()[index].outcome =
            Some(result.as_ref().map(|_| ()).map_err(|e| e.reason().clone()));
        result
    })
}

/// Whether a failure of `kind` fails a scope with `policy`.
fn fails_scope(policy: Policy, kind: TaskKind) -> bool {
    matches!(
        (policy, kind),
        (_, TaskKind::Critical) | (Policy::Cancel, TaskKind::Normal)
    )
}

async fn round(seed: u64) -> (usize, usize) {
    let world = World::new();
    let policy = if seed % 2 == 0 {
        Policy::Supervise
    } else {
        Policy::Cancel
    };
    let _ = run_scope(world.clone(), None, 0, seed, Some(policy)).await;

    // Nothing leaks. Tasks of scopes nested in aborted tasks are dropped
    // with those tasks, on the runtime's next turn: hence waiting for it.
    let gone = guard_for(Duration::from_secs(20), world.live.reaches(0));
    gone.await; // every task gone
    let dropped = guard_for(Duration::from_secs(20), world.held.reaches(0));
    dropped.await; // every task closure dropped

    let scopes = std::mem::take(&mut *world.scopes.lock().unwrap());
    // A task's own drop guards go before the engine reports its failure, on
    // its worker thread: only the scope knows when it is done with a task.
    for record in &scopes {
        let scope = record.scope.as_ref().expect("every scope's body ran");
        let waited = tokio::time::timeout(Duration::from_secs(20), scope.wait_for_completion());
        assert!(waited.await.is_ok(), "a scope never finished its tasks");
    }
    let mut failed = world.failed.lock().unwrap().clone();
    failed.sort_unstable();

    // Every failure listed once, by the scope that spawned it.
    let mut listed = Vec::new();
    let mut expected_handled = Vec::new();
    for (index, record) in scopes.iter().enumerate() {
        let scope = record.scope.as_ref().expect("every scope's body ran");
        let errors = scope.errors();
        let mut numbers: Vec<_> = errors.iter().map(task_number).collect();
        listed.extend(numbers.iter().copied());
        numbers.sort_unstable();
        let count = numbers.len();
        numbers.dedup();
        assert_eq!(numbers.len(), count, "scope {index} lists a failure twice");

        // Failures that do not fail the scope go to the nearest handler.
        for failure in &errors {
            if fails_scope(record.policy, failure.kind()) {
                continue;
            }
            let mut at = Some(index);
            while let Some(i) = at {
                if scopes[i].has_handler {
                    expected_handled.push((i, task_number(failure)));
                    break;
                }
                at = scopes[i].parent;
            }
        }

        // The first scope-failing failure decides the reason.
        let fatal: Vec<_> = errors
            .iter()
            .filter(|f| fails_scope(record.policy, f.kind()))
            .collect();
        match &record.outcome {
            None => {}
            Some(Ok(())) => assert!(
                fatal.is_empty(),
                "scope {index} ended Ok despite failure {}",
                fatal[0]
            ),
            Some(Err(Reason::TaskFailed(f) | Reason::CriticalTaskFailed(f))) => {
                let first = fatal.first().unwrap_or_else(|| {
                    panic!("scope {index} failed by {f}, which it does not list as scope-failing")
                });
                assert_eq!(
                    first.task(),
                    f.task(),
                    "scope {index}: the reason is not the first scope-failing failure it lists"
                );
            }
            Some(Err(_)) => {}
        }
    }
    listed.sort_unstable();
    assert_eq!(listed, failed, "failures lost or listed by the wrong scope");

    let mut handled = world.handled.lock().unwrap().clone();
    handled.sort_unstable();
    expected_handled.sort_unstable();
    assert_eq!(handled, expected_handled, "handlers saw the wrong failures");

    (world.closures_called.load(SeqCst), failed.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_tasks_across_nested_scopes_leak_nothing_and_lose_no_failure() {
    // Real time here: the limit only turns a hang into a failure.
    guard_for(std::time::Duration::from_secs(60), async move {
        common::quiet_panics(PREFIX);
        let mut tasks = 0;
        let mut failures = 0;
        for seed in 0..ROUNDS {
            let (t, f) = round(0x5EED_0000 + seed).await;
            tasks += t;
            failures += f;
        }
        assert!(tasks >= 2000, "only {tasks} tasks ran");
        assert!(failures >= 100, "only {failures} failures");
    })
    .await;
}
