//! The server example (`examples/server.rs`) driven over loopback, in
//! process: each test binds `127.0.0.1:0`, runs the example's `serve` on a
//! multi-thread runtime, talks to it as clients would, and ends it with a
//! graceful shutdown (a client's `SHUTDOWN` line, or the `shutdown_on`
//! signal, a oneshot standing in for Ctrl-C), then checks what `serve`
//! returned.
//!
//! Synchronisation is by the protocol itself: a reply read means the server
//! got that far (`SLEEPING` means the slow command is in flight, `VALUE ` that
//! a big reply is being written), and counts that change after a connection
//! ends are waited for through `STATS`. Every read has a 10 s hang guard;
//! the only timing assertion is that a connection stuck in a write is
//! aborted no sooner than the grace period.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_scope::ScopeError;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

#[path = "../examples/server.rs"]
#[allow(dead_code)] // its `main`
mod server;

use server::{serve, Config, Summary};

/// Turns a hang into a failure; times nothing.
const GUARD: Duration = Duration::from_secs(10);

async fn guarded<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("hung: {what}"))
}

type Server = JoinHandle<Result<Summary, ScopeError>>;

/// Starts the example's server on a free loopback port.
async fn start(
    config: Config,
    shutdown: impl std::future::Future + Send + 'static,
) -> (SocketAddr, Server) {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, tokio::spawn(serve(listener, config, shutdown)))
}

/// Waits for the server to end, and returns its summary (a shutdown is `Ok`).
async fn finished(server: Server) -> Summary {
    guarded("serve returning", server)
        .await
        .expect("serve panicked")
        .expect("a graceful shutdown ends the scope Ok")
}

struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Client::from(guarded("connect", TcpStream::connect(addr)).await.unwrap())
    }

    fn from(stream: TcpStream) -> Client {
        let (reader, writer) = stream.into_split();
        Client {
            reader: BufReader::new(reader),
            writer,
        }
    }

    async fn send(&mut self, line: &str) {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        guarded("send", self.writer.write_all(&bytes))
            .await
            .unwrap();
    }

    /// The next line without its newline; `None` at EOF.
    async fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        let n = guarded("a reply", self.reader.read_line(&mut line))
            .await
            .unwrap();
        (n > 0).then(|| line.trim_end().to_owned())
    }

    async fn call(&mut self, line: &str) -> String {
        self.send(line).await;
        self.line().await.expect("a reply, not EOF")
    }

    /// One `STATS` field.
    async fn stat(&mut self, field: &str) -> u64 {
        let stats = self.call("STATS").await;
        let prefix = format!("{field}=");
        stats
            .split(' ')
            .find_map(|kv| kv.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {field} in {stats:?}"))
            .parse()
            .unwrap()
    }

    /// Sends `SHUTDOWN`: `OK`, then this connection's own `BYE` and EOF.
    async fn shutdown_server(mut self) {
        assert_eq!(self.call("SHUTDOWN").await, "OK");
        self.expect_bye().await;
    }

    async fn expect_bye(&mut self) {
        assert_eq!(self.line().await.as_deref(), Some("BYE"));
        assert_eq!(self.line().await, None, "the server closes after BYE");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_get_and_set_then_ctrl_c_shuts_down() {
    let (ctrl_c, signalled) = tokio::sync::oneshot::channel::<()>();
    let (addr, server) = start(Config::default(), signalled).await;

    const CLIENTS: usize = 8;
    const KEYS: usize = 25;
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        clients.push(tokio::spawn(async move {
            let mut client = Client::connect(addr).await;
            for k in 0..KEYS {
                assert_eq!(
                    client.call(&format!("SET k{c}-{k} value {c} {k}")).await,
                    "OK"
                );
                assert_eq!(
                    client.call(&format!("GET k{c}-{k}")).await,
                    format!("VALUE value {c} {k}")
                );
                assert_eq!(client.call(&format!("SET shared {c}")).await, "OK");
            }
            assert_eq!(client.call(&format!("DEL k{c}-0")).await, "OK");
            assert_eq!(client.call(&format!("DEL k{c}-0")).await, "NONE");
            client
        }));
    }
    let mut idle = Vec::new();
    for client in clients {
        idle.push(guarded("a client", client).await.unwrap());
    }

    // Every client's writes are visible to every other.
    let mut check = Client::connect(addr).await;
    for c in 0..CLIENTS {
        assert_eq!(check.call(&format!("GET k{c}-0")).await, "NONE");
        assert_eq!(
            check.call(&format!("GET k{c}-7")).await,
            format!("VALUE value {c} 7")
        );
    }
    assert!(check.call("GET shared").await.starts_with("VALUE "));
    assert_eq!(check.stat("keys").await, (CLIENTS * (KEYS - 1) + 1) as u64);
    assert_eq!(check.stat("connections").await, CLIENTS as u64 + 1);

    // The shutdown signal: every idle connection is told goodbye.
    ctrl_c.send(()).unwrap();
    idle.push(check);
    for client in &mut idle {
        client.expect_bye().await;
    }
    let summary = finished(server).await;
    assert_eq!(
        summary,
        Summary {
            accepted: CLIENTS as u64 + 1,
            failures: 0,
            retained: 0
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_lines_fail_their_own_connection_only() {
    let config = Config {
        max_connections: 16,
        max_line: 1024,
        ..Config::default()
    };
    let (addr, server) = start(config, std::future::pending::<()>()).await;
    let mut good = Client::connect(addr).await;
    assert_eq!(good.call("SET answer 42").await, "OK");

    // 150 bad connections, 10 at a time, plus one line over the limit.
    const BAD: usize = 150;
    for wave in 0..BAD / 10 {
        let mut bad = Vec::new();
        for i in 0..10 {
            bad.push(tokio::spawn(async move {
                let mut client = Client::connect(addr).await;
                let line = match i {
                    0 => "FROB".to_owned(),
                    1 => "GET".to_owned(),
                    2 => "SET lonely".to_owned(),
                    3 => "SLEEP soon".to_owned(),
                    _ => format!("garbage {wave} {i}"),
                };
                assert_eq!(client.call(&line).await, "ERR unknown command");
                assert_eq!(client.line().await, None, "a failed connection is closed");
            }));
        }
        for client in bad {
            guarded("a bad client", client).await.unwrap();
        }
    }
    // The server stops reading at the limit, so its close may reset the
    // connection before the client reads `ERR line too long`: read what comes.
    let mut long = Client::connect(addr).await;
    long.send(&format!("SET big {}", "x".repeat(2000))).await;
    let mut reply = Vec::new();
    let _ = guarded("EOF", long.reader.read_to_end(&mut reply)).await;
    assert!(b"ERR line too long\n".starts_with(&reply), "{reply:?}");

    // A failure is counted once its task has ended, just after its socket closed.
    let failures = (BAD + 1) as u64;
    guarded("the failures to be counted", async {
        while good.stat("failures").await < failures {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(good.stat("failures").await, failures);
    assert_eq!(good.stat("retained").await, 100, "retain_failures(100)");
    assert_eq!(
        good.call("GET answer").await,
        "VALUE 42",
        "the server goes on"
    );

    // The snapshot lists the 100 failures kept, and the one live connection.
    good.send("SNAPSHOT").await;
    let mut tree = Vec::new();
    loop {
        let line = good.line().await.expect("the snapshot, then END");
        if line == "END" {
            break;
        }
        tree.push(line);
    }
    assert!(tree[0].contains("\"server\" (supervise)"), "{}", tree[0]);
    assert!(tree[0].contains("1 live, 100 failed"), "{}", tree[0]);
    assert_eq!(tree.iter().filter(|l| l.contains(" failed: ")).count(), 100);
    assert!(tree
        .iter()
        .any(|l| l.contains("line longer than 1024 bytes")));

    good.shutdown_server().await;
    let summary = finished(server).await;
    assert_eq!(summary.failures, BAD + 1);
    assert_eq!(summary.retained, 100);
    assert_eq!(summary.accepted, BAD as u64 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_command_in_flight_finish_then_says_goodbye() {
    let config = Config {
        grace: Duration::from_secs(30), // never reached: nothing is aborted
        ..Config::default()
    };
    let (addr, server) = start(config, std::future::pending::<()>()).await;
    let mut idle = Client::connect(addr).await;
    assert_eq!(idle.call("SET k v").await, "OK");
    let mut busy = Client::connect(addr).await;
    assert_eq!(busy.call("SLEEP 300").await, "SLEEPING"); // in flight now

    Client::connect(addr).await.shutdown_server().await;

    // The idle connection is told goodbye at once; the busy one gets its
    // reply first. Neither may send another command.
    idle.expect_bye().await;
    assert_eq!(busy.line().await.as_deref(), Some("OK"));
    busy.expect_bye().await;

    let summary = finished(server).await;
    assert_eq!(summary.failures, 0, "a shutdown is not a failure");
    assert_eq!(summary.accepted, 3);
}

/// The largest send buffer Linux may grow a socket to (`tcp_wmem`'s maximum).
fn max_send_buffer() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 << 20)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_aborted_after_the_grace_period() {
    // One reply bigger than both sockets' buffers together can hold, so the
    // handler is stuck in its write for as long as the client does not read.
    let size = 2 * max_send_buffer() + (1 << 20);
    let grace = Duration::from_millis(200);
    let config = Config {
        grace,
        max_line: size + 16,
        ..Config::default()
    };
    let (addr, server) = start(config, std::future::pending::<()>()).await;
    let mut writer = Client::connect(addr).await;
    assert_eq!(
        writer.call(&format!("SET big {}", "x".repeat(size))).await,
        "OK"
    );

    // A small, fixed receive buffer (no autotuning) on the stuck client.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let mut stuck = Client::from(guarded("connect", socket.connect(addr)).await.unwrap());
    stuck.send("GET big").await;
    let mut head = [0; 6];
    guarded("the reply's start", stuck.reader.read_exact(&mut head))
        .await
        .unwrap();
    assert_eq!(&head, b"VALUE "); // the command is in flight; stop reading

    let shutdown_at = Instant::now();
    writer.shutdown_server().await;
    let summary = finished(server).await;
    let took = shutdown_at.elapsed();
    assert!(
        took >= grace,
        "aborted after {took:?}, before the grace period"
    );
    assert_eq!(
        summary.failures, 0,
        "an abort after the grace period is not a failure"
    );

    // What the client gets: part of the reply, then the connection closes, without BYE.
    let mut rest = Vec::new();
    guarded("EOF", stuck.reader.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(
        rest.len() < size + 1,
        "got {} of {} bytes",
        rest.len(),
        size + 1
    );
    assert!(!rest.ends_with(b"BYE\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_beyond_the_limit_waits_until_one_closes() {
    let config = Config {
        max_connections: 2,
        ..Config::default()
    };
    let (addr, server) = start(config, std::future::pending::<()>()).await;
    let mut first = Client::connect(addr).await;
    let mut second = Client::connect(addr).await;
    assert_eq!(first.call("SET k v").await, "OK");
    assert_eq!(second.call("GET k").await, "VALUE v");

    // The kernel completes the third handshake, but the server does not
    // accept it: its accept loop waits for a slot.
    let mut third = Client::connect(addr).await;
    third.send("GET k").await;
    let early = tokio::time::timeout(Duration::from_millis(300), third.line()).await;
    assert!(early.is_err(), "served beyond the limit: {early:?}");
    assert_eq!(first.stat("accepted").await, 2);
    assert_eq!(first.stat("connections").await, 2);

    drop(second); // EOF: its task ends and frees its slot
    assert_eq!(third.line().await.as_deref(), Some("VALUE v"));
    assert_eq!(third.stat("accepted").await, 3);

    first.shutdown_server().await;
    third.expect_bye().await;
    let summary = finished(server).await;
    assert_eq!(summary.accepted, 3);
    assert_eq!(summary.failures, 0);
}
