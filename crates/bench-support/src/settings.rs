//! How a benchmark is run: quick or full, where its JSON goes, which endpoints it may talk
//! to, and whether `cargo bench` started it.

use std::path::PathBuf;

/// Set to `1` by `cargo xtask bench --quick`: fewer samples and smaller loads.
pub const QUICK_ENV: &str = "MINIMALAGENT_BENCH_QUICK";
/// Where the JSON files go; `cargo xtask bench` sets it to `target/bench`.
pub const OUT_DIR_ENV: &str = "MINIMALAGENT_BENCH_OUT";

/// Whether this is a quick run (`MINIMALAGENT_BENCH_QUICK=1`).
pub fn quick() -> bool {
    std::env::var(QUICK_ENV).is_ok_and(|value| value == "1")
}

/// `target/bench`, or where `MINIMALAGENT_BENCH_OUT` says. Benchmarks run from
/// `<target>/release/deps/`, so the fallback is found from the executable's path.
pub fn out_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(OUT_DIR_ENV) {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|target| target.join("bench")))
        .unwrap_or_else(|| PathBuf::from("target").join("bench"))
}

/// The URL in environment variable `name` when it points at a loopback address
/// (`http://127.0.0.1:PORT`, `http://localhost:PORT`, `http://[::1]:PORT`): benchmarks talk to
/// nothing else. `Ok(None)` when unset or empty.
///
/// # Errors
///
/// A message naming the variable, for a URL that is not `http://` or not on loopback.
pub fn loopback_url(name: &str) -> Result<Option<String>, String> {
    let Some(url) = std::env::var(name).ok().filter(|url| !url.is_empty()) else {
        return Ok(None);
    };
    check_loopback(name, &url).map(|()| Some(url))
}

fn check_loopback(name: &str, url: &str) -> Result<(), String> {
    let host = url
        .strip_prefix("http://")
        .map(|rest| rest.split('/').next().unwrap_or_default())
        .ok_or_else(|| format!("{name}={url:?} must be http://<loopback>:<port>"))?;
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(host, _)| host),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "{name}={url:?} is not a loopback address; benchmarks only talk to local emulators"
        ))
    }
}

/// Whether `cargo bench` started this benchmark (it passes `--bench`). `cargo test --benches`
/// (or `--all-targets`) runs bench targets without it: they then only say so and exit, rather
/// than measure for minutes inside a test run.
pub fn run_by_cargo_bench(bench: &str) -> bool {
    let by_bench = std::env::args().any(|arg| arg == "--bench");
    if !by_bench {
        eprintln!("{bench}: a benchmark; run it with `cargo bench` or `cargo xtask bench`");
    }
    by_bench
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_pass() {
        for url in [
            "http://127.0.0.1:8000",
            "http://localhost:8000/",
            "http://[::1]:8000",
        ] {
            assert_eq!(check_loopback("X", url), Ok(()), "{url}");
        }
        for url in [
            "https://127.0.0.1:8000",
            "http://dynamodb.us-west-2.amazonaws.com",
            "http://10.0.0.1:8000",
        ] {
            assert!(check_loopback("X", url).is_err(), "{url}");
        }
    }
}
