//! Interrupts that landed on the measured cores during a measurement, from `/proc/interrupts`.
//!
//! A busy-polling thread still takes the kernel's timer tick (HZ per second on a core that is not
//! `nohz_full`), rescheduling and function-call IPIs and TLB shootdowns. On a virtual machine each
//! one is a VM exit that can cost tens of microseconds, so the far tail of a sub-microsecond round
//! trip is set by how many samples met one. Counting them beside the histogram says which
//! percentiles are the machine's and which are the code's: with `k` interrupts per 10^4 samples,
//! expect p99.99 to carry interrupt time once `k` ≥ 1.
//!
//! Cold code only (a file read before and after a run).

use std::fmt::Write as _;

/// Per-core counts of the interrupt lines that matter for a spinning thread, plus all the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `LOC`: local timer interrupts (the scheduler tick).
    pub timer: u64,
    /// `RES`: rescheduling IPIs.
    pub resched: u64,
    /// `CAL`: function-call IPIs.
    pub call: u64,
    /// `TLB`: TLB shootdowns. On x86 they arrive as function-call IPIs, so they are already
    /// in `call` (the kernel counts both): shown, never added to the total.
    pub tlb: u64,
    /// Every other line (devices, `NMI`, `IWI`, ...).
    pub other: u64,
}

impl Counts {
    /// All interrupts (`tlb` is part of `call`).
    pub fn total(&self) -> u64 {
        self.timer + self.resched + self.call + self.other
    }

    fn minus(&self, b: &Counts) -> Counts {
        Counts {
            timer: self.timer.saturating_sub(b.timer),
            resched: self.resched.saturating_sub(b.resched),
            call: self.call.saturating_sub(b.call),
            tlb: self.tlb.saturating_sub(b.tlb),
            other: self.other.saturating_sub(b.other),
        }
    }
}

/// Counts for a set of cores at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    cores: Vec<usize>,
    counts: Vec<Counts>,
}

impl Snapshot {
    /// Reads `/proc/interrupts` for `cores`; `None` where it cannot be read (not Linux, no
    /// procfs, a core missing from the table).
    pub fn take(cores: &[usize]) -> Option<Self> {
        let text = std::fs::read_to_string("/proc/interrupts").ok()?;
        Self::parse(&text, cores)
    }

    /// Parses the text of `/proc/interrupts`: a header of `CPUn` columns, then one line per
    /// interrupt source with one count per online CPU (lines with fewer counts, like `ERR`, are
    /// skipped).
    pub fn parse(text: &str, cores: &[usize]) -> Option<Self> {
        let mut lines = text.lines();
        let header: Vec<usize> = lines
            .next()?
            .split_whitespace()
            .map(|c| c.strip_prefix("CPU")?.parse().ok())
            .collect::<Option<_>>()?;
        let cols: Vec<usize> = cores
            .iter()
            .map(|c| header.iter().position(|h| h == c))
            .collect::<Option<_>>()?;
        let mut counts = vec![Counts::default(); cores.len()];
        for line in lines {
            let mut f = line.split_whitespace();
            let Some(name) = f.next() else { continue };
            let nums: Vec<u64> = f.take(header.len()).map_while(|x| x.parse().ok()).collect();
            if nums.len() < header.len() {
                continue;
            }
            for (k, &col) in cols.iter().enumerate() {
                let c = &mut counts[k];
                let slot = match name.trim_end_matches(':') {
                    "LOC" => &mut c.timer,
                    "RES" => &mut c.resched,
                    "CAL" => &mut c.call,
                    "TLB" => &mut c.tlb,
                    _ => &mut c.other,
                };
                *slot += nums[col];
            }
        }
        Some(Self {
            cores: cores.to_vec(),
            counts,
        })
    }

    /// What happened between `self` (earlier) and `later`.
    pub fn delta(&self, later: &Snapshot) -> Delta {
        Delta {
            cores: self.cores.clone(),
            counts: later
                .counts
                .iter()
                .zip(&self.counts)
                .map(|(l, e)| l.minus(e))
                .collect(),
        }
    }
}

/// Interrupts per core over a measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// The cores, in the order of `counts`.
    pub cores: Vec<usize>,
    /// Per core.
    pub counts: Vec<Counts>,
}

impl Delta {
    /// All interrupts on all the cores.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(Counts::total).sum()
    }

    /// Interrupts per 10^4 samples.
    pub fn per_10k(&self, samples: u64) -> f64 {
        self.total() as f64 * 1e4 / samples.max(1) as f64
    }

    /// One Markdown table row: `| name | timer / resched / call (of which TLB) / other, per core | ... | total | per s | per 10^4 |`.
    pub fn row(&self, name: &str, seconds: f64, samples: u64) -> String {
        let mut s = format!("| {name} |");
        for c in &self.counts {
            let _ = write!(
                s,
                " {} / {} / {} ({}) / {} |",
                c.timer, c.resched, c.call, c.tlb, c.other
            );
        }
        let _ = write!(
            s,
            " {} | {:.0} | {:.2} |",
            self.total(),
            self.total() as f64 / seconds.max(1e-9),
            self.per_10k(samples)
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "           CPU0       CPU1       \n  4:         10          0   IO-APIC   4-edge      ttyS0\nNMI:          0          0   Non-maskable interrupts\nLOC:    1000    2000   Local timer interrupts\nRES:      5      7   Rescheduling interrupts\nCAL:     11     13   Function call interrupts\nTLB:      1      2   TLB shootdowns\nERR:          0\n";
    const T1: &str = "           CPU0       CPU1       \n  4:         12          0   IO-APIC   4-edge      ttyS0\nNMI:          0          0   Non-maskable interrupts\nLOC:    1250    2300   Local timer interrupts\nRES:      5      9   Rescheduling interrupts\nCAL:     11     14   Function call interrupts\nTLB:      4      2   TLB shootdowns\nERR:          0\n";

    #[test]
    fn parses_and_subtracts_per_core() {
        let a = Snapshot::parse(T0, &[1, 0]).expect("parses");
        let b = Snapshot::parse(T1, &[1, 0]).expect("parses");
        let d = a.delta(&b);
        assert_eq!(d.cores, vec![1, 0]);
        assert_eq!(
            d.counts[0],
            Counts {
                timer: 300,
                resched: 2,
                call: 1,
                tlb: 0,
                other: 0
            }
        );
        assert_eq!(
            d.counts[1],
            Counts {
                timer: 250,
                resched: 0,
                call: 0,
                tlb: 3,
                other: 2
            }
        );
        // TLB shootdowns are function-call IPIs: counted in `call`, not added again.
        assert_eq!(d.total(), 555);
        assert!((d.per_10k(10_000) - 555.0).abs() < 1e-9);
        let row = d.row("x", 2.0, 1000);
        assert!(row.contains("| 300 / 2 / 1 (0) / 0 |"), "{row}");
        assert!(row.contains("| 555 | 278 | 5550.00 |"), "{row}");
    }

    #[test]
    fn a_missing_core_or_a_bad_header_is_none() {
        assert!(Snapshot::parse(T0, &[2]).is_none());
        assert!(Snapshot::parse("garbage\n", &[0]).is_none());
    }

    #[test]
    fn reads_this_machine_where_procfs_exists() {
        if std::path::Path::new("/proc/interrupts").exists() {
            let s = Snapshot::take(&[0]).expect("core 0 is in /proc/interrupts");
            assert!(s.counts[0].total() > 0);
        }
    }
}
