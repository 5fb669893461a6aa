//! The seccomp(2) call: the only `unsafe` of the seccomp module.

use std::os::fd::{FromRawFd, OwnedFd};

/// seccomp(SECCOMP_SET_MODE_FILTER, flags, prog). With SECCOMP_FILTER_FLAG_NEW_LISTENER the
/// kernel returns the notification fd, which is returned here.
pub fn set_mode_filter(
    flags: libc::c_ulong,
    program: &[libc::sock_filter],
) -> nix::Result<Option<OwnedFd>> {
    let len = u16::try_from(program.len()).map_err(|_| nix::Error::E2BIG)?;
    let prog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `program`, which outlives the call; the kernel copies the
    // program and does not keep the pointer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    let r = nix::errno::Errno::result(r)?;
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the kernel returns a new fd that nothing else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(r as i32) }))
    } else {
        Ok(None)
    }
}
