//! The process's credentials and limits: rlimits, oom_score_adj, user and groups,
//! capabilities and no_new_privs — applied in the order the kernel requires.

use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};

use crate::bundle::{ProcessPlan, Rlimit};
use crate::sys;

/// A credential or limit that could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum CredsError {
    #[error("set {name} to soft {soft} hard {hard}")]
    Rlimit {
        name: &'static str,
        soft: u64,
        hard: u64,
        #[source]
        source: nix::Error,
    },
    #[error("set oom_score_adj to {value}")]
    OomScoreAdj {
        value: i32,
        #[source]
        source: std::io::Error,
    },
    #[error("set oom_score_adj to {value}: lowering it below the current {current} needs CAP_SYS_RESOURCE, which berth does not hold")]
    OomScoreAdjLower { value: i32, current: i32 },
    #[error("drop {cap} from the bounding set")]
    DropBounding {
        cap: Capability,
        #[source]
        source: caps::errors::CapsError,
    },
    #[error("keep capabilities across setuid")]
    KeepCaps(#[source] nix::Error),
    #[error("set supplementary groups {gids:?}")]
    SetGroups {
        gids: Vec<u32>,
        #[source]
        source: nix::Error,
    },
    #[error("set gid to {gid}")]
    SetGid {
        gid: u32,
        #[source]
        source: nix::Error,
    },
    #[error("set uid to {uid}")]
    SetUid {
        uid: u32,
        #[source]
        source: nix::Error,
    },
    #[error("set the {set:?} capability set to {caps:?}")]
    SetCaps {
        set: CapSet,
        caps: Vec<String>,
        #[source]
        source: caps::errors::CapsError,
    },
    #[error("set no_new_privs")]
    NoNewPrivs(#[source] nix::Error),
}

/// Applies `process.rlimits` (config.md "POSIX process": setrlimit for each entry).
pub fn apply_rlimits(rlimits: &[Rlimit]) -> Result<(), CredsError> {
    for r in rlimits {
        sys::setrlimit(r.resource, r.soft, r.hard).map_err(|source| CredsError::Rlimit {
            name: r.name,
            soft: r.soft,
            hard: r.hard,
            source,
        })?;
    }
    Ok(())
}

/// Writes `process.oomScoreAdj` to /proc/self/oom_score_adj.
pub fn apply_oom_score_adj(value: Option<i32>) -> Result<(), CredsError> {
    let Some(value) = value else { return Ok(()) };
    let path = "/proc/self/oom_score_adj";
    // CVE-2025-52881: written through a verified procfs handle, "self" spelled as the pid.
    let rel = format!("{}/oom_score_adj", nix::unistd::getpid());
    let res = crate::rootfs::procfs::write(
        std::path::Path::new("/proc"),
        std::path::Path::new(&rel),
        value.to_string().as_bytes(),
    );
    use crate::rootfs::HardeningError as H;
    match res {
        Ok(()) => Ok(()),
        Err(H::ProcOpen {
            source: nix::Error::EACCES,
            ..
        })
        | Err(H::ProcWrite {
            source: nix::Error::EACCES,
            ..
        }) => {
            let current = std::fs::read_to_string(path)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            Err(CredsError::OomScoreAdjLower { value, current })
        }
        Err(e) => Err(CredsError::OomScoreAdj {
            value,
            source: match &e {
                H::ProcOpen { source, .. } | H::ProcWrite { source, .. } => {
                    std::io::Error::from_raw_os_error(*source as i32)
                }
                _ => std::io::Error::other(e.to_string()),
            },
        }),
    }
}

/// Switches to the configured user with the configured capabilities.
///
/// Order matters:
/// 1. the bounding set is reduced first, while we are still root and hold CAP_SETPCAP;
/// 2. PR_SET_KEEPCAPS keeps the permitted set across the uid change below;
/// 3. groups, then gid, then uid — after setuid we could no longer change groups;
/// 4. effective, permitted and inheritable are set from the config, never widened beyond it
///    (CVE-2022-29162: runc once put every bounding cap into the inheritable set);
/// 5. ambient last: a capability can only be ambient if it is permitted and inheritable.
pub fn switch_user(p: &ProcessPlan) -> Result<(), CredsError> {
    let [(_, bounding), (_, effective), (_, permitted), (_, inheritable), (_, ambient)] =
        &p.capabilities;
    drop_bounding(bounding)?;
    sys::set_keepcaps(true).map_err(CredsError::KeepCaps)?;

    let gids: Vec<Gid> = p
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // With setgroups denied (rootless) the call fails with EPERM whatever the list; the
    // groups are then the ones the process had, which in a namespace that maps one gid are
    // only that gid (additional gids were refused by the plan).
    if !p.setgroups_denied {
        setgroups(&gids).map_err(|source| CredsError::SetGroups {
            gids: p.additional_gids.clone(),
            source,
        })?;
    }
    let gid = Gid::from_raw(p.gid);
    setresgid(gid, gid, gid).map_err(|source| CredsError::SetGid { gid: p.gid, source })?;
    let uid = Uid::from_raw(p.uid);
    setresuid(uid, uid, uid).map_err(|source| CredsError::SetUid { uid: p.uid, source })?;

    set_caps(CapSet::Inheritable, inheritable)?;
    set_caps(CapSet::Effective, effective)?;
    set_caps(CapSet::Permitted, permitted)?;
    set_caps(CapSet::Ambient, ambient)?;
    sys::set_keepcaps(false).map_err(CredsError::KeepCaps)?;
    if let Some(mask) = p.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    Ok(())
}

/// prctl(PR_SET_NO_NEW_PRIVS): execve can no longer grant privileges (setuid bits, file caps).
pub fn set_no_new_privs(enabled: bool) -> Result<(), CredsError> {
    if enabled {
        nix::sys::prctl::set_no_new_privs().map_err(CredsError::NoNewPrivs)?;
    }
    Ok(())
}

fn drop_bounding(keep: &CapsHashSet) -> Result<(), CredsError> {
    // Only the capabilities this kernel knows can be dropped (cap_last_cap).
    let supported = caps::runtime::procfs_all_supported(None)
        .unwrap_or_else(|_| caps::runtime::thread_all_supported());
    for cap in supported.difference(keep) {
        caps::drop(None, CapSet::Bounding, *cap)
            .map_err(|source| CredsError::DropBounding { cap: *cap, source })?;
    }
    Ok(())
}

fn set_caps(set: CapSet, value: &CapsHashSet) -> Result<(), CredsError> {
    if matches!(set, CapSet::Ambient) {
        caps::clear(None, CapSet::Ambient).map_err(|source| CredsError::SetCaps {
            set,
            caps: Vec::new(),
            source,
        })?;
        for cap in value {
            // A capability can only be ambient if it is also permitted and inheritable. runc
            // warns and carries on when a config asks otherwise, and so does berth: failing
            // would reject configs that every other runtime runs.
            if let Err(e) = caps::raise(None, CapSet::Ambient, *cap) {
                crate::log_debug!("cannot raise ambient capability {cap} (it must be permitted and inheritable): {e}");
            }
        }
        return Ok(());
    }
    caps::set(None, set, value).map_err(|source| {
        let mut caps: Vec<String> = value.iter().map(|c| c.to_string()).collect();
        caps.sort();
        CredsError::SetCaps { set, caps, source }
    })
}
