//! `scope!` with `spawn inline` (SPEC.md "Inline tasks: tasks that borrow",
//! and "Macros"): inline tasks borrow from around the scope, bind their
//! handles by kind, and mix with ordinary spawns.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;

use async_scope::{
    scope, CancellationToken, OptionalHandle, ScopeError, TaskError, TaskHandle, TaskKind,
};
use tokio::sync::oneshot;

use crate::support::*;

#[tokio::test]
async fn scope_inline_tasks_borrow_from_around_the_scope() {
    let urls = vec!["a".to_string(), "bb".to_string()];
    let total: Result<usize, ScopeError> = scope! {
        let mut handles = Vec::new();
        for u in &urls {
            let h = spawn inline { Ok::<_, std::io::Error>(u.len()) };
            handles.push(h);
        }
        let mut total = 0;
        for h in handles { total += h.await?; }
        Ok(total)
    };
    assert_eq!(total.unwrap(), 3);
    // `urls` was only borrowed
    assert_eq!(urls.len(), 2);
    // the same loop with ordinary tasks over owned data (the body, a `move`
    // block, takes `urls`)
    let total = scope! {
        let mut handles = Vec::new();
        for u in urls.clone() {
            let h = spawn { Ok::<_, std::io::Error>(u.len()) };
            handles.push(h);
        }
        let mut total = 0;
        for h in handles { total += h.await?; }
        Ok(total)
    }
    .unwrap();
    assert_eq!(total, 3);
}

#[tokio::test]
async fn scope_inline_tasks_share_borrowed_state() {
    let counter = AtomicUsize::new(0);
    let names = vec!["x", "y", "z"];
    let seen = Mutex::new(Vec::new());
    let (counted, seen_ref) = (&counter, &seen);
    scope! {
        for name in &names {
            spawn inline {
                counted.fetch_add(1, SeqCst);
                seen_ref.lock().unwrap().push(*name);
                Ok(())
            }
        }
        spawn inline critical { counted.fetch_add(10, SeqCst); Ok(()) }
        spawn inline optional { counted.fetch_add(100, SeqCst); Ok(()) }
    }
    .unwrap();
    assert_eq!(counter.load(SeqCst), 113);
    let mut seen = seen.into_inner().unwrap();
    seen.sort_unstable();
    assert_eq!(seen, names);
}

#[tokio::test]
async fn scope_inline_kinds_bind_their_handles() {
    let owned = vec!["one".to_string(), "three".to_string()];
    // a task's block is an `async move` one: it borrows through a reference
    let words = &owned;
    let (a, b, c) = scope! {
        let a: TaskHandle<usize> = spawn inline { Ok::<_, std::io::Error>(words[0].len()) };
        let b = spawn inline critical { Ok::<_, std::io::Error>(words[1].len()) };
        let c: OptionalHandle<usize> = spawn inline optional { Ok::<_, std::io::Error>(words.len()) };
        Ok((a.await?, b.await?, c.await))
    }
    .unwrap();
    assert_eq!((a, b, c), (3, 5, Some(2)));
}

#[tokio::test]
async fn scope_inline_critical_task_fails_the_scope_under_supervise() {
    let message = String::from("inline critical");
    let err = scope! {
        policy = "supervise";
        spawn inline { Ok::<_, std::io::Error>(()) }
        spawn inline critical { Err::<(), _>(std::io::Error::other(message.as_str())) }
    }
    .unwrap_err();
    assert_eq!(reason(&err), "critical task failed");
    assert_eq!(err.failures()[0].kind(), TaskKind::Critical);
}

#[tokio::test]
async fn scope_inline_optional_task_failure_yields_none() {
    let (value, kinds) = scope! {
        let h = spawn inline optional { failing("optional").map(|()| 1) };
        let value = h.await;
        Ok((value, scope.errors().iter().map(|f| f.kind()).collect::<Vec<_>>()))
    }
    .unwrap();
    assert_eq!(value, None);
    assert_eq!(kinds, [TaskKind::Optional]);
}

#[tokio::test]
async fn scope_inline_tasks_receive_their_signal() {
    let (tx, rx) = oneshot::channel();
    let err = scope! {
        spawn inline critical |signal| {
            let _ = tx.send(signal.clone());
            std::future::pending::<()>().await;
            Ok::<_, std::io::Error>(())
        }
        let token: CancellationToken = rx.await?;
        assert!(!token.is_cancelled());
        scope.cancel();
        assert!(token.is_cancelled());
        Ok(())
    }
    .unwrap_err();
    assert_eq!(reason(&err), "cancelled");
}

#[tokio::test]
async fn scope_inline_options_reach_the_scope() {
    let items = [1u32, 2, 3];
    let (errors, name, total) = scope! {
        policy = "supervise", name = "inline", max_concurrency = 1, retain_failures = 10;
        let bad = spawn inline { failing("supervised").map(|()| 0u32) };
        let mut handles = Vec::new();
        for item in &items {
            let h = spawn inline { Ok::<_, std::io::Error>(*item) };
            handles.push(h);
        }
        assert!(bad.await.is_err());
        let mut total = 0;
        for h in handles { total += h.await?; }
        Ok((scope.errors().len(), scope.name().map(str::to_owned), total))
    }
    .unwrap();
    assert_eq!((errors, name.as_deref(), total), (1, Some("inline"), 6));
}

#[tokio::test]
async fn scope_inline_and_ordinary_spawns_mix() {
    let prefix = String::from("p-");
    let (owned, borrowed, nested) = scope! {
        let prefix_ref = &prefix;
        let owned = spawn { Ok::<_, std::io::Error>(String::from("owned")) };
        let borrowed = spawn inline { Ok::<_, std::io::Error>(format!("{prefix_ref}borrowed")) };
        // an inline task gets its own `inline` to start more inline tasks
        let nested = spawn inline {
            let inner = inline.spawn(move |_| async move { Ok::<_, std::io::Error>(prefix_ref.len()) });
            Ok::<_, TaskError>(inner.await? * 10)
        };
        Ok((owned.await?, borrowed.await?, nested.await?))
    }
    .unwrap();
    assert_eq!(
        (owned.as_str(), borrowed.as_str(), nested),
        ("owned", "p-borrowed", 20)
    );
}
