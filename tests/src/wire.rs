//! A loopback TCP proxy for the network benchmarks: counts the bytes on the
//! wire in each direction and can shape the link like a phone's (bandwidth
//! and round-trip time), in front of a sim-cloud.
//!
//! Shaping models one bottleneck per direction with an unbounded queue:
//! a chunk read at `t` leaves the queue at `max(previous departure, t) +
//! len / bandwidth` and arrives `rtt / 2` later. A new connection waits one
//! round trip before it carries data (the TCP handshake). It also records
//! how long the upstream (the cloud) spent answering: from the last byte of
//! a request forwarded to the last byte of its answer received, which the
//! benchmarks subtract from a sync's time to get the core's own share. That
//! is fair only when the cloud answers whole (the client reads nothing
//! before the cloud is done): with a streamed answer, the client's reading
//! and parsing overlap the cloud's time and would not be counted, so the
//! benchmarks measure the share with sim-cloud's streaming switched off
//! (`SimCloud::set_streamed_changes`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How the link behaves; [`Shape::loopback`] leaves it as it is.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Bits per second each way; `None`: unlimited.
    pub bandwidth_bps: Option<u64>,
    /// Round-trip time added to every exchange.
    pub rtt: Duration,
}

impl Shape {
    /// Counting only.
    pub fn loopback() -> Shape {
        Shape {
            bandwidth_bps: None,
            rtt: Duration::ZERO,
        }
    }

    /// `mbit` Mbit/s each way with `rtt_ms` of round trip.
    pub fn mobile(mbit: u64, rtt_ms: u64) -> Shape {
        Shape {
            bandwidth_bps: Some(mbit * 1_000_000),
            rtt: Duration::from_millis(rtt_ms),
        }
    }

    /// Time `bytes` take at the bandwidth.
    pub fn transmit(&self, bytes: u64) -> Duration {
        match self.bandwidth_bps {
            Some(bps) => Duration::from_secs_f64(bytes as f64 * 8.0 / bps as f64),
            None => Duration::ZERO,
        }
    }
}

#[derive(Default)]
struct Counters {
    /// Client to cloud.
    up: AtomicU64,
    /// Cloud to client.
    down: AtomicU64,
    connections: AtomicU64,
    /// Nanoseconds the cloud spent answering (see the module doc).
    upstream_nanos: AtomicU64,
}

/// What crossed the wire since the last [`WireProxy::reset`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WireStats {
    pub up_bytes: u64,
    pub down_bytes: u64,
    pub connections: u64,
    pub upstream_time: Duration,
}

impl WireStats {
    /// Bytes both ways.
    pub fn bytes(&self) -> u64 {
        self.up_bytes + self.down_bytes
    }
}

/// The proxy; stops when dropped.
pub struct WireProxy {
    addr: SocketAddr,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl WireProxy {
    /// Listens on a free loopback port and relays to `upstream` through `shape`.
    pub async fn start(upstream: SocketAddr, shape: Shape) -> std::io::Result<WireProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let c = c.clone();
                tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(upstream).await {
                        c.connections.fetch_add(1, Ordering::Relaxed);
                        relay(inbound, outbound, shape, c).await;
                    }
                });
            }
        });
        Ok(WireProxy {
            addr,
            counters,
            task,
        })
    }

    /// `http://IP:PORT` of the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Counters since start or the last reset.
    pub fn stats(&self) -> WireStats {
        WireStats {
            up_bytes: self.counters.up.load(Ordering::Relaxed),
            down_bytes: self.counters.down.load(Ordering::Relaxed),
            connections: self.counters.connections.load(Ordering::Relaxed),
            upstream_time: Duration::from_nanos(
                self.counters.upstream_nanos.load(Ordering::Relaxed),
            ),
        }
    }

    /// Zeroes the counters.
    pub fn reset(&self) {
        self.counters.up.store(0, Ordering::Relaxed);
        self.counters.down.store(0, Ordering::Relaxed);
        self.counters.connections.store(0, Ordering::Relaxed);
        self.counters.upstream_nanos.store(0, Ordering::Relaxed);
    }
}

impl Drop for WireProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// When the last request byte went upstream, and whether an answer to it
/// is still being timed.
#[derive(Default)]
struct Exchange {
    request_sent: Option<Instant>,
    last_answer_byte: Option<Instant>,
}

impl Exchange {
    /// Closes the exchange being timed into `counters`.
    fn close(&mut self, counters: &Counters) {
        if let (Some(sent), Some(last)) = (self.request_sent.take(), self.last_answer_byte.take()) {
            let nanos = u64::try_from((last - sent).as_nanos()).unwrap_or(u64::MAX);
            counters.upstream_nanos.fetch_add(nanos, Ordering::Relaxed);
        }
    }
}

/// Which way a [`pipe`] carries bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// Client to cloud.
    Up,
    /// Cloud to client.
    Down,
}

type OnForward = Arc<dyn Fn(Instant) + Send + Sync>;

async fn relay(inbound: TcpStream, outbound: TcpStream, shape: Shape, counters: Arc<Counters>) {
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    let exchange = Arc::new(Mutex::new(Exchange::default()));
    // The handshake's round trip, before anything is carried.
    let start = Instant::now() + shape.rtt;
    let sent: OnForward = {
        let (exchange, counters) = (exchange.clone(), counters.clone());
        Arc::new(move |at| {
            let mut e = exchange.lock().unwrap_or_else(PoisonError::into_inner);
            if e.last_answer_byte.is_some() {
                e.close(&counters);
            }
            e.request_sent = Some(at);
        })
    };
    let answered: OnForward = {
        let exchange = exchange.clone();
        Arc::new(move |at| {
            let mut e = exchange.lock().unwrap_or_else(PoisonError::into_inner);
            if e.request_sent.is_some() {
                e.last_answer_byte = Some(at);
            }
        })
    };
    tokio::join!(
        pipe(
            in_read,
            out_write,
            Dir::Up,
            shape,
            start,
            counters.clone(),
            sent
        ),
        pipe(
            out_read,
            in_write,
            Dir::Down,
            shape,
            start,
            counters.clone(),
            answered
        ),
    );
    exchange
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .close(&counters);
}

/// One direction: reads as fast as the sender writes and delivers on the
/// link's schedule. `on_forward(t)` is called when a chunk was written
/// upstream (up) or read from upstream (down).
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    dir: Dir,
    shape: Shape,
    start: Instant,
    counters: Arc<Counters>,
    on_forward: OnForward,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = {
        let on_forward = on_forward.clone();
        async move {
            let mut buf = vec![0u8; 4096];
            loop {
                match from.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let now = Instant::now();
                        let counter = match dir {
                            Dir::Up => &counters.up,
                            Dir::Down => &counters.down,
                        };
                        counter.fetch_add(n as u64, Ordering::Relaxed);
                        if dir == Dir::Down {
                            on_forward(now);
                        }
                        if tx.send((now, buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                }
            }
        }
    };
    let writer = async move {
        let mut departed = start;
        while let Some((at, chunk)) = rx.recv().await {
            departed = departed.max(at) + shape.transmit(chunk.len() as u64);
            tokio::time::sleep_until(departed + shape.rtt / 2).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
            if dir == Dir::Up {
                on_forward(Instant::now());
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
