//! [`Profile`] → one classic-BPF program, built from seccompiler's output.
//!
//! seccompiler compiles one syscall → rules map with a single match action and a single
//! mismatch action, for one architecture, behind its own arch check. An OCI profile has one
//! action per rule and up to three x86 ABIs, and needs actions seccompiler lacks
//! (SECCOMP_RET_USER_NOTIF). So berth:
//!
//! 1. groups the rules of each ABI by action, most restrictive first (the kernel's own
//!    precedence when filters stack). Unconditional syscalls get berth's own binary search
//!    over their numbers (seccompiler's five instructions per syscall would not fit Docker's
//!    profile into 4096, and a linear list is slow); the rules with argument conditions are
//!    compiled with seccompiler using two placeholder actions: match = ALLOW, mismatch =
//!    KILL_THREAD;
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

use super::profile::{Abi, Action, Cond, Op, Profile, Rule};
use super::SeccompError;
use super::{multiplex, table};

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
const JGT_K: u16 = 0x05 | 0x20;
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

/// Syscall number → its alternatives (OR of ANDed conditions, compiled for the argument's
/// width); `None`: unconditional.
type SyscallRules = BTreeMap<i64, Option<Vec<Vec<SeccompCondition>>>>;

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

/// The width in bits the kernel reads argument `index` of `name` with on `abi`
/// (`table::*_ARGS`, generated from the kernel's syscall definitions): 64 on x86_64 and x32
/// unless listed narrower, at most 32 on i386 (the ia32 entry truncates every register).
pub fn arg_bits(abi: Abi, name: &str, index: u8) -> u8 {
    type Index = std::collections::HashMap<&'static str, [u8; 6]>;
    static INDEX: std::sync::OnceLock<[Index; 3]> = std::sync::OnceLock::new();
    let index_of = INDEX.get_or_init(|| {
        let build = |list: &[(&'static str, [u8; 6])]| list.iter().copied().collect::<Index>();
        [
            build(table::X86_64_ARGS),
            build(table::X86_ARGS),
            build(table::X32_ARGS),
        ]
    });
    let (i, full) = match abi {
        Abi::X86_64 => (0, 64),
        Abi::X86 => (1, 32),
        Abi::X32 => (2, 64),
    };
    match index_of[i].get(name).map(|bits| bits[usize::from(index)]) {
        // 0: the syscall has no such argument; the register is compared as a whole, as
        // before (the kernel does not read it, so no rule on it can be bypassed).
        Some(bits) if bits != 0 => bits,
        _ => full,
    }
}

/// Compiles a validated profile.
pub fn compile(profile: &Profile) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let mut sections: BTreeMap<Abi, Vec<sock_filter>> = BTreeMap::new();
    let mut skipped = 0;
    for &abi in &profile.abis {
        sections.insert(abi, section(profile, abi, &mut skipped)?);
    }
    if skipped > 0 {
        // One line, not one per name: every profile lists syscalls some ABI lacks.
        crate::log_debug!("seccomp: {skipped} rules skipped for syscalls unknown on their ABI");
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
/// `skipped` counts the names `abi` does not know.
fn section(
    profile: &Profile,
    abi: Abi,
    skipped: &mut usize,
) -> Result<Vec<sock_filter>, SeccompError> {
    // action → syscall number → alternatives; `None` means unconditional.
    let mut groups: BTreeMap<Action, SyscallRules> = BTreeMap::new();
    // The newest syscall the profile names on this ABI, whatever its action (see below).
    let mut newest: Option<i64> = None;
    for rule in &profile.rules {
        for name in &rule.names {
            let direct = match syscall_number(abi, name) {
                Some(nr) => Some((nr, conditions(abi, name, rule, &rule.alternatives)?)),
                None => None,
            };
            // i386's socketcall/ipc form of the same call ([`multiplex`] says why and how).
            let muxed = match multiplex::variant(abi, name) {
                Some((nr, call)) => {
                    let mux = if nr == multiplex::SOCKETCALL {
                        "socketcall"
                    } else {
                        "ipc"
                    };
                    Some((nr, conditions(abi, mux, rule, &[vec![call]])?))
                }
                None => None,
            };
            if direct.is_none() && muxed.is_none() {
                // runc/libseccomp skip names the ABI does not know (profiles list syscalls of
                // newer kernels and of other ABIs).
                *skipped += 1;
                continue;
            }
            for (nr, alternatives) in direct.into_iter().chain(muxed) {
                newest = newest.max(Some(nr));
                if rule.action == profile.default_action {
                    continue; // same result as falling through to the default
                }
                if alternatives.is_empty() {
                    // No argument the kernel reads can match (`mode < 0` on 16 bits). Not an
                    // empty rule list: seccompiler reads that as unconditional.
                    continue;
                }
                let entry = groups
                    .entry(rule.action)
                    .or_default()
                    .entry(nr)
                    .or_insert(Some(Vec::new()));
                let unconditional = alternatives.iter().any(|a| a.is_empty());
                match entry {
                    None => {}
                    Some(_) if unconditional => *entry = None,
                    Some(alts) => alts.extend(alternatives),
                }
            }
        }
    }
    let mut out = Vec::new();
    for (action, rules) in groups {
        out.extend(group(action, rules)?);
    }
    out.extend(enosys_for_newer(profile.default_action, newest));
    out.push(stmt(RET_K, profile.default_action.ret()));
    Ok(out)
}

/// What runc (libcontainer/seccomp/patchbpf) does so that a profile written before a syscall
/// existed does not break programs that try it first: a syscall numbered above the newest one
/// the profile names on this ABI gets ENOSYS instead of a restrictive default action, so libc
/// falls back (clone3 → clone, close_range → a loop, openat2 → openat, faccessat2 →
/// faccessat). A profile that allows by default keeps allowing; one that names nothing on
/// the ABI gets no stub. Placed just before the default return: only syscalls no rule
/// decided pay for it, and the accumulator is reloaded because argument checks change it.
fn enosys_for_newer(default: Action, newest: Option<i64>) -> Vec<sock_filter> {
    let Some(newest) = newest else {
        return Vec::new();
    };
    if matches!(default, Action::Allow | Action::Log) {
        return Vec::new();
    }
    vec![
        stmt(LD_W_ABS, NR_OFFSET),
        jump(JGT_K, newest as u32, 0, 1),
        stmt(RET_K, Action::Errno(libc::ENOSYS as u16).ret()),
    ]
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
/// names on three ABIs would exceed the kernel's 4096; and a linear list costs every syscall
/// one comparison per number before its own (getppid, ~100 numbers into an allowlist, runs
/// ~100 instructions). berth emits a binary search over the sorted numbers instead: `jgt`
/// nodes down to leaves of at most [`LEAF`] `jeq`s, each leaf with its own `ret <action>`; a
/// number that is not listed leaves the group through a `ja` to its end (the next group). Any
/// syscall is decided in about log2(n / LEAF) + LEAF comparisons (~15 for Docker's profile),
/// for ~1.5 instructions per number.
fn unconditional(action: Action, nrs: impl Iterator<Item = i64>) -> Vec<sock_filter> {
    // Syscall numbers are below 2^31 (x32's have bit 30 set), so the BTreeMap's ascending
    // i64 order is also the unsigned order BPF compares in.
    let nrs: Vec<u32> = nrs.map(|nr| nr as u32).collect();
    if nrs.is_empty() {
        return Vec::new();
    }
    debug_assert!(nrs.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
    let mut out = vec![stmt(LD_W_ABS, NR_OFFSET)];
    let mut exits = Vec::new();
    search_tree(&nrs, action.ret(), &mut out, &mut exits);
    let end = out.len();
    for i in exits {
        out[i].k = (end - i - 1) as u32;
    }
    out
}

/// Leaves of the search tree compare at most this many numbers one by one.
const LEAF: usize = 8;

/// Appends the search over `nrs` (sorted, non-empty) to `out`; the indices of its `ja`s that
/// leave the group (offsets still to be set) go to `exits`.
fn search_tree(nrs: &[u32], ret: u32, out: &mut Vec<sock_filter>, exits: &mut Vec<usize>) {
    if nrs.len() <= LEAF {
        let n = nrs.len();
        for (i, nr) in nrs.iter().enumerate() {
            // A match jumps over the remaining jeqs and the `ja`, onto the `ret`.
            out.push(jump(JEQ_K, *nr, (n - i) as u8, 0));
        }
        exits.push(out.len());
        out.push(stmt(JA, 0));
        out.push(stmt(RET_K, ret));
        return;
    }
    // Split on a leaf boundary, so that leaves are full (fewest leaves and nodes).
    let leaves = nrs.len().div_ceil(LEAF);
    let (low, high) = nrs.split_at(leaves / 2 * LEAF);
    let pivot = low[low.len() - 1];
    let mut left = Vec::new();
    let mut left_exits = Vec::new();
    search_tree(low, ret, &mut left, &mut left_exits);
    // nr > pivot: the high half, after the low half's code.
    match u8::try_from(left.len()) {
        Ok(skip) => out.push(jump(JGT_K, pivot, skip, 0)),
        Err(_) => {
            // Conditional jumps reach 255 instructions; a longer low half needs a `ja`.
            out.push(jump(JGT_K, pivot, 0, 1));
            out.push(stmt(JA, left.len() as u32));
        }
    }
    let base = out.len();
    exits.extend(left_exits.into_iter().map(|i| base + i));
    out.extend(left);
    search_tree(high, ret, out, exits);
}

/// One seccompiler program for one action, with its placeholders rewritten (module docs).
fn conditional_group(
    action: Action,
    rules: Vec<(i64, Option<Vec<Vec<SeccompCondition>>>)>,
) -> Result<Vec<sock_filter>, SeccompError> {
    let mut map: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (nr, alts) in rules {
        let rules = match alts {
            None => Vec::new(),
            Some(alts) => alts
                .into_iter()
                .map(|conds| SeccompRule::new(conds).map_err(SeccompError::Compile))
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

/// The alternatives of `rule` for syscall `name` on `abi`, each condition compiled for the
/// width the kernel reads its argument with ([`condition`]). A condition on a 16-bit argument
/// can become several alternatives (OR); an alternative is then the product of its
/// conditions' alternatives. An empty result never matches.
fn conditions(
    abi: Abi,
    name: &str,
    rule: &Rule,
    alternatives: &[Vec<Cond>],
) -> Result<Vec<Vec<SeccompCondition>>, SeccompError> {
    let mut out = Vec::new();
    for alt in alternatives {
        let mut product: Vec<Vec<SeccompCondition>> = vec![Vec::new()];
        for c in alt {
            let any_of = condition(abi, name, rule, c)?;
            product = product
                .iter()
                .flat_map(|prefix| {
                    any_of.iter().map(move |conds| {
                        let mut all = prefix.clone();
                        all.extend(conds.iter().cloned());
                        all
                    })
                })
                .collect();
        }
        out.extend(product);
    }
    Ok(out)
}

/// One argument comparison, on the bits of the argument the kernel reads, as alternatives
/// (OR) of conditions (AND): one alternative of one condition except on 16-bit arguments.
///
/// `seccomp_data.args` holds whole 64-bit registers, but a syscall reads an `int`, `pid_t`,
/// `uid_t`, `unsigned int` … argument as the register's low 32 bits (x86_64's syscall wrapper
/// casts each register to the declared type) and an `umode_t` as its low 16 bits; on i386
/// the ia32 entry keeps only the low 32 bits of every register, which a 64-bit process
/// entering through `int 0x80` sets whole. A 64-bit comparison would let a caller slip past
/// a rule by setting bits the kernel ignores: `socket(AF_VSOCK | 1 << 32, …)` past a rule on
/// family 40, `chmod(path, 0x1_00000ded)` past one on mode 06755. So, by [`arg_bits`]:
///
/// - 64 bits: the 64-bit comparison (libseccomp's).
/// - 32 bits: the low 32 bits of the argument against the low 32 bits of the value (and
///   mask), unsigned, as libseccomp does on 32-bit architectures (`_db_rule_gen_32`). For
///   every operator this is the 64-bit comparison of the value the kernel uses: zero- and
///   sign-extension both keep the unsigned order of 32-bit values, so a rule written with
///   a negative `int` sign-extended (`AT_FDCWD` as 0xffffffffffffff9c) compares as before.
/// - 16 bits (`umode_t`; the 16-bit uid/gid of i386's old calls): the low 16 bits, unsigned,
///   for every operator. seccomp's BPF loads 32-bit words and seccompiler has no ordered
///   comparison under a mask, so each operator is written with MASKED_EQ on the low word
///   ([`low_16_bits`]).
///
/// The value (and mask) of a rule on a narrow argument of x86_64 or x32 must be a value of
/// that width: its upper bits all zero, or a sign extension. Anything else names no argument
/// the kernel can receive (no `int` is 0x1_00000028), so the profile is refused naming the
/// rule: it cannot mean what its author meant. On i386 the value is truncated (to 32 bits as
/// libseccomp does, and to 16 for a 16-bit argument), because a profile covers three ABIs
/// with one value, and an argument that is 64 bits wide on x86_64 (clone's flags) is 32 bits
/// there.
fn condition(
    abi: Abi,
    name: &str,
    rule: &Rule,
    c: &Cond,
) -> Result<Vec<Vec<SeccompCondition>>, SeccompError> {
    let bits = arg_bits(abi, name, c.index);
    if bits < 64 && abi != Abi::X86 {
        let mut values = vec![c.value];
        if let Op::MaskedEq { mask } = c.op {
            values = vec![mask, c.value & mask];
        }
        if let Some(&v) = values.iter().find(|&&v| !fits(v, bits)) {
            return Err(SeccompError::ArgTooWide {
                field: format!("{}.args", rule.field),
                value: v,
                syscall: name.to_string(),
                index: c.index,
                bits,
            });
        }
    }
    if bits < 32 {
        return low_16_bits(c)
            .into_iter()
            .map(|(mask, value)| {
                let op = SeccompCmpOp::MaskedEq(mask);
                SeccompCondition::new(c.index, SeccompCmpArgLen::Dword, op, value)
                    .map(|cond| vec![cond])
                    .map_err(SeccompError::Compile)
            })
            .collect();
    }
    let len = if bits <= 32 {
        SeccompCmpArgLen::Dword
    } else {
        SeccompCmpArgLen::Qword
    };
    let op = match c.op {
        Op::Ne => SeccompCmpOp::Ne,
        Op::Lt => SeccompCmpOp::Lt,
        Op::Le => SeccompCmpOp::Le,
        Op::Eq => SeccompCmpOp::Eq,
        Op::Ge => SeccompCmpOp::Ge,
        Op::Gt => SeccompCmpOp::Gt,
        Op::MaskedEq { mask } => SeccompCmpOp::MaskedEq(mask),
    };
    // seccompiler's Dword comparisons use the low 32 bits of the value and mask.
    let cond = SeccompCondition::new(c.index, len, op, c.value).map_err(SeccompError::Compile)?;
    Ok(vec![vec![cond]])
}

/// A comparison of the low 16 bits of an argument as alternatives (OR) of `(arg & mask) ==
/// value` on the low word, `mask` within 0xffff. Writing `x` for the argument's low 16 bits
/// and `v` for the rule's value (truncated to 16 bits):
///
/// - EQ: `x & 0xffff == v`; MASKED_EQ: under the rule's mask cut to 16 bits.
/// - NE: some bit differs: for each bit i, `x & 1<<i == !v & 1<<i` (16 alternatives).
/// - LT: for each bit i set in v, x agrees with v above i and has bit i clear; GT: for each
///   bit i clear in v, x agrees above i and has bit i set (the highest differing bit decides).
/// - LE: EQ or LT; GE: EQ or GT.
///
/// No alternative (LT 0, GT 0xffff) never matches.
fn low_16_bits(c: &Cond) -> Vec<(u64, u64)> {
    const LOW: u64 = 0xffff;
    let v = c.value & LOW;
    let above = |i: u32| LOW & !((2u64 << i) - 1); // bits i+1..15
    let lt = || {
        (0..16)
            .filter(|i| v & 1 << i != 0)
            .map(|i| (above(i) | 1 << i, v & above(i)))
            .collect::<Vec<_>>()
    };
    let gt = || {
        (0..16)
            .filter(|i| v & 1 << i == 0)
            .map(|i| (above(i) | 1 << i, (v & above(i)) | 1 << i))
            .collect::<Vec<_>>()
    };
    match c.op {
        Op::Eq => vec![(LOW, v)],
        Op::MaskedEq { mask } => vec![(mask & LOW, v & mask)],
        Op::Ne => (0..16).map(|i| (1 << i, !v & 1 << i)).collect(),
        Op::Lt => lt(),
        Op::Gt => gt(),
        Op::Le => [vec![(LOW, v)], lt()].concat(),
        Op::Ge => [vec![(LOW, v)], gt()].concat(),
    }
}

/// Whether `v` is a `bits`-wide value as a 64-bit datum: zero-extended or sign-extended.
fn fits(v: u64, bits: u8) -> bool {
    let shift = 64 - u32::from(bits);
    (v << shift) >> shift == v || (((v << shift) as i64) >> shift) as u64 == v
}

#[cfg(test)]
mod search_tests {
    use super::*;

    /// Runs a group's program (classic BPF, the subset `unconditional` emits) on `nr`:
    /// `Some(ret)` if it returns, `None` if it falls off its end (the next group).
    fn run(prog: &[sock_filter], nr: u32) -> Option<u32> {
        let (mut pc, mut a) = (0usize, 0u32);
        let mut steps = 0;
        while pc < prog.len() {
            steps += 1;
            assert!(steps <= prog.len(), "a loop: BPF jumps only forward");
            let ins = &prog[pc];
            pc += 1;
            match ins.code {
                LD_W_ABS => {
                    assert_eq!(ins.k, NR_OFFSET);
                    a = nr;
                }
                RET_K => return Some(ins.k),
                JA => pc += ins.k as usize,
                JEQ_K | JGT_K => {
                    let taken = if ins.code == JEQ_K {
                        a == ins.k
                    } else {
                        a > ins.k
                    };
                    pc += if taken { ins.jt } else { ins.jf } as usize;
                }
                other => panic!("opcode {other:#x} at {}", pc - 1),
            }
        }
        assert_eq!(pc, prog.len(), "a jump past the group's end");
        None
    }

    /// Deterministic pseudo-random sorted sets (an LCG: no test dependency on a rand crate).
    fn numbers(n: usize, seed: u64, x32: bool) -> Vec<u32> {
        let mut state = seed;
        let mut set = std::collections::BTreeSet::new();
        while set.len() < n {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let nr = (state >> 33) as u32 % 1000;
            set.insert(if x32 { nr | X32_SYSCALL_BIT } else { nr });
        }
        set.into_iter().collect()
    }

    #[test]
    fn the_search_tree_matches_exactly_the_listed_numbers() {
        let ret = Action::Allow.ret();
        for (i, n) in [1, 2, 7, 8, 9, 16, 17, 64, 100, 255, 300, 400, 700]
            .into_iter()
            .enumerate()
        {
            for x32 in [false, true] {
                let nrs = numbers(n, i as u64 + 1, x32);
                let prog = unconditional(Action::Allow, nrs.iter().map(|&nr| nr as i64));
                let mut probes: Vec<u32> = vec![0, 1, X32_SYSCALL_BIT, u32::MAX, 999, 1000];
                for &nr in &nrs {
                    probes.extend([nr.wrapping_sub(1), nr, nr + 1]);
                }
                for nr in probes {
                    let want = nrs.binary_search(&nr).is_ok().then_some(ret);
                    assert_eq!(run(&prog, nr), want, "n={n} x32={x32} nr={nr:#x}");
                }
                // One jeq per number, and per leaf its `ja` and `ret` plus at most two for the
                // node above it: room for Docker's profile on three ABIs.
                let bound = 1 + n + 4 * n.div_ceil(LEAF);
                assert!(prog.len() <= bound, "n={n}: {} > {bound}", prog.len());
            }
        }
        assert!(unconditional(Action::Allow, std::iter::empty()).is_empty());
    }

    #[test]
    fn any_number_is_decided_in_a_few_comparisons() {
        let nrs = numbers(370, 7, false);
        let prog = unconditional(Action::Allow, nrs.iter().map(|&nr| nr as i64));
        // Count the instructions executed for the worst number.
        let worst = (0..1000u32)
            .map(|nr| {
                let (mut pc, mut n) = (0usize, 0);
                while pc < prog.len() {
                    n += 1;
                    let ins = &prog[pc];
                    pc += 1;
                    match ins.code {
                        RET_K => break,
                        JA => pc += ins.k as usize,
                        JEQ_K => pc += if nr == ins.k { ins.jt } else { ins.jf } as usize,
                        JGT_K => pc += if nr > ins.k { ins.jt } else { ins.jf } as usize,
                        _ => {}
                    }
                }
                n
            })
            .max()
            .unwrap();
        assert!(
            worst <= 20,
            "worst case {worst} instructions (linear: ~370)"
        );
    }
}
