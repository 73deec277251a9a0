//! A request handler that loads a dashboard from three services, run four ways:
//!
//! 1. everything succeeds;
//! 2. billing fails under the `cancel` policy: its siblings are cancelled at once;
//! 3. billing fails under `supervise`: the others finish, the failure is in `errors()`;
//! 4. an optional metrics task fails (ignored) and a critical commit fails (fatal).
//!
//! Run it with `cargo run --example quickstart`.

use std::fmt;
use std::time::{Duration, Instant};

use async_scope::{with_scope, CancellationToken, Policy, Scope, ScopeError, TaskError};
use tokio::time::sleep;

/// A service call's error.
#[derive(Debug)]
struct ServiceError(&'static str);

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is unavailable", self.0)
    }
}

impl std::error::Error for ServiceError {}

/// Simulates a call to `service` that takes `latency` and may fail; it stops
/// early when its task is cancelled.
async fn call(
    service: &'static str,
    latency: Duration,
    fails: bool,
    signal: CancellationToken,
    started: Instant,
) -> Result<String, ServiceError> {
    tokio::select! {
        () = sleep(latency) => {}
        () = signal.cancelled() => {
            println!("    {:>5} ms  {service}: cancelled, stopping", started.elapsed().as_millis());
            return Err(ServiceError(service));
        }
    }
    if fails {
        println!(
            "    {:>5} ms  {service}: FAILED",
            started.elapsed().as_millis()
        );
        Err(ServiceError(service))
    } else {
        println!("    {:>5} ms  {service}: ok", started.elapsed().as_millis());
        Ok(format!("{service}-data"))
    }
}

#[derive(Debug)]
struct Dashboard {
    user: String,
    billing: String,
    permissions: String,
}

/// Loads the dashboard; `billing_fails` makes the billing service fail fast.
async fn load(policy: Policy, billing_fails: bool) -> Result<Dashboard, ScopeError> {
    let started = Instant::now();
    Scope::builder()
        .name("dashboard")
        .policy(policy)
        .run(|scope| async move {
            let ms = Duration::from_millis;
            let user = scope.spawn(move |s| call("user", ms(300), false, s, started));
            let billing = scope.spawn(move |s| call("billing", ms(100), billing_fails, s, started));
            let permissions = scope.spawn(move |s| call("permissions", ms(400), false, s, started));
            // Under `supervise`, a failed service leaves a placeholder instead.
            let or_missing = |r: Result<String, TaskError>| r.unwrap_or_else(|e| format!("<{e}>"));
            Ok::<_, TaskError>(Dashboard {
                user: or_missing(user.await),
                billing: or_missing(billing.await),
                permissions: or_missing(permissions.await),
            })
        })
        .await
}

fn show(result: &Result<Dashboard, ScopeError>) {
    match result {
        Ok(d) => println!(
            "  => Ok: user={}, billing={}, permissions={}",
            d.user, d.billing, d.permissions
        ),
        Err(e) => println!("  => Err: {e}"),
    }
}

#[tokio::main]
async fn main() {
    println!("1. all three services answer (policy cancel)");
    let result = load(Policy::Cancel, false).await;
    show(&result);
    assert!(result.is_ok());

    println!(
        "\n2. billing fails under policy `cancel`: user and permissions are cancelled at once"
    );
    let result = load(Policy::Cancel, true).await;
    show(&result);
    assert!(result.is_err());

    println!("\n3. billing fails under policy `supervise`: the others finish");
    let started = Instant::now();
    let result = Scope::builder()
        .policy(Policy::Supervise)
        .on_error(|failure| println!("    on_error: {failure}"))
        .run(|scope| async move {
            let dashboard = load(Policy::Supervise, true).await;
            show(&dashboard);
            // The nested scope's failures are its own; this scope's errors() is empty.
            assert!(scope.errors().is_empty());
            let retry = scope.spawn(move |s| {
                call(
                    "billing (retry)",
                    Duration::from_millis(50),
                    true,
                    s,
                    started,
                )
            });
            let _ = retry.await;
            println!("    errors() of the outer scope: {}", scope.errors().len());
            Ok::<_, ScopeError>(scope.errors().len())
        })
        .await;
    assert_eq!(result.unwrap(), 1);

    println!("\n4. optional metrics fail (ignored), then a critical commit fails (fatal)");
    let started = Instant::now();
    let result = with_scope(|scope| async move {
        let metrics = scope
            .spawn_optional(move |s| call("metrics", Duration::from_millis(50), true, s, started));
        println!("    metrics: {:?} (the scope goes on)", metrics.await);
        scope.spawn(move |s| call("audit log", Duration::from_secs(10), false, s, started));
        scope.spawn_critical(move |s| call("commit", Duration::from_millis(150), true, s, started));
        Ok::<_, ScopeError>(())
    })
    .await;
    match &result {
        Ok(()) => println!("  => Ok"),
        Err(e) => {
            println!("  => Err: {e}");
            for failure in e.failures() {
                println!("     recorded: {failure}");
            }
        }
    }
    assert!(result.is_err());
}
