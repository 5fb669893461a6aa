//! Differences between two observations, and the allow-list (tests/differential/allowed.txt).
//!
//! A difference key is `<case>:<aspect>` plus, inside JSON values, a dotted path
//! (`probe/default:run.mounts./dev/shm.options`). Allow-list lines:
//!
//! ```text
//! allow <key pattern>  <reason>      # the difference is expected; `*` matches any text
//! fixed <key pattern>  <what fixed it, and the test that shows it>
//! ```
//!
//! Every difference must match an `allow` line; an `allow` line that matches nothing is stale;
//! a difference matching a `fixed` line is a regression.

use crate::observe::Obs;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Difference {
    pub key: String,
    pub runc: String,
    pub berth: String,
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "<absent>".into(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 300 {
                format!("{}...", s.chars().take(300).collect::<String>())
            } else {
                s
            }
        }
    }
}

/// The differences between runc's and berth's observation of case `case`.
pub fn differences(case: &str, runc: &Obs, berth: &Obs) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut keys: Vec<&String> = runc.keys().chain(berth.keys()).collect();
    keys.sort();
    keys.dedup();
    // When one runtime refused what the other ran, the refusal is the difference: the
    // observations that only the accepting side could make are not listed one by one.
    let differs = |k: &str| runc.get(k) != berth.get(k);
    let gate_all = ["create.accepted", "sandbox.accepted"]
        .iter()
        .any(|k| differs(k));
    let gated: Vec<String> = keys
        .iter()
        .filter(|k| k.ends_with(".exit") && differs(k))
        .filter(|k| {
            runc.get(k.as_str()) == Some(&0.into()) || berth.get(k.as_str()) == Some(&0.into())
        })
        .map(|k| k.trim_end_matches("exit").to_string())
        .collect();
    for k in keys {
        if k == "leftovers" {
            continue;
        }
        if gate_all && !k.ends_with(".accepted") {
            continue;
        }
        if gated
            .iter()
            .any(|g| k.starts_with(g.as_str()) && !k.ends_with(".exit"))
        {
            continue;
        }
        diff_value(&format!("{case}:{k}"), runc.get(k), berth.get(k), &mut out);
    }
    // Leftovers are a problem on either side, even when both leave the same thing.
    for (side, obs) in [("runc", runc), ("berth", berth)] {
        if let Some(l) = obs.get("leftovers") {
            out.push(Difference {
                key: format!("{case}:leftovers.{side}"),
                runc: if side == "runc" {
                    show(Some(l))
                } else {
                    "-".into()
                },
                berth: if side == "berth" {
                    show(Some(l))
                } else {
                    "-".into()
                },
            });
        }
    }
    out
}

fn diff_value(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<Difference>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                diff_value(&format!("{path}.{k}"), x.get(k), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y)))
            if x.iter().chain(y).all(Value::is_string) =>
        {
            let only = |p: &Vec<Value>, q: &Vec<Value>| -> Vec<String> {
                p.iter()
                    .filter(|v| !q.contains(v))
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .collect()
            };
            let (ox, oy) = (only(x, y), only(y, x));
            if ox.is_empty() && oy.is_empty() {
                out.push(Difference {
                    key: format!("{path}[order]"),
                    runc: show(a),
                    berth: show(b),
                });
            } else {
                out.push(Difference {
                    key: path.to_string(),
                    runc: format!("only runc: {ox:?}"),
                    berth: format!("only berth: {oy:?}"),
                });
            }
        }
        _ => out.push(Difference {
            key: path.to_string(),
            runc: show(a),
            berth: show(b),
        }),
    }
}

#[derive(Debug)]
pub struct Entry {
    pub fixed: bool,
    pub pattern: String,
    pub reason: String,
    pub line: usize,
}

/// Parse the allow-list text.
pub fn parse_allow_list(text: &str) -> Result<Vec<Entry>, String> {
    let mut v = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let mut parts = l.splitn(3, char::is_whitespace);
        let verb = parts.next().unwrap_or_default();
        let pattern = parts.next().unwrap_or_default().to_string();
        let reason = parts.next().unwrap_or_default().trim().to_string();
        let fixed = match verb {
            "allow" => false,
            "fixed" => true,
            _ => {
                return Err(format!(
                    "line {}: starts with {verb:?}, not allow/fixed",
                    i + 1
                ))
            }
        };
        if pattern.is_empty() || reason.is_empty() {
            return Err(format!("line {}: needs a key pattern and a reason", i + 1));
        }
        v.push(Entry {
            fixed,
            pattern,
            reason,
            line: i + 1,
        });
    }
    Ok(v)
}

/// `*` matches any run of characters (including none); everything else literally.
pub fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_stars_anywhere() {
        assert!(glob("a*c", "abc"));
        assert!(glob("a*c", "ac"));
        assert!(glob("*:run.x", "probe/y:run.x"));
        assert!(glob("life/*/kill:*", "life/created/kill:after.state"));
        assert!(!glob("a*c", "abd"));
        assert!(!glob("abc", "abcd"));
        assert!(!glob("a*b*c", "acb"));
    }
}
