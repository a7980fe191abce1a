//! The child process of a stdio server: spawning, stderr, exit status, shutdown.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Environment variables a stdio server inherits unless told otherwise: what a program needs
/// to run, and nothing that usually holds a secret (the same list as the official Python and
/// TypeScript MCP SDKs, plus `TMPDIR` and `LANG`).
#[cfg(not(windows))]
pub(crate) const DEFAULT_INHERITED_ENV: &[&str] = &[
    "HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "TMPDIR", "LANG",
];

/// Environment variables a stdio server inherits unless told otherwise (Windows).
#[cfg(windows)]
pub(crate) const DEFAULT_INHERITED_ENV: &[&str] = &[
    "APPDATA",
    "HOMEDRIVE",
    "HOMEPATH",
    "LOCALAPPDATA",
    "PATH",
    "PATHEXT",
    "PROCESSOR_ARCHITECTURE",
    "PROGRAMFILES",
    "SYSTEMDRIVE",
    "SYSTEMROOT",
    "TEMP",
    "TMP",
    "USERNAME",
    "USERPROFILE",
];

/// Lines of stderr kept for error messages.
const STDERR_TAIL_LINES: usize = 20;
/// How long an error message waits for the last stderr lines of a process that exited.
const STDERR_DRAIN_WAIT: Duration = Duration::from_millis(300);
/// Characters kept of each stderr line.
const STDERR_LINE_CHARS: usize = 500;

/// What the child process does with its stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stderr {
    /// Read it: each line is logged with `tracing` (target `agent_tools_mcp::stderr`, level
    /// `DEBUG`), and the last lines are quoted in errors when the server fails.
    #[default]
    Log,
    /// Write it to this process's stderr.
    Inherit,
    /// Discard it.
    Discard,
}

/// Which environment variables of this process the child inherits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InheritEnv {
    /// The default list, plus these names.
    Default(Vec<OsString>),
    /// Every variable.
    All,
    /// Only these names.
    Only(Vec<OsString>),
}

/// What is known about why a connection ended, for error messages.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    inner: Mutex<DiagnosticsInner>,
}

#[derive(Debug, Default)]
struct DiagnosticsInner {
    protocol_violation: Option<String>,
    read_error: Option<String>,
    stderr_tail: VecDeque<String>,
    stderr_reading: bool,
}

impl Diagnostics {
    fn lock(&self) -> MutexGuard<'_, DiagnosticsInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_protocol_violation(&self, message: String) {
        self.lock().protocol_violation.get_or_insert(message);
    }

    pub(crate) fn protocol_violation(&self) -> Option<String> {
        self.lock().protocol_violation.clone()
    }

    pub(crate) fn set_read_error(&self, message: String) {
        self.lock().read_error.get_or_insert(message);
    }

    pub(crate) fn read_error(&self) -> Option<String> {
        self.lock().read_error.clone()
    }

    fn push_stderr(&self, line: String) {
        let mut inner = self.lock();
        if inner.stderr_tail.len() == STDERR_TAIL_LINES {
            inner.stderr_tail.pop_front();
        }
        inner.stderr_tail.push_back(line);
    }

    pub(crate) fn stderr_tail(&self) -> Vec<String> {
        self.lock().stderr_tail.iter().cloned().collect()
    }

    fn set_stderr_reading(&self, reading: bool) {
        self.lock().stderr_reading = reading;
    }

    /// Waits up to `timeout` for the stderr reader to reach the end of the stream, so that an
    /// error message quotes the last lines of a process that just exited.
    async fn wait_for_stderr(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.lock().stderr_reading && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A spawned stdio server, killed (with its process group on Unix) when dropped.
#[derive(Debug)]
pub(crate) struct ChildProcess {
    child: Mutex<Child>,
    diagnostics: Arc<Diagnostics>,
}

/// How a stdio server is started.
#[derive(Debug, Clone)]
pub(crate) struct SpawnConfig {
    pub(crate) command: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) inherit_env: InheritEnv,
    pub(crate) current_dir: Option<PathBuf>,
    pub(crate) stderr: Stderr,
}

impl ChildProcess {
    /// Starts the server. Its stderr, when [`Stderr::Log`], is read by a task of the current
    /// Tokio runtime.
    pub(crate) fn spawn(
        config: &SpawnConfig,
        server: &str,
        diagnostics: Arc<Diagnostics>,
    ) -> std::io::Result<(Self, ChildStdout, ChildStdin)> {
        let mut command = Command::new(&config.command);
        command.args(&config.args);
        match &config.inherit_env {
            InheritEnv::All => {}
            InheritEnv::Default(_) | InheritEnv::Only(_) => {
                command.env_clear();
                let names: Vec<OsString> = match &config.inherit_env {
                    InheritEnv::Default(extra) => DEFAULT_INHERITED_ENV
                        .iter()
                        .map(OsString::from)
                        .chain(extra.iter().cloned())
                        .collect(),
                    InheritEnv::Only(names) => names.clone(),
                    InheritEnv::All => Vec::new(),
                };
                for name in names {
                    if let Some(value) = std::env::var_os(&name) {
                        command.env(name, value);
                    }
                }
            }
        }
        command.envs(config.env.iter().map(|(name, value)| (name, value)));
        if let Some(dir) = &config.current_dir {
            command.current_dir(dir);
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(match config.stderr {
                Stderr::Log => Stdio::piped(),
                Stderr::Inherit => Stdio::inherit(),
                Stderr::Discard => Stdio::null(),
            })
            .kill_on_drop(true);
        // Its own process group, so that killing the server also kills what it started (for
        // example the `node` process under `npx`), and so that the terminal's Ctrl-C reaches
        // the agent rather than its servers.
        #[cfg(unix)]
        command.process_group(0);

        let mut child = command.spawn()?;
        let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
            return Err(std::io::Error::other("the child's stdio was not piped"));
        };
        if let Some(stderr) = child.stderr.take() {
            diagnostics.set_stderr_reading(true);
            tokio::spawn(read_stderr(stderr, server.to_owned(), diagnostics.clone()));
        }
        Ok((
            Self {
                child: Mutex::new(child),
                diagnostics,
            },
            stdout,
            stdin,
        ))
    }

    fn lock(&self) -> MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The exit status, if the process has exited.
    pub(crate) fn try_exit_status(&self) -> Option<ExitStatus> {
        self.lock().try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for the process to exit.
    pub(crate) async fn wait_for_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit_status() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends SIGTERM to the process group (Unix; elsewhere nothing).
    pub(crate) fn terminate(&self) {
        #[cfg(unix)]
        self.signal_group(nix::sys::signal::Signal::SIGTERM);
    }

    /// Kills the process (and on Unix its process group) unless it already exited.
    pub(crate) fn kill(&self) {
        let mut child = self.lock();
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        #[cfg(unix)]
        if let Some(pid) = child.id() {
            signal_group(pid, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = child.start_kill();
    }

    #[cfg(unix)]
    fn signal_group(&self, signal: nix::sys::signal::Signal) {
        let mut child = self.lock();
        // Only while the leader is not reaped: until then its id is still the group's.
        if matches!(child.try_wait(), Ok(None))
            && let Some(pid) = child.id()
        {
            signal_group(pid, signal);
        }
    }

    /// A description of how the process ended, for error messages: its exit status if it
    /// exited (waiting up to `wait` for it), and the last lines of its stderr.
    pub(crate) async fn describe_end(&self, wait: Duration) -> String {
        let status = self.wait_for_exit(wait).await;
        if status.is_some() {
            self.diagnostics.wait_for_stderr(STDERR_DRAIN_WAIT).await;
        }
        let mut text = match status {
            Some(status) => format!("the server process exited ({status})"),
            None => "the server process closed its stdout".to_owned(),
        };
        let tail = self.diagnostics.stderr_tail();
        if !tail.is_empty() {
            text.push_str("; its last lines on stderr: ");
            text.push_str(&tail.join(" | "));
        }
        text
    }
}

#[cfg(unix)]
fn signal_group(pid: u32, signal: nix::sys::signal::Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), signal);
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads the child's stderr line by line: logs each line and keeps the last ones.
async fn read_stderr(
    mut stderr: impl AsyncRead + Unpin,
    server: String,
    diagnostics: Arc<Diagnostics>,
) {
    let mut chunk = vec![0_u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let read = match stderr.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        for &byte in &chunk[..read] {
            if byte == b'\n' {
                emit_stderr_line(&line, &server, &diagnostics);
                line.clear();
            } else if line.len() < STDERR_LINE_CHARS * 4 {
                line.push(byte);
            }
        }
    }
    if !line.is_empty() {
        emit_stderr_line(&line, &server, &diagnostics);
    }
    diagnostics.set_stderr_reading(false);
}

fn emit_stderr_line(line: &[u8], server: &str, diagnostics: &Diagnostics) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end();
    if text.is_empty() {
        return;
    }
    tracing::debug!(target: "agent_tools_mcp::stderr", server, "{text}");
    diagnostics.push_stderr(text.chars().take(STDERR_LINE_CHARS).collect());
}
