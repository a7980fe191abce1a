//! DynamoDB Local for the session-store tests: installed from npm into `.dynamodb-local/`,
//! run in memory on a free loopback port, stopped when dropped.
//!
//! The emulator is the jar shipped in the npm package `amplify-dynamodb-simulator` (under
//! `emulator/`), pinned to one version so every machine tests against the same DynamoDB Local.
//! It needs Java 17 or newer and npm (only for the first install).

use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The npm package that ships DynamoDB Local.
const NPM_PACKAGE: &str = "amplify-dynamodb-simulator";
/// Its pinned version (DynamoDB Local 1.25.1 inside).
const NPM_VERSION: &str = "2.9.30";
/// Where it is installed, under the workspace root (git-ignored).
const INSTALL_DIR: &str = ".dynamodb-local";
/// How long the emulator may take to answer after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a start is tried on a new port when the chosen one was taken meanwhile.
const START_ATTEMPTS: usize = 3;

/// A running DynamoDB Local, killed when dropped.
pub(crate) struct DynamoDbLocal {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl DynamoDbLocal {
    /// Installs the emulator if needed (npm package `amplify-dynamodb-simulator` into
    /// `<workspace_root>/.dynamodb-local/`), starts it in memory on a free loopback port, and
    /// waits (up to 60 s) until it answers a `ListTables` request.
    pub(crate) fn start(workspace_root: &Path) -> Result<Self> {
        let java = java_command()?;
        let emulator = install(workspace_root)?;
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            match Self::spawn(&java, &emulator, workspace_root, port) {
                Ok(local) => return Ok(local),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("DynamoDB Local did not start")))
    }

    /// The endpoint to give the AWS SDK: `http://127.0.0.1:PORT`.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spawn(java: &Path, emulator: &Path, workspace_root: &Path, port: u16) -> Result<Self> {
        let log = workspace_root
            .join(INSTALL_DIR)
            .join(format!("dynamodb-local-{port}.log"));
        let log_file = fs::File::create(&log)
            .with_context(|| format!("cannot create the log file {}", log.display()))?;
        let log_err = log_file
            .try_clone()
            .with_context(|| format!("cannot open the log file {}", log.display()))?;
        let child = Command::new(java)
            .arg(format!(
                "-Djava.library.path={}",
                emulator.join("DynamoDBLocal_lib").display()
            ))
            .arg("-jar")
            .arg(emulator.join("DynamoDBLocal.jar"))
            .args(["-inMemory", "-sharedDb", "-disableTelemetry", "-port"])
            .arg(port.to_string())
            .current_dir(emulator)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .with_context(|| format!("cannot run {}", java.display()))?;
        let mut local = DynamoDbLocal { child, port, log };
        local.wait_until_ready()?;
        Ok(local)
    }

    fn wait_until_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .context("cannot watch DynamoDB Local")?
            {
                bail!(
                    "DynamoDB Local exited ({status}) before it answered on port {}:\n{}",
                    self.port,
                    log_tail(&self.log)
                );
            }
            if list_tables(self.port).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "DynamoDB Local did not answer on port {} within {} s:\n{}",
                    self.port,
                    START_TIMEOUT.as_secs(),
                    log_tail(&self.log)
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.log);
    }
}

/// `cargo xtask dynamodb-local`: runs DynamoDB Local until Ctrl-C or the end of standard input
/// (Ctrl-D), printing the settings to use it.
pub(crate) fn run_foreground(root: &Path) -> Result<()> {
    let mut local = DynamoDbLocal::start(root)?;
    let endpoint = local.endpoint();
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "DynamoDB Local is running at {endpoint}. In another shell:"
    )?;
    writeln!(out)?;
    writeln!(out, "export AWS_ENDPOINT_URL_DYNAMODB={endpoint}")?;
    writeln!(out, "export AWS_ACCESS_KEY_ID=dummy")?;
    writeln!(out, "export AWS_SECRET_ACCESS_KEY=dummy")?;
    writeln!(out, "export AWS_REGION=us-west-2")?;
    writeln!(out)?;
    writeln!(
        out,
        "then: cargo test -p minimalagent-session-dynamo --all-features. Stop with Ctrl-C or Ctrl-D."
    )?;
    out.flush()?;
    drop(out);

    let (eof_sender, eof) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let mut stdin = io::stdin().lock();
        while matches!(stdin.read_line(&mut line), Ok(n) if n > 0) {
            line.clear();
        }
        let _ = eof_sender.send(());
    });
    loop {
        match eof.recv_timeout(Duration::from_millis(500)) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Some(status) = local
            .child
            .try_wait()
            .context("cannot watch DynamoDB Local")?
        {
            bail!(
                "DynamoDB Local stopped ({status}):\n{}",
                log_tail(&local.log)
            );
        }
    }
    eprintln!("stopping DynamoDB Local");
    Ok(())
}

/// The `java` to run: `$JAVA_HOME/bin/java` if set, else `java` from `PATH`; checked to run.
fn java_command() -> Result<PathBuf> {
    let java = match std::env::var_os("JAVA_HOME") {
        Some(home) if !home.is_empty() => Path::new(&home).join("bin").join("java"),
        _ => PathBuf::from("java"),
    };
    let status = Command::new(&java)
        .arg("-version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(status) if status.success() => Ok(java),
        Ok(status) => bail!(
            "`{} -version` failed ({status}): DynamoDB Local needs a working Java runtime, 17 or \
             newer",
            java.display()
        ),
        Err(error) => Err(error).with_context(|| {
            format!(
                "Java was not found (`{}`): DynamoDB Local needs a Java runtime, 17 or newer \
                 (for example `apt-get install openjdk-17-jre-headless`), on PATH or in JAVA_HOME",
                java.display()
            )
        }),
    }
}

/// Installs the pinned npm package unless it is there; returns its `emulator` directory.
fn install(root: &Path) -> Result<PathBuf> {
    let prefix = root.join(INSTALL_DIR);
    let package = prefix.join("node_modules").join(NPM_PACKAGE);
    let emulator = package.join("emulator");
    let jar = emulator.join("DynamoDBLocal.jar");
    if jar.is_file() && installed_version(&package).as_deref() == Some(NPM_VERSION) {
        return Ok(emulator);
    }
    fs::create_dir_all(&prefix).with_context(|| format!("cannot create {}", prefix.display()))?;
    let spec = format!("{NPM_PACKAGE}@{NPM_VERSION}");
    eprintln!(
        "installing DynamoDB Local (npm {spec}) into {}",
        prefix.display()
    );
    let status = Command::new("npm")
        .arg("install")
        .arg("--prefix")
        .arg(&prefix)
        .args(["--no-save", "--no-audit", "--no-fund", "--ignore-scripts"])
        .arg(&spec)
        .stdin(Stdio::null())
        .stdout(Stdio::from(io::stderr()))
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => bail!("`npm install {spec}` failed ({status})"),
        Err(error) => {
            return Err(error).context(
                "npm was not found: it is needed once, to install DynamoDB Local (npm package \
                 amplify-dynamodb-simulator); install Node.js and npm",
            );
        }
    }
    if !jar.is_file() {
        bail!(
            "`npm install {spec}` did not provide {}; the package layout may have changed",
            jar.display()
        );
    }
    Ok(emulator)
}

/// The `version` of an installed npm package, from its `package.json`.
fn installed_version(package: &Path) -> Option<String> {
    let text = fs::read_to_string(package.join("package.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    manifest.get("version")?.as_str().map(str::to_owned)
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// Sends DynamoDB's `ListTables` (dummy credentials; DynamoDB Local does not check the
/// signature) and checks for a 200 answer.
fn list_tables(port: u16) -> Result<()> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let body = "{}";
    write!(
        stream,
        "POST / HTTP/1.1\r\n\
         Host: 127.0.0.1:{port}\r\n\
         Content-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: DynamoDB_20120810.ListTables\r\n\
         X-Amz-Date: 20250101T000000Z\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=dummy/20250101/us-west-2/dynamodb/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let status_line = response.lines().next().unwrap_or_default();
    if status_line.starts_with("HTTP/1.1 200") && response.contains("TableNames") {
        Ok(())
    } else {
        bail!("unexpected answer to ListTables: {status_line}")
    }
}

/// The last lines of the emulator's log, for error messages.
fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    if tail.is_empty() {
        format!("(nothing in {})", log.display())
    } else {
        tail
    }
}
