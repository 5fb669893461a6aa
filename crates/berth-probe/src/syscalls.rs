//! `--syscall` and `--int80`: raw system calls for the seccomp and escape tests.
//!
//! `--syscall NR[,ARG]...` makes syscall NR through the native x86_64 entry (NR may carry the
//! x32 bit 0x40000000, in decimal or 0x-hex); `--int80 NR[,ARG]...` makes it through the
//! i386 entry (`int 0x80`), which a filter sees with AUDIT_ARCH_I386. The report holds
//! `{"ret": r, "errno": e}` keyed by the flag's value (errno 0 when the call succeeded).
//! A call the filter kills ends the probe before it prints anything.

use serde_json::{json, Value};

fn number(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let r = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s
            .parse::<u64>()
            .or_else(|_| s.parse::<i64>().map(|v| v as u64)),
    };
    r.map_err(|_| format!("{s:?} is not a number"))
}

/// Parses `NR[,ARG]...` (up to six arguments).
pub fn parse(spec: &str) -> Result<(u64, [u64; 6]), String> {
    let mut parts = spec.split(',');
    let nr = number(parts.next().unwrap_or(""))?;
    let mut args = [0u64; 6];
    for (i, p) in parts.enumerate() {
        if i >= 6 {
            return Err(format!("{spec}: more than six arguments"));
        }
        args[i] = number(p)?;
    }
    Ok((nr, args))
}

/// The native syscall instruction, so any number (x32 ones included) reaches the kernel.
pub fn native(spec: &str) -> Value {
    let Ok((nr, a)) = parse(spec) else {
        return json!({"error": "bad spec"});
    };
    let ret: i64;
    // SAFETY: a raw syscall with caller-chosen numbers; the tests only pass calls that do not
    // touch this process's memory (getppid, mkdir of a path string is not used here).
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr as i64 => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    result(ret)
}

/// The i386 entry: `int 0x80` with 32-bit arguments.
pub fn int80(spec: &str) -> Value {
    let Ok((nr, a)) = parse(spec) else {
        return json!({"error": "bad spec"});
    };
    let ret: i64;
    // SAFETY: as above; int 0x80 takes eax, ebx, ecx, edx, esi, edi (ebp is not used: rbx
    // and rbp are reserved by LLVM, so ebx is swapped in and out around the call).
    unsafe {
        core::arch::asm!(
            "xchg rbx, {a0}",
            "int 0x80",
            "xchg rbx, {a0}",
            a0 = inout(reg) a[0] => _,
            inlateout("rax") nr as i64 => ret,
            in("rcx") a[1], in("rdx") a[2], in("rsi") a[3], in("rdi") a[4],
            options(nostack),
        );
    }
    // The i386 ABI returns a 32-bit value.
    result(ret as i32 as i64)
}

fn result(ret: i64) -> Value {
    if (-4095..0).contains(&ret) {
        json!({"ret": -1, "errno": -ret})
    } else {
        json!({"ret": ret, "errno": 0})
    }
}
