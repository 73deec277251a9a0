//! `ASYNC_SCOPE_DEBUG` (SPEC.md "Details", scope-core's `observe` module):
//! one line on stderr per lifecycle event when it is set, nothing when it is
//! not. It is read once per process: these tests run an `#[ignore]`d child
//! test in a new process of this binary.

use std::io;

use async_scope::{Policy, Scope};

use crate::common::settle;
use crate::support::*;

/// The text with every column of a location in this file left out
/// (`tests/observability/debug.rs:12:34` → `tests/observability/debug.rs:12`).
fn without_columns(text: &str) -> String {
    without_columns_in(file!(), text)
}

/// The child test: a scenario with every kind of lifecycle line. It prints the
/// lines it expects on stderr to stdout, prefixed `expect: `, with columns left out.
/// Its name as the test harness knows it (module path included).
const CHILD: &str = "debug::debug_lines_child";

#[tokio::test(flavor = "current_thread")]
#[ignore = "run in a child process by the ASYNC_SCOPE_DEBUG tests"]
async fn debug_lines_child() {
    let file = file!();
    let inner_ids = slot();
    let (app, flaky, flaky_line, nested, nested_line, nested_error) = Scope::builder()
        .name("app")
        .policy(Policy::Supervise)
        .on_error(|_| {})
        .run(|app| {
            let inner_ids = inner_ids.clone();
            async move {
                let flaky_line = line!() + 1;
                let flaky = app.spawn_named("flaky", boom);
                let flaky_id = flaky.id();
                let _ = flaky.await;
                let nested_line = line!() + 1;
                let nested = app.spawn_named("nested", |_| {
                    Scope::builder().name("inner").run(|inner| async move {
                        let sleeper_line = line!() + 1;
                        let sleeper = inner.spawn_named("sleeper", never);
                        settle().await;
                        let bad_line = line!() + 1;
                        let bad = inner.spawn_named("bad", boom);
                        put(
                            &inner_ids,
                            (inner.id(), sleeper.id(), sleeper_line, bad.id(), bad_line),
                        );
                        Ok::<_, io::Error>(())
                    })
                });
                let nested_id = nested.id();
                let nested_error = nested.await.unwrap_err().to_string();
                Ok::<_, io::Error>((
                    app.id(),
                    flaky_id,
                    flaky_line,
                    nested_id,
                    nested_line,
                    nested_error,
                ))
            }
        })
        .await
        .unwrap();
    let (inner, sleeper, sleeper_line, bad, bad_line) = take(&inner_ids);
    let bad_failure = format!("task {bad} \"bad\" (spawned at {file}:{bad_line}) failed: boom");
    let expected = [
        format!("scope {app} \"app\" opened (policy supervise)"),
        format!("scope {app} \"app\": task {flaky} \"flaky\" spawned at {file}:{flaky_line}"),
        format!("scope {app} \"app\": task {flaky} \"flaky\" failed (recorded): boom"),
        format!("scope {app}: error handler called for task {flaky}"),
        format!("scope {app} \"app\": task {nested} \"nested\" spawned at {file}:{nested_line}"),
        format!("scope {inner} \"inner\" opened (policy cancel), nested in scope {app}"),
        format!(
            "scope {inner} \"inner\": task {sleeper} \"sleeper\" spawned at {file}:{sleeper_line}"
        ),
        format!("scope {inner} \"inner\": task {bad} \"bad\" spawned at {file}:{bad_line}"),
        format!("scope {inner} \"inner\": task {bad} \"bad\" failed (fails the scope): boom"),
        format!("scope {inner} \"inner\" cancelled: {bad_failure}"),
        format!("scope {inner} \"inner\": task {sleeper} \"sleeper\" cancelled"),
        format!("scope {inner} \"inner\" closed: failed: {bad_failure}"),
        format!("scope {app} \"app\": task {nested} \"nested\" failed (recorded): {nested_error}"),
        format!("scope {app}: error handler called for task {nested}"),
        format!("scope {app} \"app\" closed: ok"),
    ];
    for line in expected {
        println!("expect: {}", without_columns(&line));
    }
}

struct ChildRun {
    /// The lines the child expects, in order.
    expected: Vec<String>,
    /// The child's `async-scope:` lines on stderr, prefix and columns left out.
    lines: Vec<String>,
    stderr: String,
}

/// Runs [`debug_lines_child`] in a new process of this test binary, with
/// `ASYNC_SCOPE_DEBUG` set to `debug` (or unset).
fn run_child(debug: Option<&str>) -> ChildRun {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args([
        "--exact",
        CHILD,
        "--nocapture",
        "--ignored",
        "--test-threads=1",
    ]);
    match debug {
        Some(value) => command.env("ASYNC_SCOPE_DEBUG", value),
        None => command.env_remove("ASYNC_SCOPE_DEBUG"),
    };
    let output = command.output().expect("the test binary runs again");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        output.status.success(),
        "the child failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("1 passed"), "the child test ran:\n{stdout}");
    let expected: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.split_once("expect: ").map(|(_, e)| e.to_owned()))
        .collect();
    assert_eq!(expected.len(), 15, "{stdout}");
    let lines = stderr
        .lines()
        .filter_map(|line| line.strip_prefix("async-scope: "))
        .map(without_columns)
        .collect();
    ChildRun {
        expected,
        lines,
        stderr,
    }
}

#[test]
fn async_scope_debug_prints_one_line_per_lifecycle_event() {
    let run = run_child(Some("1"));
    assert_eq!(run.lines, run.expected, "stderr:\n{}", run.stderr);
    // Every line is one whole event: nothing else on stderr.
    assert_eq!(
        run.stderr.lines().count(),
        run.expected.len(),
        "{}",
        run.stderr
    );
}

#[test]
fn without_async_scope_debug_nothing_is_printed() {
    for debug in [None, Some("0"), Some("")] {
        let run = run_child(debug);
        assert!(
            !run.stderr.contains("async-scope:"),
            "ASYNC_SCOPE_DEBUG={debug:?}:\n{}",
            run.stderr
        );
    }
    // Any other value turns it on.
    let run = run_child(Some("yes"));
    assert_eq!(run.lines, run.expected, "stderr:\n{}", run.stderr);
}
