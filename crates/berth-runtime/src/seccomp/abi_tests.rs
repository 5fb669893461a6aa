//! Unit tests for the filter on every ABI berth claims (issue #13): the syscall tables against
//! libc and the kernel's own tables, i386's 32-bit arguments and multiplexers, checked on the
//! compiled program by a classic-BPF interpreter (all three ABIs, x32 included, whatever the
//! kernel) and by the kernel in forked children (native `syscall` and `int 0x80`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::table;
use super::*;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32: u64 = 0x4000_0000;

fn plan(seccomp: Value) -> SeccompPlan {
    SeccompPlan::from_config(&json!({"linux": {"seccomp": seccomp}}))
        .unwrap()
        .unwrap()
}

// ---- tables ----

type Table = BTreeMap<String, i64>;

fn ours(list: &[(&str, i64)]) -> Table {
    let t: Table = list.iter().map(|(n, nr)| (n.to_string(), *nr)).collect();
    assert_eq!(t.len(), list.len(), "a name listed twice");
    t
}

/// Every entry of `reference` must be in `table` with the same number.
fn missing(table: &Table, reference: &Table) -> Vec<String> {
    reference
        .iter()
        .filter(|(n, nr)| table.get(*n) != Some(nr))
        .map(|(n, nr)| format!("{n} = {nr} (berth: {:?})", table.get(n)))
        .collect()
}

/// `#define __NR_name 12` or `#define __NR_name (__X32_SYSCALL_BIT + 12)`.
fn uapi_header(path: &Path) -> Option<Table> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut t = Table::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("#define __NR_") else {
            continue;
        };
        let (name, value) = rest.split_once(' ')?;
        let value = value.trim().trim_start_matches("(__X32_SYSCALL_BIT + ");
        let value = value.trim_end_matches(')');
        t.insert(name.to_string(), value.parse().ok()?);
    }
    Some(t)
}

/// arch/x86/entry/syscalls/*.tbl: `<number> <abi> <name> [entry points]`.
fn kernel_tbl(dir: &Path, file: &str, abis: &[&str]) -> Option<Table> {
    let text = std::fs::read_to_string(dir.join(file)).ok()?;
    let mut t = Table::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('#').next()?.split_whitespace().collect();
        if f.len() >= 3 && abis.contains(&f[1]) {
            t.insert(f[2].to_string(), f[0].parse().ok()?);
        }
    }
    Some(t)
}

/// The kernel tree to compare with: `$BERTH_KERNEL_SRC`, or an unpacked Debian linux-source.
fn kernel_tree() -> Option<PathBuf> {
    let sub = "arch/x86/entry/syscalls";
    if let Some(dir) = std::env::var_os("BERTH_KERNEL_SRC") {
        return Some(PathBuf::from(dir).join(sub));
    }
    let mut trees: Vec<PathBuf> = std::fs::read_dir("/usr/src")
        .ok()?
        .flatten()
        .map(|e| e.path().join(sub))
        .filter(|p| p.join("syscall_64.tbl").exists())
        .collect();
    trees.sort();
    trees.pop()
}

#[test]
fn tables_agree_with_libc_and_the_kernel() {
    let (x86_64, x86, x32) = (ours(table::X86_64), ours(table::X86), ours(table::X32));
    // libc's constants for this target, as compiled: always.
    let libc = ours(table::LIBC_X86_64);
    assert!(libc.len() > 300);
    assert_eq!(
        missing(&x86_64, &libc),
        Vec::<String>::new(),
        "x86_64 vs libc"
    );

    // The kernel's UAPI headers (linux-libc-dev), generated from the same tables.
    let include = Path::new("/usr/include/x86_64-linux-gnu/asm");
    for (file, table, abi) in [
        ("unistd_64.h", &x86_64, "x86_64"),
        ("unistd_32.h", &x86, "i386"),
        ("unistd_x32.h", &x32, "x32"),
    ] {
        match uapi_header(&include.join(file)) {
            Some(h) => assert_eq!(missing(table, &h), Vec::<String>::new(), "{abi} vs {file}"),
            None => crate::test_skip(
                "tables_agree_with_libc_and_the_kernel (part)",
                &format!(
                    "{} not readable: {abi} not compared with the UAPI header",
                    include.join(file).display()
                ),
            ),
        }
    }

    // The kernel's syscall tables themselves, both ways: a syscall the tree has and berth
    // lacks fails, and so does one berth has that the tree lacks, unless it was added by hand
    // as newer than the tree the table was generated from.
    let Some(dir) = kernel_tree() else {
        crate::test_skip("tables_agree_with_libc_and_the_kernel (part)", "no kernel tree (set BERTH_KERNEL_SRC to a Linux source tree, e.g. Debian's linux-source-6.12 unpacked): tables not compared with syscall_32.tbl/syscall_64.tbl");
        return;
    };
    for (file, abis, table, abi) in [
        ("syscall_64.tbl", &["common", "64"][..], &x86_64, "x86_64"),
        ("syscall_32.tbl", &["i386"][..], &x86, "i386"),
        ("syscall_64.tbl", &["common", "x32"][..], &x32, "x32"),
    ] {
        let tbl = kernel_tbl(&dir, file, abis).unwrap_or_else(|| panic!("{}", dir.display()));
        assert_eq!(
            missing(table, &tbl),
            Vec::<String>::new(),
            "{abi} vs {file}"
        );
        let extra: Vec<&String> = table
            .keys()
            .filter(|n| !tbl.contains_key(*n) && !table::NEWER_THAN_SOURCE.contains(&n.as_str()))
            .collect();
        assert!(extra.is_empty(), "{abi}: not in {file}: {extra:?}");
    }
}

#[test]
fn tables_have_the_syscalls_that_escaped_the_filter() {
    // Missing before issue #13: i386 arch_prctl and direct SysV IPC (Linux 5.1), x86_64/x32
    // io_pgetevents.
    for (name, nr) in [
        ("arch_prctl", 384),
        ("shmget", 395),
        ("shmat", 397),
        ("msgctl", 402),
    ] {
        assert_eq!(syscall_number(Abi::X86, name), Some(nr), "{name}");
    }
    assert_eq!(syscall_number(Abi::X86_64, "io_pgetevents"), Some(333));
    assert_eq!(
        syscall_number(Abi::X32, "io_pgetevents"),
        Some(0x4000_0000 | 333)
    );
    // No direct semop on i386: only through ipc.
    assert_eq!(syscall_number(Abi::X86, "semop"), None);
}

// ---- a classic-BPF interpreter for the compiled program ----

const LD_W_ABS: u16 = 0x20;
const ALU_AND_K: u16 = 0x54;
const JA: u16 = 0x05;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

/// What the program returns for `struct seccomp_data { nr, arch, ip, args[6] }`.
fn decide(plan: &SeccompPlan, arch: u32, nr: u64, args: [u64; 6]) -> u32 {
    let mut data = Vec::with_capacity(64);
    data.extend((nr as u32).to_le_bytes());
    data.extend(arch.to_le_bytes());
    data.extend(0u64.to_le_bytes());
    for a in args {
        data.extend(a.to_le_bytes());
    }
    let prog = plan.program();
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let ins = prog.get(pc).expect("fell off the program's end");
        pc += 1;
        let jump = |taken: bool| if taken { ins.jt } else { ins.jf } as usize;
        match ins.code {
            LD_W_ABS => {
                let k = ins.k as usize;
                acc = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
            }
            ALU_AND_K => acc &= ins.k,
            JA => pc += ins.k as usize,
            JEQ_K => pc += jump(acc == ins.k),
            JGT_K => pc += jump(acc > ins.k),
            JGE_K => pc += jump(acc >= ins.k),
            JSET_K => pc += jump(acc & ins.k != 0),
            RET_K => return ins.k,
            other => panic!("opcode {other:#x} at {}", pc - 1),
        }
    }
}

fn errno(e: u32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e
}
const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const DENIED: u32 = libc::SECCOMP_RET_ERRNO | 42;
const DENIED_ARG: u32 = libc::SECCOMP_RET_ERRNO | 43;
const MODE_06755: u64 = 0o6755;
const HIGH: u64 = 0xffff_ffff_0000_0000;

/// The profile of the report: a deny list on the three ABIs, default allow.
fn denylist() -> SeccompPlan {
    plan(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["shmget", "socket", "arch_prctl", "io_pgetevents"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 43,
             "args": [{"index": 1, "value": MODE_06755, "op": "SCMP_CMP_EQ"}]}]}))
}

#[test]
fn i386_multiplexers_follow_the_rules_of_their_calls() {
    let p = denylist();
    let i386 = |nr, args| decide(&p, AUDIT_ARCH_I386, nr, args);
    assert_eq!(i386(395, [0; 6]), DENIED, "direct shmget");
    assert_eq!(i386(117, [23, 0, 0, 0, 0, 0]), DENIED, "ipc(SHMGET)");
    assert_eq!(
        i386(117, [0x1_0017, 0, 0, 0, 0, 0]),
        DENIED,
        "ipc(SHMGET | version 1)"
    );
    assert_eq!(
        i386(117, [HIGH | 23, 0, 0, 0, 0, 0]),
        DENIED,
        "ipc(SHMGET), upper half set"
    );
    assert_eq!(
        i386(117, [22, 0, 0, 0, 0, 0]),
        ALLOW,
        "ipc(SHMDT) is not denied"
    );
    assert_eq!(i386(359, [0; 6]), DENIED, "direct socket");
    assert_eq!(
        i386(102, [1, 0, 0, 0, 0, 0]),
        DENIED,
        "socketcall(SYS_SOCKET)"
    );
    assert_eq!(
        i386(102, [HIGH | 1, 0, 0, 0, 0, 0]),
        DENIED,
        "socketcall(SYS_SOCKET), upper half set"
    );
    assert_eq!(
        i386(102, [2, 0, 0, 0, 0, 0]),
        ALLOW,
        "socketcall(SYS_BIND) is not denied"
    );
    assert_eq!(i386(384, [0; 6]), DENIED, "arch_prctl");
    assert_eq!(i386(385, [0; 6]), DENIED, "io_pgetevents");
    // x86_64 and x32 have no multiplexers: their 102 and 117 are getuid and setgid.
    assert_eq!(
        decide(&p, AUDIT_ARCH_X86_64, 102, [1, 0, 0, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(
        decide(&p, AUDIT_ARCH_X86_64, X32 | 117, [23, 0, 0, 0, 0, 0]),
        ALLOW
    );
}

#[test]
fn multiplexed_only_names_and_conditional_rules_reach_the_multiplexer() {
    // send/recv/semop exist on i386 only through socketcall/ipc; a conditional rule's
    // multiplexed variant matches on the call number alone (the arguments are in memory).
    let p = plan(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["send", "semop"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
            {"names": ["setsockopt"], "action": "SCMP_ACT_ERRNO", "errnoRet": 43,
             "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
    );
    let i386 = |nr, args| decide(&p, AUDIT_ARCH_I386, nr, args);
    assert_eq!(
        i386(102, [9, 0, 0, 0, 0, 0]),
        DENIED,
        "socketcall(SYS_SEND)"
    );
    assert_eq!(i386(117, [1, 0, 0, 0, 0, 0]), DENIED, "ipc(SEMOP)");
    assert_eq!(
        i386(102, [14, 0x1234, 0, 0, 0, 0]),
        DENIED_ARG,
        "socketcall(SYS_SETSOCKOPT)"
    );
    assert_eq!(
        i386(366, [0, 1, 0, 0, 0, 0]),
        DENIED_ARG,
        "direct setsockopt, level 1"
    );
    assert_eq!(
        i386(366, [0, 2, 0, 0, 0, 0]),
        ALLOW,
        "direct setsockopt, level 2"
    );
    // A rule on the multiplexer itself still applies, most restrictive action first.
    let p = plan(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["socketcall"], "action": "SCMP_ACT_ALLOW"},
                     {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]}),
    );
    assert_eq!(decide(&p, AUDIT_ARCH_I386, 102, [1, 0, 0, 0, 0, 0]), DENIED);
    assert_eq!(decide(&p, AUDIT_ARCH_I386, 102, [2, 0, 0, 0, 0, 0]), ALLOW);
}

#[test]
fn i386_arguments_are_compared_on_their_low_32_bits_for_every_operator() {
    // (op, value, valueTwo, low 32 bits of the argument, matches)
    let cases: &[(&str, u64, u64, u64, bool)] = &[
        ("SCMP_CMP_EQ", 5, 0, 5, true),
        ("SCMP_CMP_EQ", 5, 0, 6, false),
        ("SCMP_CMP_NE", 5, 0, 5, false),
        ("SCMP_CMP_NE", 5, 0, 6, true),
        ("SCMP_CMP_LT", 5, 0, 4, true),
        ("SCMP_CMP_LT", 5, 0, 5, false),
        ("SCMP_CMP_LE", 5, 0, 5, true),
        ("SCMP_CMP_LE", 5, 0, 6, false),
        ("SCMP_CMP_GT", 5, 0, 6, true),
        ("SCMP_CMP_GT", 5, 0, 5, false),
        ("SCMP_CMP_GE", 5, 0, 5, true),
        ("SCMP_CMP_GE", 5, 0, 4, false),
        ("SCMP_CMP_MASKED_EQ", 0xff00, 0x1200, 0x12ab, true),
        ("SCMP_CMP_MASKED_EQ", 0xff00, 0x1200, 0x13ab, false),
        // A value with upper bits: libseccomp keeps its low 32 bits on i386.
        ("SCMP_CMP_EQ", HIGH | 5, 0, 5, true),
    ];
    for &(op, value, value_two, arg, matches) in cases {
        let p = plan(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42,
                "args": [{"index": 1, "value": value, "valueTwo": value_two, "op": op}]}]}));
        let want = if matches { DENIED } else { ALLOW };
        for upper in [0, HIGH, 0x8000_0000_0000_0000, 0x1_0000_0000] {
            let got = decide(&p, AUDIT_ARCH_I386, 64, [0, upper | arg, 0, 0, 0, 0]);
            assert_eq!(got, want, "i386 {op} {value:#x} vs {:#x}", upper | arg);
        }
        // x86_64 and x32 take 64-bit arguments: the upper half counts there.
        if op == "SCMP_CMP_EQ" && value == 5 && matches {
            assert_eq!(
                decide(&p, AUDIT_ARCH_X86_64, 110, [0, 5, 0, 0, 0, 0]),
                DENIED
            );
            assert_eq!(
                decide(&p, AUDIT_ARCH_X86_64, 110, [0, HIGH | 5, 0, 0, 0, 0]),
                ALLOW
            );
            assert_eq!(
                decide(&p, AUDIT_ARCH_X86_64, X32 | 110, [0, 5, 0, 0, 0, 0]),
                DENIED
            );
        }
    }
}

#[test]
fn a_denied_syscall_and_an_argument_rule_hold_on_every_abi_in_the_program() {
    // The same attacks, decided by the program for each ABI (x32 cannot be run on a kernel
    // without CONFIG_X86_X32_ABI; the program's x32 section is checked here).
    let p = denylist();
    for (abi, arch, bit, shmget, chmod) in [
        ("x86_64", AUDIT_ARCH_X86_64, 0, 29, 90),
        ("x32", AUDIT_ARCH_X86_64, X32, 29, 90),
        ("i386", AUDIT_ARCH_I386, 0, 395, 15),
    ] {
        let run = |nr: u64, args| decide(&p, arch, bit | nr, args);
        assert_eq!(run(shmget, [0; 6]), DENIED, "{abi} shmget");
        assert_eq!(
            run(chmod, [0, MODE_06755, 0, 0, 0, 0]),
            DENIED_ARG,
            "{abi} chmod 06755"
        );
        assert_eq!(
            run(chmod, [0, 0o755, 0, 0, 0, 0]),
            ALLOW,
            "{abi} chmod 0755"
        );
    }
    let i386_chmod = decide(&p, AUDIT_ARCH_I386, 15, [0, HIGH | MODE_06755, 0, 0, 0, 0]);
    assert_eq!(
        i386_chmod, DENIED_ARG,
        "i386 chmod 06755 with the upper half set"
    );
}

#[test]
fn the_default_profile_fits_on_three_abis_with_the_multiplexers() {
    let p = SeccompPlan::from_config(&json!({"linux": {"seccomp": default_profile()}}))
        .unwrap()
        .unwrap();
    assert!(p.program().len() < 4096, "{}", p.program().len());
    eprintln!("default profile: {} instructions", p.program().len());
    // Every name of the tables allowed on three ABIs, the largest unconditional profile.
    let names: Vec<&str> = table::X86
        .iter()
        .chain(table::X86_64)
        .map(|(n, _)| *n)
        .collect();
    let all = plan(json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]}));
    assert!(all.program().len() < 4096, "{}", all.program().len());
    assert_eq!(
        decide(&p, AUDIT_ARCH_I386, 102, [1, 0, 0, 0, 0, 0]),
        ALLOW,
        "socketcall(SYS_SOCKET)"
    );
    assert_eq!(
        decide(&p, AUDIT_ARCH_I386, 117, [23, 0, 0, 0, 0, 0]),
        ALLOW,
        "ipc(SHMGET)"
    );
    assert_eq!(
        decide(&p, AUDIT_ARCH_I386, 359, [40, 1, 0, 0, 0, 0]),
        errno(libc::EPERM as u32),
        "AF_VSOCK"
    );
}

// ---- the kernel: forked children, native syscall and int 0x80 ----

#[derive(Clone, Copy, Debug)]
enum Entry {
    /// `syscall` (x86_64, or x32 with bit 30 in the number).
    Native,
    /// `int 0x80` from this 64-bit process: AUDIT_ARCH_I386, all six registers 64 bits wide.
    Int80,
}

/// Loads `plan` in a forked child and makes the call; the errno seen (0 on success) or 1000 +
/// the signal that killed the child.
fn run_filtered(plan: &SeccompPlan, entry: Entry, nr: u64, a: [u64; 5]) -> i32 {
    let program = plan.program().to_vec();
    let flags = plan.load_flags();
    // SAFETY: the child only makes raw syscalls (no allocation, no locks) and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: plain syscalls in the forked child; the asm blocks name every register the
        // kernel reads or clobbers (int 0x80 from 64-bit code zeroes r8-r11).
        unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            if sys::set_mode_filter(flags, &program).is_err() {
                libc::_exit(200);
            }
            let ret: i64;
            match entry {
                Entry::Native => core::arch::asm!(
                    "syscall",
                    inlateout("rax") nr as i64 => ret,
                    in("rdi") a[0], in("rsi") a[1], in("rdx") a[2], in("r10") a[3], in("r8") a[4],
                    lateout("rcx") _, lateout("r11") _,
                    options(nostack),
                ),
                Entry::Int80 => {
                    let r: i64;
                    core::arch::asm!(
                        "xchg rbx, {a0}",
                        "int 0x80",
                        "xchg rbx, {a0}",
                        a0 = inout(reg) a[0] => _,
                        inlateout("rax") nr as i64 => r,
                        in("rcx") a[1], in("rdx") a[2], in("rsi") a[3], in("rdi") a[4],
                        lateout("r8") _, lateout("r9") _, lateout("r10") _, lateout("r11") _,
                        options(nostack),
                    );
                    ret = r as i32 as i64; // the i386 ABI returns 32 bits
                }
            }
            libc::_exit(if (-4095..0).contains(&ret) {
                -ret as i32
            } else {
                0
            });
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFSIGNALED(status) {
        1000 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

fn allow_all() -> SeccompPlan {
    plan(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]}))
}

/// Whether this kernel runs x32 syscalls (CONFIG_X86_X32_ABI): x32 getpid, unfiltered.
fn kernel_has_x32() -> bool {
    run_filtered(&allow_all(), Entry::Native, X32 | 39, [0; 5]) != libc::ENOSYS
}

const EINVAL: i32 = libc::EINVAL;
const EFAULT: i32 = libc::EFAULT;

#[test]
fn int80_shmget_and_arch_prctl_are_denied_by_the_i386_table() {
    // Without the filter: the calls run (shmget of size 0 fails with EINVAL in the kernel,
    // compat arch_prctl(ARCH_GET_FS) too): the denial below is the filter's.
    assert_eq!(
        run_filtered(&allow_all(), Entry::Int80, 395, [0; 5]),
        EINVAL
    );
    let p = denylist();
    assert_eq!(
        run_filtered(&p, Entry::Int80, 395, [0; 5]),
        42,
        "int 0x80 shmget"
    );
    assert_eq!(
        run_filtered(&p, Entry::Int80, 384, [0x1003, 0, 0, 0, 0]),
        42,
        "int 0x80 arch_prctl"
    );
    assert_eq!(
        run_filtered(&p, Entry::Int80, 20, [0; 5]),
        0,
        "int 0x80 getpid is allowed"
    );
    assert_eq!(
        run_filtered(&p, Entry::Native, 29, [0; 5]),
        42,
        "x86_64 shmget"
    );
    assert_eq!(
        run_filtered(&p, Entry::Native, 333, [0; 5]),
        42,
        "x86_64 io_pgetevents"
    );
}

#[test]
fn int80_ipc_shmget_is_denied_by_a_shmget_rule() {
    assert_eq!(
        run_filtered(&allow_all(), Entry::Int80, 117, [23, 0, 0, 0, 0]),
        EINVAL
    );
    let p = denylist();
    assert_eq!(
        run_filtered(&p, Entry::Int80, 117, [23, 0, 0, 0, 0]),
        42,
        "ipc(SHMGET)"
    );
    // The kernel ignores ipc's upper 16 bits (a version) for SHMGET: so does the filter.
    assert_eq!(
        run_filtered(&allow_all(), Entry::Int80, 117, [0x1_0017, 0, 0, 0, 0]),
        EINVAL
    );
    assert_eq!(
        run_filtered(&p, Entry::Int80, 117, [0x1_0017, 0, 0, 0, 0]),
        42,
        "ipc(SHMGET | 1 << 16)"
    );
    assert_eq!(
        run_filtered(&p, Entry::Int80, 117, [HIGH | 23, 0, 0, 0, 0]),
        42,
        "ipc(SHMGET), rbx upper half set"
    );
    // ipc(SHMDT, NULL) is not denied: the kernel answers EINVAL.
    assert_eq!(
        run_filtered(&p, Entry::Int80, 117, [22, 0, 0, 0, 0]),
        EINVAL
    );
}

#[test]
fn int80_socketcall_socket_is_denied_by_a_socket_rule() {
    // socketcall reads its arguments from the (NULL) block: EFAULT when it runs.
    assert_eq!(
        run_filtered(&allow_all(), Entry::Int80, 102, [1, 0, 0, 0, 0]),
        EFAULT
    );
    let p = denylist();
    assert_eq!(
        run_filtered(&p, Entry::Int80, 102, [1, 0, 0, 0, 0]),
        42,
        "socketcall(SYS_SOCKET)"
    );
    assert_eq!(
        run_filtered(&p, Entry::Int80, 102, [HIGH | 1, 0, 0, 0, 0]),
        42,
        "upper half set"
    );
    assert_eq!(
        run_filtered(&p, Entry::Int80, 359, [2, 1, 0, 0, 0]),
        42,
        "direct socket"
    );
    assert_eq!(
        run_filtered(&p, Entry::Int80, 102, [2, 0, 0, 0, 0]),
        EFAULT,
        "socketcall(SYS_BIND) runs"
    );
    assert_eq!(
        run_filtered(&p, Entry::Native, 41, [2, 1, 0, 0, 0]),
        42,
        "x86_64 socket"
    );
}

#[test]
fn int80_chmod_argument_rule_holds_whatever_the_upper_32_bits() {
    // The kernel sees the upper half of rcx in seccomp_data.args[1] (this is what the filter
    // compared before) but chmod gets only the low 32 bits: mode 06755.
    // A rule on the upper half cannot be written: the native ABI is always filtered, and there
    // chmod's mode is 16 bits wide too (compile.rs, `condition`).
    let upper = SeccompPlan::from_config(&json!({"linux": {"seccomp": {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 43,
            "args": [{"index": 1, "value": HIGH | MODE_06755, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": HIGH}]}]}}}));
    assert!(
        matches!(upper, Err(SeccompError::ArgTooWide { .. })),
        "{upper:?}"
    );
    let p = denylist();
    assert_eq!(
        run_filtered(&p, Entry::Int80, 15, [0, MODE_06755, 0, 0, 0]),
        43
    );
    assert_eq!(
        run_filtered(&p, Entry::Int80, 15, [0, HIGH | MODE_06755, 0, 0, 0]),
        43,
        "upper half set"
    );
    assert_eq!(
        run_filtered(&p, Entry::Int80, 15, [0, 1 << 32 | MODE_06755, 0, 0, 0]),
        43
    );
    assert_eq!(
        run_filtered(&p, Entry::Int80, 15, [0, 0o755, 0, 0, 0]),
        EFAULT,
        "another mode runs"
    );
    assert_eq!(
        run_filtered(&p, Entry::Native, 90, [0, MODE_06755, 0, 0, 0]),
        43,
        "x86_64 chmod"
    );
    assert_eq!(
        run_filtered(&p, Entry::Native, 90, [0, 0o755, 0, 0, 0]),
        EFAULT
    );
}

#[test]
fn int80_every_operator_compares_32_bit_arguments() {
    for (op, value, value_two) in [
        ("SCMP_CMP_EQ", 5u64, 0u64),
        ("SCMP_CMP_NE", 6, 0),
        ("SCMP_CMP_LT", 6, 0),
        ("SCMP_CMP_LE", 5, 0),
        ("SCMP_CMP_GT", 4, 0),
        ("SCMP_CMP_GE", 5, 0),
        ("SCMP_CMP_MASKED_EQ", 0xff, 5),
    ] {
        let p = plan(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42,
                "args": [{"index": 1, "value": value, "valueTwo": value_two, "op": op}]}]}),
        );
        // Low half 5 matches every rule, whatever the upper half; 0x1_0000_0000 + 7 matches
        // none of them (7 is not 5, and is above every bound).
        for upper in [0, HIGH, 1 << 32] {
            assert_eq!(
                run_filtered(&p, Entry::Int80, 64, [0, upper | 5, 0, 0, 0]),
                42,
                "{op} {upper:#x}"
            );
        }
        let seven = run_filtered(&p, Entry::Int80, 64, [0, HIGH | 7, 0, 0, 0]);
        let want = if op == "SCMP_CMP_GT" || op == "SCMP_CMP_GE" || op == "SCMP_CMP_NE" {
            42
        } else {
            0
        };
        assert_eq!(seven, want, "{op} with 7");
    }
}

#[test]
fn x32_denied_syscall_and_argument_rule_are_decided_by_the_filter() {
    // The filter runs before the kernel dispatches, so its x32 decisions show even on a kernel
    // without x32: a denied call gets the rule's errno, an allowed one the kernel's ENOSYS.
    let p = denylist();
    let x32 = |nr: u64, a| run_filtered(&p, Entry::Native, X32 | nr, a);
    assert_eq!(x32(29, [0; 5]), 42, "x32 shmget");
    assert_eq!(x32(90, [0, MODE_06755, 0, 0, 0]), 43, "x32 chmod 06755");
    if kernel_has_x32() {
        assert_eq!(x32(90, [0, 0o755, 0, 0, 0]), EFAULT, "x32 chmod 0755 runs");
    } else {
        crate::test_skip("x32_denied_syscall_and_argument_rule_are_decided_by_the_filter (part)", "this kernel has no x32 ABI (CONFIG_X86_X32_ABI): x32 calls the filter allows cannot run here; only the filter's x32 decisions are tested");
        assert_eq!(
            x32(90, [0, 0o755, 0, 0, 0]),
            libc::ENOSYS,
            "allowed, then ENOSYS"
        );
    }
}

// ---- argument widths on x86_64 and x32 (the kernel reads `int` as 32 bits) ----

#[test]
fn argument_widths_are_the_kernels() {
    // From the definitions (SYSCALL_DEFINEn / COMPAT_SYSCALL_DEFINEn) the table was made from.
    for (abi, name, index, bits) in [
        (Abi::X86_64, "socket", 0, 32),      // int family
        (Abi::X86_64, "personality", 0, 32), // unsigned int
        (Abi::X86_64, "kill", 0, 32),        // pid_t
        (Abi::X86_64, "setuid", 0, 32),      // uid_t
        (Abi::X86_64, "keyctl", 0, 32),      // int option
        (Abi::X86_64, "keyctl", 1, 64),      // unsigned long
        (Abi::X86_64, "chmod", 1, 16),       // umode_t
        (Abi::X86_64, "openat", 0, 32),      // int dfd
        (Abi::X86_64, "openat", 3, 16),      // umode_t
        (Abi::X86_64, "clone", 0, 64),       // unsigned long flags
        (Abi::X86_64, "ioctl", 2, 64),       // unsigned long arg
        (Abi::X86_64, "getppid", 0, 64),     // no arguments: compared whole
        (Abi::X32, "ioctl", 2, 32),          // compat_sys_ioctl: compat_ulong_t
        (Abi::X32, "socket", 0, 32),
        (Abi::X32, "clone", 0, 64),
        (Abi::X86, "ioctl", 2, 32), // every i386 register is 32 bits
        (Abi::X86, "chown", 1, 16), // chown16: old_uid_t
        (Abi::X86, "chown32", 1, 32),
        (Abi::X86_64, "file_getattr", 4, 32), // newer than the tree: by hand
    ] {
        assert_eq!(
            arg_bits(abi, name, index),
            bits,
            "{abi:?} {name} argument {index}"
        );
    }
}

/// A profile with one rule on `name`'s argument `index`, on x86_64 and x32.
fn narrow_rule(name: &str, index: u8, op: &str, value: u64, value_two: u64) -> SeccompPlan {
    plan(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "syscalls": [{"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": 42,
            "args": [{"index": index, "value": value, "valueTwo": value_two, "op": op}]}]}))
}

/// The upper halves a caller can put in a register the kernel reads 32 bits of.
const UPPERS: [u64; 5] = [
    0,
    HIGH,
    0x1_0000_0000,
    0x8000_0000_0000_0000,
    0x1234_5678_0000_0000,
];

#[test]
fn narrow_arguments_on_x86_64_and_x32_are_compared_on_their_low_32_bits_for_every_operator() {
    // socket's family is an int: (op, value, valueTwo, low 32 bits of the argument, matches).
    let cases: &[(&str, u64, u64, u64, bool)] = &[
        ("SCMP_CMP_EQ", 40, 0, 40, true),
        ("SCMP_CMP_EQ", 40, 0, 41, false),
        ("SCMP_CMP_NE", 40, 0, 40, false),
        ("SCMP_CMP_NE", 40, 0, 2, true),
        ("SCMP_CMP_LT", 40, 0, 39, true),
        ("SCMP_CMP_LT", 40, 0, 40, false),
        ("SCMP_CMP_LE", 40, 0, 40, true),
        ("SCMP_CMP_LE", 40, 0, 41, false),
        ("SCMP_CMP_GT", 40, 0, 41, true),
        ("SCMP_CMP_GT", 40, 0, 40, false),
        ("SCMP_CMP_GE", 40, 0, 40, true),
        ("SCMP_CMP_GE", 40, 0, 39, false),
        ("SCMP_CMP_MASKED_EQ", 0xff, 40, 0x1_28, true),
        ("SCMP_CMP_MASKED_EQ", 0xff, 40, 0x29, false),
        // A negative int written sign-extended (-1) is the 32-bit value 0xffffffff.
        ("SCMP_CMP_EQ", u64::MAX, 0, 0xffff_ffff, true),
        ("SCMP_CMP_GT", 0xffff_ffff_8000_0000, 0, 0x8000_0001, true),
        ("SCMP_CMP_GT", 0xffff_ffff_8000_0000, 0, 0x7fff_ffff, false),
    ];
    for &(op, value, value_two, low, matches) in cases {
        let p = narrow_rule("socket", 0, op, value, value_two);
        let want = if matches { DENIED } else { ALLOW };
        for upper in UPPERS {
            for (abi, nr) in [("x86_64", 41), ("x32", X32 | 41)] {
                let got = decide(&p, AUDIT_ARCH_X86_64, nr, [upper | low, 1, 0, 0, 0, 0]);
                assert_eq!(got, want, "{abi} {op} {value:#x} vs {:#x}", upper | low);
            }
        }
    }
}

#[test]
fn a_64_bit_argument_is_still_compared_whole() {
    // clone's flags are an unsigned long: the upper half is the kernel's too.
    let p = narrow_rule("clone", 0, "SCMP_CMP_EQ", 0x11, 0);
    assert_eq!(
        decide(&p, AUDIT_ARCH_X86_64, 56, [0x11, 0, 0, 0, 0, 0]),
        DENIED
    );
    assert_eq!(
        decide(&p, AUDIT_ARCH_X86_64, 56, [HIGH | 0x11, 0, 0, 0, 0, 0]),
        ALLOW
    );
    // x32's ioctl takes a compat_ulong_t, x86_64's an unsigned long.
    let p = narrow_rule("ioctl", 2, "SCMP_CMP_EQ", 7, 0);
    assert_eq!(
        decide(&p, AUDIT_ARCH_X86_64, 16, [0, 0, 1 << 32 | 7, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(
        decide(
            &p,
            AUDIT_ARCH_X86_64,
            X32 | 514,
            [0, 0, 1 << 32 | 7, 0, 0, 0]
        ),
        DENIED
    );
}

#[test]
fn a_16_bit_mode_is_compared_on_its_16_bits_for_every_operator() {
    // chmod's mode is an umode_t: the kernel ignores bits 16-63. Modes around each value, at
    // both ends and across the range, under every operator, with and without bits above them,
    // on x86_64, x32 and i386. (All 65 536 modes pass too, in ~40 s of a debug build.)
    type Holds = fn(u64, u64) -> bool;
    let ops: [(&str, Holds); 6] = [
        ("SCMP_CMP_EQ", |x, v| x == v),
        ("SCMP_CMP_NE", |x, v| x != v),
        ("SCMP_CMP_LT", |x, v| x < v),
        ("SCMP_CMP_LE", |x, v| x <= v),
        ("SCMP_CMP_GT", |x, v| x > v),
        ("SCMP_CMP_GE", |x, v| x >= v),
    ];
    for (op, holds) in ops {
        for v in [0, 1, MODE_06755, 0x8000, 0xfffe, 0xffff] {
            let p = plan(json!({"defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42,
                    "args": [{"index": 1, "value": v, "op": op}]}]}));
            let mut modes: Vec<u64> = (0..256).chain(0xff00..=0xffff).collect();
            modes.extend((0..=0xffffu64).step_by(97));
            modes.extend((v.saturating_sub(3)..=(v + 3).min(0xffff)).chain([v ^ 0x8000]));
            for x in modes {
                let want = if holds(x, v) { DENIED } else { ALLOW };
                // The upper bits vary with x so that every mode meets several of them.
                let upper = [0, 0x1_0000, 0xffff_0000, HIGH | 0xffff_0000][x as usize % 4];
                for (abi, arch, nr) in [
                    ("x86_64", AUDIT_ARCH_X86_64, 90),
                    ("x32", AUDIT_ARCH_X86_64, X32 | 90),
                    ("i386", AUDIT_ARCH_I386, 15),
                ] {
                    let got = decide(&p, arch, nr, [0, upper | x, 0, 0, 0, 0]);
                    assert_eq!(got, want, "{abi} {op} {v:#o}: mode {:#x}", upper | x);
                }
            }
        }
    }
    // MASKED_EQ under a mask wider than 16 bits on x86_64 is refused (below); on 16 bits:
    let p = narrow_rule("chmod", 1, "SCMP_CMP_MASKED_EQ", 0o7777, MODE_06755);
    for upper in UPPERS.into_iter().chain([0x1_0000, 0xffff_0000]) {
        for nr in [90, X32 | 90] {
            let got = decide(&p, AUDIT_ARCH_X86_64, nr, [0, upper | 0o106755, 0, 0, 0, 0]);
            assert_eq!(got, DENIED, "{:#x}", upper | 0o106755);
            let got = decide(&p, AUDIT_ARCH_X86_64, nr, [0, upper | 0o755, 0, 0, 0, 0]);
            assert_eq!(got, ALLOW, "{:#x}", upper | 0o755);
        }
    }
    // LT 0 never matches: chmod is not in the group at all (not an unconditional rule).
    let p = narrow_rule("chmod", 1, "SCMP_CMP_LT", 0, 0);
    assert_eq!(decide(&p, AUDIT_ARCH_X86_64, 90, [0, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(
        decide(&p, AUDIT_ARCH_X86_64, 90, [0, 0x1_0000, 0, 0, 0, 0]),
        ALLOW
    );
}

#[test]
fn a_rule_value_no_narrow_argument_can_have_is_refused_with_the_field() {
    for (op, value, value_two) in [
        ("SCMP_CMP_EQ", 0x1_0000_0028u64, 0u64),
        ("SCMP_CMP_NE", 0xffff_ffff_0000_0028, 0), // upper half set, bit 31 clear
        ("SCMP_CMP_MASKED_EQ", 0x1_0000_00ff, 40), // the mask
        ("SCMP_CMP_MASKED_EQ", u64::MAX, 0x1_0000_0028), // the datum under the mask
    ] {
        let err = SeccompPlan::from_config(&json!({"linux": {"seccomp": {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": value, "valueTwo": value_two, "op": op}]}]}}}))
        .unwrap_err();
        assert!(
            matches!(err, SeccompError::ArgTooWide { .. }),
            "{op}: {err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("config.json: linux.seccomp.syscalls[1].args: value 0x1")
                || err
                    .to_string()
                    .starts_with("config.json: linux.seccomp.syscalls[1].args: value 0xffffffff0"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("for argument 0 of socket: the kernel reads that argument as 32 bits"),
            "{err}"
        );
    }
    // Sign-extended and zero-extended 32-bit values are fine, and the same on a 64-bit
    // argument (clone's flags) is a plain 64-bit rule.
    narrow_rule("socket", 0, "SCMP_CMP_EQ", 0xffff_ffff_ffff_ff9c, 0);
    narrow_rule("socket", 0, "SCMP_CMP_EQ", 0xffff_ffff, 0);
    narrow_rule("clone", 0, "SCMP_CMP_EQ", 0x1_0000_0028, 0);
    // 16 bits: the mode must be a 16-bit value.
    let err = SeccompPlan::from_config(&json!({"linux": {"seccomp": {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 1, "value": 0x1_0ded, "op": "SCMP_CMP_EQ"}]}]}}}))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "config.json: linux.seccomp.syscalls[0].args: value 0x10ded for argument 1 of chmod: the kernel reads that argument as 16 bits, and no 16-bit value is 0x10ded (a 16-bit value has its upper bits all zero or a sign extension)"
    );
}

#[test]
fn the_default_profile_refuses_af_vsock_whatever_the_upper_half() {
    let p = SeccompPlan::from_config(&json!({"linux": {"seccomp": default_profile()}}))
        .unwrap()
        .unwrap();
    let eperm = errno(libc::EPERM as u32);
    for upper in UPPERS {
        for (abi, arch, nr) in [
            ("x86_64", AUDIT_ARCH_X86_64, 41),
            ("x32", AUDIT_ARCH_X86_64, X32 | 41),
            ("i386", AUDIT_ARCH_I386, 359),
        ] {
            let vsock = decide(&p, arch, nr, [upper | 40, 1, 0, 0, 0, 0]);
            assert_eq!(vsock, eperm, "{abi} socket({:#x})", upper | 40);
            let inet = decide(&p, arch, nr, [upper | 2, 1, 0, 0, 0, 0]);
            assert_eq!(inet, ALLOW, "{abi} socket({:#x})", upper | 2);
        }
    }
}
