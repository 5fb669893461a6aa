//! cgroup v2 device control: an eBPF `BPF_PROG_TYPE_CGROUP_DEVICE` program emitted here
//! instruction by instruction (no clang, no libbpf), loaded with `bpf(BPF_PROG_LOAD)` and
//! attached to the container's cgroup directory with `bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE)`.
//!
//! cgroup v2 has no `devices.allow`/`devices.deny` files (kernel cgroup-v2.rst "Device
//! controller"): the kernel runs the attached program on every open/mknod of a device node and
//! denies the access when it returns 0. The program implements v1's list semantics: the rules
//! are checked last to first and the first one that matches decides; nothing matching is denied.
//!
//! The only `unsafe` of the module is in [`sys_bpf`].

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// One device rule after validation (`None` major/minor = any; `kind` 'a', 'b' or 'c').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Bits of `BPF_DEVCG_ACC_*`: mknod 1, read 2, write 4.
    pub access: u32,
}

impl DeviceRule {
    /// Parse the kernel v1 spelling `type major:minor access` (as in `devices.allow`).
    pub fn parse(allow: bool, text: &str) -> Option<DeviceRule> {
        let mut parts = text.split_whitespace();
        let kind = parts.next()?.chars().next()?;
        let (major, minor) = parts.next()?.split_once(':')?;
        let num = |s: &str| -> Option<Option<u32>> {
            if s == "*" {
                Some(None)
            } else {
                s.parse().ok().map(Some)
            }
        };
        let mut access = 0;
        for c in parts.next()?.chars() {
            access |= match c {
                'm' => ACC_MKNOD,
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                _ => return None,
            };
        }
        Some(DeviceRule {
            allow,
            kind,
            major: num(major)?,
            minor: num(minor)?,
            access,
        })
    }
}

const ACC_MKNOD: u32 = 1;
const ACC_READ: u32 = 2;
const ACC_WRITE: u32 = 4;
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// `struct bpf_insn` (linux/bpf.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8, // dst in the low nibble, src in the high nibble
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// The program for `rules` (in v1 order: later rules override earlier ones).
///
/// Registers after the prologue: r2 = device type, r3 = requested access, r4 = major,
/// r5 = minor (from `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`,
/// `access_type = access << 16 | type`).
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        // Conditions jump to the end of this block ("does not match") when they fail; the
        // offsets are filled in once the block's length is known.
        let mut block: Vec<Insn> = Vec::new();
        let mut jumps: Vec<usize> = Vec::new();
        match rule.kind {
            'b' => {
                jumps.push(block.len());
                block.push(insn(JMP_JNE_K, 2, 0, 0, DEV_BLOCK));
            }
            'c' => {
                jumps.push(block.len());
                block.push(insn(JMP_JNE_K, 2, 0, 0, DEV_CHAR));
            }
            _ => {}
        }
        let all = ACC_MKNOD | ACC_READ | ACC_WRITE;
        if rule.access & all != all {
            // Matches when the requested access is a subset of the rule's: (r3 & acc) == r3.
            block.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
            block.push(insn(ALU32_AND_K, 1, 0, 0, rule.access as i32));
            jumps.push(block.len());
            block.push(insn(JMP_JNE_X, 1, 3, 0, 0));
        }
        if let Some(major) = rule.major {
            jumps.push(block.len());
            block.push(insn(JMP_JNE_K, 4, 0, 0, major as i32));
        }
        if let Some(minor) = rule.minor {
            jumps.push(block.len());
            block.push(insn(JMP_JNE_K, 5, 0, 0, minor as i32));
        }
        block.push(insn(ALU32_MOV_K, 0, 0, 0, i32::from(rule.allow)));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        let unconditional = jumps.is_empty();
        for j in jumps {
            block[j].off = (len - j - 1) as i16;
        }
        p.extend(block);
        if unconditional {
            // It matches everything: earlier rules can never decide, and the verifier
            // refuses unreachable instructions.
            return p;
        }
    }
    // Nothing matched: deny.
    p.push(insn(ALU32_MOV_K, 0, 0, 0, 0));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// Errors of loading and attaching the program.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error("load the cgroup device eBPF program ({insns} instructions){}", verifier_suffix(.log))]
    Load {
        insns: usize,
        log: String,
        #[source]
        source: std::io::Error,
    },
    #[error("attach the cgroup device eBPF program to {path}")]
    Attach {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("open cgroup directory {path}")]
    Open {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn verifier_suffix(log: &str) -> String {
    if log.trim().is_empty() {
        String::new()
    } else {
        format!(": verifier: {}", log.trim())
    }
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The `BPF_PROG_LOAD` part of `union bpf_attr`.
#[repr(C, align(8))]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH` part of `union bpf_attr`.
#[repr(C, align(8))]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    // Spelled out rather than left as padding: the kernel refuses non-zero bytes here, and
    // padding is not guaranteed to be zero.
    relative_fd: u32,
    expected_revision: u64,
}

/// bpf(2) with an attribute struct.
fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, properly aligned `union bpf_attr` prefix of size_of::<T>()
    // bytes; the kernel reads (and for the log buffer, writes) only memory it describes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Load `insns` as a cgroup device program. On failure the verifier log is included.
pub fn load(insns: &[Insn]) -> Result<OwnedFd, BpfError> {
    let license = b"Apache-2.0\0";
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"berth_device");
    let attempt = |log: Option<&mut Vec<u8>>| {
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            prog_name: name,
            // Newer kernels check it against the attach type at BPF_PROG_ATTACH.
            expected_attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        if let Some(buf) = log {
            attr.log_level = 1;
            attr.log_size = buf.len() as u32;
            attr.log_buf = buf.as_mut_ptr() as u64;
        }
        sys_bpf(BPF_PROG_LOAD, &mut attr)
    };
    let fd = match attempt(None) {
        Ok(fd) => fd,
        Err(source) => {
            // Load again with a log buffer so the error says why the verifier refused.
            let mut buf = vec![0u8; 64 * 1024];
            let _ = attempt(Some(&mut buf));
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return Err(BpfError::Load {
                insns: insns.len(),
                log: String::from_utf8_lossy(&buf[..end]).into_owned(),
                source,
            });
        }
    };
    // SAFETY: bpf(BPF_PROG_LOAD) returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attach a loaded program to the cgroup open at `cgroup` (BPF_F_ALLOW_MULTI, as runc does, so
/// a nested runtime inside the container can still attach its own programs below).
pub fn attach(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    path: &std::path::Path,
) -> Result<(), BpfError> {
    let mut attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
        relative_fd: 0,
        expected_revision: 0,
    };
    sys_bpf(BPF_PROG_ATTACH, &mut attr)
        .map(|_| ())
        .map_err(|source| BpfError::Attach {
            path: path.to_path_buf(),
            source,
        })
}

/// Build, load and attach the program for `rules` to the cgroup directory `dir`.
pub fn install(dir: &std::path::Path, rules: &[DeviceRule]) -> Result<(), BpfError> {
    let prog = load(&program(rules))?;
    let cgroup = std::fs::File::open(dir).map_err(|source| BpfError::Open {
        path: dir.to_path_buf(),
        source,
    })?;
    use std::os::fd::AsFd;
    attach(cgroup.as_fd(), prog.as_fd(), dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rules() {
        assert_eq!(
            DeviceRule::parse(true, "c 1:3 rwm"),
            Some(DeviceRule {
                allow: true,
                kind: 'c',
                major: Some(1),
                minor: Some(3),
                access: 7
            })
        );
        assert_eq!(
            DeviceRule::parse(false, "a *:* r").map(|r| (r.major, r.access)),
            Some((None, 2))
        );
        assert_eq!(DeviceRule::parse(true, "c 1:3 x"), None);
    }

    #[test]
    fn program_shape_and_jump_offsets() {
        let rules = [
            DeviceRule::parse(false, "a *:* rwm").unwrap(),
            DeviceRule::parse(true, "c 1:3 rw").unwrap(),
        ];
        let p = program(&rules);
        // prologue 6; rule "c 1:3 rw" (last first): jne type, mov, and, jne acc, jne maj,
        // jne min, mov r0 1, exit = 8; rule "a" = 2, unconditional, so no epilogue.
        assert_eq!(p.len(), 6 + 8 + 2);
        let block = &p[6..14];
        // Every conditional jump lands just past the block.
        assert_eq!(block[0].off, 7);
        assert_eq!(block[3].off, 4);
        assert_eq!(block[4].off, 3);
        assert_eq!(block[5].off, 2);
        assert_eq!(block[6], insn(ALU32_MOV_K, 0, 0, 0, 1));
        // The deny-all rule is unconditional: mov r0 0; exit, and nothing after it.
        assert_eq!(p[14], insn(ALU32_MOV_K, 0, 0, 0, 0));
        assert_eq!(p.len(), 16);
    }
}
