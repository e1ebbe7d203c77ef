//! The StatsD listeners (UDP and newline-delimited TCP on one port) around the ingest
//! crate's aggregator, and the loop that writes its aggregates to the store every
//! `METRICS_INGESTION_FLUSH_INTERVAL`.
//!
//! UDP is read by one dedicated thread that does nothing but receive, parse and
//! aggregate, with a large socket receive buffer to ride out bursts: a packet the
//! kernel drops is lost for good. A bad line is counted and logged (at most once per
//! [`LOG_EVERY`]); the rest of its packet is kept.

use crate::app::{now_ms, App};
use crate::counters::Source;
use parking_lot::Mutex;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use strata_core::{StorageError, WriteBatch};
use strata_ingest::Rejection;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Requested socket receive buffer; the kernel caps it at `net.core.rmem_max`.
const UDP_RECV_BUFFER: usize = 32 << 20;
/// Largest UDP datagram.
const MAX_DATAGRAM: usize = 65_536;
/// A TCP line longer than this is refused (and skipped up to its newline).
const MAX_TCP_LINE: usize = 65_536;
/// At most one log line about bad StatsD lines per this period.
const LOG_EVERY: Duration = Duration::from_secs(5);
/// How often the UDP thread looks up from `recv` to see whether to stop.
const STOP_POLL: Duration = Duration::from_millis(100);

/// The running StatsD listeners and flush loop.
pub struct Statsd {
    stop: Arc<AtomicBool>,
    cancel: CancellationToken,
    udp: Option<JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub udp_addr: SocketAddr,
    pub tcp_addr: SocketAddr,
}

/// Starts listening on `addr` (UDP and TCP) and flushing aggregates every interval.
pub async fn start(app: Arc<App>, addr: SocketAddr) -> io::Result<Statsd> {
    let udp = bind_udp(addr)?;
    let udp_addr = udp.local_addr()?;
    // With port 0 both listeners share the port UDP was given.
    let tcp = TcpListener::bind(SocketAddr::new(addr.ip(), udp_addr.port())).await?;
    let tcp_addr = tcp.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let cancel = CancellationToken::new();
    let bad_lines = Arc::new(BadLineLog::default());
    let udp_thread = std::thread::Builder::new()
        .name("statsd-udp".into())
        .spawn({
            let (app, stop, bad_lines) =
                (Arc::clone(&app), Arc::clone(&stop), Arc::clone(&bad_lines));
            move || receive_udp(&app, &udp, &stop, &bad_lines)
        })?;
    let tasks = vec![
        tokio::spawn(accept_tcp(Arc::clone(&app), tcp, cancel.clone(), bad_lines)),
        tokio::spawn(flush_loop(app, cancel.clone())),
    ];
    tracing::info!(%udp_addr, %tcp_addr, "StatsD listening");
    Ok(Statsd {
        stop,
        cancel,
        udp: Some(udp_thread),
        tasks,
        udp_addr,
        tcp_addr,
    })
}

impl Statsd {
    /// Stops the listeners and the flush loop (aggregates are left for a final flush).
    pub async fn stop(mut self) {
        self.stop.store(true, Relaxed);
        self.cancel.cancel();
        if let Some(udp) = self.udp.take() {
            let _ = tokio::task::spawn_blocking(move || udp.join()).await;
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    enlarge_recv_buffer(&socket);
    socket.bind(&addr.into())?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(STOP_POLL))?;
    Ok(socket)
}

/// Asks for [`UDP_RECV_BUFFER`]: beyond `net.core.rmem_max` when privileged
/// (SO_RCVBUFFORCE), else as much as the kernel allows.
fn enlarge_recv_buffer(socket: &Socket) {
    let size = UDP_RECV_BUFFER as libc::c_int;
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the given length.
    let forced = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    } == 0;
    if !forced {
        if let Err(e) = socket.set_recv_buffer_size(UDP_RECV_BUFFER) {
            tracing::warn!(error = %e, "cannot enlarge the StatsD UDP receive buffer");
        }
    }
    match socket.recv_buffer_size() {
        Ok(got) if got < UDP_RECV_BUFFER => tracing::warn!(
            bytes = got,
            "StatsD UDP receive buffer is capped by net.core.rmem_max; bursts may be dropped"
        ),
        Ok(got) => tracing::debug!(bytes = got, "StatsD UDP receive buffer"),
        Err(e) => tracing::warn!(error = %e, "cannot read the StatsD UDP receive buffer size"),
    }
}

fn receive_udp(app: &App, socket: &UdpSocket, stop: &AtomicBool, bad_lines: &BadLineLog) {
    let counters = app.counters.source(Source::Statsd);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !stop.load(Relaxed) {
        match socket.recv(&mut buf) {
            Ok(n) => {
                counters.requests.fetch_add(1, Relaxed);
                counters.bytes.fetch_add(n as u64, Relaxed);
                let rejected = app.statsd.lock().ingest(&buf[..n], now_ms());
                bad_lines.record(app, "udp", &rejected);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::error!(error = %e, "StatsD UDP receive failed; UDP listener stops");
                return;
            }
        }
    }
}

async fn accept_tcp(
    app: Arc<App>,
    listener: TcpListener,
    cancel: CancellationToken,
    bad_lines: Arc<BadLineLog>,
) {
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let (app, cancel, bad_lines) =
                    (Arc::clone(&app), cancel.clone(), Arc::clone(&bad_lines));
                tokio::spawn(async move {
                    tokio::select! {
                        _ = cancel.cancelled() => {}
                        result = read_tcp(&app, stream, &bad_lines) => {
                            if let Err(e) = result {
                                tracing::debug!(error = %e, "StatsD TCP connection ended");
                            }
                        }
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "StatsD TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads newline-delimited lines and aggregates each complete run of lines.
async fn read_tcp(app: &App, mut stream: TcpStream, bad_lines: &BadLineLog) -> io::Result<()> {
    let counters = app.counters.source(Source::Statsd);
    let mut buf: Vec<u8> = Vec::with_capacity(MAX_TCP_LINE);
    let mut chunk = vec![0u8; MAX_TCP_LINE];
    // While set, bytes up to the next newline belong to an over-long line being skipped.
    let mut skipping = false;
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            if !skipping && !buf.is_empty() {
                ingest_lines(app, &buf, bad_lines);
            }
            return Ok(());
        }
        counters.requests.fetch_add(1, Relaxed);
        counters.bytes.fetch_add(n as u64, Relaxed);
        let mut data = &chunk[..n];
        if skipping {
            match first_newline(data) {
                Some(i) => {
                    skipping = false;
                    data = &data[i + 1..];
                }
                None => continue,
            }
        }
        buf.extend_from_slice(data);
        if let Some(last_newline) = buf.iter().rposition(|&b| b == b'\n') {
            ingest_lines(app, &buf[..last_newline], bad_lines);
            buf.drain(..=last_newline);
        }
        if buf.len() > MAX_TCP_LINE {
            let rejected = [Rejection {
                item: 1,
                reason: format!("line longer than {MAX_TCP_LINE} bytes"),
            }];
            bad_lines.record(app, "tcp", &rejected);
            buf.clear();
            skipping = true;
        }
    }
}

fn first_newline(data: &[u8]) -> Option<usize> {
    data.iter().position(|&b| b == b'\n')
}

fn ingest_lines(app: &App, lines: &[u8], bad_lines: &BadLineLog) {
    let rejected = app.statsd.lock().ingest(lines, now_ms());
    bad_lines.record(app, "tcp", &rejected);
}

async fn flush_loop(app: Arc<App>, cancel: CancellationToken) {
    let period = app.config.ingestion_flush_interval;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let app = Arc::clone(&app);
        let _ = tokio::task::spawn_blocking(move || flush_aggregates(&app)).await;
    }
}

/// Writes everything aggregated since the last flush to the store, in appends of at
/// most `METRICS_INGESTION_MAX_BATCH_SIZE` samples.
pub fn flush_aggregates(app: &App) -> Result<(), StorageError> {
    let batch = app.statsd.lock().flush(now_ms());
    if batch.is_empty() {
        return Ok(());
    }
    app.counters.statsd_flushes.fetch_add(1, Relaxed);
    let mut metadata = batch.metadata;
    for samples in batch.samples.chunks(app.config.ingestion_max_batch_size) {
        let part = WriteBatch {
            samples: samples.to_vec(),
            metadata: std::mem::take(&mut metadata),
        };
        if let Err(e) = app.append_blocking(Source::Statsd, &part) {
            app.counters.statsd_flush_errors.fetch_add(1, Relaxed);
            tracing::error!(error = %e, "StatsD flush to the store failed");
            return Err(e);
        }
    }
    Ok(())
}

/// Counts bad StatsD lines and logs them, at most once per [`LOG_EVERY`].
#[derive(Default)]
struct BadLineLog {
    last_log: Mutex<Option<Instant>>,
    unlogged: AtomicU64,
}

impl BadLineLog {
    fn record(&self, app: &App, transport: &str, rejected: &[Rejection]) {
        let Some(first) = rejected.first() else {
            return;
        };
        app.counters
            .source(Source::Statsd)
            .rejected_items
            .fetch_add(rejected.len() as u64, Relaxed);
        let unlogged =
            self.unlogged.fetch_add(rejected.len() as u64, Relaxed) + rejected.len() as u64;
        let mut last = self.last_log.lock();
        if last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        self.unlogged.store(0, Relaxed);
        tracing::warn!(
            transport,
            line = first.item,
            reason = %first.reason,
            bad_lines_since_last_log = unlogged,
            "bad StatsD line skipped"
        );
    }
}
