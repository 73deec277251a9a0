//! A request handler that loads a dashboard from three services, run four ways:
//!
//! 1. everything succeeds;
//! 2. billing fails under the `cancel` policy: its siblings are cancelled at once;
//! 3. billing fails under `supervise`: the others finish, the failure is in `errors()`;
//! 4. an optional metrics task fails (ignored) and a critical commit fails (fatal);
//! 5. the same handler written with the `#[scoped]` and `scope!` macros.
//!
//! Run it with `cargo run --example quickstart`.

use std::fmt;
use std::time::{Duration, Instant};

use async_scope::{
    scope, scoped, with_scope, CancellationToken, Policy, Scope, ScopeError, TaskError,
};
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

/// The handler's own error: a scope failure, a task failure, or a bad request.
#[derive(Debug)]
enum HandlerError {
    Scope(ScopeError),
    Task(TaskError),
    BadRequest(&'static str),
}

impl From<ScopeError> for HandlerError {
    fn from(e: ScopeError) -> Self {
        HandlerError::Scope(e)
    }
}

impl From<TaskError> for HandlerError {
    fn from(e: TaskError) -> Self {
        HandlerError::Task(e)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Scope(e) => write!(f, "{e}"),
            HandlerError::Task(e) => write!(f, "a task failed: {e}"),
            HandlerError::BadRequest(why) => write!(f, "bad request: {why}"),
        }
    }
}

impl std::error::Error for HandlerError {}

/// `load`, written with `#[scoped]`: the body runs in a scope named `scope`.
#[scoped(name = "dashboard (macro)")]
async fn load_with_macro(user_id: u64) -> Result<Dashboard, HandlerError> {
    if user_id == 0 {
        return Err(HandlerError::BadRequest("user id 0")); // returned unchanged
    }
    let started = Instant::now();
    let ms = Duration::from_millis;
    let user = scope.spawn(move |s| call("user", ms(100), false, s, started));
    let billing = scope.spawn(move |s| call("billing", ms(50), false, s, started));
    let permissions = scope.spawn(move |s| call("permissions", ms(150), false, s, started));
    Ok(Dashboard {
        user: user.await?,
        billing: billing.await?,
        permissions: permissions.await?,
    })
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

    println!("\n5. the same with the macros: `#[scoped]` and an inline `scope!`");
    let dashboard = load_with_macro(7).await;
    match &dashboard {
        Ok(d) => println!(
            "  => Ok: user={}, billing={}, permissions={}",
            d.user, d.billing, d.permissions
        ),
        Err(e) => println!("  => Err: {e}"),
    }
    assert!(dashboard.is_ok());
    let bad = load_with_macro(0).await;
    println!("  => with user id 0: Err: {}", bad.as_ref().unwrap_err());
    assert!(matches!(bad, Err(HandlerError::BadRequest(_))));
    let started = Instant::now();
    let result = scope! {
        policy = "supervise", name = "notifications";
        let email = spawn |signal| { call("email", Duration::from_millis(80), true, signal, started).await };
        let push = spawn |signal| { call("push", Duration::from_millis(40), false, signal, started).await };
        spawn optional |signal| { call("analytics", Duration::from_millis(20), true, signal, started).await };
        let sent = [email.await.is_ok(), push.await.is_ok()];
        println!("    sent: email={}, push={}; failures so far: {}", sent[0], sent[1], scope.errors().len());
        Ok(sent)
    };
    println!("  => {result:?}");
    assert_eq!(result.unwrap(), [false, true]);
}
