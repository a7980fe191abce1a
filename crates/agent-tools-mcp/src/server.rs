//! Builders: where an MCP server is, how to reach it, and how its tools are offered.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::client::{self, McpClient};
use crate::error::McpError;
use crate::line::StrayOutput;
use crate::process::{InheritEnv, SpawnConfig, Stderr};

/// How long a tool call may take unless [`StdioServer::call_timeout`] (or the same method of
/// the other builders) says otherwise: 60 seconds.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long connecting (starting the server, the MCP handshake and listing its tools) may take
/// unless `connect_timeout` says otherwise: 30 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A predicate on a tool's name on the server.
pub(crate) type ToolFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// The options every transport shares.
#[derive(Clone)]
pub(crate) struct Options {
    pub(crate) name: Option<String>,
    pub(crate) prefix: String,
    pub(crate) filter: Option<ToolFilter>,
    pub(crate) call_timeout: Duration,
    pub(crate) connect_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            name: None,
            prefix: String::new(),
            filter: None,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("filter", &self.filter.as_ref().map(|_| "…"))
            .field("call_timeout", &self.call_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// The entry point: `McpServer::stdio(…)`, `McpServer::http(…)` or `McpServer::io(…)` start a
/// builder whose `connect` gives an [`McpClient`].
///
/// ```no_run
/// use agent_tools_mcp::McpServer;
///
/// # async fn example() -> Result<(), agent_tools_mcp::McpError> {
/// let files = McpServer::stdio("npx")
///     .args(["-y", "@modelcontextprotocol/server-filesystem", "/srv/docs"])
///     .name("files")
///     .prefix("files_")
///     .connect()
///     .await?;
/// let tools = files.tools(); // Vec<Arc<dyn agent_core::Tool>>
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub enum McpServer {}

impl McpServer {
    /// A server run as a child process that speaks MCP on its stdin and stdout.
    ///
    /// The command is looked up in `PATH` as [`std::process::Command`] does. See
    /// [`StdioServer`] for the environment it gets (by default only a few safe variables of
    /// this process) and how it is stopped.
    pub fn stdio(command: impl AsRef<OsStr>) -> StdioServer {
        StdioServer {
            spawn: SpawnConfig {
                command: command.as_ref().to_owned(),
                args: Vec::new(),
                env: Vec::new(),
                inherit_env: InheritEnv::Default(Vec::new()),
                current_dir: None,
                stderr: Stderr::default(),
            },
            stray: StrayOutput::Fail,
            options: Options::default(),
        }
    }

    /// A server reached over streamable HTTP at `url` (for example
    /// `https://mcp.example.com/mcp`).
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn http(url: impl Into<String>) -> HttpServer {
        HttpServer {
            url: url.into(),
            headers: Vec::new(),
            bearer_token: None,
            options: Options::default(),
        }
    }

    /// A server reached over any byte streams that carry MCP's stdio framing (one JSON-RPC
    /// message a line): a Unix socket, a TCP stream, or in-process pipes in tests.
    pub fn io<R, W>(read: R, write: W) -> IoServer
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        IoServer {
            read: Box::new(read),
            write: Box::new(write),
            stray: StrayOutput::Fail,
            options: Options::default(),
        }
    }
}

/// The options shared by every builder.
macro_rules! common_options {
    () => {
        /// A label for the server in logs, errors and tool error messages (default: the
        /// command's file name, the URL's host, or `io`).
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.options.name = Some(name.into());
            self
        }

        /// Puts `prefix` before the name of each of the server's tools (for example
        /// `github_`), so that tools of several servers cannot clash. The names the model sees
        /// must still be 1 to 64 characters of `[A-Za-z0-9_-]`.
        pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
            self.options.prefix = prefix.into();
            self
        }

        /// Offers only the tools for which `filter` returns `true`, given the tool's name on
        /// the server (without the prefix). A tool left out is never checked, so this also
        /// leaves out tools whose names Converse would reject.
        pub fn filter(mut self, filter: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
            self.options.filter = Some(Arc::new(filter));
            self
        }

        /// Offers only the tools with these names on the server (without the prefix).
        pub fn only<I, S>(self, names: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            let names: Vec<String> = names.into_iter().map(Into::into).collect();
            self.filter(move |name| names.iter().any(|wanted| wanted == name))
        }

        /// How long one tool call may take before it fails with
        /// [`ToolErrorKind::Timeout`](agent_core::ToolErrorKind::Timeout) and is cancelled on
        /// the server (default [`DEFAULT_CALL_TIMEOUT`], 60 s).
        pub fn call_timeout(mut self, timeout: Duration) -> Self {
            self.options.call_timeout = timeout;
            self
        }

        /// How long connecting may take: starting the server, the MCP handshake and listing
        /// its tools (default [`DEFAULT_CONNECT_TIMEOUT`], 30 s). A server started with
        /// `npx`/`uvx` may need longer the first time, while it downloads.
        pub fn connect_timeout(mut self, timeout: Duration) -> Self {
            self.options.connect_timeout = timeout;
            self
        }
    };
}

/// A server run as a child process (see [`McpServer::stdio`]).
///
/// - **Environment**: the child gets only `HOME`, `LOGNAME`, `PATH`, `SHELL`, `TERM`, `USER`,
///   `TMPDIR` and `LANG` of this process (on Windows the equivalent system variables), plus
///   what [`env`](Self::env) sets: secrets such as AWS credentials in this process's
///   environment are not passed on unless asked for with [`inherit_env`](Self::inherit_env)
///   or [`inherit_all_env`](Self::inherit_all_env).
/// - **stderr** is logged with `tracing` and quoted in errors (see [`Stderr`]).
/// - **stdout** must carry only MCP messages, as the spec requires: anything else closes the
///   connection with an error, unless [`tolerate_stray_output`](Self::tolerate_stray_output).
/// - **Stopping**: [`McpClient::close`] closes the child's stdin and waits up to 2 s for it to
///   exit, then sends SIGTERM, then SIGKILL. Dropping the last [`McpClient`] and tool kills it
///   at once. On Unix the child runs in its own process group, and the whole group is
///   signalled.
#[must_use = "a builder does nothing until `connect` is awaited"]
pub struct StdioServer {
    spawn: SpawnConfig,
    stray: StrayOutput,
    options: Options,
}

impl fmt::Debug for StdioServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Environment values may be secrets: show their names only.
        let env: Vec<_> = self.spawn.env.iter().map(|(name, _)| name).collect();
        f.debug_struct("StdioServer")
            .field("command", &self.spawn.command)
            .field("args", &self.spawn.args)
            .field("env", &env)
            .field("inherit_env", &self.spawn.inherit_env)
            .field("current_dir", &self.spawn.current_dir)
            .field("stderr", &self.spawn.stderr)
            .field("stray", &self.stray)
            .field("options", &self.options)
            .finish()
    }
}

impl StdioServer {
    common_options!();

    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.spawn.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.spawn
            .args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable of the child.
    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.spawn
            .env
            .push((name.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Sets environment variables of the child.
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.spawn.env.extend(
            vars.into_iter()
                .map(|(name, value)| (name.as_ref().to_owned(), value.as_ref().to_owned())),
        );
        self
    }

    /// Passes this process's variable `name` (if set) on to the child, besides the default
    /// ones.
    pub fn inherit_env(mut self, name: impl AsRef<OsStr>) -> Self {
        let name = name.as_ref().to_owned();
        match &mut self.spawn.inherit_env {
            InheritEnv::Default(names) | InheritEnv::Only(names) => names.push(name),
            InheritEnv::All => {}
        }
        self
    }

    /// Passes this process's whole environment on to the child (what
    /// [`std::process::Command`] does by default). Prefer [`inherit_env`](Self::inherit_env)
    /// for the variables the server needs.
    pub fn inherit_all_env(mut self) -> Self {
        self.spawn.inherit_env = InheritEnv::All;
        self
    }

    /// Passes nothing of this process's environment on, not even the default variables: the
    /// child gets only what [`env`](Self::env) sets and what
    /// [`inherit_env`](Self::inherit_env) names after this call.
    pub fn clear_env(mut self) -> Self {
        self.spawn.inherit_env = InheritEnv::Only(Vec::new());
        self
    }

    /// The child's working directory (default: this process's).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.spawn.current_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// What happens to the child's stderr (default [`Stderr::Log`]).
    pub fn stderr(mut self, stderr: Stderr) -> Self {
        self.spawn.stderr = stderr;
        self
    }

    /// Skips (and logs) lines on the child's stdout that are not MCP messages, instead of
    /// closing the connection with an error. For servers that print banners or logs on stdout
    /// against the spec; a reply lost among them then ends in the call timeout.
    pub fn tolerate_stray_output(mut self) -> Self {
        self.stray = StrayOutput::Ignore;
        self
    }

    /// Starts the server, does the MCP handshake and lists its tools.
    pub async fn connect(self) -> Result<McpClient, McpError> {
        let name = self
            .options
            .name
            .clone()
            .unwrap_or_else(|| command_label(&self.spawn.command));
        client::connect_stdio(name, self.spawn, self.stray, self.options).await
    }
}

fn command_label(command: &OsStr) -> String {
    let path = PathBuf::from(command);
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .filter(|stem| !stem.is_empty())
        .unwrap_or_else(|| command.to_string_lossy().into_owned())
}

/// A server reached over streamable HTTP (see [`McpServer::http`]).
///
/// `https://` URLs need the `rustls` feature (on by default). Header values are sent with every
/// request and are never shown by `Debug`.
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
#[must_use = "a builder does nothing until `connect` is awaited"]
pub struct HttpServer {
    url: String,
    headers: Vec<(String, String)>,
    bearer_token: Option<String>,
    options: Options,
}

#[cfg(feature = "http")]
impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<_> = self.headers.iter().map(|(name, _)| name).collect();
        f.debug_struct("HttpServer")
            .field("url", &self.url)
            .field("headers", &headers)
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "…"))
            .field("options", &self.options)
            .finish()
    }
}

#[cfg(feature = "http")]
impl HttpServer {
    common_options!();

    /// Sends this header with every request (for example an API key). `Accept`,
    /// `Mcp-Session-Id` and `Last-Event-Id` are the transport's own and cannot be set.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// Connects, does the MCP handshake and lists the server's tools.
    pub async fn connect(self) -> Result<McpClient, McpError> {
        let name = self
            .options
            .name
            .clone()
            .unwrap_or_else(|| url_label(&self.url));
        client::connect_http(
            name,
            self.url,
            self.headers,
            self.bearer_token,
            self.options,
        )
        .await
    }
}

#[cfg(feature = "http")]
fn url_label(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if host.is_empty() {
        url.to_owned()
    } else {
        host.to_owned()
    }
}

/// A server reached over byte streams (see [`McpServer::io`]).
#[must_use = "a builder does nothing until `connect` is awaited"]
pub struct IoServer {
    read: Box<dyn AsyncRead + Unpin + Send>,
    write: Box<dyn AsyncWrite + Unpin + Send>,
    stray: StrayOutput,
    options: Options,
}

impl fmt::Debug for IoServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoServer")
            .field("stray", &self.stray)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl IoServer {
    common_options!();

    /// Skips (and logs) lines that are not MCP messages instead of closing the connection
    /// with an error.
    pub fn tolerate_stray_output(mut self) -> Self {
        self.stray = StrayOutput::Ignore;
        self
    }

    /// Does the MCP handshake and lists the server's tools.
    pub async fn connect(self) -> Result<McpClient, McpError> {
        let name = self.options.name.clone().unwrap_or_else(|| "io".to_owned());
        client::connect_io(name, self.read, self.write, self.stray, self.options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_command_or_the_url() {
        assert_eq!(command_label(OsStr::new("/usr/bin/npx")), "npx");
        assert_eq!(command_label(OsStr::new("server.exe")), "server");
        #[cfg(feature = "http")]
        {
            assert_eq!(url_label("https://mcp.example.com/mcp"), "mcp.example.com");
            assert_eq!(
                url_label("http://user:pw@127.0.0.1:8080/x"),
                "127.0.0.1:8080"
            );
        }
    }

    #[test]
    fn debug_shows_no_secret_values() {
        let server = McpServer::stdio("server").env("GITHUB_TOKEN", "ghp_secret");
        let text = format!("{server:?}");
        assert!(text.contains("GITHUB_TOKEN"));
        assert!(!text.contains("ghp_secret"));
        #[cfg(feature = "http")]
        {
            let server = McpServer::http("https://x/mcp")
                .header("X-Api-Key", "key-secret")
                .bearer_token("token-secret");
            let text = format!("{server:?}");
            assert!(text.contains("X-Api-Key"));
            assert!(!text.contains("key-secret"));
            assert!(!text.contains("token-secret"));
        }
    }
}
