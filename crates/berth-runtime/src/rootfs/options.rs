//! Mount option table and parser: turns the fstab-style `options` of one OCI mount into
//! `mount(2)` flags, propagation changes, `mount_setattr(2)` recursive attributes and fs data.
//!
//! The table follows runc's (`libcontainer/specconv`): a flag option either sets or clears a
//! `MS_*` bit, applied in order so `ro,rw` ends read-write; propagation options become separate
//! `mount(2)` calls (config.md "Mounts", runc applies them after the mount); `r*` options are
//! recursive attributes for `mount_setattr(2)` with `AT_RECURSIVE`; anything else is fs data,
//! comma-joined, exactly as runc passes it.

/// `MS_*` bits as `u64` (libc's `c_ulong`), so flag arithmetic here stays pure.
pub mod ms {
    pub const RDONLY: u64 = libc::MS_RDONLY;
    pub const NOSUID: u64 = libc::MS_NOSUID;
    pub const NODEV: u64 = libc::MS_NODEV;
    pub const NOEXEC: u64 = libc::MS_NOEXEC;
    pub const SYNCHRONOUS: u64 = libc::MS_SYNCHRONOUS;
    pub const REMOUNT: u64 = libc::MS_REMOUNT;
    pub const MANDLOCK: u64 = libc::MS_MANDLOCK;
    pub const DIRSYNC: u64 = libc::MS_DIRSYNC;
    pub const NOSYMFOLLOW: u64 = libc::MS_NOSYMFOLLOW;
    pub const NOATIME: u64 = libc::MS_NOATIME;
    pub const NODIRATIME: u64 = libc::MS_NODIRATIME;
    pub const BIND: u64 = libc::MS_BIND;
    pub const MOVE: u64 = libc::MS_MOVE;
    pub const REC: u64 = libc::MS_REC;
    pub const SILENT: u64 = libc::MS_SILENT;
    pub const POSIXACL: u64 = libc::MS_POSIXACL;
    pub const UNBINDABLE: u64 = libc::MS_UNBINDABLE;
    pub const PRIVATE: u64 = libc::MS_PRIVATE;
    pub const SLAVE: u64 = libc::MS_SLAVE;
    pub const SHARED: u64 = libc::MS_SHARED;
    pub const RELATIME: u64 = libc::MS_RELATIME;
    pub const I_VERSION: u64 = libc::MS_I_VERSION;
    pub const STRICTATIME: u64 = libc::MS_STRICTATIME;
    pub const LAZYTIME: u64 = libc::MS_LAZYTIME;
}

/// `MOUNT_ATTR_*` bits of `struct mount_attr` (linux/mount.h; not in libc 0.2).
pub mod attr {
    pub const RDONLY: u64 = 0x0000_0001;
    pub const NOSUID: u64 = 0x0000_0002;
    pub const NODEV: u64 = 0x0000_0004;
    pub const NOEXEC: u64 = 0x0000_0008;
    /// Mask of the access-time setting; setting one of the values below requires clearing it.
    pub const ATIME_MASK: u64 = 0x0000_0070;
    pub const RELATIME: u64 = 0x0000_0000;
    pub const NOATIME: u64 = 0x0000_0010;
    pub const STRICTATIME: u64 = 0x0000_0020;
    pub const NODIRATIME: u64 = 0x0000_0080;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

/// What one option string does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Set `MS_*` bits.
    Set(u64),
    /// Clear `MS_*` bits.
    Clear(u64),
    /// A propagation change applied by its own `mount(2)` call.
    Propagation(u64),
    /// A recursive attribute: (clear?, `MOUNT_ATTR_*` bit).
    Recursive(bool, u64),
    /// An id-mapped bind (`idmap`: the mount only; `ridmap`: with `true`, every mount below).
    Idmap(bool),
    /// runc's `tmpcopyup`: a tmpfs starts with a copy of the directory it covers.
    TmpCopyUp,
}

/// The option table, in the order `berth features` reports it.
const TABLE: &[(&str, Effect)] = &[
    ("acl", Effect::Set(ms::POSIXACL)),
    ("async", Effect::Clear(ms::SYNCHRONOUS)),
    ("atime", Effect::Clear(ms::NOATIME)),
    ("bind", Effect::Set(ms::BIND)),
    ("defaults", Effect::Set(0)),
    ("dev", Effect::Clear(ms::NODEV)),
    ("diratime", Effect::Clear(ms::NODIRATIME)),
    ("dirsync", Effect::Set(ms::DIRSYNC)),
    ("exec", Effect::Clear(ms::NOEXEC)),
    ("iversion", Effect::Set(ms::I_VERSION)),
    ("lazytime", Effect::Set(ms::LAZYTIME)),
    ("loud", Effect::Clear(ms::SILENT)),
    ("mand", Effect::Set(ms::MANDLOCK)),
    ("noacl", Effect::Clear(ms::POSIXACL)),
    ("noatime", Effect::Set(ms::NOATIME)),
    ("nodev", Effect::Set(ms::NODEV)),
    ("nodiratime", Effect::Set(ms::NODIRATIME)),
    ("noexec", Effect::Set(ms::NOEXEC)),
    ("noiversion", Effect::Clear(ms::I_VERSION)),
    ("nolazytime", Effect::Clear(ms::LAZYTIME)),
    ("nomand", Effect::Clear(ms::MANDLOCK)),
    ("norelatime", Effect::Clear(ms::RELATIME)),
    ("nostrictatime", Effect::Clear(ms::STRICTATIME)),
    ("nosuid", Effect::Set(ms::NOSUID)),
    ("nosymfollow", Effect::Set(ms::NOSYMFOLLOW)),
    ("rbind", Effect::Set(ms::BIND | ms::REC)),
    ("relatime", Effect::Set(ms::RELATIME)),
    ("remount", Effect::Set(ms::REMOUNT)),
    ("ro", Effect::Set(ms::RDONLY)),
    ("rw", Effect::Clear(ms::RDONLY)),
    ("silent", Effect::Set(ms::SILENT)),
    ("strictatime", Effect::Set(ms::STRICTATIME)),
    ("suid", Effect::Clear(ms::NOSUID)),
    ("symfollow", Effect::Clear(ms::NOSYMFOLLOW)),
    ("sync", Effect::Set(ms::SYNCHRONOUS)),
    ("private", Effect::Propagation(ms::PRIVATE)),
    ("rprivate", Effect::Propagation(ms::PRIVATE | ms::REC)),
    ("shared", Effect::Propagation(ms::SHARED)),
    ("rshared", Effect::Propagation(ms::SHARED | ms::REC)),
    ("slave", Effect::Propagation(ms::SLAVE)),
    ("rslave", Effect::Propagation(ms::SLAVE | ms::REC)),
    ("unbindable", Effect::Propagation(ms::UNBINDABLE)),
    ("runbindable", Effect::Propagation(ms::UNBINDABLE | ms::REC)),
    ("rro", Effect::Recursive(false, attr::RDONLY)),
    ("rrw", Effect::Recursive(true, attr::RDONLY)),
    ("rnosuid", Effect::Recursive(false, attr::NOSUID)),
    ("rsuid", Effect::Recursive(true, attr::NOSUID)),
    ("rnodev", Effect::Recursive(false, attr::NODEV)),
    ("rdev", Effect::Recursive(true, attr::NODEV)),
    ("rnoexec", Effect::Recursive(false, attr::NOEXEC)),
    ("rexec", Effect::Recursive(true, attr::NOEXEC)),
    ("rnodiratime", Effect::Recursive(false, attr::NODIRATIME)),
    ("rdiratime", Effect::Recursive(true, attr::NODIRATIME)),
    ("rrelatime", Effect::Recursive(false, attr::RELATIME)),
    ("rnorelatime", Effect::Recursive(true, attr::RELATIME)),
    ("rnoatime", Effect::Recursive(false, attr::NOATIME)),
    ("ratime", Effect::Recursive(true, attr::NOATIME)),
    ("rstrictatime", Effect::Recursive(false, attr::STRICTATIME)),
    ("rnostrictatime", Effect::Recursive(true, attr::STRICTATIME)),
    ("rnosymfollow", Effect::Recursive(false, attr::NOSYMFOLLOW)),
    ("rsymfollow", Effect::Recursive(true, attr::NOSYMFOLLOW)),
    ("idmap", Effect::Idmap(false)),
    ("ridmap", Effect::Idmap(true)),
    ("tmpcopyup", Effect::TmpCopyUp),
];

/// Every option string the parser accepts as a flag, propagation or recursive attribute
/// (fs data is accepted too but is open-ended). Kept in sync with `TABLE` by a unit test.
pub const SUPPORTED_MOUNT_OPTIONS: &[&str] = &[
    "acl",
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noacl",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rw",
    "silent",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnodiratime",
    "rdiratime",
    "rrelatime",
    "rnorelatime",
    "rnoatime",
    "ratime",
    "rstrictatime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
    "idmap",
    "ridmap",
    "tmpcopyup",
];

/// Recursive attributes for `mount_setattr(2)`: bits to set and bits to clear.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecursiveAttrs {
    pub set: u64,
    pub clear: u64,
}

/// The parsed options of one mount.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// `MS_*` flags after applying every set/clear option in order.
    pub flags: u64,
    /// `MS_*` bits some option explicitly cleared (`rw`, `suid`, ...): on a user-namespace remount
    /// these must not be re-added from the source's locked flags.
    pub cleared: u64,
    /// Propagation changes (`MS_SHARED|MS_REC`, ...), each one `mount(2)` call, in order.
    pub propagation: Vec<u64>,
    /// Recursive attributes, `None` when no `r*` attribute option was given.
    pub recursive: Option<RecursiveAttrs>,
    /// Unknown options, comma-joined, passed as fs data.
    pub data: String,
    /// `idmap` (`Some(false)`) or `ridmap` (`Some(true)`); the last one given wins.
    pub idmap: Option<bool>,
    /// `tmpcopyup`.
    pub tmpcopyup: bool,
}

impl MountOptions {
    /// Whether `bind` or `rbind` was among the options.
    pub fn is_bind(&self) -> bool {
        self.flags & ms::BIND != 0
    }

    /// Whether `rbind` (bind + recursive) was among the options.
    pub fn is_recursive_bind(&self) -> bool {
        self.flags & (ms::BIND | ms::REC) == ms::BIND | ms::REC
    }

    /// Flags a bind mount must apply with a second `MS_REMOUNT|MS_BIND` call (the first bind
    /// ignores everything but `MS_BIND|MS_REC`), or 0 when no remount is needed (runc's rule).
    pub fn remount_flags(&self) -> u64 {
        self.flags & !(ms::BIND | ms::REC | ms::REMOUNT)
    }
}

/// Parse the `options` of one mount, in order.
pub fn parse<S: AsRef<str>>(options: &[S]) -> MountOptions {
    let mut out = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for option in options {
        let option = option.as_ref();
        match TABLE
            .iter()
            .find(|(name, _)| *name == option)
            .map(|(_, e)| *e)
        {
            Some(Effect::Set(bits)) => {
                out.flags |= bits;
                out.cleared &= !bits;
            }
            Some(Effect::Clear(bits)) => {
                out.flags &= !bits;
                out.cleared |= bits;
            }
            Some(Effect::Propagation(bits)) => out.propagation.push(bits),
            Some(Effect::Recursive(clear, bit)) => {
                let rec = out.recursive.get_or_insert_with(RecursiveAttrs::default);
                if clear {
                    rec.clear |= bit;
                } else {
                    rec.set |= bit;
                    // mount_setattr(2): an access-time value in attr_set needs the whole
                    // MOUNT_ATTR__ATIME mask in attr_clr.
                    if bit & attr::ATIME_MASK == bit {
                        rec.clear |= attr::ATIME_MASK;
                    }
                }
            }
            Some(Effect::Idmap(recursive)) => out.idmap = Some(recursive),
            Some(Effect::TmpCopyUp) => out.tmpcopyup = true,
            None => data.push(option),
        }
    }
    out.data = data.join(",");
    out
}

/// The flag for a `linux.rootfsPropagation` value, `None` when it is not a propagation mode.
pub fn propagation_flag(value: &str) -> Option<u64> {
    match TABLE.iter().find(|(name, _)| *name == value)?.1 {
        Effect::Propagation(bits) => Some(bits),
        _ => None,
    }
}

/// `MOUNT_ATTR_*` bits for the per-mount `MS_*` bits of `flags`, access time resolved as
/// mount(2) does: `noatime` wins, then `strictatime`, else `relatime` (the value 0).
pub fn mount_attrs(flags: u64) -> u64 {
    let pairs = [
        (ms::RDONLY, attr::RDONLY),
        (ms::NOSUID, attr::NOSUID),
        (ms::NODEV, attr::NODEV),
        (ms::NOEXEC, attr::NOEXEC),
        (ms::NODIRATIME, attr::NODIRATIME),
        (ms::NOSYMFOLLOW, attr::NOSYMFOLLOW),
    ];
    let mut out = pairs
        .iter()
        .filter(|(m, _)| flags & m != 0)
        .fold(0, |acc, (_, a)| acc | a);
    if flags & ms::NOATIME != 0 {
        out |= attr::NOATIME;
    } else if flags & ms::STRICTATIME != 0 {
        out |= attr::STRICTATIME;
    }
    out
}

/// Whether `flags` say anything about access times (mount(2) keeps the old setting otherwise).
pub fn has_atime(flags: u64) -> bool {
    flags & (ms::NOATIME | ms::NODIRATIME | ms::RELATIME | ms::STRICTATIME) != 0
}

/// The superblock parameters `fsconfig(FSCONFIG_SET_FLAG)` takes for the superblock `MS_*` bits
/// of `flags` (what mount(2) passes as `sb_flags`). `MS_SILENT` has no twin: with a filesystem
/// context the kernel's messages go to the context, never to the kernel log, which is what
/// `silent` asks for.
pub fn superblock_params(flags: u64) -> Vec<&'static str> {
    [
        (ms::RDONLY, "ro"),
        (ms::SYNCHRONOUS, "sync"),
        (ms::DIRSYNC, "dirsync"),
        (ms::MANDLOCK, "mand"),
        (ms::LAZYTIME, "lazytime"),
        (ms::POSIXACL, "acl"),
        (ms::I_VERSION, "iversion"),
    ]
    .iter()
    .filter(|(m, _)| flags & m != 0)
    .map(|(_, name)| *name)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        parse(opts)
    }

    #[test]
    fn ms_flags_map_to_mount_attributes_and_superblock_params() {
        let o = p(&[
            "ro",
            "nosuid",
            "nodev",
            "noexec",
            "nodiratime",
            "sync",
            "dirsync",
        ]);
        assert_eq!(
            mount_attrs(o.flags),
            attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC | attr::NODIRATIME
        );
        assert_eq!(superblock_params(o.flags), vec!["ro", "sync", "dirsync"]);
        assert_eq!(mount_attrs(p(&["strictatime"]).flags), attr::STRICTATIME);
        assert_eq!(
            mount_attrs(p(&["strictatime", "noatime"]).flags),
            attr::NOATIME
        );
        assert_eq!(mount_attrs(p(&["relatime"]).flags), attr::RELATIME);
        assert!(has_atime(p(&["relatime"]).flags) && !has_atime(p(&["ro"]).flags));
    }

    #[test]
    fn every_flag_option_sets_or_clears_its_bit() {
        let cases: &[(&str, &str, u64)] = &[
            ("ro", "rw", ms::RDONLY),
            ("nosuid", "suid", ms::NOSUID),
            ("nodev", "dev", ms::NODEV),
            ("noexec", "exec", ms::NOEXEC),
            ("sync", "async", ms::SYNCHRONOUS),
            ("mand", "nomand", ms::MANDLOCK),
            ("noatime", "atime", ms::NOATIME),
            ("nodiratime", "diratime", ms::NODIRATIME),
            ("relatime", "norelatime", ms::RELATIME),
            ("strictatime", "nostrictatime", ms::STRICTATIME),
            ("nosymfollow", "symfollow", ms::NOSYMFOLLOW),
            ("acl", "noacl", ms::POSIXACL),
            ("iversion", "noiversion", ms::I_VERSION),
            ("lazytime", "nolazytime", ms::LAZYTIME),
            ("silent", "loud", ms::SILENT),
        ];
        for &(set, clear, bit) in cases {
            let o = p(&[set]);
            assert_eq!(o.flags, bit, "{set}");
            assert_eq!(o.cleared, 0, "{set}");
            let o = p(&[set, clear]);
            assert_eq!(o.flags, 0, "{set},{clear}");
            assert_eq!(o.cleared, bit, "{set},{clear}");
            let o = p(&[clear, set]);
            assert_eq!(o.flags, bit, "{clear},{set}");
            assert_eq!(o.cleared, 0, "{clear},{set}");
        }
        assert_eq!(p(&["dirsync"]).flags, ms::DIRSYNC);
        assert_eq!(p(&["defaults"]).flags, 0);
        assert_eq!(p(&["remount"]).flags, ms::REMOUNT);
    }

    #[test]
    fn bind_and_rbind() {
        let o = p(&["bind", "ro"]);
        assert!(o.is_bind() && !o.is_recursive_bind());
        assert_eq!(o.remount_flags(), ms::RDONLY);
        let o = p(&["rbind"]);
        assert!(o.is_bind() && o.is_recursive_bind());
        assert_eq!(o.remount_flags(), 0);
    }

    #[test]
    fn propagation_options_are_separate_calls_in_order() {
        let o = p(&["rbind", "rprivate", "shared", "rslave", "unbindable"]);
        assert_eq!(
            o.propagation,
            vec![
                ms::PRIVATE | ms::REC,
                ms::SHARED,
                ms::SLAVE | ms::REC,
                ms::UNBINDABLE
            ]
        );
        assert_eq!(o.flags, ms::BIND | ms::REC);
        assert_eq!(propagation_flag("rshared"), Some(ms::SHARED | ms::REC));
        assert_eq!(propagation_flag("private"), Some(ms::PRIVATE));
        assert_eq!(
            propagation_flag("runbindable"),
            Some(ms::UNBINDABLE | ms::REC)
        );
        assert_eq!(propagation_flag("ro"), None);
        assert_eq!(propagation_flag("bogus"), None);
    }

    #[test]
    fn recursive_attributes() {
        let o = p(&[
            "rro",
            "rnosuid",
            "rnodev",
            "rnoexec",
            "rnodiratime",
            "rnosymfollow",
        ]);
        let r = o.recursive.unwrap();
        assert_eq!(
            r.set,
            attr::RDONLY
                | attr::NOSUID
                | attr::NODEV
                | attr::NOEXEC
                | attr::NODIRATIME
                | attr::NOSYMFOLLOW
        );
        assert_eq!(r.clear, 0);
        assert_eq!(o.flags, 0);

        let r = p(&["rrw", "rsuid", "rdev", "rexec", "rdiratime", "rsymfollow"])
            .recursive
            .unwrap();
        assert_eq!(r.set, 0);
        assert_eq!(
            r.clear,
            attr::RDONLY
                | attr::NOSUID
                | attr::NODEV
                | attr::NOEXEC
                | attr::NODIRATIME
                | attr::NOSYMFOLLOW
        );

        // Access-time values also clear the whole mask (mount_setattr(2)).
        let r = p(&["rnoatime"]).recursive.unwrap();
        assert_eq!((r.set, r.clear), (attr::NOATIME, attr::ATIME_MASK));
        let r = p(&["rstrictatime"]).recursive.unwrap();
        assert_eq!((r.set, r.clear), (attr::STRICTATIME, attr::ATIME_MASK));
        let r = p(&["rrelatime"]).recursive.unwrap();
        assert_eq!((r.set, r.clear), (attr::RELATIME, attr::ATIME_MASK));
        let r = p(&["ratime"]).recursive.unwrap();
        assert_eq!((r.set, r.clear), (0, attr::NOATIME));
        let r = p(&["rnostrictatime"]).recursive.unwrap();
        assert_eq!((r.set, r.clear), (0, attr::STRICTATIME));
        assert!(p(&["ro"]).recursive.is_none());
    }

    #[test]
    fn unknown_options_are_fs_data_in_order() {
        let o = p(&["nosuid", "size=65536k", "mode=755", "noexec", "uid=1000"]);
        assert_eq!(o.flags, ms::NOSUID | ms::NOEXEC);
        assert_eq!(o.data, "size=65536k,mode=755,uid=1000");
        let o = p(&["newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]);
        assert_eq!(o.flags, 0);
        assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
        assert_eq!(p(&[]).data, "");
    }

    #[test]
    fn idmap_ridmap_and_tmpcopyup_are_options_not_data() {
        assert_eq!(p(&["rbind", "idmap"]).idmap, Some(false));
        assert_eq!(p(&["rbind", "ridmap"]).idmap, Some(true));
        assert_eq!(p(&["ridmap", "idmap"]).idmap, Some(false));
        assert_eq!(p(&["rbind"]).idmap, None);
        let o = p(&["tmpcopyup", "size=1m"]);
        assert!(o.tmpcopyup);
        assert_eq!(o.data, "size=1m");
    }

    #[test]
    fn supported_list_matches_table() {
        let table: Vec<&str> = TABLE.iter().map(|(n, _)| *n).collect();
        assert_eq!(table, SUPPORTED_MOUNT_OPTIONS);
    }
}
