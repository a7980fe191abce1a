//! What the end-to-end benchmarks share: the report, this process's counters in /proc, child
//! processes, and SDK settings that never leave loopback.

#![allow(dead_code)] // Not every benchmark uses every helper.

#[path = "../../../agent-core/benches/common/report.rs"]
pub(crate) mod report;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use minimalagent::bedrock::aws_config::timeout::TimeoutConfig;
use minimalagent::bedrock::aws_config::{self, BehaviorVersion, Region, SdkConfig};
use minimalagent::bedrock::aws_credential_types::Credentials;

/// The environment variable that tells a benchmark binary which child role to play.
pub(crate) const ROLE_ENV: &str = "MINIMALAGENT_BENCH_ROLE";

/// The region every client uses: explicit, so the SDK looks nowhere for one.
pub(crate) const REGION: &str = "us-west-2";

/// The model id sent to the stand-in.
pub(crate) const MODEL_ID: &str = "us.amazon.nova-pro-v1:0";

/// Shared SDK settings for loopback endpoints: explicit region and static dummy credentials (so
/// nothing probes instance metadata or reads profile files), and short timeouts.
pub(crate) async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "minimalagent",
            "minimalagent",
            None,
            None,
            "benchmark",
        ))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        )
        .endpoint_url(endpoint)
        .load()
        .await
}

/// A field of /proc/self/status in KiB (`VmRSS`, `VmHWM`).
pub(crate) fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// Resets this process's peak RSS (VmHWM) to its current RSS (Linux 4.0+); false if it could
/// not.
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// CPU time (user + system) used so far by the threads of process `pid` whose names start
/// with `thread_prefix` (all threads when empty), from /proc/PID/task/*/stat.
pub(crate) fn thread_cpu(pid: u32, thread_prefix: &str) -> Duration {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !name.trim_end().starts_with(thread_prefix) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // Fields after the command (which may hold spaces) start at state; utime and stime are
        // fields 14 and 15 of the whole line.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| {
            fields
                .get(n)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        ticks += field(11) + field(12);
    }
    Duration::from_secs_f64(ticks as f64 / ticks_per_second)
}

/// A child process's exit and what it printed.
#[derive(Debug)]
pub(crate) struct ChildRun {
    /// From just before the spawn to the moment its exit was seen.
    pub(crate) elapsed: Duration,
    /// Its standard output.
    pub(crate) stdout: String,
    /// Whether it exited with success.
    pub(crate) success: bool,
}

/// Spawns this same executable in `role`, with extra environment, and waits for it (killing it
/// after `timeout`). Its stderr goes to ours; its stdout is captured.
pub(crate) fn run_self(
    role: &str,
    env: &[(&str, String)],
    timeout: Duration,
) -> std::io::Result<ChildRun> {
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command
        .env(ROLE_ENV, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, value) in env {
        command.env(name, value);
    }
    let started = Instant::now();
    let mut child = command.spawn()?;
    let status = wait_with_timeout(&mut child, timeout)?;
    let elapsed = started.elapsed();
    let mut stdout = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        pipe.read_to_string(&mut stdout)?;
    }
    Ok(ChildRun {
        elapsed,
        stdout,
        success: status.is_some_and(|status| status.success()),
    })
}

/// Waits for `child` to exit, polling finely; kills it after `timeout` and returns `None`.
fn wait_with_timeout(
    child: &mut Child,
    timeout: Duration,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            child.kill()?;
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Environment every child gets: loopback only, explicit region and dummy credentials, no
/// profile files, no instance-metadata probe.
pub(crate) fn sdk_child_env(bedrock_endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_ACCESS_KEY_ID", "minimalagent".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "minimalagent".to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        (
            "AWS_CONFIG_FILE",
            "/nonexistent/minimalagent-bench".to_owned(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/minimalagent-bench".to_owned(),
        ),
        (
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            bedrock_endpoint.to_owned(),
        ),
    ]
}
