//! The CRI part of `make bench` (integration/bench/containerd.sh): what kubelet waits for and
//! what a node spends per pod, through one or more runtime handlers.
//!
//!   berth-cri-test bench-pods SOCKET IMAGE WORKDIR ROUNDS HANDLER...
//!   berth-cri-test bench-density SOCKET HANDLER IMAGE WORKDIR PODS CONTAINERD_PID
//!
//! A pod here is what kubelet makes of a one-container pod: RunPodSandbox, CreateContainer and
//! StartContainer of a sleeping busybox (`sleep 3600`), ContainerStatus polled (every
//! millisecond) until it says RUNNING. Its teardown is StopPodSandbox + RemovePodSandbox.
//!
//! `bench-pods` starts and tears down one pod per handler per round, the handlers' order rotated
//! every round, and prints `POD_START <handler> <µs>` and `POD_TEARDOWN <handler> <µs>`.
//!
//! `bench-density` starts and removes one pod (unmeasured), then starts PODS pods through
//! HANDLER, one after the other, waits `BENCH_CRI_SETTLE` seconds (default 20) so that the
//! pods are measured as a node holds them most of the time, idle since their start (berth's
//! shim lets a pod's runtime worker go 10–15 s after its last request), and prints
//!
//!   DENSITY <handler> pods <n> shim_procs <n> shim_rss_kib <sum of VmRSS> \
//!     shim_pss_kib <sum of Pss> containerd_before_kib <VmRSS> containerd_after_kib <VmRSS>
//!
//! over every shim process of this containerd (argv[0] `containerd-shim-*`, `-address SOCKET`;
//! berth's shim daemons and their runtime workers alike). Then it tears every pod down and
//! prints `LEFT pods <n> shim_procs <n>` (pods CRI still lists, shim processes still alive 10 s
//! later). Exits non-zero if a step failed or anything is left.
//!
//! Nothing here asserts on a number: the timings and sizes are for the bench's table.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tonic::transport::Channel;

use crate::{connect, e2s, fail, Ctx, Res};

/// How long a container may take to say RUNNING, and shims to exit after the teardown.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

struct Bench {
    rt: RuntimeServiceClient<Channel>,
    image: String,
    logdir: PathBuf,
    /// Pods made so far: their names are unique within this containerd.
    made: u32,
}

impl Bench {
    async fn new(socket: &Path, image: &str, workdir: &Path) -> Res<Bench> {
        let logdir = workdir.join("pod-logs").join("bench");
        std::fs::create_dir_all(&logdir)
            .map_err(|e| format!("create {}: {e}", logdir.display()))?;
        Ok(Bench {
            rt: RuntimeServiceClient::new(connect(socket).await?),
            image: image.into(),
            logdir,
            made: 0,
        })
    }

    /// RunPodSandbox → CreateContainer → StartContainer → ContainerStatus RUNNING. Returns the
    /// pod's id.
    async fn start_pod(&mut self, handler: &str) -> Res<String> {
        self.made += 1;
        let uid = format!("bench-{handler}-{}-{}", std::process::id(), self.made);
        let mut sandbox = Ctx::sandbox_config(&self.logdir, &uid);
        if std::env::var("BERTH_CRI_HOST_NETWORK").is_ok_and(|v| !v.is_empty()) {
            // No CNI plugin on this host: the pods use the host's network (hostNetwork: true).
            if let Some(ns) = sandbox
                .linux
                .as_mut()
                .and_then(|l| l.security_context.as_mut())
                .and_then(|s| s.namespace_options.as_mut())
            {
                ns.network = NamespaceMode::Node as i32;
            }
        }
        let pod = self
            .rt
            .run_pod_sandbox(RunPodSandboxRequest {
                config: Some(sandbox.clone()),
                runtime_handler: handler.into(),
            })
            .await
            .map_err(|e| format!("RunPodSandbox ({handler}): {}", e2s(e)))?
            .into_inner()
            .pod_sandbox_id;
        let config = ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: "sleeper".into(),
                attempt: 0,
            }),
            image: Some(ImageSpec {
                image: self.image.clone(),
                ..Default::default()
            }),
            command: vec!["sleep".into(), "3600".into()],
            log_path: format!("{uid}.log"),
            linux: Some(LinuxContainerConfig {
                resources: Some(LinuxContainerResources::default()),
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: sandbox
                        .linux
                        .as_ref()
                        .and_then(|l| l.security_context.as_ref())
                        .and_then(|s| s.namespace_options.clone()),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        let started = self.start_container(&pod, config, sandbox).await;
        if let Err(e) = started {
            // The pod is ours to remove even though its container failed.
            let _ = self.remove_pod(&pod).await;
            return Err(e);
        }
        Ok(pod)
    }

    async fn start_container(
        &mut self,
        pod: &str,
        config: ContainerConfig,
        sandbox: PodSandboxConfig,
    ) -> Res<()> {
        let id = self
            .rt
            .create_container(CreateContainerRequest {
                pod_sandbox_id: pod.into(),
                config: Some(config),
                sandbox_config: Some(sandbox),
            })
            .await
            .map_err(|e| format!("CreateContainer in {pod}: {}", e2s(e)))?
            .into_inner()
            .container_id;
        self.rt
            .start_container(StartContainerRequest {
                container_id: id.clone(),
            })
            .await
            .map_err(|e| format!("StartContainer {id}: {}", e2s(e)))?;
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let st = self
                .rt
                .container_status(ContainerStatusRequest {
                    container_id: id.clone(),
                    verbose: false,
                })
                .await
                .map_err(|e| format!("ContainerStatus {id}: {}", e2s(e)))?
                .into_inner()
                .status
                .ok_or_else(|| format!("ContainerStatus {id}: no status"))?;
            if st.state == ContainerState::ContainerRunning as i32 {
                return Ok(());
            }
            if st.state == ContainerState::ContainerExited as i32 || Instant::now() > deadline {
                return fail(format!(
                    "container {id} not running: state {} exit {} reason {:?}",
                    st.state, st.exit_code, st.reason
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// StopPodSandbox + RemovePodSandbox, as kubelet ends a pod.
    async fn remove_pod(&mut self, pod: &str) -> Res<()> {
        self.rt
            .stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: pod.into(),
            })
            .await
            .map_err(|e| format!("StopPodSandbox {pod}: {}", e2s(e)))?;
        self.rt
            .remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: pod.into(),
            })
            .await
            .map_err(|e| format!("RemovePodSandbox {pod}: {}", e2s(e)))?;
        Ok(())
    }

    async fn pods_listed(&mut self) -> Res<usize> {
        Ok(self
            .rt
            .list_pod_sandbox(ListPodSandboxRequest { filter: None })
            .await
            .map_err(|e| format!("ListPodSandbox: {}", e2s(e)))?
            .into_inner()
            .items
            .len())
    }
}

fn micros(t: Instant) -> u128 {
    t.elapsed().as_micros()
}

/// `bench-pods SOCKET IMAGE WORKDIR ROUNDS HANDLER...`
pub async fn pods(args: &[String]) -> Res<()> {
    let [socket, image, workdir, rounds, handlers @ ..] = args else {
        return fail("usage: berth-cri-test bench-pods SOCKET IMAGE WORKDIR ROUNDS HANDLER...");
    };
    let rounds: usize = rounds
        .parse()
        .map_err(|e| format!("ROUNDS {rounds:?}: {e}"))?;
    if handlers.is_empty() {
        return fail("bench-pods: no HANDLER");
    }
    let mut b = Bench::new(Path::new(socket), image, Path::new(workdir)).await?;
    // One pod per handler first, unmeasured: the first pod pays for what containerd sets up
    // once (the snapshot of the image, the CNI plugin's first run).
    for h in handlers {
        let pod = b.start_pod(h).await?;
        b.remove_pod(&pod).await?;
    }
    for round in 0..rounds {
        let mut order = handlers.to_vec();
        order.rotate_left(round % handlers.len());
        for h in &order {
            let t = Instant::now();
            let pod = b.start_pod(h).await?;
            println!("POD_START {h} {}", micros(t));
            let t = Instant::now();
            b.remove_pod(&pod).await?;
            println!("POD_TEARDOWN {h} {}", micros(t));
        }
    }
    Ok(())
}

/// The shim processes of the containerd on `socket`: argv[0] is a `containerd-shim-*` binary
/// and `-address SOCKET` is among the arguments.
fn shim_procs(socket: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let argv: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            let is_shim = argv.first().is_some_and(|a0| {
                let name = a0.rsplit(|&b| b == b'/').next().unwrap_or(a0);
                name.starts_with(b"containerd-shim-")
            });
            is_shim
                && argv
                    .windows(2)
                    .any(|w| w[0] == b"-address" && w[1] == socket.as_bytes())
        })
        .collect()
}

/// A `Field:   <n> kB` line of a /proc file, in KiB (0 when the process is gone).
fn proc_kib(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix(field)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

/// `bench-density SOCKET HANDLER IMAGE WORKDIR PODS CONTAINERD_PID`
pub async fn density(args: &[String]) -> Res<()> {
    let [socket, handler, image, workdir, n, ctrd] = args else {
        return fail(
            "usage: berth-cri-test bench-density SOCKET HANDLER IMAGE WORKDIR PODS CONTAINERD_PID",
        );
    };
    let n: usize = n.parse().map_err(|e| format!("PODS {n:?}: {e}"))?;
    let ctrd_status = format!("/proc/{ctrd}/status");
    let mut b = Bench::new(Path::new(socket), image, Path::new(workdir)).await?;
    // One pod first, unmeasured: containerd's one-time set-up (the image's snapshot, the CNI
    // plugin's first run) is not the pods' memory.
    let pod = b.start_pod(handler).await?;
    b.remove_pod(&pod).await?;
    let before = proc_kib(&ctrd_status, "VmRSS");
    let mut pods = Vec::with_capacity(n);
    let mut failed = None;
    for _ in 0..n {
        match b.start_pod(handler).await {
            Ok(pod) => pods.push(pod),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if failed.is_none() {
        let settle = std::env::var("BENCH_CRI_SETTLE")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20);
        tokio::time::sleep(Duration::from_secs(settle)).await;
        let procs = shim_procs(socket);
        let rss: u64 = procs
            .iter()
            .map(|p| proc_kib(&format!("/proc/{p}/status"), "VmRSS"))
            .sum();
        let pss: u64 = procs
            .iter()
            .map(|p| proc_kib(&format!("/proc/{p}/smaps_rollup"), "Pss"))
            .sum();
        let after = proc_kib(&ctrd_status, "VmRSS");
        println!(
            "DENSITY {handler} pods {} shim_procs {} shim_rss_kib {rss} shim_pss_kib {pss} \
             containerd_before_kib {before} containerd_after_kib {after}",
            pods.len(),
            procs.len()
        );
    }
    for pod in &pods {
        if let Err(e) = b.remove_pod(pod).await {
            failed.get_or_insert(e);
        }
    }
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while !shim_procs(socket).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (left_pods, left_procs) = (b.pods_listed().await?, shim_procs(socket).len());
    println!("LEFT pods {left_pods} shim_procs {left_procs}");
    if let Some(e) = failed {
        return Err(e);
    }
    if left_pods + left_procs > 0 {
        return fail(format!(
            "after the teardown: {left_pods} pods listed, {left_procs} shim processes alive"
        ));
    }
    Ok(())
}
