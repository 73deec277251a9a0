//! Measuring and reporting: the runtime, the configuration, rounds rotated
//! over the peers, medians and ratios, the table, the targets and the JSON
//! lines, and the resident set size.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::peers::{Peer, PEERS};

/// Resident set size of this process in bytes, from `/proc/self/statm`.
pub(crate) fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident * page_size()?)
}

/// The page size, from `/proc/self/smaps` (no libc needed), read once: the
/// file is large, and reading it at every measurement would allocate (and
/// touch) more memory than some figures it serves.
fn page_size() -> Option<u64> {
    static PAGE_SIZE: OnceLock<Option<u64>> = OnceLock::new();
    *PAGE_SIZE.get_or_init(|| {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let line = smaps.lines().find(|l| l.starts_with("KernelPageSize:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    })
}

/// The runtime every workload runs on: multi-threaded, two workers (the
/// machine's cores), time and I/O enabled.
pub(crate) fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// What the command line asked for (`parse_args` in main.rs).
pub(crate) struct Config {
    /// `--quick`: smaller N and fewer rounds.
    pub(crate) quick: bool,
    /// Run without `--bench` (as `cargo test --all-targets` does): a smoke
    /// run with tiny N and one round that only checks results.
    pub(crate) smoke: bool,
    /// Recorded rounds, after the one warm-up round.
    pub(crate) rounds: usize,
    /// Only workloads whose name contains this.
    pub(crate) filter: Option<String>,
    /// Only this peer (for profiling); ratios are then missing.
    pub(crate) peer: Option<Peer>,
}

impl Config {
    /// The peers of `peers` this run measures: all, or the one `--peer` names.
    fn selected(&self, peers: &[Peer]) -> Vec<Peer> {
        peers
            .iter()
            .copied()
            .filter(|p| self.peer.map_or(true, |only| only == *p))
            .collect()
    }
}

/// One peer's result in one workload.
pub(crate) struct Result_ {
    pub(crate) workload: String,
    pub(crate) n: u64,
    pub(crate) unit: &'static str,
    /// `ns` (time per unit) or `B` (bytes per task).
    pub(crate) metric: &'static str,
    pub(crate) peer: Peer,
    /// One value per round, per unit.
    pub(crate) samples: Vec<f64>,
    /// The reference peer of ratios (JoinSet, or the hand-written engine calls).
    pub(crate) reference: Peer,
    /// Whether ratios to the reference mean anything (not for a growth that
    /// may be zero, as `long_lived_rss`'s): without, the table shows `—`
    /// and the JSON `null`.
    pub(crate) ratios: bool,
}

/// The median of `values` (the mean of the middle two for an even count;
/// NaN for none).
fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    if v.is_empty() {
        f64::NAN
    } else if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

impl Result_ {
    /// The median of the rounds' values.
    fn median(&self) -> f64 {
        median(&self.samples)
    }

    fn min(&self) -> f64 {
        self.samples.iter().copied().fold(f64::INFINITY, f64::min)
    }

    fn max(&self) -> f64 {
        self.samples
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

/// The reference row of a workload.
fn reference<'a>(results: &'a [Result_], r: &Result_) -> Option<&'a Result_> {
    results
        .iter()
        .find(|o| o.workload == r.workload && o.n == r.n && o.peer == r.reference)
}

/// Ratio of medians to the reference.
fn ratio(results: &[Result_], r: &Result_) -> f64 {
    reference(results, r).map_or(f64::NAN, |j| r.median() / j.median())
}

/// Median of the per-round ratios to the reference (same round, adjacent in time).
fn paired_ratio(results: &[Result_], r: &Result_) -> f64 {
    reference(results, r).map_or(f64::NAN, |j| {
        let ratios: Vec<f64> = r
            .samples
            .iter()
            .zip(&j.samples)
            .map(|(a, b)| a / b)
            .collect();
        median(&ratios)
    })
}

/// What [`measure`] runs and how it reports it: one row per peer in the table.
pub(crate) struct Workload<'a> {
    /// The workload's name in the table, the targets and the JSON lines.
    pub(crate) name: &'a str,
    /// The workload's size (tasks, scopes, nodes), shown as `n`.
    pub(crate) n: u64,
    /// What a result is per (`task`, `scope`, `run`, ...).
    pub(crate) unit: &'static str,
    /// Units in one run: a run's time is divided by it.
    pub(crate) units_per_run: u64,
    /// Runs per sample, so that a sample lasts long enough to time.
    pub(crate) reps: u32,
    /// The peers to run, in the first round's order.
    pub(crate) peers: &'a [Peer],
    /// The peer the ratios are taken against.
    pub(crate) reference: Peer,
}

impl<'a> Workload<'a> {
    /// `n` units of `unit`, one run per sample, the usual peers against
    /// JoinSet.
    pub(crate) fn new(name: &'a str, n: u64, unit: &'static str) -> Self {
        Workload {
            name,
            n,
            unit,
            units_per_run: n,
            reps: 1,
            peers: &PEERS,
            reference: Peer::JoinSet,
        }
    }

    /// Runs per sample, for a run too short to time alone.
    pub(crate) fn reps(self, reps: u32) -> Self {
        Workload { reps, ..self }
    }

    /// Units in one run, when a run is not `n` of them (a run of
    /// `fail_fast_cancel` is one unit).
    pub(crate) fn units_per_run(self, units_per_run: u64) -> Self {
        Workload {
            units_per_run,
            ..self
        }
    }

    /// Other peers, and the one the ratios are taken against.
    pub(crate) fn against(self, peers: &'a [Peer], reference: Peer) -> Self {
        Workload {
            peers,
            reference,
            ..self
        }
    }
}

/// Runs `f` for every peer of `workload`, `rounds` rounds plus a warm-up,
/// rotating the order; each sample is `reps` runs, reported per unit.
pub(crate) fn measure<F, Fut>(
    cfg: &Config,
    rt: &Runtime,
    results: &mut Vec<Result_>,
    workload: &Workload<'_>,
    f: F,
) where
    F: Fn(Peer) -> Fut,
    Fut: Future<Output = Duration> + Send + 'static,
{
    let Workload {
        name: workload,
        n,
        unit,
        units_per_run,
        reps,
        peers,
        reference,
    } = *workload;
    let peers = cfg.selected(peers);
    let label = format!("{workload} n={n}");
    eprint!("{label:<28}");
    let mut samples = vec![Vec::new(); peers.len()];
    for round in 0..=cfg.rounds {
        for k in 0..peers.len() {
            let index = (k + round) % peers.len();
            let peer = peers[index];
            let mut total = Duration::ZERO;
            for _ in 0..reps {
                // The owner is a task on the runtime, as in a server.
                total += rt.block_on(async { tokio::spawn(f(peer)).await.unwrap() });
            }
            if round > 0 {
                samples[index]
                    .push(total.as_nanos() as f64 / f64::from(reps) / units_per_run as f64);
            }
        }
        eprint!(".");
    }
    eprintln!();
    for (peer, samples) in peers.iter().zip(samples) {
        results.push(Result_ {
            workload: workload.to_string(),
            n,
            unit,
            metric: "ns",
            peer: *peer,
            samples,
            reference,
            ratios: true,
        });
    }
}

/// What [`measure_values`] runs and how it reports it: one row per peer and
/// workload in the table.
pub(crate) struct Figures<'a> {
    /// The workloads' names, one per figure a run gives, in that order.
    pub(crate) workloads: &'a [&'a str],
    /// The workload's size, shown as `n`.
    pub(crate) n: u64,
    /// What a figure is per (`pending task`, `run`, ...).
    pub(crate) unit: &'static str,
    /// `ns` or `B`, as in [`Result_::metric`].
    pub(crate) metric: &'static str,
    /// The peers to run, in the first round's order.
    pub(crate) peers: &'a [Peer],
    /// The peer the ratios are taken against.
    pub(crate) reference: Peer,
    /// Whether ratios mean anything, as in [`Result_::ratios`].
    pub(crate) ratios: bool,
}

/// Runs `f` for every peer of `figures`, `rounds` rounds (no warm-up: each
/// value comes from a fresh child process), rotating the order; each run
/// gives one value per workload of `figures.workloads` (several figures of
/// one child).
pub(crate) fn measure_values(
    cfg: &Config,
    results: &mut Vec<Result_>,
    figures: &Figures<'_>,
    f: impl Fn(Peer) -> Vec<f64>,
) {
    let Figures {
        workloads,
        n,
        unit,
        metric,
        peers,
        reference,
        ratios,
    } = *figures;
    let peers = cfg.selected(peers);
    eprint!("{:<28}", format!("{} n={n}", workloads[0]));
    // samples[workload][peer][round]
    let mut samples = vec![vec![Vec::new(); peers.len()]; workloads.len()];
    for round in 0..cfg.rounds {
        for k in 0..peers.len() {
            let index = (k + round) % peers.len();
            let values = f(peers[index]);
            assert_eq!(values.len(), workloads.len(), "one value per workload");
            for (w, value) in values.into_iter().enumerate() {
                samples[w][index].push(value);
            }
        }
        eprint!(".");
    }
    eprintln!();
    for (workload, samples) in workloads.iter().zip(samples) {
        for (peer, samples) in peers.iter().zip(samples) {
            results.push(Result_ {
                workload: (*workload).into(),
                n,
                unit,
                metric,
                peer: *peer,
                samples,
                reference,
                ratios,
            });
        }
    }
}

/// Prints the Markdown table of every result, with ratios to each
/// workload's reference.
pub(crate) fn print_table(results: &[Result_]) {
    println!();
    println!("| workload | n | peer | median | min | max | unit | ratio | paired ratio |");
    println!("|---|---:|---|---:|---:|---:|---|---:|---:|");
    for r in results {
        let fmt = |v: f64| {
            if r.metric == "B" && v.abs() >= 10_240.0 {
                format!("{:.0} KiB", v / 1024.0)
            } else if r.metric == "B" {
                format!("{v:.0} B")
            } else if v >= 10_000.0 {
                format!("{:.1} µs", v / 1000.0)
            } else {
                format!("{v:.1} ns")
            }
        };
        if !r.ratios {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | — | — |",
                r.workload,
                r.n,
                r.peer.name(),
                fmt(r.median()),
                fmt(r.min()),
                fmt(r.max()),
                r.unit,
            );
            continue;
        }
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.2}× {} | {:.2}× |",
            r.workload,
            r.n,
            r.peer.name(),
            fmt(r.median()),
            fmt(r.min()),
            fmt(r.max()),
            r.unit,
            ratio(results, r),
            r.reference.name(),
            paired_ratio(results, r),
        );
    }
}

/// `v` as a JSON number (`null` if it is not finite).
fn json_number(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "null".into()
    }
}

/// Prints one JSON line per result.
pub(crate) fn print_json(cfg: &Config, results: &[Result_]) {
    println!();
    for r in results {
        let (ratio, paired_ratio) = if r.ratios {
            (ratio(results, r), paired_ratio(results, r))
        } else {
            (f64::NAN, f64::NAN)
        };
        let samples: Vec<String> = r.samples.iter().map(|v| json_number(*v)).collect();
        println!(
            "{{\"workload\":\"{}\",\"n\":{},\"peer\":\"{}\",\"unit\":\"{}\",\"metric\":\"{}_per_{}\",\
             \"median\":{},\"min\":{},\"max\":{},\"rounds\":{},\"reference\":\"{}\",\
             \"ratio\":{},\"paired_ratio\":{},\"samples\":[{}],\"mode\":\"{}\"}}",
            r.workload,
            r.n,
            r.peer.name(),
            r.unit,
            r.metric,
            r.unit.replace(' ', "_"),
            json_number(r.median()),
            json_number(r.min()),
            json_number(r.max()),
            r.samples.len(),
            r.reference.name(),
            json_number(ratio),
            json_number(paired_ratio),
            samples.join(","),
            if cfg.smoke {
                "smoke"
            } else if cfg.quick {
                "quick"
            } else {
                "full"
            },
        );
    }
}

/// A mebibyte, for `long_lived_rss`'s growth target.
const MIB: f64 = 1024.0 * 1024.0;

/// A target that is a ratio of medians to the workload's reference peer:
/// one row of the targets table, printed when the run measured both.
struct RatioTarget {
    /// The row's label in the targets table.
    label: &'static str,
    /// The workload whose result is read.
    workload: &'static str,
    /// The result's n, or `None` for the largest n measured.
    n: Option<u64>,
    /// The peer whose ratio is read (async-scope, or one of its macros).
    peer: Peer,
    /// The ratio's upper bound: met when the ratio is at most this.
    limit: f64,
    /// Printed after the bound (the reference's name, in issue 14's rows).
    suffix: &'static str,
}

/// Issue 4's ratio targets, in the order printed (before supervise_errors').
const ISSUE_4_TARGETS: [RatioTarget; 8] = [
    RatioTarget {
        label: "spawn_join n=100000, async-scope / JoinSet",
        workload: "spawn_join",
        n: Some(100_000),
        peer: Peer::Scope,
        limit: 1.00,
        suffix: "",
    },
    RatioTarget {
        label: "spawn_join n=1000000, async-scope / JoinSet",
        workload: "spawn_join",
        n: Some(1_000_000),
        peer: Peer::Scope,
        limit: 1.00,
        suffix: "",
    },
    RatioTarget {
        label: "fail_fast_cancel (largest n), async-scope / JoinSet",
        workload: "fail_fast_cancel",
        n: None,
        peer: Peer::Scope,
        limit: 0.80,
        suffix: "",
    },
    RatioTarget {
        label: "nested, async-scope / JoinSet",
        workload: "nested",
        n: None,
        peer: Peer::Scope,
        limit: 1.00,
        suffix: "",
    },
    RatioTarget {
        label: "fan_out_tree, async-scope / JoinSet",
        workload: "fan_out_tree",
        n: None,
        peer: Peer::Scope,
        limit: 1.00,
        suffix: "",
    },
    RatioTarget {
        label: "memory per pending task, async-scope / JoinSet",
        workload: "memory",
        n: None,
        peer: Peer::Scope,
        limit: 1.15,
        suffix: "",
    },
    RatioTarget {
        label: "macro_overhead, scope! / hand-written",
        workload: "macro_overhead",
        n: None,
        peer: Peer::ScopeMacro,
        limit: 1.02,
        suffix: "",
    },
    RatioTarget {
        label: "macro_overhead, #[scoped] / hand-written",
        workload: "macro_overhead_attr",
        n: None,
        peer: Peer::ScopedAttr,
        limit: 1.02,
        suffix: "",
    },
];

/// Issue 14's ratio targets (its new workloads) and issue 15's (inline
/// tasks against the plain in-task set), in the order printed (after
/// supervise_errors', before long_lived_rss').
const ISSUE_14_15_TARGETS: [RatioTarget; 3] = [
    RatioTarget {
        label: "shared_spawn, async-scope / TaskTracker+token",
        workload: "shared_spawn",
        n: None,
        peer: Peer::Scope,
        limit: 1.00,
        suffix: " TaskTracker",
    },
    RatioTarget {
        label: "long_lived (ns/task), async-scope / JoinSet",
        workload: "long_lived",
        n: None,
        peer: Peer::Scope,
        limit: 1.10,
        suffix: " JoinSet",
    },
    RatioTarget {
        label: "inline_fan_out (largest n), async-scope inline / FuturesUnordered",
        workload: "inline_fan_out",
        n: None,
        peer: Peer::Scope,
        limit: 1.50,
        suffix: " FuturesUnordered",
    },
];

/// The targets of issues 4 and 14, evaluated on this run (ratio of medians).
pub(crate) fn print_targets(results: &[Result_]) {
    let find = |workload: &str, n: Option<u64>, peer: Peer| {
        results
            .iter()
            .filter(|r| r.workload == workload && r.peer == peer && n.map_or(true, |n| r.n == n))
            .max_by_key(|r| r.n)
    };
    // (target, value, target, met), as printed.
    let mut rows: Vec<(String, String, String, bool)> = Vec::new();
    // The rows of the targets measured in this run, in the table's order.
    let ratio_rows = |targets: &[RatioTarget]| {
        let mut rows = Vec::new();
        for t in targets {
            let Some(r) = find(t.workload, t.n, t.peer) else {
                continue;
            };
            let value = ratio(results, r);
            if value.is_finite() {
                rows.push((
                    t.label.to_string(),
                    format!("{value:.2}×"),
                    format!("≤ {:.2}×{}", t.limit, t.suffix),
                    value <= t.limit,
                ));
            }
        }
        rows
    };
    rows.extend(ratio_rows(&ISSUE_4_TARGETS));
    // supervise_errors against spawn_join's own figure at the same n.
    if let Some(sup) = find("supervise_errors", None, Peer::Scope) {
        if let Some(sj) = find("spawn_join", Some(sup.n), Peer::Scope) {
            let value = sup.median() / sj.median();
            rows.push((
                format!("supervise_errors n={}, async-scope / its spawn_join", sup.n),
                format!("{value:.2}×"),
                "≤ 1.30×".into(),
                value <= 1.30,
            ));
        }
    }
    rows.extend(ratio_rows(&ISSUE_14_15_TARGETS));
    // long_lived's resident set: growth from the first wave to the end.
    if let Some(r) = find("long_lived_rss", None, Peer::Scope) {
        let growth = r.median() / MIB;
        if growth.is_finite() {
            rows.push((
                format!(
                    "long_lived_rss n={}, async-scope RSS growth after the first wave",
                    r.n
                ),
                format!("{growth:.2} MiB"),
                "≤ 2.00 MiB".into(),
                growth <= 2.0,
            ));
        }
    }
    println!();
    println!("| target | value | target | verdict |");
    println!("|---|---:|---:|---|");
    for (name, value, target, met) in rows {
        let verdict = if met { "met" } else { "MISSED" };
        println!("| {name} | {value} | {target} | {verdict} |");
    }
}
