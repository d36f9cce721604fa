//! What machine a measurement ran on: CPU model, cores, kernel, git revision, core sharing.
//!
//! Every report (the demo's, `hotrisk-bench`'s) starts with this, because a latency number without
//! its machine is not a number.
#![forbid(unsafe_code)]

use std::fmt;

/// A description of the host, read from `/proc` and `git` at report time.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Logical CPUs online.
    pub logical_cpus: usize,
    /// Physical cores (distinct `core id` × `physical id`), when `/proc/cpuinfo` says.
    pub physical_cores: Option<usize>,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: String,
    /// `git rev-parse --short HEAD` plus `-dirty` when the tree has changes; `unknown` outside git.
    pub git_revision: String,
    /// The cpu frequency governor of cpu0, when exposed.
    pub governor: Option<String>,
}

impl Machine {
    /// Reads the current machine.
    pub fn current() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let mut cores = std::collections::BTreeSet::new();
        let mut phys = String::new();
        for l in cpuinfo.lines() {
            if let Some(v) = l.strip_prefix("physical id") {
                phys = v.trim_start_matches([' ', '\t', ':']).to_owned();
            } else if let Some(v) = l.strip_prefix("core id") {
                cores.insert((
                    phys.clone(),
                    v.trim_start_matches([' ', '\t', ':']).to_owned(),
                ));
            }
        }
        let logical_cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        let governor =
            std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
                .ok()
                .map(|s| s.trim().to_owned());
        Self {
            cpu_model,
            logical_cpus,
            physical_cores: (!cores.is_empty()).then_some(cores.len()),
            kernel,
            git_revision: git_revision(),
            governor,
        }
    }

    /// Whether `threads` busy threads must share a core on this machine.
    pub fn threads_share_a_core(&self, threads: usize) -> bool {
        threads > self.logical_cpus
    }
}

fn git_revision() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match run(&["rev-parse", "--short", "HEAD"]) {
        Some(rev) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{rev}-dirty")
            } else {
                rev
            }
        }
        None => "unknown".to_owned(),
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "| machine | |")?;
        writeln!(f, "|---|---|")?;
        writeln!(f, "| CPU | {} |", self.cpu_model)?;
        let phys = self
            .physical_cores
            .map_or_else(|| "?".to_owned(), |n| n.to_string());
        writeln!(
            f,
            "| logical CPUs / physical cores | {} / {} |",
            self.logical_cpus, phys
        )?;
        writeln!(f, "| kernel | {} |", self.kernel)?;
        writeln!(
            f,
            "| governor | {} |",
            self.governor.as_deref().unwrap_or("not exposed")
        )?;
        writeln!(f, "| git revision | {} |", self.git_revision)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_machine() {
        let m = super::Machine::current();
        assert!(m.logical_cpus >= 1);
        assert!(!m.kernel.is_empty());
        let table = m.to_string();
        assert!(table.contains("| CPU |"));
        assert!(m.threads_share_a_core(m.logical_cpus + 1));
        assert!(!m.threads_share_a_core(1));
    }
}
