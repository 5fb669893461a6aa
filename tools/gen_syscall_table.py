#!/usr/bin/env python3
"""Generates crates/berth-runtime/src/seccomp/table.rs from the kernel's x86 syscall tables and
syscall definitions.

Usage: tools/gen_syscall_table.py KERNEL_TREE LIBC_CRATE > crates/berth-runtime/src/seccomp/table.rs

KERNEL_TREE is a whole Linux source tree (Debian: `apt-get download linux-source-6.12`, then
the tarball in its data.tar.xz; or a kernel git checkout: the definitions are spread over
kernel/, fs/, mm/, net/, ipc/, security/, drivers/char/random.c, ...); the tables read are
arch/x86/entry/syscalls/syscall_32.tbl (i386) and syscall_64.tbl (x86_64: abi `common` and
`64`; x32: `common` and `x32`, the number without the x32 bit). Entries without an entry
point (`break`, `tuxcall`, ...) are kept: the kernel answers them with ENOSYS, and libseccomp
knows their names too.

LIBC_CRATE is the libc crate's source (~/.cargo/registry/src/*/libc-0.2.x): every SYS_*
constant of its x86_64 target becomes a test-only list that names the constant, so the unit
test `tables_agree_with_libc_and_the_kernel` compares the kernel's numbers with libc's as
compiled. For i386 and x32 (which a build for x86_64 cannot name) the generator compares with
libc's sources itself and fails on a disagreement.

Argument widths (X86_64_ARGS, X32_ARGS): for each syscall the width in bits of each argument
as the kernel reads it, from the definition of its entry point (the fourth column of the
table: `sys_X` -> `SYSCALL_DEFINEn(X, type, name, ...)`, x32's `compat_sys_X` ->
`COMPAT_SYSCALL_DEFINEn(X, ...)`, in the tree's .c files outside other architectures'
directories). The x86_64 syscall wrapper (arch/x86/include/asm/syscall_wrapper.h) hands each
register to the definition cast to the declared type (`__SC_CAST`), so an `int` argument is the
register's low 32 bits whatever the upper half holds. The definitions are read rather than the
declarations of include/linux/syscalls.h: with the x86 wrapper the compiler no longer checks
the declarations against the definitions (`sys_X` is not the defined symbol), so only the
definition is the truth; the generator compares the two and prints where they differ. Every
type must be classified in WIDTH below; an unknown one stops the generator.

Syscalls newer than the kernel tree used are listed in NEWER below, each with the release that
added it; numbers from 424 on are the same on every architecture (include/uapi/asm-generic/
unistd.h) and, on x86, the same for the three ABIs.
"""
import io
import re
import subprocess
import sys

KERNEL, LIBC = sys.argv[1], sys.argv[2]

# Added after Linux 6.12 (the Debian linux-source-6.12 tree the committed table was made from).
# Checked against the running kernel: 6.18 answers 463-469 and ENOSYS from 470.
NEWER = {
    "setxattrat": (463, "6.13"), "getxattrat": (464, "6.13"), "listxattrat": (465, "6.13"),
    "removexattrat": (466, "6.13"), "open_tree_attr": (467, "6.15"),
    "file_getattr": (468, "6.17"), "file_setattr": (469, "6.17"),
}


# Their definitions (the same for x86_64 and x32: none has a compat entry point), by hand
# from the release that added each.
NEWER_ARGS = {
    "setxattrat": "int dfd, const char __user *pathname, unsigned int at_flags, "
                  "const char __user *name, const struct xattr_args __user *uargs, size_t usize",
    "getxattrat": "int dfd, const char __user *pathname, unsigned int at_flags, "
                  "const char __user *name, struct xattr_args __user *uargs, size_t usize",
    "listxattrat": "int dfd, const char __user *pathname, unsigned int at_flags, "
                   "char __user *list, size_t size",
    "removexattrat": "int dfd, const char __user *pathname, unsigned int at_flags, "
                     "const char __user *name",
    "open_tree_attr": "int dfd, const char __user *filename, unsigned int flags, "
                      "struct mount_attr __user *uattr, size_t usize",
    "file_getattr": "int dfd, const char __user *filename, struct file_attr __user *ufattr, "
                    "size_t usize, unsigned int at_flags",
    "file_setattr": "int dfd, const char __user *filename, struct file_attr __user *ufattr, "
                    "size_t usize, unsigned int at_flags",
}
assert NEWER_ARGS.keys() == NEWER.keys()

# Entry points defined more than once under #ifdefs, with different widths: the definition
# an x86_64 kernel is built with. kernel/fork.c: CONFIG_CLONE_BACKWARDS{,2,3} are selected by
# other architectures (and X86_32), so x86_64 gets the plain one.
CHOSEN = {
    "sys_clone": "unsigned long clone_flags, unsigned long newsp, int __user *parent_tidptr, "
                 "int __user *child_tidptr, unsigned long tls",
    # kernel/signal.c: x86 selects OLD_SIGSUSPEND3 (for X86_32 and IA32_EMULATION); only i386
    # uses it.
    "sys_sigsuspend": "int unused1, int unused2, old_sigset_t mask",
}


def tbl(name, abis, entries=None):
    out = {}
    for line in open(f"{KERNEL}/arch/x86/entry/syscalls/{name}"):
        line = line.split("#")[0].split()
        if len(line) >= 3 and line[1] in abis:
            nr, sys_name = int(line[0]), line[2]
            assert sys_name not in out, f"{name}: {sys_name} twice"
            out[sys_name] = nr
            if entries is not None and len(line) >= 4:
                # i386's fifth column: the compat entry point a 64-bit kernel uses.
                compat = len(line) >= 5 and line[4] != "-"
                entries[sys_name] = line[4] if compat else line[3]
    return out


def libc(path):
    pat = re.compile(r"pub const SYS_(\w+): c_long = (?:__X32_SYSCALL_BIT \+ )?(\d+);")
    root = f"{LIBC}/src/unix/linux_like/linux/gnu/"
    return {m.group(1): int(m.group(2))
            for m in (pat.search(line) for line in open(root + path)) if m}


entries_64, entries_x32 = {}, {}
x86_64 = tbl("syscall_64.tbl", {"common", "64"}, entries_64)
x32 = tbl("syscall_64.tbl", {"common", "x32"}, entries_x32)
entries_x86 = {}
x86 = tbl("syscall_32.tbl", {"i386"}, entries_x86)
for table in (x86_64, x32, x86):
    for n, (nr, _) in NEWER.items():
        assert n not in table or table[n] == nr, n
        table.setdefault(n, nr)

libc_x86_64 = libc("b64/x86_64/not_x32.rs")
bad = []
for ours, theirs, abi in ((x86_64, libc_x86_64, "x86_64"),
                          (x86, libc("b32/x86/mod.rs"), "i386"),
                          (x32, libc("b64/x86_64/x32.rs"), "x32")):
    for n, nr in theirs.items():
        if ours.get(n) != nr:
            bad.append(f"{abi}: libc SYS_{n} = {nr}, kernel table: {ours.get(n)}")
if bad:
    sys.exit("\n".join(bad))


# The width in bits the kernel reads an argument of this type with (x86_64: pointers, long
# and size_t are 64 bits; compat_* types are the i386 ABI's, as x32's compat entry points
# declare them). Spaces normalized, `const`, `volatile` and `__user` removed.
WIDTH = {
    **dict.fromkeys([
        "long", "unsigned long", "long long", "unsigned long long", "size_t", "ssize_t",
        "loff_t", "off_t", "u64", "__u64", "s64", "__s64", "aio_context_t", "cap_user_header_t",
        "cap_user_data_t", "compat_loff_t", "compat_u64", "compat_s64", "compat_arg_u64",
        "old_sigset_t", "__sighandler_t"], 64),
    **dict.fromkeys([
        "int", "unsigned int", "unsigned", "signed int", "u32", "__u32", "s32", "__s32",
        "uint32_t", "int32_t",
        "pid_t", "uid_t", "gid_t", "qid_t", "key_serial_t", "timer_t", "clockid_t", "mqd_t",
        "rwf_t", "key_t", "__kernel_rwf_t",
        "compat_ulong_t", "compat_long_t", "compat_size_t", "compat_ssize_t", "compat_uptr_t",
        "compat_int_t", "compat_uint_t", "compat_pid_t", "compat_uid_t", "compat_gid_t",
        "compat_off_t", "compat_time_t", "compat_key_t", "compat_timer_t", "compat_clock_t",
        "compat_aio_context_t", "compat_sigset_word", "compat_old_sigset_t"], 32),
    **dict.fromkeys([
        "umode_t", "unsigned short", "u16", "__u16", "short", "compat_mode_t",
        "compat_ushort_t", "old_uid_t", "old_gid_t"], 16),
}


def width(ctype):
    if "*" in ctype or ctype.endswith("]"):
        return 64  # a pointer
    words = [w for w in ctype.split() if w not in ("const", "volatile", "__user")]
    t = " ".join(words)
    if t.startswith("enum "):
        return 32  # an enum is an int (C11 6.7.2.2; every kernel enum fits)
    if t not in WIDTH:
        UNKNOWN.add(t)
        return 0
    return WIDTH[t]


UNKNOWN = set()
AMBIGUOUS = []


def split_args(text):
    """`int fd, const char __user *path` -> [("int", "fd"), ("const char __user *", "path")]."""
    text = " ".join(text.split())
    if text in ("", "void"):
        return []
    out = []
    for arg in text.split(","):
        arg = arg.strip()
        m = re.fullmatch(r"(.*?[\s*])(\w+)", arg)
        bare = " ".join(w for w in arg.split() if w not in ("const", "volatile", "__user"))
        if m is None or arg.endswith("*") or bare in WIDTH or m.group(2) in ("int", "long"):
            out.append((arg, ""))  # a declaration's unnamed parameter
        else:
            out.append((m.group(1).strip(), m.group(2)))
    return out


def definitions(prefix):
    """name -> [[types]] of every `<prefix>SYSCALL_DEFINEn(name, type, arg, ...)` in the tree's
    .c files (other architectures' directories left out): one list per definition, as some
    are defined twice under different #ifdefs (they must agree where used, see arg_bits)."""
    pat = re.compile(r"^" + prefix + r"SYSCALL_DEFINE([0-6])\((\w+)((?:,[^)]*)?)\)", re.M)
    files = subprocess.run(["grep", "-rlE", "--include=*.c", f"^{prefix}SYSCALL_DEFINE[0-6]",
                            KERNEL], capture_output=True, text=True, check=True).stdout.split()
    out = {}
    for path in files:
        rel = path[len(KERNEL):].lstrip("/")
        if rel.startswith("arch/") and not rel.startswith("arch/x86/"):
            continue
        for m in pat.finditer(open(path, errors="replace").read()):
            n, name, rest = int(m.group(1)), m.group(2), " ".join(m.group(3).split())
            parts = [p.strip() for p in rest.split(",")[1:]] if rest else []
            # A macro in the list (compat_arg_u64_dual) cannot be read here: kept as
            # unreadable, and an error only where the entry point is used.
            out.setdefault(name, []).append(parts[0::2] if len(parts) == 2 * n else None)
    return out


def declarations(path):
    """name -> [types] of `asmlinkage long sys_name(...)` in a header (for the comparison)."""
    text = open(f"{KERNEL}/{path}").read()
    out = {}
    for m in re.finditer(r"asmlinkage long sys_(\w+)\(([^)]*)\);", text):
        out[m.group(1)] = [t for t, _ in split_args(m.group(2))] if "," in m.group(2) or \
            m.group(2).strip() not in ("", "void") else []
    return out


def arg_bits(entries, table, native, compat):
    """name -> widths of its arguments, for every syscall of `table` whose entry point has a
    definition; the names without one (no entry point, sys_ni_syscall) are listed apart."""
    bits, undefined = {}, []
    for name in table:
        if name in NEWER_ARGS:
            types = [t for t, _ in split_args(NEWER_ARGS[name])]
        else:
            entry = entries.get(name, "")
            if entry in CHOSEN:
                defs = [[t for t, _ in split_args(CHOSEN[entry])]]
            elif entry.startswith("compat_sys_"):
                defs = compat.get(entry[len("compat_sys_"):])
            elif entry.startswith("sys_"):
                defs = native.get(entry[len("sys_"):])
            else:
                defs = None
            if defs is None:
                undefined.append(name)
                continue
            if None in defs or len({tuple(width(t) for t in d) for d in defs}) > 1:
                AMBIGUOUS.append(f"{entry}: {defs}")
                continue
            types = defs[0]
        bits[name] = [width(t) for t in types]
    return bits, undefined


native_defs = definitions("")
compat_defs = definitions("COMPAT_")
args_64, undefined_64 = arg_bits(entries_64, x86_64, native_defs, compat_defs)
args_x32, undefined_x32 = arg_bits(entries_x32, x32, native_defs, compat_defs)
args_x86, undefined_x86 = arg_bits(entries_x86, x86, native_defs, compat_defs)
# i386: the ia32 wrapper truncates every register to 32 bits before the cast to the declared
# type (`(unsigned int)regs->bx`, SC_IA32_REGS_TO_ARGS), so no argument is wider than 32;
# a syscall without a readable definition (sigreturn, fanotify_mark's split 64-bit argument)
# keeps 32 on every argument.
args_x86 = {n: [min(b, 32) for b in bits] for n, bits in args_x86.items()}
if UNKNOWN:
    sys.exit(f"argument types not classified in WIDTH: {sorted(UNKNOWN)}")
if AMBIGUOUS:
    sys.exit("definitions that disagree (add the x86_64 one to CHOSEN):\n" + "\n".join(AMBIGUOUS))
# Entry points the tree defines nowhere are the ones the kernel answers with ENOSYS.
for name in undefined_64 + undefined_x32:
    entry = entries_64.get(name) or entries_x32.get(name)
    assert entry in (None, "sys_ni_syscall"), f"{name}: no definition of {entry}"
for name, types in declarations("include/linux/syscalls.h").items():
    used = name in args_64 and entries_64.get(name) == f"sys_{name}"
    if used and [width(t) for t in types] != args_64[name]:
        print(f"note: sys_{name}: declared {types} in include/linux/syscalls.h, defined "
              f"{native_defs[name]}; the definition is used", file=sys.stderr)


# Everything printed is collected and formatted by rustfmt, so that `cargo fmt` leaves the
# committed file as generated.
out, sys.stdout = sys.stdout, io.StringIO()


def emit(name, doc, table):
    print(doc)
    print(f"pub const {name}: &[(&str, i64)] = &[")
    for n, nr in sorted(table.items(), key=lambda e: e[1]):
        print(f'    ("{n}", {nr}),')
    print("];\n")


print("// @generated by tools/gen_syscall_table.py from Linux 6.12's")
print("// arch/x86/entry/syscalls/syscall_{32,64}.tbl, its SYSCALL_DEFINEn and")
print("// COMPAT_SYSCALL_DEFINEn definitions, and the libc crate; do not edit.")
print("//! Syscall name tables for the three x86 ABIs that can enter an x86_64 kernel, the width")
print("//! of each syscall argument as the kernel reads it, and the libc constants the unit tests")
print("//! compare them with.\n")
print("/// Added by hand, newer than the kernel tree (the Linux release that added each).")
print("#[cfg(test)]")
print("pub const NEWER_THAN_SOURCE: &[&str] = &[")
for n, (_, v) in NEWER.items():
    print(f'    "{n}", // {v}')
print("];\n")
emit("X86_64", "/// x86_64 (AUDIT_ARCH_X86_64): abi `common` and `64` of syscall_64.tbl.", x86_64)
emit("X86", "/// i386 (AUDIT_ARCH_I386: int 0x80, sysenter, 32-bit processes): syscall_32.tbl.", x86)
emit("X32", "/// x32 (AUDIT_ARCH_X86_64 with bit 30 in the number): abi `common` and `x32` of\n"
     "/// syscall_64.tbl, without the x32 bit (added by the compiler).", x32)


def emit_args(name, doc, args, full):
    """The syscalls with an argument narrower than `full` bits."""
    print(doc)
    print(f"pub const {name}: &[(&str, [u8; 6])] = &[")
    for n, bits in sorted(args.items()):
        if any(0 < b < full for b in bits):
            print(f'    ("{n}", {bits + [0] * (6 - len(bits))}),')
    print("];\n")


emit_args("X86_64_ARGS",
          "/// x86_64: the width in bits each argument is read with (0: the syscall has no such\n"
          "/// argument), from the definitions of the entry points; syscalls whose arguments are\n"
          "/// all 64 bits wide (pointers, long, size_t) are left out.", args_64, 64)
emit_args("X86_ARGS",
          "/// i386: the same, at most 32 bits (the ia32 entry truncates every register), from\n"
          "/// the compat entry point where the table names one; all-32-bit syscalls left out.",
          args_x86, 32)
emit_args("X32_ARGS",
          "/// x32: the same, from the definitions of its entry points (`compat_sys_*` where the\n"
          "/// table names one).", args_x32, 64)
print("/// Every `SYS_*` constant of the libc crate for this target, as compiled.")
print("#[cfg(test)]")
print("#[allow(clippy::unnecessary_cast)] // c_long is i64 here, but not by type")
print("pub const LIBC_X86_64: &[(&str, i64)] = &[")
for n in libc_x86_64:
    print(f'    ("{n}", libc::SYS_{n} as i64),')
print("];")

text, sys.stdout = sys.stdout.getvalue(), out
sys.stdout.write(subprocess.run(["rustfmt", "--edition", "2021"], input=text, text=True,
                                capture_output=True, check=True).stdout)
