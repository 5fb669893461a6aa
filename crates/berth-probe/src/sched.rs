//! The process's scheduling and placement attributes as the kernel reports them: scheduling
//! policy and parameters (sched_getattr(2)), I/O priority (ioprio_get(2)), execution domain
//! (personality(2) and uname's machine), CPU affinity (sched_getaffinity(2)) and NUMA memory
//! policy (get_mempolicy(2)). Each part is `null` when its syscall fails.

use serde_json::{json, Value};

/// `struct sched_attr` (include/uapi/linux/sched/types.h), with the utilization clamps.
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

fn policy_name(p: u32) -> String {
    match p {
        0 => "SCHED_OTHER".into(),
        1 => "SCHED_FIFO".into(),
        2 => "SCHED_RR".into(),
        3 => "SCHED_BATCH".into(),
        4 => "SCHED_ISO".into(),
        5 => "SCHED_IDLE".into(),
        6 => "SCHED_DEADLINE".into(),
        other => format!("{other}"),
    }
}

/// sched_getattr(2) of this thread. `flags` is the raw `sched_flags` (the kernel reports
/// SCHED_FLAG_RESET_ON_FORK = 1 there).
pub fn scheduler() -> Value {
    let mut attr = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `attr` is a writable sched_attr of `size` bytes; pid 0 is this thread.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut attr as *mut SchedAttr,
            size,
            0,
        )
    };
    if r != 0 {
        return Value::Null;
    }
    json!({"policy": policy_name(attr.policy), "flags": attr.flags, "nice": attr.nice,
           "priority": attr.priority, "runtime": attr.runtime, "deadline": attr.deadline,
           "period": attr.period})
}

/// ioprio_get(IOPRIO_WHO_PROCESS, 0): the class name and the priority level.
pub fn io_priority() -> Value {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: ioprio_get takes two integers and reads no memory.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
    if r < 0 {
        return Value::Null;
    }
    let class = match r >> 13 {
        0 => "IOPRIO_CLASS_NONE",
        1 => "IOPRIO_CLASS_RT",
        2 => "IOPRIO_CLASS_BE",
        3 => "IOPRIO_CLASS_IDLE",
        _ => "?",
    };
    json!({"class": class, "priority": r & 0xff})
}

/// personality(0xffffffff) (a query, changes nothing) and uname's `machine`, which
/// PER_LINUX32 turns into the 32-bit name.
pub fn personality() -> Value {
    // SAFETY: 0xffffffff only queries the current persona.
    let persona = unsafe { libc::personality(0xffff_ffff) };
    // SAFETY: utsname is plain old data; zeroed is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    let machine = if unsafe { libc::uname(&mut u) } == 0 {
        super::cstr_field(&u.machine)
    } else {
        String::new()
    };
    json!({"persona": persona, "domain": persona & 0xff, "machine": machine})
}

/// The CPUs this thread may run on, in increasing order.
pub fn affinity() -> Value {
    // SAFETY: cpu_set_t is plain old data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a writable cpu_set_t of the size passed.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return Value::Null;
    }
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    json!(cpus)
}

/// get_mempolicy(2) of this thread: the mode's name, its mode flags and the node mask as a list.
pub fn mempolicy() -> Value {
    const MAX_NODES: usize = 1024;
    let mut mode: libc::c_int = 0;
    let mut mask = [0u64; MAX_NODES / 64];
    // SAFETY: `mode` is a writable int, `mask` holds MAX_NODES bits; no address is given.
    let r = unsafe {
        libc::syscall(
            libc::SYS_get_mempolicy,
            &mut mode as *mut libc::c_int,
            mask.as_mut_ptr(),
            MAX_NODES as libc::c_ulong,
            std::ptr::null::<libc::c_void>(),
            0 as libc::c_ulong,
        )
    };
    if r != 0 {
        return Value::Null;
    }
    let flag_bits = [
        (1 << 15, "MPOL_F_STATIC_NODES"),
        (1 << 14, "MPOL_F_RELATIVE_NODES"),
        (1 << 13, "MPOL_F_NUMA_BALANCING"),
    ];
    let flags: Vec<&str> = flag_bits
        .iter()
        .filter(|(bit, _)| mode & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    let name = match mode & 0xff {
        0 => "MPOL_DEFAULT".to_string(),
        1 => "MPOL_PREFERRED".to_string(),
        2 => "MPOL_BIND".to_string(),
        3 => "MPOL_INTERLEAVE".to_string(),
        4 => "MPOL_LOCAL".to_string(),
        5 => "MPOL_PREFERRED_MANY".to_string(),
        6 => "MPOL_WEIGHTED_INTERLEAVE".to_string(),
        other => format!("{other}"),
    };
    let nodes: Vec<usize> = (0..MAX_NODES)
        .filter(|n| mask[n / 64] & (1 << (n % 64)) != 0)
        .collect();
    json!({"mode": name, "flags": flags, "nodes": nodes})
}
