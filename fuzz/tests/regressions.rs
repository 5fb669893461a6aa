//! Replays every seed (fuzz/seeds/<target>/) and every saved crash (fuzz/regressions/<target>/)
//! through the fuzz target bodies: a crash found once becomes a permanent test here, run by
//! `make fuzz-regressions` (part of `make test`) without libFuzzer or nightly flags.

use std::path::Path;

fn replay(target: &str, body: fn(&[u8])) {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(rd) = std::fs::read_dir(base.join(dir).join(target)) else {
            continue;
        };
        let mut files: Vec<_> = rd
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.')) // .keep
            .map(|e| e.path())
            .collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).expect("read input");
            let r = std::panic::catch_unwind(|| body(&data));
            assert!(r.is_ok(), "{target}: {} crashes the target", f.display());
            n += 1;
        }
    }
    eprintln!("{target}: {n} inputs replayed");
}

#[test]
fn config_plan_inputs() {
    replay("config_plan", berth_fuzz::config_plan);
}

#[test]
fn seccomp_bpf_inputs() {
    replay("seccomp_bpf", berth_fuzz::seccomp_bpf);
}

#[test]
fn mount_options_inputs() {
    replay("mount_options", berth_fuzz::mount_options);
}

#[test]
fn state_file_inputs() {
    replay("state_file", berth_fuzz::state_file);
}
