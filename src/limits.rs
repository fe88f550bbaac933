//! How much memory one thread worker may ask PHP for (`memory_limit`'s
//! ceiling). Thread workers share one process: a worker that lifts
//! `memory_limit` to -1 and grows would get the whole server OOM-killed,
//! while under RoadRunner only its own process would die.

use std::path::Path;

/// The floor of the ceiling: never below what a default php.ini allows.
const FLOOR: u64 = 128 << 20;

/// The ceiling for `workers` thread workers: their share (80 %) of the
/// memory the server may use (the cgroup's `memory.max`, else the machine's
/// memory), lowered to twice `max_worker_memory` when that is set (its soft
/// limit recycles a worker after the request; the ceiling stops one request
/// from running away before that). Never below 128 MiB.
pub fn memory_ceiling(workers: usize, max_worker_memory: u64) -> u64 {
    let avail = cgroup_memory_max(Path::new("/"))
        .or_else(mem_total)
        .unwrap_or(0);
    let mut ceiling = if avail > 0 {
        avail / 10 * 8 / workers.max(1) as u64
    } else {
        u64::MAX
    };
    if max_worker_memory > 0 {
        ceiling = ceiling.min(max_worker_memory.saturating_mul(2));
    }
    ceiling.max(FLOOR)
}

/// cgroup v2: `memory.max` of this process's cgroup (`None` for "max" or
/// no cgroup v2). `root` is `/` (a parameter for the tests).
fn cgroup_memory_max(root: &Path) -> Option<u64> {
    let cg = std::fs::read_to_string(root.join("proc/self/cgroup")).ok()?;
    let rel = cg.lines().find_map(|l| l.strip_prefix("0::"))?;
    let file = root
        .join("sys/fs/cgroup")
        .join(rel.trim_start_matches('/'))
        .join("memory.max");
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

fn mem_total() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_follows_the_cgroup_and_max_worker_memory() {
        let root = std::env::temp_dir().join(format!("rr-limits-{}", std::process::id()));
        std::fs::create_dir_all(root.join("proc/self")).unwrap();
        std::fs::create_dir_all(root.join("sys/fs/cgroup/app.slice")).unwrap();
        std::fs::write(root.join("proc/self/cgroup"), "0::/app.slice\n").unwrap();
        std::fs::write(root.join("sys/fs/cgroup/app.slice/memory.max"), "max\n").unwrap();
        assert_eq!(cgroup_memory_max(&root), None);
        std::fs::write(
            root.join("sys/fs/cgroup/app.slice/memory.max"),
            "4294967296\n",
        )
        .unwrap();
        assert_eq!(cgroup_memory_max(&root), Some(4 << 30));
        std::fs::remove_dir_all(&root).unwrap();

        // Whatever this machine has: never below the floor, and at most twice
        // max_worker_memory above it.
        assert!(memory_ceiling(1000, 0) >= FLOOR);
        assert_eq!(memory_ceiling(1, 100 << 20), 200 << 20);
        assert_eq!(memory_ceiling(1, 10 << 20), FLOOR);
    }
}
