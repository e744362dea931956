//! Figures the benchmarks print: a process's memory and CPU time, and the percentiles of
//! timings.

use std::fs;
use std::time::Duration;

/// A memory figure of process `pid`, in KiB: `field` is `VmRSS` (now) or `VmHWM` (peak); 0
/// when it cannot be read.
pub fn rss_kib(pid: u32, field: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix(field)?
                    .strip_prefix(':')?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

/// The CPU time process `pid` and its reaped children have used, in milliseconds (user and
/// system); 0 when it cannot be read.
pub fn cpu_ms(pid: u32) -> f64 {
    let cpu = process_cpu(pid);
    cpu.own_ms + cpu.reaped_ms
}

/// The CPU time of one process, split into its own and that of its children it has reaped.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessCpu {
    /// User and system time of the process itself, in milliseconds.
    pub own_ms: f64,
    /// User and system time of its children that have exited and been waited for.
    pub reaped_ms: f64,
}

/// The CPU time of process `pid` from `/proc/<pid>/stat` (clock ticks of 10 ms); zero when it
/// cannot be read (the process has exited).
pub fn process_cpu(pid: u32) -> ProcessCpu {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    // utime, stime, cutime, cstime are fields 14 to 17; the list starts at field 3.
    let ticks = |range: std::ops::Range<usize>| -> f64 {
        let sum: u64 = fields
            .get(range)
            .unwrap_or_default()
            .iter()
            .filter_map(|field| field.parse::<u64>().ok())
            .sum();
        sum as f64 * 10.0
    };
    ProcessCpu {
        own_ms: ticks(11..13),
        reaped_ms: ticks(13..15),
    }
}

/// The p50 and p90 of `times` (sorted in place), in milliseconds.
pub fn p50_p90_ms(times: &mut [Duration]) -> (f64, f64) {
    times.sort();
    (percentile_ms(times, 50), percentile_ms(times, 90))
}

fn percentile_ms(sorted: &[Duration], share: usize) -> f64 {
    sorted[sorted.len() * share / 100].as_secs_f64() * 1e3
}

/// The p50 and p99 of `times` (sorted in place), in milliseconds.
pub fn percentiles_ms(times: &mut [Duration]) -> (f64, f64) {
    times.sort();
    (percentile_ms(times, 50), percentile_ms(times, 99))
}
