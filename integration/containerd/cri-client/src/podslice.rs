//! `berth-cri-test pod-slice`: kubelet's systemd cgroup layout, in the systemd VM tier
//! (integration/vm-systemd/suites/cri.sh), which creates the slices and starts containerd.
//!
//!   berth-cri-test pod-slice SOCKET HANDLER IMAGE WORKDIR POD_SLICE SLICE_DIR
//!
//! POD_SLICE is the pod's slice unit (`kubepods-burstable-pod<uid>.slice`), passed as
//! RunPodSandbox's `linux.cgroup_parent` as kubelet does with `cgroupDriver: systemd`; CRI then
//! gives each container the `cgroupsPath` `<POD_SLICE>:cri-containerd:<id>`. SLICE_DIR is that
//! slice's cgroup directory (`/sys/fs/cgroup/kubepods.slice/...`), which the caller reads from
//! systemd. The checks, one line each (`ok   ...` or `FAIL ...`):
//!
//! - the sandbox and a container each run in the scope `cri-containerd-<id>.scope` below
//!   SLICE_DIR, a unit systemd knows in POD_SLICE;
//! - ContainerStats through CRI: memory working set and CPU usage non-zero, the usage the
//!   scope's `memory.current`; `ctr tasks metrics` shows the shim sent cgroups v2 metrics;
//! - a container allocating past the pod slice's MemoryMax (it has no limit of its own) is
//!   OOM-killed (exit 137, counted in the pod slice's `memory.events`, CRI reason `OOMKilled`);
//! - after RemoveContainer and Stop/RemovePodSandbox, no scope is left below SLICE_DIR.
//!
//! The last line is `POD-SLICE PASS` or `POD-SLICE FAIL <first failure>`; the exit code is
//! non-zero on failure. Teardown runs whatever failed before. Every CRI call has the channel's
//! deadline, and the scenario as a whole is bounded.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;

use crate::{check, connect, e2s, fail, start_pod, teardown, Ctx, Res, Spec};

/// The scenario's bound, teardown apart (the VM runs under TCG: a container start there takes
/// about a second).
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(240);

pub async fn run(args: &[String]) -> Res<()> {
    let [socket, handler, image, workdir, pod_slice, slice_dir] = args else {
        return fail(
            "usage: berth-cri-test pod-slice SOCKET HANDLER IMAGE WORKDIR POD_SLICE SLICE_DIR",
        );
    };
    let channel = connect(Path::new(socket)).await?;
    let logdir = PathBuf::from(workdir).join("pod-logs").join(handler);
    let _ = std::fs::create_dir_all(&logdir);
    let uid = format!("slice-{}", std::process::id());
    let mut sandbox = Ctx::sandbox_config(&logdir, &uid);
    if let Some(linux) = sandbox.linux.as_mut() {
        linux.cgroup_parent = pod_slice.clone();
    }
    let mut ctx = Ctx {
        rt: RuntimeServiceClient::new(channel.clone()),
        img: ImageServiceClient::new(channel),
        sandbox,
        handler: handler.clone(),
        image: image.clone(),
        logdir,
        pod: String::new(),
        created: Vec::new(),
    };
    let slice_dir = PathBuf::from(slice_dir);
    let result = tokio::time::timeout(
        SCENARIO_TIMEOUT,
        scenario(&mut ctx, socket, pod_slice, &slice_dir),
    )
    .await
    .unwrap_or_else(|_| fail(format!("hung for {} s", SCENARIO_TIMEOUT.as_secs())));
    if let Err(e) = &result {
        println!("{e}");
    }
    let torn_down = if ctx.pod.is_empty() {
        Ok(())
    } else {
        match tokio::time::timeout(Duration::from_secs(120), teardown(&mut ctx)).await {
            Ok(r) => r,
            Err(_) => fail("teardown hung for 120 s"),
        }
    };
    let torn_down = torn_down.and_then(|()| {
        let left = scopes(&slice_dir);
        check(
            left.is_empty(),
            &format!("no scope left below {} ({left:?})", slice_dir.display()),
        )
    });
    result.and(torn_down)
}

async fn scenario(ctx: &mut Ctx, socket: &str, pod_slice: &str, slice_dir: &Path) -> Res<()> {
    ctx.pod = start_pod(ctx).await?;
    let pod = ctx.pod.clone();
    in_scope(pod_slice, slice_dir, &pod, "the sandbox")?;

    let id = ctx.run_server("inslice").await?;
    in_scope(pod_slice, slice_dir, &id, "the container")?;

    let stats = ctx
        .rt
        .container_stats(ContainerStatsRequest {
            container_id: id.clone(),
        })
        .await
        .map_err(|e| format!("ContainerStats: {}", e2s(e)))?
        .into_inner()
        .stats
        .ok_or("ContainerStats: no stats")?;
    let memory = stats.memory.unwrap_or_default();
    let ws = memory.working_set_bytes.map_or(0, |v| v.value);
    let usage = memory.usage_bytes.map_or(0, |v| v.value);
    let cpu = stats
        .cpu
        .and_then(|c| c.usage_core_nano_seconds)
        .map_or(0, |v| v.value);
    println!("info ContainerStats: working set {ws} B, usage {usage} B, cpu {cpu} ns");
    check(
        ws > 0 && cpu > 0,
        &format!("ContainerStats: memory working set {ws} > 0 and cpu usage {cpu} ns > 0"),
    )?;
    // Which metrics type the shim sent: containerd decodes the Any by its type URL, and ctr
    // prints the decoded message as JSON, where only the v2 type has `usage_usec` (v1's CPU
    // usage is `total`) and `memory_events`.
    let ctr = std::process::Command::new("ctr")
        .args([
            "-a", socket, "-n", "k8s.io", "tasks", "metrics", "--format", "json", &id,
        ])
        .output()
        .map_err(|e| format!("ctr tasks metrics: {e}"))?;
    let json = String::from_utf8_lossy(&ctr.stdout).replace(char::is_whitespace, "");
    println!("info ctr tasks metrics --format json: {json}");
    check(
        json.contains("\"usage_usec\":")
            && json.contains("\"memory_events\":")
            && !json.contains("\"per_cpu\""),
        "the shim's Stats are cgroups v2 metrics (ctr decodes usage_usec, memory_events)",
    )?;
    // The shim's scope holds the container's processes: the usage CRI reports is the scope's
    // memory.current at about the same time (the same order of magnitude: the shell's loop
    // keeps allocating and freeing).
    let current = read_u64(&slice_dir.join(format!("cri-containerd-{id}.scope/memory.current")));
    check(
        usage > 0 && current > 0 && usage < current.saturating_mul(4) && current < usage * 4,
        &format!("ContainerStats usage {usage} matches the scope's memory.current {current}"),
    )?;

    // No limit of its own: only the pod slice's MemoryMax bounds it. The kill is the kernel's
    // (the pod slice's memory.events counts it), and CRI must call it OOMKilled: the shim
    // watches the scope's memory.events while the container runs (oom.rs), because systemd
    // removes the emptied scope's cgroup at the init's exit, before a read there could see it.
    let kills = |dir: &Path| {
        std::fs::read_to_string(dir.join("memory.events"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let before = kills(slice_dir);
    let hog = ctx
        .run_container(Spec::new(
            "slicehog",
            "x=$(dd if=/dev/zero bs=1M count=256 2>/dev/null | tr '\\0' a); echo survived",
        ))
        .await?;
    let st = ctx
        .wait_state_for(&hog, ContainerState::ContainerExited, 120)
        .await?;
    let after = kills(slice_dir);
    println!(
        "info the allocating container: exit {} reason {:?}",
        st.exit_code, st.reason
    );
    check(
        st.exit_code == 137 && after > before && st.reason == "OOMKilled",
        &format!(
            "over the pod slice's MemoryMax: killed (exit {}, reason {:?}), the pod slice's oom_kill {before} -> {after}",
            st.exit_code, st.reason
        ),
    )?;
    ctx.remove(&hog).await?;
    crate::stop_and_remove(ctx, &id).await
}

/// `id`'s scope exists below `slice_dir`, holds processes, and systemd has it in `pod_slice`.
fn in_scope(pod_slice: &str, slice_dir: &Path, id: &str, what: &str) -> Res<()> {
    let unit = format!("cri-containerd-{id}.scope");
    let dir = slice_dir.join(&unit);
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    check(
        !procs.trim().is_empty(),
        &format!(
            "{what} runs in {} ({} processes)",
            dir.display(),
            procs.lines().count()
        ),
    )?;
    let show = std::process::Command::new("systemctl")
        .args(["show", "-p", "Slice", "-p", "ActiveState", "--value", &unit])
        .output()
        .map_err(|e| format!("systemctl show {unit}: {e}"))?;
    let show = String::from_utf8_lossy(&show.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    check(
        show == format!("active {pod_slice}") || show == format!("{pod_slice} active"),
        &format!("systemd: {unit} is active in {pod_slice} (systemctl show: {show:?})"),
    )
}

/// The `cri-containerd-*.scope` directories below `dir`.
fn scopes(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("cri-containerd-"))
                .collect()
        })
        .unwrap_or_default()
}

fn read_u64(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

impl Ctx {
    /// [`Ctx::wait_state`] with its own bound (the OOM kill of a large allocation under TCG).
    async fn wait_state_for(
        &mut self,
        id: &str,
        state: ContainerState,
        seconds: u64,
    ) -> Res<ContainerStatus> {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let st = self.status(id).await?;
            if st.state == state as i32 {
                return Ok(st);
            }
            if Instant::now() > deadline {
                return fail(format!(
                    "container {id} not {state:?} after {seconds} s: state {} exit {} reason {:?}",
                    st.state, st.exit_code, st.reason
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
