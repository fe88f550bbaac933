//! The standard `process_*` metrics of the server process (what Go's
//! Prometheus client, and so RoadRunner, exports): CPU, memory, open file
//! descriptors, threads, start time. Read from /proc at each scrape.

use std::fmt::Write;

/// The OpenMetrics families, or nothing when /proc cannot be read.
pub fn render(out: &mut String) {
    let Some(p) = read() else { return };
    let mut family = |name: &str, ty: &str, help: &str, sample: &str, value: String| {
        let _ = writeln!(out, "# TYPE {name} {ty}");
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "{sample} {value}");
    };
    family(
        "process_cpu_seconds",
        "counter",
        "Total user and system CPU time spent in seconds.",
        "process_cpu_seconds_total",
        format!("{}", p.cpu_seconds),
    );
    family(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        "process_resident_memory_bytes",
        p.rss.to_string(),
    );
    family(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        "process_virtual_memory_bytes",
        p.vsize.to_string(),
    );
    family(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        "process_open_fds",
        p.open_fds.to_string(),
    );
    if let Some(max) = p.max_fds {
        family(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            "process_max_fds",
            max.to_string(),
        );
    }
    family(
        "process_threads",
        "gauge",
        "Number of OS threads in the process.",
        "process_threads",
        p.threads.to_string(),
    );
    if let Some(start) = p.start_time {
        family(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            "process_start_time_seconds",
            format!("{start}"),
        );
    }
}

struct Process {
    cpu_seconds: f64,
    rss: u64,
    vsize: u64,
    open_fds: usize,
    max_fds: Option<u64>,
    threads: u64,
    start_time: Option<f64>,
}

fn read() -> Option<Process> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // stat(5) numbering: field 3 is f[0].
    let num = |i: usize| -> Option<u64> { f.get(i - 3)?.parse().ok() };
    let tick = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u64;
    let boot_time: Option<f64> = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    });
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        });
    Some(Process {
        cpu_seconds: (num(14)? + num(15)?) as f64 / tick,
        rss: num(24)? * page,
        vsize: num(23)?,
        open_fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count()),
        max_fds,
        threads: num(20)?,
        start_time: boot_time.and_then(|b| Some(b + num(22)? as f64 / tick)),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_this_process() {
        let mut out = String::new();
        super::render(&mut out);
        assert!(out.contains("process_cpu_seconds_total "), "{out}");
        let rss: u64 = out
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(rss > 1 << 20, "{out}");
        assert!(out.contains("process_threads "));
    }
}
