//! A key-value server on one long-lived scope: a task per connection in a
//! `Supervise` scope, backpressure, bounded failures, graceful shutdown.
//!
//! ```sh
//! cargo run --example server                  # listens on 127.0.0.1:7878
//! cargo run --example server 127.0.0.1:0      # any free port (also: SERVER_ADDR=...)
//! nc 127.0.0.1 7878                           # then type commands, one per line
//! ```
//!
//! The first line on stdout is `listening on ADDR`; logs go to stderr
//! (`RUST_LOG=debug` for the engine's own events). One command per line:
//!
//! | command | reply |
//! |---|---|
//! | `GET key` | `VALUE value`, or `NONE` |
//! | `SET key value` (the value runs to the end of the line) | `OK` |
//! | `DEL key` | `OK`, or `NONE` |
//! | `SLEEP ms` (a slow request) | `SLEEPING`, then `OK` once `ms` have passed |
//! | `STATS` | `STATS connections=.. accepted=.. failures=.. retained=.. keys=..` |
//! | `SNAPSHOT` | the server scope's snapshot tree, then `END` |
//! | `SHUTDOWN` | `OK`, then the server shuts down gracefully |
//!
//! Anything else, or a line longer than the limit, gets `ERR ...` and ends
//! that connection's task with an `Err`: a supervised failure, logged by the
//! error handler, counted, and one of the 100 kept for `SNAPSHOT`; the other
//! connections go on.
//!
//! **Shutdown** (Ctrl-C or `SHUTDOWN`): the accept loop stops, and every
//! connection's token is cancelled. A connection finishes the command in
//! flight (try `SLEEP 1000` in one `nc`, `SHUTDOWN` in another), says `BYE`
//! and closes; one still busy after the grace period (`SERVER_GRACE_MS`,
//! default 2000) is aborted, e.g. a client that never reads its replies.
//!
//! **Backpressure**: at most `SERVER_MAX_CONNECTIONS` (default 64) connections
//! are served at once. The accept loop reserves a slot before it accepts, so
//! further clients wait in the kernel's backlog, not in the server's memory.
//!
//! **tokio-console**: add `console-subscriber` to your own program, call
//! `console_subscriber::init()` instead of the `fmt` subscriber below, and
//! build with `RUSTFLAGS="--cfg tokio_unstable" cargo run --example server`;
//! every connection then shows up in `tokio-console` as a task named
//! `scope/task`, with its spawn location. This example does not depend on it.

use std::collections::HashMap;
use std::future::Future;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_scope::{BoxError, CancellationToken, Policy, Scope, ScopeError, TaskState};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

/// How the server runs.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Connections served at once; further clients wait to be accepted.
    pub(crate) max_connections: usize,
    /// How long connections may take to finish after a shutdown before they are aborted.
    pub(crate) grace: Duration,
    /// The longest line accepted, in bytes (without its newline).
    pub(crate) max_line: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_connections: 64,
            grace: Duration::from_secs(2),
            max_line: 64 * 1024,
        }
    }
}

/// What `serve` reports once every connection has ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Connections accepted.
    pub(crate) accepted: u64,
    /// Connections whose task failed (every one, kept or not).
    pub(crate) failures: usize,
    /// Failures the scope still holds (at most 100).
    pub(crate) retained: usize,
}

/// What the connections share.
struct Shared {
    scope: Scope,
    store: Mutex<HashMap<String, String>>,
    accepted: AtomicU64,
    max_line: usize,
}

/// Serves `listener` until `shutdown` completes or a client sends `SHUTDOWN`,
/// then waits for every connection (aborting those still busy after the
/// grace period).
pub(crate) async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future + Send + 'static,
) -> Result<Summary, ScopeError> {
    Scope::builder()
        .name("server")
        .policy(Policy::Supervise)
        .retain_failures(100)
        .max_concurrency(config.max_connections)
        .grace(config.grace)
        .shutdown_on(shutdown)
        .on_error(|failure| warn!("connection {failure}"))
        .run(|scope| async move {
            let shared = Arc::new(Shared {
                scope: scope.clone(),
                store: Mutex::new(HashMap::new()),
                accepted: AtomicU64::new(0),
                max_line: config.max_line,
            });
            // Wait for a free slot first, then accept: a client beyond the
            // limit is not accepted until a connection ends.
            while let Some(permit) = scope.reserve().await {
                let (stream, peer) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            warn!("accept failed: {e}"); // e.g. out of file descriptors
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                    () = scope.cancelled() => break,
                };
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                let shared = shared.clone();
                permit
                    .name(format!("conn {peer}")) // in snapshots, tracing, tokio-console
                    .spawn(move |token| connection(stream, peer, shared, token));
            }
            info!("stopped accepting; waiting for connections to finish");
            // The body is not one of the scope's tasks, so it may wait for them.
            scope.wait_for_completion().await?;
            Ok::<_, ScopeError>(Summary {
                accepted: shared.accepted.load(Ordering::Relaxed),
                failures: scope.failure_count(),
                retained: scope.errors().len(),
            })
        })
        .await
}

/// One connection: commands until EOF, an error, or the token (shutdown).
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    token: CancellationToken,
) -> Result<(), BoxError> {
    info!(%peer, "connected");
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        let limit = shared.max_line as u64 + 1; // the newline
        let mut bounded = (&mut reader).take(limit);
        // Between commands, watch the token. Reading is not cancel safe,
        // but a line cut short by a shutdown was no command yet.
        let read = tokio::select! {
            biased;
            () = token.cancelled() => break,
            read = bounded.read_until(b'\n', &mut line) => read?,
        };
        if read == 0 {
            info!(%peer, "disconnected");
            return Ok(()); // the client closed the connection
        }
        if line.last() != Some(&b'\n') && line.len() as u64 == limit {
            writer.write_all(b"ERR line too long\n").await?;
            return Err(format!("{peer}: line longer than {} bytes", shared.max_line).into());
        }
        let text = std::str::from_utf8(&line)?.trim_end_matches(['\r', '\n']);
        // A command in flight runs to its end, shutdown or not: its reply is
        // written before the token is looked at again.
        match execute(text, &shared, &mut writer).await? {
            Some(reply) => writer.write_all(reply.as_bytes()).await?,
            None => {
                writer.write_all(b"ERR unknown command\n").await?;
                let shown: String = text.chars().take(40).collect();
                return Err(format!("{peer}: malformed command {shown:?}").into());
            }
        }
    }
    writer.write_all(b"BYE\n").await?;
    info!(%peer, "said goodbye");
    Ok(())
}

/// Runs one command; `None` if it is malformed.
async fn execute(
    line: &str,
    shared: &Shared,
    writer: &mut (impl AsyncWriteExt + Unpin),
) -> std::io::Result<Option<String>> {
    let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
    let store = || shared.store.lock().unwrap();
    let reply = match (command, rest) {
        ("GET", key) if !key.is_empty() && !key.contains(' ') => match store().get(key) {
            Some(value) => format!("VALUE {value}\n"),
            None => "NONE\n".to_owned(),
        },
        ("SET", rest) => match rest.split_once(' ') {
            Some((key, value)) if !key.is_empty() => {
                store().insert(key.to_owned(), value.to_owned());
                "OK\n".to_owned()
            }
            _ => return Ok(None),
        },
        ("DEL", key) if !key.is_empty() && !key.contains(' ') => match store().remove(key) {
            Some(_) => "OK\n".to_owned(),
            None => "NONE\n".to_owned(),
        },
        ("SLEEP", ms) => match ms.parse() {
            Ok(ms) => {
                writer.write_all(b"SLEEPING\n").await?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                "OK\n".to_owned()
            }
            Err(_) => return Ok(None),
        },
        ("STATS", "") => {
            let snapshot = shared.scope.snapshot();
            let running = snapshot.tasks().iter();
            let running = running.filter(|t| t.state() == TaskState::Running).count();
            format!(
                "STATS connections={running} accepted={} failures={} retained={} keys={}\n",
                shared.accepted.load(Ordering::Relaxed),
                shared.scope.failure_count(),
                shared.scope.errors().len(),
                store().len(),
            )
        }
        ("SNAPSHOT", "") => format!("{}END\n", shared.scope.snapshot()),
        ("SHUTDOWN", "") => {
            info!("SHUTDOWN received");
            shared.scope.shutdown();
            "OK\n".to_owned()
        }
        _ => return Ok(None),
    };
    Ok(Some(reply))
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let addr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("SERVER_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:7878".to_owned());
    let config = Config {
        max_connections: env_or("SERVER_MAX_CONNECTIONS", 64),
        grace: Duration::from_millis(env_or("SERVER_GRACE_MS", 2000)),
        ..Config::default()
    };
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);

    let summary = serve(listener, config, tokio::signal::ctrl_c()).await?;
    info!(
        "shut down: {} connections accepted, {} failed ({} kept)",
        summary.accepted, summary.failures, summary.retained
    );
    Ok(())
}
