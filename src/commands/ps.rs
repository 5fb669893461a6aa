//! `berth ps`: the container's processes, as a JSON list of pids or as ps(1) output filtered to
//! them (runc `ps`: the host's `ps` is run with the given arguments, default `-ef`, and only
//! the header and the lines whose PID column is a container pid are printed).

use std::io::Write;

use anyhow::{bail, Context};
use berth_runtime::container;
use berth_runtime::state::{ContainerId, Store};

use crate::cli::ListFormat;

/// `args`: the container id, then the arguments for ps(1). runc passes everything after the id
/// to ps, so `berth ps ID -ef` works as it does with runc; berth also drops one leading `--`
/// (its older spelling, `berth ps ID -- -ef`), which runc would hand to ps.
pub fn run(store: &Store, format: ListFormat, args: &[String]) -> anyhow::Result<()> {
    let (id, mut ps_args) = match args {
        [id, rest @ ..] => (id.as_str(), rest),
        [] => bail!("ps needs a container id"),
    };
    if ps_args.first().is_some_and(|a| a == "--") {
        ps_args = &ps_args[1..];
    }
    let pids = container_pids(store, id).with_context(|| format!("ps of container {id:?}"))?;
    let mut out = std::io::stdout().lock();
    if format == ListFormat::Json {
        writeln!(out, "{}", serde_json::to_string(&pids)?)?;
        return Ok(());
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let output = std::process::Command::new("ps")
        .args(&args)
        .output()
        .with_context(|| format!("run ps {}", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "ps {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    out.write_all(filter_ps(&text, &pids)?.as_bytes())?;
    Ok(())
}

/// The pids of the container's cgroup, or without one (rootless, `--cgroup-manager=disabled`)
/// of the pid namespace its init created; otherwise an error rather than a partial list.
fn container_pids(store: &Store, id: &str) -> anyhow::Result<Vec<i32>> {
    let state = store.read(&ContainerId::new(id)?)?;
    Ok(container::pids(&state)?)
}

/// Keep the header and the lines whose PID column is one of `pids`.
pub fn filter_ps(text: &str, pids: &[i32]) -> anyhow::Result<String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let Some(col) = header.split_whitespace().position(|h| h == "PID") else {
        bail!("ps output has no PID column: {header:?}");
    };
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn filter_keeps_header_and_container_lines() {
        let text = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 06:00 ? 00:00:01 init\nroot 42 1 0 06:01 ? 00:00:00 sleep 9\n";
        assert_eq!(
            super::filter_ps(text, &[42]).unwrap(),
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 06:01 ? 00:00:00 sleep 9\n"
        );
        assert!(super::filter_ps("USER CMD\n", &[1]).is_err());
    }
}
