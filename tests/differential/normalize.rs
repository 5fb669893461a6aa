//! Normalization of what a client observes, so that only behaviour counts: container ids,
//! bundle and state-root paths, pids, timestamps, inode and peer-group numbers and tempfile
//! names become placeholders; namespaces become "host" / "new" / "<label>" (shared with a
//! named process, e.g. a pod sandbox); lists keyed by something stable become maps so a
//! difference names the entry (`mounts./dev/shm.options`).

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Run-specific strings and namespace references of one run of one case.
pub struct Ctx {
    /// (text, placeholder), longest first: the id, the bundle, the state root, the prefix.
    pub subst: Vec<(String, String)>,
    /// Namespace inodes by type, with the label to show: the host's (`host`) and, for pod
    /// cases, the sandbox's.
    pub ns_labels: Vec<(String, BTreeMap<String, u64>)>,
}

impl Ctx {
    pub fn new(id: &str, bundle: &str, root: &str, prefix: &str) -> Self {
        let mut subst = vec![
            (bundle.to_string(), "{bundle}".to_string()),
            (root.to_string(), "{root}".to_string()),
            (id.to_string(), "{id}".to_string()),
            (prefix.to_string(), "{prefix}".to_string()),
        ];
        subst.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        Ctx {
            subst,
            ns_labels: vec![("host".into(), ns_inodes("self"))],
        }
    }

    /// Namespaces shared with `pid` show as `label`.
    pub fn label_namespaces_of(&mut self, label: &str, pid: &str) {
        self.ns_labels.insert(0, (label.into(), ns_inodes(pid)));
    }

    /// The text with every run-specific string replaced by its placeholder, and the counters
    /// of the harness's `unique_id()` (`<name>-<pid>-<n>`, used by the conformance checks)
    /// replaced by `<n>`.
    pub fn text(&self, s: &str) -> String {
        let mut s = s.to_string();
        for (from, to) in &self.subst {
            if !from.is_empty() {
                s = s.replace(from.as_str(), to);
            }
        }
        let marker = format!("-{}-", std::process::id());
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(i) = rest.find(&marker) {
            out.push_str(&rest[..i]);
            out.push_str("-{pid}-");
            rest = &rest[i + marker.len()..];
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits > 0 {
                out.push_str("<n>");
                rest = &rest[digits..];
            }
        }
        out.push_str(rest);
        out
    }

    /// Every string inside `v` through [`Ctx::text`].
    pub fn strings(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.strings(x)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (self.text(k), self.strings(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// Namespace inodes of `/proc/<pid>/ns/*`.
pub fn ns_inodes(pid: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/ns")) else {
        return out;
    };
    for e in rd.flatten() {
        if let Ok(t) = std::fs::read_link(e.path()) {
            let t = t.to_string_lossy();
            if let Some(i) = t.find('[') {
                if let Ok(n) = t[i + 1..].trim_end_matches(']').parse() {
                    out.insert(e.file_name().to_string_lossy().into_owned(), n);
                }
            }
        }
    }
    out
}

/// `pipe:[123]` → `pipe`, `/tmp/.tmpXY (deleted)` → `<tempfile>`.
fn fd_target(ctx: &Ctx, t: &str) -> String {
    if let Some(i) = t.find(":[") {
        return t[..i].to_string();
    }
    let t = ctx.text(t);
    if t.starts_with("/tmp/") {
        return "<tempfile>".into();
    }
    t
}

/// Without `cgroupsPath` each runtime picks its own parent (runc: the path relative to the
/// caller's cgroup in each hierarchy, berth: `/berth`); that choice is the runtime's name, not
/// behaviour, so a cgroup path ending in the container id becomes `<default>/{id}`. Paths under
/// a fixture's `{prefix}` are compared as they are.
fn cgroup_path(v: &Value) -> Value {
    match v.as_str() {
        Some(p) if p.ends_with("/{id}") && !p.contains("{prefix}") => json!("<default>/{id}"),
        _ => v.clone(),
    }
}

/// The probe's report, normalized.
pub fn probe(ctx: &Ctx, r: &Value) -> Value {
    let mut r = ctx.strings(r);
    let Some(o) = r.as_object_mut() else {
        return r;
    };
    o.remove("clocks");
    for k in ["pid", "ppid"] {
        if o.get(k).and_then(Value::as_i64).is_some_and(|p| p > 1) {
            o.insert(k.into(), json!("<pid>"));
        }
    }
    if let Some(Value::Object(ns)) = o.get_mut("namespaces") {
        for (ty, v) in ns.iter_mut() {
            if let Some(ino) = v.as_u64() {
                let label = ctx
                    .ns_labels
                    .iter()
                    .find(|(_, m)| m.get(ty) == Some(&ino))
                    .map(|(l, _)| l.as_str())
                    .unwrap_or("new");
                *v = json!(label);
            }
        }
    }
    if let Some(Value::Object(caps)) = o.get_mut("capabilities") {
        for v in caps.values_mut() {
            if let Some(names) = v.get("names").cloned() {
                *v = names;
            }
        }
    }
    if let Some(Value::Array(ms)) = o.remove("mounts") {
        let mut map = Map::new();
        let mut order = Vec::new();
        for m in &ms {
            let mp = m["mount_point"].as_str().unwrap_or("?").to_string();
            let mut key = mp.clone();
            let mut n = 2;
            while map.contains_key(&key) {
                key = format!("{mp} #{n}");
                n += 1;
            }
            order.push(json!(key));
            let optional: Vec<Value> = m["optional"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(|s| json!(s.split(':').next().unwrap_or(s)))
                        .collect()
                })
                .unwrap_or_default();
            map.insert(
                key,
                json!({
                    "fstype": m["fstype"],
                    "source": m["source"],
                    "root": if m["fstype"].as_str().is_some_and(|t| t.starts_with("cgroup")) {
                        cgroup_path(&m["root"])
                    } else {
                        m["root"].clone()
                    },
                    "options": sorted(&m["options"]),
                    "super_options": sorted(&m["super_options"]),
                    "propagation": m["propagation"],
                    "optional": optional,
                }),
            );
        }
        o.insert("mounts".into(), Value::Object(map));
        o.insert("mount_order".into(), Value::Array(order));
    }
    if let Some(Value::Array(cg)) = o.remove("cgroup") {
        let map: Map<String, Value> = cg
            .iter()
            .map(|l| {
                let ctrls = l["controllers"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .or_else(|| l["controllers"].as_str().map(str::to_string))
                    .unwrap_or_default();
                let key = format!("{}:{ctrls}", l["hierarchy"]);
                (key, cgroup_path(&l["path"]))
            })
            .collect();
        o.insert("cgroup".into(), Value::Object(map));
    }
    if let Some(Value::Object(fds)) = o.get_mut("fds") {
        for v in fds.values_mut() {
            if let Some(t) = v.as_str() {
                *v = json!(fd_target(ctx, t));
            }
        }
    }
    r
}

/// `state` JSON, normalized: pid, created and paths become placeholders.
pub fn state(ctx: &Ctx, st: &Value) -> Value {
    let mut st = ctx.strings(st);
    if let Some(o) = st.as_object_mut() {
        if o.get("pid").and_then(Value::as_i64).is_some_and(|p| p > 0) {
            o.insert("pid".into(), json!("<pid>"));
        }
        if o.contains_key("created") {
            o.insert("created".into(), json!("<time>"));
        }
    }
    st
}

/// `list --format json`: each entry as `state`, keyed by id.
pub fn list(ctx: &Ctx, v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Object(
            a.iter()
                .map(|e| {
                    let e = state(ctx, e);
                    (e["id"].as_str().unwrap_or("?").to_string(), e)
                })
                .collect(),
        ),
        other => ctx.strings(other),
    }
}

fn sorted(v: &Value) -> Value {
    let mut a: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    a.sort();
    json!(a)
}

/// Lines of a runtime's stderr that are the runtime's own (logrus lines of runc, `berth:` lines
/// of berth) are dropped: what remains reached stderr from the container process.
pub fn container_stderr(ctx: &Ctx, s: &str) -> String {
    s.lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("time=\"")
                || t.starts_with("berth:")
                || t.starts_with("berth ")
                || t.starts_with("ERRO[")
                || t.starts_with("WARN[")
                || t.starts_with("INFO["))
        })
        .map(|l| ctx.text(l))
        .collect::<Vec<_>>()
        .join("\n")
}
