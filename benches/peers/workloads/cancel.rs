//! `fail_fast_cancel`: how fast a failure cancels N pending siblings.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use async_scope::{with_scope, Reason};
use futures::future::Either;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::check::{check, check_all_dropped, reset_counters, FAILED_AT};
use crate::peers::Peer;
use crate::tasks::{fail_when_parked, parked_forever, tracked};

/// N tasks parked forever and one that fails once they are all parked; the
/// time from the failure until every task is dropped and the owner has
/// control back.
pub(crate) async fn fail_fast_cancel(peer: Peer, n: usize) -> Duration {
    reset_counters(n);
    let end = match peer {
        Peer::Raw => {
            let handles: Vec<_> = (0..n).map(|_| tokio::spawn(parked_forever())).collect();
            let failing = tokio::spawn(fail_when_parked());
            let failed = failing.await.unwrap().is_err();
            for handle in &handles {
                handle.abort();
            }
            let mut cancelled = 0;
            for handle in handles {
                cancelled += usize::from(handle.await.unwrap_err().is_cancelled());
            }
            let end = Instant::now();
            check(failed && cancelled == n, || {
                format!("fail_fast_cancel raw: failed {failed}, cancelled {cancelled}")
            });
            end
        }
        Peer::JoinSet => {
            let mut set = JoinSet::new();
            for _ in 0..n {
                set.spawn(parked_forever());
            }
            set.spawn(fail_when_parked());
            let first = set.join_next().await.unwrap().unwrap();
            set.shutdown().await;
            let end = Instant::now();
            check(first.is_err(), || {
                "fail_fast_cancel JoinSet: first not Err".into()
            });
            end
        }
        Peer::Tracker => {
            let tracker = TaskTracker::new();
            let token = CancellationToken::new();
            for _ in 0..n {
                tracker.spawn(tracked(token.clone(), true, parked_forever()));
            }
            let failing = tracker.spawn(tracked(token.clone(), true, fail_when_parked()));
            tracker.close();
            tracker.wait().await;
            let end = Instant::now();
            let failed = matches!(failing.await, Ok(Some(Err(_))));
            check(failed, || "fail_fast_cancel TaskTracker: no failure".into());
            end
        }
        Peer::Unordered => {
            let mut set = FuturesUnordered::new();
            for _ in 0..n {
                set.push(Either::Left(parked_forever()));
            }
            set.push(Either::Right(fail_when_parked()));
            let first = set.next().await.unwrap();
            drop(set);
            let end = Instant::now();
            check(first.is_err(), || {
                "fail_fast_cancel FuturesUnordered: first not Err".into()
            });
            end
        }
        Peer::Scope => {
            let result = with_scope(|scope| async move {
                for _ in 0..n {
                    scope.spawn(|_| parked_forever());
                }
                scope.spawn(|_| fail_when_parked());
                Ok::<_, Infallible>(())
            })
            .await;
            let end = Instant::now();
            let failed = matches!(&result, Err(e) if matches!(e.reason(), Reason::TaskFailed(_)));
            check(failed, || {
                format!("fail_fast_cancel async-scope: {result:?}")
            });
            end
        }
        Peer::JoinAll | Peer::ScopeMacro | Peer::ScopedAttr => unreachable!(),
    };
    let failed_at = FAILED_AT.lock().unwrap().expect("the failing task ran");
    check_all_dropped("fail_fast_cancel", peer, n);
    end - failed_at
}
