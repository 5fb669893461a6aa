//! Container ids: the validated name of a container, safe to use as a path component.

use std::fmt;

use super::StateError;

/// Longest id accepted, in bytes. Ids become directory names, and 1024 keeps `<root>/<id>` well
/// under PATH_MAX for any sane root.
const MAX_ID_LEN: usize = 1024;

/// A validated container id: `[A-Za-z0-9_+.-]+`, not `.` or `..`, at most 1024 bytes.
///
/// runc accepts the same alphabet (`^[\w+-\.]+$`); the rule keeps ids usable as one path
/// component, so `<root>/<id>` can never escape the state root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerId(String);

impl ContainerId {
    /// Validate `id`.
    pub fn new(id: &str) -> Result<ContainerId, StateError> {
        let invalid = |reason| StateError::InvalidId {
            id: id.to_owned(),
            reason,
        };
        if id.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if id.len() > MAX_ID_LEN {
            return Err(invalid("longer than 1024 bytes"));
        }
        if id == "." || id == ".." {
            return Err(invalid("must not be \".\" or \"..\""));
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'.' | b'-'))
        {
            return Err(invalid("may contain only letters, digits and _ + . -"));
        }
        Ok(ContainerId(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ContainerId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_runc_alphabet() {
        for id in ["a", "abc-123", "A_b+c.d", "...", "x".repeat(1024).as_str()] {
            assert_eq!(ContainerId::new(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn rejects_path_like_and_odd_ids() {
        for id in ["", ".", "..", "a/b", "/abs", "a b", "é", "a\0b", "a:b"] {
            assert!(ContainerId::new(id).is_err(), "{id:?} accepted");
        }
        assert!(ContainerId::new(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn invalid_id_message_names_the_id() {
        let err = ContainerId::new("a/b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid container id \"a/b\": may contain only letters, digits and _ + . -"
        );
        assert_eq!(
            ContainerId::new("..").unwrap_err().to_string(),
            "invalid container id \"..\": must not be \".\" or \"..\""
        );
    }
}
