//! The property test, `engine_matches_model`, and its figures.

use super::*;

pub(crate) fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// Figures of one property run, printed with `--nocapture`.
#[derive(Default, Debug)]
pub(crate) struct Stats {
    pub(crate) run: usize,
    pub(crate) skipped_ties: usize,
    pub(crate) skipped_order: usize,
    pub(crate) skipped_handler: usize,
    /// Cases run whose scenario calls `shutdown()` somewhere (body or task).
    pub(crate) with_shutdown_call: usize,
    /// Cases run in which a shutdown reached at least one scope.
    pub(crate) with_shutdown: usize,
    /// Scopes a shutdown reached, in the cases run.
    pub(crate) scopes_shut_down: usize,
    /// Scopes that ended `Ok` after a shutdown.
    pub(crate) shut_down_ended_ok: usize,
    /// Scopes shut down that failed afterwards (or panicked).
    pub(crate) shut_down_then_failed: usize,
    pub(crate) scopes: usize,
    pub(crate) tasks: usize,
    /// Scopes run with `run_inline` that started.
    pub(crate) inline_scopes: usize,
    /// Inline tasks the body spawned (admitted or refused).
    pub(crate) inline_tasks: usize,
    /// Inline tasks whose closure was called.
    pub(crate) inline_tasks_run: usize,
    pub(crate) root_fates: BTreeMap<String, usize>,
    pub(crate) scope_results: BTreeMap<String, usize>,
    pub(crate) task_fates: BTreeMap<String, usize>,
    pub(crate) handler_deliveries: usize,
    pub(crate) handler_panics: usize,
}

impl Stats {
    pub(crate) fn record(&mut self, flat: &Flat, p: &Prediction) {
        self.run += 1;
        let calls = flat
            .scopes
            .iter()
            .any(|s| s.events.iter().any(|e| e.1 == Ev::ShutdownScope))
            || flat
                .tasks
                .iter()
                .any(|t| matches!(t.behavior, FBehavior::Shutdowner { .. }));
        self.with_shutdown_call += usize::from(calls);
        self.with_shutdown += usize::from(p.shutdowns > 0);
        self.scopes_shut_down += p.shutdowns;
        self.shut_down_ended_ok += p
            .scopes
            .iter()
            .filter(|s| s.shut_down && s.fate != Fate::NotStarted)
            .filter(|s| {
                matches!(
                    s.fate,
                    Fate::Ended {
                        result: ScopeResult::Ok,
                        ..
                    }
                )
            })
            .count();
        self.shut_down_then_failed += p.shutdowns_failed;
        self.scopes += p
            .scopes
            .iter()
            .filter(|s| s.fate != Fate::NotStarted)
            .count();
        self.tasks += flat.tasks.len();
        self.inline_scopes += flat
            .scopes
            .iter()
            .zip(&p.scopes)
            .filter(|(f, s)| f.runs_inline && s.fate != Fate::NotStarted)
            .count();
        for (f, t) in flat.tasks.iter().zip(&p.tasks) {
            if f.inline && *t != TaskFate::NotSpawned {
                self.inline_tasks += 1;
                if matches!(t, TaskFate::Admitted { start: Some(_), .. }) {
                    self.inline_tasks_run += 1;
                }
            }
        }
        let fate = |f: &Fate| match f {
            Fate::NotStarted => "not started".to_owned(),
            Fate::Dropped { .. } => "dropped".to_owned(),
            Fate::Ended { result, .. } => match result {
                ScopeResult::Ok => "ok".to_owned(),
                ScopeResult::Panic => "panic".to_owned(),
                ScopeResult::Err(r) => format!("{:?}", r).split('(').next().unwrap().to_owned(),
            },
        };
        *self.root_fates.entry(fate(&p.scopes[0].fate)).or_default() += 1;
        for s in &p.scopes {
            *self.scope_results.entry(fate(&s.fate)).or_default() += 1;
        }
        for t in &p.tasks {
            let k = match t {
                TaskFate::NotSpawned => "not spawned".to_owned(),
                TaskFate::Refused => "refused".to_owned(),
                TaskFate::Admitted { start: None, .. } => "cancelled before start".to_owned(),
                TaskFate::Admitted { result, .. } => format!("{result:?}"),
            };
            *self.task_fates.entry(k).or_default() += 1;
        }
        for h in &p.handlers {
            self.handler_deliveries += h.delivered.len();
            self.handler_panics += usize::from(h.panicked_on.is_some());
        }
    }
}

/// Predicts and runs one scenario; `Ok(false)` when it is timing-dependent.
pub(crate) fn check_counted(
    spec: &ScopeSpec,
    strict: bool,
    stats: &Mutex<Stats>,
) -> Result<bool, String> {
    let flat = Flat::new(spec);
    let want = match Model::predict(&flat) {
        Ok(p) => p,
        Err(Ambiguous(why)) => {
            let mut stats = stats.lock().unwrap();
            if why.contains("timers") {
                stats.skipped_ties += 1;
            } else if why.contains("handler") {
                stats.skipped_handler += 1;
            } else {
                stats.skipped_order += 1;
            }
            return Ok(false);
        }
    };
    stats.lock().unwrap().record(&flat, &want);
    let ctx = run_real(flat, strict);
    let problems = compare(&ctx, &want);
    if problems.is_empty() {
        Ok(true)
    } else {
        Err(problems.join("\n"))
    }
}

/// Guarantees 1–3 against the reference model: random scope trees, run on the
/// engine under paused time, compared with the model's prediction.
#[test]
fn engine_matches_model() {
    let config = ProptestConfig {
        cases: cases(),
        max_global_rejects: 1_000_000,
        max_local_rejects: 1_000_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let stats = Mutex::new(Stats::default());
    let strict = strict_from_env();
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&arb_scope(3, 40), |spec| {
        match check_counted(&spec, strict, &stats) {
            Ok(true) => Ok(()),
            Ok(false) => Err(TestCaseError::reject("timing-dependent scenario")),
            Err(problems) => Err(TestCaseError::fail(problems)),
        }
    });
    eprintln!("model figures: {:#?}", stats.lock().unwrap());
    if let Err(e) = result {
        panic!("{e}");
    }
}
