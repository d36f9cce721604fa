//! Process orchestration for the demo and the end-to-end benchmark: unique shared-memory ring
//! names, child processes with their output captured to files, waits with deadlines, and
//! clean-up (children killed, rings removed) on every exit path.
//!
//! The pipeline is three processes over real `/dev/shm` rings:
//!
//! ```text
//!  feed-handler ──md ring──┬──► engine (hotrisk run) ──order ring──► venue
//!                          └──────────────────────────────────────► venue ──acct ring──► engine
//! ```
//!
//! Start order matters because of who creates which ring: the feed-handler creates the md ring
//! (and waits for its readers), the venue creates the account-event ring and waits for the order
//! ring, the engine attaches md and acct and creates the order ring. [`wait_for_path`] sequences
//! them. Nothing here is on a hot path; everything may allocate and block.
//!
//! Ownership: a [`Child`] kills and reaps its process when dropped unfinished, a [`RingSet`]
//! removes its files when dropped, so an error or a panic in the caller leaves no stray process
//! and no stray ring behind.
#![deny(unsafe_code)]

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Why a launch step failed.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// A process could not be started or waited for, or a log file could not be created.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// A process ran past its deadline (it was killed; its output is kept).
    #[error("{name} did not finish within {secs:.1} s (killed); last output:\n{tail}")]
    Timeout {
        /// The process's name.
        name: String,
        /// The deadline in seconds.
        secs: f64,
        /// The end of its stdout and stderr.
        tail: String,
    },
    /// A file another process should have created did not appear in time.
    #[error("{path} did not appear within {secs:.1} s{why}")]
    NotCreated {
        /// The path waited for.
        path: PathBuf,
        /// The deadline in seconds.
        secs: f64,
        /// Context (e.g. a process that exited early, with its output).
        why: String,
    },
}

/// The three rings of one run, named uniquely (`/dev/shm/hotrisk-<tag>-<pid>-<nanos>-md` …) so
/// concurrent runs never collide. Removed when dropped.
#[derive(Debug)]
pub struct RingSet {
    /// Market-data broadcast ring.
    pub md: PathBuf,
    /// Account-event SPSC ring.
    pub acct: PathBuf,
    /// Order SPSC ring.
    pub orders: PathBuf,
}

impl RingSet {
    /// Fresh unique ring paths under `/dev/shm` (nothing is created here).
    pub fn unique(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let base = format!("/dev/shm/hotrisk-{tag}-{}-{nanos}", std::process::id());
        Self {
            md: PathBuf::from(format!("{base}-md")),
            acct: PathBuf::from(format!("{base}-acct")),
            orders: PathBuf::from(format!("{base}-orders")),
        }
    }

    /// The three paths.
    pub fn paths(&self) -> [&Path; 3] {
        [&self.md, &self.acct, &self.orders]
    }

    /// Removes the ring files (missing files are fine).
    pub fn remove(&self) {
        for p in self.paths() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for RingSet {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A child process whose stdout and stderr go to `<log_dir>/<name>.out` / `.err` (files, not
/// pipes, so a chatty child can never block on a full pipe). Killed and reaped if dropped before
/// [`Child::wait`] returned.
#[derive(Debug)]
pub struct Child {
    name: String,
    child: Option<std::process::Child>,
    out: PathBuf,
    err: PathBuf,
    started: Instant,
}

/// A finished child: its exit status and output.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The name given at spawn.
    pub name: String,
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote on stdout.
    pub stdout: String,
    /// Everything it wrote on stderr.
    pub stderr: String,
    /// Wall time from spawn to exit (approximate: polled every few milliseconds).
    pub elapsed: Duration,
}

impl Finished {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The last `n` lines of stdout and stderr, for error messages.
    pub fn tail(&self, n: usize) -> String {
        tail_of(&self.stdout, &self.stderr, n)
    }
}

fn tail_of(out: &str, err: &str, n: usize) -> String {
    let pick = |s: &str| {
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    };
    format!("--- stdout\n{}\n--- stderr\n{}", pick(out), pick(err))
}

/// The executable re-exec'd for the pipeline's roles: this process's own binary.
pub fn current_exe() -> Result<PathBuf, LaunchError> {
    std::env::current_exe().map_err(|source| LaunchError::Io {
        what: "locating the current executable".into(),
        source,
    })
}

impl Child {
    /// Spawns `exe args…` named `name`, logging into `log_dir` (created if needed).
    pub fn spawn<I, S>(name: &str, exe: &Path, args: I, log_dir: &Path) -> Result<Self, LaunchError>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Self::spawn_on(name, exe, args, log_dir, None)
    }

    /// [`Child::spawn`], restricted to the logical CPUs `cpus` when given (an empty slice: any
    /// CPU) and then asking for nice [`PIPELINE_NICE`] (both set in the child before it executes
    /// `exe`, so every thread it starts inherits them).
    pub fn spawn_on<I, S>(
        name: &str,
        exe: &Path,
        args: I,
        log_dir: &Path,
        cpus: Option<&[usize]>,
    ) -> Result<Self, LaunchError>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let io = |what: String| move |source| LaunchError::Io { what, source };
        std::fs::create_dir_all(log_dir).map_err(io(format!("creating {}", log_dir.display())))?;
        let out = log_dir.join(format!("{name}.out"));
        let err = log_dir.join(format!("{name}.err"));
        let fo = File::create(&out).map_err(io(format!("creating {}", out.display())))?;
        let fe = File::create(&err).map_err(io(format!("creating {}", err.display())))?;
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let mut cmd = Command::new(exe);
        cmd.args(&args).stdin(Stdio::null()).stdout(fo).stderr(fe);
        if let Some(cpus) = cpus {
            restrict_to(&mut cmd, cpus, PIPELINE_NICE);
        }
        let child = cmd
            .spawn()
            .map_err(io(format!("starting {name} ({})", exe.display())))?;
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
            out,
            err,
            started: Instant::now(),
        })
    }

    /// The process's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its pid (0 once reaped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    /// Whether it has exited (without reaping the output).
    pub fn has_exited(&mut self) -> bool {
        match &mut self.child {
            Some(c) => !matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    fn read_output(&self) -> (String, String) {
        (
            std::fs::read_to_string(&self.out).unwrap_or_default(),
            std::fs::read_to_string(&self.err).unwrap_or_default(),
        )
    }

    /// The end of its output so far (for diagnostics while it runs).
    pub fn tail(&self, n: usize) -> String {
        let (o, e) = self.read_output();
        tail_of(&o, &e, n)
    }

    /// Waits up to `limit` for it to exit; past the limit it is killed and
    /// [`LaunchError::Timeout`] returned with its output.
    pub fn wait(mut self, limit: Duration) -> Result<Finished, LaunchError> {
        let start = Instant::now();
        let mut c = self.child.take().expect("a Child is waited for once");
        loop {
            match c.try_wait() {
                Ok(Some(status)) => {
                    let (stdout, stderr) = self.read_output();
                    return Ok(Finished {
                        name: self.name.clone(),
                        status,
                        stdout,
                        stderr,
                        elapsed: self.started.elapsed(),
                    });
                }
                Ok(None) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(1)),
                Ok(None) => {
                    let _ = c.kill();
                    let _ = c.wait();
                    let (o, e) = self.read_output();
                    return Err(LaunchError::Timeout {
                        name: self.name.clone(),
                        secs: limit.as_secs_f64(),
                        tail: tail_of(&o, &e, 20),
                    });
                }
                Err(source) => {
                    let _ = c.kill();
                    let _ = c.wait();
                    return Err(LaunchError::Io {
                        what: format!("waiting for {}", self.name),
                        source,
                    });
                }
            }
        }
    }

    /// Asks it to stop (SIGTERM), then waits up to `limit` (killed past it).
    pub fn terminate(self, limit: Duration) -> Result<Finished, LaunchError> {
        if let Some(c) = &self.child {
            // A negative or zero pid would signal a process group: a spawned child's id is > 0.
            if let Ok(pid) = libc::pid_t::try_from(c.id()) {
                if pid > 0 {
                    send_term(pid);
                }
            }
        }
        self.wait(limit)
    }
}

#[allow(unsafe_code)]
fn send_term(pid: libc::pid_t) {
    // SAFETY: `kill` has no memory-safety preconditions; `pid` is a positive id of a child this
    // process spawned and has not yet reaped, so it cannot name a recycled, unrelated process.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

/// The nice value asked for the pipeline's processes when they are placed on CPUs: a machine's
/// other work (a build) then preempts them far less often. Only a privileged user gets it (root
/// or `CAP_SYS_NICE`); for anyone else the request fails silently and they run at nice 0.
pub const PIPELINE_NICE: i32 = -10;

/// [`PIPELINE_NICE`] as written to `/proc/self/autogroup`.
const AUTOGROUP_NICE: &[u8] = b"-10";

/// Makes `cmd`'s process run only on `cpus` (ids at or above `CPU_SETSIZE` are ignored; an
/// empty set leaves the affinity alone) at nice value `nice`. A failure to set either is not an
/// error: the process runs unrestricted or at its inherited priority.
#[allow(unsafe_code)]
fn restrict_to(cmd: &mut Command, cpus: &[usize], nice: i32) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: an all-zero `cpu_set_t` is a valid, empty set (it is a plain bit array).
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let mut any = false;
    for &c in cpus {
        if c < libc::CPU_SETSIZE as usize {
            // SAFETY: `c` is below `CPU_SETSIZE`, the number of bits `set` holds.
            unsafe { libc::CPU_SET(c, &mut set) };
            any = true;
        }
    }
    let hook = move || {
        if any {
            // SAFETY: `sched_setaffinity` is a plain system call (async-signal-safe, allowed
            // between fork and exec); `set` is a valid `cpu_set_t` owned by this closure and its
            // size is passed with it; pid 0 is the calling (child) process.
            unsafe {
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            }
        }
        // SAFETY: `setpriority` is a plain system call with no memory arguments; who 0 is the
        // calling (child) process.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, 0, nice);
        }
        // With autogroup scheduling (the default on desktop and many server kernels) a task's
        // nice value only ranks it within its session's group, and each session's group gets an
        // equal share of a CPU: a build in another session then takes most of the risk
        // thread's CPU whatever its nice value. So each placed process starts its own session
        // (its own group) and gives that group the same nice value.
        // SAFETY: `setsid` is a plain system call with no arguments; it fails harmlessly (the
        // child stays in the parent's session) if the child already leads a process group.
        unsafe {
            libc::setsid();
        }
        // SAFETY: `open` is an async-signal-safe system call; the path is a NUL-terminated
        // static string.
        let fd = unsafe { libc::open(c"/proc/self/autogroup".as_ptr(), libc::O_WRONLY) };
        if fd >= 0 {
            // SAFETY: `fd` is the descriptor just opened; `AUTOGROUP_NICE` is a static byte
            // string whose length is passed with it.
            unsafe {
                libc::write(fd, AUTOGROUP_NICE.as_ptr().cast(), AUTOGROUP_NICE.len());
            }
            // SAFETY: `fd` is open and owned here; it is closed once.
            unsafe {
                libc::close(fd);
            }
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec; it only makes one system call,
    // allocates nothing and takes no lock, as `pre_exec` requires.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// Where the pipeline's processes and the engine's threads run, chosen from the number of
/// logical CPUs this process may use.
///
/// The engine's risk thread gets a core of its own and busy-spins there, with the gateway's work
/// done inline right after each decision (no second hot thread to share a core with); the
/// feed-handler, the venue and the engine's reporter go to the other cores. On a 2-CPU machine
/// that is core 1 for the risk thread and core 0 for everything else: the feed-handler's pacer and
/// the venue yield to each other there, and nothing preempts the risk thread. Without this, four
/// spinning threads share two cores and every hand-off waits for a scheduler time slice
/// (milliseconds). The order ring is sized by the caller to hold a whole run's orders, which
/// rules out the inline gateway's one hazard (see `config::GatewayMode::Auto`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuPlan {
    /// CPUs of the feed-handler process (`None`: unrestricted).
    pub feed: Option<Vec<usize>>,
    /// CPUs of the venue process (`None`: unrestricted).
    pub venue: Option<Vec<usize>>,
    /// `--set` values for `hotrisk run` (cores, gateway mode, idle strategy).
    pub engine_sets: Vec<String>,
    /// One line for the report.
    pub description: String,
}

impl CpuPlan {
    /// The plan for `cpus` logical CPUs (ids `0..cpus`).
    pub fn for_cpus(cpus: usize) -> Self {
        let sets = |risk: &str, reporter: &str, idle: &str| {
            vec![
                format!("threads.risk_core={risk}"),
                format!("threads.reporter_core={reporter}"),
                "threads.gateway=\"inline\"".to_owned(),
                format!("threads.idle=\"{idle}\""),
            ]
        };
        match cpus {
            0 | 1 => Self {
                feed: None,
                venue: None,
                engine_sets: sets("\"none\"", "\"none\"", "spin-then-yield"),
                description: "1 CPU: every process shares it (spin-then-yield); latencies include scheduling".into(),
            },
            2 => Self {
                feed: Some(vec![0]),
                venue: Some(vec![0]),
                engine_sets: sets("1", "0", "busy-spin"),
                description: "CPU 1: engine risk thread alone (busy-spin, gateway inline); CPU 0: feed-handler, venue, engine reporter".into(),
            },
            3 => Self {
                feed: Some(vec![0]),
                venue: Some(vec![2]),
                engine_sets: sets("1", "0", "busy-spin"),
                description: "CPU 1: engine risk thread (busy-spin, gateway inline); CPU 0: feed-handler, engine reporter; CPU 2: venue".into(),
            },
            _ => Self {
                feed: Some(vec![2]),
                venue: Some(vec![3]),
                engine_sets: sets("1", "0", "busy-spin"),
                description: "CPU 1: engine risk thread (busy-spin, gateway inline); CPU 2: feed-handler; CPU 3: venue; CPU 0: engine reporter".into(),
            },
        }
    }

    /// The plan for the CPUs this process may use.
    pub fn current() -> Self {
        Self::for_cpus(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits until `path` exists, up to `limit`; fails early (with its output) if `watch` exits first.
pub fn wait_for_path(
    path: &Path,
    limit: Duration,
    mut watch: Option<&mut Child>,
) -> Result<(), LaunchError> {
    let start = Instant::now();
    loop {
        if path.exists() {
            return Ok(());
        }
        if let Some(c) = watch.as_deref_mut() {
            if c.has_exited() {
                return Err(LaunchError::NotCreated {
                    path: path.to_owned(),
                    secs: start.elapsed().as_secs_f64(),
                    why: format!(": {} exited first\n{}", c.name(), c.tail(20)),
                });
            }
        }
        if start.elapsed() >= limit {
            return Err(LaunchError::NotCreated {
                path: path.to_owned(),
                secs: limit.as_secs_f64(),
                why: String::new(),
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The command lines of one pipeline run (arguments after the executable; the rings are added
/// by [`run_pipeline`]).
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    /// The executable providing the `feed-handler`, `venue` and `run` subcommands.
    pub exe: PathBuf,
    /// `feed-handler …` arguments before `--ring` (e.g. `["feed-handler", "synthetic", …]`).
    pub feed_args: Vec<String>,
    /// `run …` arguments besides the rings (snapshot, journal, hist dir, `--set`s).
    pub engine_args: Vec<String>,
    /// Instruments the venue keeps books for.
    pub instruments: usize,
    /// CPUs of the feed-handler process (`None`: unrestricted).
    pub feed_cpus: Option<Vec<usize>>,
    /// CPUs of the venue process (`None`: unrestricted).
    pub venue_cpus: Option<Vec<usize>>,
    /// Where the processes' outputs go.
    pub log_dir: PathBuf,
    /// Deadline of the whole run.
    pub timeout: Duration,
}

/// What the three processes printed and how they exited.
#[derive(Debug)]
pub struct PipelineOutput {
    /// The feed-handler.
    pub feed: Finished,
    /// The venue.
    pub venue: Finished,
    /// The engine.
    pub engine: Finished,
}

/// Runs feed-handler, venue and engine over `rings` until the feed ends and everything is
/// drained; fails (killing the rest) when one of them fails or the deadline passes.
pub fn run_pipeline(spec: &PipelineSpec, rings: &RingSet) -> Result<PipelineOutput, LaunchError> {
    let deadline = Instant::now() + spec.timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let s = |p: &Path| p.display().to_string();
    rings.remove();
    // Feed-handler: creates the md ring and waits for two readers (venue, engine).
    let mut feed_args = spec.feed_args.clone();
    feed_args.extend([
        "--ring".into(),
        s(&rings.md),
        "--wait-readers".into(),
        "2".into(),
        "--quiet".into(),
    ]);
    // Starts one process and waits for the ring it creates (failing early if it exits first).
    let start = |name: &str, args: &[String], cpus: Option<&[usize]>, creates: &Path| {
        let mut c = Child::spawn_on(name, &spec.exe, args, &spec.log_dir, cpus)?;
        wait_for_path(creates, left(), Some(&mut c))?;
        Ok::<_, LaunchError>(c)
    };
    let feed = start(
        "feed-handler",
        &feed_args,
        spec.feed_cpus.as_deref(),
        &rings.md,
    )?;
    // Venue: reads md from the start, creates the acct ring, waits for the order ring.
    let venue_args = vec![
        "venue".to_owned(),
        "--md-ring".into(),
        s(&rings.md),
        "--order-ring".into(),
        s(&rings.orders),
        "--acct-ring".into(),
        s(&rings.acct),
        "--instruments".into(),
        spec.instruments.to_string(),
    ];
    let venue = start(
        "venue",
        &venue_args,
        spec.venue_cpus.as_deref(),
        &rings.acct,
    )?;
    let mut engine_args = vec![
        "run".to_owned(),
        "--md-ring".into(),
        s(&rings.md),
        "--acct-ring".into(),
        s(&rings.acct),
        "--order-ring".into(),
        s(&rings.orders),
        "--exit-on-eof".into(),
        "--set".into(),
        "rings.md_from_start=true".into(),
    ];
    engine_args.extend(spec.engine_args.iter().cloned());
    // The engine pins its own threads; when the other processes are placed, it gets the same
    // nice value (an empty CPU set leaves its affinity alone).
    let engine = Child::spawn_on(
        "engine",
        &spec.exe,
        &engine_args,
        &spec.log_dir,
        spec.feed_cpus.as_ref().map(|_| &[][..]),
    )?;
    // Wait for all three; the first failure ends the run (the others are killed on drop).
    let mut kids = [Some(feed), Some(venue), Some(engine)];
    let mut done: [Option<Finished>; 3] = [None, None, None];
    while done.iter().any(Option::is_none) {
        let mut progressed = false;
        for i in 0..3 {
            let exited = kids[i].as_mut().is_some_and(Child::has_exited);
            if exited {
                let c = kids[i].take().expect("present");
                let f = c.wait(Duration::from_secs(1))?;
                if !f.success() {
                    return Err(failed(&f));
                }
                done[i] = Some(f);
                progressed = true;
            }
        }
        if Instant::now() >= deadline {
            let names: Vec<String> = kids.iter().flatten().map(|c| c.name().to_owned()).collect();
            let tails: Vec<String> = kids
                .iter()
                .flatten()
                .map(|c| format!("[{}]\n{}", c.name(), c.tail(10)))
                .collect();
            return Err(LaunchError::Timeout {
                name: names.join(", "),
                secs: spec.timeout.as_secs_f64(),
                tail: tails.join("\n"),
            });
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let [feed, venue, engine] = done.map(|f| f.expect("all finished"));
    Ok(PipelineOutput {
        feed,
        venue,
        engine,
    })
}

fn failed(f: &Finished) -> LaunchError {
    LaunchError::Io {
        what: format!("{} exited with {}", f.name, f.status),
        source: std::io::Error::other(f.tail(30)),
    }
}

/// A complete synthetic run: generated accounts, the synthetic crash feed, the three processes,
/// and everything read back (the demo's and `hotrisk-bench e2e`'s common core).
#[derive(Debug, Clone)]
pub struct SyntheticRun {
    /// The executable providing `feed-handler`, `venue` and `run` (this one, or `hotrisk`).
    pub exe: PathBuf,
    /// Accounts to generate.
    pub accounts: crate::generate::GenConfig,
    /// The feed's scenario.
    pub scenario: hotrisk_feed::source::synthetic::Scenario,
    /// Simulated feed length, ms.
    pub duration_ms: i64,
    /// When the scenario's event starts, simulated ms.
    pub event_at_ms: i64,
    /// Simulated step, µs.
    pub step_us: i64,
    /// Book levels per side.
    pub depth: usize,
    /// Per-step volatility, ppm.
    pub vol_ppm: i64,
    /// Mean resting size of a book level, lots (`None`: the feed's default).
    pub level_lots: Option<i64>,
    /// `Some(speed)`: paced at the feed's timestamps × speed (`publish_ts` = scheduled time);
    /// `None`: as fast as possible (saturating).
    pub speed: Option<String>,
    /// Report directory (snapshot/, logs/, engine.journal, latency.hlog, `<stage>.hgrm`).
    pub out: PathBuf,
    /// Extra `hotrisk run` arguments (`--set …`), after the placement's.
    pub engine_extra: Vec<String>,
    /// Where the processes and the engine's threads run (`None`: the engine's configured
    /// defaults, processes unrestricted).
    pub cpus: Option<CpuPlan>,
    /// A captured feed to replay instead of the synthetic scenario (the scenario fields are then
    /// unused; accounts are placed around the capture's first prices and its symbols).
    pub capture: Option<PathBuf>,
    /// Deadline of the processes.
    pub timeout: Duration,
    /// Ring name tag (`/dev/shm/hotrisk-<tag>-…`).
    pub tag: String,
}

/// What a [`SyntheticRun`] produced.
#[derive(Debug)]
pub struct SyntheticResult {
    /// The generated snapshot.
    pub snapshot: crate::generate::GenSummary,
    /// Market-data records of the feed.
    pub md_records: usize,
    /// The processes' outputs.
    pub processes: PipelineOutput,
    /// The engine's histograms, read back from `latency.hlog`.
    pub latency: crate::report::RunLatency,
    /// Liquidations, read back from the journal.
    pub liquidations: crate::outcome::Liquidations,
    /// The engine's end-of-run summary lines (policy bookkeeping).
    pub engine_summary: String,
    /// The accounting check (replay of the journal), or why it could not run.
    pub audit: Result<crate::outcome::Audit, String>,
    /// The journal.
    pub journal: PathBuf,
    /// The rings used (already removed).
    pub rings: [PathBuf; 3],
}

/// The engine's end-of-run summary: the lines after its latency table (which ends with a blank
/// line) up to the `journal:` line.
pub fn engine_summary(stdout: &str) -> String {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("== latency"))
        .skip_while(|l| !l.trim().is_empty())
        .take_while(|l| !l.starts_with("journal:"))
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The generated snapshot, the feed's records (`seq` = ring sequence), the feed-handler's
/// arguments (without capacity and pacing) and the number of instruments.
type Feed = (
    crate::generate::GenSummary,
    Vec<hotrisk_feed::wire::Msg>,
    Vec<String>,
    usize,
);

/// The synthetic scenario of `r`: accounts first, then the feed over their instruments file.
fn synthetic_feed(r: &SyntheticRun) -> Result<Feed, String> {
    use hotrisk_feed::source::synthetic::{instruments_from_toml, SynthConfig, Synthetic};
    let snapshot = crate::generate::write_snapshot(&r.accounts, &r.out.join("snapshot"))
        .map_err(|e| format!("generating accounts: {e}"))?;
    // The feed takes its instruments (start price, tick, lot) from the snapshot's instruments
    // file, so the accounts and the market agree by construction. It is regenerated here
    // (deterministic) for the trigger marks of the slippage figures.
    let instruments_file = snapshot.instruments_file.display().to_string();
    let toml_text = std::fs::read_to_string(&snapshot.instruments_file)
        .map_err(|e| format!("{instruments_file}: {e}"))?;
    let mut cfg = SynthConfig::new(r.accounts.seed, &r.accounts.symbols, r.scenario);
    cfg.instruments = instruments_from_toml(&instruments_file, &toml_text)
        .map_err(|e| format!("{instruments_file}: {e}"))?;
    cfg.step_ns = r.step_us * 1_000;
    cfg.depth = r.depth;
    cfg.vol_ppm = r.vol_ppm;
    if let Some(l) = r.level_lots {
        for i in &mut cfg.instruments {
            i.level_lots = l;
        }
    }
    cfg.duration_ns = r.duration_ms * 1_000_000;
    cfg.event_at_ns = r.event_at_ms * 1_000_000;
    let mut msgs: Vec<hotrisk_feed::wire::Msg> = Synthetic::new(cfg).collect();
    hotrisk_feed::source::number(&mut msgs);
    let scenario = format!("{:?}", r.scenario).to_lowercase();
    let mut feed_args: Vec<String> = [
        "feed-handler",
        "synthetic",
        "--scenario",
        &scenario,
        "--instruments",
        &instruments_file,
        "--seed",
        &r.accounts.seed.to_string(),
        "--duration-ms",
        &r.duration_ms.to_string(),
        "--event-at-ms",
        &r.event_at_ms.to_string(),
        "--step-us",
        &r.step_us.to_string(),
        "--depth",
        &r.depth.to_string(),
        "--vol-ppm",
        &r.vol_ppm.to_string(),
    ]
    .map(String::from)
    .to_vec();
    if let Some(l) = r.level_lots {
        feed_args.extend(["--level-lots".to_owned(), l.to_string()]);
    }
    Ok((snapshot, msgs, feed_args, r.accounts.symbols.len()))
}

/// A captured feed (`feed-handler replay`): accounts generated around each instrument's first
/// mark in the capture (else its first trade or book level), the capture's symbols replacing
/// `r.accounts.symbols`. Records not numbered 1, 2, … (a capture of a ring that did not start at
/// 1, or a merge) are renumbered into `<out>/feed.hrcap`, which is replayed instead: the engine
/// and the venue identify records by that number.
fn captured_feed(r: &SyntheticRun, path: &Path) -> Result<Feed, String> {
    use hotrisk_feed::capture::{write_file, CaptureReader};
    use hotrisk_feed::wire::MsgKind;
    let (header, mut msgs) = CaptureReader::read_all(path).map_err(|e| e.to_string())?;
    if msgs.is_empty() {
        return Err(format!("{}: the capture holds no record", path.display()));
    }
    let mut prices: Vec<Option<(u8, i64)>> = vec![None; header.symbols.len()];
    // The grids the capture's book and trades are on (greatest common divisors of their prices
    // and sizes): the generated instruments use them, so every fill the venue makes from the
    // captured book is on the engine's lot grid.
    let mut grids: Vec<(i64, i64)> = vec![(0, 0); header.symbols.len()];
    for m in &msgs {
        if matches!(m.kind(), Some(MsgKind::BookLevel | MsgKind::Trade)) {
            if let Some(g) = grids.get_mut(usize::from(m.instrument)) {
                g.0 = gcd(g.0, m.body[0]);
                g.1 = gcd(g.1, m.body[1]);
            }
        }
    }
    for m in &msgs {
        let rank = match m.kind() {
            Some(MsgKind::MarkPrice) => 0,
            Some(MsgKind::Trade) => 1,
            Some(MsgKind::BookLevel) => 2,
            _ => continue,
        };
        if let Some(p) = prices.get_mut(usize::from(m.instrument)) {
            if m.body[0] > 0 && p.is_none_or(|(r, _)| rank < r) {
                *p = Some((rank, m.body[0]));
            }
        }
    }
    let mut accounts = r.accounts.clone();
    accounts.symbols = header.symbols.clone();
    accounts.start_prices = Vec::new();
    for (sym, p) in header.symbols.iter().zip(&prices) {
        match p {
            Some((_, price)) => accounts.start_prices.push((sym.clone(), *price)),
            None => {
                return Err(format!(
                    "{}: no mark, trade or book price for {sym}: cannot place accounts around it",
                    path.display()
                ))
            }
        }
    }
    accounts.grids = header
        .symbols
        .iter()
        .zip(&grids)
        .filter(|(_, g)| g.0 > 0 && g.1 > 0)
        .map(|(sym, g)| (sym.clone(), g.0, g.1))
        .collect();
    accounts.positions_per_account = accounts
        .positions_per_account
        .min(header.symbols.len() as u32);
    let snapshot = crate::generate::write_snapshot(&accounts, &r.out.join("snapshot"))
        .map_err(|e| format!("generating accounts: {e}"))?;
    let numbered = msgs.iter().zip(1u64..).all(|(m, i)| m.seq == i);
    let feed = if numbered {
        path.to_path_buf()
    } else {
        hotrisk_feed::source::number(&mut msgs);
        let p = r.out.join("feed.hrcap");
        write_file(&p, &header.symbols, &msgs).map_err(|e| e.to_string())?;
        p
    };
    let feed_args = vec![
        "feed-handler".to_owned(),
        "replay".into(),
        feed.display().to_string(),
    ];
    Ok((snapshot, msgs, feed_args, header.symbols.len()))
}

/// Greatest common divisor of `|a|` and `|b|` (`gcd(0, x) = |x|`).
fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    i64::try_from(a).unwrap_or(i64::MAX)
}

/// Runs `r` (see [`SyntheticRun`]); the rings are removed whatever happens.
pub fn run_synthetic(r: &SyntheticRun) -> Result<SyntheticResult, String> {
    let (snapshot, msgs, mut feed_args, instruments) = match &r.capture {
        Some(path) => captured_feed(r, path)?,
        None => synthetic_feed(r)?,
    };
    let marks = crate::outcome::MarkTimeline::from_msgs(&msgs);
    let md_records = msgs.len();
    feed_args.extend([
        "--capacity".to_owned(),
        md_records.next_power_of_two().max(1 << 16).to_string(),
    ]);
    match &r.speed {
        Some(s) => feed_args.extend(["--speed".to_owned(), s.clone()]),
        None => feed_args.push("--max-speed".to_owned()),
    }
    let journal = r.out.join("engine.journal");
    let _ = std::fs::remove_file(&journal);
    let mut engine_args = vec![
        "--snapshot".to_owned(),
        snapshot.instruments_file.display().to_string(),
        "--positions".into(),
        snapshot.positions_file.display().to_string(),
        "--journal".into(),
        journal.display().to_string(),
        "--hist-dir".into(),
        r.out.display().to_string(),
        "--set".into(),
        "latency.interval_ms=250".into(),
        "--set".into(),
        format!(
            "journal.capacity={}",
            (md_records as u64 * 2).next_power_of_two().max(1 << 20)
        ),
    ];
    // Room on the order ring for every order of the run (two per position is far more than a
    // run sends): with the gateway inline, a full order ring would stall the risk thread.
    let order_capacity = (snapshot.positions as usize * 2)
        .next_power_of_two()
        .clamp(1 << 16, 1 << 20);
    engine_args.extend([
        "--set".into(),
        format!("rings.order_capacity={order_capacity}"),
    ]);
    if let Some(plan) = &r.cpus {
        for s in &plan.engine_sets {
            engine_args.extend(["--set".into(), s.clone()]);
        }
    }
    engine_args.extend(r.engine_extra.iter().cloned());
    let spec = PipelineSpec {
        exe: r.exe.clone(),
        feed_args,
        engine_args,
        instruments,
        feed_cpus: r.cpus.as_ref().and_then(|p| p.feed.clone()),
        venue_cpus: r.cpus.as_ref().and_then(|p| p.venue.clone()),
        log_dir: r.out.join("logs"),
        timeout: r.timeout,
    };
    let rings = RingSet::unique(&r.tag);
    let ring_paths = [rings.md.clone(), rings.acct.clone(), rings.orders.clone()];
    let run = run_pipeline(&spec, &rings);
    rings.remove();
    let processes = run.map_err(|e| e.to_string())?;
    let latency = crate::report::RunLatency::from_hlog(&r.out.join("latency.hlog"))?;
    let (_, records) =
        crate::journal::read_journal(&journal).map_err(|e| format!("reading the journal: {e}"))?;
    let engine_summary = engine_summary(&processes.engine.stdout);
    let audit = crate::outcome::audit(
        &snapshot.instruments_file,
        &snapshot.positions_file,
        &msgs,
        &records,
    );
    let liquidations = crate::outcome::Liquidations::from_journal(
        &records,
        &marks,
        audit.as_ref().ok().map(|a| &a.decided_at),
    );
    Ok(SyntheticResult {
        snapshot,
        md_records,
        processes,
        latency,
        liquidations,
        engine_summary,
        audit,
        journal,
        rings: ring_paths,
    })
}
