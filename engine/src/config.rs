//! `hotrisk.toml`: the configuration of `hotrisk run`.
//!
//! Every struct denies unknown keys, so a typo is an error that names the key path, never a
//! silently ignored setting. Every setting can be overridden on the command line with
//! `--set section.key=value` (the value is parsed as a TOML value, falling back to a string), and
//! the binary's explicit flags (`--md-ring`, `--journal`, ...) are sugar over the same mechanism,
//! so `--print-config` always shows the one effective configuration the engine runs with.
//!
//! ```toml
//! [rings]
//! md = "/dev/shm/hotrisk-md"          # market data, broadcast ring (attached, read-only)
//! acct = "/dev/shm/hotrisk-acct"      # account events, SPSC ring (attached as consumer)
//! orders = "/dev/shm/hotrisk-orders"  # liquidation orders, SPSC ring (created by the engine)
//! order_capacity = 65536
//! md_from_start = false               # fresh start: read from the first record, not the next
//!
//! [state]
//! core = "margin"                     # "margin" (margin state + policy) or "threshold" (test core)
//! snapshot = "accounts.toml"         # scenario TOML, or the instruments file with `positions`
//! positions = ""                      # positions file of a large snapshot
//!
//! [threads]
//! risk_core = 1                       # CPU ids; omit to leave a role unpinned
//! gateway_core = 1
//! reporter_core = 0                   # "none" = not pinned
//! idle = "auto"                       # "busy-spin", "spin-then-yield" or "auto"
//!
//! [memory]
//! mlockall = false
//! huge_pages = false
//!
//! [queue]
//! capacity = 16384                    # decision queue risk → gateway thread (power of two)
//! backlog = 0                         # risk thread's order backlog; 0 = 2 per account (>= 4096)
//! event_headroom = 64                 # read account events while this many backlog slots are free
//! lockstep = false                    # wait for every order's answer before the next md record
//!
//! [journal]
//! path = "hotrisk.journal"
//! capacity = 1048576                  # records of 64 bytes, preallocated
//!
//! [latency]
//! out_dir = "hotrisk-latency"
//! interval_ms = 1000
//! # prometheus_port = 9464            # off unless set
//!
//! [health]
//! heartbeat_timeout_ms = 2000
//! oracle_stale_ms = 5000
//!
//! [policy]                            # the liquidation policy (crate::policy::PolicyConfig)
//! cancel_first = true                 # cancel-all before the first order of an episode
//! ack_timeout_ms = 1000               # an order unacknowledged this long is given up
//! max_slippage_bps = 20               # limit price / VWAP bound vs the mark
//! partial_buffer_bps = 1000           # a partial restores MB ≥ (1 + buffer)·MM
//! full_threshold_bps = 5000           # full liquidation when MB ≤ threshold·MM
//! full_retries = 0                    # short full orders before the backstop
//! max_index_age_ms = 5000             # pause when the index is older
//! mark_index_band_bps = 500           # pause when |mark − index| exceeds this of the index
//! breaker_band_bps = 1000             # circuit breaker: mark range in the window
//! breaker_window_ms = 1000
//! breaker_confirm_ms = 1000
//! budget_notional = 0                 # per instrument and window, whole units; 0 = no budget
//! budget_window_ms = 1000
//! ```
//!
//! `[policy]` rates are integer basis points (exact at the policy's E8 scale) and its times
//! milliseconds of record time; [`PolicyToml::to_policy_config`] converts and range-checks them.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors loading or overriding the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema (the message names the line,
    /// column and key).
    #[error("{origin}: {message}")]
    Parse {
        /// The file, or "command-line overrides".
        origin: String,
        /// The parser's message (line, column, key path and what was wrong).
        message: String,
    },
    /// A `--set` override is malformed.
    #[error("bad override `{arg}`: {why}")]
    Override {
        /// The argument as given.
        arg: String,
        /// What was wrong.
        why: String,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The effective configuration of `hotrisk run`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Shared-memory rings.
    pub rings: RingsConfig,
    /// The risk state: which core and which snapshot.
    pub state: StateConfig,
    /// Threads, cores and idle strategy.
    pub threads: ThreadsConfig,
    /// Memory locking and huge pages.
    pub memory: MemoryConfig,
    /// The journal.
    pub journal: JournalConfig,
    /// Latency histograms and their outputs.
    pub latency: LatencyConfig,
    /// Health checks of the inputs.
    pub health: HealthConfig,
    /// The in-process decision queue.
    pub queue: QueueConfig,
    /// The liquidation policy's parameters.
    pub policy: PolicyToml,
}

/// The `[policy]` table: the liquidation policy's parameters ([`crate::policy::PolicyConfig`])
/// in whole basis points and milliseconds. The defaults are `PolicyConfig::default()`'s.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyToml {
    /// Send a cancel-all before the first liquidation order of an episode.
    pub cancel_first: bool,
    /// How long an order may stay unacknowledged before it is given up, ms of record time.
    pub ack_timeout_ms: u64,
    /// Slippage bound σ of the limit price (and so of the VWAP) vs the mark, bps.
    pub max_slippage_bps: u32,
    /// A partial restores the margin balance to `(1 + buffer)·MM`, bps.
    pub partial_buffer_bps: u32,
    /// Full liquidation when `MB ≤ threshold·MM`, bps.
    pub full_threshold_bps: u32,
    /// Full orders of an episode that may come back short before the backstop.
    pub full_retries: u8,
    /// Liquidations pause when the index is older than this, ms.
    pub max_index_age_ms: u64,
    /// Liquidations pause when the mark deviates from the index by more than this, bps.
    pub mark_index_band_bps: u32,
    /// Circuit breaker: a mark range wider than this within the window trips it, bps.
    pub breaker_band_bps: u32,
    /// Circuit breaker: the window the range is measured over, ms.
    pub breaker_window_ms: u64,
    /// Circuit breaker: confirmation wait after tripping, ms.
    pub breaker_confirm_ms: u64,
    /// Notional of liquidation orders per instrument and window, whole units of the
    /// instrument's margin asset; 0 = no budget.
    pub budget_notional: u64,
    /// The budget's window, ms.
    pub budget_window_ms: u64,
}

impl Default for PolicyToml {
    fn default() -> Self {
        let c = crate::policy::PolicyConfig::default();
        let bps = |rate: i64| u32::try_from(rate / BPS_E8).unwrap_or(u32::MAX);
        let ms = |ns: i64| u64::try_from(ns / 1_000_000).unwrap_or(0);
        Self {
            cancel_first: c.cancel_first,
            ack_timeout_ms: ms(c.ack_timeout_ns),
            max_slippage_bps: bps(c.tiers.slippage),
            partial_buffer_bps: bps(c.tiers.buffer),
            full_threshold_bps: bps(c.tiers.full_threshold),
            full_retries: c.tiers.full_retries,
            max_index_age_ms: ms(c.guard.max_index_age_ns),
            mark_index_band_bps: bps(c.guard.deviation_band),
            breaker_band_bps: bps(c.guard.breaker_band),
            breaker_window_ms: ms(c.guard.breaker_window_ns),
            breaker_confirm_ms: ms(c.guard.breaker_confirm_ns),
            budget_notional: 0,
            budget_window_ms: ms(c.guard.budget_window_ns),
        }
    }
}

/// One basis point as an E8 rate.
const BPS_E8: i64 = 10_000;

impl PolicyToml {
    /// The policy configuration, or an error naming the `policy.` key that is out of range.
    pub fn to_policy_config(&self) -> Result<crate::policy::PolicyConfig, ConfigError> {
        let bad = |key: &str, v: &dyn std::fmt::Display, why: &str| {
            ConfigError::Invalid(format!("policy.{key} = {v}: {why}"))
        };
        let ns = |key: &str, ms: u64| {
            i64::try_from(ms)
                .ok()
                .and_then(|v| v.checked_mul(1_000_000))
                .filter(|&v| v > 0)
                .ok_or_else(|| bad(key, &ms, "must be positive and at most 9.2e12 ms"))
        };
        let rate = |bps: u32| i64::from(bps) * BPS_E8;
        if self.max_slippage_bps >= 10_000 {
            return Err(bad(
                "max_slippage_bps",
                &self.max_slippage_bps,
                "must be below 10000 (100%)",
            ));
        }
        if self.full_threshold_bps > 10_000 {
            return Err(bad(
                "full_threshold_bps",
                &self.full_threshold_bps,
                "must be at most 10000 (100% of maintenance)",
            ));
        }
        let budget_notional = match self.budget_notional {
            0 => i64::MAX,
            n => i64::try_from(n)
                .ok()
                .and_then(|v| v.checked_mul(hotrisk_feed::fixed::E8))
                .ok_or_else(|| bad("budget_notional", &n, "too large for the E8 scale"))?,
        };
        let mut c = crate::policy::PolicyConfig {
            cancel_first: self.cancel_first,
            ack_timeout_ns: ns("ack_timeout_ms", self.ack_timeout_ms)?,
            ..Default::default()
        };
        c.tiers.slippage = rate(self.max_slippage_bps);
        c.tiers.buffer = rate(self.partial_buffer_bps);
        c.tiers.full_threshold = rate(self.full_threshold_bps);
        c.tiers.full_retries = self.full_retries;
        c.guard.max_index_age_ns = ns("max_index_age_ms", self.max_index_age_ms)?;
        c.guard.deviation_band = rate(self.mark_index_band_bps);
        c.guard.breaker_band = rate(self.breaker_band_bps);
        c.guard.breaker_window_ns = ns("breaker_window_ms", self.breaker_window_ms)?;
        c.guard.breaker_confirm_ns = ns("breaker_confirm_ms", self.breaker_confirm_ms)?;
        c.guard.budget_notional = budget_notional;
        c.guard.budget_window_ns = ns("budget_window_ms", self.budget_window_ms)?;
        Ok(c)
    }
}

/// Ring paths and the order ring's size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RingsConfig {
    /// Market-data broadcast ring (written by the feed-handler).
    pub md: PathBuf,
    /// Account-event SPSC ring (fills, collateral, acks); `""` disables it.
    pub acct: PathBuf,
    /// Order SPSC ring, created by the engine.
    pub orders: PathBuf,
    /// Capacity of the order ring in records (power of two).
    pub order_capacity: usize,
    /// On a fresh start (no journal), read the md ring from its first record instead of from
    /// the next one published.
    pub md_from_start: bool,
}

impl Default for RingsConfig {
    fn default() -> Self {
        Self {
            md: "/dev/shm/hotrisk-md".into(),
            acct: "/dev/shm/hotrisk-acct".into(),
            orders: "/dev/shm/hotrisk-orders".into(),
            order_capacity: 1 << 16,
            md_from_start: false,
        }
    }
}

/// Which risk core runs on the risk thread.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CoreKind {
    /// The SoA margin state and the liquidation policy (production).
    Margin,
    /// A one-position-per-account threshold core used to test the pipeline's mechanics
    /// (recovery, determinism, allocation) independently of the margin math.
    Threshold,
}

/// The state the risk thread starts from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Which core.
    pub core: CoreKind,
    /// Margin core: a scenario TOML (instruments and accounts), or, with `positions`, the
    /// instruments file of a large snapshot. Threshold core: its snapshot file.
    pub snapshot: PathBuf,
    /// Margin core: the positions file of a large snapshot (`""`: none, `snapshot` holds all).
    pub positions: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            core: CoreKind::Margin,
            snapshot: "accounts.toml".into(),
            positions: PathBuf::new(),
        }
    }
}

/// How a thread waits when its inputs are empty.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum IdleKind {
    /// Spin forever (only sensible when each hot thread has a core of its own).
    BusySpin,
    /// Spin a bounded number of times, then `sched_yield` (roles sharing a core).
    SpinThenYield,
    /// Busy-spin when the hot roles have distinct cores, spin-then-yield when they share one or
    /// the machine has fewer cores than hot threads.
    Auto,
}

/// Where the gateway's work (journal the order, publish it on the order ring) runs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum GatewayMode {
    /// A gateway thread of its own, fed by the decision queue (for machines with a core to
    /// spare for it).
    Thread,
    /// On the risk thread, right after each decision: no queue, no hand-off between threads
    /// (the journal write is a copy into the mapped file, the publish a store into the order
    /// ring: no system call either way).
    Inline,
    /// Inline when the risk and gateway threads would share a core (same core, or unpinned on a
    /// machine of at most two cores), a thread otherwise.
    ///
    /// Inline, a full order ring does not stop the risk thread: orders wait in its backlog
    /// ([`crate::pipeline::OrderSink`]) and it keeps reading account events (market data waits),
    /// so an order consumer that itself waits for room on the account ring (the demo's venue
    /// under a cascade) cannot deadlock with it. The default stays `thread` because the
    /// measured demo and e2e configurations were set up with it.
    Auto,
}

/// Threads and cores.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ThreadsConfig {
    /// Core of the risk thread (`"none"`: not pinned).
    #[serde(with = "core_id")]
    pub risk_core: Option<usize>,
    /// Core of the gateway thread (`"none"`: not pinned). Ignored when the gateway runs inline.
    #[serde(with = "core_id")]
    pub gateway_core: Option<usize>,
    /// Gateway on a thread of its own or inline on the risk thread (see [`GatewayMode`]).
    pub gateway: GatewayMode,
    /// Core of the reporter thread (`"none"`: not pinned).
    #[serde(with = "core_id")]
    pub reporter_core: Option<usize>,
    /// Idle strategy of the hot threads.
    pub idle: IdleKind,
    /// Spins before yielding (spin-then-yield).
    pub spin_iterations: u32,
}

/// A core id in TOML: an integer, or `"none"` for an unpinned thread (TOML has no null, and
/// `--print-config` must print every setting).
mod core_id {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<usize>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(c) => s.serialize_u64(*c as u64),
            None => s.serialize_str("none"),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Id(usize),
        Word(String),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Id(c) => Ok(Some(c)),
            Raw::Word(w) if w == "none" => Ok(None),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "expected a core id (integer) or \"none\", found \"{w}\""
            ))),
        }
    }
}

impl Default for ThreadsConfig {
    fn default() -> Self {
        Self {
            risk_core: Some(1),
            gateway_core: Some(1),
            gateway: GatewayMode::Thread,
            reporter_core: Some(0),
            idle: IdleKind::Auto,
            spin_iterations: 256,
        }
    }
}

/// Memory settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// `mlockall(MCL_CURRENT | MCL_FUTURE)` after start-up allocations.
    pub mlockall: bool,
    /// Ask for transparent huge pages on the large state arrays (`madvise(MADV_HUGEPAGE)`).
    pub huge_pages: bool,
}

/// Journal settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// Journal file (created if absent, appended to if present).
    pub path: PathBuf,
    /// Capacity in 64-byte records, preallocated at start.
    pub capacity: u64,
    /// Reporter msync period, ms.
    pub sync_interval_ms: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            path: "hotrisk.journal".into(),
            capacity: 1 << 20,
            sync_interval_ms: 100,
        }
    }
}

/// Latency histogram settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyConfig {
    /// Where `latency.hlog` and `<stage>.hgrm` are written.
    pub out_dir: PathBuf,
    /// Interval between reports, ms.
    pub interval_ms: u64,
    /// Print the interval table on stdout (the final table is always printed).
    pub print_intervals: bool,
    /// Highest trackable latency, ns (larger values are clamped and counted).
    pub max_ns: u64,
    /// Significant figures of the histograms (1..=5).
    pub sigfig: u8,
    /// Local Prometheus text endpoint port; off when absent.
    pub prometheus_port: Option<u16>,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        Self {
            out_dir: "hotrisk-latency".into(),
            interval_ms: 1000,
            print_intervals: false,
            max_ns: 10_000_000_000,
            sigfig: 3,
            prometheus_port: None,
        }
    }
}

/// Input health checks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// A producer whose heartbeat is older than this is reported dead, ms.
    pub heartbeat_timeout_ms: u64,
    /// An index (oracle) price older than this is stale, ms (exchange time).
    pub oracle_stale_ms: u64,
    /// Exit cleanly when the md producer has closed its ring and everything is drained.
    pub exit_on_eof: bool,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            heartbeat_timeout_ms: 2000,
            oracle_stale_ms: 5000,
            exit_on_eof: false,
        }
    }
}

/// The in-process decision queue between the risk thread and the gateway, and the risk thread's
/// order backlog in front of it (see [`crate::pipeline::OrderSink`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Capacity in decisions (power of two).
    pub capacity: usize,
    /// Slots of the risk thread's order backlog (rounded up to a power of two); 0: two per
    /// account, at least 4096. Orders that do not fit downstream wait there, in order; market
    /// data is not read while any wait. A record that fills it makes the risk thread wait for
    /// the gateway (counted as stalls); nothing is ever dropped.
    pub backlog: usize,
    /// Account events are read only while at least this many backlog slots are free (room for
    /// the orders one event causes), also while market data waits.
    pub event_headroom: usize,
    /// Lock-step with the venue: after a market-data record that caused orders, read the next
    /// record only once every order sent so far has its final answer (an `OrderAck`). Each answer
    /// is then applied at a fixed place in the market-data stream, so a run against a
    /// deterministic venue (the demo's, the e2e harness's) gives the same orders bit for bit,
    /// run after run. For simulation and replay: the latency then includes the venue's round
    /// trip, and a venue that never answers holds market data (the stop flag still works).
    /// Live runs after a recovery count only the orders and answers of this run.
    pub lockstep: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            capacity: 1 << 14,
            backlog: 0,
            event_headroom: 64,
            lockstep: false,
        }
    }
}

impl Config {
    /// Loads `path` (or the defaults when `None`) and applies `overrides` (`key.path=value`).
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Self, ConfigError> {
        let (mut value, origin) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    origin: p.display().to_string(),
                    message: e.to_string(),
                })?;
                // Validate the file on its own first, so its errors carry its line numbers.
                toml::from_str::<Self>(&text).map_err(|e| ConfigError::Parse {
                    origin: p.display().to_string(),
                    message: e.to_string(),
                })?;
                (table, p.display().to_string())
            }
            None => (toml::Table::new(), "defaults".to_string()),
        };
        for arg in overrides {
            apply_override(&mut value, arg)?;
        }
        let origin = if overrides.is_empty() {
            origin
        } else {
            format!("{origin} + command-line overrides")
        };
        let cfg = Self::from_table(value, &origin).map_err(|e| name_override_key(e, overrides))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses a configuration from TOML text (no overrides).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn from_table(table: toml::Table, origin: &str) -> Result<Self, ConfigError> {
        // Round-trip through text so the error messages quote the offending key.
        let text = toml::to_string(&table).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// Checks ranges the types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let pow2 = |name: &str, v: usize| {
            if v.is_power_of_two() && v >= 2 {
                Ok(())
            } else {
                Err(ConfigError::Invalid(format!(
                    "{name} = {v}: must be a power of two >= 2"
                )))
            }
        };
        pow2("rings.order_capacity", self.rings.order_capacity)?;
        pow2("queue.capacity", self.queue.capacity)?;
        if self.queue.event_headroom == 0 {
            return Err(ConfigError::Invalid(
                "queue.event_headroom must be at least 1".into(),
            ));
        }
        if !(1..=5).contains(&self.latency.sigfig) {
            return Err(ConfigError::Invalid(format!(
                "latency.sigfig = {}: must be 1..=5",
                self.latency.sigfig
            )));
        }
        if self.latency.max_ns < 1000 {
            return Err(ConfigError::Invalid(format!(
                "latency.max_ns = {}: must be at least 1000",
                self.latency.max_ns
            )));
        }
        if self.latency.interval_ms == 0 {
            return Err(ConfigError::Invalid(
                "latency.interval_ms must be positive".into(),
            ));
        }
        self.policy.to_policy_config()?;
        if self.journal.capacity == 0 {
            return Err(ConfigError::Invalid(
                "journal.capacity must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The effective configuration as TOML (what `--print-config` prints).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

/// An unknown key given with `--set` is reported by the parser without its table (the overrides
/// are parsed as generated text): add the key path as it was given.
fn name_override_key(e: ConfigError, overrides: &[String]) -> ConfigError {
    let ConfigError::Parse { origin, message } = e else {
        return e;
    };
    for arg in overrides {
        let key = arg.split_once('=').map_or(arg.as_str(), |(k, _)| k).trim();
        let last = key.rsplit('.').next().unwrap_or(key);
        if message.contains(&format!("unknown field `{last}`")) {
            return ConfigError::Parse {
                origin,
                message: format!("{message}\nkey path: {key}"),
            };
        }
    }
    ConfigError::Parse { origin, message }
}

/// Applies one `a.b.c=value` override to a TOML table.
pub fn apply_override(root: &mut toml::Table, arg: &str) -> Result<(), ConfigError> {
    let bad = |why: &str| ConfigError::Override {
        arg: arg.to_string(),
        why: why.to_string(),
    };
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=VALUE, e.g. threads.risk_core=1"))?;
    let key = key.trim();
    let raw = raw.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(bad("empty key segment"));
    }
    let value = parse_value(raw);
    let parts: Vec<&str> = key.split('.').collect();
    let (last, parents) = parts.split_last().ok_or_else(|| bad("empty key"))?;
    let mut table = root;
    for (i, p) in parents.iter().enumerate() {
        let entry = table
            .entry((*p).to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(bad(&format!("`{}` is not a table", parts[..=i].join(".")))),
        };
    }
    table.insert((*last).to_string(), value);
    Ok(())
}

/// A TOML value from the command line: anything TOML accepts as a value, else a bare string.
fn parse_value(raw: &str) -> toml::Value {
    let wrapped = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&wrapped) {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| raw.into()),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let cfg = Config::default();
        let text = cfg.to_toml();
        let back = Config::from_toml(&text, "printed").unwrap();
        assert_eq!(cfg, back);
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = Config::from_toml("[threads]\nrisk_cor = 1\n", "x.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("risk_cor"), "{msg}");
        assert!(msg.contains("x.toml"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        let err = Config::from_toml("[bogus]\n", "x.toml").unwrap_err();
        assert!(err.to_string().contains("bogus"));
    }

    #[test]
    fn overrides_apply_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.toml");
        std::fs::write(
            &p,
            "[threads]\nrisk_core = 3\n[policy]\nmax_slippage_bps = 50\n",
        )
        .unwrap();
        let cfg = Config::load(Some(&p), &[]).unwrap();
        assert_eq!(cfg.policy.max_slippage_bps, 50);
        std::fs::write(
            &p,
            "[threads]\nrisk_core = 3\n[policy]\nmax_slippage_bps = 50\n",
        )
        .unwrap();
        let cfg = Config::load(
            Some(&p),
            &[
                "threads.gateway_core=0".into(),
                "rings.md=/dev/shm/x".into(),
                "threads.idle=spin-then-yield".into(),
                "policy.max_slippage_bps=75".into(),
            ],
        )
        .unwrap();
        assert_eq!(cfg.threads.risk_core, Some(3));
        assert_eq!(cfg.threads.gateway_core, Some(0));
        assert_eq!(cfg.rings.md, PathBuf::from("/dev/shm/x"));
        assert_eq!(cfg.threads.idle, IdleKind::SpinThenYield);
        let cfg2 = Config::load(None, &["threads.risk_core=\"none\"".into()]).unwrap();
        assert_eq!(cfg2.threads.risk_core, None);
        assert_eq!(Config::from_toml(&cfg2.to_toml(), "printed").unwrap(), cfg2);
        assert!(Config::load(None, &["threads.risk_core=\"two\"".into()]).is_err());
        assert_eq!(cfg.policy.max_slippage_bps, 75);
        assert_eq!(
            cfg.policy.to_policy_config().unwrap().tiers.slippage,
            750_000
        );
        let err = Config::load(Some(&p), &["threads.nope=1".into()]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let err = Config::load(None, &["threads".into()]).unwrap_err();
        assert!(err.to_string().contains("KEY=VALUE"), "{err}");
        let err = Config::load(None, &["queue.capacity=1000".into()]).unwrap_err();
        assert!(err.to_string().contains("power of two"), "{err}");
    }

    #[test]
    fn policy_table_is_typed_printed_and_checked() {
        // defaults are the policy's
        let d = Config::default();
        assert_eq!(
            d.policy.to_policy_config().unwrap(),
            crate::policy::PolicyConfig::default()
        );
        let printed = d.to_toml();
        assert!(printed.contains("[policy]"), "{printed}");
        assert!(printed.contains("max_slippage_bps = 20"), "{printed}");
        assert_eq!(Config::from_toml(&printed, "printed").unwrap(), d);
        // overrides reach every key
        let cfg = Config::load(
            None,
            &[
                "policy.cancel_first=false".into(),
                "policy.budget_notional=250000".into(),
                "policy.ack_timeout_ms=20".into(),
                "policy.partial_buffer_bps=500".into(),
            ],
        )
        .unwrap();
        let c = cfg.policy.to_policy_config().unwrap();
        assert!(!c.cancel_first);
        assert_eq!(c.guard.budget_notional, 250_000 * hotrisk_feed::fixed::E8);
        assert_eq!(c.ack_timeout_ns, 20_000_000);
        assert_eq!(c.tiers.buffer, hotrisk_feed::fixed::E8 / 20);
        assert!(cfg.to_toml().contains("budget_notional = 250000"));
        // unknown keys and bad values name the key path
        let err = Config::load(None, &["policy.max_slipage_bps=5".into()]).unwrap_err();
        assert!(
            err.to_string().contains("key path: policy.max_slipage_bps"),
            "{err}"
        );
        let err = Config::from_toml("[policy]\nbogus = 1\n", "h.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bogus") && msg.contains("h.toml"), "{msg}");
        let err = Config::load(None, &["policy.max_slippage_bps=10000".into()]).unwrap_err();
        assert!(err.to_string().contains("policy.max_slippage_bps"), "{err}");
        let err = Config::load(None, &["policy.ack_timeout_ms=0".into()]).unwrap_err();
        assert!(err.to_string().contains("policy.ack_timeout_ms"), "{err}");
        let err = Config::load(None, &["policy.full_retries=\"x\"".into()]).unwrap_err();
        assert!(err.to_string().contains("full_retries"), "{err}");
    }
}
