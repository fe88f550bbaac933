//! Helpers over the raw YAML tree: dotted paths, env expansion, and
//! RoadRunner's weak typing (a string "4" is a number, "true" a bool, a bare
//! integer duration is nanoseconds).

use serde_norway::Value;
use std::time::Duration;

pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(Value::String(key.to_string()))
}

/// Set `a.b.c` = value, creating mappings on the way.
pub fn set_path(root: &mut Value, path: &str, value: Value) {
    let mut cur = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_mapping() {
            *cur = Value::Mapping(Default::default());
        }
        let m = cur.as_mapping_mut().expect("mapping ensured above");
        let k = Value::String(p.to_string());
        if i == parts.len() - 1 {
            m.insert(k, value);
            return;
        }
        if !m.contains_key(&k) {
            m.insert(k.clone(), Value::Mapping(Default::default()));
        }
        cur = m.get_mut(&k).expect("inserted above");
    }
}

/// Lower-case every mapping key of the tree (viper does; RoadRunner's keys are
/// case-insensitive). Keys that collide after lower-casing: the later wins.
pub fn lowercase_keys(v: &mut Value) {
    match v {
        Value::Mapping(m) => {
            let old = std::mem::take(m);
            for (k, mut val) in old {
                lowercase_keys(&mut val);
                let k = match k {
                    Value::String(s) => Value::String(s.to_lowercase()),
                    other => other,
                };
                m.insert(k, val);
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(lowercase_keys),
        _ => {}
    }
}

/// Go's name for the type a YAML value decodes to (for RoadRunner's messages).
pub fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Sequence(_) => "[]interface {}",
        Value::Mapping(_) => "map[string]interface {}",
        Value::Tagged(_) => "tagged",
    }
}

/// Every key of a mapping, as strings (non-string keys are shown as YAML).
pub fn keys(v: &Value) -> Vec<String> {
    v.as_mapping()
        .map(|m| {
            m.keys()
                .map(|k| match k {
                    Value::String(s) => s.clone(),
                    other => serde_norway::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Expand `$VAR`, `${VAR}` and `${VAR:-default}` in every string of the tree.
pub fn expand_tree(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('$') => *s = expand_env(s, &|k| std::env::var(k).ok()),
        Value::Sequence(items) => items.iter_mut().for_each(expand_tree),
        Value::Mapping(m) => m.iter_mut().for_each(|(_, v)| expand_tree(v)),
        _ => {}
    }
}

pub fn expand_env(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            if b[i + 1] == b'{' {
                if let Some(end) = s[i + 2..].find('}') {
                    let inner = &s[i + 2..i + 2 + end];
                    let (name, default) = match inner.split_once(":-") {
                        Some((n, d)) => (n, Some(d)),
                        None => (inner, None),
                    };
                    let val = lookup(name).filter(|v| !v.is_empty() || default.is_none());
                    out.push_str(&val.unwrap_or_else(|| default.unwrap_or("").to_string()));
                    i += 3 + end;
                    continue;
                }
            } else if b[i + 1] == b'_' || b[i + 1].is_ascii_alphabetic() {
                let mut j = i + 1;
                while j < b.len() && (b[j] == b'_' || b[j].is_ascii_alphanumeric()) {
                    j += 1;
                }
                out.push_str(&lookup(&s[i + 1..j]).unwrap_or_default());
                i = j;
                continue;
            }
        }
        let ch = s[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(_) => "a tagged value".into(),
    }
}

pub fn as_string(v: &Value, key: &str) -> Result<String, (String, String)> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err((
            key.to_string(),
            format!("expected a string, got {}", describe(other)),
        )),
    }
}

/// A list of strings with RoadRunner's weak typing: a single string is split
/// on `,` (and each part trimmed), a scalar is a one-element list.
pub fn as_string_list(v: &Value, key: &str) -> Result<Vec<String>, (String, String)> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| as_string(x, &format!("{key}[{i}]")))
            .collect(),
        Value::String(s) => Ok(s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()),
        Value::Number(_) | Value::Bool(_) => Ok(vec![as_string(v, key)?]),
        other => Err((
            key.to_string(),
            format!("expected a list of strings, got {}", describe(other)),
        )),
    }
}

/// A whole number that may be negative.
pub fn as_i64(v: &Value, key: &str) -> Result<i64, (String, String)> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| (key.to_string(), format!("expected a whole number, got {n}"))),
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| {
            (
                key.to_string(),
                format!("expected a whole number, got {s:?}"),
            )
        }),
        other => Err((
            key.to_string(),
            format!("expected a number, got {}", describe(other)),
        )),
    }
}

pub fn as_u64(v: &Value, key: &str) -> Result<u64, (String, String)> {
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| {
            (
                key.to_string(),
                format!("expected a non-negative whole number, got {n}"),
            )
        }),
        Value::String(s) => s.trim().parse::<u64>().map_err(|_| {
            (
                key.to_string(),
                format!("expected a non-negative whole number, got {s:?}"),
            )
        }),
        other => Err((
            key.to_string(),
            format!("expected a number, got {}", describe(other)),
        )),
    }
}

pub fn as_bool(v: &Value, key: &str) -> Result<bool, (String, String)> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.trim().to_lowercase().as_str() {
            "true" | "1" | "t" => Ok(true),
            "false" | "0" | "f" | "" => Ok(false),
            _ => Err((
                key.to_string(),
                format!("expected true or false, got {s:?}"),
            )),
        },
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        other => Err((
            key.to_string(),
            format!("expected true or false, got {}", describe(other)),
        )),
    }
}

thread_local! {
    /// Bare-number durations seen by `as_duration` on this thread: (key,
    /// number). `config::load` turns them into warnings.
    static BARE_DURATIONS: std::cell::RefCell<Vec<(String, u64)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The bare-number durations read since the last call (see `as_duration`).
pub fn take_bare_durations() -> Vec<(String, u64)> {
    BARE_DURATIONS.with(|b| std::mem::take(&mut *b.borrow_mut()))
}

/// The warning for a bare-number duration: RoadRunner (Go's time.Duration)
/// reads `60` as 60 nanoseconds, and so does rustrunner; the user almost
/// always meant seconds.
pub fn bare_duration_warning(n: u64) -> String {
    format!(
        "the bare number {n} is a duration in nanoseconds for RoadRunner (Go's time.Duration), \
         and rustrunner reads it the same way ({n}ns); you probably meant \"{n}s\": write the unit"
    )
}

pub fn as_duration(v: &Value, key: &str) -> Result<Duration, (String, String)> {
    let bare = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    if let Some(n) = bare.filter(|&n| n > 0) {
        BARE_DURATIONS.with(|b| b.borrow_mut().push((key.to_string(), n)));
    }
    match v {
        // A bare integer is nanoseconds, as Go's time.Duration decodes it.
        Value::Number(n) => n.as_u64().map(Duration::from_nanos).ok_or_else(|| {
            (
                key.to_string(),
                format!("expected a duration like 60s, got {n}"),
            )
        }),
        Value::String(s) => parse_duration(s).map_err(|m| (key.to_string(), m)),
        other => Err((
            key.to_string(),
            format!("expected a duration like 60s, got {}", describe(other)),
        )),
    }
}

/// Edit distance between two short strings, in characters: insertions,
/// deletions, substitutions and swaps of two neighbours (optimal string
/// alignment), so `rcp` is one edit from `rpc`.
#[allow(clippy::needless_range_loop)] // the recurrence reads d[i-2][j-2]
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The known key closest to `key` when it is close enough to be a typo
/// (at most one edit for short keys, two from 6 characters, three from 12).
pub fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    let limit = match key.chars().count() {
        0..=5 => 1,
        6..=11 => 2,
        _ => 3,
    };
    known
        .iter()
        .map(|k| (edit_distance(&key, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// `; did you mean "x"?` when a known key is close to `key`, else "".
pub fn did_you_mean(key: &str, known: &[&str]) -> String {
    closest(key, known)
        .map(|k| format!("; did you mean {k:?}?"))
        .unwrap_or_default()
}

/// Go duration syntax: `300ms`, `1.5h`, `2h45m`, `10s`; a bare integer is ns.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("expected a duration like 60s, got an empty string".into());
    }
    if let Ok(n) = t.parse::<u64>() {
        return Ok(Duration::from_nanos(n));
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return Err(format!("{s:?} is not a duration (e.g. 300ms, 10s, 1m30s)"));
        }
        let num: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("{s:?} is not a duration"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let mult = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("{s:?}: missing unit (ns, us, ms, s, m, h)")),
            u => return Err(format!("{s:?}: unknown unit {u:?} (ns, us, ms, s, m, h)")),
        };
        total += num * mult;
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let known = ["num_workers", "max_jobs", "exec_ttl", "ttl", "http", "rpc"];
        assert_eq!(closest("num_worker", &known), Some("num_workers"));
        assert_eq!(closest("exec_tl", &known), Some("exec_ttl"));
        assert_eq!(closest("Max_Jobs", &known), Some("max_jobs"));
        assert_eq!(closest("htpp", &known), Some("http"));
        assert_eq!(closest("hxxp", &known), None, "two edits on a short key");
        assert_eq!(closest("htp", &known), Some("http"));
        assert_eq!(closest("completely_else", &known), None);
        assert_eq!(did_you_mean("rcp", &known), "; did you mean \"rpc\"?");
        assert_eq!(did_you_mean("zzz", &known), "");
    }

    #[test]
    fn bare_durations_are_recorded() {
        take_bare_durations();
        as_duration(&Value::Number(60.into()), "a.exec_ttl").unwrap();
        as_duration(&Value::String("30".into()), "a.ttl").unwrap();
        as_duration(&Value::Number(0.into()), "a.off").unwrap();
        as_duration(&Value::String("60s".into()), "a.ok").unwrap();
        assert_eq!(
            take_bare_durations(),
            vec![("a.exec_ttl".to_string(), 60), ("a.ttl".to_string(), 30)]
        );
        assert!(bare_duration_warning(60).contains("\"60s\""));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(
            parse_duration("1000000000").unwrap(),
            Duration::from_secs(1)
        );
        assert!(parse_duration("10").unwrap() < Duration::from_micros(1));
        for (input, want) in [
            ("1h", Duration::from_secs(3600)),
            ("2h45m", Duration::from_secs(9900)),
            ("1.5s", Duration::from_millis(1500)),
            ("500us", Duration::from_micros(500)),
            ("500µs", Duration::from_micros(500)),
            ("100ns", Duration::from_nanos(100)),
            ("0", Duration::ZERO),
        ] {
            assert_eq!(parse_duration(input).unwrap(), want, "{input}");
        }
        for bad in ["", "s", "1d", "5 seconds", "-"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            as_duration(&Value::Number(60.into()), "k").unwrap(),
            Duration::from_nanos(60)
        );
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("10x").is_err());
    }

    #[test]
    fn env_expansion() {
        let l = |k: &str| match k {
            "A" => Some("1".to_string()),
            "E" => Some(String::new()),
            _ => None,
        };
        assert_eq!(expand_env("x$A-${A}", &l), "x1-1");
        assert_eq!(expand_env("${B:-def}", &l), "def");
        assert_eq!(expand_env("${E:-def}", &l), "def");
        assert_eq!(expand_env("$B.", &l), ".");
        assert_eq!(expand_env("price $ 5", &l), "price $ 5");
        assert_eq!(expand_env("a${}b", &l), "ab");
        assert_eq!(expand_env("${A:-x}${B:-y}", &l), "1y");
        assert_eq!(expand_env("$1", &l), "$1");
    }
}
