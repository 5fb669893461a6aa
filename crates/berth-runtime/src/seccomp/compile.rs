//! [`Profile`] → one classic-BPF program, built from seccompiler's output.
//!
//! seccompiler compiles one syscall → rules map with a single match action and a single
//! mismatch action, for one architecture, behind its own arch check. An OCI profile has one
//! action per rule and up to three x86 ABIs, and needs actions seccompiler lacks
//! (SECCOMP_RET_USER_NOTIF). So berth:
//!
//! 1. groups the rules of each ABI by action, most restrictive first (the kernel's own
//!    precedence when filters stack). Unconditional syscalls get berth's own compact list
//!    (one `jeq` each: seccompiler's five instructions per syscall would not fit Docker's
//!    profile into 4096); the rules with argument conditions are compiled with seccompiler
//!    using two placeholder actions: match = ALLOW, mismatch = KILL_THREAD;
//! 2. strips seccompiler's 3-instruction arch check (berth dispatches on the arch itself) and
//!    rewrites the placeholders: every `ret ALLOW` becomes `ret <the group's real action>`,
//!    every `ret KILL_THREAD` becomes a jump to the next group; the ABI's section ends with
//!    `ret <defaultAction>`;
//! 3. prepends its own dispatch: `arch == X86_64` → (`nr & 0x40000000` → x32 section or the
//!    bad-ABI action) else the x86_64 section; `arch == I386` → the i386 section; any other
//!    arch → the bad-ABI action. So a syscall can never bypass the filter through an ABI the
//!    profile did not list: x32 numbers never reach the x86_64 section, int 0x80 never reaches
//!    it either.

use std::collections::BTreeMap;

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use super::profile::{Abi, Action, Cond, Op, Profile};
use super::table;
use super::SeccompError;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// What a syscall through an ABI the profile does not list gets. libseccomp's default
/// "bad arch" action is KILL (thread); berth kills the whole process, so a multi-threaded
/// program cannot survive half-killed (deviation documented in docs/security.md).
pub const BAD_ABI_ACTION: u32 = libc::SECCOMP_RET_KILL_PROCESS;
/// The kernel's limit on a classic BPF program (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;

/// BPF_LD | BPF_W | BPF_ABS.
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x05 | 0x10;
const JSET_K: u16 = 0x05 | 0x40;
const JA: u16 = 0x05;
const RET_K: u16 = 0x06;
const ARCH_OFFSET: u32 = 4;
const NR_OFFSET: u32 = 0;

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// Syscall number → its alternatives (OR of ANDed conditions); `None`: unconditional.
type SyscallRules = BTreeMap<i64, Option<Vec<Vec<Cond>>>>;

/// The syscall number of `name` in `abi`, or `None` if that ABI has no such syscall.
pub fn syscall_number(abi: Abi, name: &str) -> Option<i64> {
    type Index = std::collections::HashMap<&'static str, i64>;
    static INDEX: std::sync::OnceLock<[Index; 3]> = std::sync::OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let build = |list: &[(&'static str, i64)], bit: i64| {
            list.iter().map(|(n, nr)| (*n, nr | bit)).collect::<Index>()
        };
        [
            build(table::X86_64, 0),
            build(table::X86, 0),
            build(table::X32, i64::from(X32_SYSCALL_BIT)),
        ]
    });
    let i = match abi {
        Abi::X86_64 => 0,
        Abi::X86 => 1,
        Abi::X32 => 2,
    };
    index[i].get(name).copied()
}

/// Compiles a validated profile.
pub fn compile(profile: &Profile) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let mut sections: BTreeMap<Abi, Vec<sock_filter>> = BTreeMap::new();
    for &abi in &profile.abis {
        sections.insert(abi, section(profile, abi)?);
    }
    let bad = || vec![stmt(RET_K, BAD_ABI_ACTION)];
    let x86_64 = sections.remove(&Abi::X86_64).unwrap_or_else(bad);
    let x32 = sections.remove(&Abi::X32);
    let i386 = sections.remove(&Abi::X86);

    // x86_64 entry: load nr; x32 numbers (bit 30) go to the x32 section or are refused.
    let mut native = vec![stmt(LD_W_ABS, NR_OFFSET)];
    match &x32 {
        Some(_) => {
            native.push(jump(JSET_K, X32_SYSCALL_BIT, 0, 1));
            native.push(stmt(JA, (x86_64.len()) as u32)); // over the x86_64 section
        }
        None => {
            native.push(jump(JSET_K, X32_SYSCALL_BIT, 0, 1));
            native.push(stmt(RET_K, BAD_ABI_ACTION));
        }
    }
    native.extend(x86_64);
    if let Some(x32) = x32 {
        native.extend(x32);
    }

    let mut prog = vec![stmt(LD_W_ABS, ARCH_OFFSET)];
    prog.push(jump(JEQ_K, AUDIT_ARCH_X86_64, 0, 1));
    // The ja lands after the i386 dispatch and the bad-ABI return that follow it.
    let after_dispatch = if i386.is_some() { 3 } else { 1 };
    prog.push(stmt(JA, after_dispatch));
    if i386.is_some() {
        prog.push(jump(JEQ_K, AUDIT_ARCH_I386, 0, 1));
        prog.push(stmt(JA, (native.len() + 1) as u32)); // over the bad-ABI return and native
    }
    prog.push(stmt(RET_K, BAD_ABI_ACTION));
    prog.extend(native);
    if let Some(i386) = i386 {
        prog.extend(i386);
    }
    if prog.len() > MAX_INSNS {
        return Err(SeccompError::TooLarge(prog.len()));
    }
    Ok(prog
        .into_iter()
        .map(|f| libc::sock_filter {
            code: f.code,
            jt: f.jt,
            jf: f.jf,
            k: f.k,
        })
        .collect())
}

/// The rules of one ABI, one seccompiler group per action, ending with the default action.
fn section(profile: &Profile, abi: Abi) -> Result<Vec<sock_filter>, SeccompError> {
    // action → syscall number → alternatives; `None` means unconditional.
    let mut groups: BTreeMap<Action, SyscallRules> = BTreeMap::new();
    for rule in &profile.rules {
        if rule.action == profile.default_action {
            continue; // same result as falling through to the default
        }
        for name in &rule.names {
            let Some(nr) = syscall_number(abi, name) else {
                // runc/libseccomp skip names the ABI does not know (profiles list syscalls of
                // newer kernels and of other ABIs).
                crate::log_debug!("seccomp: syscall {name} unknown on {abi:?}; rule skipped");
                continue;
            };
            let entry = groups
                .entry(rule.action)
                .or_default()
                .entry(nr)
                .or_insert(Some(Vec::new()));
            let unconditional = rule.alternatives.iter().any(|a| a.is_empty());
            match entry {
                None => {}
                Some(_) if unconditional => *entry = None,
                Some(alts) => alts.extend(rule.alternatives.iter().cloned()),
            }
        }
    }
    let mut out = Vec::new();
    for (action, rules) in groups {
        out.extend(group(action, rules)?);
    }
    out.push(stmt(RET_K, profile.default_action.ret()));
    Ok(out)
}

/// One action's rules: berth's compact match list for the unconditional syscalls, then
/// seccompiler's program for the conditional ones.
fn group(action: Action, rules: SyscallRules) -> Result<Vec<sock_filter>, SeccompError> {
    let (plain, conditional): (Vec<_>, Vec<_>) = rules.into_iter().partition(|(_, a)| a.is_none());
    let mut out = unconditional(action, plain.iter().map(|(nr, _)| *nr));
    if !conditional.is_empty() {
        out.extend(conditional_group(action, conditional)?);
    }
    Ok(out)
}

/// seccompiler spends five instructions on each unconditional syscall, so Docker's ~370
/// names on three ABIs would exceed the kernel's 4096. For these berth emits one `jeq` per
/// syscall, jumping to a shared `ret`, in blocks of at most 200 (jump offsets are 8 bits).
fn unconditional(action: Action, nrs: impl Iterator<Item = i64>) -> Vec<sock_filter> {
    let nrs: Vec<u32> = nrs.map(|nr| nr as u32).collect();
    let mut out = Vec::new();
    for chunk in nrs.chunks(200) {
        out.push(stmt(LD_W_ABS, NR_OFFSET));
        let n = chunk.len();
        for (i, nr) in chunk.iter().enumerate() {
            // Over the remaining jeqs and the `ja`, onto the `ret`.
            out.push(jump(JEQ_K, *nr, (n - i) as u8, 0));
        }
        out.push(stmt(JA, 1));
        out.push(stmt(RET_K, action.ret()));
    }
    out
}

/// One seccompiler program for one action, with its placeholders rewritten (module docs).
fn conditional_group(
    action: Action,
    rules: Vec<(i64, Option<Vec<Vec<Cond>>>)>,
) -> Result<Vec<sock_filter>, SeccompError> {
    let mut map: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (nr, alts) in rules {
        let rules = match alts {
            None => Vec::new(),
            Some(alts) => alts
                .iter()
                .map(|conds| {
                    let conds = conds.iter().map(condition).collect::<Result<Vec<_>, _>>()?;
                    SeccompRule::new(conds).map_err(SeccompError::Compile)
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        map.insert(nr, rules);
    }
    let filter = SeccompFilter::new(
        map,
        SeccompAction::KillThread, // placeholder: "no rule of this group matched"
        SeccompAction::Allow,      // placeholder: "a rule matched"
        TargetArch::x86_64,
    )
    .map_err(SeccompError::Compile)?;
    let mut prog: BpfProgram = filter.try_into().map_err(SeccompError::Compile)?;
    // seccompiler's own arch check: ld arch; jeq AUDIT_ARCH_X86_64, 1, 0; ret KILL_PROCESS.
    let expected = [
        stmt(LD_W_ABS, ARCH_OFFSET),
        jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS),
    ];
    if prog.len() < 3 || prog[..3] != expected {
        return Err(SeccompError::UnexpectedBpf("arch check".into()));
    }
    prog.drain(..3);
    let len = prog.len();
    for (i, insn) in prog.iter_mut().enumerate() {
        if insn.code != RET_K {
            continue;
        }
        match insn.k {
            libc::SECCOMP_RET_ALLOW => insn.k = action.ret(),
            libc::SECCOMP_RET_KILL_THREAD => *insn = stmt(JA, (len - i - 1) as u32),
            other => {
                return Err(SeccompError::UnexpectedBpf(format!(
                    "return value {other:#x}"
                )))
            }
        }
    }
    Ok(prog)
}

fn condition(c: &Cond) -> Result<SeccompCondition, SeccompError> {
    let op = match c.op {
        Op::Ne => SeccompCmpOp::Ne,
        Op::Lt => SeccompCmpOp::Lt,
        Op::Le => SeccompCmpOp::Le,
        Op::Eq => SeccompCmpOp::Eq,
        Op::Ge => SeccompCmpOp::Ge,
        Op::Gt => SeccompCmpOp::Gt,
        Op::MaskedEq { mask } => SeccompCmpOp::MaskedEq(mask),
    };
    SeccompCondition::new(c.index, SeccompCmpArgLen::Qword, op, c.value)
        .map_err(SeccompError::Compile)
}
