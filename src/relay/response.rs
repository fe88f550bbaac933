//! The worker's response context (worker → server, contract.md §3.5):
//! `{"status":200,"headers":{"Name":["v"]}}`. Pure, so the fuzzers can reach it.

/// `{"status":200,"headers":{"Name":["v"]}}` → status and header pairs.
pub fn parse_response_context(ctx: &[u8]) -> Result<(u16, Vec<(String, String)>), String> {
    let v: serde_json::Value =
        serde_json::from_slice(ctx).map_err(|e| format!("response context is not JSON: {e}"))?;
    let status = v.get("status").and_then(|s| s.as_i64()).unwrap_or(200);
    if !(100..=599).contains(&status) {
        return Err(format!("unknown status code from worker: {status}"));
    }
    let mut headers = Vec::new();
    if let Some(h) = v.get("headers").and_then(|h| h.as_object()) {
        for (k, vals) in h {
            match vals {
                serde_json::Value::Array(a) => {
                    for x in a {
                        if let Some(s) = value_str(x) {
                            headers.push((k.clone(), s));
                        }
                    }
                }
                other => {
                    if let Some(s) = value_str(other) {
                        headers.push((k.clone(), s));
                    }
                }
            }
        }
    }
    Ok((status as u16, headers))
}

fn value_str(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
