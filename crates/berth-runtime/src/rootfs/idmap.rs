//! Id-mapped binds (`mounts[].uidMappings`/`gidMappings`, options `idmap` and `ridmap`).
//!
//! `mount_setattr(MOUNT_ATTR_IDMAP)` takes the mapping from a user namespace fd. Such a
//! namespace is made for each id-mapped mount: a short-lived child `unshare(CLONE_NEWUSER)`s,
//! berth writes the mount's maps into its /proc/<pid>/uid_map and gid_map, keeps an fd of its
//! /proc/<pid>/ns/user, and lets it exit. The namespace lives on through the fd; the kernel
//! pins it in the mount, so the fd is closed right after `mount_setattr`.
//!
//! Done by `berth create` on the host ([`super::BindSources`]), before any namespace of the
//! container: the bind source is cloned detached (`open_tree(OPEN_TREE_CLONE)`), id-mapped
//! while detached (the kernel refuses to id-map an attached mount), and handed to the init,
//! which attaches it onto its destination fd like every other bind. The destination is
//! resolved by the init exactly as for any mount (`Root::mount_point`), so the CVE-2021-30465
//! defences are unchanged.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use super::plan::MountIdmap;
use super::{sys, RootfsError};
use crate::bundle::IdMap;

/// Id-map the detached tree `tree` (a clone of `source` for `destination`) with `map`.
pub fn apply(
    tree: &OwnedFd,
    map: &MountIdmap,
    source: &Path,
    destination: &Path,
) -> Result<(), RootfsError> {
    let userns = user_namespace(map, destination)?;
    sys::mount_setattr_idmap(tree.as_fd(), map.recursive, userns.as_fd()).map_err(|e| {
        RootfsError::Idmap {
            source_path: source.to_path_buf(),
            destination: destination.to_path_buf(),
            source: e,
        }
    })
}

/// The text of a uid_map or gid_map.
fn map_text(map: &[IdMap]) -> String {
    map.iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect()
}

/// A new user namespace holding `map`, as an fd of its nsfs file.
fn user_namespace(map: &MountIdmap, destination: &Path) -> Result<OwnedFd, RootfsError> {
    let fail = |step: &'static str| {
        move |source: std::io::Error| RootfsError::IdmapUserns {
            destination: destination.to_path_buf(),
            step,
            source,
        }
    };
    // `ready`: the child says it has unshared (or why it could not); `release`: the child
    // waits for EOF on it, so closing our end (or dying) always ends the child.
    let (ready_r, ready_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail("pipe")(e.into()))?;
    let (release_r, release_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail("pipe")(e.into()))?;
    let pid = crate::sys::fork().map_err(|e| fail("fork")(e.into()))?;
    if pid == 0 {
        drop(ready_r);
        drop(release_w);
        let mut ready = std::fs::File::from(ready_w);
        let code = match nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER) {
            Ok(()) => ready.write_all(&[0]).map_or(2, |_| 0),
            Err(e) => {
                let _ = ready.write_all(&(e as i32).to_ne_bytes());
                1
            }
        };
        drop(ready);
        let mut byte = [0u8; 1];
        // Blocks until the parent closes its end: EOF (or an error) ends the wait.
        let _ = std::fs::File::from(release_r).read(&mut byte);
        crate::sys::exit_child(code);
    }
    drop(ready_w);
    drop(release_r);
    let result = (|| {
        let mut answer = Vec::new();
        // Bounded: the child writes at most 4 bytes and closes its end, or exits.
        std::fs::File::from(ready_r)
            .read_to_end(&mut answer)
            .map_err(fail("wait for the child to unshare"))?;
        match answer.as_slice() {
            [0] => {}
            [a, b, c, d] => {
                return Err(fail("unshare(CLONE_NEWUSER)")(
                    std::io::Error::from_raw_os_error(i32::from_ne_bytes([*a, *b, *c, *d])),
                ))
            }
            _ => {
                return Err(fail("unshare(CLONE_NEWUSER)")(
                    std::io::ErrorKind::UnexpectedEof.into(),
                ))
            }
        }
        let proc = format!("/proc/{pid}");
        // Root in the parent namespace may write any map, and setgroups stays allowed.
        std::fs::write(format!("{proc}/uid_map"), map_text(&map.uid_map))
            .map_err(fail("write uid_map"))?;
        std::fs::write(format!("{proc}/gid_map"), map_text(&map.gid_map))
            .map_err(fail("write gid_map"))?;
        std::fs::File::open(format!("{proc}/ns/user"))
            .map(OwnedFd::from)
            .map_err(fail("open ns/user"))
    })();
    drop(release_w);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_text_is_one_line_per_range() {
        let m = [
            IdMap {
                container_id: 0,
                host_id: 100000,
                size: 65536,
            },
            IdMap {
                container_id: 70000,
                host_id: 5,
                size: 1,
            },
        ];
        assert_eq!(map_text(&m), "0 100000 65536\n70000 5 1\n");
    }

    #[test]
    fn user_namespace_holds_the_map() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP user_namespace_holds_the_map: needs root to write a map");
            return;
        }
        let one = |c, h, s| IdMap {
            container_id: c,
            host_id: h,
            size: s,
        };
        let map = MountIdmap {
            uid_map: vec![one(0, 100000, 65536)],
            gid_map: vec![one(0, 200000, 10), one(10, 7, 1)],
            recursive: false,
        };
        let ns = user_namespace(&map, Path::new("/x")).unwrap();
        // Read the maps back from inside, in a forked child (setns changes the process).
        let text = crate::sys::in_forked_child(|| {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWUSER)
                .map_err(std::io::Error::from)?;
            let uid = std::fs::read_to_string("/proc/self/uid_map")?;
            let gid = std::fs::read_to_string("/proc/self/gid_map")?;
            Ok(format!("{uid}{gid}"))
        })
        .unwrap();
        let lines: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines,
            [
                vec!["0", "100000", "65536"],
                vec!["0", "200000", "10"],
                vec!["10", "7", "1"]
            ]
        );
    }
}
