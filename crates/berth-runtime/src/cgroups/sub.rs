//! `exec --cgroup`: running an exec'd process in an existing sub-cgroup of the container's cgroup
//! (runc's `--cgroup [<controller>[,<controller>...]:]<path>`, repeatable).
//!
//! - `PATH` alone (only one `--cgroup` then): the process joins `<container cgroup>/PATH` in
//!   every hierarchy; on a pure cgroup v2 host this is the only form.
//! - `CTRL[,CTRL...]:PATH`: only the v1 hierarchies of those controllers use the sub-cgroup; the
//!   others keep the container's own cgroup. A controller the container has no hierarchy for is
//!   an error (runc: "unknown controller ... in SubCgroupPaths").
//!
//! The sub-cgroup must already exist (berth does not create it) and stay inside the container's
//! cgroup: a `..` component is refused. Everything is checked before the process is forked, so a
//! bad `--cgroup` leaves nothing behind. The result is one [`CgroupPlan`] per distinct path, each
//! holding the hierarchies joined at that path, so joining reuses [`CgroupPlan::join_self`].

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::fs::{CgroupFs, HostFs};
use super::{CgroupError, CgroupPlan};

/// Parsed `--cgroup` arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubCgroups {
    /// `PATH` without a controller: every hierarchy.
    all: Option<PathBuf>,
    /// Controller name → (path, the `--cgroup` argument that named it) (v1).
    by_controller: BTreeMap<String, (PathBuf, String)>,
}

fn invalid(arg: &str, reason: impl Into<String>) -> CgroupError {
    CgroupError::InvalidSubCgroup {
        arg: arg.to_string(),
        reason: reason.into(),
    }
}

/// A sub-cgroup path relative to the container's cgroup: a leading `/` is dropped (runc joins
/// it as relative too); `..` would leave the container's cgroup and is refused.
fn relative(arg: &str, path: &str) -> Result<PathBuf, CgroupError> {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(invalid(arg, format!("{path} is not a sub-cgroup path")))
            }
        }
    }
    Ok(out)
}

impl SubCgroups {
    /// Parses runc's `--cgroup` values.
    pub fn parse(args: &[String]) -> Result<SubCgroups, CgroupError> {
        let mut subs = SubCgroups::default();
        for arg in args {
            match arg.split_once(':') {
                None => {
                    if args.len() != 1 {
                        return Err(invalid(arg, "missing <controller>: prefix"));
                    }
                    subs.all = Some(relative(arg, arg)?);
                }
                Some((_, path)) if path.contains(':') => {
                    return Err(invalid(arg, "expected [<controller>:]<path>"));
                }
                Some((controllers, path)) => {
                    let path = relative(arg, path)?;
                    for ctrl in controllers.split(',') {
                        if ctrl.is_empty() {
                            return Err(invalid(arg, "empty <controller> prefix"));
                        }
                        if subs
                            .by_controller
                            .insert(ctrl.to_string(), (path.clone(), arg.clone()))
                            .is_some()
                        {
                            return Err(invalid(
                                arg,
                                format!("controller {ctrl} specified more than once"),
                            ));
                        }
                    }
                }
            }
        }
        Ok(subs)
    }

    /// True when no `--cgroup` was given.
    pub fn is_empty(&self) -> bool {
        self.all.is_none() && self.by_controller.is_empty()
    }
}

impl CgroupPlan {
    /// The cgroups an exec'd process joins: the container's own plan without `--cgroup`, else
    /// one plan per distinct path. Fails if a controller is not one of the container's
    /// hierarchies or a sub-cgroup directory does not exist.
    pub fn for_exec(&self, subs: &SubCgroups) -> Result<Vec<CgroupPlan>, CgroupError> {
        self.for_exec_with(&HostFs, subs)
    }

    pub(super) fn for_exec_with(
        &self,
        fs: &dyn CgroupFs,
        subs: &SubCgroups,
    ) -> Result<Vec<CgroupPlan>, CgroupError> {
        if subs.is_empty() {
            return Ok(vec![self.clone()]);
        }
        for (ctrl, (_, arg)) in &subs.by_controller {
            if !self.hierarchies.iter().any(|h| h.has_v1_controller(ctrl)) {
                return Err(invalid(
                    arg,
                    format!("the container has no cgroup v1 hierarchy for controller {ctrl}"),
                ));
            }
        }
        let mut plans: Vec<CgroupPlan> = Vec::new();
        for h in &self.hierarchies {
            // cgroup2's controllers() is empty: only the `PATH` form reaches it.
            let sub = subs.all.as_ref().or_else(|| {
                h.controllers()
                    .find_map(|c| subs.by_controller.get(c))
                    .map(|(path, _)| path)
            });
            let relative_path = match sub {
                Some(sub) => self.relative_path.join(sub),
                None => self.relative_path.clone(),
            };
            let dir = h.mount_point.join(&relative_path);
            if sub.is_some() && !fs.exists(&dir) {
                return Err(CgroupError::SubCgroupMissing { path: dir });
            }
            match plans.iter_mut().find(|p| p.relative_path == relative_path) {
                Some(p) => p.hierarchies.push(h.clone()),
                None => plans.push(CgroupPlan {
                    relative_path,
                    hierarchies: vec![h.clone()],
                    ..self.clone()
                }),
            }
        }
        Ok(plans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parse_forms_and_refusals() {
        let s = SubCgroups::parse(&args(&["/a/b"])).unwrap();
        assert_eq!(s.all, Some(PathBuf::from("a/b")));
        let s = SubCgroups::parse(&args(&["pids,cpu:x", "memory:y"])).unwrap();
        assert_eq!(s.by_controller["pids"].0, PathBuf::from("x"));
        assert_eq!(s.by_controller["cpu"].0, PathBuf::from("x"));
        assert_eq!(s.by_controller["memory"].0, PathBuf::from("y"));
        assert!(SubCgroups::parse(&[]).unwrap().is_empty());
        for (a, msg) in [
            (
                &["a", "pids:b"][..],
                "--cgroup \"a\": missing <controller>: prefix",
            ),
            (
                &["a:b:c"],
                "--cgroup \"a:b:c\": expected [<controller>:]<path>",
            ),
            (&[":x"], "--cgroup \":x\": empty <controller> prefix"),
            (
                &["pids:x", "pids:y"],
                "--cgroup \"pids:y\": controller pids specified more than once",
            ),
            (
                &["../x"],
                "--cgroup \"../x\": ../x is not a sub-cgroup path",
            ),
        ] {
            assert_eq!(
                SubCgroups::parse(&args(a)).unwrap_err().to_string(),
                msg,
                "{a:?}"
            );
        }
    }
}
