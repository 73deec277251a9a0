//! "What is my scope waiting on?": prints the live tree of a scope that hangs.
//!
//! A crawl scope with a concurrency limit runs a few fetches; one never ends
//! (it ignores its signal), one fails, a nested scope waits on a stuck
//! lookup. After a while a watchdog prints the scope's snapshot, the text
//! tree a person reads at a glance, then cancels the scope.
//!
//! ```sh
//! cargo run --example hung_scope
//! ```

use std::future::pending;
use std::time::Duration;

use async_scope::{Policy, Scope};
use tokio::time::sleep;

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let result = Scope::builder()
        .name("crawl")
        .policy(Policy::Supervise)
        .max_concurrency(3)
        .run(|scope| async move {
            scope.spawn_named("fetch /", |_| async {
                sleep(Duration::from_millis(300)).await;
                Ok::<_, std::io::Error>("<html>")
            });
            scope.spawn_named("fetch /about", |_| async {
                sleep(Duration::from_millis(200)).await;
                Err::<&str, _>("HTTP 503")
            });
            scope.spawn_named("fetch /slow", |_| async {
                pending::<()>().await; // the one we are waiting on
                Ok::<_, std::io::Error>("never")
            });
            scope.task().name("resolve").spawn_critical(|_| async {
                async_scope::Scope::builder()
                    .name("dns")
                    .run(|dns| async move {
                        dns.spawn_named("lookup example.com", |_| {
                            pending::<Result<(), std::io::Error>>()
                        });
                        Ok::<_, std::io::Error>(())
                    })
                    .await
            });
            scope.spawn_named("fetch /contact", |_| async {
                Ok::<_, std::io::Error>("<form>")
            });

            // The watchdog: after 5 s, show what the scope is waiting on.
            sleep(Duration::from_secs(5)).await;
            println!("{}", scope.snapshot());
            scope.cancel();
            Ok::<_, std::io::Error>(())
        })
        .await;
    println!("{}", result.unwrap_err());
}
