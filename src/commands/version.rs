//! `berth --version` (`-v`, as runc): berth's version, the commit it was built from, and the
//! runtime-spec version it implements.

pub fn long() -> &'static str {
    concat!(
        env!("CARGO_PKG_VERSION"),
        "\ncommit: ",
        env!("BERTH_COMMIT"),
        "\nspec: 1.3.0"
    )
}

#[cfg(test)]
mod tests {
    /// `--version` states the runtime-spec version `spec` writes and `features` reports as
    /// `ociVersionMax` (concat! needs a literal, so the test keeps them equal).
    #[test]
    fn version_states_the_supported_spec_version() {
        assert!(super::long().ends_with(&format!(
            "\nspec: {}",
            berth_runtime::bundle::SUPPORTED_OCI_VERSION
        )));
    }
}
