//! The cgroup v2 control files of a container on a pure cgroup v2 host, as the kernel reports
//! them, for containerd's v2 metrics type (`io.containerd.cgroups.v2.Metrics`): what
//! containerd-shim-runc-v2 returns there, and what CRI's ContainerStats (kubelet) reads. runc's
//! `events --stats` shape ([`super::Stats`]) folds these into v1-style numbers (nanoseconds,
//! memory+swap, `0` for no pids limit); containerd's v2 type keeps them as written
//! (microseconds, separate swap, `max` as `u64::MAX`), so they are kept here verbatim.
//!
//! File formats: kernel Documentation/admin-guide/cgroup-v2.rst ("Core Interface Files",
//! "Memory Interface Files", "IO Interface Files", "PSI": accounting/psi.rst, "RDMA").

use std::collections::BTreeMap;
use std::path::Path;

use super::fs::CgroupFs;
use super::stats::{flat_keyed, read_u64};

/// The raw v2 numbers of one cgroup. A file the cgroup lacks (controller not enabled, older
/// kernel) reads as zero or empty, as containerd's reader treats it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct V2Stats {
    /// `cpu.stat` (`usage_usec`, `user_usec`, `system_usec`, `nr_periods`, ...).
    pub cpu_stat: BTreeMap<String, u64>,
    /// `memory.stat` (`anon`, `file`, `inactive_file`, ...).
    pub memory_stat: BTreeMap<String, u64>,
    /// `memory.events` (`low`, `high`, `max`, `oom`, `oom_kill`, `oom_group_kill`); `None`
    /// when the file is absent (no memory controller).
    pub memory_events: Option<BTreeMap<String, u64>>,
    /// `pids.current`, `pids.max` (`max` is `u64::MAX`).
    pub pids_current: u64,
    pub pids_max: u64,
    /// `memory.current`, `memory.max`, `memory.peak` (Linux 5.19+).
    pub memory_current: u64,
    pub memory_max: u64,
    pub memory_peak: u64,
    /// `memory.swap.current`, `memory.swap.max`, `memory.swap.peak` (Linux 6.5+).
    pub swap_current: u64,
    pub swap_max: u64,
    pub swap_peak: u64,
    /// `io.stat`, one entry per device.
    pub io: Vec<IoEntry>,
    /// `hugetlb.<size>.current`, `.max` and the `max` count of `.events`, by page size.
    pub hugetlb: BTreeMap<String, HugetlbV2>,
    /// `rdma.current` and `rdma.max`.
    pub rdma_current: Vec<RdmaEntry>,
    pub rdma_max: Vec<RdmaEntry>,
    /// `cpu.pressure`, `memory.pressure`, `io.pressure` (`None`: no such file, e.g. PSI off).
    pub cpu_pressure: Option<Psi>,
    pub memory_pressure: Option<Psi>,
    pub io_pressure: Option<Psi>,
}

/// One `io.stat` line: `MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IoEntry {
    pub major: u64,
    pub minor: u64,
    pub rbytes: u64,
    pub wbytes: u64,
    pub rios: u64,
    pub wios: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HugetlbV2 {
    pub current: u64,
    /// The limit (`hugetlb.<size>.max`; `max` is `u64::MAX`).
    pub max: u64,
    /// Times an allocation hit the limit (`hugetlb.<size>.events` `max`).
    pub failcnt: u64,
}

/// One `rdma.current`/`rdma.max` line: `DEVICE hca_handle=N hca_object=N` (`max` is
/// `u32::MAX`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RdmaEntry {
    pub device: String,
    pub hca_handles: u32,
    pub hca_objects: u32,
}

/// A pressure file: its `some` and `full` lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Psi {
    pub some: Option<PsiData>,
    pub full: Option<PsiData>,
}

/// `avg10=F avg60=F avg300=F total=N` (total in microseconds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PsiData {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    pub total: u64,
}

impl V2Stats {
    /// Read every file of the cgroup2 directory `d`.
    pub(super) fn read(fs: &dyn CgroupFs, d: &Path) -> V2Stats {
        let keyed = |f: &str| fs.read(&d.join(f)).map(|t| flat_keyed(&t)).ok();
        let u = |f: &str| read_u64(fs, &d.join(f));
        let psi = |f: &str| fs.read(&d.join(f)).ok().map(|t| parse_psi(&t));
        let rdma = |f: &str| {
            fs.read(&d.join(f))
                .map(|t| parse_rdma(&t))
                .unwrap_or_default()
        };
        V2Stats {
            cpu_stat: keyed("cpu.stat").unwrap_or_default(),
            memory_stat: keyed("memory.stat").unwrap_or_default(),
            memory_events: keyed("memory.events"),
            pids_current: u("pids.current"),
            pids_max: u("pids.max"),
            memory_current: u("memory.current"),
            memory_max: u("memory.max"),
            memory_peak: u("memory.peak"),
            swap_current: u("memory.swap.current"),
            swap_max: u("memory.swap.max"),
            swap_peak: u("memory.swap.peak"),
            io: fs
                .read(&d.join("io.stat"))
                .map(|t| parse_io(&t))
                .unwrap_or_default(),
            hugetlb: super::stats::hugetlb(fs, d, false)
                .into_iter()
                .map(|(size, h)| {
                    (
                        size,
                        HugetlbV2 {
                            current: h.usage,
                            max: h.max,
                            failcnt: h.failcnt,
                        },
                    )
                })
                .collect(),
            rdma_current: rdma("rdma.current"),
            rdma_max: rdma("rdma.max"),
            cpu_pressure: psi("cpu.pressure"),
            memory_pressure: psi("memory.pressure"),
            io_pressure: psi("io.pressure"),
        }
    }
}

fn parse_io(text: &str) -> Vec<IoEntry> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.split_whitespace();
            let (maj, min) = it.next()?.split_once(':')?;
            let mut e = IoEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                ..Default::default()
            };
            for kv in it {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let Ok(v) = v.parse() else { continue };
                match k {
                    "rbytes" => e.rbytes = v,
                    "wbytes" => e.wbytes = v,
                    "rios" => e.rios = v,
                    "wios" => e.wios = v,
                    _ => {}
                }
            }
            Some(e)
        })
        .collect()
}

fn parse_rdma(text: &str) -> Vec<RdmaEntry> {
    let num = |v: &str| {
        if v == "max" {
            u32::MAX
        } else {
            v.parse().unwrap_or(0)
        }
    };
    text.lines()
        .filter_map(|line| {
            let mut it = line.split_whitespace();
            let mut e = RdmaEntry {
                device: it.next()?.to_string(),
                ..Default::default()
            };
            for kv in it {
                match kv.split_once('=') {
                    Some(("hca_handle", v)) => e.hca_handles = num(v),
                    Some(("hca_object", v)) => e.hca_objects = num(v),
                    _ => {}
                }
            }
            Some(e)
        })
        .collect()
}

fn parse_psi(text: &str) -> Psi {
    let mut psi = Psi::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let slot = match it.next() {
            Some("some") => &mut psi.some,
            Some("full") => &mut psi.full,
            _ => continue,
        };
        let mut data = PsiData::default();
        for kv in it {
            match kv.split_once('=') {
                Some(("avg10", v)) => data.avg10 = v.parse().unwrap_or(0.0),
                Some(("avg60", v)) => data.avg60 = v.parse().unwrap_or(0.0),
                Some(("avg300", v)) => data.avg300 = v.parse().unwrap_or(0.0),
                Some(("total", v)) => data.total = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        *slot = Some(data);
    }
    psi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_stat_lines_parse_per_device() {
        let io = parse_io(
            "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=1 wbytes=0 rios=1 wios=0\n",
        );
        assert_eq!(
            io,
            vec![
                IoEntry {
                    major: 8,
                    minor: 0,
                    rbytes: 4096,
                    wbytes: 8192,
                    rios: 1,
                    wios: 2
                },
                IoEntry {
                    major: 253,
                    minor: 1,
                    rbytes: 1,
                    wbytes: 0,
                    rios: 1,
                    wios: 0
                }
            ]
        );
    }

    #[test]
    fn pressure_files_parse_some_and_full() {
        let p = parse_psi(
            "some avg10=1.50 avg60=0.25 avg300=0.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n",
        );
        let some = p.some.unwrap();
        assert_eq!((some.avg10, some.avg60, some.total), (1.5, 0.25, 12345));
        assert_eq!(p.full.unwrap().total, 7);
        // cpu.pressure before Linux 5.13 has no `full` line.
        assert!(
            parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
                .full
                .is_none()
        );
    }

    #[test]
    fn rdma_lines_parse_with_max() {
        assert_eq!(
            parse_rdma("mlx4_0 hca_handle=2 hca_object=max\n"),
            vec![RdmaEntry {
                device: "mlx4_0".into(),
                hca_handles: 2,
                hca_objects: u32::MAX
            }]
        );
    }
}
