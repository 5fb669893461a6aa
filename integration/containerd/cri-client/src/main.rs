//! berth-cri-test: drives containerd's CRI plugin the way kubelet does, with one runtime handler
//! (RuntimeClass), and checks what the containers observed. run-tests.sh runs it once per
//! handler — `berth` (containerd-shim-berth-v2) and `berth-runc` (containerd's runc shim with
//! `BinaryName` = berth) — so both pass through the same scenario set, [`Scenario::ALL`].
//!
//!   berth-cri-test SOCKET HANDLER IMAGE WORKDIR
//!
//! One pod (RunPodSandbox) holds every scenario's containers. Each scenario runs even when an
//! earlier one failed, and prints one line per check and a summary line
//!
//!   SCENARIO <name> PASS|FAIL [reason]
//!
//! that run-tests.sh turns into its scenario × handler table. `teardown` runs last, whatever
//! happened before (as kubelet would): RemoveContainer, Stop/RemovePodSandbox. The caller checks
//! that nothing is left behind on the host (shim processes, mounts, cgroups, runtime state).
//! Exits non-zero if any scenario failed.
//!
//! Nothing may hang the tier: every CRI call has a deadline (the channel's request timeout), and
//! every scenario as a whole is bounded too.
//!
//! `berth-cri-test bench-pods ...` and `berth-cri-test bench-density ...` are the CRI part of
//! `make bench` instead ([`bench`]); `berth-cri-test pod-slice ...` is the systemd VM tier's
//! scenario with kubelet's systemd pod slice ([`podslice`]).

mod bench;
mod podslice;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tonic::transport::{Channel, Endpoint, Uri};
use tower::service_fn;

type Res<T> = Result<T, String>;

/// Deadline of one CRI call. containerd bounds ExecSync by its own `timeout` field (10 s here);
/// StopContainer waits up to its timeout and then kills.
const CALL_TIMEOUT: Duration = Duration::from_secs(45);
/// Deadline of one scenario as a whole.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);

struct Ctx {
    rt: RuntimeServiceClient<Channel>,
    img: ImageServiceClient<Channel>,
    handler: String,
    image: String,
    logdir: PathBuf,
    pod: String,
    sandbox: PodSandboxConfig,
    /// Every container created, in order: `teardown` removes them.
    created: Vec<String>,
}

fn fail<T>(msg: impl Into<String>) -> Res<T> {
    Err(msg.into())
}

fn check(cond: bool, what: &str) -> Res<()> {
    if cond {
        println!("ok   {what}");
        Ok(())
    } else {
        fail(format!("FAIL {what}"))
    }
}

fn e2s(e: tonic::Status) -> String {
    format!("{:?}: {}", e.code(), e.message())
}

/// A container's command and the resources kubelet would pass.
struct Spec<'a> {
    name: &'a str,
    attempt: u32,
    script: &'a str,
    memory_limit: i64,
    /// The pod's pid namespace (`shareProcessNamespace: true`) instead of the container's own.
    share_pid: bool,
}

impl<'a> Spec<'a> {
    fn new(name: &'a str, script: &'a str) -> Self {
        Spec {
            name,
            attempt: 0,
            script,
            memory_limit: 0,
            share_pid: false,
        }
    }
}

impl Ctx {
    /// What kubelet passes for a pod without `shareProcessNamespace`, for the sandbox and each
    /// container alike: the pod's network and IPC namespaces, a pid namespace per container.
    fn namespaces(share_pid: bool) -> NamespaceOption {
        NamespaceOption {
            network: NamespaceMode::Pod as i32,
            pid: if share_pid {
                NamespaceMode::Pod
            } else {
                NamespaceMode::Container
            } as i32,
            ipc: NamespaceMode::Pod as i32,
            ..Default::default()
        }
    }

    fn sandbox_config(logdir: &Path, uid: &str) -> PodSandboxConfig {
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: format!("berth-pod-{uid}"),
                uid: uid.to_string(),
                namespace: "default".into(),
                attempt: 0,
            }),
            hostname: "berth-pod".into(),
            log_directory: logdir.display().to_string(),
            linux: Some(LinuxPodSandboxConfig {
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(Ctx::namespaces(false)),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// CreateContainer + StartContainer, as kubelet does.
    async fn run_container(&mut self, spec: Spec<'_>) -> Res<String> {
        let config = ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: spec.name.into(),
                attempt: spec.attempt,
            }),
            image: Some(ImageSpec {
                image: self.image.clone(),
                ..Default::default()
            }),
            command: vec!["sh".into(), "-c".into(), spec.script.into()],
            log_path: format!("{}_{}.log", spec.name, spec.attempt),
            linux: Some(LinuxContainerConfig {
                resources: Some(LinuxContainerResources {
                    memory_limit_in_bytes: spec.memory_limit,
                    ..Default::default()
                }),
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: Some(Ctx::namespaces(spec.share_pid)),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        let id = self
            .rt
            .create_container(CreateContainerRequest {
                pod_sandbox_id: self.pod.clone(),
                config: Some(config),
                sandbox_config: Some(self.sandbox.clone()),
            })
            .await
            .map_err(|e| format!("CreateContainer {}: {}", spec.name, e2s(e)))?
            .into_inner()
            .container_id;
        self.created.push(id.clone());
        self.rt
            .start_container(StartContainerRequest {
                container_id: id.clone(),
            })
            .await
            .map_err(|e| format!("StartContainer {}: {}", spec.name, e2s(e)))?;
        Ok(id)
    }

    async fn status(&mut self, id: &str) -> Res<ContainerStatus> {
        self.rt
            .container_status(ContainerStatusRequest {
                container_id: id.into(),
                verbose: false,
            })
            .await
            .map_err(|e| format!("ContainerStatus: {}", e2s(e)))?
            .into_inner()
            .status
            .ok_or_else(|| "ContainerStatus: no status".to_string())
    }

    async fn wait_state(&mut self, id: &str, state: ContainerState) -> Res<ContainerStatus> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let st = self.status(id).await?;
            if st.state == state as i32 {
                return Ok(st);
            }
            if Instant::now() > deadline {
                return fail(format!(
                    "container {id} not {state:?} after 30 s: state {} exit {} reason {:?}",
                    st.state, st.exit_code, st.reason
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_exited(&mut self, id: &str) -> Res<ContainerStatus> {
        self.wait_state(id, ContainerState::ContainerExited).await
    }

    /// A long-running container that exits 0 on SIGTERM, once its trap is set.
    async fn run_server(&mut self, name: &str) -> Res<String> {
        self.run_ready(Spec::new(
            name,
            "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done",
        ))
        .await
    }

    /// Runs a container whose script prints `ready` once set up (its signal traps: a signal
    /// sent before would find the default action) and waits for that line in its log.
    async fn run_ready(&mut self, spec: Spec<'_>) -> Res<String> {
        let (name, attempt) = (spec.name, spec.attempt);
        let id = self.run_container(spec).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !log_lines(&self.log(name, attempt), "stdout").contains(&"ready".to_string()) {
            if Instant::now() > deadline {
                return fail(format!("container {name} not ready after 30 s"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(id)
    }

    async fn exec_sync(&mut self, id: &str, cmd: &[&str]) -> Res<ExecSyncResponse> {
        self.rt
            .exec_sync(ExecSyncRequest {
                container_id: id.into(),
                cmd: cmd.iter().map(|c| c.to_string()).collect(),
                timeout: 10,
            })
            .await
            .map(|r| r.into_inner())
            .map_err(|e| format!("ExecSync {cmd:?}: {}", e2s(e)))
    }

    async fn remove(&mut self, id: &str) -> Res<()> {
        self.rt
            .remove_container(RemoveContainerRequest {
                container_id: id.into(),
            })
            .await
            .map_err(|e| format!("RemoveContainer {id}: {}", e2s(e)))?;
        self.created.retain(|c| c != id);
        Ok(())
    }

    fn log(&self, name: &str, attempt: u32) -> String {
        std::fs::read_to_string(self.logdir.join(format!("{name}_{attempt}.log")))
            .unwrap_or_default()
    }
}

/// The text of the CRI log lines ("<time> <stream> <P|F> <text>") of one stream.
fn log_lines(log: &str, stream: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(4, ' ');
            let _time = parts.next()?;
            let s = parts.next()?;
            let _tag = parts.next()?;
            (s == stream).then(|| parts.next().unwrap_or("").to_string())
        })
        .collect()
}

/// The scenarios every handler must pass, in the order they run. `Teardown` must stay last.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    ExitCode,
    Logs,
    PodNetwork,
    Restart,
    OomKilled,
    SharedPid,
    ExecSync,
    Update,
    Stats,
    Stop,
    Teardown,
}

impl Scenario {
    const ALL: [Scenario; 11] = [
        Scenario::ExitCode,
        Scenario::Logs,
        Scenario::PodNetwork,
        Scenario::Restart,
        Scenario::OomKilled,
        Scenario::SharedPid,
        Scenario::ExecSync,
        Scenario::Update,
        Scenario::Stats,
        Scenario::Stop,
        Scenario::Teardown,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::ExitCode => "exit-code",
            Scenario::Logs => "logs",
            Scenario::PodNetwork => "pod-network",
            Scenario::Restart => "restart",
            Scenario::OomKilled => "oom-killed",
            Scenario::SharedPid => "shared-pid",
            Scenario::ExecSync => "exec-sync",
            Scenario::Update => "update-resources",
            Scenario::Stats => "stats",
            Scenario::Stop => "stop-container",
            Scenario::Teardown => "teardown",
        }
    }

    async fn run(self, ctx: &mut Ctx) -> Res<()> {
        match self {
            Scenario::ExitCode => exit_code(ctx).await,
            Scenario::Logs => logs(ctx).await,
            Scenario::PodNetwork => pod_network(ctx).await,
            Scenario::Restart => restart(ctx).await,
            Scenario::OomKilled => oom_killed(ctx).await,
            Scenario::SharedPid => shared_pid(ctx).await,
            Scenario::ExecSync => exec_sync(ctx).await,
            Scenario::Update => update(ctx).await,
            Scenario::Stats => stats(ctx).await,
            Scenario::Stop => stop(ctx).await,
            Scenario::Teardown => teardown(ctx).await,
        }
    }
}

/// Exit codes and reasons of containers that end by themselves: 3 → Error, 0 → Completed.
async fn exit_code(ctx: &mut Ctx) -> Res<()> {
    let a = ctx.run_container(Spec::new("fails", "exit 3")).await?;
    let st = ctx.wait_exited(&a).await?;
    check(
        st.exit_code == 3 && st.reason == "Error",
        &format!(
            "exit code 3, reason Error (got {} {:?})",
            st.exit_code, st.reason
        ),
    )?;
    let b = ctx.run_container(Spec::new("succeeds", "true")).await?;
    let st = ctx.wait_exited(&b).await?;
    check(
        st.exit_code == 0 && st.reason == "Completed",
        &format!(
            "exit code 0, reason Completed (got {} {:?})",
            st.exit_code, st.reason
        ),
    )?;
    // Not finishedAt ≥ startedAt: CRI stamps startedAt when Start returns, and a short
    // process may already have exited then (it does under runc's shim with runc too).
    check(
        st.started_at > 0 && st.finished_at > 0,
        "startedAt and finishedAt are set",
    )?;
    ctx.remove(&a).await?;
    ctx.remove(&b).await
}

/// stdout and stderr reach the CRI log file; the container has the pod's hostname.
async fn logs(ctx: &mut Ctx) -> Res<()> {
    let id = ctx
        .run_container(Spec::new(
            "logger",
            "echo hello-cri; echo to-stderr >&2; hostname",
        ))
        .await?;
    ctx.wait_exited(&id).await?;
    let log = ctx.log("logger", 0);
    let out = log_lines(&log, "stdout");
    check(
        out == ["hello-cri", "berth-pod"],
        &format!("stdout and the pod's hostname in the CRI log file ({out:?})"),
    )?;
    let err = log_lines(&log, "stderr");
    check(
        err == ["to-stderr"],
        &format!("stderr in the CRI log file ({err:?})"),
    )?;
    ctx.remove(&id).await
}

/// Two containers of the pod share its network namespace, which is not the host's.
async fn pod_network(ctx: &mut Ctx) -> Res<()> {
    let mut seen = Vec::new();
    for name in ["net-a", "net-b"] {
        let id = ctx
            .run_container(Spec::new(name, "readlink /proc/self/ns/net"))
            .await?;
        ctx.wait_exited(&id).await?;
        seen.push(
            log_lines(&ctx.log(name, 0), "stdout")
                .first()
                .cloned()
                .unwrap_or_default(),
        );
        ctx.remove(&id).await?;
    }
    check(
        !seen[0].is_empty() && seen[0] == seen[1],
        &format!("both containers in one network namespace ({seen:?})"),
    )?;
    let host = std::fs::read_link("/proc/self/ns/net")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let host_net = std::env::var("BERTH_CRI_HOST_NETWORK").is_ok_and(|v| !v.is_empty());
    check(
        host_net || seen[0] != host,
        &format!("the pod's network namespace is not the host's ({host})"),
    )
}

/// kubelet's restart after a container died: the exited container (attempt 0, kept until the
/// new one runs, as kubelet keeps it for `kubectl logs --previous`) and attempt 1 in the same
/// sandbox; the restart count kubelet shows is the attempt of the newest container.
async fn restart(ctx: &mut Ctx) -> Res<()> {
    let spec = |attempt| Spec {
        attempt,
        ..Spec::new("crashy", "echo run; exit 1")
    };
    let a0 = ctx.run_container(spec(0)).await?;
    let st = ctx.wait_exited(&a0).await?;
    check(
        st.exit_code == 1,
        &format!("attempt 0 died with exit code 1 (got {})", st.exit_code),
    )?;
    let a1 = ctx.run_container(spec(1)).await?;
    let st = ctx.wait_exited(&a1).await?;
    let attempt = st.metadata.as_ref().map(|m| m.attempt);
    check(
        st.exit_code == 1 && attempt == Some(1),
        &format!(
            "attempt 1 ran and died in the same sandbox (exit {}, attempt {attempt:?})",
            st.exit_code
        ),
    )?;
    check(
        log_lines(&ctx.log("crashy", 1), "stdout") == ["run"],
        "attempt 1 logs to its own file",
    )?;
    let listed = ctx
        .rt
        .list_containers(ListContainersRequest {
            filter: Some(ContainerFilter {
                pod_sandbox_id: ctx.pod.clone(),
                ..Default::default()
            }),
        })
        .await
        .map_err(e2s)?
        .into_inner()
        .containers;
    let attempts: Vec<u32> = listed
        .iter()
        .filter(|c| c.metadata.as_ref().is_some_and(|m| m.name == "crashy"))
        .map(|c| c.metadata.as_ref().map_or(0, |m| m.attempt))
        .collect();
    check(
        attempts.iter().max() == Some(&1) && attempts.len() == 2,
        &format!("ListContainers: both attempts, restart count 1 ({attempts:?})"),
    )?;
    let pod = ctx
        .rt
        .pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: ctx.pod.clone(),
            verbose: false,
        })
        .await
        .map_err(e2s)?
        .into_inner()
        .status
        .ok_or("no sandbox status")?;
    check(
        pod.state == PodSandboxState::SandboxReady as i32,
        "the sandbox is still ready",
    )?;
    ctx.remove(&a0).await?;
    ctx.remove(&a1).await
}

/// A container over its memory limit is reported OOMKilled with exit code 137.
async fn oom_killed(ctx: &mut Ctx) -> Res<()> {
    let id = ctx
        .run_container(Spec {
            memory_limit: 32 << 20,
            ..Spec::new(
                "hog",
                "x=$(dd if=/dev/zero bs=1M count=256 2>/dev/null | tr '\\0' a); echo survived",
            )
        })
        .await?;
    let st = ctx.wait_exited(&id).await?;
    check(
        st.reason == "OOMKilled" && st.exit_code == 137,
        &format!(
            "OOMKilled reported (exit {} reason {:?})",
            st.exit_code, st.reason
        ),
    )?;
    ctx.remove(&id).await
}

/// A pod sharing one pid namespace (`shareProcessNamespace: true`): when a container's main
/// process exits, what it left running is killed (runc's shim runs `<binary> kill --all <id> 9`
/// after the init of a container without a pid namespace of its own exits) and its exit code is
/// reported; an exec in a container sees the pod's PID 1.
async fn shared_pid(ctx: &mut Ctx) -> Res<()> {
    let shared = |name, script| Spec {
        share_pid: true,
        ..Spec::new(name, script)
    };
    let watcher = ctx
        .run_ready(shared(
            "watcher",
            "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done",
        ))
        .await?;
    let leader = ctx
        .run_container(shared("leader", "sleep 1001 & sleep 1002 & exit 5"))
        .await?;
    let st = ctx.wait_exited(&leader).await?;
    check(
        st.exit_code == 5 && st.reason == "Error",
        &format!(
            "exit code 5 of the main process reported (got {} {:?})",
            st.exit_code, st.reason
        ),
    )?;
    let ps = "for p in /proc/[0-9]*; do echo $(tr '\\0' ' ' <$p/cmdline); done";
    let r = ctx.exec_sync(&watcher, &["sh", "-c", ps]).await?;
    let out = String::from_utf8_lossy(&r.stdout).to_string();
    check(
        out.lines()
            .next()
            .is_some_and(|l| l.starts_with("sleep 2147483647")),
        &format!("ExecSync: PID 1 is the pod's sandbox process ({out:?})"),
    )?;
    check(
        !out.contains("sleep 1001") && !out.contains("sleep 1002"),
        &format!("the exited container's background processes were killed ({out:?})"),
    )?;
    ctx.remove(&leader).await?;
    stop_and_remove(ctx, &watcher).await
}

/// ExecSync as an exec probe: exit code, stdout and stderr; the process is in the container.
async fn exec_sync(ctx: &mut Ctx) -> Res<()> {
    let id = ctx.run_server("probed").await?;
    let r = ctx
        .exec_sync(&id, &["sh", "-c", "echo probe; echo probe-err >&2; exit 3"])
        .await?;
    check(
        r.exit_code == 3
            && String::from_utf8_lossy(&r.stdout).trim() == "probe"
            && String::from_utf8_lossy(&r.stderr).trim() == "probe-err",
        &format!(
            "ExecSync: exit code 3, stdout and stderr (got {}, {:?}, {:?})",
            r.exit_code,
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&r.stderr)
        ),
    )?;
    let r = ctx.exec_sync(&id, &["true"]).await?;
    check(
        r.exit_code == 0,
        &format!("ExecSync: a passing probe exits 0 (got {})", r.exit_code),
    )?;
    // The pod does not share a pid namespace: PID 1 is the container's shell.
    let r = ctx
        .exec_sync(&id, &["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"])
        .await?;
    let out = String::from_utf8_lossy(&r.stdout).to_string();
    check(
        r.exit_code == 0 && out.contains("trap"),
        &format!("ExecSync: the process is in the container's pid namespace (PID 1 is {out:?})"),
    )?;
    let r = ctx.exec_sync(&id, &["/no/such/probe"]).await;
    check(
        matches!(&r, Ok(r) if r.exit_code != 0) || r.is_err(),
        &format!("ExecSync of a missing program fails ({r:?})"),
    )?;
    stop_and_remove(ctx, &id).await
}

/// UpdateContainerResources: the new memory limit is the container's cgroup's.
async fn update(ctx: &mut Ctx) -> Res<()> {
    const NEW_LIMIT: i64 = 96 << 20;
    let id = ctx.run_server("resized").await?;
    ctx.rt
        .update_container_resources(UpdateContainerResourcesRequest {
            container_id: id.clone(),
            linux: Some(LinuxContainerResources {
                memory_limit_in_bytes: NEW_LIMIT,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("UpdateContainerResources: {}", e2s(e)))?;
    let r = ctx
        .exec_sync(
            &id,
            &[
                "sh",
                "-c",
                "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
            ],
        )
        .await?;
    let seen = String::from_utf8_lossy(&r.stdout).trim().to_string();
    check(
        seen == NEW_LIMIT.to_string(),
        &format!("memory limit {NEW_LIMIT} seen in the container's cgroup (got {seen:?})"),
    )?;
    stop_and_remove(ctx, &id).await
}

/// ContainerStats of a running container: a memory working set and CPU usage.
async fn stats(ctx: &mut Ctx) -> Res<()> {
    let id = ctx.run_server("measured").await?;
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
    let ws = stats
        .memory
        .and_then(|m| m.working_set_bytes)
        .map_or(0, |v| v.value);
    check(ws > 0, &format!("memory working set {ws} > 0"))?;
    let cpu = stats
        .cpu
        .and_then(|c| c.usage_core_nano_seconds)
        .map_or(0, |v| v.value);
    check(cpu > 0, &format!("cpu usage {cpu} ns > 0"))?;
    stop_and_remove(ctx, &id).await
}

/// StopContainer: SIGTERM to a process that handles it (its exit status), and SIGKILL after
/// the grace period to one that ignores it (137).
async fn stop(ctx: &mut Ctx) -> Res<()> {
    let id = ctx.run_server("graceful").await?;
    ctx.rt
        .stop_container(StopContainerRequest {
            container_id: id.clone(),
            timeout: 10,
        })
        .await
        .map_err(|e| format!("StopContainer: {}", e2s(e)))?;
    let st = ctx.wait_exited(&id).await?;
    check(
        st.exit_code == 0,
        &format!("SIGTERM handled: exit code 0 (got {})", st.exit_code),
    )?;
    ctx.remove(&id).await?;

    let id = ctx
        .run_ready(Spec::new(
            "stubborn",
            "trap '' TERM; echo ready; while :; do sleep 0.1; done",
        ))
        .await?;
    ctx.rt
        .stop_container(StopContainerRequest {
            container_id: id.clone(),
            timeout: 1,
        })
        .await
        .map_err(|e| format!("StopContainer (SIGTERM ignored): {}", e2s(e)))?;
    let st = ctx.wait_exited(&id).await?;
    check(
        st.exit_code == 137,
        &format!(
            "SIGTERM ignored: SIGKILL after the grace period, exit code 137 (got {})",
            st.exit_code
        ),
    )?;
    ctx.remove(&id).await
}

async fn stop_and_remove(ctx: &mut Ctx, id: &str) -> Res<()> {
    ctx.rt
        .stop_container(StopContainerRequest {
            container_id: id.into(),
            timeout: 10,
        })
        .await
        .map_err(|e| format!("StopContainer: {}", e2s(e)))?;
    ctx.remove(id).await
}

/// What kubelet does when a pod goes away: remove what is left, stop and remove the sandbox.
async fn teardown(ctx: &mut Ctx) -> Res<()> {
    let mut errors = Vec::new();
    for id in ctx.created.clone() {
        if let Err(e) = ctx.remove(&id).await {
            errors.push(e);
        }
    }
    let pod = ctx.pod.clone();
    let stop = ctx
        .rt
        .stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await;
    let remove = ctx
        .rt
        .remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await;
    check(
        errors.is_empty(),
        &format!("RemoveContainer of what was left {errors:?}"),
    )?;
    check(stop.is_ok(), &format!("StopPodSandbox {:?}", stop.err()))?;
    check(
        remove.is_ok(),
        &format!("RemovePodSandbox {:?}", remove.err()),
    )?;
    let left = ctx
        .rt
        .list_containers(ListContainersRequest { filter: None })
        .await
        .map_err(e2s)?
        .into_inner()
        .containers
        .into_iter()
        .filter(|c| c.pod_sandbox_id == pod)
        .count();
    check(left == 0, "no container of the pod is left in CRI")
}

async fn connect(socket: &Path) -> Res<Channel> {
    let socket = socket.to_path_buf();
    Endpoint::try_from("http://[::]:50051")
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(10))
        .timeout(CALL_TIMEOUT)
        .connect_with_connector(service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(
                    tokio::net::UnixStream::connect(socket).await?,
                ))
            }
        }))
        .await
        .map_err(|e| format!("connect: {e}"))
}

/// Version, the image, RunPodSandbox; returns the pod's id.
async fn start_pod(ctx: &mut Ctx) -> Res<String> {
    let v = ctx
        .rt
        .version(VersionRequest {
            version: "v1".into(),
        })
        .await
        .map_err(e2s)?
        .into_inner();
    println!(
        "info CRI runtime {} {} (api {})",
        v.runtime_name, v.runtime_version, v.runtime_api_version
    );
    let img = ctx
        .img
        .image_status(ImageStatusRequest {
            image: Some(ImageSpec {
                image: ctx.image.clone(),
                ..Default::default()
            }),
            verbose: false,
        })
        .await
        .map_err(e2s)?
        .into_inner();
    check(img.image.is_some(), "the imported image is visible to CRI")?;
    let pod = ctx
        .rt
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(ctx.sandbox.clone()),
            runtime_handler: ctx.handler.clone(),
        })
        .await
        .map_err(|e| format!("RunPodSandbox: {}", e2s(e)))?
        .into_inner()
        .pod_sandbox_id;
    println!("ok   RunPodSandbox (handler {}) -> {pod}", ctx.handler);
    // The pod's id first, so the caller can look for leftovers even if a check below fails.
    println!("POD {pod}");
    let status = ctx
        .rt
        .pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: pod.clone(),
            verbose: false,
        })
        .await
        .map_err(e2s)?
        .into_inner()
        .status
        .ok_or("no sandbox status")?;
    check(
        status.state == PodSandboxState::SandboxReady as i32,
        "the sandbox is ready",
    )?;
    Ok(pod)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = match args.get(1).map(String::as_str) {
        Some("bench-pods") => Some(bench::pods(&args[2..]).await),
        Some("bench-density") => Some(bench::density(&args[2..]).await),
        Some("pod-slice") => {
            let r = podslice::run(&args[2..]).await;
            match &r {
                Ok(()) => println!("POD-SLICE PASS"),
                Err(e) => println!(
                    "POD-SLICE FAIL {}",
                    e.strip_prefix("FAIL ").unwrap_or(e).replace('\n', " ")
                ),
            }
            std::process::exit(i32::from(r.is_err()));
        }
        _ => None,
    };
    if let Some(result) = bench {
        if let Err(e) = result {
            println!("FAIL {}", e.replace('\n', " "));
            std::process::exit(1);
        }
        return;
    }
    if args.len() != 5 {
        eprintln!("usage: berth-cri-test SOCKET HANDLER IMAGE WORKDIR");
        std::process::exit(2);
    }
    let socket = PathBuf::from(&args[1]);
    let channel = match connect(&socket).await {
        Ok(c) => c,
        Err(e) => {
            println!("FAIL {e}");
            std::process::exit(1);
        }
    };
    let handler = args[2].clone();
    // Log files of each handler's run apart: the scenarios reuse container names.
    let logdir = PathBuf::from(&args[4]).join("pod-logs").join(&handler);
    let _ = std::fs::create_dir_all(&logdir);
    let uid = format!("{handler}-{}", std::process::id());
    let mut ctx = Ctx {
        rt: RuntimeServiceClient::new(channel.clone()),
        img: ImageServiceClient::new(channel),
        sandbox: Ctx::sandbox_config(&logdir, &uid),
        handler,
        image: args[3].clone(),
        logdir,
        pod: String::new(),
        created: Vec::new(),
    };
    let started = tokio::time::timeout(SCENARIO_TIMEOUT, start_pod(&mut ctx))
        .await
        .unwrap_or_else(|_| fail("RunPodSandbox hung"));
    let mut failed = 0;
    match started {
        Ok(pod) => ctx.pod = pod,
        Err(e) => {
            println!("{e}");
            for s in Scenario::ALL {
                println!("SCENARIO {} FAIL no sandbox", s.name());
            }
            println!("CRI FAIL");
            std::process::exit(1);
        }
    }
    for s in Scenario::ALL {
        let t = Instant::now();
        let r = tokio::time::timeout(SCENARIO_TIMEOUT, s.run(&mut ctx))
            .await
            .unwrap_or_else(|_| fail(format!("hung for {} s", SCENARIO_TIMEOUT.as_secs())));
        let ms = t.elapsed().as_millis();
        match r {
            Ok(()) => println!("SCENARIO {} PASS ({ms} ms)", s.name()),
            Err(e) => {
                failed += 1;
                let e = e.strip_prefix("FAIL ").unwrap_or(&e).replace('\n', " ");
                println!("FAIL {}: {e}", s.name());
                println!("SCENARIO {} FAIL {e}", s.name());
            }
        }
    }
    if failed == 0 {
        println!("CRI PASS");
    } else {
        println!("CRI FAIL ({failed} scenarios)");
        std::process::exit(1);
    }
}
