//! Soak test of a long-lived scope (SPEC.md, "Long-lived scopes (servers)
//! and blocking work": a scope that runs 1,000,000 tasks of which some fail,
//! with `retain_failures(100)`, holds memory flat).
//!
//! Ignored by default; run it with
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-server cargo test --release --test server_soak -- --ignored --nocapture
//! ```
//!
//! One `Supervise` scope, as `examples/server.rs` runs it: `retain_failures(100)`,
//! `max_concurrency(256)`, an error handler, and an accept loop that reserves a
//! slot before it "accepts" the next request, for `SOAK_TASKS` (default
//! 1 000 000) tasks on a multi-thread runtime (2 workers). Each task yields
//! once and ends; one in six fails with an error that owns a `String` (as a
//! malformed command would), the others end `Ok`.
//!
//! It checks that the resident set size (`/proc/self/statm`) at the end is
//! within 2 MiB of its level after a warm-up of 10% of the tasks, and the
//! scope's counters: `failure_count()` exact, every failure handled once,
//! `errors()` holding the 100 most recent, the snapshot listing 100 failed
//! tasks and none live. It prints the figures recorded in docs/RELIABILITY.md.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{mib, rss, PeakRss};

use async_scope::{Policy, Scope, ScopeError, TaskState};

/// Task `i` fails when this holds: one in six.
fn fails(i: u64) -> bool {
    i % 6 == 0
}

#[test]
#[ignore = "soak: run with `cargo test --release --test server_soak -- --ignored --nocapture`"]
fn soak_a_million_tasks_through_one_long_lived_scope() {
    let tasks: u64 = std::env::var("SOAK_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let warm_up = tasks / 10;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // Peak RSS, sampled every 5 ms.
    let peak = PeakRss::start();

    let start_rss = rss();
    let started = Instant::now();
    let handled = Arc::new(AtomicUsize::new(0));
    let seen = handled.clone();
    let report = rt.block_on(async move {
        let run = Scope::builder()
            .name("soak server")
            .policy(Policy::Supervise)
            .retain_failures(100)
            .max_concurrency(256)
            .on_error(move |_| {
                seen.fetch_add(1, Ordering::Relaxed);
            })
            .run(|scope| async move {
                let mut checkpoints = Vec::new();
                let mut baseline = 0;
                let mut i = 0;
                while let Some(permit) = scope.reserve().await {
                    permit.spawn(move |_| async move {
                        tokio::task::yield_now().await;
                        if fails(i) {
                            return Err(format!("malformed request {i}"));
                        }
                        Ok(i)
                    });
                    i += 1;
                    if i == warm_up {
                        scope.wait_for_completion().await?;
                        baseline = rss();
                    }
                    if i % (tasks / 10).max(1) == 0 {
                        checkpoints.push(rss());
                    }
                    if i == tasks {
                        break;
                    }
                }
                scope.wait_for_completion().await?;
                let end = rss();
                // A task that just ended may still be listed as running
                // until Tokio marks it finished (the snapshot asks Tokio's
                // `is_finished`): give it a moment, and count how long.
                let mut lag = 0;
                let (snapshot, failed, live) = loop {
                    let snapshot = scope.snapshot();
                    let failed = snapshot.tasks().iter();
                    let failed = failed.filter(|t| t.state() == TaskState::Failed).count();
                    let live = snapshot.tasks().len() - failed;
                    if live == 0 || lag == 1000 {
                        break (snapshot, failed, live);
                    }
                    lag += 1;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                };
                if lag > 0 {
                    println!("soak: the snapshot listed a finished task as running for {lag} ms");
                }
                let kept: Vec<u64> = scope
                    .errors()
                    .iter()
                    .map(|f| {
                        let text = f.error().to_string();
                        text.strip_prefix("malformed request ")
                            .unwrap()
                            .parse()
                            .unwrap()
                    })
                    .collect();
                Ok::<_, ScopeError>((
                    i,
                    baseline,
                    end,
                    checkpoints,
                    scope.failure_count(),
                    kept,
                    failed,
                    live,
                    snapshot.done(),
                ))
            });
        tokio::time::timeout(Duration::from_secs(600), run)
            .await
            .expect("the soak took more than 10 minutes")
    });
    let (spawned, baseline, end, checkpoints, failures, kept, failed, live, done) =
        report.expect("a supervised scope ends Ok");
    let elapsed = started.elapsed();
    let after_scope = rss();
    drop(rt);
    let after_runtime = rss();
    let peak = peak.finish();

    let expected_failures = (0..tasks).filter(|&i| fails(i)).count();
    println!(
        "soak: {spawned} tasks in {elapsed:.2?} ({:.0} tasks/s)",
        spawned as f64 / elapsed.as_secs_f64()
    );
    println!(
        "soak: failures {failures} (expected {expected_failures}), handled {}, kept {}, \
         snapshot: {failed} failed, {live} live, {done} done",
        handled.load(Ordering::Relaxed),
        kept.len(),
    );
    println!(
        "soak: RSS start {:.1} MiB, after warm-up {:.1} MiB, peak {:.1} MiB, end {:.1} MiB \
         (scope ended {:.1} MiB, runtime dropped {:.1} MiB)",
        mib(start_rss),
        mib(baseline),
        mib(peak),
        mib(end),
        mib(after_scope),
        mib(after_runtime),
    );
    let at: Vec<String> = checkpoints
        .iter()
        .map(|&b| format!("{:.1}", mib(b)))
        .collect();
    println!("soak: RSS at each 10% (MiB): {}", at.join(" "));

    assert_eq!(spawned, tasks);
    assert_eq!(
        failures, expected_failures,
        "failure_count counts every failure"
    );
    assert_eq!(
        handled.load(Ordering::Relaxed),
        expected_failures,
        "each failure handled once"
    );
    assert_eq!(kept.len(), 100, "retain_failures(100)");
    // The most recent failures: all from the last stretch of tasks (tasks
    // end out of spawn order, by at most the 256 running at once).
    let last_failing = (0..tasks).rev().find(|&i| fails(i)).unwrap();
    assert!(
        kept.iter().all(|&i| i + 6 * 100 + 512 >= last_failing),
        "{kept:?}"
    );
    assert_eq!(failed, 100, "the snapshot lists the failures kept");
    assert_eq!(live, 0);
    assert!(
        end <= baseline + (2 << 20),
        "RSS grew from {:.1} MiB after warm-up to {:.1} MiB",
        mib(baseline),
        mib(end)
    );
}
