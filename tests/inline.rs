//! Inline tasks (SPEC.md "Inline tasks: tasks that borrow"): tasks that
//! borrow from outside the scope's call, run by the scope's run loop.

use async_scope::*;
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn borrow_and_sum() {
    let urls = vec!["a".to_string(), "bb".to_string()];
    let urls_ref = &urls;
    let total = with_scope_inline(|_s, inline| async move {
        let mut hs = Vec::new();
        for u in urls_ref {
            hs.push(inline.spawn(move |_| async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok::<_, std::io::Error>(u.len())
            }));
        }
        let mut t = 0;
        for h in hs {
            t += h.await?;
        }
        Ok::<_, TaskError>(t)
    })
    .await
    .unwrap();
    assert_eq!(total, 3);
    assert_eq!(urls.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn failure_cancels_and_drops() {
    let data = &[1, 2, 3];
    let err = with_scope_inline(|_s, inline| async move {
        let slow = inline.spawn(|_| async {
            std::future::pending::<()>().await;
            Ok::<_, std::io::Error>(data.len())
        });
        inline.spawn(|_| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Err::<(), _>("boom")
        });
        let r = slow.await;
        assert!(matches!(r, Err(TaskError::Cancelled)), "{r:?}");
        Ok::<_, std::io::Error>(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), Reason::TaskFailed(_)));
}

#[tokio::test(start_paused = true)]
async fn handle_cancel_zero_grace() {
    let r = with_scope_inline(|_s, inline| async move {
        let h = inline.spawn(|_| async {
            std::future::pending::<()>().await;
            Ok::<_, std::io::Error>(())
        });
        tokio::task::yield_now().await;
        h.cancel();
        assert!(matches!(h.await, Err(TaskError::Cancelled)));
        Ok::<_, std::io::Error>(())
    })
    .await;
    r.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_in_spawn() {
    let v = tokio::spawn(async {
        let local = &vec![5u32; 100];
        with_scope_inline(|scope, inline| async move {
            let hs: Vec<_> = local
                .iter()
                .map(|x| inline.spawn(move |_| async move { Ok::<_, std::io::Error>(*x) }))
                .collect();
            let h2 = scope.spawn(|_| async { Ok::<_, std::io::Error>(1u32) });
            let mut t = h2.await?;
            for h in hs {
                t += h.await?;
            }
            Ok::<_, TaskError>(t)
        })
        .await
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(v, 501);
}

#[tokio::test(start_paused = true)]
async fn a_scope_opened_in_an_inline_task_is_drawn_under_it() {
    with_scope_inline(|scope, inline| async move {
        let (opened_tx, opened_rx) = tokio::sync::oneshot::channel();
        inline.spawn(|_| async move {
            with_scope(|_| async move {
                opened_tx.send(()).unwrap();
                std::future::pending::<()>().await;
                Ok::<_, std::io::Error>(())
            })
            .await
        });
        opened_rx.await.unwrap();
        let snapshot = scope.snapshot();
        assert_eq!(snapshot.tasks().len(), 1, "{snapshot}");
        assert!(snapshot.tasks()[0].is_inline());
        assert_eq!(snapshot.tasks()[0].scopes().len(), 1, "{snapshot}");
        assert!(snapshot.scopes().is_empty(), "{snapshot}");
        scope.cancel();
        Ok::<_, std::io::Error>(())
    })
    .await
    .unwrap_err();
}
