//! Conversions between containerd's wire types and the runtime library's: the library's
//! cgroup [`Stats`] → containerd's cgroups v1 `Metrics` (what containerd-shim-runc-v2 returns on
//! a v1 or hybrid host, type URL `io.containerd.cgroups.v1.Metrics`), and Update's `resources`
//! `Any` → a runtime-spec `LinuxResources` (runc's shim: the Any carries the JSON of
//! `specs.LinuxResources`).

use berth_runtime::cgroups::Stats;
use containerd_shim::protos::cgroups::metrics::{
    BlkIOEntry, BlkIOStat, CPUStat, CPUUsage, HugetlbStat, MemoryEntry, MemoryOomControl,
    MemoryStat, Metrics, PidsStat, Throttle,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use oci_spec::runtime::LinuxResources;

/// The type URL containerd's typeurl registry knows the v1 metrics by.
pub const METRICS_V1_URL: &str = "io.containerd.cgroups.v1.Metrics";

/// Decoding Update's resources failed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("update task {id:?}: resources of type {type_url:?} are not Linux resources")]
    ResourcesType { id: String, type_url: String },
    #[error("update task {id:?}: decode the Linux resources")]
    ResourcesJson {
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("stats of task {id:?}: encode the metrics")]
    Encode {
        id: String,
        #[source]
        source: containerd_shim::protos::protobuf::Error,
    },
}

/// The library's stats in containerd's v1 shape.
pub fn metrics_v1(s: &Stats) -> Metrics {
    let raw = |k: &str| s.memory.raw.get(k).copied().unwrap_or(0);
    let entry = |d: &berth_runtime::cgroups::MemoryData| MemoryEntry {
        limit: d.limit,
        usage: d.usage,
        max: d.max,
        failcnt: d.failcnt,
        ..Default::default()
    };
    let blkio = |v: &[berth_runtime::cgroups::BlkioEntry]| -> Vec<BlkIOEntry> {
        v.iter()
            .map(|e| BlkIOEntry {
                op: e.op.clone(),
                major: e.major,
                minor: e.minor,
                value: e.value,
                ..Default::default()
            })
            .collect()
    };
    Metrics {
        hugetlb: s
            .hugetlb
            .iter()
            .map(|(size, h)| HugetlbStat {
                usage: h.usage,
                max: h.max,
                failcnt: h.failcnt,
                pagesize: size.clone(),
                ..Default::default()
            })
            .collect(),
        pids: MessageField::some(PidsStat {
            current: s.pids.current,
            limit: s.pids.limit,
            ..Default::default()
        }),
        cpu: MessageField::some(CPUStat {
            usage: MessageField::some(CPUUsage {
                total: s.cpu.usage.total,
                kernel: s.cpu.usage.kernel,
                user: s.cpu.usage.user,
                per_cpu: s.cpu.usage.percpu.clone(),
                ..Default::default()
            }),
            throttling: MessageField::some(Throttle {
                periods: s.cpu.throttling.periods,
                throttled_periods: s.cpu.throttling.throttled_periods,
                throttled_time: s.cpu.throttling.throttled_time,
                ..Default::default()
            }),
            ..Default::default()
        }),
        memory: MessageField::some(MemoryStat {
            cache: s.memory.cache,
            rss: raw("rss"),
            rss_huge: raw("rss_huge"),
            mapped_file: raw("mapped_file"),
            dirty: raw("dirty"),
            writeback: raw("writeback"),
            pg_pg_in: raw("pgpgin"),
            pg_pg_out: raw("pgpgout"),
            pg_fault: raw("pgfault"),
            pg_maj_fault: raw("pgmajfault"),
            inactive_anon: raw("inactive_anon"),
            active_anon: raw("active_anon"),
            inactive_file: raw("inactive_file"),
            active_file: raw("active_file"),
            unevictable: raw("unevictable"),
            hierarchical_memory_limit: raw("hierarchical_memory_limit"),
            hierarchical_swap_limit: raw("hierarchical_memsw_limit"),
            total_cache: raw("total_cache"),
            total_rss: raw("total_rss"),
            total_rss_huge: raw("total_rss_huge"),
            total_mapped_file: raw("total_mapped_file"),
            total_dirty: raw("total_dirty"),
            total_writeback: raw("total_writeback"),
            total_pg_pg_in: raw("total_pgpgin"),
            total_pg_pg_out: raw("total_pgpgout"),
            total_pg_fault: raw("total_pgfault"),
            total_pg_maj_fault: raw("total_pgmajfault"),
            total_inactive_anon: raw("total_inactive_anon"),
            total_active_anon: raw("total_active_anon"),
            total_inactive_file: raw("total_inactive_file"),
            total_active_file: raw("total_active_file"),
            total_unevictable: raw("total_unevictable"),
            usage: MessageField::some(entry(&s.memory.usage)),
            swap: MessageField::some(entry(&s.memory.swap)),
            ..Default::default()
        }),
        blkio: MessageField::some(BlkIOStat {
            io_service_bytes_recursive: blkio(&s.blkio.io_service_bytes_recursive),
            io_serviced_recursive: blkio(&s.blkio.io_serviced_recursive),
            ..Default::default()
        }),
        memory_oom_control: MessageField::some(MemoryOomControl {
            oom_kill: s.memory.oom_kill,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// StatsResponse's `stats`: the metrics packed in an `Any`.
pub fn stats_any(id: &str, s: &Stats) -> Result<Any, MetricsError> {
    let value = metrics_v1(s)
        .write_to_bytes()
        .map_err(|source| MetricsError::Encode {
            id: id.to_string(),
            source,
        })?;
    Ok(Any {
        type_url: METRICS_V1_URL.to_string(),
        value,
        ..Default::default()
    })
}

/// Update's `resources`: JSON of a runtime-spec `LinuxResources` (typeurl's encoding of a
/// non-protobuf Go type), as containerd and the CRI plugin send it.
pub fn decode_resources(id: &str, any: &Any) -> Result<LinuxResources, MetricsError> {
    let url = any.type_url.as_str();
    if !url.is_empty() && !url.ends_with("LinuxResources") {
        return Err(MetricsError::ResourcesType {
            id: id.to_string(),
            type_url: url.to_string(),
        });
    }
    let json_err = |source| MetricsError::ResourcesJson {
        id: id.to_string(),
        source,
    };
    let mut doc: serde_json::Value = serde_json::from_slice(&any.value).map_err(json_err)?;
    // `pids` without `limit` sets nothing (runtime-spec 1.3), where the typed parse would
    // read a limit of 0.
    berth_runtime::bundle::normalize_pids(&mut doc);
    serde_json::from_value(doc).map_err(json_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_map_onto_v1_metrics_and_round_trip() {
        let mut s = Stats::default();
        s.memory.usage.usage = 4096;
        s.memory.usage.limit = 32 << 20;
        s.memory.cache = 7;
        s.memory.oom_kill = 2;
        s.memory.raw.insert("total_rss".into(), 1234);
        s.memory.raw.insert("pgfault".into(), 9);
        s.pids.current = 3;
        s.pids.limit = 10;
        s.cpu.usage.total = 5_000;
        s.cpu.usage.percpu = vec![2_000, 3_000];
        s.cpu.throttling.throttled_periods = 4;
        s.hugetlb.insert(
            "2MB".into(),
            berth_runtime::cgroups::HugetlbStats {
                usage: 1,
                max: 2,
                failcnt: 3,
            },
        );
        let any = stats_any("c", &s).unwrap();
        assert_eq!(any.type_url, "io.containerd.cgroups.v1.Metrics");
        let m = Metrics::parse_from_bytes(&any.value).unwrap();
        assert_eq!(m.memory.usage.usage, 4096);
        assert_eq!(m.memory.usage.limit, 32 << 20);
        assert_eq!(m.memory.cache, 7);
        assert_eq!(m.memory.total_rss, 1234);
        assert_eq!(m.memory.pg_fault, 9);
        assert_eq!(m.memory_oom_control.oom_kill, 2);
        assert_eq!((m.pids.current, m.pids.limit), (3, 10));
        assert_eq!(m.cpu.usage.total, 5_000);
        assert_eq!(m.cpu.usage.per_cpu, vec![2_000, 3_000]);
        assert_eq!(m.cpu.throttling.throttled_periods, 4);
        assert_eq!(m.hugetlb[0].pagesize, "2MB");
        assert_eq!(m.hugetlb[0].failcnt, 3);
    }

    #[test]
    fn resources_decode_from_runc_shims_json() {
        let any = Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources".into(),
            value: br#"{"memory":{"limit":67108864},"cpu":{"shares":512},"pids":{"limit":50}}"#
                .to_vec(),
            ..Default::default()
        };
        let r = decode_resources("c", &any).unwrap();
        assert_eq!(r.memory().unwrap().limit(), Some(67108864));
        assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(512));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 50);
        // runtime-spec 1.3: `pids` without `limit` sets nothing; 0 is a limit.
        for (json, limit) in [
            (r#"{"pids":{}}"#, None),
            (r#"{"pids":{"limit":0}}"#, Some(0)),
        ] {
            let any = Any {
                value: json.as_bytes().to_vec(),
                ..Default::default()
            };
            let r = decode_resources("c", &any).unwrap();
            assert_eq!(r.pids().map(|p| p.limit()), limit, "{json}");
        }
    }

    #[test]
    fn bad_resources_are_named() {
        let wrong = Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/WindowsResources".into(),
            value: b"{}".to_vec(),
            ..Default::default()
        };
        assert!(matches!(
            decode_resources("c", &wrong),
            Err(MetricsError::ResourcesType { .. })
        ));
        let garbage = Any {
            type_url: String::new(),
            value: b"not json".to_vec(),
            ..Default::default()
        };
        let e = decode_resources("c", &garbage).unwrap_err();
        assert!(e.to_string().contains("\"c\""), "{e}");
    }
}
