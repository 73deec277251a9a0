//! The benchmark suite of issues 4 and 14: async-scope measured side by side with its
//! peers, in one process, on one multi-thread runtime with 2 workers.
//!
//! Peers: raw `tokio::spawn` + `JoinHandle`s, `tokio::task::JoinSet`,
//! `tokio_util::task::TaskTracker` + `CancellationToken`, `FuturesUnordered`
//! (every future inside the owner's task) and async-scope (engine API, and the
//! `scope!` / `#[scoped]` macros in `macro_overhead`).
//!
//! Each workload runs every peer in every round, the peers' order rotated by
//! one each round, after one warm-up round that is not recorded; a result is
//! the median over the rounds. Every run checks its result (sums, counts, and
//! for cancellation that every task was dropped by the time the owner got
//! control back, through drop counters); a failed check is reported and makes
//! the bench exit non-zero, never silently.
//!
//! Usage: `cargo bench --bench peers [-- [--quick] [--rounds N] [--peer NAME] [FILTER]]`.
//! `--quick` (or `ASYNC_SCOPE_BENCH_QUICK=1`) shrinks N and the rounds so the
//! whole run takes well under a minute. `FILTER` keeps the workloads whose
//! name contains it; `--peer NAME` (e.g. `async-scope`, `JoinSet`) runs one
//! peer only, for profiling. The output is a table, then one JSON line per result.
//! `docs/BENCHMARKS.md` explains the workloads and keeps the latest table.

//! Layout: this file reads the arguments and runs the workloads in order;
//! `harness` measures (rounds, rotation, medians, ratios) and prints the
//! table, the targets and the JSON lines; `peers` names the peers; `check`
//! keeps the result checks and the counters they read; `tasks` the task
//! bodies the workloads share; `workloads/` one module per workload or
//! family. Dependencies go one way: workloads -> harness, tasks, check ->
//! peers.

mod check;
mod harness;
mod peers;
mod tasks;
mod workloads;

use check::exit_if_failed;
use harness::{
    measure, print_json, print_table, print_targets, rss_bytes, runtime, Config, Workload,
};
use peers::Peer;
use workloads::cancel::fail_fast_cancel;
use workloads::fan_out_tree::{fan_out_tree, TREE_NODES};
use workloads::inline_fan_out::{inline_fan_out, INLINE_FAN_OUT_PEERS};
use workloads::long_lived::{long_lived, long_lived_child, measure_rss_growth, LONG_LIVED_PEERS};
use workloads::macros;
use workloads::memory::{measure_memory, memory_child, CHILD_FLAG};
use workloads::shared_spawn::{shared_spawn, SHARED_SPAWN_PEERS, SPAWNERS};
use workloads::spawn_join::{nested, spawn_join};
use workloads::supervise::supervise_errors;
use workloads::wide_nested::{wide_nested, WIDE_NESTED_PEERS};

/// Reads the command line (see "Running it" in docs/BENCHMARKS.md).
fn parse_args() -> Config {
    let mut quick = std::env::var_os("ASYNC_SCOPE_BENCH_QUICK").is_some_and(|v| v != "0");
    let mut rounds = None;
    let mut filter = None;
    let mut peer = None;
    let mut bench = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            CHILD_FLAG => {
                let peer = args
                    .next()
                    .and_then(|p| Peer::parse(&p))
                    .expect("a peer name");
                let n = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("a task count");
                memory_child(peer, n);
            }
            workloads::long_lived::CHILD_FLAG => {
                let peer = args
                    .next()
                    .and_then(|p| Peer::parse(&p))
                    .expect("a peer name");
                let mut number = || {
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .expect("a task count")
                };
                let (n, wave) = (number(), number());
                long_lived_child(peer, n, wave);
            }
            "--quick" => quick = true,
            "--rounds" => rounds = args.next().and_then(|r| r.parse().ok()),
            "--peer" => {
                peer = Some(
                    args.next()
                        .and_then(|p| Peer::parse(&p))
                        .expect("a peer name"),
                )
            }
            // cargo bench passes `--bench`; `cargo test` does not.
            "--bench" => bench = true,
            // libtest's other flags mean nothing here.
            a if a.starts_with('-') => {}
            a => filter = Some(a.to_string()),
        }
    }
    let smoke = !bench && !quick && rounds.is_none() && filter.is_none() && peer.is_none();
    let quick = quick || smoke;
    let default_rounds = if smoke {
        1
    } else if quick {
        3
    } else {
        11
    };
    Config {
        quick,
        smoke,
        rounds: rounds.unwrap_or(default_rounds).max(1),
        filter,
        peer,
    }
}

fn main() {
    let cfg = parse_args();
    let rt = runtime();
    let wanted = |name: &str| cfg.filter.as_deref().map_or(true, |f| name.contains(f));
    let mut results = Vec::new();
    let q = cfg.quick;
    // N for a full and a quick run; smoke runs (under `cargo test`) are tiny.
    let size = |full: u64, quick: u64| match (cfg.smoke, q) {
        (true, _) => (quick / 100).max(10),
        (false, true) => quick,
        (false, false) => full,
    };
    // Runs per sample, so that a sample lasts long enough to time.
    let reps = |full: u32, quick: u32| match (cfg.smoke, q) {
        (true, _) => 1,
        (false, true) => quick,
        (false, false) => full,
    };
    eprintln!(
        "async-scope peers bench: {} rounds (+1 warm-up), {} mode, multi-thread runtime with 2 workers",
        cfg.rounds,
        if cfg.smoke {
            "smoke (no --bench: results checked, times meaningless)"
        } else if q {
            "quick"
        } else {
            "full"
        }
    );

    if wanted("spawn_join") {
        let sizes = [
            (size(1_000, 1_000), reps(100, 20)),
            (size(100_000, 10_000), reps(1, 2)),
            (size(1_000_000, 100_000), 1),
        ];
        for (n, reps) in sizes {
            let workload = Workload::new("spawn_join", n, "task").reps(reps);
            measure(&cfg, &rt, &mut results, &workload, move |p| {
                spawn_join(p, n)
            });
        }
    }
    if wanted("fail_fast_cancel") {
        for n in [size(10_000, 1_000), size(100_000, 10_000)] {
            let n = n as usize;
            let workload = Workload::new("fail_fast_cancel", n as u64, "run").units_per_run(1);
            measure(&cfg, &rt, &mut results, &workload, move |p| {
                fail_fast_cancel(p, n)
            });
        }
    }
    if wanted("nested") {
        let n = size(100_000, 10_000);
        let workload = Workload::new("nested", n, "scope");
        measure(&cfg, &rt, &mut results, &workload, move |p| nested(p, n));
    }
    if wanted("fan_out_tree") {
        let reps = reps(10, 2);
        let workload = Workload::new("fan_out_tree", TREE_NODES, "node").reps(reps);
        measure(&cfg, &rt, &mut results, &workload, fan_out_tree);
    }
    if wanted("memory") {
        if rss_bytes().is_some() {
            measure_memory(&cfg, &mut results, size(100_000, 10_000) as usize);
        } else {
            eprintln!("memory: skipped, /proc/self/statm is not readable here");
        }
    }
    if wanted("supervise_errors") {
        let n = size(100_000, 10_000);
        let reps = reps(1, 2);
        let workload = Workload::new("supervise_errors", n, "task").reps(reps);
        measure(&cfg, &rt, &mut results, &workload, move |p| {
            supervise_errors(p, n)
        });
    }
    if wanted("macro_overhead") {
        let n = size(100_000, 10_000);
        let workload = Workload::new("macro_overhead", n, "scope")
            .against(&[Peer::Scope, Peer::ScopeMacro], Peer::Scope);
        measure(&cfg, &rt, &mut results, &workload, move |p| {
            macros::macro_overhead(p, n, false)
        });
        let workload = Workload::new("macro_overhead_attr", n, "scope")
            .against(&[Peer::Scope, Peer::ScopedAttr], Peer::Scope);
        measure(&cfg, &rt, &mut results, &workload, move |p| {
            macros::macro_overhead(p, n, true)
        });
    }

    if wanted("inline_fan_out") {
        for (n, reps) in [
            (size(1_000, 1_000), reps(100, 20)),
            (size(100_000, 10_000), reps(2, 2)),
        ] {
            let workload = Workload::new("inline_fan_out", n, "task")
                .reps(reps)
                .against(&INLINE_FAN_OUT_PEERS, Peer::Unordered);
            measure(&cfg, &rt, &mut results, &workload, move |p| {
                inline_fan_out(p, n)
            });
        }
    }
    if wanted("shared_spawn") {
        let per = size(2_000, 500);
        let n = SPAWNERS * per;
        let workload =
            Workload::new("shared_spawn", n, "task").against(&SHARED_SPAWN_PEERS, Peer::Tracker);
        measure(&cfg, &rt, &mut results, &workload, move |p| {
            shared_spawn(p, per)
        });
    }
    if wanted("wide_nested") {
        let n = size(10_000, 2_000);
        let workload =
            Workload::new("wide_nested", n, "scope").against(&WIDE_NESTED_PEERS, Peer::JoinSet);
        measure(&cfg, &rt, &mut results, &workload, move |p| {
            wide_nested(p, n)
        });
    }
    if wanted("long_lived") {
        let n = size(1_000_000, 100_000);
        let wave = size(10_000, 10_000);
        let workload =
            Workload::new("long_lived", n, "task").against(&LONG_LIVED_PEERS, Peer::JoinSet);
        measure(&cfg, &rt, &mut results, &workload, move |p| {
            long_lived(p, n, wave)
        });
        if rss_bytes().is_some() {
            measure_rss_growth(&cfg, &mut results, n, wave);
        } else {
            eprintln!("long_lived_rss: skipped, /proc/self/statm is not readable here");
        }
    }

    print_table(&results);
    if cfg.smoke {
        println!("\n(smoke run: targets not evaluated; run `cargo bench --bench peers`)");
    } else {
        if cfg.quick {
            println!(
                "\n(quick run: N is smaller than issue 4's, so the verdicts are indicative only)"
            );
        }
        print_targets(&results);
    }
    print_json(&cfg, &results);

    exit_if_failed();
}
