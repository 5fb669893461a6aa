//! berth-cri-test: drives containerd's CRI plugin the way kubelet does, with a runtime handler
//! (RuntimeClass) served by containerd-shim-berth-v2, and checks what the containers observed.
//!
//!   berth-cri-test SOCKET HANDLER IMAGE WORKDIR
//!
//! Steps: Version → RunPodSandbox → CreateContainer/StartContainer → ContainerStatus (exit
//! code, reason Completed/Error/OOMKilled) → logs from the CRI log file → a second container
//! sees the pod's network namespace → a restarted container (attempt 1) in the same sandbox →
//! ExecSync (an error, not a hang, until exec lands) → Stop/Remove everything. Prints one line
//! per check and exits non-zero on the first failure. The caller (run-tests.sh) checks that
//! nothing is left behind (shim processes, mounts, cgroups, state).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tonic::transport::{Channel, Endpoint, Uri};
use tower::service_fn;

type Res<T> = Result<T, String>;

struct Ctx {
    rt: RuntimeServiceClient<Channel>,
    img: ImageServiceClient<Channel>,
    handler: String,
    image: String,
    logdir: PathBuf,
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

impl Ctx {
    fn sandbox_config(&self, uid: &str) -> PodSandboxConfig {
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: format!("berth-pod-{uid}"),
                uid: uid.to_string(),
                namespace: "default".into(),
                attempt: 0,
            }),
            hostname: "berth-pod".into(),
            log_directory: self.logdir.display().to_string(),
            linux: Some(LinuxPodSandboxConfig {
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(NamespaceOption {
                        network: NamespaceMode::Pod as i32,
                        pid: NamespaceMode::Container as i32,
                        ipc: NamespaceMode::Pod as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn run_container(
        &mut self,
        pod: &str,
        sandbox: &PodSandboxConfig,
        name: &str,
        attempt: u32,
        script: &str,
        memory_limit: i64,
    ) -> Res<String> {
        let config = ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: name.into(),
                attempt,
            }),
            image: Some(ImageSpec {
                image: self.image.clone(),
                ..Default::default()
            }),
            command: vec!["sh".into(), "-c".into(), script.into()],
            log_path: format!("{name}_{attempt}.log"),
            linux: Some(LinuxContainerConfig {
                resources: Some(LinuxContainerResources {
                    memory_limit_in_bytes: memory_limit,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = self
            .rt
            .create_container(CreateContainerRequest {
                pod_sandbox_id: pod.into(),
                config: Some(config),
                sandbox_config: Some(sandbox.clone()),
            })
            .await
            .map_err(e2s)?
            .into_inner()
            .container_id;
        self.rt
            .start_container(StartContainerRequest {
                container_id: id.clone(),
            })
            .await
            .map_err(e2s)?;
        Ok(id)
    }

    async fn wait_exited(&mut self, id: &str) -> Res<ContainerStatus> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let st = self
                .rt
                .container_status(ContainerStatusRequest {
                    container_id: id.into(),
                    verbose: false,
                })
                .await
                .map_err(e2s)?
                .into_inner()
                .status
                .ok_or("no status")?;
            if st.state == ContainerState::ContainerExited as i32 {
                return Ok(st);
            }
            if Instant::now() > deadline {
                return fail(format!("container {id} did not exit: {st:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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

async fn connect(socket: &Path) -> Res<Channel> {
    let socket = socket.to_path_buf();
    Endpoint::try_from("http://[::]:50051")
        .map_err(|e| e.to_string())?
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

async fn run(ctx: &mut Ctx) -> Res<()> {
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

    let uid = format!("{}", std::process::id());
    let sandbox = ctx.sandbox_config(&uid);
    let pod = ctx
        .rt
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(sandbox.clone()),
            runtime_handler: ctx.handler.clone(),
        })
        .await
        .map_err(e2s)?
        .into_inner()
        .pod_sandbox_id;
    println!("ok   RunPodSandbox (handler {}) -> {pod}", ctx.handler);

    let result = pod_checks(ctx, &pod, &sandbox).await;

    // Teardown runs whatever happened above, as kubelet would.
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
    result?;
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
    check(left == 0, "no container of the pod is left in CRI")?;
    println!("POD {pod}");
    Ok(())
}

async fn pod_checks(ctx: &mut Ctx, pod: &str, sandbox: &PodSandboxConfig) -> Res<()> {
    let status = ctx
        .rt
        .pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: pod.into(),
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

    // 1. A container that prints and fails: exit code, reason, logs.
    let a = ctx
        .run_container(
            pod,
            sandbox,
            "app",
            0,
            "echo hello-cri; echo to-stderr >&2; readlink /proc/self/ns/net; hostname; exit 3",
            0,
        )
        .await?;
    let st = ctx.wait_exited(&a).await?;
    check(
        st.exit_code == 3,
        &format!("exit code 3 reported (got {})", st.exit_code),
    )?;
    check(
        st.reason == "Error",
        &format!("reason Error (got {:?})", st.reason),
    )?;
    let log = ctx.log("app", 0);
    let out = log_lines(&log, "stdout");
    check(
        out.first().map(String::as_str) == Some("hello-cri"),
        &format!("stdout in the CRI log file ({out:?})"),
    )?;
    check(
        log_lines(&log, "stderr") == vec!["to-stderr".to_string()],
        "stderr in the CRI log file",
    )?;
    check(
        out.get(2).map(String::as_str) == Some("berth-pod"),
        "the pod's hostname",
    )?;
    let netns_a = out.get(1).cloned().unwrap_or_default();

    // 2. A second container shares the pod's network namespace (not the host's).
    let b = ctx
        .run_container(pod, sandbox, "sidecar", 0, "readlink /proc/self/ns/net", 0)
        .await?;
    let st = ctx.wait_exited(&b).await?;
    check(
        st.exit_code == 0 && st.reason == "Completed",
        &format!(
            "second container Completed ({} {:?})",
            st.exit_code, st.reason
        ),
    )?;
    let netns_b = log_lines(&ctx.log("sidecar", 0), "stdout")
        .first()
        .cloned()
        .unwrap_or_default();
    let host = std::fs::read_link("/proc/self/ns/net")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    check(
        !netns_a.is_empty() && netns_a == netns_b,
        &format!("both containers in one network namespace ({netns_a} / {netns_b})"),
    )?;
    let host_net = std::env::var("BERTH_CRI_HOST_NETWORK").is_ok();
    check(
        host_net || netns_a != host,
        &format!("the pod's network namespace is not the host's ({host})"),
    )?;

    // 3. kubelet's restart: the exited container is replaced by attempt 1 in the same sandbox.
    ctx.rt
        .remove_container(RemoveContainerRequest {
            container_id: a.clone(),
        })
        .await
        .map_err(e2s)?;
    let a1 = ctx
        .run_container(pod, sandbox, "app", 1, "echo restarted; exit 0", 0)
        .await?;
    let st = ctx.wait_exited(&a1).await?;
    check(
        st.exit_code == 0 && log_lines(&ctx.log("app", 1), "stdout") == vec!["restarted"],
        "restarted container (attempt 1) ran in the same sandbox",
    )?;

    // 4. OOM: a container over its memory limit is reported OOMKilled.
    let oom = ctx
        .run_container(
            pod,
            sandbox,
            "hog",
            0,
            "x=$(dd if=/dev/zero bs=1M count=256 2>/dev/null | tr '\\0' a); echo survived",
            32 * 1024 * 1024,
        )
        .await?;
    let st = ctx.wait_exited(&oom).await?;
    check(
        st.reason == "OOMKilled" && st.exit_code == 137,
        &format!(
            "OOMKilled reported (exit {} reason {:?})",
            st.exit_code, st.reason
        ),
    )?;

    // 5. A long-running container: ExecSync answers (an error until exec lands, never a hang),
    //    then StopContainer ends it with the signal's status.
    let long = ctx
        .run_container(
            pod,
            sandbox,
            "server",
            0,
            "trap 'exit 0' TERM; while :; do sleep 0.1; done",
            0,
        )
        .await?;
    let exec = tokio::time::timeout(
        Duration::from_secs(20),
        ctx.rt.exec_sync(ExecSyncRequest {
            container_id: long.clone(),
            cmd: vec!["echo".into(), "probe".into()],
            timeout: 5,
        }),
    )
    .await;
    match exec {
        Err(_) => return fail("FAIL ExecSync hung"),
        Ok(Ok(r)) => {
            let r = r.into_inner();
            check(
                r.exit_code == 0 && String::from_utf8_lossy(&r.stdout).trim() == "probe",
                "ExecSync probe",
            )?;
        }
        Ok(Err(e)) => {
            println!("info ExecSync: {}", e2s(e.clone()));
            check(
                e.message().contains("exec"),
                "ExecSync fails with a clear error (exec not merged yet)",
            )?;
        }
    }
    ctx.rt
        .stop_container(StopContainerRequest {
            container_id: long.clone(),
            timeout: 10,
        })
        .await
        .map_err(e2s)?;
    let st = ctx.wait_exited(&long).await?;
    check(
        st.exit_code == 0,
        &format!(
            "StopContainer: SIGTERM handled, exit 0 (got {})",
            st.exit_code
        ),
    )?;

    let mut seen = HashMap::new();
    for c in [&b, &a1, &oom, &long] {
        ctx.rt
            .remove_container(RemoveContainerRequest {
                container_id: c.to_string(),
            })
            .await
            .map_err(e2s)?;
        seen.insert(c.to_string(), true);
    }
    check(seen.len() == 4, "RemoveContainer for every container")?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: berth-cri-test SOCKET HANDLER IMAGE WORKDIR");
        std::process::exit(2);
    }
    let socket = PathBuf::from(&args[1]);
    let channel = match connect(&socket).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("FAIL {e}");
            std::process::exit(1);
        }
    };
    let logdir = PathBuf::from(&args[4]).join("pod-logs");
    let _ = std::fs::create_dir_all(&logdir);
    let mut ctx = Ctx {
        rt: RuntimeServiceClient::new(channel.clone()),
        img: ImageServiceClient::new(channel),
        handler: args[2].clone(),
        image: args[3].clone(),
        logdir,
    };
    match run(&mut ctx).await {
        Ok(()) => println!("CRI PASS"),
        Err(e) => {
            eprintln!("{e}");
            println!("CRI FAIL");
            std::process::exit(1);
        }
    }
}
