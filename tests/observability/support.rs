//! Helpers shared by the observability tests: tasks that end in known ways,
//! slots that carry ids out of a scope, and locations without columns.

use std::future::{pending, ready, Pending, Ready};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::CancellationToken;
use tokio::time::sleep;

use crate::common::Res;

/// A task that succeeds at once.
pub(crate) fn ok(_: CancellationToken) -> Ready<Res> {
    ready(Ok(()))
}

/// A task that fails at once with "boom".
pub(crate) fn boom(_: CancellationToken) -> Ready<Res> {
    ready(Err("boom".into()))
}

/// A task that never ends by itself.
pub(crate) fn never(_: CancellationToken) -> Pending<Res> {
    pending()
}

/// A task that ignores its signal and sleeps for an hour.
pub(crate) async fn stubborn(_: CancellationToken) -> Res {
    sleep(Duration::from_secs(3600)).await;
    Ok(())
}

/// A place a scope's body or task puts a value for the test to take.
pub(crate) type Slot<T> = Arc<Mutex<Option<T>>>;

pub(crate) fn slot<T>() -> Slot<T> {
    Arc::new(Mutex::new(None))
}

pub(crate) fn put<T>(slot: &Slot<T>, value: T) {
    *slot.lock().unwrap() = Some(value);
}

pub(crate) fn take<T>(slot: &Slot<T>) -> T {
    slot.lock().unwrap().take().expect("the slot was filled")
}

/// The text with every column of a location in `file` left out
/// (`tests/observability/snapshot.rs:12:34` → `tests/observability/snapshot.rs:12`):
/// each test module passes its own `file!()`.
pub(crate) fn without_columns_in(file: &str, text: &str) -> String {
    let marker = format!("{file}:");
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(&marker) {
        let (before, after) = rest.split_at(i + marker.len());
        out.push_str(before);
        let line_len = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        out.push_str(&after[..line_len]);
        rest = &after[line_len..];
        if let Some(col) = rest.strip_prefix(':') {
            let col_len = col.find(|c: char| !c.is_ascii_digit()).unwrap_or(col.len());
            if col_len > 0 {
                rest = &col[col_len..];
            }
        }
    }
    out.push_str(rest);
    out
}
