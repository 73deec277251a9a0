//! Tracing: every scope and every task is a span, so each log line tells which
//! scope and which task it came from, nested as they are.
//!
//! ```sh
//! RUST_LOG=debug cargo run --example tracing
//! ```
//!
//! What to look for:
//!
//! - The prefix of each line is its span path, outermost first, e.g.
//!   `request{id=42}:scope{scope.id=1 scope.name="checkout" policy=supervise}:task{task.id=1 task.kind=normal task.name="load cart" task.location=examples/tracing.rs:59:30}: tracing: cart loaded items=3`.
//!   A task's own `info!` lines sit in its task span, the body's in the scope
//!   span, and the root scope in the caller's `request` span.
//! - The nested scope `pricing`, opened by the `price` task, hangs under
//!   `checkout` (its enclosing scope), and its tasks under it.
//! - `WARN ... task failed scope.id=1 scope.name="checkout" task.id=2
//!   task.kind=normal task.name="recommendations" task.location=... error=recommender
//!   timed out fails_scope=false` in the failing task's span (policy
//!   supervise: the others go on; the event names its scope and task itself,
//!   so `RUST_LOG=warn` without the spans still says where it came from), the
//!   handler's own warning, then `DEBUG ... error handler called` in
//!   `checkout`'s span.
//! - `DEBUG ... task cancelled` for `prefetch images`, cancelled by its handle,
//!   and `scope closed: ok` as each scope ends.
//!
//! The engine's events have the target `scope_core::observe`; this program's
//! have `tracing` (the example's name). Spans are at `INFO`: `RUST_LOG=info`
//! keeps them and the failure but drops the debug lines, `RUST_LOG=warn` shows
//! the failure without its span path (its own fields still name it), and `RUST_LOG=scope_core=debug` only the
//! engine's events. The program runs on paused time, so its sleeps take no time.

use std::future::pending;
use std::io::IsTerminal;
use std::time::Duration;

use async_scope::{Policy, Scope, TaskError};
use tokio::time::sleep;
use tracing::{info, warn, Instrument};
use tracing_subscriber::EnvFilter;

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::from_default_env())
        .without_time()
        .with_ansi(std::io::stdout().is_terminal())
        .init();

    let request = tracing::info_span!("request", id = 42);
    let order = Scope::builder()
        .name("checkout")
        .policy(Policy::Supervise)
        .on_error(|failure| {
            warn!(
                task = failure.name(),
                "carrying on without it: {}",
                failure.error()
            );
        })
        .run(|scope| async move {
            info!("checkout started");
            let cart = scope.spawn_named("load cart", |_| async {
                sleep(Duration::from_millis(20)).await;
                info!(items = 3, "cart loaded");
                Ok::<_, std::io::Error>(3)
            });
            scope.spawn_named("recommendations", |_| async {
                sleep(Duration::from_millis(10)).await;
                Err::<(), _>("recommender timed out")
            });
            let prefetch = scope.spawn_named("prefetch images", |_| async {
                pending::<()>().await;
                Ok::<_, std::io::Error>(())
            });
            let price = scope.spawn_named("price", |_| {
                Scope::builder().name("pricing").run(|pricing| async move {
                    let tax = pricing.spawn_named("tax", |_| async {
                        info!(rate = 0.2, "tax rate looked up");
                        Ok::<_, std::io::Error>(2_00)
                    });
                    let shipping = pricing.task().name("shipping").spawn_critical(|_| async {
                        sleep(Duration::from_millis(5)).await;
                        info!(carrier = "post", "shipping quoted");
                        Ok::<_, std::io::Error>(4_50)
                    });
                    Ok::<_, TaskError>(10_00 + tax.await? + shipping.await?)
                })
            });

            let items = cart.await?;
            prefetch.cancel(); // not needed any more
            let cents = price.await?;
            info!(items, cents, "order ready");
            Ok::<_, TaskError>((items, cents))
        })
        .instrument(request)
        .await;

    match order {
        Ok((items, cents)) => println!("order ready: {items} items, {cents} cents"),
        Err(err) => println!("checkout failed: {err}"),
    }
}
