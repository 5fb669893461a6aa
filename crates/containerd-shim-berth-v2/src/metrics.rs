//! Conversions between containerd's wire types and the runtime library's: the library's
//! cgroup [`Stats`] → containerd's metrics, as containerd-shim-runc-v2 returns them (cgroups v1
//! `Metrics`, type URL `io.containerd.cgroups.v1.Metrics`, on a v1 or hybrid host; cgroups v2
//! `Metrics`, `io.containerd.cgroups.v2.Metrics`, on a pure v2 host, which is what CRI's
//! ContainerStats reads there), and Update's `resources` `Any` → a runtime-spec
//! `LinuxResources` (runc's shim: the Any carries the JSON of `specs.LinuxResources`).

use berth_runtime::cgroups::{Stats, V2Stats};
use containerd_shim::protos::cgroups::metrics::{
    BlkIOEntry, BlkIOStat, CPUStat, CPUUsage, HugetlbStat, MemoryEntry, MemoryOomControl,
    MemoryStat, Metrics, PidsStat, Throttle,
};
use containerd_shim::protos::cgroups_v2::metrics as v2;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use oci_spec::runtime::LinuxResources;

/// The type URL containerd's typeurl registry knows the v1 metrics by.
pub const METRICS_V1_URL: &str = "io.containerd.cgroups.v1.Metrics";
/// ... and the v2 metrics (the proto package `io.containerd.cgroups.v2`).
pub const METRICS_V2_URL: &str = "io.containerd.cgroups.v2.Metrics";

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

/// The library's v2 numbers in containerd's v2 shape, field for field as containerd's cgroup2
/// reader fills them (cgroups `cgroup2/manager.go` `Stat`): microseconds, `max` as `u64::MAX`,
/// memory and swap apart, `memory_events` only when the cgroup has a `memory.events` file.
pub fn metrics_v2(s: &V2Stats) -> v2::Metrics {
    let cpu = |k: &str| s.cpu_stat.get(k).copied().unwrap_or(0);
    let mem = |k: &str| s.memory_stat.get(k).copied().unwrap_or(0);
    let psi = |p: &Option<berth_runtime::cgroups::Psi>| -> MessageField<v2::PSIStats> {
        let data = |d: &Option<berth_runtime::cgroups::PsiData>| {
            MessageField::from_option(d.as_ref().map(|d| v2::PSIData {
                avg10: d.avg10,
                avg60: d.avg60,
                avg300: d.avg300,
                total: d.total,
                ..Default::default()
            }))
        };
        MessageField::from_option(p.as_ref().map(|p| v2::PSIStats {
            some: data(&p.some),
            full: data(&p.full),
            ..Default::default()
        }))
    };
    let rdma = |v: &[berth_runtime::cgroups::RdmaEntry]| -> Vec<v2::RdmaEntry> {
        v.iter()
            .map(|e| v2::RdmaEntry {
                device: e.device.clone(),
                hca_handles: e.hca_handles,
                hca_objects: e.hca_objects,
                ..Default::default()
            })
            .collect()
    };
    v2::Metrics {
        pids: MessageField::some(v2::PidsStat {
            current: s.pids_current,
            limit: s.pids_max,
            ..Default::default()
        }),
        cpu: MessageField::some(v2::CPUStat {
            usage_usec: cpu("usage_usec"),
            user_usec: cpu("user_usec"),
            system_usec: cpu("system_usec"),
            nr_periods: cpu("nr_periods"),
            nr_throttled: cpu("nr_throttled"),
            throttled_usec: cpu("throttled_usec"),
            nr_bursts: cpu("nr_bursts"),
            burst_usec: cpu("burst_usec"),
            psi: psi(&s.cpu_pressure),
            ..Default::default()
        }),
        memory: MessageField::some(v2::MemoryStat {
            anon: mem("anon"),
            file: mem("file"),
            kernel_stack: mem("kernel_stack"),
            slab: mem("slab"),
            sock: mem("sock"),
            shmem: mem("shmem"),
            file_mapped: mem("file_mapped"),
            file_dirty: mem("file_dirty"),
            file_writeback: mem("file_writeback"),
            anon_thp: mem("anon_thp"),
            inactive_anon: mem("inactive_anon"),
            active_anon: mem("active_anon"),
            inactive_file: mem("inactive_file"),
            active_file: mem("active_file"),
            unevictable: mem("unevictable"),
            slab_reclaimable: mem("slab_reclaimable"),
            slab_unreclaimable: mem("slab_unreclaimable"),
            pgfault: mem("pgfault"),
            pgmajfault: mem("pgmajfault"),
            workingset_refault: mem("workingset_refault"),
            workingset_activate: mem("workingset_activate"),
            workingset_nodereclaim: mem("workingset_nodereclaim"),
            pgrefill: mem("pgrefill"),
            pgscan: mem("pgscan"),
            pgsteal: mem("pgsteal"),
            pgactivate: mem("pgactivate"),
            pgdeactivate: mem("pgdeactivate"),
            pglazyfree: mem("pglazyfree"),
            pglazyfreed: mem("pglazyfreed"),
            thp_fault_alloc: mem("thp_fault_alloc"),
            thp_collapse_alloc: mem("thp_collapse_alloc"),
            usage: s.memory_current,
            usage_limit: s.memory_max,
            max_usage: s.memory_peak,
            swap_usage: s.swap_current,
            swap_limit: s.swap_max,
            swap_max_usage: s.swap_peak,
            psi: psi(&s.memory_pressure),
            ..Default::default()
        }),
        memory_events: MessageField::from_option(s.memory_events.as_ref().map(|e| {
            let ev = |k: &str| e.get(k).copied().unwrap_or(0);
            v2::MemoryEvents {
                low: ev("low"),
                high: ev("high"),
                max: ev("max"),
                oom: ev("oom"),
                oom_kill: ev("oom_kill"),
                oom_group_kill: ev("oom_group_kill"),
                ..Default::default()
            }
        })),
        io: MessageField::some(v2::IOStat {
            usage: s
                .io
                .iter()
                .map(|e| v2::IOEntry {
                    major: e.major,
                    minor: e.minor,
                    rbytes: e.rbytes,
                    wbytes: e.wbytes,
                    rios: e.rios,
                    wios: e.wios,
                    ..Default::default()
                })
                .collect(),
            psi: psi(&s.io_pressure),
            ..Default::default()
        }),
        rdma: MessageField::some(v2::RdmaStat {
            current: rdma(&s.rdma_current),
            limit: rdma(&s.rdma_max),
            ..Default::default()
        }),
        hugetlb: s
            .hugetlb
            .iter()
            .map(|(size, h)| v2::HugeTlbStat {
                current: h.current,
                max: h.max,
                pagesize: size.clone(),
                failcnt: h.failcnt,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// StatsResponse's `stats`: the metrics packed in an `Any` — v2 when the library read a pure
/// cgroup v2 host, v1 otherwise (containerd-shim-runc-v2 chooses by the host's cgroup mode the
/// same way).
pub fn stats_any(id: &str, s: &Stats) -> Result<Any, MetricsError> {
    let encode_err = |source| MetricsError::Encode {
        id: id.to_string(),
        source,
    };
    let (type_url, value) = match &s.v2 {
        Some(raw) => (
            METRICS_V2_URL,
            metrics_v2(raw).write_to_bytes().map_err(encode_err)?,
        ),
        None => (
            METRICS_V1_URL,
            metrics_v1(s).write_to_bytes().map_err(encode_err)?,
        ),
    };
    Ok(Any {
        type_url: type_url.to_string(),
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
    fn v2_stats_map_onto_v2_metrics_and_round_trip() {
        let map = |kv: &[(&str, u64)]| -> std::collections::BTreeMap<String, u64> {
            kv.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        let raw = V2Stats {
            cpu_stat: map(&[
                ("usage_usec", 20),
                ("user_usec", 15),
                ("system_usec", 5),
                ("nr_periods", 4),
                ("nr_throttled", 2),
                ("throttled_usec", 7),
            ]),
            memory_stat: map(&[("anon", 500), ("file", 300), ("inactive_file", 100)]),
            memory_events: Some(map(&[("max", 3), ("oom", 1), ("oom_kill", 1)])),
            pids_current: 3,
            pids_max: u64::MAX,
            memory_current: 1000,
            memory_max: 32 << 20,
            memory_peak: 4000,
            swap_max: u64::MAX,
            io: vec![berth_runtime::cgroups::IoEntry {
                major: 8,
                minor: 0,
                rbytes: 4096,
                wbytes: 8192,
                rios: 1,
                wios: 2,
            }],
            hugetlb: [(
                "2MB".to_string(),
                berth_runtime::cgroups::HugetlbV2 {
                    current: 0,
                    max: 2 << 20,
                    failcnt: 1,
                },
            )]
            .into(),
            memory_pressure: Some(berth_runtime::cgroups::Psi {
                some: Some(berth_runtime::cgroups::PsiData {
                    avg10: 1.5,
                    total: 99,
                    ..Default::default()
                }),
                full: None,
            }),
            ..Default::default()
        };
        let s = Stats {
            v2: Some(raw),
            ..Default::default()
        };
        let any = stats_any("c", &s).unwrap();
        assert_eq!(any.type_url, "io.containerd.cgroups.v2.Metrics");
        let m = v2::Metrics::parse_from_bytes(&any.value).unwrap();
        assert_eq!((m.pids.current, m.pids.limit), (3, u64::MAX));
        assert_eq!(
            (m.cpu.usage_usec, m.cpu.user_usec, m.cpu.system_usec),
            (20, 15, 5)
        );
        assert_eq!(
            (m.cpu.nr_periods, m.cpu.nr_throttled, m.cpu.throttled_usec),
            (4, 2, 7)
        );
        assert!(m.cpu.psi.is_none(), "no cpu.pressure file, no PSI");
        assert_eq!((m.memory.anon, m.memory.file), (500, 300));
        assert_eq!(m.memory.inactive_file, 100);
        assert_eq!(
            (m.memory.usage, m.memory.usage_limit, m.memory.max_usage),
            (1000, 32 << 20, 4000)
        );
        assert_eq!((m.memory.swap_usage, m.memory.swap_limit), (0, u64::MAX));
        assert_eq!(m.memory.psi.some.avg10, 1.5);
        assert_eq!(m.memory.psi.some.total, 99);
        assert!(m.memory.psi.full.is_none());
        assert_eq!(
            (
                m.memory_events.max,
                m.memory_events.oom,
                m.memory_events.oom_kill
            ),
            (3, 1, 1)
        );
        assert_eq!(m.io.usage[0].rbytes, 4096);
        assert_eq!((m.io.usage[0].major, m.io.usage[0].wios), (8, 2));
        assert_eq!(m.hugetlb[0].pagesize, "2MB");
        assert_eq!((m.hugetlb[0].max, m.hugetlb[0].failcnt), (2 << 20, 1));
    }

    #[test]
    fn v2_metrics_have_no_memory_events_without_the_file() {
        let m = metrics_v2(&V2Stats::default());
        assert!(m.memory_events.is_none());
        assert!(m.pids.is_some() && m.cpu.is_some() && m.memory.is_some());
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
