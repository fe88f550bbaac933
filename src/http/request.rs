//! Turning an HTTP request into what RoadRunner hands a PHP worker
//! (contract.md §3.2–3.3): Go-canonical header names without Host, an
//! absolute uri, unescaped cookies, and url-encoded forms parsed into
//! RoadRunner's data tree.

use serde_json::{Map, Value};

/// Go's `textproto.CanonicalMIMEHeaderKey`: `content-type` → `Content-Type`.
/// Names with bytes outside the token set are returned unchanged.
pub fn canonical_header(name: &str) -> String {
    let valid = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if upper {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c.to_ascii_lowercase());
        }
        upper = c == '-';
    }
    out
}

/// Go's `url.QueryUnescape`: `+` → space, `%XX` decoded; None if malformed.
pub fn query_unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = b.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(h).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Cookies from the Cookie header values, as Go's `r.Cookies()` then RR:
/// values unquoted and query-unescaped (invalid escapes dropped), sorted by
/// name, last duplicate wins.
pub fn parse_cookies<'a>(headers: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    let mut map = std::collections::BTreeMap::new();
    for h in headers {
        for part in h.split(';') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let name = name.trim();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
            {
                continue;
            }
            let mut value = value.trim();
            if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
                value = &value[1..value.len() - 1];
            }
            if let Some(v) = query_unescape(value) {
                map.insert(name.to_string(), v);
            }
        }
    }
    map.into_iter().collect()
}

/// RoadRunner's `fetchIndexes` (http plugin v5.3, RoadRunner 2025.1): `a[b][c]`
/// → `["a","b","c"]`; text after a `]` starts one more key (`a[b]c` →
/// `["a","b","c"]`); `[]` is an empty key (`a[]` → `["a",""]`); spaces are
/// ignored.
pub fn fetch_indexes(s: &str) -> Vec<String> {
    // Where the last character left us: in a key, just after `[`, or just
    // after `]`.
    #[derive(PartialEq)]
    enum Pos {
        Key,
        Open,
        Close,
    }
    let mut keys: Vec<String> = vec![String::new()];
    let mut pos = Pos::Key;
    for c in s.chars() {
        match c {
            ' ' => continue,
            '[' => pos = Pos::Open,
            ']' => {
                if pos == Pos::Open {
                    keys.push(String::new());
                }
                pos = Pos::Close;
            }
            _ => {
                if pos != Pos::Key {
                    keys.push(String::new());
                }
                keys.last_mut().expect("never empty").push(c);
                pos = Pos::Key;
            }
        }
    }
    keys
}

/// Maximum nesting RoadRunner accepts in form names.
const MAX_LEVEL: usize = 127;

/// Build RoadRunner's data tree from url-encoded pairs.
pub fn form_tree(pairs: &[(String, String)]) -> Result<Value, String> {
    // Group values by key, in first-appearance order (Go's url.Values).
    // Indexed: a linear search made a body of many distinct keys quadratic
    // (200 000 keys, about 2 MB, kept a runtime thread busy for minutes).
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (k, v) in pairs {
        match index.get(k.as_str()) {
            Some(&i) => grouped[i].1.push(v.clone()),
            None => {
                index.insert(k, grouped.len());
                grouped.push((k.clone(), vec![v.clone()]));
            }
        }
    }
    let mut root = Map::new();
    for (k, vals) in grouped {
        let keys = fetch_indexes(&k);
        if keys.len() <= MAX_LEVEL {
            mount(&mut root, &keys, &vals)?;
        }
    }
    Ok(Value::Object(root))
}

/// RoadRunner's `isDataEmpty` for a value already in the tree.
fn value_empty(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty() || (a.len() == 1 && a[0].as_str() == Some("")),
        Value::Null => true,
        _ => false,
    }
}

/// RoadRunner's `mount` with its `prepareTreeNode`: a key with an empty value
/// never hides (or conflicts with) the same key holding nested data, in either
/// order; a non-empty value and nested data under one key are an error.
fn mount(d: &mut Map<String, Value>, keys: &[String], vals: &[String]) -> Result<(), String> {
    let incoming_empty = vals.is_empty() || (vals.len() == 1 && vals[0].is_empty());
    match d.get(&keys[0]) {
        None => {
            d.insert(keys[0].clone(), Value::Object(Map::new()));
        }
        Some(existing) => {
            let is_branch = existing.is_object();
            let existing_empty = value_empty(existing);
            let is_leaf = keys.len() == 1 || (keys.len() == 2 && keys[1].is_empty());
            let conflict = || Err(format!("invalid multiple values to key {:?}", keys[0]));
            if !is_branch && existing_empty && !incoming_empty {
                d.insert(keys[0].clone(), Value::Object(Map::new()));
            } else if !is_branch && !existing_empty && keys.len() > 1 && !keys[1].is_empty() {
                return conflict();
            } else if !is_branch && !existing_empty && incoming_empty {
                return Ok(());
            } else if is_branch && is_leaf {
                return if incoming_empty { Ok(()) } else { conflict() };
            }
        }
    }
    if keys.len() == 2 && keys[1].is_empty() {
        d.insert(
            keys[0].clone(),
            Value::Array(vals.iter().cloned().map(Value::String).collect()),
        );
        return Ok(());
    }
    if keys.len() == 1 {
        let leaf = match vals.last() {
            Some(v) => Value::String(v.clone()),
            None => Value::Array(Vec::new()),
        };
        d.insert(keys[0].clone(), leaf);
        return Ok(());
    }
    let entry = d.get_mut(&keys[0]).expect("inserted above");
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(m) => mount(m, &keys[1..], vals),
        _ => unreachable!(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names() {
        assert_eq!(canonical_header("content-type"), "Content-Type");
        assert_eq!(canonical_header("x-forwarded-for"), "X-Forwarded-For");
        assert_eq!(canonical_header("www-authenticate"), "Www-Authenticate");
        assert_eq!(canonical_header("AUTHORIZATION"), "Authorization");
    }

    #[test]
    fn cookies() {
        let c = parse_cookies(["s=a%20b; t=\"q\"; bad=%zz; s2=x+y", "s=last"].into_iter());
        assert_eq!(
            c,
            vec![
                ("s".to_string(), "last".to_string()),
                ("s2".to_string(), "x y".to_string()),
                ("t".to_string(), "q".to_string())
            ]
        );
    }

    #[test]
    fn tree() {
        let pairs: Vec<(String, String)> = [
            ("a", "1"),
            ("a", "2"),
            ("b[]", "x"),
            ("b[]", "y"),
            ("c[d]", "z"),
            ("e[0][f]", "g"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let t = form_tree(&pairs).unwrap();
        assert_eq!(
            t,
            serde_json::json!({"a":"2","b":["x","y"],"c":{"d":"z"},"e":{"0":{"f":"g"}}})
        );
        let bad: Vec<(String, String)> = [("a", "1"), ("a[b]", "2")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert!(form_tree(&bad).is_err());
    }

    #[test]
    fn indexes_as_roadrunner() {
        // RoadRunner's own samples (handler/parse_test.go).
        for (input, want) in [
            ("key", vec!["key"]),
            ("key[subkey]", vec!["key", "subkey"]),
            ("key[subkey]value", vec!["key", "subkey", "value"]),
            ("key[subkey][value]", vec!["key", "subkey", "value"]),
            ("key[subkey][value][]", vec!["key", "subkey", "value", ""]),
            ("key[subkey] [value][]", vec!["key", "subkey", "value", ""]),
            (
                "key [ subkey ] [ value ] [ ]",
                vec!["key", "subkey", "value", ""],
            ),
            (
                "ключь [ subkey ] [ value ] [ ]",
                vec!["ключь", "subkey", "value", ""],
            ),
            ("options[0][name]", vec!["options", "0", "name"]),
            ("", vec![""]),
            ("a[]b", vec!["a", "", "b"]),
            ("a[b]]", vec!["a", "b"]),
            ("[a]", vec!["", "a"]),
            ("a[[b]", vec!["a", "b"]),
        ] {
            assert_eq!(fetch_indexes(input), want, "{input}");
        }
    }

    #[test]
    fn empty_values_do_not_conflict() {
        let p = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let want = serde_json::json!({"o":{"0":{"n":"x"}}});
        assert_eq!(form_tree(&p(&[("o", ""), ("o[0][n]", "x")])).unwrap(), want);
        assert_eq!(form_tree(&p(&[("o[0][n]", "x"), ("o", "")])).unwrap(), want);
        assert!(form_tree(&p(&[("o[0][n]", "x"), ("o", "1")])).is_err());
    }

    #[test]
    fn many_distinct_keys_are_linear() {
        // Regression: grouping was quadratic in the number of keys.
        let pairs: Vec<(String, String)> = (0..200_000)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect();
        // No timing asserted: a quadratic grouping would keep this test
        // (and the suite) running for hours instead of milliseconds.
        let tree = form_tree(&pairs).unwrap();
        assert_eq!(tree.as_object().unwrap().len(), 200_000);
    }
}
