//! `scope!` (SPEC.md "Macros"): `spawn`, `spawn critical` and `spawn optional`
//! statements bind handles, the tail is the scope's value, and leading options
//! reach the scope, as the engine calls it expands to.

use std::time::Duration;

use async_scope::{
    scope, scoped, BoxError, OptionalHandle, Policy, Scope, ScopeError, TaskError, TaskHandle,
    TaskKind,
};
use tokio::sync::oneshot;

use crate::support::*;

#[tokio::test]
async fn scope_binds_handles_and_returns_the_tail() {
    let base = 10;
    let (a, b, c) = scope! {
        let a = spawn { Ok::<_, std::io::Error>(base + 1) };
        let b: TaskHandle<u32> = spawn critical { Ok::<_, std::io::Error>(2) };
        let c: OptionalHandle<u32> = spawn optional { Ok::<_, std::io::Error>(3) };
        let extra = 100;
        Ok((a.await? + extra, b.await?, c.await))
    }
    .unwrap();
    assert_eq!((a, b, c), (111, 2, Some(3)));
}

#[tokio::test]
async fn scope_without_a_tail_is_ok_unit() {
    let result: Result<(), ScopeError> = scope! {
        spawn { Ok::<_, std::io::Error>(()) }
        let _ = 1;
    };
    result.unwrap();
}

#[tokio::test]
async fn scope_normal_task_failure_depends_on_policy() {
    let err = scope! {
        spawn { failing("cancel policy") }
    }
    .unwrap_err();
    assert_eq!(reason(&err), "task failed");

    let errors = scope! {
        policy = "supervise";
        let h = spawn { failing("supervised") };
        assert!(h.await.is_err());
        Ok(scope.errors().len())
    }
    .unwrap();
    assert_eq!(errors, 1);
}

#[tokio::test]
async fn scope_critical_task_fails_the_scope_under_supervise() {
    let err = scope! {
        policy = "supervise";
        spawn critical { failing("critical") }
    }
    .unwrap_err();
    assert_eq!(reason(&err), "critical task failed");
    assert_eq!(err.failures()[0].kind(), TaskKind::Critical);
}

#[tokio::test]
async fn scope_optional_task_failure_yields_none() {
    let (value, kinds) = scope! {
        let h = spawn optional { failing("optional").map(|()| 1) };
        let value = h.await;
        Ok((value, scope.errors().iter().map(|f| f.kind()).collect::<Vec<_>>()))
    }
    .unwrap();
    assert_eq!(value, None);
    assert_eq!(kinds, [TaskKind::Optional]);
}

#[tokio::test]
async fn scope_tasks_receive_their_signal() {
    let (tx, rx) = oneshot::channel();
    let err = scope! {
        spawn |signal| {
            let _ = tx.send(signal.clone());
            std::future::pending::<()>().await;
            Ok::<_, std::io::Error>(())
        }
        let token = rx.await?;
        assert!(!token.is_cancelled());
        scope.cancel();
        // The task's signal is cancelled with its scope.
        assert!(token.is_cancelled());
        Ok(())
    }
    .unwrap_err();
    assert_eq!(reason(&err), "cancelled");
}

#[tokio::test]
async fn scope_critical_and_optional_tasks_receive_their_signal() {
    let (tx, rx) = oneshot::channel();
    let (tx2, rx2) = oneshot::channel();
    let err = scope! {
        spawn critical |signal| {
            let _ = tx.send(signal);
            std::future::pending::<()>().await;
            Ok::<_, std::io::Error>(())
        }
        spawn optional |signal: async_scope::CancellationToken| {
            let _ = tx2.send(signal);
            std::future::pending::<()>().await;
            Ok::<_, std::io::Error>(())
        }
        let (a, b) = (rx.await?, rx2.await?);
        scope.cancel();
        assert!(a.is_cancelled() && b.is_cancelled());
        Ok(())
    }
    .unwrap_err();
    assert_eq!(reason(&err), "cancelled");
}

#[tokio::test]
async fn scope_tasks_see_scope() {
    let n = scope! {
        let h = spawn {
            let inner = scope.spawn(|_| async { Ok::<_, std::io::Error>(2) });
            Ok::<_, TaskError>(inner.await? * 10)
        };
        Ok(h.await? + 1)
    }
    .unwrap();
    assert_eq!(n, 21);
}

#[tokio::test]
async fn scope_body_question_mark_fails_the_scope() {
    let err = scope! {
        spawn { Ok::<_, std::io::Error>(()) }
        failing("in the body")?;
        Ok(())
    }
    .unwrap_err();
    assert_eq!(reason(&err), "body failed");
    assert_eq!(
        err.to_string(),
        "scope failed: the body failed: in the body"
    );
}

#[tokio::test]
async fn scope_task_error_types_are_inferred() {
    let outcome = scope! {
        policy = "supervise";
        let parsed = spawn {
            let n: u32 = "12".parse()?;
            Ok(n)
        };
        let bad = spawn {
            let n: u32 = "twelve".parse()?;
            Ok(n)
        };
        Ok((parsed.await?, bad.await.is_err()))
    }
    .unwrap();
    assert_eq!(outcome, (12, true));
}

#[tokio::test]
async fn scope_options_reach_the_scope() {
    let (policy, name) = scope! {
        policy = "supervise", name = "options";
        Ok((scope.policy(), scope.name().map(str::to_owned)))
    }
    .unwrap();
    assert_eq!(policy, Policy::Supervise);
    assert_eq!(name.as_deref(), Some("options"));

    let policy = scope! {
        Ok(scope.policy())
    }
    .unwrap();
    assert_eq!(policy, Policy::Cancel);
}

#[tokio::test(start_paused = true)]
async fn scope_timeout() {
    let start = tokio::time::Instant::now();
    let err = scope! {
        timeout_ms = 25, name = "timed";
        let h = spawn {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, std::io::Error>(())
        };
        assert!(matches!(h.await, Err(TaskError::Cancelled)));
        Ok(())
    }
    .unwrap_err();
    assert_eq!(reason(&err), "timed out");
    assert_eq!(err.scope_name(), Some("timed"));
    assert_eq!(start.elapsed(), Duration::from_millis(25));
}

#[tokio::test]
async fn scope_crate_path() {
    let policy = renamed::scope! {
        crate = "renamed", policy = "supervise";
        Ok(scope.policy())
    }
    .unwrap();
    assert_eq!(policy, Policy::Supervise);
}

#[tokio::test]
async fn scope_nests_as_a_child() {
    let err = scope! {
        let outer = scope.clone();
        let inner = scope! {
            spawn |signal| {
                signal.cancelled().await;
                Ok::<_, std::io::Error>(())
            }
            outer.cancel();
            Ok(())
        };
        Ok(inner.map_err(|e| reason(&e)))
    }
    .unwrap_err();
    assert_eq!(reason(&err), "cancelled");
}

#[tokio::test]
async fn scope_in_scoped() {
    #[scoped]
    async fn outer() -> Result<u8, AppError> {
        let n = scope! {
            let h = spawn { Ok::<_, std::io::Error>(1u8) };
            Ok(h.await?)
        }?;
        Ok(n + 1)
    }
    assert_eq!(outer().await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_on_a_multi_thread_runtime() {
    let sum = scope! {
        let handles: Vec<_> = (0..8u32).map(|i| scope.spawn(move |_| async move { Ok::<_, std::io::Error>(i) })).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await?;
        }
        Ok(sum)
    }
    .unwrap();
    assert_eq!(sum, 28);
}

/// The same program through `scope!` and by hand: same outcome.
#[tokio::test]
async fn scope_matches_the_hand_written_code() {
    let by_macro = scope! {
        policy = "supervise";
        let a = spawn { failing("a").map(|()| 1) };
        let b = spawn optional { failing("b").map(|()| 2) };
        let c = spawn critical { Ok::<_, std::io::Error>(3) };
        Ok((a.await.is_err(), b.await, c.await?, scope.errors().len()))
    };
    let by_hand = Scope::builder()
        .policy(Policy::Supervise)
        .run(|scope| async move {
            let a = scope.spawn(move |_| async move { failing("a").map(|()| 1) });
            let b = scope.spawn_optional(move |_| async move { failing("b").map(|()| 2) });
            let c = scope.spawn_critical(move |_| async move { Ok::<_, std::io::Error>(3) });
            Ok::<_, BoxError>((a.await.is_err(), b.await, c.await?, scope.errors().len()))
        })
        .await;
    assert_eq!(by_macro.unwrap(), by_hand.unwrap());
}
