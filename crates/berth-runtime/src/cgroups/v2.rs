//! cgroup v2 translations of `linux.resources` into control-file writes (kernel
//! Documentation/admin-guide/cgroup-v2.rst), using runc's v1→v2 conversions so a config written
//! for v1 means the same on a unified host (runc docs/cgroup-v2.md).

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu};

use super::fs::CgroupFs;

use super::writes::Writes;
use super::CgroupError;

/// The v2 spelling of a v1-style number: 0 is unset (`None`), -1 is `max`.
fn num_to_str(n: i64) -> Option<String> {
    match n {
        0 => None,
        -1 => Some("max".to_string()),
        n => Some(n.to_string()),
    }
}

/// The spec's `memory.swap` is memory+swap (a v1 notion); v2's `memory.swap.max` is swap alone,
/// so it is `swap - limit` (runc `ConvertMemorySwapToCgroupV2Value`). 0 = unset, -1 = max.
pub(super) fn swap_to_v2(swap: i64, limit: i64) -> Result<i64, CgroupError> {
    let invalid = |reason: String| CgroupError::InvalidResource {
        name: "memory.swap".into(),
        reason,
    };
    // Unlimited memory with swap unset: unlimited swap too (compatibility with v1).
    if limit == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if limit == 0 || limit == -1 {
        return Err(invalid(format!(
            "swap limit {swap} needs a memory limit on cgroup v2"
        )));
    }
    if limit < 0 || swap < 0 {
        return Err(invalid(format!(
            "invalid values swap {swap}, limit {limit}"
        )));
    }
    if swap < limit {
        return Err(invalid(format!(
            "memory+swap limit {swap} is below the memory limit {limit}"
        )));
    }
    Ok(swap - limit)
}

/// memory.limit → `memory.max`, memory.reservation → `memory.low`, memory.swap →
/// `memory.swap.max` (converted). Swap is written first, as runc does; without a swap file
/// (no swap accounting) "max" and "0" are already true and are skipped, anything else is
/// reported unapplied.
pub(super) fn memory(
    plan: &mut Writes,
    dir: &Path,
    limit: i64,
    reservation: i64,
    swap: i64,
    has_swap_file: bool,
) -> Result<(), CgroupError> {
    let v2_swap = swap_to_v2(swap, limit)?;
    let swap_value = match num_to_str(v2_swap) {
        Some(s) => Some(s),
        // memory.swap == memory.limit: no swap at all.
        None if swap > 0 => Some("0".to_string()),
        None => None,
    };
    if let Some(value) = swap_value {
        if has_swap_file {
            plan.write(dir, "memory.swap.max", value);
        } else if value != "max" && value != "0" {
            plan.unapplied("memory.swap");
        }
    }
    if let Some(value) = num_to_str(limit) {
        plan.write(dir, "memory.max", value);
    }
    if let Some(value) = num_to_str(reservation) {
        plan.write(dir, "memory.low", value);
    }
    Ok(())
}

/// cpu.shares → cpu.weight on the curve runc ≥ 1.3 and crun use, so a container gets the same
/// weight whichever of them runs it: v1's [2, 262144] (default 1024) maps onto v2's [1, 10000]
/// (default 100) with `weight = ⌈10^((l² + 125·l) / 612 − 7/34)⌉`, `l = log2(shares)` — a
/// parabola through (log2 2, 10^0), (log2 1024, 10^2) and (log2 262144, 10^4). 0 stays unset;
/// below 2 is 1, above 262144 is 10000. (runc 1.1's linear map gave 1024 shares weight 39.)
pub fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262_144.. => 10_000,
        _ => {
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            10f64.powf(exponent).ceil() as u64
        }
    }
}

/// cpu.shares → `cpu.weight`; cpu.quota and cpu.period → `cpu.max` as "`quota|max` [period]"
/// (quota ≤ 0 is `max`; period 0 leaves the kernel's current period).
pub(super) fn cpu(plan: &mut Writes, dir: &Path, shares: u64, quota: i64, period: u64) {
    let weight = shares_to_weight(shares);
    if weight != 0 {
        plan.write(dir, "cpu.weight", weight.to_string());
    }
    if quota != 0 || period != 0 {
        let mut value = if quota > 0 {
            quota.to_string()
        } else {
            "max".to_string()
        };
        if period != 0 {
            value.push_str(&format!(" {period}"));
        }
        plan.write(dir, "cpu.max", value);
    }
}

/// cpu.burst → `cpu.max.burst`, cpu.idle → `cpu.idle`; the real-time budget has no v2
/// equivalent (the kernel's v2 cpu controller refuses RT tasks in non-root cgroups).
pub(super) fn cpu_extras(plan: &mut Writes, dir: &Path, c: &LinuxCpu) {
    if let Some(burst) = c.burst() {
        plan.write(dir, "cpu.max.burst", burst.to_string());
    }
    if let Some(idle) = c.idle() {
        plan.write(dir, "cpu.idle", idle.to_string());
    }
    if c.realtime_runtime().is_some() {
        plan.unapplied("cpu.realtimeRuntime");
    }
    if c.realtime_period().is_some() {
        plan.unapplied("cpu.realtimePeriod");
    }
}

/// runc's blkio weight [10, 1000] → io.weight [1, 10000]: `1 + (w - 10) * 9999 / 990`.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// blockIO → io: weights go to `io.bfq.weight` unchanged when BFQ is there (as runc does),
/// else to `io.weight` converted; throttle rates become `io.max` lines
/// `major:minor rbps=N` (0 = `max`, no limit).
pub(super) fn block_io(plan: &mut Writes, fs: &dyn CgroupFs, dir: &Path, b: &LinuxBlockIo) {
    let bfq = fs.exists(&dir.join("io.bfq.weight"));
    let weight = |w: u16| {
        if bfq {
            w.to_string()
        } else {
            blkio_weight_to_io_weight(w).to_string()
        }
    };
    let file = if bfq { "io.bfq.weight" } else { "io.weight" };
    if let Some(w) = b.weight() {
        plan.write(dir, file, format!("default {}", weight(w)));
    }
    if b.leaf_weight().is_some() {
        plan.unapplied("blockIO.leafWeight");
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            plan.write(
                dir,
                file,
                format!("{}:{} {}", d.major(), d.minor(), weight(w)),
            );
        }
        if d.leaf_weight().is_some() {
            plan.unapplied("blockIO.weightDevice.leafWeight");
        }
    }
    let keys = ["rbps", "wbps", "riops", "wiops"];
    for ((_, devs), key) in super::v1::throttles(b).into_iter().zip(keys) {
        for d in devs {
            let rate = if d.rate() == 0 {
                "max".to_string()
            } else {
                d.rate().to_string()
            };
            plan.write(
                dir,
                "io.max",
                format!("{}:{} {key}={rate}", d.major(), d.minor()),
            );
        }
    }
}
