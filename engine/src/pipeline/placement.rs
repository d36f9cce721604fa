//! Thread placement: which core each role runs on, whether the gateway runs on its own thread or
//! inline on the risk thread, whether hot threads must spin-then-yield, and memory locking.
//! Failures are warnings that name the core or the limit; nothing here panics.
//!
//! Two hot threads on one core hand every order over through the scheduler: the consumer only
//! runs when the producer yields, so a hand-off costs a spin window plus a context switch
//! (microseconds). When risk and gateway would share a core, [`GatewayMode::Auto`] therefore runs
//! the gateway inline on the risk thread instead (one hot thread, no hand-off).

use crate::config::{GatewayMode, IdleKind, MemoryConfig, ThreadsConfig};

/// A thread role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The risk thread (hot).
    Risk,
    /// The gateway thread (hot).
    Gateway,
    /// The reporter thread (cold).
    Reporter,
}

impl Role {
    /// The role's name.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Risk => "risk",
            Role::Gateway => "gateway",
            Role::Reporter => "reporter",
        }
    }
}

/// The placement decided at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Core per role (after validation; `None` = unpinned).
    pub risk: Option<usize>,
    /// Gateway core (unused when `gateway_inline`).
    pub gateway: Option<usize>,
    /// The gateway's work runs on the risk thread (no gateway thread, no decision queue).
    pub gateway_inline: bool,
    /// Reporter core.
    pub reporter: Option<usize>,
    /// Whether the hot threads spin-then-yield (else busy-spin).
    pub spin_then_yield: bool,
    /// Spins before yielding.
    pub spins: u32,
    /// Messages for the start-up banner (sharing, invalid cores, forced strategies).
    pub notes: Vec<String>,
}

/// Decides the placement for `cfg` on a machine whose usable cores are `available`.
pub fn plan(cfg: &ThreadsConfig, available: &[usize]) -> Placement {
    let mut notes = Vec::new();
    let mut check = |role: Role, core: Option<usize>| -> Option<usize> {
        let c = core?;
        if available.contains(&c) {
            Some(c)
        } else {
            notes.push(format!(
                "warning: {} thread: core {c} is not available (usable cores: {available:?}); running unpinned",
                role.name()
            ));
            None
        }
    };
    let risk = check(Role::Risk, cfg.risk_core);
    let gateway = check(Role::Gateway, cfg.gateway_core);
    let reporter = check(Role::Reporter, cfg.reporter_core);
    let hot_share = match (risk, gateway) {
        (Some(a), Some(b)) => a == b,
        // Unpinned hot threads on a machine with at most two cores (the reporter and the
        // feed-handler need time too) will end up sharing one.
        _ => available.len() <= 2,
    };
    let gateway_inline = match cfg.gateway {
        GatewayMode::Inline => true,
        GatewayMode::Thread => false,
        GatewayMode::Auto => hot_share,
    };
    if gateway_inline {
        notes.push(format!(
            "gateway: inline on the risk thread ({}): each order is journaled and published right after its decision, no hand-off",
            match cfg.gateway {
                GatewayMode::Inline => "threads.gateway = \"inline\"".to_string(),
                _ => match (risk, gateway) {
                    (Some(a), Some(b)) if a == b => format!("risk and gateway assigned core {a}"),
                    _ => format!("{} usable core(s)", available.len()),
                },
            }
        ));
    } else if hot_share {
        notes.push(match (risk, gateway) {
            (Some(a), Some(b)) if a == b => {
                format!("note: risk and gateway threads share core {a}")
            }
            _ => format!(
                "note: {} usable core(s) for 2 unpinned hot threads: they will share cores",
                available.len()
            ),
        });
    }
    let hot_roles: &[(Role, Option<usize>)] = if gateway_inline {
        &[(Role::Risk, risk)]
    } else {
        &[(Role::Risk, risk), (Role::Gateway, gateway)]
    };
    for &(role, core) in hot_roles {
        if let (Some(c), Some(r)) = (core, reporter) {
            if c == r {
                notes.push(format!(
                    "note: {} thread shares core {c} with the reporter",
                    role.name()
                ));
            }
        }
    }
    // Must a hot thread yield when idle? Two hot threads on one core: yes. One (inline gateway):
    // on a machine of at most two cores the other processes (feed-handler, venue) and the
    // reporter need that core too.
    let must_yield = if gateway_inline {
        available.len() <= 2
    } else {
        hot_share
    };
    let spin_then_yield = match cfg.idle {
        IdleKind::SpinThenYield => true,
        IdleKind::BusySpin => {
            if hot_share && !gateway_inline {
                notes.push(
                    "warning: idle = busy-spin while hot threads share a core: progress relies on the scheduler's time slices".into(),
                );
            }
            false
        }
        IdleKind::Auto => must_yield,
    };
    notes.push(format!(
        "idle strategy: {}",
        if spin_then_yield {
            format!("spin-then-yield ({} spins)", cfg.spin_iterations)
        } else {
            "busy-spin".to_string()
        }
    ));
    Placement {
        risk,
        gateway: if gateway_inline { None } else { gateway },
        gateway_inline,
        reporter,
        spin_then_yield,
        spins: cfg.spin_iterations,
        notes,
    }
}

/// The usable core ids of this process.
pub fn available_cores() -> Vec<usize> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// Pins the calling thread to `core`; a warning string on failure.
pub fn pin_current(role: Role, core: Option<usize>) -> Option<String> {
    let c = core?;
    if core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
        None
    } else {
        Some(format!(
            "warning: {} thread: cannot pin to core {c}; running unpinned",
            role.name()
        ))
    }
}

/// Applies the memory settings; returns notes (warnings name the limit).
pub fn apply_memory(cfg: &MemoryConfig) -> Vec<String> {
    let mut notes = Vec::new();
    if cfg.mlockall {
        // SAFETY: mlockall takes flags only and touches no memory of ours; it either locks the
        // pages or fails with errno.
        let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
        if rc == 0 {
            notes.push("memory: mlockall(MCL_CURRENT | MCL_FUTURE) done".into());
        } else {
            let err = std::io::Error::last_os_error();
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
            let got = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } == 0;
            notes.push(format!(
                "warning: mlockall failed ({err}); RLIMIT_MEMLOCK = {}; continuing without locked memory (raise it with `ulimit -l` or CAP_IPC_LOCK)",
                if got {
                    if lim.rlim_cur == libc::RLIM_INFINITY {
                        "unlimited".to_string()
                    } else {
                        format!("{} bytes", lim.rlim_cur)
                    }
                } else {
                    "unknown".to_string()
                }
            ));
        }
    }
    if cfg.huge_pages {
        let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_else(|_| "unknown".into());
        let mode = mode.trim();
        if mode.contains("[never]") || mode == "unknown" {
            notes.push(format!(
                "warning: huge_pages requested but transparent huge pages are `{mode}`; using normal pages"
            ));
        } else {
            notes.push(format!(
                "memory: transparent huge pages `{mode}` (state arrays are large anonymous mappings)"
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_core_means_spin_then_yield() {
        let cfg = ThreadsConfig {
            gateway: GatewayMode::Thread,
            ..ThreadsConfig::default() // risk 1, gateway 1, reporter 0, auto
        };
        let p = plan(&cfg, &[0, 1]);
        assert!(p.spin_then_yield);
        assert!(!p.gateway_inline);
        assert!(
            p.notes.iter().any(|n| n.contains("share core 1")),
            "{:?}",
            p.notes
        );
        let cfg = ThreadsConfig {
            risk_core: Some(2),
            gateway_core: Some(3),
            ..ThreadsConfig::default()
        };
        let p = plan(&cfg, &[0, 1, 2, 3]);
        assert!(!p.spin_then_yield);
        let p = plan(&cfg, &[0, 1]);
        assert_eq!(p.risk, None);
        assert!(p
            .notes
            .iter()
            .any(|n| n.contains("core 2 is not available")));
        assert!(p.spin_then_yield, "unpinned on 2 cores: share");
    }

    #[test]
    fn shared_core_runs_the_gateway_inline() {
        // Default: risk and gateway on core 1, gateway auto.
        let p = plan(&ThreadsConfig::default(), &[0, 1]);
        assert!(p.gateway_inline);
        assert_eq!((p.risk, p.gateway), (Some(1), None));
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("inline on the risk thread")),
            "{:?}",
            p.notes
        );
        assert!(
            p.spin_then_yield,
            "2 cores: the other processes need the core"
        );
        // More cores: the single hot thread busy-spins.
        let p = plan(&ThreadsConfig::default(), &[0, 1, 2, 3]);
        assert!(p.gateway_inline && !p.spin_then_yield);
        // Distinct cores: a gateway thread, busy-spinning.
        let cfg = ThreadsConfig {
            gateway_core: Some(2),
            ..ThreadsConfig::default()
        };
        let p = plan(&cfg, &[0, 1, 2, 3]);
        assert!(!p.gateway_inline && !p.spin_then_yield);
        assert_eq!(p.gateway, Some(2));
        // Forced inline even with a core to spare.
        let cfg = ThreadsConfig {
            gateway_core: Some(2),
            gateway: GatewayMode::Inline,
            ..ThreadsConfig::default()
        };
        assert!(plan(&cfg, &[0, 1, 2, 3]).gateway_inline);
    }
}
