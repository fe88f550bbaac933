//! Parsing `.rr.yaml` text into a YAML tree, with the semantics RoadRunner's
//! loader (viper over Go's yaml.v3) gives the same text:
//!
//! - anchors and aliases are expanded, and merge keys (`<<: *base`,
//!   `<<: [*a, *b]`) are applied: the mapping's own keys win, then the first
//!   merged mapping, then the next (yaml.v3's order);
//! - a key defined twice in one mapping is an error naming the key
//!   (yaml.v3: `mapping key "x" already defined`);
//! - only the first document of a multi-document file is read (yaml.v3's
//!   `Unmarshal` reads the first and ignores the rest): the caller is told
//!   how many non-empty documents were ignored, to warn about them;
//! - scalars are resolved by the YAML 1.2 core schema (serde_norway, as
//!   serde_yaml 0.9 and yaml.v3 do for untyped values): `yes`, `no`, `on`,
//!   `off` are strings, only `true`, `True`, `TRUE` (and `false` alike)
//!   are booleans.
//!   Decoding into a bool field then goes through `value::as_bool`, which
//!   accepts what RoadRunner's weak decoding (Go's strconv.ParseBool) does.
//!
//! The tree is built by a visitor of our own instead of `Value`'s
//! `Deserialize`, only to count what it builds: aliases are expanded by
//! copying, so a small file can describe a huge tree ("billion laughs").
//! serde_norway stops after 100 alias jumps per event of the file, but a
//! single alias of a large node repeated many times stays under that and can
//! still build gigabytes; yaml.v3 rejects such a document as "excessive
//! aliasing". Here the build stops at `MAX_NODES` values or `MAX_TEXT`
//! bytes of scalars, far above any real config and far below the machine.
//! Nesting is bounded by serde_norway (128 levels), so the recursive walks
//! over the tree (merges here, lower-casing and env expansion in `value`)
//! stay shallow.

use serde::de::{self, DeserializeSeed, EnumAccess, VariantAccess, Visitor};
use serde_norway::value::{Tag, TaggedValue};
use serde_norway::{Mapping, Value};
use std::cell::Cell;
use std::fmt;

/// The most values (scalars, lists, mappings) one document may expand to.
pub const MAX_NODES: usize = 1_000_000;
/// The most bytes of scalar text one document may expand to.
pub const MAX_TEXT: usize = 64 << 20;

/// The first document of `text`, with aliases expanded and merge keys
/// applied, and the number of non-empty documents after it (ignored).
/// The error is serde_norway's message, which ends with the line and column
/// where the problem is ("... at line 3 column 5").
pub fn parse(text: &str) -> Result<(Value, usize), String> {
    let mut docs = serde_norway::Deserializer::from_str(text);
    let Some(first) = docs.next() else {
        return Ok((Value::Null, 0));
    };
    let budget = Budget::default();
    let mut v = Seed(&budget).deserialize(first).map_err(message)?;
    apply_merges(&mut v)?;
    // The documents after the first are read only to tell whether they hold
    // anything (an empty one, as from a trailing `---`, loses nothing). They
    // share the budget, so they cannot be used to blow it up either. One
    // that does not parse counts as not empty and ends the count: after a
    // syntax error serde_norway's document iterator never ends (it yields
    // the same error again and again).
    let mut ignored = 0;
    for doc in docs {
        match Seed(&budget).deserialize(doc) {
            Ok(Value::Null) => {}
            Ok(_) => ignored += 1,
            Err(_) => {
                ignored += 1;
                break;
            }
        }
    }
    Ok((v, ignored))
}

/// serde_norway's message, with the cause spelled out where its own words
/// do not say it.
fn message(e: serde_norway::Error) -> String {
    let m = e.to_string();
    if m.starts_with("repetition limit exceeded") {
        // Its guard against alias bombs: more than 100 alias expansions per
        // event of the file. It names no position.
        format!("{m}: the aliases (*name) expand to too large a document")
    } else if m.starts_with("recursion limit exceeded") {
        format!("{m}: the document nests more than 128 levels deep")
    } else {
        // A duplicate key is found by our visitor, and serde_norway adds the
        // position of the mapping it is in, not of the second key: say so.
        m.replacen(
            " is defined twice at line ",
            " is defined twice in the mapping at line ",
            1,
        )
    }
}

#[derive(Default)]
struct Budget {
    nodes: Cell<usize>,
    text: Cell<usize>,
}

impl Budget {
    fn take<E: de::Error>(&self, text: usize) -> Result<(), E> {
        let nodes = self.nodes.get() + 1;
        let text = self.text.get().saturating_add(text);
        if nodes > MAX_NODES || text > MAX_TEXT {
            return Err(E::custom(format!(
                "the document expands to more than {MAX_NODES} values or {} MiB of text \
                 (aliases are copied where they are used)",
                MAX_TEXT >> 20
            )));
        }
        self.nodes.set(nodes);
        self.text.set(text);
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Seed<'a>(&'a Budget);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        self.0.take(0)?;
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        self.0.take(0)?;
        Ok(Value::Number(i.into()))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        self.0.take(0)?;
        Ok(Value::Number(u.into()))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        self.0.take(0)?;
        Ok(Value::Number(f.into()))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.0.take(s.len())?;
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        self.0.take(s.len())?;
        Ok(Value::String(s))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.0.take(0)?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.0.take(0)?;
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            items.push(v);
        }
        Ok(Value::Sequence(items))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.0.take(0)?;
        let mut m = Mapping::new();
        while let Some(k) = map.next_key_seed(self)? {
            if m.contains_key(&k) {
                return Err(de::Error::custom(format!(
                    "mapping key {} is defined twice",
                    shown_key(&k)
                )));
            }
            let v = map.next_value_seed(self)?;
            m.insert(k, v);
        }
        Ok(Value::Mapping(m))
    }

    /// A value with a local tag (`!foo bar`), kept as a tagged value as
    /// serde_norway's own `Value` does (the config then rejects it where it
    /// expects a string or number).
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (tag, contents) = data.variant::<String>()?;
        if tag.is_empty() {
            return Err(de::Error::custom("empty YAML tag is not allowed"));
        }
        let value = contents.newtype_variant_seed(self)?;
        Ok(Value::Tagged(Box::new(TaggedValue {
            tag: Tag::new(tag),
            value,
        })))
    }
}

/// A mapping key as the user wrote it, for messages.
fn shown_key(k: &Value) -> String {
    match k {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => "(a list, mapping or tagged value)".into(),
    }
}

/// Apply the merge keys of the tree, innermost first, so that a merged
/// mapping that itself merges another arrives already merged (serde_norway's
/// `Value::apply_merge` works outermost first and leaves the inner `<<` of a
/// merged mapping as a key). yaml.v3's rules: the value of `<<` is a mapping
/// or a list of mappings; the mapping's own keys win over merged ones, and
/// in a list the earlier mapping wins. A quoted `"<<"` is a merge key here
/// but a plain key for yaml.v3: the tree no longer knows how a key was
/// quoted (no config key of RoadRunner is spelled `<<`).
fn apply_merges(v: &mut Value) -> Result<(), String> {
    match v {
        Value::Sequence(items) => items.iter_mut().try_for_each(apply_merges),
        Value::Tagged(t) => apply_merges(&mut t.value),
        Value::Mapping(m) => {
            m.values_mut().try_for_each(apply_merges)?;
            let Some(merge) = m.remove("<<") else {
                return Ok(());
            };
            let want = "the value of a merge key (<<) must be a mapping or a list of mappings";
            let sources = match merge {
                Value::Mapping(src) => vec![src],
                Value::Sequence(items) => items
                    .into_iter()
                    .map(|i| match i {
                        Value::Mapping(src) => Ok(src),
                        _ => Err(want.to_string()),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(want.to_string()),
            };
            for src in sources {
                for (k, val) in src {
                    m.entry(k).or_insert(val);
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Value {
        let (v, ignored) = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(ignored, 0, "{text}");
        v
    }

    fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
        path.split('.').fold(v, |v, k| match k.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[k],
        })
    }

    #[test]
    fn anchors_and_aliases_are_copied() {
        let v = one("base: &b\n  x: 1\n  list: &l [a, b]\nuse: *b\nagain: *l\n");
        assert_eq!(at(&v, "use.x"), &Value::from(1));
        assert_eq!(at(&v, "use.list.1"), &Value::from("b"));
        assert_eq!(at(&v, "again.0"), &Value::from("a"));
        // An alias of a scalar, as in `address: *addr`.
        let v = one("a: &addr 127.0.0.1:8080\nb: *addr\n");
        assert_eq!(at(&v, "b"), &Value::from("127.0.0.1:8080"));
    }

    #[test]
    fn merge_key_own_keys_win() {
        let v = one("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n");
        let m = at(&v, "m");
        assert_eq!(at(m, "x"), &Value::from(1));
        assert_eq!(at(m, "y"), &Value::from(3), "the mapping's own key wins");
        assert!(m.get("<<").is_none(), "{m:?}");
        // Own key written before the merge: the same result.
        let v = one("base: &b {x: 1, y: 2}\nm:\n  y: 3\n  <<: *b\n");
        assert_eq!(at(&v, "m.y"), &Value::from(3));
    }

    #[test]
    fn merge_key_list_earlier_wins() {
        let v = one("a: &a {x: a, y: a}\nb: &b {x: b, z: b}\nm:\n  <<: [*a, *b]\n  w: m\n");
        let m = at(&v, "m");
        assert_eq!(at(m, "x"), &Value::from("a"), "the first in the list wins");
        assert_eq!(at(m, "y"), &Value::from("a"));
        assert_eq!(at(m, "z"), &Value::from("b"));
        assert_eq!(at(m, "w"), &Value::from("m"));
        assert!(m.get("<<").is_none(), "{m:?}");
    }

    #[test]
    fn merge_of_a_mapping_that_merges() {
        // serde_norway's own apply_merge would leave `<<` in `top`.
        let v = one("a: &a {x: 1}\nb: &b\n  <<: *a\n  y: 2\ntop:\n  <<: *b\n  z: 3\n");
        let top = at(&v, "top");
        assert_eq!(top.as_mapping().unwrap().len(), 3, "{top:?}");
        assert_eq!(at(top, "x"), &Value::from(1));
        assert_eq!(at(top, "y"), &Value::from(2));
        // Merges inside lists and deeper mappings are applied too.
        let v = one("d: &d {n: 1}\nl:\n  - <<: *d\n    m: 2\n");
        assert_eq!(at(&v, "l.0.n"), &Value::from(1));
    }

    #[test]
    fn merge_of_a_scalar_is_an_error() {
        for text in ["a: &a 1\nm:\n  <<: *a\n", "a: &a 1\nm:\n  <<: [*a]\n"] {
            let e = parse(text).unwrap_err();
            assert!(e.contains("merge key (<<)"), "{e}");
        }
    }

    #[test]
    fn yes_on_are_strings_true_false_are_bools() {
        // YAML 1.2 core schema, as yaml.v3 decodes into interface{}.
        let v = one("a: yes\nb: on\nc: true\nd: False\ne: off\nf: y\n");
        for k in ["a", "b", "e", "f"] {
            assert!(at(&v, k).is_string(), "{k}: {:?}", at(&v, k));
        }
        assert_eq!(at(&v, "c"), &Value::Bool(true));
        assert_eq!(at(&v, "d"), &Value::Bool(false));
        // Octal and hex as YAML 1.2: 0o17 and 0x1f are numbers. A YAML 1.1
        // octal (017) stays the string "017" here, as in serde_yaml 0.9,
        // while yaml.v3 still decodes it as octal 15: a known difference,
        // pinned so that a change of crate behaviour shows up here.
        let v = one("a: 0x1f\nb: 0o17\nc: 017\n");
        assert_eq!(at(&v, "a"), &Value::from(31));
        assert_eq!(at(&v, "b"), &Value::from(15));
        assert_eq!(at(&v, "c"), &Value::from("017"));
    }

    #[test]
    fn duplicate_key_is_an_error_naming_it() {
        let e = parse("http:\n  address: a\n  pool: {}\n  address: b\n").unwrap_err();
        assert_eq!(
            e,
            "http: mapping key \"address\" is defined twice in the mapping at line 2 column 3"
        );
        // Two merge keys in one mapping are duplicates too (as in yaml.v3).
        let e = parse("a: &a {x: 1}\nm:\n  <<: *a\n  <<: *a\n").unwrap_err();
        assert!(e.contains("\"<<\""), "{e}");
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let e = parse("version: \"3\"\nhttp:\n  address: [\n").unwrap_err();
        assert!(e.contains("line 4 column 1"), "{e}");
        let e = parse("a:\n  b: 1\n c: 2\n").unwrap_err();
        assert!(e.contains("line 3 column"), "{e}");
    }

    #[test]
    fn tab_indentation_is_an_error() {
        // YAML forbids tabs for indentation (yaml.v3 too: "found character
        // that cannot start any token"); a tab after a value is only space.
        let e = parse("http:\n\taddress: x\n").unwrap_err();
        assert!(e.contains("line 2 column 1"), "{e}");
        assert!(e.contains("cannot start any token"), "{e}");
        let v = one("a: 1\t# comment\n");
        assert_eq!(at(&v, "a"), &Value::from(1));
    }

    #[test]
    fn only_the_first_document_is_read() {
        let (v, ignored) = parse("---\na: 1\n---\na: 2\n---\nb: 3\n").unwrap();
        assert_eq!(at(&v, "a"), &Value::from(1));
        assert_eq!(ignored, 2);
        // A trailing empty document is not worth a warning.
        let (_, ignored) = parse("a: 1\n---\n").unwrap();
        assert_eq!(ignored, 0);
        let (v, ignored) = parse("").unwrap();
        assert_eq!((v, ignored), (Value::Null, 0));
        // A later document that does not parse is one ignored document, and
        // the count ends (serde_norway would yield its error forever).
        let (v, ignored) = parse("a: 1\n---\nb: [\n---\nc: 1\n").unwrap();
        assert_eq!(at(&v, "a"), &Value::from(1));
        assert_eq!(ignored, 1);
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let deep = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
        let e = parse(&deep).unwrap_err();
        assert!(e.contains("recursion limit"), "{e}");
        let deep = (0..300).fold(String::new(), |s, i| format!("{s}{}k{i}:\n", " ".repeat(i)));
        let e = parse(&deep).unwrap_err();
        assert!(e.contains("128 levels"), "{e}");
    }

    /// The classic "billion laughs": nine levels of ten aliases each, 10^9
    /// strings once expanded. It must fail fast, not build them.
    #[test]
    fn billion_laughs_is_an_error() {
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..=9 {
            let p = format!("*a{}", i - 1);
            text += &format!("a{i}: &a{i} [{}]\n", vec![p; 10].join(", "));
        }
        let t = std::time::Instant::now();
        let e = parse(&text).unwrap_err();
        assert!(e.contains("too large"), "{e}");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t.elapsed()
        );
    }

    /// One alias of a large node used many times stays under serde_norway's
    /// jump limit (100 per event) but would build a huge tree: our budget
    /// stops it.
    #[test]
    fn wide_alias_expansion_is_an_error() {
        let big: Vec<String> = (0..20_000).map(|i| format!("v{i}")).collect();
        let text = format!(
            "big: &big [{}]\nuse: [{}]\n",
            big.join(", "),
            vec!["*big"; 200].join(", ")
        );
        let t = std::time::Instant::now();
        let e = parse(&text).unwrap_err();
        assert!(e.contains("more than 1000000 values"), "{e}");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t.elapsed()
        );
        // The same alias used a few times is fine.
        let text = format!("big: &big [{}]\nuse: [*big, *big]\n", big.join(", "));
        assert_eq!(one(&text)["use"][1][19_999], Value::from("v19999"));
    }

    #[test]
    fn local_tags_are_kept() {
        let v = one("a: !custom x\n");
        assert!(matches!(at(&v, "a"), Value::Tagged(_)), "{v:?}");
        // Core-schema tags are resolved: `!!str 3` is the string "3".
        let v = one("a: !!str 3\n");
        assert_eq!(at(&v, "a"), &Value::from("3"));
    }
}
