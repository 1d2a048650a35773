//! CPU time and memory of a process, read from Linux's /proc.

use std::sync::OnceLock;

/// One reading of a process.
#[derive(Clone, Debug)]
pub struct ProcessSample {
    pub pid: u32,
    /// User plus system CPU time of every thread, in seconds.
    pub cpu_seconds: f64,
    /// Peak resident set size (VmHWM), in KiB.
    pub peak_rss_kib: u64,
    /// Resident set size (VmRSS), in KiB.
    pub rss_kib: u64,
}

/// Reads every pid in `pids`; a process that is gone or unreadable (or a
/// system without /proc) is left out.
pub fn sample_all(pids: &[u32]) -> Vec<ProcessSample> {
    pids.iter().filter_map(|pid| sample(*pid).ok()).collect()
}

/// Returns whether a process with this id runs: it exists and is not a
/// zombie whose exit its parent has yet to collect. Without /proc, where
/// no process can be measured, every id passes.
pub fn exists(pid: u32) -> bool {
    if !std::path::Path::new("/proc/self").exists() {
        return true;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and
    // may itself contain them.
    let state = stat.rfind(')').and_then(|end| stat[end + 1..].split_whitespace().next());
    !matches!(state, Some("Z" | "X"))
}

pub fn sample(pid: u32) -> std::io::Result<ProcessSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let ticks = cpu_ticks(&stat)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("unreadable /proc/{pid}/stat")))?;
    Ok(ProcessSample {
        pid,
        cpu_seconds: ticks as f64 / clock_ticks_per_second(),
        peak_rss_kib: status_kib(&status, "VmHWM:").unwrap_or(0),
        rss_kib: status_kib(&status, "VmRSS:").unwrap_or(0),
    })
}

/// utime + stime from the text of /proc/PID/stat, in clock ticks. The
/// command name in field 2 may contain spaces and parentheses, so fields
/// are counted from its closing parenthesis.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field 3 (state) is fields[0], so utime (14) and stime (15) are 11 and 12.
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(user + system)
}

/// Reads a `Name:   1234 kB` line of /proc/PID/status, in KiB.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// CPU time that the machine's processes at normal or higher priority used
/// since boot, in seconds: every state of the `cpu` line of /proc/stat but
/// idle, iowait and nice. Niced processes are left out because they only
/// take CPU that nothing else wants, such as a background compile.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    busy_ticks(stat.lines().next()?).map(|ticks| ticks as f64 / clock_ticks_per_second())
}

fn busy_ticks(cpu_line: &str) -> Option<u64> {
    let mut fields = cpu_line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let values: Vec<u64> = fields.map(|field| field.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice],
    // where guest time is already part of user time.
    let total: u64 = values.iter().take(8).sum();
    Some(total - values.get(1)? - values.get(3)? - values.get(4)?)
}

/// USER_HZ from `getconf CLK_TCK`; 100, its value on x86 and ARM Linux,
/// when getconf is missing.
fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|ticks| *ticks > 0.0)
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_in_name() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 100 0 0";
        assert_eq!(cpu_ticks(stat), Some(300));
    }

    #[test]
    fn status_memory_lines() {
        let status = "Name:\tpostroom\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_kib(status, "VmHWM:"), Some(20480));
        assert_eq!(status_kib(status, "VmRSS:"), Some(10240));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn machine_busy_excludes_idle() {
        let line = "cpu  100 5 50 1000 20 3 2 1 7 0";
        assert_eq!(busy_ticks(line), Some(156));
        assert_eq!(busy_ticks("cpu0 1 2 3 4 5 6 7 8"), None);
    }

    #[test]
    fn own_process_readable() {
        let sample = sample(std::process::id()).expect("/proc/self is readable on Linux");
        assert!(sample.rss_kib > 0);
        assert!(sample.peak_rss_kib >= sample.rss_kib, "peak {} < rss {}", sample.peak_rss_kib, sample.rss_kib);
    }
}
