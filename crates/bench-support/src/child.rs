//! Child processes of a benchmark: the benchmark's own executable started again in another
//! role (named by [`ROLE_ENV`]), for figures that need a fresh process or several processes.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that tells a benchmark executable which child role to play.
pub const ROLE_ENV: &str = "MINIMALAGENT_BENCH_ROLE";

/// The role this process was started in, if it is a child.
pub fn role() -> Option<String> {
    std::env::var(ROLE_ENV).ok().filter(|role| !role.is_empty())
}

/// A child process's exit and what it printed.
#[derive(Debug)]
pub struct ChildRun {
    /// From just before the spawn to the moment its exit was seen.
    pub elapsed: Duration,
    /// Its standard output.
    pub stdout: String,
    /// Whether it exited with success (false when it was killed at the timeout).
    pub success: bool,
}

impl ChildRun {
    /// The last line of its output that starts with `{`: the JSON figures a child prints.
    pub fn json_line(&self) -> Option<&str> {
        self.stdout.lines().rev().find(|line| line.starts_with('{'))
    }
}

/// A command that starts this same executable in `role`, with extra environment; stdin
/// closed, stdout piped, stderr shared with this process.
///
/// # Errors
///
/// When the path of this executable cannot be found.
pub fn self_command(role: &str, env: &[(&str, String)]) -> std::io::Result<Command> {
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
    Ok(command)
}

/// Spawns this same executable in `role` and waits for it (killing it after `timeout`).
///
/// # Errors
///
/// When it cannot be spawned or waited for, or its output cannot be read.
pub fn run_self(
    role: &str,
    env: &[(&str, String)],
    timeout: Duration,
) -> std::io::Result<ChildRun> {
    run(self_command(role, env)?, timeout)
}

/// Runs `command` (whose stdout should be piped) and waits for it, killing it after
/// `timeout`.
///
/// # Errors
///
/// When it cannot be spawned or waited for, or its output cannot be read.
pub fn run(mut command: Command, timeout: Duration) -> std::io::Result<ChildRun> {
    let started = Instant::now();
    let mut child = command.spawn()?;
    // Read stdout while waiting, so that a child printing a lot never blocks on a full pipe.
    let reader = child.stdout.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut stdout = String::new();
            let _ = pipe.read_to_string(&mut stdout);
            stdout
        })
    });
    let status = wait_with_timeout(&mut child, timeout)?;
    let elapsed = started.elapsed();
    let stdout = reader
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    Ok(ChildRun {
        elapsed,
        stdout,
        success: status.is_some_and(|status| status.success()),
    })
}

/// Waits for `child` to exit, polling finely; kills it after `timeout` and returns `None`.
///
/// # Errors
///
/// When its status cannot be read or it cannot be killed.
pub fn wait_with_timeout(
    child: &mut Child,
    timeout: Duration,
) -> std::io::Result<Option<ExitStatus>> {
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
