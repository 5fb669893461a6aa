//! Helpers for /proc/<pid>/mountinfo (proc(5)), shared by the modules that read it.

use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// Undoes the kernel's octal escaping of space, tab, newline and backslash (`\040` etc.) in a
/// mountinfo path field. Invalid escapes are kept as they are.
pub fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = (bytes[i + 1] - b'0') as u32 * 64
                + (bytes[i + 2] - b'0') as u32 * 8
                + (bytes[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_octal_escapes_and_keeps_invalid_ones() {
        assert_eq!(unescape(r"/a\040b\011c"), PathBuf::from("/a b\tc"));
        assert_eq!(unescape(r"back\134slash"), PathBuf::from(r"back\slash"));
        // \777 does not fit a byte, \09 is not octal, a trailing \04 is too short.
        assert_eq!(unescape(r"x\777\09\04"), PathBuf::from(r"x\777\09\04"));
    }
}
