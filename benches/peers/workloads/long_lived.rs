//! `long_lived`: one long-lived scope runs N tasks in waves (the server shape
//! of issue 14). async-scope: one `Policy::Supervise` scope with
//! `retain_failures(100)`; each wave of `wave` tasks is spawned, then awaited
//! through its handles; one task in ten fails. The reference is one `JoinSet`
//! draining the same waves and keeping the 100 most recent errors itself.
//!
//! Timed in the bench's process (`long_lived`, ns per task), and, for the
//! resident set, in a fresh child process per measurement
//! (`long_lived_rss`: the bench binary re-executed with
//! `--long-lived-child PEER N WAVE`), which reports the RSS after the first
//! wave and after the last one, the scope still open: a fresh process, so
//! that the heap left by earlier workloads hides no growth.

use std::collections::VecDeque;
use std::process::Command;
use std::time::{Duration, Instant};

use async_scope::{Policy, Scope, TaskError};
use tokio::task::JoinSet;

use crate::check::{check, expected_sum};
use crate::harness::{measure_values, rss_bytes, runtime, Config, Figures, Result_};
use crate::peers::Peer;
use crate::tasks::{tenth_fails, BoxError};

/// The failures a long-lived scope keeps (`retain_failures`).
const RETAIN: usize = 100;

/// The peers of `long_lived`.
pub(crate) const LONG_LIVED_PEERS: [Peer; 2] = [Peer::JoinSet, Peer::Scope];

pub(crate) const CHILD_FLAG: &str = "--long-lived-child";
const CHILD_PREFIX: &str = "LONG_LIVED_CHILD ";

/// What a run saw: the sum of the values, the failures, the failures kept.
struct Outcome {
    sum: u64,
    failed: u64,
    kept: usize,
}

/// Runs `n` tasks in waves of `wave` under `peer`; `after_wave(w)` is called
/// once wave `w` has been awaited.
async fn run(peer: Peer, n: u64, wave: u64, mut after_wave: impl FnMut(u64) + Send) -> Outcome {
    let waves = n.div_ceil(wave);
    let wave_of = move |w: u64| w * wave..((w + 1) * wave).min(n);
    match peer {
        Peer::JoinSet => {
            let mut set = JoinSet::new();
            let mut kept: VecDeque<BoxError> = VecDeque::with_capacity(RETAIN + 1);
            let (mut sum, mut failed) = (0, 0);
            for w in 0..waves {
                for i in wave_of(w) {
                    set.spawn(tenth_fails(i));
                }
                while let Some(result) = set.join_next().await {
                    match result.unwrap() {
                        Ok(v) => sum += v,
                        Err(e) => {
                            failed += 1;
                            kept.push_back(e.into());
                            if kept.len() > RETAIN {
                                kept.pop_front();
                            }
                        }
                    }
                }
                after_wave(w);
            }
            Outcome {
                sum,
                failed,
                kept: kept.len(),
            }
        }
        Peer::Scope => Scope::builder()
            .policy(Policy::Supervise)
            .retain_failures(RETAIN)
            .run(|scope| async move {
                let mut handles = Vec::with_capacity(wave as usize);
                let (mut sum, mut failed) = (0, 0);
                for w in 0..waves {
                    handles.extend(wave_of(w).map(|i| scope.spawn(move |_| tenth_fails(i))));
                    for handle in handles.drain(..) {
                        match handle.await {
                            Ok(v) => sum += v,
                            Err(TaskError::Failed(_)) => failed += 1,
                            Err(e) => return Err(e),
                        }
                    }
                    after_wave(w);
                }
                let counted = scope.failure_count() as u64;
                assert_eq!(counted, failed, "handles and failure_count() disagree");
                Ok(Outcome {
                    sum,
                    failed,
                    kept: scope.errors().len(),
                })
            })
            .await
            .unwrap(),
        _ => unreachable!(),
    }
}

fn check_outcome(what: &str, peer: Peer, n: u64, outcome: &Outcome) {
    let want_failed = n.div_ceil(10);
    let want_sum = expected_sum(n) - 10 * expected_sum(want_failed);
    let want_kept = RETAIN.min(want_failed as usize);
    let Outcome { sum, failed, kept } = *outcome;
    check(
        sum == want_sum && failed == want_failed && kept == want_kept,
        || {
            format!(
                "{what} {} n={n}: sum {sum} (want {want_sum}), failed {failed} \
                 (want {want_failed}), kept {kept} (want {want_kept})",
                peer.name()
            )
        },
    );
}

/// The timed workload: `n` tasks in waves of `wave`.
pub(crate) async fn long_lived(peer: Peer, n: u64, wave: u64) -> Duration {
    let start = Instant::now();
    let outcome = run(peer, n, wave, |_| {}).await;
    let elapsed = start.elapsed();
    check_outcome("long_lived", peer, n, &outcome);
    elapsed
}

/// The RSS figures of one child run, in bytes.
struct Rss {
    /// After the first wave.
    first_wave: u64,
    /// After a tenth of the waves (the warm-up of `tests/server_soak.rs`).
    warm: u64,
    /// After the last wave, the scope still open.
    end: u64,
}

/// The child's side: one run, the RSS after the first wave, after a tenth
/// of the waves and after the last; prints them and exits.
pub(crate) fn long_lived_child(peer: Peer, n: u64, wave: u64) -> ! {
    let rt = runtime();
    rss_bytes().expect("/proc/self/statm"); // the page size, read once
    let rss = rt.block_on(async move {
        tokio::spawn(async move {
            let waves = n.div_ceil(wave);
            let warm_wave = (waves / 10).max(1) - 1;
            let mut rss = Rss {
                first_wave: 0,
                warm: 0,
                end: 0,
            };
            let outcome = run(peer, n, wave, |w| {
                let now = || rss_bytes().expect("/proc/self/statm");
                if w == 0 {
                    rss.first_wave = now();
                }
                if w == warm_wave {
                    rss.warm = now();
                }
                if w + 1 == waves {
                    rss.end = now();
                }
            })
            .await;
            check_outcome("long_lived_rss", peer, n, &outcome);
            rss
        })
        .await
        .unwrap()
    });
    println!(
        "{CHILD_PREFIX}first_wave={} warm={} end={}",
        rss.first_wave, rss.warm, rss.end
    );
    // A failed check was printed to stderr; the status says so.
    crate::check::exit_if_failed();
    std::process::exit(0)
}

/// The parent's side: one child process per measurement; the RSS growth
/// to the end from the first wave and from a tenth of the waves, in bytes.
fn rss_growth_in_child(peer: Peer, n: u64, wave: u64) -> Vec<f64> {
    let exe = std::env::current_exe().expect("the bench binary");
    let output = Command::new(exe)
        .args([CHILD_FLAG, peer.name(), &n.to_string(), &wave.to_string()])
        .output()
        .expect("run the long_lived child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix(CHILD_PREFIX));
    let field = |key: &str| -> Option<f64> {
        let value = line?.split_whitespace().find_map(|f| f.strip_prefix(key))?;
        value.parse().ok()
    };
    let (first_wave, warm, end) = (field("first_wave="), field("warm="), field("end="));
    let ok = output.status.success() && first_wave.is_some() && warm.is_some() && end.is_some();
    check(ok, || {
        format!(
            "long_lived_rss {}: child failed: {:?} {}",
            peer.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let growth = |from: Option<f64>| end.zip(from).map_or(f64::NAN, |(e, f)| e - f);
    vec![growth(first_wave), growth(warm)]
}

/// Measures `long_lived_rss` (growth from the first wave) and
/// `long_lived_rss_warm` (from a tenth of the waves) for every peer:
/// `cfg.rounds` child processes each, rotated.
pub(crate) fn measure_rss_growth(cfg: &Config, results: &mut Vec<Result_>, n: u64, wave: u64) {
    let figures = Figures {
        workloads: &["long_lived_rss", "long_lived_rss_warm"],
        n,
        unit: "run",
        metric: "B",
        peers: &LONG_LIVED_PEERS,
        reference: Peer::JoinSet,
        ratios: false,
    };
    measure_values(cfg, results, &figures, |peer| {
        rss_growth_in_child(peer, n, wave)
    });
}
