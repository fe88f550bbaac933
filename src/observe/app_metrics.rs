//! RoadRunner's `metrics` plugin for the application: collectors declared in
//! `.rr.yaml` (`metrics.collect`) or over RPC (`metrics.Declare`), updated
//! over RPC (`metrics.Add`, `Sub`, `Observe`, `Set`, `Unregister`) by
//! `Spiral\RoadRunner\Metrics\Metrics` (the built-in PHP library's, or
//! roadrunner-php/metrics), and exported on the `metrics.address` endpoint
//! next to the server's own.
//!
//! Semantics follow roadrunner-server/metrics: a collector with labels is a
//! vector (every update names its label values, in order), declaring a name
//! that exists is accepted and changes nothing, counters only go up,
//! `Sub`/`Set` are for gauges and `Observe` for histograms and summaries.
//! Sample names are the ones RoadRunner exports (namespace_subsystem_name).
//! The endpoint speaks OpenMetrics, where a counter's samples end in
//! `_total`: a counter whose name already ends so is a counter family, any
//! other counter is exported with type `unknown` so that its sample keeps
//! RoadRunner's name and existing queries still match.

use parking_lot::Mutex;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write;
use std::sync::OnceLock;

/// Prometheus' default histogram buckets (client_golang's DefBuckets).
const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Observations a summary keeps to compute its quantiles.
const SUMMARY_WINDOW: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram(Vec<f64>),
    /// (quantile, allowed error) pairs.
    Summary(Vec<(f64, f64)>),
}

/// A collector as declared.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub namespace: String,
    pub subsystem: String,
    pub kind: Kind,
    pub help: String,
    pub labels: Vec<String>,
}

#[derive(Debug)]
enum Series {
    Value(f64),
    Histogram {
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
    Summary {
        window: VecDeque<f64>,
        sum: f64,
        count: u64,
    },
}

#[derive(Debug)]
struct Collector {
    spec: Spec,
    series: HashMap<Vec<String>, Series>,
}

/// What the application declared; one per server.
#[derive(Debug, Default)]
pub struct AppMetrics {
    collectors: Mutex<BTreeMap<String, Collector>>,
}

static APP: OnceLock<AppMetrics> = OnceLock::new();

/// The plugin, when the `metrics` section exists (RoadRunner enables it
/// then): `collect` declared up front.
pub fn install(collect: &[(String, Spec)]) -> Result<&'static AppMetrics, String> {
    let app = APP.get_or_init(AppMetrics::default);
    for (name, spec) in collect {
        app.declare(name, spec.clone())?;
    }
    Ok(app)
}

/// The plugin as the config declares it (nothing without a `metrics`
/// section). Errors are config errors naming the file and key.
pub fn install_from(cfg: &crate::config::Config) -> Result<(), String> {
    let Some(m) = &cfg.metrics else {
        return Ok(());
    };
    let mut collect = Vec::new();
    for (name, v) in &m.collect {
        let key = format!("metrics.collect.{name}");
        let spec = spec_from_json(v, &key)
            .map_err(|e| format!("config error in {}: {e}", cfg.file.display()))?;
        collect.push((name.clone(), spec));
    }
    install(&collect).map(|_| ()).map_err(|e| {
        format!(
            "config error in {}: metrics.collect: {e}",
            cfg.file.display()
        )
    })
}

/// The plugin, if it is enabled.
pub fn get() -> Option<&'static AppMetrics> {
    APP.get()
}

fn valid_name(n: &str, colon: bool) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

/// A collector from its JSON form (RPC `Declare`'s `collector`, the PHP
/// library's `Collector::toArray()`); `key` names it in errors.
pub fn spec_from_json(v: &Value, key: &str) -> Result<Spec, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{key}: expected an object"))?;
    let text = |k: &str| -> Result<String, String> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(format!("{key}.{k}: expected a string, got {other}")),
        }
    };
    let list = |k: &str| -> Result<Vec<Value>, String> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(other) => Err(format!("{key}.{k}: expected a list, got {other}")),
        }
    };
    let labels = list("labels")?
        .iter()
        .map(|l| {
            l.as_str()
                .map(String::from)
                .ok_or_else(|| format!("{key}.labels: expected strings, got {l}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let buckets = list("buckets")?
        .iter()
        .map(|b| {
            b.as_f64()
                .ok_or_else(|| format!("{key}.buckets: expected numbers, got {b}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let objectives = match obj.get("objectives") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(q, e)| {
                let q: f64 = q
                    .parse()
                    .map_err(|_| format!("{key}.objectives: {q:?} is not a quantile"))?;
                let e = e
                    .as_f64()
                    .ok_or_else(|| format!("{key}.objectives.{q}: expected a number"))?;
                Ok((q, e))
            })
            .collect::<Result<Vec<_>, String>>()?,
        Some(other) => return Err(format!("{key}.objectives: expected a mapping, got {other}")),
    };
    let kind = match text("type")?.as_str() {
        "counter" => Kind::Counter,
        "gauge" => Kind::Gauge,
        "histogram" => Kind::Histogram(buckets),
        "summary" => Kind::Summary(objectives),
        other => {
            return Err(format!(
                "{key}.type: unknown collector type {other:?} (counter, gauge, histogram, summary)"
            ))
        }
    };
    Ok(Spec {
        namespace: text("namespace")?,
        subsystem: text("subsystem")?,
        kind,
        help: text("help")?,
        labels,
    })
}

/// One update over RPC: `{name, value, labels}`.
pub struct Update {
    pub name: String,
    pub value: f64,
    pub labels: Vec<String>,
}

pub fn update_from_json(v: &Value) -> Result<Update, String> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or("expected {name, value, labels}")?
        .to_string();
    let value = match v.get("value") {
        None | Some(Value::Null) => 0.0,
        Some(x) => x
            .as_f64()
            .ok_or_else(|| format!("{name}: value must be a number"))?,
    };
    let labels = match v.get("labels") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|l| match l {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(_) => return Err(format!("{name}: labels must be a list of values")),
    };
    Ok(Update {
        name,
        value,
        labels,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Add,
    Sub,
    Set,
    Observe,
}

impl AppMetrics {
    /// Declare a collector; an existing name is left as it is.
    pub fn declare(&self, name: &str, mut spec: Spec) -> Result<(), String> {
        if !valid_name(name, true) {
            return Err(format!("{name:?} is not a valid metric name"));
        }
        for part in [&spec.namespace, &spec.subsystem] {
            if !part.is_empty() && !valid_name(part, true) {
                return Err(format!("{name}: {part:?} is not a valid name part"));
            }
        }
        for l in &spec.labels {
            if !valid_name(l, false) || l.starts_with("__") || l == "le" || l == "quantile" {
                return Err(format!("{name}: {l:?} is not a valid label name"));
            }
        }
        if let Kind::Histogram(b) = &mut spec.kind {
            if b.is_empty() {
                *b = DEFAULT_BUCKETS.to_vec();
            }
            if b.windows(2).any(|w| w[0] >= w[1]) || b.iter().any(|x| x.is_nan()) {
                return Err(format!(
                    "{name}: histogram buckets must be in increasing order"
                ));
            }
            if b.last() == Some(&f64::INFINITY) {
                b.pop();
            }
        }
        if let Kind::Summary(o) = &spec.kind {
            if o.iter().any(|(q, _)| !(0.0..=1.0).contains(q)) {
                return Err(format!("{name}: summary quantiles must be between 0 and 1"));
            }
        }
        let mut all = self.collectors.lock();
        if all.contains_key(name) {
            tracing::warn!(
                name,
                "metrics.Declare: a metric with this name exists; kept"
            );
            return Ok(());
        }
        all.insert(
            name.to_string(),
            Collector {
                spec,
                series: HashMap::new(),
            },
        );
        Ok(())
    }

    pub fn unregister(&self, name: &str) -> Result<(), String> {
        match self.collectors.lock().remove(name) {
            Some(_) => Ok(()),
            None => Err(format!("undefined collector: {name}")),
        }
    }

    pub fn add(&self, u: &Update) -> Result<(), String> {
        self.apply(u, Op::Add)
    }
    pub fn sub(&self, u: &Update) -> Result<(), String> {
        self.apply(u, Op::Sub)
    }
    pub fn set(&self, u: &Update) -> Result<(), String> {
        self.apply(u, Op::Set)
    }
    pub fn observe(&self, u: &Update) -> Result<(), String> {
        self.apply(u, Op::Observe)
    }

    fn apply(&self, u: &Update, op: Op) -> Result<(), String> {
        let mut all = self.collectors.lock();
        let c = all
            .get_mut(&u.name)
            .ok_or_else(|| format!("undefined collector: {}", u.name))?;
        let unsupported = || {
            let what = match op {
                Op::Add => "Add",
                Op::Sub => "Sub",
                Op::Set => "Set",
                Op::Observe => "Observe",
            };
            format!(
                "collector does not support the requested operation: {} does not support {what}",
                u.name
            )
        };
        match (&c.spec.kind, op) {
            (Kind::Counter, Op::Add) | (Kind::Gauge, Op::Add | Op::Sub | Op::Set) => {}
            (Kind::Histogram(_) | Kind::Summary(_), Op::Observe) => {}
            _ => return Err(unsupported()),
        }
        if c.spec.kind == Kind::Counter && u.value < 0.0 {
            return Err(format!("counter cannot decrease in value: {}", u.name));
        }
        // A vector needs its label values; a plain collector ignores any.
        let key = if c.spec.labels.is_empty() {
            Vec::new()
        } else if u.labels.is_empty() {
            return Err(format!("required labels for collector: {}", u.name));
        } else if u.labels.len() != c.spec.labels.len() {
            return Err(format!(
                "inconsistent label cardinality: expected {} label values but got {} in {:?}",
                c.spec.labels.len(),
                u.labels.len(),
                u.labels
            ));
        } else {
            u.labels.clone()
        };
        let kind = c.spec.kind.clone();
        let s = c.series.entry(key).or_insert_with(|| match &kind {
            Kind::Histogram(b) => Series::Histogram {
                counts: vec![0; b.len()],
                sum: 0.0,
                count: 0,
            },
            Kind::Summary(_) => Series::Summary {
                window: VecDeque::new(),
                sum: 0.0,
                count: 0,
            },
            _ => Series::Value(0.0),
        });
        match (s, op) {
            (Series::Value(v), Op::Add) => *v += u.value,
            (Series::Value(v), Op::Sub) => *v -= u.value,
            (Series::Value(v), Op::Set) => *v = u.value,
            (Series::Histogram { counts, sum, count }, Op::Observe) => {
                if let Kind::Histogram(b) = &kind {
                    for (i, le) in b.iter().enumerate() {
                        if u.value <= *le {
                            counts[i] += 1;
                        }
                    }
                }
                *sum += u.value;
                *count += 1;
            }
            (Series::Summary { window, sum, count }, Op::Observe) => {
                if window.len() == SUMMARY_WINDOW {
                    window.pop_front();
                }
                window.push_back(u.value);
                *sum += u.value;
                *count += 1;
            }
            _ => return Err(unsupported()),
        }
        Ok(())
    }

    /// The OpenMetrics families of every collector (before the `# EOF`).
    pub fn render(&self, out: &mut String) {
        let all = self.collectors.lock();
        for (name, c) in all.iter() {
            let full: String = [&c.spec.namespace, &c.spec.subsystem, name]
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join("_");
            let (family, ty) = match &c.spec.kind {
                Kind::Counter => match full.strip_suffix("_total") {
                    Some(f) => (f.to_string(), "counter"),
                    None => (full.clone(), "unknown"),
                },
                Kind::Gauge => (full.clone(), "gauge"),
                Kind::Histogram(_) => (full.clone(), "histogram"),
                Kind::Summary(_) => (full.clone(), "summary"),
            };
            let _ = writeln!(out, "# TYPE {family} {ty}");
            if !c.spec.help.is_empty() {
                let _ = writeln!(out, "# HELP {family} {}", escape(&c.spec.help));
            }
            let mut keys: Vec<&Vec<String>> = c.series.keys().collect();
            keys.sort();
            for key in keys {
                let labels = |extra: Option<(&str, String)>| -> String {
                    let mut parts: Vec<String> = c
                        .spec
                        .labels
                        .iter()
                        .zip(key)
                        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
                        .collect();
                    if let Some((n, v)) = extra {
                        parts.push(format!("{n}=\"{v}\""));
                    }
                    if parts.is_empty() {
                        String::new()
                    } else {
                        format!("{{{}}}", parts.join(","))
                    }
                };
                match (&c.series[key], &c.spec.kind) {
                    (Series::Value(v), _) => {
                        let _ = writeln!(out, "{full}{} {}", labels(None), num(*v));
                    }
                    (Series::Histogram { counts, sum, count }, Kind::Histogram(b)) => {
                        for (le, n) in b.iter().zip(counts) {
                            let _ = writeln!(
                                out,
                                "{full}_bucket{} {n}",
                                labels(Some(("le", num(*le))))
                            );
                        }
                        let _ = writeln!(
                            out,
                            "{full}_bucket{} {count}",
                            labels(Some(("le", "+Inf".into())))
                        );
                        let _ = writeln!(out, "{full}_sum{} {}", labels(None), num(*sum));
                        let _ = writeln!(out, "{full}_count{} {count}", labels(None));
                    }
                    (Series::Summary { window, sum, count }, Kind::Summary(objectives)) => {
                        let mut sorted: Vec<f64> = window.iter().copied().collect();
                        sorted.sort_by(|a, b| a.total_cmp(b));
                        for (q, _) in objectives {
                            let v = if sorted.is_empty() {
                                f64::NAN
                            } else {
                                let i = ((sorted.len() - 1) as f64 * q).round() as usize;
                                sorted[i.min(sorted.len() - 1)]
                            };
                            let _ = writeln!(
                                out,
                                "{full}{} {}",
                                labels(Some(("quantile", num(*q)))),
                                num(v)
                            );
                        }
                        let _ = writeln!(out, "{full}_sum{} {}", labels(None), num(*sum));
                        let _ = writeln!(out, "{full}_count{} {count}", labels(None));
                    }
                    _ => {}
                }
            }
        }
    }
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upd(name: &str, value: f64, labels: &[&str]) -> Update {
        Update {
            name: name.into(),
            value,
            labels: labels.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn roadrunner_semantics_and_exposition() {
        let m = AppMetrics::default();
        let counter = spec_from_json(
            &json!({"type": "counter", "help": "Hits.", "labels": ["route"], "namespace": "app"}),
            "c",
        )
        .unwrap();
        m.declare("hits", counter.clone()).unwrap();
        m.declare("hits", counter).unwrap(); // kept, no error
        m.add(&upd("hits", 2.0, &["home"])).unwrap();
        m.add(&upd("hits", 1.0, &["home"])).unwrap();
        assert!(m
            .add(&upd("hits", -1.0, &["home"]))
            .unwrap_err()
            .contains("cannot decrease"));
        assert!(m
            .add(&upd("hits", 1.0, &[]))
            .unwrap_err()
            .contains("required labels"));
        assert!(m
            .sub(&upd("hits", 1.0, &["x"]))
            .unwrap_err()
            .contains("does not support Sub"));
        assert!(m
            .add(&upd("nope", 1.0, &[]))
            .unwrap_err()
            .contains("undefined collector"));
        m.declare(
            "temp",
            spec_from_json(&json!({"type": "gauge"}), "g").unwrap(),
        )
        .unwrap();
        m.set(&upd("temp", 5.0, &[])).unwrap();
        m.sub(&upd("temp", 1.5, &[])).unwrap();
        m.declare(
            "lat",
            spec_from_json(&json!({"type": "histogram", "buckets": [0.1, 1]}), "h").unwrap(),
        )
        .unwrap();
        m.observe(&upd("lat", 0.05, &[])).unwrap();
        m.observe(&upd("lat", 0.5, &[])).unwrap();
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains(
                "# TYPE app_hits unknown\n# HELP app_hits Hits.\napp_hits{route=\"home\"} 3\n"
            ),
            "{out}"
        );
        assert!(out.contains("temp 3.5\n"), "{out}");
        assert!(out.contains("lat_bucket{le=\"0.1\"} 1\nlat_bucket{le=\"1\"} 2\nlat_bucket{le=\"+Inf\"} 2\nlat_sum 0.55\nlat_count 2\n"), "{out}");
        m.unregister("temp").unwrap();
        assert!(m.unregister("temp").is_err());
        assert!(spec_from_json(&json!({"type": "meter"}), "x").is_err());
        assert!(m
            .declare(
                "1bad",
                spec_from_json(&json!({"type": "gauge"}), "x").unwrap()
            )
            .is_err());
    }
}
