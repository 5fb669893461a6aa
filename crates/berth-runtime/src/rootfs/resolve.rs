//! Safe path resolution inside a root directory: every lookup is `openat2(2)` with
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` relative to an `O_PATH` fd of the root, so a
//! symlink to `/` or `../../..` inside the container's rootfs cannot make berth create or mount
//! anything on the host (CVE-2021-30465 class of bugs). Missing components are created with
//! `mkdirat` on the resolved parent fd, and callers mount onto `/proc/self/fd/<fd>` of the
//! resolved target instead of re-resolving a path string (STYLE.md point 12).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{mkdirat, Mode};

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

/// The `/proc/self/fd/<n>` path naming an open fd, for `mount(2)` targets.
pub fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
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

    /// Resolve an existing `inner` inside the root.
    pub fn resolve(&self, inner: &Path) -> Result<OwnedFd, RootfsError> {
        self.try_resolve(inner, OFlag::empty())
            .map_err(|source| RootfsError::Resolve {
                root: self.path.clone(),
                path: inner.to_path_buf(),
                source,
            })
    }

    /// Resolve directory `inner`, creating every missing component (mode 0755) on the way.
    ///
    /// A dangling symlink on the way is followed inside the root, as runc's securejoin does:
    /// its target is created in the rootfs (never on the host), and the mount lands there.
    pub fn mkdir_all(&self, inner: &Path) -> Result<OwnedFd, RootfsError> {
        self.mkdir_all_depth(inner, 0)
    }

    fn mkdir_all_depth(&self, inner: &Path, depth: u32) -> Result<OwnedFd, RootfsError> {
        let mut current = self
            .try_resolve(Path::new("."), OFlag::O_DIRECTORY)
            .map_err(|source| RootfsError::Resolve {
                root: self.path.clone(),
                path: PathBuf::from("/"),
                source,
            })?;
        let mut prefix = PathBuf::from("/");
        let rel = relative(inner);
        let components: Vec<Component> = rel.components().collect();
        for (i, component) in components.iter().enumerate() {
            let name = match component {
                Component::Normal(name) => Some(*name),
                _ => None,
            };
            let parent = prefix.clone();
            prefix.push(component);
            current = match self.try_resolve(&prefix, OFlag::O_DIRECTORY) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) if name.is_some() => {
                    let name = name.unwrap_or_default();
                    if let Some(target) = self.dangling_target(&current, name, &parent, depth)? {
                        let rest: PathBuf = components[i + 1..].iter().collect();
                        return self.mkdir_all_depth(&target.join(rest), depth + 1);
                    }
                    match mkdirat(current.as_fd(), name, Mode::from_bits_truncate(0o755)) {
                        // EEXIST: a racing creator; the re-resolution below decides.
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(source) => {
                            return Err(RootfsError::Mkdir {
                                path: self.display(&prefix),
                                source,
                            })
                        }
                    }
                    self.resolve_dir(&prefix)?
                }
                Err(source) => {
                    return Err(RootfsError::Resolve {
                        root: self.path.clone(),
                        path: prefix,
                        source,
                    })
                }
            };
        }
        Ok(current)
    }

    /// If `name` in `dir` (whose in-root path is `parent`) is a symlink, the in-root path it
    /// points to: an absolute target is taken from the root, a relative one from `parent`;
    /// `..` is left for openat2's RESOLVE_IN_ROOT to clamp at the root.
    fn dangling_target(
        &self,
        dir: &OwnedFd,
        name: &std::ffi::OsStr,
        parent: &Path,
        depth: u32,
    ) -> Result<Option<PathBuf>, RootfsError> {
        let Ok(target) = nix::fcntl::readlinkat(dir.as_fd(), name) else {
            return Ok(None);
        };
        if depth >= MAX_SYMLINKS {
            return Err(RootfsError::Resolve {
                root: self.path.clone(),
                path: parent.join(name),
                source: Errno::ELOOP,
            });
        }
        let target = PathBuf::from(target);
        Ok(Some(if target.is_absolute() {
            target
        } else {
            parent.join(target)
        }))
    }

    fn resolve_dir(&self, inner: &Path) -> Result<OwnedFd, RootfsError> {
        self.try_resolve(inner, OFlag::O_DIRECTORY)
            .map_err(|source| RootfsError::Resolve {
                root: self.path.clone(),
                path: inner.to_path_buf(),
                source,
            })
    }

    /// Resolve `inner`, creating it as an empty regular file (mode 0644 before umask) if it is
    /// missing; its parent directories are created as by [`Root::mkdir_all`].
    pub fn create_file(&self, inner: &Path) -> Result<OwnedFd, RootfsError> {
        self.create_file_depth(inner, 0)
    }

    fn create_file_depth(&self, inner: &Path, depth: u32) -> Result<OwnedFd, RootfsError> {
        match self.try_resolve(inner, OFlag::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(source) => {
                return Err(RootfsError::Resolve {
                    root: self.path.clone(),
                    path: inner.to_path_buf(),
                    source,
                })
            }
        }
        let parent_path = inner.parent().unwrap_or(Path::new("/"));
        let parent = self.mkdir_all(parent_path)?;
        let Some(name) = inner.file_name() else {
            return Err(RootfsError::CreateFile {
                path: self.display(inner),
                source: Errno::EISDIR,
            });
        };
        // A dangling symlink is followed inside the root, like a directory's (see mkdir_all).
        if let Some(target) = self.dangling_target(&parent, name, parent_path, depth)? {
            return self.create_file_depth(&target, depth + 1);
        }
        // O_NOFOLLOW|O_EXCL: never create through a symlink swapped in meanwhile.
        match openat(
            parent.as_fd(),
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        ) {
            Ok(_) | Err(Errno::EEXIST) => {}
            Err(source) => {
                return Err(RootfsError::CreateFile {
                    path: self.display(inner),
                    source,
                })
            }
        }
        self.resolve(inner)
    }

    /// Resolve a mount point, creating it as a directory or an empty file as needed.
    pub fn mount_point(&self, inner: &Path, is_dir: bool) -> Result<OwnedFd, RootfsError> {
        if is_dir {
            self.mkdir_all(inner)
        } else {
            self.create_file(inner)
        }
    }
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
        root.create_file(Path::new("/evil")).unwrap();
        assert!(!outside.exists(), "created on the host");
        assert!(rootfs.join(outside.strip_prefix("/").unwrap()).is_file());
        root.create_file(Path::new("/evil2")).unwrap();
        assert!(rootfs.join("up/file").is_file());
        // A symlink loop ends in ELOOP, not a hang.
        symlink("/loop", rootfs.join("loop")).unwrap();
        assert!(root.create_file(Path::new("/loop")).is_err());

        root.create_file(Path::new("/etc/hosts")).unwrap();
        assert!(rootfs.join("etc/hosts").is_file());
        // Existing files are reused, not truncated.
        std::fs::write(rootfs.join("etc/hosts"), b"x").unwrap();
        root.create_file(Path::new("/etc/hosts")).unwrap();
        assert_eq!(std::fs::read(rootfs.join("etc/hosts")).unwrap(), b"x");
    }

    #[test]
    fn magic_links_are_refused_and_display_is_host_side() {
        let dir = tempfile::tempdir().unwrap();
        symlink("/proc/self/root", dir.path().join("magic")).unwrap();
        let root = Root::open(dir.path()).unwrap();
        // In-root, /proc/self/root is just a missing path; the kernel never follows the magic link.
        assert!(root.resolve(Path::new("/magic/etc")).is_err());
        assert_eq!(root.display(Path::new("/a/./b")), dir.path().join("a/b"));
        assert_eq!(root.display(Path::new("/")), dir.path());
    }
}
