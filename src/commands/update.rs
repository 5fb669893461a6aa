//! `berth update`: runc's flags, or a `linux.resources` JSON file with `-r` (`-` = stdin).
//! Flags override the file's values.

use std::io::Read;

use anyhow::{bail, Context};
use berth_runtime::{container, state::Store};
use clap::Args;
use oci_spec::runtime::{LinuxPids, LinuxResources};

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// A linux.resources JSON file ("-" for stdin); flags given with it override its values
    #[arg(short, long)]
    pub resources: Option<String>,
    /// Memory limit (bytes, or with a k/m/g suffix; -1 = unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory plus swap limit (-1 = unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// CPU shares (relative weight); `--cpu-shares` is accepted too
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_share: Option<u64>,
    /// CPU CFS quota in µs per period (-1 = unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period in µs (0 = unchanged)
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS burst in µs: CPU time a period may borrow from earlier idle ones (runc 1.2)
    #[arg(long)]
    pub cpu_burst: Option<u64>,
    /// 1: the cgroup's tasks run as SCHED_IDLE; 0: normal scheduling (runc 1.2)
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_idle: Option<i64>,
    /// CPU real-time runtime in µs per period
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU real-time period in µs
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// CPUs the container may use (e.g. 0-2,4)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Maximum number of tasks (-1 = unlimited; 0 = unchanged)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000; 0 = unchanged)
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// Intel RDT/CAT L3 cache schema (not supported by berth: refused)
    #[arg(long)]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT/MBA memory bandwidth schema (not supported by berth: refused)
    #[arg(long)]
    pub mem_bw_schema: Option<String>,
    /// Container id
    pub id: String,
}

pub fn run(store: &Store, args: &UpdateArgs) -> anyhow::Result<()> {
    let id = &args.id;
    let (resources, required) =
        resources(args).with_context(|| format!("update container {id:?}"))?;
    let unapplied = container::update_requiring(store, id, &resources, &required)
        .with_context(|| format!("update container {id:?}"))?;
    if !unapplied.is_empty() {
        // Only settings from a -r file get here (a flag's setting that cannot be applied is an
        // error): containerd sends whole linux.resources objects, devices included, which runc
        // does not change on update either.
        berth_runtime::log_warn!(
            "update container {id:?}: not applied on this host: {}",
            unapplied.join(", ")
        );
    }
    Ok(())
}

/// The resources to write, and the spec names of those set by flags: those must take effect.
fn resources(args: &UpdateArgs) -> anyhow::Result<(LinuxResources, Vec<String>)> {
    // Intel RDT (resctrl) is not something berth manages at all: refuse rather than ignore.
    for (flag, v) in [
        ("--l3-cache-schema", &args.l3_cache_schema),
        ("--mem-bw-schema", &args.mem_bw_schema),
    ] {
        if v.is_some() {
            bail!("{flag}: Intel RDT is not supported by berth");
        }
    }
    let mut required = Vec::new();
    let mut require = |name: &str, given: bool| {
        if given {
            required.push(name.to_string());
        }
    };
    require("memory.limit", args.memory.is_some());
    require("memory.swap", args.memory_swap.is_some());
    require("memory.reservation", args.memory_reservation.is_some());
    require("cpu.shares", args.cpu_share.is_some());
    require("cpu.quota", args.cpu_quota.is_some());
    require("cpu.period", args.cpu_period.is_some());
    require("cpu.burst", args.cpu_burst.is_some());
    require("cpu.idle", args.cpu_idle.is_some());
    require("cpu.realtimeRuntime", args.cpu_rt_runtime.is_some());
    require("cpu.realtimePeriod", args.cpu_rt_period.is_some());
    require("cpu.cpus", args.cpuset_cpus.is_some());
    require("cpu.mems", args.cpuset_mems.is_some());
    require("pids.limit", args.pids_limit.is_some());
    require("blockIO.weight", args.blkio_weight.is_some());

    let mut r: LinuxResources = match &args.resources {
        Some(path) => {
            let limit = berth_runtime::bundle::MAX_INPUT_BYTES;
            let text = if path == "-" {
                let mut text = Vec::new();
                std::io::stdin().take(limit + 1).read_to_end(&mut text)?;
                anyhow::ensure!(
                    text.len() as u64 <= limit,
                    "read resources from stdin: larger than {limit} bytes"
                );
                text
            } else {
                berth_runtime::bundle::read_bounded(std::path::Path::new(path))
                    .with_context(|| format!("read {path}"))?
            };
            let mut doc: serde_json::Value =
                serde_json::from_slice(&text).with_context(|| format!("parse resources {path}"))?;
            // `pids` without `limit` sets nothing (runtime-spec 1.3); 0 is a limit.
            berth_runtime::bundle::normalize_pids(&mut doc);
            serde_json::from_value(doc).with_context(|| format!("parse resources {path}"))?
        }
        None => LinuxResources::default(),
    };
    let bytes = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<i64>> {
        v.as_deref()
            .map(|s| parse_bytes(s).with_context(|| format!("invalid --{flag} {s:?}")))
            .transpose()
    };
    let (limit, swap, reservation) = (
        bytes("memory", &args.memory)?,
        bytes("memory-swap", &args.memory_swap)?,
        bytes("memory-reservation", &args.memory_reservation)?,
    );
    if limit.is_some() || swap.is_some() || reservation.is_some() {
        let mut m = r.memory().unwrap_or_default();
        if let Some(v) = limit {
            m.set_limit(Some(v));
        }
        if let Some(v) = swap {
            m.set_swap(Some(v));
        }
        if let Some(v) = reservation {
            m.set_reservation(Some(v));
        }
        r.set_memory(Some(m));
    }
    let any_cpu = args.cpu_share.is_some()
        || args.cpu_quota.is_some()
        || args.cpu_period.is_some()
        || args.cpu_burst.is_some()
        || args.cpu_idle.is_some()
        || args.cpu_rt_runtime.is_some()
        || args.cpu_rt_period.is_some()
        || args.cpuset_cpus.is_some()
        || args.cpuset_mems.is_some();
    if any_cpu {
        let mut c = r.cpu().clone().unwrap_or_default();
        if let Some(v) = args.cpu_share {
            c.set_shares(Some(v));
        }
        if let Some(v) = args.cpu_quota {
            c.set_quota(Some(v));
        }
        if let Some(v) = args.cpu_period {
            c.set_period(Some(v));
        }
        if let Some(v) = args.cpu_burst {
            c.set_burst(Some(v));
        }
        if let Some(v) = args.cpu_idle {
            c.set_idle(Some(v));
        }
        if let Some(v) = args.cpu_rt_runtime {
            c.set_realtime_runtime(Some(v));
        }
        if let Some(v) = args.cpu_rt_period {
            c.set_realtime_period(Some(v));
        }
        if let Some(v) = &args.cpuset_cpus {
            c.set_cpus(Some(v.clone()));
        }
        if let Some(v) = &args.cpuset_mems {
            c.set_mems(Some(v.clone()));
        }
        r.set_cpu(Some(c));
    }
    // runc's flag: 0 leaves the limit as it is (a resources file's `pids.limit: 0` is a limit).
    if let Some(limit) = args.pids_limit.filter(|&l| l != 0) {
        let mut p = LinuxPids::default();
        p.set_limit(limit);
        r.set_pids(Some(p));
    }
    // runc's default for --blkio-weight is 0, meaning "leave it": not a weight of 0.
    if let Some(w) = args.blkio_weight.filter(|&w| w != 0) {
        let mut b = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    Ok((r, required))
}

/// runc's (docker units) RAMInBytes: a number with an optional b/k/m/g/t/p suffix (binary
/// multiples, case-insensitive, optional trailing "b"/"ib"); -1 means unlimited.
fn parse_bytes(s: &str) -> anyhow::Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let n: f64 = num.parse().context("not a number")?;
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => bail!("unknown unit {unit:?}"),
    };
    let v = n * (1u64 << shift) as f64;
    if !(0.0..=i64::MAX as f64).contains(&v) {
        bail!("out of range");
    }
    Ok(v as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes() {
        assert_eq!(super::parse_bytes("1024").unwrap(), 1024);
        assert_eq!(super::parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(super::parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(super::parse_bytes("2kb").unwrap(), 2048);
        assert_eq!(super::parse_bytes("-1").unwrap(), -1);
        assert!(super::parse_bytes("-5").is_err());
        assert!(super::parse_bytes("12x").is_err());
        assert!(super::parse_bytes("99999999999p").is_err());
    }
}
