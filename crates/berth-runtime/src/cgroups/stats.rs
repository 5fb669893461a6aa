//! Resource usage of a container's cgroup, read from the v1 or v2 control files into one
//! [`Stats`] value serialized in runc's `events --stats` shape (runc types/events.go), so the
//! CLI (`berth events`) and the shim report the same numbers. Also the OOM watch behind
//! `berth events`: v2 `memory.events`, v1 `memory.oom_control` through an eventfd registered in
//! `cgroup.event_control` (kernel cgroup-v1/memory.rst "OOM Control").

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::fs::{CgroupFs, HostFs};
use super::resources::Target;
use super::stats_v2::V2Stats;
use super::{CgroupError, CgroupPlan};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
    /// By page size as the kernel names it (`2MB`, `1GB`).
    pub hugetlb: BTreeMap<String, HugetlbStats>,
    /// On a pure cgroup v2 host, the v2 files as the kernel reports them (containerd's v2
    /// metrics); `None` on a v1 or hybrid host. Not part of runc's `events --stats` JSON.
    #[serde(skip)]
    pub v2: Option<V2Stats>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuStats {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// Nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuUsage {
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Throttling {
    pub periods: u64,
    #[serde(rename = "throttledPeriods")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(rename = "throttledTime")]
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MemoryStats {
    pub cache: u64,
    pub usage: MemoryData,
    /// memory+swap, as in v1 (v2: memory.current + memory.swap.current).
    pub swap: MemoryData,
    /// OOM kills in this cgroup (v2 `memory.events` / v1 `memory.oom_control` `oom_kill`).
    pub oom_kill: u64,
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MemoryData {
    /// Unlimited is `u64::MAX` on v2 (v1 reports its own huge page-aligned number).
    pub limit: u64,
    pub usage: u64,
    /// Peak usage (v2: `memory.peak`, Linux 5.19+).
    pub max: u64,
    /// v1 `failcnt`; v2 the `max` count of `memory.events` (times usage hit the limit).
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PidsStats {
    pub current: u64,
    /// 0 = unlimited (as runc reports it).
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BlkioStats {
    #[serde(rename = "ioServiceBytesRecursive")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioServicedRecursive")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HugetlbStats {
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}

/// `key value` lines (memory.stat, cpu.stat, memory.events, ...).
pub(super) fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

pub(super) fn read_u64(fs: &dyn CgroupFs, path: &Path) -> u64 {
    match fs.read(path) {
        Ok(s) if s.trim() == "max" => u64::MAX,
        Ok(s) => s.trim().parse().unwrap_or(0),
        Err(_) => 0,
    }
}

fn read_keyed(fs: &dyn CgroupFs, path: &Path) -> BTreeMap<String, u64> {
    fs.read(path).map(|s| flat_keyed(&s)).unwrap_or_default()
}

impl CgroupPlan {
    /// Current usage of the container's cgroup. Controllers the host lacks read as zeros; a
    /// missing cgroup is an error only for the first read (so stats of a deleted container
    /// fail instead of printing zeros).
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        self.stats_with(&HostFs)
    }

    pub(super) fn stats_with(&self, fs: &dyn CgroupFs) -> Result<Stats, CgroupError> {
        if let Some(h) = self.hierarchies.first() {
            let dir = self.dir(h);
            if !fs.exists(&dir) {
                return Err(CgroupError::Read {
                    path: dir,
                    source: std::io::Error::from_raw_os_error(libc::ENOENT),
                });
            }
        }
        let mut s = Stats::default();
        match self.target(fs, "memory")? {
            Some(Target::V1(d)) => s.memory = memory_v1(fs, &d),
            Some(Target::V2(d)) => s.memory = memory_v2(fs, &d),
            None => {}
        }
        match self.target(fs, "cpu")? {
            Some(Target::V1(d)) => {
                let st = read_keyed(fs, &d.join("cpu.stat"));
                s.cpu.throttling = Throttling {
                    periods: st.get("nr_periods").copied().unwrap_or(0),
                    throttled_periods: st.get("nr_throttled").copied().unwrap_or(0),
                    throttled_time: st.get("throttled_time").copied().unwrap_or(0),
                };
            }
            Some(Target::V2(d)) => {
                let st = read_keyed(fs, &d.join("cpu.stat"));
                let us = |k: &str| st.get(k).copied().unwrap_or(0) * 1000;
                s.cpu.usage.total = us("usage_usec");
                s.cpu.usage.user = us("user_usec");
                s.cpu.usage.kernel = us("system_usec");
                s.cpu.throttling = Throttling {
                    periods: st.get("nr_periods").copied().unwrap_or(0),
                    throttled_periods: st.get("nr_throttled").copied().unwrap_or(0),
                    throttled_time: us("throttled_usec"),
                };
            }
            None => {}
        }
        if let Some(Target::V1(d)) = self.target(fs, "cpuacct")? {
            s.cpu.usage.total = read_u64(fs, &d.join("cpuacct.usage"));
            s.cpu.usage.percpu = fs
                .read(&d.join("cpuacct.usage_percpu"))
                .map(|t| {
                    t.split_whitespace()
                        .filter_map(|v| v.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            // cpuacct.stat counts USER_HZ (100 on Linux) ticks.
            let st = read_keyed(fs, &d.join("cpuacct.stat"));
            s.cpu.usage.user = st.get("user").copied().unwrap_or(0) * 10_000_000;
            s.cpu.usage.kernel = st.get("system").copied().unwrap_or(0) * 10_000_000;
        }
        if let Some(Target::V1(d) | Target::V2(d)) = self.target(fs, "pids")? {
            s.pids.current = read_u64(fs, &d.join("pids.current"));
            let limit = read_u64(fs, &d.join("pids.max"));
            s.pids.limit = if limit == u64::MAX { 0 } else { limit };
        }
        match self.target(fs, "blkio")? {
            Some(Target::V1(d)) => s.blkio = blkio_v1(fs, &d),
            _ => {
                if let Some(Target::V2(d)) = self.target(fs, "io")? {
                    s.blkio = io_v2(fs, &d);
                }
            }
        }
        match self.target(fs, "hugetlb")? {
            Some(Target::V1(d)) => s.hugetlb = hugetlb(fs, &d, true),
            Some(Target::V2(d)) => s.hugetlb = hugetlb(fs, &d, false),
            None => {}
        }
        // Pure v2 (every hierarchy the container joined is cgroup2): what containerd's v2
        // metrics carry. On a hybrid host the v1 controllers hold the numbers.
        if !self.hierarchies.is_empty() && self.hierarchies.iter().all(|h| h.is_v2()) {
            if let Some(d) = self.v2_dir() {
                s.v2 = Some(V2Stats::read(fs, &d));
            }
        }
        Ok(s)
    }

    /// Start watching the container's cgroup for OOM kills.
    pub fn oom_watch(&self) -> Result<OomWatch, CgroupError> {
        let fs = &HostFs;
        let target = self.target(fs, "memory")?;
        OomWatch::new(target)
    }
}

fn memory_v1(fs: &dyn CgroupFs, d: &Path) -> MemoryStats {
    let raw = read_keyed(fs, &d.join("memory.stat"));
    let entry = |prefix: &str| MemoryData {
        limit: read_u64(fs, &d.join(format!("{prefix}.limit_in_bytes"))),
        usage: read_u64(fs, &d.join(format!("{prefix}.usage_in_bytes"))),
        max: read_u64(fs, &d.join(format!("{prefix}.max_usage_in_bytes"))),
        failcnt: read_u64(fs, &d.join(format!("{prefix}.failcnt"))),
    };
    let oom = read_keyed(fs, &d.join("memory.oom_control"));
    MemoryStats {
        cache: raw
            .get("total_cache")
            .or(raw.get("cache"))
            .copied()
            .unwrap_or(0),
        usage: entry("memory"),
        swap: entry("memory.memsw"),
        oom_kill: oom.get("oom_kill").copied().unwrap_or(0),
        raw,
    }
}

fn memory_v2(fs: &dyn CgroupFs, d: &Path) -> MemoryStats {
    let raw = read_keyed(fs, &d.join("memory.stat"));
    let events = read_keyed(fs, &d.join("memory.events"));
    let usage = read_u64(fs, &d.join("memory.current"));
    let swap_usage = read_u64(fs, &d.join("memory.swap.current"));
    let limit = read_u64(fs, &d.join("memory.max"));
    let swap_limit = read_u64(fs, &d.join("memory.swap.max"));
    MemoryStats {
        cache: raw.get("file").copied().unwrap_or(0),
        usage: MemoryData {
            limit,
            usage,
            max: read_u64(fs, &d.join("memory.peak")),
            failcnt: events.get("max").copied().unwrap_or(0),
        },
        swap: MemoryData {
            limit: if limit == u64::MAX || swap_limit == u64::MAX {
                u64::MAX
            } else {
                limit.saturating_add(swap_limit)
            },
            usage: usage + swap_usage,
            max: 0,
            failcnt: 0,
        },
        oom_kill: events.get("oom_kill").copied().unwrap_or(0),
        raw,
    }
}

fn blkio_v1(fs: &dyn CgroupFs, d: &Path) -> BlkioStats {
    // Lines `major:minor Op value`, plus a `Total value` line.
    let parse = |file: &str| -> Vec<BlkioEntry> {
        let text = fs.read(&d.join(file)).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let (maj, min) = it.next()?.split_once(':')?;
                Some(BlkioEntry {
                    major: maj.parse().ok()?,
                    minor: min.parse().ok()?,
                    op: it.next()?.to_string(),
                    value: it.next()?.parse().ok()?,
                })
            })
            .collect()
    };
    BlkioStats {
        io_service_bytes_recursive: parse("blkio.throttle.io_service_bytes_recursive"),
        io_serviced_recursive: parse("blkio.throttle.io_serviced_recursive"),
    }
}

/// io.stat: `major:minor rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N`.
fn io_v2(fs: &dyn CgroupFs, d: &Path) -> BlkioStats {
    let mut s = BlkioStats::default();
    let text = fs.read(&d.join("io.stat")).unwrap_or_default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some((maj, min)) = it.next().and_then(|f| f.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse(), min.parse()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut s.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.io_service_bytes_recursive, "Write"),
                "rios" => (&mut s.io_serviced_recursive, "Read"),
                "wios" => (&mut s.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    s
}

pub(super) fn hugetlb(fs: &dyn CgroupFs, d: &Path, v1: bool) -> BTreeMap<String, HugetlbStats> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(d) else {
        return out;
    };
    let mut sizes: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let size = name.strip_prefix("hugetlb.")?;
            let size = if v1 {
                size.strip_suffix(".limit_in_bytes")?
            } else {
                size.strip_suffix(".max")?
            };
            (!size.contains('.')).then(|| size.to_string())
        })
        .collect();
    sizes.sort();
    for size in sizes {
        let f = |suffix: &str| d.join(format!("hugetlb.{size}.{suffix}"));
        let stats = if v1 {
            HugetlbStats {
                usage: read_u64(fs, &f("usage_in_bytes")),
                max: read_u64(fs, &f("max_usage_in_bytes")),
                failcnt: read_u64(fs, &f("failcnt")),
            }
        } else {
            HugetlbStats {
                usage: read_u64(fs, &f("current")),
                max: read_u64(fs, &f("max")),
                failcnt: read_keyed(fs, &f("events"))
                    .get("max")
                    .copied()
                    .unwrap_or(0),
            }
        };
        out.insert(size, stats);
    }
    out
}

/// Watches a memory cgroup for OOM kills: [`OomWatch::wait`] blocks until the kernel signals
/// an OOM event or the timeout passes, and returns how many new OOM kills happened.
pub struct OomWatch {
    kind: WatchKind,
    seen: u64,
}

enum WatchKind {
    /// Polls `memory.events` (kernfs notifies modifications with POLLPRI).
    V2 { file: std::fs::File },
    /// eventfd registered for `memory.oom_control`; the control file is kept open for the
    /// registration's lifetime.
    V1 {
        eventfd: OwnedFd,
        _oom_control: std::fs::File,
        path: PathBuf,
    },
    /// No memory controller: nothing will ever be reported.
    None,
}

impl OomWatch {
    fn new(target: Option<Target>) -> Result<OomWatch, CgroupError> {
        let read_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CgroupError::Read { path, source }
        };
        let kind = match target {
            Some(Target::V2(d)) => {
                let events = d.join("memory.events");
                let file = std::fs::File::open(&events).map_err(read_err(&events))?;
                drop(events);
                WatchKind::V2 { file }
            }
            Some(Target::V1(d)) => {
                let path = d.join("memory.oom_control");
                let oom_control = std::fs::File::open(&path).map_err(read_err(&path))?;
                let eventfd = nix::sys::eventfd::EventFd::from_flags(
                    nix::sys::eventfd::EfdFlags::EFD_CLOEXEC,
                )
                .map_err(|e| CgroupError::Read {
                    path: path.clone(),
                    source: e.into(),
                })?;
                let eventfd: OwnedFd = eventfd.into();
                let control = d.join("cgroup.event_control");
                let line = format!("{} {}", eventfd.as_raw_fd(), oom_control.as_raw_fd());
                super::fs::write_file(&HostFs, &control, &line)?;
                WatchKind::V1 {
                    eventfd,
                    _oom_control: oom_control,
                    path,
                }
            }
            None => WatchKind::None,
        };
        let mut w = OomWatch { kind, seen: 0 };
        w.seen = w.count();
        Ok(w)
    }

    /// The cgroup's OOM kill counter now.
    fn count(&self) -> u64 {
        match &self.kind {
            WatchKind::V2 { file, .. } => {
                // Read through the polled fd: that is what re-arms kernfs' POLLPRI.
                use std::os::unix::fs::FileExt;
                let mut buf = [0u8; 4096];
                let n = file.read_at(&mut buf, 0).unwrap_or(0);
                flat_keyed(&String::from_utf8_lossy(&buf[..n]))
                    .get("oom_kill")
                    .copied()
                    .unwrap_or(0)
            }
            WatchKind::V1 { path, .. } => read_keyed(&HostFs, path)
                .get("oom_kill")
                .copied()
                .unwrap_or(0),
            WatchKind::None => 0,
        }
    }

    /// Wait up to `timeout` for an OOM event; returns the number of new OOM kills (0 on
    /// timeout). On v1 an eventfd notification without an `oom_kill` counter (kernels before
    /// 4.13) counts as one.
    pub fn wait(&mut self, timeout: std::time::Duration) -> u64 {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let ms = PollTimeout::try_from(timeout.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        let mut notified = false;
        match &self.kind {
            WatchKind::V2 { file, .. } => {
                let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLPRI)];
                let _ = poll(&mut fds, ms);
            }
            WatchKind::V1 { eventfd, .. } => {
                let mut fds = [PollFd::new(eventfd.as_fd(), PollFlags::POLLIN)];
                if let Ok(n) = poll(&mut fds, ms) {
                    if n > 0 {
                        let mut buf = [0u8; 8];
                        let _ = nix::unistd::read(eventfd, &mut buf);
                        notified = true;
                    }
                }
            }
            WatchKind::None => std::thread::sleep(timeout),
        }
        let now = self.count();
        let new = now.saturating_sub(self.seen);
        self.seen = now;
        if new == 0
            && notified
            && !matches!(&self.kind, WatchKind::V1 { path, .. } if read_keyed(&HostFs, path).contains_key("oom_kill"))
        {
            return 1;
        }
        new
    }
}
