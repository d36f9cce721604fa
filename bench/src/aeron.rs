//! Aeron IPC as a peer in `hotrisk-bench transport` (cargo feature `aeron`, off by default).
//!
//! # What runs
//! One measurement (`aeron-ipc`) launches, in this process:
//! - an **embedded C media driver** ([`rusteron_media_driver::testing::EmbeddedDriver`]) in
//!   `SHARED` threading mode (conductor, sender and receiver agents on one background thread
//!   with Aeron's default back-off idle strategy: spin, yield, then park up to 1 ms), its
//!   directory `<shm-dir>/hotrisk-bench-<pid>-aeron` (default `/dev/shm`), deleted on start and
//!   on shutdown, and removed again when [`AeronIpc`] drops (should the driver leave it);
//! - one **C client** ([`rusteron_client::Aeron`]) with its own conductor thread (sleeping idle);
//! - per one-way queue ([`Kind::pair`](super::Kind)): an *exclusive* publication and a
//!   subscription on `aeron:ipc`, each queue on its own stream id. The ping-pong uses two of
//!   them (ping and pong), the throughput stream a third.
//!
//! The data path is Aeron's own: the sender `offer`s the 64-byte [`Msg`] into the shared
//! term buffer (a copy plus a 32-byte frame header, so 96 bytes per message), the receiver
//! polls its subscription one fragment at a time and copies the 64 bytes out. Neither the
//! driver nor the client conductor is on that path; the driver's conductor moves the
//! publication limit forward (flow control) as the subscriber consumes. IPC terms are
//! [`TERM_LENGTH`] bytes (the publication window is half a term), so the throughput stream is
//! not throttled by a conductor that parks for up to a millisecond.
//!
//! **No page faults in the timed loop.** The driver writes its log-buffer files in full
//! (`term_buffer_sparse_file = false`) and the client pre-touches every page it maps
//! (`pre_touch_mapped_memory`). Without that, each fresh 4 KiB of term buffer costs a page
//! fault on first use (every 42 messages until all three terms have been written once): on
//! the 2-core VM that alone put Aeron's one-way p99 at 3.7–9 µs and p99.9 at 0.5–1.6 ms,
//! against 1–1.5 µs and 7.5–14 µs with pre-touching (same machine, same load).
//!
//! The pinned timer and echo threads, the idle strategy (spin on separate cores,
//! spin-then-yield on one) and the histograms are those of every other transport
//! ([`super::latency`], [`super::throughput`]): the same method, side by side in the same run.
//! The two Aeron background threads are not pinned; on a 2-core machine they share the
//! cores with the measuring threads, a cost an Aeron deployment pays too (it would usually
//! give the driver its own core).
//!
//! # What allocates, what blocks
//! Creating the driver, client, publications and subscriptions allocates and blocks (up to
//! [`CONNECT_TIMEOUT`] for both ends to connect). `send` and `recv` do not allocate; they spin
//! (or spin-then-yield) while the publication is back-pressured or nothing has arrived.
//! An unrecoverable offer or poll error (publication closed, driver gone) panics the
//! measuring thread with the error: the run cannot produce a number after that.
//!
//! No `unsafe` here: the rusteron wrappers own the FFI.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hotrisk_feed::ring::idle::{IdleStrategy, SpinThenYield};
use hotrisk_feed::Msg;
use rusteron_client::{
    Aeron, AeronContext, AeronExclusivePublication, AeronSubscription, Handlers, AERON_IPC_STREAM,
};
use rusteron_media_driver::bindings::aeron_threading_mode_enum;
use rusteron_media_driver::testing::EmbeddedDriver;

use super::{idle, Kind, Receiver, Sender};

/// IPC term buffer length (bytes) of every publication: 16 MiB, so the publication window
/// (half a term, about 87 000 messages of 96 bytes) outlasts the driver conductor's longest
/// park. Three terms per log (48 MiB), written in full (not sparse) in the driver directory.
pub(super) const TERM_LENGTH: usize = 16 << 20;

/// How long a new publication and subscription may take to see each other.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// First stream id; every queue gets the next one.
const FIRST_STREAM_ID: i32 = 1001;

/// An embedded media driver and a client connected to it: the `aeron-ipc` transport.
///
/// Drop order is field order: the client closes before the driver stops (a client whose
/// driver vanished would report a driver timeout), then the directory is removed.
pub(super) struct AeronIpc {
    client: Aeron,
    _driver: EmbeddedDriver,
    next_stream: AtomicI32,
    _dir: RemoveDir,
}

impl AeronIpc {
    /// Launches the driver in `<shm_dir>/hotrisk-bench-<pid>-aeron` and connects a client.
    pub(super) fn launch(shm_dir: &Path) -> Result<Self> {
        let dir = shm_dir.join(format!("hotrisk-bench-{}-aeron", std::process::id()));
        let dir_c = CString::new(dir.as_os_str().as_bytes())
            .with_context(|| format!("aeron directory {}: contains a NUL byte", dir.display()))?;
        let driver = EmbeddedDriver::launch_with(|ctx| {
            ctx.set_dir(&dir_c)?;
            ctx.set_threading_mode(aeron_threading_mode_enum::AERON_THREADING_MODE_SHARED)?;
            ctx.set_ipc_term_buffer_length(TERM_LENGTH)?;
            ctx.set_term_buffer_sparse_file(false)?;
            Ok(())
        })
        .with_context(|| format!("launch the embedded media driver in {}", dir.display()))?;
        let client = connect(&dir_c).with_context(|| {
            format!("connect an Aeron client to the driver in {}", dir.display())
        })?;
        Ok(Self {
            client,
            _driver: driver,
            next_stream: AtomicI32::new(FIRST_STREAM_ID),
            _dir: RemoveDir(dir),
        })
    }
}

/// Removes a directory when dropped (declared last in [`AeronIpc`], so after the driver).
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        // The driver deletes its directory on shutdown; this covers one it failed to delete.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn connect(dir: &CString) -> Result<Aeron> {
    let ctx = AeronContext::new().context("client context")?;
    ctx.set_dir(dir).context("client context: set_dir")?;
    ctx.set_client_name(c"hotrisk-bench")
        .context("client context: set_client_name")?;
    ctx.set_pre_touch_mapped_memory(true)
        .context("client context: set_pre_touch_mapped_memory")?;
    let client = Aeron::new(&ctx).context("create the client")?;
    client.start().context("start the client")?;
    Ok(client)
}

/// The sending end: an exclusive IPC publication.
pub(super) struct AeronTx {
    publication: AeronExclusivePublication,
    idle: SpinThenYield,
}

/// The receiving end: a subscription polled one fragment at a time.
pub(super) struct AeronRx {
    subscription: AeronSubscription,
    idle: SpinThenYield,
}

impl Sender for AeronTx {
    #[inline]
    fn send(&mut self, m: Msg) {
        loop {
            match self.publication.offer(bytemuck::bytes_of(&m)) {
                Ok(_) => {
                    self.idle.reset();
                    return;
                }
                // Back-pressured (the window is full), admin action (term rotation) or not
                // yet connected: try again.
                Err(e) if e.is_retryable() => self.idle.idle(),
                Err(e) => panic!("aeron-ipc: offer failed: {e}"),
            }
        }
    }
}

impl Receiver for AeronRx {
    #[inline]
    fn recv(&mut self) -> Msg {
        let mut got: Option<Msg> = None;
        let mut bad_len = None;
        loop {
            let polled = self.subscription.poll_fn(
                |buf, _header| match bytemuck::try_pod_read_unaligned::<Msg>(buf) {
                    Ok(m) => got = Some(m),
                    Err(_) => bad_len = Some(buf.len()),
                },
                1,
            );
            if let Err(e) = polled {
                panic!("aeron-ipc: poll failed: {e}");
            }
            if let Some(len) = bad_len {
                panic!(
                    "aeron-ipc: received a {len}-byte fragment, expected {}",
                    std::mem::size_of::<Msg>()
                );
            }
            if let Some(m) = got {
                self.idle.reset();
                return m;
            }
            self.idle.idle();
        }
    }
}

impl Kind for AeronIpc {
    type Tx = AeronTx;
    type Rx = AeronRx;
    const NAME: &'static str = "aeron-ipc";
    const PEER: bool = true;

    fn pair(&self, tag: &str, shared_core: bool) -> Result<(AeronTx, AeronRx)> {
        let stream = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let what = || format!("aeron-ipc {tag} queue (aeron:ipc stream {stream})");
        let subscription = self
            .client
            .async_add_subscription(AERON_IPC_STREAM, stream, Handlers::NONE, Handlers::NONE)
            .and_then(|a| a.poll_blocking(CONNECT_TIMEOUT))
            .with_context(|| format!("{}: add subscription", what()))?;
        let publication = self
            .client
            .async_add_exclusive_publication(AERON_IPC_STREAM, stream)
            .and_then(|a| a.poll_blocking(CONNECT_TIMEOUT))
            .with_context(|| format!("{}: add exclusive publication", what()))?;
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        while !(publication.is_connected() && subscription.is_connected()) {
            if Instant::now() > deadline {
                bail!(
                    "{}: publication and subscription not connected after {CONNECT_TIMEOUT:?}",
                    what()
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok((
            AeronTx {
                publication,
                idle: idle(shared_core),
            },
            AeronRx {
                subscription,
                idle: idle(shared_core),
            },
        ))
    }
}
