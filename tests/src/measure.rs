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
/// system; `/proc/<pid>/stat` counts clock ticks of 10 ms); 0 when it cannot be read.
pub fn cpu_ms(pid: u32) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    // utime, stime, cutime, cstime are fields 14 to 17; the list starts at field 3.
    let ticks: u64 = fields
        .get(11..15)
        .unwrap_or_default()
        .iter()
        .filter_map(|field| field.parse::<u64>().ok())
        .sum();
    ticks as f64 * 10.0
}

/// The p50 and p99 of `times` (sorted in place), in milliseconds.
pub fn percentiles_ms(times: &mut [Duration]) -> (f64, f64) {
    times.sort();
    let at = |share: usize| times[times.len() * share / 100].as_secs_f64() * 1e3;
    (at(50), at(99))
}
