//! `rr workers` and `rr reset`: RPC clients of a running server.

use super::client::Client;
use crate::config::Config;
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime};

fn connect(cfg: &Config) -> Result<Client, String> {
    let rpc = cfg.rpc.as_ref().ok_or(
        "rpc service not specified in the configuration. Tip: add rpc: listen: rr_rpc_address",
    )?;
    Client::connect(&rpc.addr, Duration::from_secs(120))
}

fn plugins(c: &mut Client, method: &str, given: &[String]) -> Result<Vec<String>, String> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let v = c.call(method, &json!(true))?;
    Ok(v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default())
}

/// `rr workers [-i] [plugin...]`.
pub fn workers(cfg: &Config, interactive: bool, given: &[String]) -> Result<(), String> {
    let mut c = connect(cfg)?;
    let color = std::io::stdout().is_terminal();
    loop {
        let list = plugins(&mut c, "informer.List", given)?;
        let mut out = String::new();
        for p in &list {
            out.push_str(&format!("Workers of [{p}]:\n"));
            match c.call("informer.Workers", &json!(p)) {
                Ok(v) => out.push_str(&table(&v, color)),
                Err(e) => out.push_str(&error_table(&e)),
            }
            out.push('\n');
        }
        let mut so = std::io::stdout().lock();
        if interactive {
            // Clear the screen and redraw every second until interrupted.
            let _ = so.write_all(b"\x1b[H\x1b[2J");
        }
        let _ = so.write_all(out.as_bytes());
        let _ = so.flush();
        drop(so);
        if !interactive {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `rr reset [plugin...]`: every plugin in parallel.
pub fn reset(cfg: &Config, given: &[String], silent: bool) -> Result<(), String> {
    let mut c = connect(cfg)?;
    let list = plugins(&mut c, "resetter.List", given)?;
    drop(c);
    let handles: Vec<_> = list
        .into_iter()
        .map(|p| {
            let cfg = cfg.clone();
            std::thread::spawn(move || {
                if !silent {
                    eprintln!("{} resetting plugin: [{p}]", stamp());
                }
                let r = connect(&cfg).and_then(|mut c| c.call("resetter.Reset", &json!(p)));
                match r {
                    Ok(_) => {
                        if !silent {
                            eprintln!("{} plugin reset: [{p}]", stamp());
                        }
                        Ok(())
                    }
                    Err(e) => Err(format!("reset of [{p}] failed: {e}")),
                }
            })
        })
        .collect();
    let mut errors = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push("a reset thread panicked".into()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Go's log timestamp (`2006/01/02 15:04:05`), UTC.
fn stamp() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86400, secs % 86400);
    let (y, m, d) = civil(days as i64);
    format!(
        "{y:04}/{m:02}/{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
pub(crate) fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// SI units, as go-humanize's Bytes (`79 MB`, `7.9 MB`).
fn si_bytes(n: u64) -> String {
    if n < 10 {
        return format!("{n} B");
    }
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let e = ((n as f64).ln() / 1000f64.ln()).floor() as usize;
    let e = e.min(units.len() - 1);
    let v = n as f64 / 1000f64.powi(e as i32);
    if v < 10.0 {
        format!("{v:.1} {}", units[e])
    } else {
        format!("{v:.0} {}", units[e])
    }
}

fn ago(created_ns: i64) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let s = ((now - created_ns) / 1_000_000_000).max(0);
    let plural = |n: i64, u: &str| {
        if n == 1 {
            format!("1 {u} ago")
        } else {
            format!("{n} {u}s ago")
        }
    };
    match s {
        0 => "now".into(),
        1..=59 => plural(s, "second"),
        60..=3599 => plural(s / 60, "minute"),
        3600..=86399 => plural(s / 3600, "hour"),
        _ => plural(s / 86400, "day"),
    }
}

fn render(header: &[&str], rows: &[Vec<(String, Option<&str>)>]) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, (c, _)) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = {
        let mut l = String::from("+");
        for x in &w {
            l.push_str(&"-".repeat(x + 2));
            l.push('+');
        }
        l.push('\n');
        l
    };
    let mut out = line.clone();
    out.push('|');
    for (i, h) in header.iter().enumerate() {
        out.push_str(&format!(" {:<width$} |", h, width = w[i]));
    }
    out.push('\n');
    out.push_str(&line);
    for r in rows {
        out.push('|');
        for (i, (c, color)) in r.iter().enumerate() {
            let pad = " ".repeat(w[i] - c.chars().count());
            match color {
                Some(code) => out.push_str(&format!(" \x1b[{code}m{c}\x1b[0m{pad} |")),
                None => out.push_str(&format!(" {c}{pad} |")),
            }
        }
        out.push('\n');
    }
    out.push_str(&line);
    out
}

const HEADER: [&str; 6] = ["ID", "STATUS", "EXECS", "MEMORY", "CPU%", "CREATED"];
/// RoadRunner's header, for process workers (listed by OS pid).
const PID_HEADER: [&str; 6] = ["PID", "STATUS", "EXECS", "MEMORY", "CPU%", "CREATED"];

fn table(v: &Value, color: bool) -> String {
    let mut ws: Vec<&Value> = v["workers"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    ws.sort_by_key(|w| w["pid"].as_i64().unwrap_or(0));
    let rows: Vec<Vec<(String, Option<&str>)>> = ws
        .iter()
        .map(|w| {
            let status = w["statusStr"].as_str().unwrap_or("undefined").to_string();
            let c = if !color {
                None
            } else {
                Some(match status.as_str() {
                    "ready" => "36",
                    "working" => "32",
                    "inactive" | "invalid" => "33",
                    _ => "31",
                })
            };
            vec![
                (w["pid"].as_i64().unwrap_or(0).to_string(), None),
                (status, c),
                (thousands(w["numExecs"].as_u64().unwrap_or(0)), None),
                (si_bytes(w["memoryUsage"].as_u64().unwrap_or(0)), None),
                (
                    format!("{:.2}", w["CPUPercent"].as_f64().unwrap_or(0.0)),
                    None,
                ),
                (ago(w["created"].as_i64().unwrap_or(0)), None),
            ]
        })
        .collect();
    if ws.iter().any(|w| w["process"] == true) {
        render(&PID_HEADER, &rows)
    } else {
        render(&HEADER, &rows)
    }
}

fn error_table(e: &str) -> String {
    render(
        &HEADER,
        &[vec![
            ("0".into(), None),
            (e.to_string(), None),
            ("ERROR".into(), None),
            ("ERROR".into(), None),
            ("ERROR".into(), None),
            ("ERROR".into(), None),
        ]],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(si_bytes(79_000_000), "79 MB");
        assert_eq!(si_bytes(7_900_000), "7.9 MB");
        assert_eq!(si_bytes(5), "5 B");
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_723), (2024, 1, 1));
    }

    #[test]
    fn table_lists_workers_by_id() {
        let v = json!({"workers":[
            {"pid":1,"statusStr":"working","numExecs":1500,"memoryUsage":2_000_000,"CPUPercent":1.5,"created":0},
            {"pid":0,"statusStr":"ready","numExecs":3,"memoryUsage":0,"CPUPercent":0.0,"created":0},
        ]});
        let t = table(&v, false);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[1].contains("ID") && lines[1].contains("CPU%"), "{t}");
        assert!(
            lines[3].starts_with("| 0 ") && lines[3].contains("ready"),
            "{t}"
        );
        assert!(
            lines[4].contains("1,500") && lines[4].contains("2.0 MB") && lines[4].contains("1.50"),
            "{t}"
        );
    }
}
