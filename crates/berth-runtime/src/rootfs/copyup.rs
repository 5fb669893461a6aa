//! `tmpcopyup` (runc's and crun's mount option, added by podman by default): a tmpfs mounted
//! over a directory of the image starts with a copy of that directory's content, so the
//! image's files stay visible while writes go to the tmpfs and never reach the image.
//!
//! The copy runs in the init, from the fd the destination was resolved to (the directory the
//! tmpfs will cover) into the detached tmpfs, before it is attached. Everything is done by fd
//! and by name relative to an open directory, without following a symlink (`O_NOFOLLOW`,
//! `AT_SYMLINK_NOFOLLOW`): a symlink is copied as a symlink, never resolved, so the image
//! cannot make the copy read or write outside the directory. Kept from each entry, as runc
//! does: its type (directory, regular file, symlink, fifo, socket, character or block device),
//! owner, permission bits (with setuid, setgid, sticky) and times. Hard links become separate
//! copies. A device node needs CAP_MKNOD (refused in a new user namespace, as for runc).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmodat, fstatat, mkdirat, mknodat, utimensat, FchmodatFlags, FileStat, Mode, SFlag,
    UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, symlinkat, Gid, Uid};

use super::RootfsError;

/// Deeper than any image directory; bounds the recursion against a crafted tree.
const MAX_DEPTH: usize = 256;

/// Copy the content of the directory open at `from` (an `O_PATH` fd is enough) into the
/// directory open at `to`. `destination` names the mount in errors.
pub fn copy_dir(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    destination: &Path,
) -> Result<(), RootfsError> {
    let src = open_dir(from, Path::new("."), destination, Path::new(""))?;
    Copier { destination }.dir(src, to, Path::new(""), 0)
}

struct Copier<'a> {
    destination: &'a Path,
}

/// A directory opened for reading, without following a symlink.
fn open_dir(
    at: BorrowedFd<'_>,
    name: &Path,
    destination: &Path,
    rel: &Path,
) -> Result<OwnedFd, RootfsError> {
    openat(
        at,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| RootfsError::CopyUp {
        destination: destination.to_path_buf(),
        op: "open",
        path: destination.join(rel),
        source,
    })
}

impl Copier<'_> {
    fn fail(&self, op: &'static str, rel: &Path) -> impl FnOnce(Errno) -> RootfsError + '_ {
        let path = self.destination.join(rel);
        move |source| RootfsError::CopyUp {
            destination: self.destination.to_path_buf(),
            op,
            path,
            source,
        }
    }

    /// Copy every entry of `src` into `dst`; `rel` is their path below the destination.
    fn dir(
        &self,
        src: OwnedFd,
        dst: BorrowedFd<'_>,
        rel: &Path,
        depth: usize,
    ) -> Result<(), RootfsError> {
        if depth > MAX_DEPTH {
            return Err(self.fail("copy (too deep)", rel)(Errno::ELOOP));
        }
        let src_dup = src.try_clone().map_err(|e| {
            self.fail("dup", rel)(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF)))
        })?;
        let mut listing = nix::dir::Dir::from_fd(src_dup).map_err(self.fail("read dir", rel))?;
        let mut names: Vec<PathBuf> = Vec::new();
        for entry in listing.iter() {
            let entry = entry.map_err(self.fail("read dir", rel))?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                use std::os::unix::ffi::OsStrExt;
                names.push(PathBuf::from(std::ffi::OsStr::from_bytes(name)));
            }
        }
        for name in names {
            self.entry(src.as_fd(), dst, &name, &rel.join(&name), depth)?;
        }
        Ok(())
    }

    fn entry(
        &self,
        src: BorrowedFd<'_>,
        dst: BorrowedFd<'_>,
        name: &Path,
        rel: &Path,
        depth: usize,
    ) -> Result<(), RootfsError> {
        let st =
            fstatat(src, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(self.fail("stat", rel))?;
        let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
        let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
        match kind {
            SFlag::S_IFDIR => {
                mkdirat(dst, name, Mode::from_bits_truncate(0o700))
                    .map_err(self.fail("mkdir", rel))?;
                let from = open_dir(src, name, self.destination, rel)?;
                let to = open_dir(dst, name, self.destination, rel)?;
                self.dir(from, to.as_fd(), rel, depth + 1)?;
            }
            SFlag::S_IFREG => {
                let from = openat(
                    src,
                    name,
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(self.fail("open", rel))?;
                let to = openat(
                    dst,
                    name,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(self.fail("create", rel))?;
                std::io::copy(&mut std::fs::File::from(from), &mut std::fs::File::from(to))
                    .map_err(|e| {
                        self.fail("copy", rel)(Errno::from_raw(
                            e.raw_os_error().unwrap_or(libc::EIO),
                        ))
                    })?;
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(src, name).map_err(self.fail("readlink", rel))?;
                symlinkat(target.as_os_str(), dst, name).map_err(self.fail("symlink", rel))?;
            }
            SFlag::S_IFIFO | SFlag::S_IFSOCK | SFlag::S_IFCHR | SFlag::S_IFBLK => {
                mknodat(dst, name, kind, Mode::from_bits_truncate(0o600), st.st_rdev)
                    .map_err(self.fail("mknod", rel))?;
            }
            _ => return Err(self.fail("copy (unknown file type)", rel)(Errno::EINVAL)),
        }
        self.attributes(dst, name, rel, &st, kind, perm)
    }

    /// Owner, then mode (chown clears setuid/setgid), then times, of the copy `name` in `dst`.
    fn attributes(
        &self,
        dst: BorrowedFd<'_>,
        name: &Path,
        rel: &Path,
        st: &FileStat,
        kind: SFlag,
        perm: Mode,
    ) -> Result<(), RootfsError> {
        fchownat(
            dst,
            name,
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(self.fail("chown", rel))?;
        // A symlink has no mode of its own on Linux.
        if kind != SFlag::S_IFLNK {
            fchmodat(dst, name, perm, FchmodatFlags::NoFollowSymlink)
                .or_else(|e| match e {
                    // Older kernels refuse AT_SYMLINK_NOFOLLOW here; the entry is not a
                    // symlink (we just made it), so following is the same.
                    Errno::EOPNOTSUPP => fchmodat(dst, name, perm, FchmodatFlags::FollowSymlink),
                    e => Err(e),
                })
                .map_err(self.fail("chmod", rel))?;
        }
        let atime = TimeSpec::new(st.st_atime, st.st_atime_nsec);
        let mtime = TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
        utimensat(dst, name, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
            .map_err(self.fail("set times", rel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn copies_files_dirs_symlinks_fifos_with_modes_and_times() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let s = src.path();
        std::fs::create_dir(s.join("sub")).unwrap();
        std::fs::write(s.join("sub/file"), "content").unwrap();
        std::fs::set_permissions(s.join("sub/file"), std::fs::Permissions::from_mode(0o4751))
            .unwrap();
        std::fs::set_permissions(s.join("sub"), std::fs::Permissions::from_mode(0o1710)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", s.join("abs")).unwrap();
        std::os::unix::fs::symlink("sub/file", s.join("rel")).unwrap();
        nix::unistd::mkfifo(&s.join("fifo"), Mode::from_bits_truncate(0o640)).unwrap();
        let old = TimeSpec::new(1_000_000, 5);
        utimensat(
            nix::fcntl::AT_FDCWD,
            &s.join("sub/file"),
            &old,
            &old,
            UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();

        let from = std::fs::File::open(s).unwrap();
        let to = std::fs::File::open(dst.path()).unwrap();
        copy_dir(from.as_fd(), to.as_fd(), Path::new("/data")).unwrap();

        let d = dst.path();
        assert_eq!(
            std::fs::read_to_string(d.join("sub/file")).unwrap(),
            "content"
        );
        let meta = std::fs::symlink_metadata(d.join("sub/file")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o4751);
        assert_eq!((meta.mtime(), meta.mtime_nsec()), (1_000_000, 5));
        let meta = std::fs::symlink_metadata(d.join("sub")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o1710);
        // Symlinks are copied, not followed: the absolute one was not resolved on the host.
        assert_eq!(
            std::fs::read_link(d.join("abs")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert_eq!(
            std::fs::read_link(d.join("rel")).unwrap(),
            Path::new("sub/file")
        );
        let meta = std::fs::symlink_metadata(d.join("fifo")).unwrap();
        assert_eq!(meta.mode() & libc::S_IFMT, libc::S_IFIFO);
        assert_eq!(meta.mode() & 0o7777, 0o640);
        let owner = std::fs::symlink_metadata(s.join("sub/file")).unwrap();
        let copy = std::fs::symlink_metadata(d.join("sub/file")).unwrap();
        assert_eq!((copy.uid(), copy.gid()), (owner.uid(), owner.gid()));
    }

    #[test]
    fn an_existing_name_in_the_target_is_an_error_naming_it() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("f"), "x").unwrap();
        std::fs::write(dst.path().join("f"), "y").unwrap();
        let from = std::fs::File::open(src.path()).unwrap();
        let to = std::fs::File::open(dst.path()).unwrap();
        let e = copy_dir(from.as_fd(), to.as_fd(), Path::new("/data")).unwrap_err();
        assert_eq!(e.to_string(), "tmpcopyup on /data: create /data/f");
        assert_eq!(e.errno(), Some(libc::EEXIST));
    }
}
