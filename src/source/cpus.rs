//! CPUs online on the host, from the `cpuN` lines of `<procfs>/stat` (offline CPUs have none):
//! the denominator of `cpu_utilization_ratio` for a target without a cgroup CPU limit.

use std::path::Path;

/// Counts the per-CPU lines (`cpu0 ...`, `cpu1 ...`) of `/proc/stat` text.
pub fn parse_online_cpus(stat: &str) -> Option<u32> {
    let n = stat
        .lines()
        .filter(|l| {
            l.strip_prefix("cpu")
                .and_then(|rest| rest.split(char::is_whitespace).next())
                .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        })
        .count();
    u32::try_from(n).ok().filter(|n| *n > 0)
}

/// Online CPUs of the host whose procfs is mounted at `root`; `None` when unreadable.
pub fn online_cpus(root: &Path) -> Option<u32> {
    std::fs::read_to_string(root.join("stat"))
        .ok()
        .and_then(|t| parse_online_cpus(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cpu_lines_of_the_fixture() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc");
        assert_eq!(online_cpus(&root), Some(2));
        assert_eq!(parse_online_cpus("cpu  1 2 3\nintr 5\n"), None);
        assert_eq!(
            parse_online_cpus("cpu  1\ncpu0 1\ncpu3 1\ncpufreq x\n"),
            Some(2)
        );
        assert_eq!(online_cpus(Path::new("/nonexistent")), None);
    }
}
