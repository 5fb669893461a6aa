//! Release link arguments: see build/link_args.rs at the workspace root.
include!("../../build/link_args.rs");

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    link_args("containerd-shim-berth-v2", &format!("{dir}/../.."));
}
