//! `rr workers` and `rr reset`: RPC clients of a running server.

use super::client::Client;
use crate::config::Config;
use comfy_table::{presets::ASCII_FULL_CONDENSED, Cell, Color, Table, TableComponent};
use humansize::{format_size, DECIMAL};
use num_format::{Locale, ToFormattedString};
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
    chrono::Utc::now().format("%Y/%m/%d %H:%M:%S").to_string()
}

/// go-humanize's `Comma` (`1,234,567`), as RoadRunner shows EXECS.
fn count(n: u64) -> String {
    n.to_formatted_string(&Locale::en)
}

/// go-humanize's `Bytes`: SI units, one decimal at most (`79 MB`, `7.9 MB`).
fn bytes(n: u64) -> String {
    format_size(n, DECIMAL.decimal_places(1).decimal_zeroes(0))
}

/// go-humanize's `RelTime(created, now, "ago", "")`: `now`, `5 seconds ago`,
/// `2 weeks ago`; a clock that went backwards reads as `now`.
fn age(created_ns: i64, now_ns: i64) -> String {
    let ns = u64::try_from(now_ns.saturating_sub(created_ns)).unwrap_or(0);
    timeago::Formatter::new().convert(Duration::from_nanos(ns))
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// An ASCII table in tablewriter's look, which RoadRunner prints: `+---+`
/// rules above and below the header and at the end, none between rows.
/// Colours only when asked (a terminal), so piped output parses plainly.
fn render(header: &[&str], rows: Vec<Vec<Cell>>, color: bool) -> String {
    let mut t = Table::new();
    t.load_preset(ASCII_FULL_CONDENSED)
        .set_style(TableComponent::HeaderLines, '-')
        .set_style(TableComponent::MiddleHeaderIntersections, '+')
        .set_header(header.to_vec())
        .add_rows(rows);
    if color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    format!("{t}\n")
}

const HEADER: [&str; 6] = ["ID", "STATUS", "EXECS", "MEMORY", "CPU%", "CREATED"];
/// RoadRunner's header, for process workers (listed by OS pid).
const PID_HEADER: [&str; 6] = ["PID", "STATUS", "EXECS", "MEMORY", "CPU%", "CREATED"];

/// RoadRunner's status colours (fatih/color's basic ones); anything not
/// serving or idle stands out in red.
fn status_color(status: &str) -> Color {
    match status {
        "ready" => Color::DarkCyan,
        "working" => Color::DarkGreen,
        "inactive" | "invalid" => Color::DarkYellow,
        _ => Color::DarkRed,
    }
}

fn table(v: &Value, color: bool) -> String {
    let mut ws: Vec<&Value> = v["workers"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    ws.sort_by_key(|w| w["pid"].as_i64().unwrap_or(0));
    let now = now_ns();
    let rows = ws
        .iter()
        .map(|w| {
            let status = w["statusStr"].as_str().unwrap_or("undefined");
            vec![
                Cell::new(w["pid"].as_i64().unwrap_or(0)),
                Cell::new(status).fg(status_color(status)),
                Cell::new(count(w["numExecs"].as_u64().unwrap_or(0))),
                Cell::new(bytes(w["memoryUsage"].as_u64().unwrap_or(0))),
                Cell::new(format!("{:.2}", w["CPUPercent"].as_f64().unwrap_or(0.0))),
                Cell::new(age(w["created"].as_i64().unwrap_or(0), now)),
            ]
        })
        .collect();
    if ws.iter().any(|w| w["process"] == true) {
        render(&PID_HEADER, rows, color)
    } else {
        render(&HEADER, rows, color)
    }
}

fn error_table(e: &str) -> String {
    let mut row = vec![Cell::new("0"), Cell::new(e)];
    row.extend((0..4).map(|_| Cell::new("ERROR")));
    render(&HEADER, vec![row], false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;

    #[test]
    fn formats_as_go_humanize() {
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(bytes(79_000_000), "79 MB");
        assert_eq!(bytes(7_900_000), "7.9 MB");
        assert_eq!(bytes(1_500), "1.5 kB");
        assert_eq!(bytes(5), "5 B");
        let s = stamp();
        assert!(
            s.len() == 19 && s.as_bytes()[4] == b'/' && s.as_bytes()[10] == b' ',
            "{s}"
        );
    }

    #[test]
    fn ages_read_like_relative_time() {
        let now = 1_700_000_000 * SEC;
        assert_eq!(age(now, now), "now");
        assert_eq!(age(now + 5 * SEC, now), "now", "a clock skew");
        assert_eq!(age(now - SEC, now), "1 second ago");
        assert_eq!(age(now - 59 * SEC, now), "59 seconds ago");
        assert_eq!(age(now - 150 * SEC, now), "2 minutes ago");
        assert_eq!(age(now - 3 * 3600 * SEC, now), "3 hours ago");
        assert_eq!(age(now - 14 * 86400 * SEC, now), "2 weeks ago");
    }

    #[test]
    fn table_lists_workers_by_id() {
        let v = json!({"workers":[
            {"pid":1,"statusStr":"working","numExecs":1500,"memoryUsage":2_000_000,"CPUPercent":1.5,"created":0},
            {"pid":0,"statusStr":"ready","numExecs":3,"memoryUsage":0,"CPUPercent":0.0,"created":now_ns()},
        ]});
        let t = table(&v, false);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 6, "{t}");
        assert!(
            lines[0].starts_with("+----+") && lines[2] == lines[0],
            "{t}"
        );
        assert!(
            lines[1].starts_with("| ID ") && lines[1].contains("CPU%"),
            "{t}"
        );
        assert!(
            lines[3].starts_with("| 0 ") && lines[3].contains("ready") && lines[3].contains("now"),
            "{t}"
        );
        assert!(
            lines[4].contains("1,500") && lines[4].contains("2 MB") && lines[4].contains("1.50"),
            "{t}"
        );
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{t}");
        assert!(!t.contains('\x1b'), "no colours off a terminal: {t}");
    }

    #[test]
    fn process_workers_get_the_pid_header_and_colours_on_a_terminal() {
        let v = json!({"workers":[
            {"pid":4242,"statusStr":"ready","numExecs":0,"memoryUsage":0,"CPUPercent":0.0,"created":0,"process":true},
            {"pid":4243,"statusStr":"stopped","numExecs":0,"memoryUsage":0,"CPUPercent":0.0,"created":0,"process":true},
        ]});
        let t = table(&v, true);
        assert!(t.lines().nth(1).unwrap().starts_with("| PID "), "{t}");
        let ready = t.lines().find(|l| l.contains("ready")).unwrap();
        let stopped = t.lines().find(|l| l.contains("stopped")).unwrap();
        // DarkCyan and DarkRed: fatih/color's cyan and red.
        assert!(ready.contains("\x1b[38;5;6m"), "{ready:?}");
        assert!(stopped.contains("\x1b[38;5;1m"), "{stopped:?}");
    }

    #[test]
    fn error_table_keeps_the_columns() {
        let t = error_table("plugin nope not found");
        let row = t.lines().nth(3).unwrap();
        assert!(
            row.starts_with("| 0 ") && row.contains("plugin nope not found"),
            "{t}"
        );
        assert_eq!(row.matches("ERROR").count(), 4, "{t}");
    }
}
