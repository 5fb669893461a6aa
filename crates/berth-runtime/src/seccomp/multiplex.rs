//! i386's `socketcall` and `ipc` multiplexers: a rule on a socket or SysV IPC syscall also
//! applies to the multiplexer with that call's number in its first argument, as libseccomp
//! does (`abi_rule_add` in libseccomp's src/syscalls.c, used for SCMP_ARCH_X86).
//!
//! i386 has had direct socket syscalls since Linux 4.3 and direct SysV IPC syscalls since 5.1,
//! but the multiplexers remain, so a profile that denies `shmget` must also deny
//! `ipc(SHMGET, …)`, and one that denies `socket` must deny `socketcall(SYS_SOCKET, …)`.
//! Names that exist only multiplexed on i386 (`send`, `recv`, `semop`, …) become the
//! multiplexed variant alone. x86_64 and x32 have no multiplexers.
//!
//! The demultiplexed call's own arguments are in user memory (socketcall) or shifted by one
//! (ipc), out of a filter's reach, so the multiplexed variant is matched on the call number
//! alone. libseccomp replaces a condition on the first argument by the call number (so
//! Docker's `socket` rule becomes `socketcall(SYS_SOCKET)` unconditionally, as here) but keeps
//! conditions on the other arguments, comparing them with the multiplexer's own registers (the
//! argument block's address, and registers socketcall ignores) that the caller picks freely: a
//! deny rule would then never match. berth drops them: a conditional rule's multiplexed
//! variant covers every call of that number.
//!
//! ipc's first argument carries a version in its upper 16 bits (`ksys_ipc`, `compat_ksys_ipc`
//! in ipc/syscall.c: `version = call >> 16; call &= 0xffff`), so the call number is compared
//! under the mask 0xffff: libseccomp's `arg0 == SHMGET` would let `ipc(SHMGET | 1 << 16)`
//! through.

use super::profile::{Abi, Cond, Op};

/// i386 `socketcall`.
pub const SOCKETCALL: i64 = 102;
/// i386 `ipc`.
pub const IPC: i64 = 117;

/// `SYS_*` of include/uapi/linux/net.h.
const SOCKET_CALLS: &[(&str, u64)] = &[
    ("socket", 1),
    ("bind", 2),
    ("connect", 3),
    ("listen", 4),
    ("accept", 5),
    ("getsockname", 6),
    ("getpeername", 7),
    ("socketpair", 8),
    ("send", 9),
    ("recv", 10),
    ("sendto", 11),
    ("recvfrom", 12),
    ("shutdown", 13),
    ("setsockopt", 14),
    ("getsockopt", 15),
    ("sendmsg", 16),
    ("recvmsg", 17),
    ("accept4", 18),
    ("recvmmsg", 19),
    ("sendmmsg", 20),
];

/// The ipc calls of include/uapi/linux/ipc.h (SEMOP … SHMCTL).
const IPC_CALLS: &[(&str, u64)] = &[
    ("semop", 1),
    ("semget", 2),
    ("semctl", 3),
    ("semtimedop", 4),
    ("msgsnd", 11),
    ("msgrcv", 12),
    ("msgget", 13),
    ("msgctl", 14),
    ("shmat", 21),
    ("shmdt", 22),
    ("shmget", 23),
    ("shmctl", 24),
];

/// The multiplexed form of `name` on `abi`: the multiplexer's number and the condition on its
/// first argument that selects the call. `None` for other names and ABIs.
pub fn variant(abi: Abi, name: &str) -> Option<(i64, Cond)> {
    if abi != Abi::X86 {
        return None;
    }
    let find = |list: &[(&str, u64)]| list.iter().find(|(n, _)| *n == name).map(|(_, c)| *c);
    if let Some(call) = find(SOCKET_CALLS) {
        // compat socketcall takes `int call` and refuses anything outside 1..=20: equality
        // on the 32 bits the filter compares on i386 is exact.
        let cond = Cond {
            index: 0,
            op: Op::Eq,
            value: call,
        };
        return Some((SOCKETCALL, cond));
    }
    find(IPC_CALLS).map(|call| {
        let cond = Cond {
            index: 0,
            op: Op::MaskedEq { mask: 0xffff },
            value: call,
        };
        (IPC, cond)
    })
}
