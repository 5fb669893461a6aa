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
