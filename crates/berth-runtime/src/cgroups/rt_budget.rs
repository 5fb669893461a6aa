//! The v1 real-time budget of the container's parents (`cpu.rt_runtime_us`,
//! kernel sched-rt-group.rst).
//!
//! With CONFIG_RT_GROUP_SCHED a new v1 cpu cgroup starts with a real-time runtime of 0, and a
//! child may not be given more than its parent has left ("the sum of the children's budgets
//! must not exceed the parent's", checked on every write: EINVAL). So a container asking for
//! `cpu.realtimeRuntime` below a fresh parent, berth's own `berth/` or a directory of its
//! `cgroupsPath` that its create made, fails unless that parent first gets enough budget.
//! berth raises the budget of exactly those directories, top-down, to what their children
//! (the container included) need; it never writes to a cgroup it did not make.

use std::path::{Path, PathBuf};

use super::fs::{read_file, write_file, CgroupFs, HostFs};
use super::{CgroupError, CgroupPlan};

const RUNTIME: &str = "cpu.rt_runtime_us";
const PERIOD: &str = "cpu.rt_period_us";

impl CgroupPlan {
    /// Before `runtime`/`period` (µs; `period` None keeps the leaf's) is written to the
    /// container's v1 cpu cgroup: grow the budget of each parent berth owns or made (`made`:
    /// the directories this create made; empty for `update`). Nothing to do without a v1 cpu
    /// hierarchy, without a real-time budget file, or for a runtime ≤ 0 (-1: unlimited, which
    /// the kernel refuses below a limited parent anyway, as it should).
    pub fn grant_rt_budget(
        &self,
        runtime: i64,
        period: Option<u64>,
        made: &[PathBuf],
    ) -> Result<(), CgroupError> {
        self.grant_rt_budget_with(&HostFs, runtime, period, made)
    }

    pub(super) fn grant_rt_budget_with(
        &self,
        fs: &dyn CgroupFs,
        runtime: i64,
        period: Option<u64>,
        made: &[PathBuf],
    ) -> Result<(), CgroupError> {
        let Some(h) = self.hierarchies.iter().find(|h| h.has_v1_controller("cpu")) else {
            return Ok(());
        };
        let leaf = self.dir(h);
        if runtime <= 0 || !fs.exists(&leaf.join(RUNTIME)) {
            return Ok(());
        }
        let leaf_period = match period {
            Some(p) if p > 0 => p,
            _ => read_number(fs, &leaf.join(PERIOD))?.max(1) as u64,
        };
        let components: Vec<_> = self.relative_path.components().collect();
        let mut parents = Vec::new();
        let mut dir = h.mount_point.clone();
        for (depth, c) in components[..components.len().saturating_sub(1)]
            .iter()
            .enumerate()
        {
            dir.push(c);
            if depth < self.owned_parent_depth || made.contains(&dir) {
                parents.push(dir.clone());
            }
        }
        // Top-down: each parent's own budget is bounded by its parent's.
        for parent in &parents {
            let parent_period = read_number(fs, &parent.join(PERIOD))?.max(1) as u64;
            let mut need = scale(runtime as u64, leaf_period, parent_period);
            let on_path = leaf.starts_with(parent);
            for child in fs.subdirs(parent).map_err(|source| CgroupError::Read {
                path: parent.clone(),
                source,
            })? {
                if on_path && leaf.starts_with(&child) {
                    continue; // the branch the container is in: counted as `need` above
                }
                let r = read_number(fs, &child.join(RUNTIME))?;
                if r > 0 {
                    let p = read_number(fs, &child.join(PERIOD))?.max(1) as u64;
                    need += scale(r as u64, p, parent_period);
                }
            }
            if read_number(fs, &parent.join(RUNTIME))? < need as i64 {
                write_file(fs, &parent.join(RUNTIME), &need.to_string())?;
            }
        }
        // The kernel still counts a removed sibling until every task that was in it is reaped,
        // which a listing cannot see. If the leaf cannot get its budget now, each parent gets
        // the request on top of what it has (bounded by what is really held: the kernel refuses
        // more than the grandparent has free).
        let same_period = read_number(fs, &leaf.join(PERIOD))? == leaf_period as i64;
        if same_period && write_file(fs, &leaf.join(RUNTIME), &runtime.to_string()).is_err() {
            for parent in &parents {
                let parent_period = read_number(fs, &parent.join(PERIOD))?.max(1) as u64;
                let more = scale(runtime as u64, leaf_period, parent_period) as i64;
                let current = read_number(fs, &parent.join(RUNTIME))?;
                write_file(fs, &parent.join(RUNTIME), &(current + more).to_string())?;
            }
        }
        Ok(())
    }
}

impl CgroupPlan {
    /// After the container's directory is gone: give back what [`Self::grant_rt_budget`]
    /// granted to berth's own parents (`berth/`), bottom-up, down to what their remaining
    /// children still hold, so that a budget granted once does not stay taken from the rest
    /// of the machine. Best effort: a failure leaves a larger budget, never a smaller one.
    pub(super) fn release_rt_budget_with(&self, fs: &dyn CgroupFs) {
        let Some(h) = self.hierarchies.iter().find(|h| h.has_v1_controller("cpu")) else {
            return;
        };
        let components: Vec<_> = self.relative_path.components().collect();
        let owned = self
            .owned_parent_depth
            .min(components.len().saturating_sub(1));
        for depth in (0..owned).rev() {
            let parent: PathBuf = h
                .mount_point
                .join(components[..=depth].iter().collect::<PathBuf>());
            let (Ok(current), Ok(period)) = (
                read_number(fs, &parent.join(RUNTIME)),
                read_number(fs, &parent.join(PERIOD)),
            ) else {
                continue; // gone with the container, or no real-time group scheduling
            };
            let mut held = 0;
            for child in fs.subdirs(&parent).unwrap_or_default() {
                let (Ok(r), Ok(p)) = (
                    read_number(fs, &child.join(RUNTIME)),
                    read_number(fs, &child.join(PERIOD)),
                ) else {
                    continue;
                };
                if r > 0 {
                    held += scale(r as u64, p.max(1) as u64, period.max(1) as u64);
                }
            }
            if current > held as i64 {
                // The kernel keeps counting a removed cgroup's budget until its task group is
                // freed, which waits for every task that was in it to be reaped (an unreaped
                // zombie keeps it): then this write fails (EINVAL) and the budget stays. It
                // does not grow from there: a later grant writes only when its children need
                // more than the parent already has.
                let _ = write_file(fs, &parent.join(RUNTIME), &held.to_string());
            }
        }
    }
}

/// `runtime` per `from` µs, as µs per `to`, rounded up.
fn scale(runtime: u64, from: u64, to: u64) -> u64 {
    (u128::from(runtime) * u128::from(to)).div_ceil(u128::from(from)) as u64
}

fn read_number(fs: &dyn CgroupFs, path: &Path) -> Result<i64, CgroupError> {
    let text = read_file(fs, path)?;
    text.trim().parse().map_err(|_| CgroupError::ParseNumber {
        path: path.to_path_buf(),
        value: text.trim().to_string(),
    })
}
