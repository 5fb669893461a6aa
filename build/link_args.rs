// Link arguments for berth's release binaries, shared by the build scripts of the `berth` and
// `containerd-shim-berth-v2` crates (`include!`d, so both stay one definition). They are given
// here rather than in RUSTFLAGS because cargo folds RUSTFLAGS into every crate's symbol
// hashes, and the symbol-ordering file below names symbols by those hashes.
//
// - `-z pack-relative-relocs` (DT_RELR, glibc 2.36): the static-pie startup reads a few KiB of
//   packed relocations instead of ~300 KiB of RELA entries (docs/benchmarks.md).
// - `--symbol-ordering-file build/<bin>.order`: the functions a container's lifecycle executes,
//   recorded by `make order-files` (integration/bench/order-file.sh), placed together at the
//   start of .text, so a `create` touches a few contiguous pages of the binary instead of most
//   of it. Names the file lists that no longer exist are ignored: a stale file only costs
//   locality, never correctness.
// - `-Map=$BERTH_LINK_MAP_DIR/<bin>.map` with `--no-demangle`, when the Makefile sets
//   BERTH_LINK_MAP_DIR (`make build` does: the release directory): the linker's report of every
//   symbol it placed, under its mangled name, written before stripping. `make order-check`
//   (integration/bench/order-check.py) compares it with the ordering file, so a stale file is
//   caught without a second, unstripped build. It does not change the binary; `--no-demangle`
//   also leaves the linker's own error messages mangled.
// - `--strip-all`, unless BERTH_NO_STRIP is set (the profiling build): stripping in the linker
//   keeps the compiler's view, and so the symbol names, identical between the profiled and the
//   shipped binary.
//
// The ordering flag is lld's (rustc links with rust-lld on x86_64-unknown-linux-gnu since
// 1.90); for other targets, and for debug builds, nothing is added.

fn link_args(bin: &str, workspace_root: &str) {
    let order = format!("{workspace_root}/build/{bin}.order");
    println!("cargo:rerun-if-changed={order}");
    println!("cargo:rerun-if-changed={workspace_root}/build/link_args.rs");
    println!("cargo:rerun-if-env-changed=BERTH_NO_STRIP");
    println!("cargo:rerun-if-env-changed=BERTH_LINK_MAP_DIR");
    let target = std::env::var("TARGET").unwrap_or_default();
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    if target != "x86_64-unknown-linux-gnu" || !release {
        return;
    }
    let link = |arg: &str| println!("cargo:rustc-link-arg-bin={bin}={arg}");
    link("-Wl,-z,pack-relative-relocs");
    if std::path::Path::new(&order).exists() {
        link(&format!("-Wl,--symbol-ordering-file={order}"));
        link("-Wl,--no-warn-symbol-ordering");
    }
    if let Some(dir) = std::env::var_os("BERTH_LINK_MAP_DIR") {
        let map = std::path::Path::new(&dir).join(format!("{bin}.map"));
        link(&format!("-Wl,-Map={}", map.display()));
        link("-Wl,--no-demangle");
    }
    if std::env::var_os("BERTH_NO_STRIP").is_none() {
        link("-Wl,--strip-all");
    }
}
