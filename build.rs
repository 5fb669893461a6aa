//! Records the git commit berth is built from, for `berth --version`, and adds the release
//! link arguments (build/link_args.rs).
include!("build/link_args.rs");

/// `git ARGS`' one line of output, or None without git or outside a repository.
fn git(args: &[&str]) -> Option<String> {
    std::process::Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=BERTH_COMMIT={commit}");
    // Rerun when a checkout moves HEAD or a commit moves its branch, and only then. git names
    // the files: in a worktree `.git` is a file and they live elsewhere, and a path that does
    // not exist makes cargo rerun this script, and relink berth, on every build. Only HEAD's
    // own branch: a commit on any other branch (another worktree's) would relink berth too.
    // Without git, cargo's default applies (rerun when any file of the package changes).
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={head}");
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        // A packed branch has no file of its own; packed-refs holds it.
        let file = git(&["rev-parse", "--git-path", &branch])
            .filter(|f| std::path::Path::new(f).exists())
            .or_else(|| git(&["rev-parse", "--git-path", "packed-refs"]));
        if let Some(file) = file {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    link_args("berth", &root);
}
