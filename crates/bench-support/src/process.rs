//! Counters of a process from Linux's `/proc`: memory, CPU time by thread, and I/O. Each
//! reader gives `None` (or zero) where `/proc` is not there, so a benchmark still runs and
//! reports the figure as missing.

use std::time::Duration;

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_field_kib(&status, field)
}

fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// Resets this process's peak RSS (`VmHWM`) to its current RSS (Linux 4.0+); false if it
/// could not.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// CPU time (user + system) used so far by the threads of process `pid` whose names start
/// with `thread_prefix` (all threads when empty), from `/proc/PID/task/*/stat`, in clock
/// ticks of 10 ms.
pub fn thread_cpu(pid: u32, thread_prefix: &str) -> Duration {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !name.trim_end().starts_with(thread_prefix) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        ticks += stat_cpu_ticks(&stat);
    }
    Duration::from_secs_f64(ticks as f64 / ticks_per_second)
}

/// utime + stime of a `stat` line. Fields after the command (which may hold spaces) start at
/// the state; utime and stime are fields 14 and 15 of the whole line.
fn stat_cpu_ticks(stat: &str) -> u64 {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// This process's I/O counters (`/proc/self/io`), all threads together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessIo {
    /// Bytes passed to `read`-like system calls (`rchar`).
    pub read_chars: u64,
    /// Bytes passed to `write`-like system calls (`wchar`), whether or not they reached a disk.
    pub write_chars: u64,
    /// `read`-like system calls (`syscr`).
    pub read_calls: u64,
    /// `write`-like system calls (`syscw`).
    pub write_calls: u64,
    /// Bytes the process caused to be read from storage (`read_bytes`).
    pub storage_read_bytes: u64,
    /// Bytes the process caused to be sent to storage (`write_bytes`): counted when pages are
    /// dirtied, so a write that reaches the disk later still counts here.
    pub storage_write_bytes: u64,
}

impl ProcessIo {
    /// The counters now; `None` where `/proc/self/io` cannot be read.
    pub fn read() -> Option<Self> {
        let text = std::fs::read_to_string("/proc/self/io").ok()?;
        Some(Self::parse(&text))
    }

    fn parse(text: &str) -> Self {
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0)
        };
        Self {
            read_chars: field("rchar"),
            write_chars: field("wchar"),
            read_calls: field("syscr"),
            write_calls: field("syscw"),
            storage_read_bytes: field("read_bytes"),
            storage_write_bytes: field("write_bytes"),
        }
    }

    /// What happened between `earlier` and these counters.
    #[must_use]
    pub fn since(&self, earlier: &ProcessIo) -> ProcessIo {
        ProcessIo {
            read_chars: self.read_chars.saturating_sub(earlier.read_chars),
            write_chars: self.write_chars.saturating_sub(earlier.write_chars),
            read_calls: self.read_calls.saturating_sub(earlier.read_calls),
            write_calls: self.write_calls.saturating_sub(earlier.write_calls),
            storage_read_bytes: self
                .storage_read_bytes
                .saturating_sub(earlier.storage_read_bytes),
            storage_write_bytes: self
                .storage_write_bytes
                .saturating_sub(earlier.storage_write_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_stat_and_io_lines() {
        let status = "Name:\tbench\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_field_kib(status, "VmRSS"), Some(10240));
        assert_eq!(status_field_kib(status, "VmHWM"), Some(20480));
        assert_eq!(status_field_kib(status, "VmSwap"), None);
        let stat = "123 (tokio runtime) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0";
        assert_eq!(stat_cpu_ticks(stat), 300);
        let io = ProcessIo::parse(
            "rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 2\nread_bytes: 0\nwrite_bytes: 4096\n",
        );
        assert_eq!(io.write_chars, 20);
        assert_eq!(io.storage_write_bytes, 4096);
        let later = ProcessIo {
            write_chars: 50,
            ..io
        };
        assert_eq!(later.since(&io).write_chars, 30);
    }

    #[test]
    fn this_process_has_counters() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(status_kib("VmRSS").is_some_and(|kib| kib > 0));
            assert!(ProcessIo::read().is_some());
        }
    }
}
