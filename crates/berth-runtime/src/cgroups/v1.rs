//! cgroup v1 translations of `linux.resources` into control-file writes (kernel
//! Documentation/admin-guide/cgroup-v1/{memory,cpusets,devices,pids}.rst, sched-bwc.rst), with
//! the semantics runc gives them. `pids` and `cpuset` files are named and formatted the same on
//! v2, so those two functions serve both versions.

use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory, LinuxThrottleDevice,
};

use super::fs::CgroupFs;
use super::writes::Writes;
use super::CgroupError;

const MEMORY_LIMIT: &str = "memory.limit_in_bytes";
const MEMORY_SWAP_LIMIT: &str = "memory.memsw.limit_in_bytes";
const MEMORY_SOFT_LIMIT: &str = "memory.soft_limit_in_bytes";

/// What the v1 memory translation needs to know about the cgroup as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MemoryState {
    /// `memory.memsw.*` exists only with swap accounting enabled (`swapaccount=1`).
    pub has_memsw: bool,
    /// The current `memory.limit_in_bytes` (unlimited if unreadable or empty).
    pub current_limit: u64,
}

impl MemoryState {
    pub fn read(fs: &dyn CgroupFs, dir: &Path) -> Result<MemoryState, CgroupError> {
        let has_memsw = fs.exists(&dir.join(MEMORY_SWAP_LIMIT));
        let current_limit = fs
            .read(&dir.join(MEMORY_LIMIT))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(u64::MAX);
        Ok(MemoryState {
            has_memsw,
            current_limit,
        })
    }
}

/// memory.limit → `memory.limit_in_bytes`, memory.swap (memory+swap on v1, as in the spec) →
/// `memory.memsw.limit_in_bytes`, memory.reservation → `memory.soft_limit_in_bytes`.
/// 0 means unset; -1 means unlimited.
pub(super) fn memory(
    plan: &mut Writes,
    dir: &Path,
    limit: i64,
    reservation: i64,
    mut swap: i64,
    state: MemoryState,
) -> Result<(), CgroupError> {
    check_swap(limit, swap)?;
    // runc: unlimited memory with swap unset means unlimited memory+swap too.
    if limit == -1 && swap == 0 && state.has_memsw {
        swap = -1;
    }
    if swap != 0 && !state.has_memsw {
        // Without swap accounting there is nothing to limit; "unlimited" is already true.
        if swap != -1 {
            plan.unapplied("memory.swap");
        }
        swap = 0;
    }
    // The kernel requires limit <= memsw limit at every step, so when raising (or lifting) the
    // memory+swap limit write it first, else write the memory limit first (runc's order).
    let swap_first = limit != 0
        && swap != 0
        && (swap == -1 || u64::try_from(swap).is_ok_and(|s| state.current_limit < s));
    if swap_first {
        plan.write(dir, MEMORY_SWAP_LIMIT, swap.to_string());
    }
    if limit != 0 {
        plan.write(dir, MEMORY_LIMIT, limit.to_string());
    }
    if swap != 0 && !swap_first {
        plan.write(dir, MEMORY_SWAP_LIMIT, swap.to_string());
    }
    if reservation != 0 {
        plan.write(dir, MEMORY_SOFT_LIMIT, reservation.to_string());
    }
    Ok(())
}

/// On v1 `memory.swap` is a memory+swap limit, so it may not be below the memory limit (0 is
/// unset). Checked by [`super::ResourcesPlan::new`] before anything exists, and again here.
pub(super) fn check_swap(limit: i64, swap: i64) -> Result<(), CgroupError> {
    if limit > 0 && swap > 0 && swap < limit {
        return Err(CgroupError::InvalidResource {
            name: "memory.swap".into(),
            reason: format!("memory+swap limit {swap} is below the memory limit {limit}"),
        });
    }
    Ok(())
}

/// pids.limit → `pids.max`: 0 or more is the limit (runtime-spec 1.3), negative is `max`.
pub(super) fn pids(plan: &mut Writes, dir: &Path, limit: i64) {
    if limit >= 0 {
        plan.write(dir, "pids.max", limit.to_string());
    } else {
        plan.write(dir, "pids.max", "max");
    }
}

/// cpu.shares → `cpu.shares`, cpu.period → `cpu.cfs_period_us`, cpu.quota → `cpu.cfs_quota_us`
/// (period first, as runc does). 0 means unset.
pub(super) fn cpu(plan: &mut Writes, dir: &Path, shares: u64, quota: i64, period: u64) {
    if shares != 0 {
        plan.write(dir, "cpu.shares", shares.to_string());
    }
    if period != 0 {
        plan.write(dir, "cpu.cfs_period_us", period.to_string());
    }
    if quota != 0 {
        plan.write(dir, "cpu.cfs_quota_us", quota.to_string());
    }
}

/// cpu.cpus → `cpuset.cpus`, cpu.mems → `cpuset.mems` (v1 and v2 alike). Empty means unset.
pub(super) fn cpuset(plan: &mut Writes, dir: &Path, cpus: &str, mems: &str) {
    if !cpus.is_empty() {
        plan.write(dir, "cpuset.cpus", cpus);
    }
    if !mems.is_empty() {
        plan.write(dir, "cpuset.mems", mems);
    }
}

/// runc's default allowed devices, appended after the config's rules (runc
/// libcontainer/specconv `AllowedDevices`, minus tun/tap which runc 1.2 dropped): mknod of any
/// char or block device, /dev/null, random, full, tty, zero, urandom, /dev/pts/*, /dev/ptmx.
pub(super) const DEFAULT_ALLOWED_DEVICES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:8 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:5 rwm",
    "c 1:9 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
];

/// The device list: deny everything, then replay the config's rules in order, then allow runc's
/// defaults. Appending (not prepending) the defaults matters: configs usually start with a
/// deny-all rule, which would otherwise wipe the defaults out.
pub(super) fn devices(plan: &mut Writes, dir: &Path, rules: &[(bool, String)]) {
    plan.write(dir, "devices.deny", "a");
    for (allow, rule) in rules {
        let file = if *allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        plan.write(dir, file, rule.clone());
    }
    for rule in DEFAULT_ALLOWED_DEVICES {
        plan.write(dir, "devices.allow", *rule);
    }
}

/// Validate and format the config's device rules as `(allow, "type major:minor access")`.
pub(super) fn device_rules(
    rules: &[LinuxDeviceCgroup],
) -> Result<Vec<(bool, String)>, CgroupError> {
    rules
        .iter()
        .enumerate()
        .map(|(i, rule)| Ok((rule.allow(), device_rule(i, rule)?)))
        .collect()
}

/// The extra v1 memory knobs: swappiness, the OOM killer switch and the TCP buffer limit.
pub(super) fn memory_extras(plan: &mut Writes, fs: &dyn CgroupFs, dir: &Path, m: &LinuxMemory) {
    if let Some(s) = m.swappiness() {
        plan.write(dir, "memory.swappiness", s.to_string());
    }
    if let Some(disable) = m.disable_oom_killer() {
        plan.write(dir, "memory.oom_control", if disable { "1" } else { "0" });
    }
    if let Some(tcp) = m.kernel_tcp() {
        if fs.exists(&dir.join("memory.kmem.tcp.limit_in_bytes")) {
            plan.write(dir, "memory.kmem.tcp.limit_in_bytes", tcp.to_string());
        } else {
            plan.unapplied("memory.kernelTCP");
        }
    }
}

/// cpu burst, idle and the real-time budget, each only where the kernel has the file
/// (`cpu.cfs_burst_us` 5.14+, `cpu.idle` 5.15+, `cpu.rt_*` with CONFIG_RT_GROUP_SCHED).
pub(super) fn cpu_extras(plan: &mut Writes, fs: &dyn CgroupFs, dir: &Path, c: &LinuxCpu) {
    let mut optional = |spec: &str, file: &str, value: Option<String>| {
        if let Some(value) = value {
            if fs.exists(&dir.join(file)) {
                plan.write(dir, file, value);
            } else {
                plan.unapplied(spec);
            }
        }
    };
    optional(
        "cpu.burst",
        "cpu.cfs_burst_us",
        c.burst().map(|b| b.to_string()),
    );
    optional("cpu.idle", "cpu.idle", c.idle().map(|b| b.to_string()));
    // The period first: the kernel checks runtime <= period.
    optional(
        "cpu.realtimePeriod",
        "cpu.rt_period_us",
        c.realtime_period().map(|b| b.to_string()),
    );
    optional(
        "cpu.realtimeRuntime",
        "cpu.rt_runtime_us",
        c.realtime_runtime().map(|b| b.to_string()),
    );
}

/// The four throttle lists with their spec names.
pub(super) fn throttles(b: &LinuxBlockIo) -> [(&'static str, &[LinuxThrottleDevice]); 4] {
    [
        (
            "throttleReadBpsDevice",
            b.throttle_read_bps_device().as_deref().unwrap_or(&[]),
        ),
        (
            "throttleWriteBpsDevice",
            b.throttle_write_bps_device().as_deref().unwrap_or(&[]),
        ),
        (
            "throttleReadIOPSDevice",
            b.throttle_read_iops_device().as_deref().unwrap_or(&[]),
        ),
        (
            "throttleWriteIOPSDevice",
            b.throttle_write_iops_device().as_deref().unwrap_or(&[]),
        ),
    ]
}

/// blockIO → blkio: weights (`blkio.weight`, or `blkio.bfq.weight` when the kernel only has
/// BFQ), per-device weights, and the `blkio.throttle.*` rates as `major:minor value`.
pub(super) fn block_io(plan: &mut Writes, fs: &dyn CgroupFs, dir: &Path, b: &LinuxBlockIo) {
    let weight_file = if fs.exists(&dir.join("blkio.weight")) {
        Some("blkio.weight")
    } else if fs.exists(&dir.join("blkio.bfq.weight")) {
        Some("blkio.bfq.weight")
    } else {
        None
    };
    if let Some(w) = b.weight() {
        match weight_file {
            Some(file) => plan.write(dir, file, w.to_string()),
            None => plan.unapplied("blockIO.weight"),
        }
    }
    if let Some(w) = b.leaf_weight() {
        if fs.exists(&dir.join("blkio.leaf_weight")) {
            plan.write(dir, "blkio.leaf_weight", w.to_string());
        } else {
            plan.unapplied("blockIO.leafWeight");
        }
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            match weight_file {
                Some(file) => plan.write(
                    dir,
                    &format!("{file}_device"),
                    format!("{}:{} {w}", d.major(), d.minor()),
                ),
                None => plan.unapplied("blockIO.weightDevice"),
            }
        }
        if d.leaf_weight().is_some() {
            plan.unapplied("blockIO.weightDevice.leafWeight");
        }
    }
    let files = [
        "blkio.throttle.read_bps_device",
        "blkio.throttle.write_bps_device",
        "blkio.throttle.read_iops_device",
        "blkio.throttle.write_iops_device",
    ];
    for ((_, devs), file) in throttles(b).into_iter().zip(files) {
        for d in devs {
            plan.write(
                dir,
                file,
                format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            );
        }
    }
}
/// Format one rule as the kernel's `type major:minor access`, validating it.
fn device_rule(index: usize, rule: &LinuxDeviceCgroup) -> Result<String, CgroupError> {
    let invalid = |reason: String| CgroupError::InvalidResource {
        name: format!("devices[{index}]"),
        reason,
    };
    let kind = match rule.typ().unwrap_or_default() {
        LinuxDeviceType::A => "a",
        LinuxDeviceType::B => "b",
        // `u` (unbuffered character device) is a character device to the kernel.
        LinuxDeviceType::C | LinuxDeviceType::U => "c",
        LinuxDeviceType::P => {
            return Err(invalid(
                "type \"p\" (FIFO) cannot be used in a device cgroup rule".into(),
            ))
        }
    };
    let number = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    for (what, n, max) in [
        ("major", rule.major(), crate::bundle::MAX_MAJOR),
        ("minor", rule.minor(), crate::bundle::MAX_MINOR),
    ] {
        if n.is_some_and(|n| n > max as i64) {
            return Err(invalid(format!(
                "{what} {} is above {max}, the largest a device number holds",
                n.unwrap_or_default()
            )));
        }
    }
    // The spec leaves an absent access open; the kernel needs one, and "rwm" is what an
    // unqualified rule means to every runtime that fills it in.
    let access = match rule.access().as_deref() {
        None | Some("") => "rwm".to_string(),
        Some(a) => {
            // config-linux.md: "a composition of r, w and m". runc 1.1.5 drops any other
            // letter ("rwa" is applied as "rw"), and configs carrying one run under it; berth
            // does the same and says so. A rule left with no letter at all is refused: its
            // meaning cannot be guessed.
            let kept: String = "rwm".chars().filter(|c| a.contains(*c)).collect();
            if kept.is_empty() {
                return Err(invalid(format!("access {a:?} has none of r, w and m")));
            }
            if a.chars().any(|c| !matches!(c, 'r' | 'w' | 'm')) {
                crate::log_warn!(
                    "linux.resources.devices[{index}]: access {a:?}: letters other than r, w and m ignored (applied as {kept:?})"
                );
            }
            kept
        }
    };
    Ok(format!(
        "{kind} {}:{} {access}",
        number(rule.major()),
        number(rule.minor())
    ))
}

#[cfg(test)]
mod device_access_tests {
    use super::*;

    fn rule(access: &str) -> Result<String, CgroupError> {
        let r: LinuxDeviceCgroup = serde_json::from_value(serde_json::json!(
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": access}
        ))
        .unwrap();
        device_rule(0, &r)
    }

    #[test]
    fn unknown_access_letters_are_dropped_as_runc_does() {
        assert_eq!(rule("rwa").unwrap(), "c 1:3 rw");
        assert_eq!(rule("mrw").unwrap(), "c 1:3 rwm");
        assert_eq!(rule("rrw").unwrap(), "c 1:3 rw");
        assert_eq!(rule("").unwrap(), "c 1:3 rwm");
        let e = rule("a").unwrap_err().to_string();
        assert!(e.contains("access \"a\" has none of r, w and m"), "{e}");
    }
}
