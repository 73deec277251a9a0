//! `scope!`'s `spawn` statements in the body's control flow (SPEC.md
//! "Macros"): in a loop or a branch, each one executed starts a task of the
//! scope.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{scope, CancellationToken, ScopeError, TaskError};
use tokio::time::Instant;

use crate::support::*;

/// `spawn` statements in a `for` loop start tasks of the scope: their
/// results add up, and each is cancelled with the scope.
#[tokio::test(start_paused = true)]
async fn spawns_in_a_for_loop_are_tasks_of_the_scope() {
    let urls: Vec<u64> = vec![1, 2, 3, 4];
    let sum: Result<u64, ScopeError> = scope! {
        let mut handles = Vec::new();
        for u in urls.clone() {
            let h = spawn { doubled(u).await };
            handles.push(h);
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await?;
        }
        Ok(sum)
    };
    assert_eq!(sum.unwrap(), 20);

    let tokens: Arc<Mutex<Vec<CancellationToken>>> = Arc::default();
    let seen = Arc::clone(&tokens);
    let start = Instant::now();
    let result: Result<(), ScopeError> = scope! {
        for _ in 0..3 {
            let tokens = Arc::clone(&tokens);
            spawn |signal| {
                tokens.lock().unwrap().push(signal.clone());
                signal.cancelled().await;
                Ok::<_, TaskError>(())
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(tokens.lock().unwrap().len(), 3);
        assert!(tokens.lock().unwrap().iter().all(|t| !t.is_cancelled()));
        scope.cancel();
        Ok(())
    };
    assert_eq!(reason(&result.unwrap_err()), "cancelled");
    let tokens = seen.lock().unwrap();
    assert_eq!(tokens.len(), 3);
    assert!(tokens.iter().all(CancellationToken::is_cancelled));
    assert!(start.elapsed() < Duration::from_secs(1));
}

/// In `if`/`else` and `match`, only the chosen branch spawns its task.
#[tokio::test(start_paused = true)]
async fn branches_spawn_only_the_chosen_task() {
    async fn pick(n: u64) -> Vec<&'static str> {
        let ran = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&ran);
        let result: Result<(), ScopeError> = scope! {
            if n == 0 {
                let ran = Arc::clone(&ran);
                spawn { ran.lock().unwrap().push("if"); Ok::<_, TaskError>(()) }
            } else if n == 1 {
                let ran = Arc::clone(&ran);
                spawn critical { ran.lock().unwrap().push("else if"); Ok::<_, TaskError>(()) };
            } else {
                let ran = Arc::clone(&ran);
                spawn optional { ran.lock().unwrap().push("else"); Ok::<_, TaskError>(()) };
            }
            let ran = Arc::clone(&ran);
            match n {
                0 => spawn { ran.lock().unwrap().push("arm 0"); Ok::<_, TaskError>(()) },
                1 => {
                    let h = spawn { ran.lock().unwrap().push("arm 1"); Ok::<_, TaskError>(()) };
                    h.await?;
                }
                _ => {}
            }
            scope.wait_for_completion().await?;
            Ok(())
        };
        result.unwrap();
        let mut ran = seen.lock().unwrap().clone();
        ran.sort_unstable();
        ran
    }
    assert_eq!(pick(0).await, ["arm 0", "if"]);
    assert_eq!(pick(1).await, ["arm 1", "else if"]);
    assert_eq!(pick(2).await, ["else"]);
}
