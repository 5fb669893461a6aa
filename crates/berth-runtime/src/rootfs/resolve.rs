//! Safe path resolution inside a root directory: every lookup is `openat2(2)` with
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` relative to an `O_PATH` fd of the root, so a
//! symlink to `/` or `../../..` inside the container's rootfs cannot make berth create or mount
//! anything on the host (CVE-2021-30465 class of bugs). Missing components are created with
//! `mkdirat` on the resolved parent fd, and callers mount onto `/proc/self/fd/<fd>` of the
//! resolved target instead of re-resolving a path string (STYLE.md point 12).

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::{fstat, mkdirat, Mode};

use super::sys;
use super::RootfsError;

/// How many symlinks one in-root resolution may follow (SYMLOOP_MAX is 40).
const MAX_SYMLINKS: u32 = 40;

/// An `O_PATH` handle on a root directory (the rootfs before pivot, `/` after it).
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

/// The path relative to the root, `.` for the root itself.
fn relative(inner: &Path) -> PathBuf {
    let rel: PathBuf = inner
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

impl Root {
    /// Open `path` (a host path, resolved normally: it is the caller's, not the container's).
    pub fn open(path: &Path) -> Result<Root, RootfsError> {
        let fd = openat(
            nix::fcntl::AT_FDCWD,
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|source| RootfsError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The `O_PATH` fd of the root.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Host-side spelling of an in-root path, for messages: `/x/rootfs` + `/proc`.
    pub fn display(&self, inner: &Path) -> PathBuf {
        let rel = relative(inner);
        if rel == Path::new(".") {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    /// Resolve `inner` inside the root with extra open `flags` (`O_PATH` is always added).
    pub fn try_resolve(&self, inner: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
        sys::openat2(
            self.fd.as_fd(),
            &relative(inner),
            (OFlag::O_PATH | flags).bits(),
            sys::RESOLVE_IN_ROOT_SAFE,
        )
    }

    /// Resolve directory `inner`, creating every missing component (mode 0755) on the way
    /// (see [`Root::walk`]).
    pub fn mkdir_all(&self, inner: &Path) -> Result<OwnedFd, RootfsError> {
        Ok(self.walk(inner, Some(true))?.fd)
    }

    /// The one entry point for mount destinations: resolve `dest` once, creating it (a
    /// directory, or with `is_dir == false` an empty file) and its parents if missing, and
    /// check where it landed. Every later operation on the destination uses the returned fd.
    pub fn mount_point(&self, dest: &Path, is_dir: bool) -> Result<MountPoint, RootfsError> {
        let point = self.walk(dest, Some(is_dir))?;
        check_landing(&point.fd, dest, &self.display(dest))?;
        Ok(point)
    }

    /// Walk `dest` one component at a time from the root, each an `openat(O_PATH|O_NOFOLLOW)`
    /// on the directory fd reached so far, so a component swapped meanwhile is seen for what
    /// it is, never followed by the kernel. A symlink (dangling or not) is read from its own
    /// fd and followed inside the root, as runc's securejoin does: an absolute target from the
    /// root, a relative one from its directory, `..` clamped at the root; the walk restarts
    /// from the root with the cleaned path, at most [`MAX_SYMLINKS`] times. A symlink that
    /// leads into `/proc` or `/sys` is refused unless `dest` itself is there (issue #13 attack
    /// 1: an image's `/data -> /proc/1/fd` must not put a volume over the init's fd table).
    /// With `create`, a missing component is made: a directory (mode 0755), or for the last one
    /// with `Some(false)` an empty file (`O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0644).
    fn walk(&self, dest: &Path, create: Option<bool>) -> Result<MountPoint, RootfsError> {
        let mut path = clean(dest);
        for _ in 0..=MAX_SYMLINKS {
            match self.walk_once(&path, create)? {
                Step::Reached(point) => return Ok(point),
                Step::Symlink(next) => {
                    refuse_special(dest, &next, &self.display(dest))?;
                    path = next;
                }
            }
        }
        Err(RootfsError::Resolve {
            root: self.path.clone(),
            path: dest.to_path_buf(),
            source: Errno::ELOOP,
        })
    }

    fn walk_once(&self, path: &Path, create: Option<bool>) -> Result<Step, RootfsError> {
        let names: Vec<&OsStr> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        let resolve_err = |at: &Path, source| RootfsError::Resolve {
            root: self.path.clone(),
            path: at.to_path_buf(),
            source,
        };
        let mut cur = openat(
            self.fd.as_fd(),
            ".",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| resolve_err(Path::new("/"), e))?;
        let mut at = PathBuf::from("/");
        let mut created = false;
        for (i, name) in names.iter().enumerate() {
            let last = i + 1 == names.len();
            let here = at.join(name);
            let fd = match open_nofollow(&cur, name) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) if create.is_some() => {
                    let as_file = last && create == Some(false);
                    self.create(&cur, name, as_file, &here)?;
                    created = last;
                    open_nofollow(&cur, name).map_err(|e| resolve_err(&here, e))?
                }
                Err(e) => return Err(resolve_err(&here, e)),
            };
            let mode = fstat(fd.as_fd())
                .map_err(|e| resolve_err(&here, e))?
                .st_mode
                & libc::S_IFMT;
            if mode == libc::S_IFLNK {
                let target = readlinkat(fd.as_fd(), "").map_err(|e| resolve_err(&here, e))?;
                let target = Path::new(&target);
                let mut next = if target.is_absolute() {
                    target.to_path_buf()
                } else {
                    at.join(target)
                };
                next.extend(&names[i + 1..]);
                return Ok(Step::Symlink(clean(&next)));
            }
            if !last && mode != libc::S_IFDIR {
                return Err(resolve_err(&here, Errno::ENOTDIR));
            }
            cur = fd;
            at = here;
        }
        Ok(Step::Reached(MountPoint { fd: cur, created }))
    }

    /// Create `name` in `dir`; EEXIST (a racing creator) is fine: the caller opens what is
    /// there and looks at it.
    fn create(
        &self,
        dir: &OwnedFd,
        name: &OsStr,
        as_file: bool,
        inner: &Path,
    ) -> Result<(), RootfsError> {
        let result = if as_file {
            openat(
                dir.as_fd(),
                name,
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_WRONLY
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            )
            .map(drop)
        } else {
            mkdirat(dir.as_fd(), name, Mode::from_bits_truncate(0o755))
        };
        match result {
            Ok(()) | Err(Errno::EEXIST) => Ok(()),
            Err(source) if as_file => Err(RootfsError::CreateFile {
                path: self.display(inner),
                source,
            }),
            Err(source) => Err(RootfsError::Mkdir {
                path: self.display(inner),
                source,
            }),
        }
    }
}

/// A mount destination resolved once by [`Root::mount_point`].
#[derive(Debug)]
pub struct MountPoint {
    /// `O_PATH` fd of the destination: mounts are attached onto it with `move_mount`.
    pub fd: OwnedFd,
    /// The destination did not exist and was created by the walk.
    pub created: bool,
}

enum Step {
    Reached(MountPoint),
    /// A symlink on the way: the cleaned in-root path to walk instead.
    Symlink(PathBuf),
}

fn open_nofollow(dir: &OwnedFd, name: &OsStr) -> nix::Result<OwnedFd> {
    openat(
        dir.as_fd(),
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Lexically clean an in-root path: absolute, no `.`, `..` applied and clamped at the root.
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The kernel's own trees a mount destination may land in only when it is spelled there.
const SPECIAL_TREES: &[&str] = &["/proc", "/sys"];

/// Refuse following a symlink of `dest` into `/proc` or `/sys` when `dest` is not there, or to
/// the container's root itself (a mount there would cover the whole rootfs; issue #13 attack 3
/// swaps such a symlink in).
fn refuse_special(dest: &Path, next: &Path, display: &Path) -> Result<(), RootfsError> {
    let to_root = next == Path::new("/") && dest != Path::new("/");
    for tree in SPECIAL_TREES {
        if to_root || (next.starts_with(tree) && !dest.starts_with(tree)) {
            return Err(RootfsError::Redirected {
                destination: dest.to_path_buf(),
                display: display.to_path_buf(),
                resolved: next.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Filesystems of the kernel's own trees (statfs `f_type`): procfs belongs under `/proc`,
/// sysfs, cgroup and the other kernel interfaces under `/sys`.
const PROC_FS: &[i64] = &[0x9fa0];
const SYS_FS: &[i64] = &[
    0x6265_6572, // sysfs
    0x0027_e0eb, // cgroup
    0x6367_7270, // cgroup2
    0x7363_6673, // securityfs
    0x6462_6720, // debugfs
    0x7472_6163, // tracefs
    0xcafe_4a11, // bpf
    0x6265_6570, // configfs
    0x6165_676c, // pstore
    0xde5e_81e4, // efivarfs
    0xf97c_ff8c, // selinuxfs
];

/// The destination fd must not be on procfs unless `dest` is under `/proc`, nor on sysfs (or
/// another kernel interface) unless `dest` is under `/sys`: whatever path led there, a mount
/// that lands in those trees would cover what the container's protections are addressed by.
fn check_landing(fd: &OwnedFd, dest: &Path, display: &Path) -> Result<(), RootfsError> {
    let fs = nix::sys::statfs::fstatfs(fd.as_fd())
        .map_err(|source| RootfsError::Statfs {
            path: display.to_path_buf(),
            source,
        })?
        .filesystem_type()
        .0 as i64;
    let wrong = (PROC_FS.contains(&fs) && !dest.starts_with("/proc"))
        || (SYS_FS.contains(&fs) && !dest.starts_with("/sys"));
    if wrong {
        return Err(RootfsError::LandsInKernelTree {
            destination: dest.to_path_buf(),
            display: display.to_path_buf(),
            fs_type: fs as u64,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn mkdir_all_follows_a_dangling_symlink_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir(&rootfs).unwrap();
        let name = format!("berth-dangling-{}", std::process::id());
        symlink(format!("../../../../../tmp/{name}"), rootfs.join("evil")).unwrap();
        let root = Root::open(&rootfs).unwrap();
        root.mkdir_all(Path::new("/evil/sub")).unwrap();
        assert!(rootfs.join("tmp").join(&name).join("sub").is_dir());
        assert!(
            !Path::new("/tmp").join(&name).exists(),
            "created on the host"
        );
    }

    #[test]
    fn mkdir_all_through_escaping_symlinks_stays_in_root() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir(&rootfs).unwrap();
        symlink("/", rootfs.join("to_root")).unwrap();
        symlink("../../..", rootfs.join("to_up")).unwrap();
        let root = Root::open(&rootfs).unwrap();
        let name = format!("berth-escape-{}", std::process::id());
        root.mkdir_all(&Path::new("/to_root").join(&name).join("a"))
            .unwrap();
        root.mkdir_all(&Path::new("/to_up").join(&name).join("b"))
            .unwrap();
        assert!(rootfs.join(&name).join("a").is_dir());
        assert!(rootfs.join(&name).join("b").is_dir());
        assert!(!Path::new("/").join(&name).exists());
        assert!(!dir.path().join(&name).exists());
    }

    #[test]
    fn create_file_follows_dangling_symlinks_inside_the_root_and_creates_parents() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir(&rootfs).unwrap();
        let outside = dir.path().join("outside");
        symlink(&outside, rootfs.join("evil")).unwrap();
        symlink("../../../../up/file", rootfs.join("evil2")).unwrap();
        let root = Root::open(&rootfs).unwrap();
        root.mount_point(Path::new("/evil"), false).unwrap();
        assert!(!outside.exists(), "created on the host");
        assert!(rootfs.join(outside.strip_prefix("/").unwrap()).is_file());
        root.mount_point(Path::new("/evil2"), false).unwrap();
        assert!(rootfs.join("up/file").is_file());
        // A symlink loop ends in ELOOP, not a hang.
        symlink("/loop", rootfs.join("loop")).unwrap();
        assert!(root.mount_point(Path::new("/loop"), false).is_err());

        root.mount_point(Path::new("/etc/hosts"), false).unwrap();
        assert!(rootfs.join("etc/hosts").is_file());
        // Existing files are reused, not truncated.
        std::fs::write(rootfs.join("etc/hosts"), b"x").unwrap();
        root.mount_point(Path::new("/etc/hosts"), false).unwrap();
        assert_eq!(std::fs::read(rootfs.join("etc/hosts")).unwrap(), b"x");
    }

    #[test]
    fn magic_links_are_refused_and_display_is_host_side() {
        let dir = tempfile::tempdir().unwrap();
        symlink("/proc/self/root", dir.path().join("magic")).unwrap();
        let root = Root::open(dir.path()).unwrap();
        // In-root, /proc/self/root is just a missing path; the kernel never follows the magic link.
        assert!(root
            .try_resolve(Path::new("/magic/etc"), OFlag::empty())
            .is_err());
        assert_eq!(root.display(Path::new("/a/./b")), dir.path().join("a/b"));
        assert_eq!(root.display(Path::new("/")), dir.path());
    }

    #[test]
    fn symlinks_into_proc_or_sys_are_refused_unless_the_destination_is_there() {
        let dir = tempfile::tempdir().unwrap();
        symlink("/proc/1/fd", dir.path().join("data")).unwrap();
        symlink("../sys/kernel", dir.path().join("k")).unwrap();
        symlink("/proc/sys", dir.path().join("proc_link")).unwrap();
        let root = Root::open(dir.path()).unwrap();
        let err = root.mount_point(Path::new("/data"), true).unwrap_err();
        assert!(matches!(err, RootfsError::Redirected { .. }), "{err}");
        assert!(err.to_string().contains("/proc/1/fd"), "{err}");
        let err = root.mount_point(Path::new("/k/x"), true).unwrap_err();
        assert!(matches!(err, RootfsError::Redirected { .. }), "{err}");
        symlink("../..", dir.path().join("up")).unwrap();
        let err = root.mount_point(Path::new("/up"), true).unwrap_err();
        assert!(matches!(err, RootfsError::Redirected { .. }), "{err}");
        // Nothing was created on the way.
        assert!(!dir.path().join("proc").exists() && !dir.path().join("sys").exists());
        // Spelled under /proc, a symlink within /proc is followed.
        std::fs::create_dir_all(dir.path().join("proc/real")).unwrap();
        symlink("real", dir.path().join("proc/alias")).unwrap();
        root.mount_point(Path::new("/proc/alias"), true).unwrap();
    }

    #[test]
    fn a_destination_landing_on_procfs_outside_proc_is_refused() {
        // A root whose directories are procfs: any destination not spelled under /proc lands
        // on the kernel's tree, whatever led there.
        let root = Root::open(Path::new("/proc")).unwrap();
        let err = root.mount_point(Path::new("/1"), true).unwrap_err();
        assert!(
            matches!(err, RootfsError::LandsInKernelTree { .. }),
            "{err}"
        );
        let root = Root::open(Path::new("/sys")).unwrap();
        let err = root.mount_point(Path::new("/kernel"), true).unwrap_err();
        assert!(
            matches!(err, RootfsError::LandsInKernelTree { .. }),
            "{err}"
        );
    }

    #[test]
    fn a_component_that_is_not_a_directory_ends_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), b"").unwrap();
        let root = Root::open(dir.path()).unwrap();
        let err = root.mount_point(Path::new("/file/x"), true).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOTDIR), "{err}");
        let point = root.mount_point(Path::new("/new/dir"), true).unwrap();
        assert!(point.created && dir.path().join("new/dir").is_dir());
        assert!(
            !root
                .mount_point(Path::new("/new/dir"), true)
                .unwrap()
                .created
        );
    }
}
