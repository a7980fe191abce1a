//! `mcp-test-server`: the MCP server of [`agent_testkit::McpTestServer`], for testing MCP
//! clients against a real child process or HTTP server.
//!
//! ```text
//! mcp-test-server [--http ADDR] [--page-size N] [--invalid-names] [--duplicate-names]
//!                 [--garbage-on-start] [--exit-on-start] [--hang-on-start] [--linger]
//!                 [--ignore-sigterm]
//! ```
//!
//! By default it serves one client on stdin/stdout and exits when stdin closes. With
//! `--http ADDR` it serves streamable HTTP instead, prints the endpoint URL as its first line on
//! stdout, and runs until stdin closes or the `crash` tool runs.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use agent_testkit::McpTestServer;
use agent_testkit::mcp::GARBAGE_LINE;
use tokio::io::AsyncReadExt as _;

const USAGE: &str = "\
usage: mcp-test-server [--http ADDR] [--page-size N] [--invalid-names] [--duplicate-names]
                       [--garbage-on-start] [--exit-on-start] [--hang-on-start] [--linger]
                       [--ignore-sigterm]

Serves an MCP server with tools for testing MCP clients (echo, add, image, fail, sleep, crash,
garbage, big, resource, stats, titled, bare).

  --http ADDR         serve streamable HTTP on ADDR (for example 127.0.0.1:0) instead of stdio;
                      the first line on stdout is the endpoint URL; stops when stdin closes
  --page-size N       tools per tools/list page (default 4)
  --invalid-names     add a tool named `bad.name`
  --duplicate-names   list a second tool named `echo`
  --garbage-on-start  write a line that is not JSON-RPC on stdout before serving
  --exit-on-start     print a message on stderr and exit with status 2 before serving
  --hang-on-start     never answer (for connect timeouts)
  --linger            keep running after stdin closes (for shutdown escalation)
  --ignore-sigterm    ignore SIGTERM (Unix)
  -h, --help          show this help";

#[derive(Default)]
struct Options {
    http: Option<SocketAddr>,
    page_size: Option<usize>,
    invalid_names: bool,
    duplicate_names: bool,
    garbage_on_start: bool,
    exit_on_start: bool,
    hang_on_start: bool,
    linger: bool,
    #[cfg_attr(not(unix), allow(dead_code))]
    ignore_sigterm: bool,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options::default();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--http" => {
                let value = args.next().ok_or("--http needs an address")?;
                options.http = Some(
                    value
                        .parse()
                        .map_err(|error| format!("--http {value}: {error}"))?,
                );
            }
            "--page-size" => {
                let value = args.next().ok_or("--page-size needs a number")?;
                options.page_size = Some(
                    value
                        .parse()
                        .map_err(|error| format!("--page-size {value}: {error}"))?,
                );
            }
            "--invalid-names" => options.invalid_names = true,
            "--duplicate-names" => options.duplicate_names = true,
            "--garbage-on-start" => options.garbage_on_start = true,
            "--exit-on-start" => options.exit_on_start = true,
            "--hang-on-start" => options.hang_on_start = true,
            "--linger" => options.linger = true,
            "--ignore-sigterm" => options.ignore_sigterm = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            let _ = writeln!(std::io::stderr(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "mcp-test-server: {message}\n\n{USAGE}");
            return ExitCode::from(64);
        }
    };
    if options.exit_on_start {
        let _ = writeln!(std::io::stderr(), "mcp-test-server: exiting on start");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "mcp-test-server: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "mcp-test-server: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), String> {
    #[cfg(unix)]
    let _sigterm = if options.ignore_sigterm {
        // A registered handler replaces the default action (exit) of SIGTERM.
        Some(
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|error| error.to_string())?,
        )
    } else {
        None
    };
    let linger = options.linger;
    let result = serve(options).await;
    if linger {
        std::future::pending::<()>().await;
    }
    result
}

async fn serve(options: Options) -> Result<(), String> {
    if options.hang_on_start {
        std::future::pending::<()>().await;
    }
    let mut server = McpTestServer::new();
    if let Some(page_size) = options.page_size {
        server = server.page_size(page_size);
    }
    if options.invalid_names {
        server = server.with_invalid_tool_name();
    }
    if options.duplicate_names {
        server = server.with_duplicate_tool_name();
    }
    if options.garbage_on_start {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{GARBAGE_LINE}")
            .and_then(|()| stdout.flush())
            .map_err(|error| error.to_string())?;
    }
    match options.http {
        None => server
            .serve_stdio()
            .await
            .map_err(|error| error.to_string()),
        Some(addr) => {
            let http = server
                .serve_http_on(addr)
                .await
                .map_err(|error| error.to_string())?;
            {
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "{}", http.url())
                    .and_then(|()| stdout.flush())
                    .map_err(|error| error.to_string())?;
            }
            // Serve until stdin closes (the parent went away) or the server crashed.
            let mut stdin = tokio::io::stdin();
            let mut buffer = [0_u8; 256];
            while let Ok(read) = stdin.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
            }
            http.shutdown().await;
            Ok(())
        }
    }
}
