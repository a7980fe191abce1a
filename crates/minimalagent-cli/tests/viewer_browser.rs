//! The trace viewer in a real browser: headless Chromium driven over WebDriver
//! (`/usr/bin/chromedriver`), against `minimalagent ui` on a SQLite store that real agent runs
//! (scripted model) write.
//!
//! Needs Debian's `chromium` and `chromium-driver`: `scripts/install-chromium.sh` installs
//! them. When Chromium or chromedriver cannot start, these tests fail (never skip), saying so.
#![cfg(feature = "sqlite")]
// The helpers below are part of the tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use agent_testkit::ScriptedModel;
use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use minimalagent::session::Clock;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const INSTALL_HINT: &str =
    "install Debian's chromium and chromium-driver with scripts/install-chromium.sh (as root)";
/// The longest any one wait on the page may take.
const WAIT: Duration = Duration::from_secs(30);

/// One browser at a time: two cores are shared with the rest of the tests.
static ONE_BROWSER: LazyLock<tokio::sync::Mutex<()>> =
    LazyLock::new(|| tokio::sync::Mutex::new(()));

/// `minimalagent ui` on a free port, stopped when dropped.
struct Viewer {
    _process: Lines,
    url: String,
}

fn start_viewer(store_url: &str, extra: &[&str]) -> Viewer {
    let mut command = cli();
    command
        .args(["--store", store_url, "ui", "--port", "0"])
        .args(extra);
    let process = Lines::spawn(command);
    let line = process.next(WAIT).expect("the viewer printed nothing");
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Viewer {
        _process: process,
        url,
    }
}

/// Headless Chromium under chromedriver, with a fresh profile; both stopped when dropped.
struct Browser {
    client: Option<Client>,
    driver: Child,
    profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    async fn start() -> Self {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: {INSTALL_HINT}"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {CHROMEDRIVER}: {error}: {INSTALL_HINT}"));
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            client: None,
            driver,
            profile,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = browser.driver.try_wait().unwrap() {
                panic!("{CHROMEDRIVER} exited ({status}) at start: {INSTALL_HINT}");
            }
            assert!(
                started.elapsed() < WAIT,
                "{CHROMEDRIVER} did not listen within {WAIT:?}: {INSTALL_HINT}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1280,1000".to_owned(),
            format!("--user-data-dir={}", browser.profile.path().display()),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let Ok(connected) = tokio::time::timeout(
            WAIT,
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await
        else {
            panic!("Chromium did not start within {WAIT:?}: {INSTALL_HINT}")
        };
        let client = connected
            .unwrap_or_else(|error| panic!("Chromium did not start: {error}: {INSTALL_HINT}"));
        client.set_window_size(1280, 1000).await.unwrap();
        browser.client = Some(client);
        browser
    }

    fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        }
    }

    /// Evaluates a script in the page.
    async fn eval(&self, script: &str) -> Value {
        self.client().execute(script, Vec::new()).await.unwrap()
    }

    /// Polls the page until `check` gives a value, failing after [`WAIT`] with `what` and the
    /// page's text.
    async fn wait_for<T>(&self, what: &str, mut check: impl AsyncFnMut(&Self) -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(value) = check(self).await {
                return value;
            }
            if started.elapsed() > WAIT {
                let text = self.eval("return document.body.innerText").await;
                panic!(
                    "waited {WAIT:?} for {what}; the page shows:\n{}",
                    text.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What the run page shows.
    async fn run_page(&self) -> Value {
        self.eval(RUN_PAGE).await
    }

    /// Saves a screenshot of the whole page (up to 2400 pixels high) under docs/images.
    async fn screenshot(&self, name: &str) {
        // Twice: the page's height changes as the window does.
        for _ in 0..2 {
            let height = self
                .eval("return Math.ceil(document.documentElement.scrollHeight)")
                .await
                .as_u64()
                .unwrap_or(1000)
                .clamp(600, 2400);
            self.client()
                .set_window_size(1280, u32::try_from(height).unwrap() + 24)
                .await
                .unwrap();
        }
        let png = self.client().screenshot().await.unwrap();
        self.client().set_window_size(1280, 1000).await.unwrap();
        let path = docs_images().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // A Chromium left behind by a failed test: ours are the ones using our profile.
        kill_processes_using(self.profile.path());
    }
}

/// Kills the processes whose command line names `path` (the browsers of one test).
fn kill_processes_using(path: &Path) {
    let needle = path.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(&needle)
        {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

fn docs_images() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/images")
}

/// Reads a run page: its status, steps, tool calls (with their texts) and answer.
const RUN_PAGE: &str = r#"
const all = (selector) => Array.from(document.querySelectorAll(selector));
const text = (el, selector) => { const found = el.querySelector(selector); return found ? found.textContent : null; };
const header = document.querySelector(".run-header");
return {
  status: header ? header.dataset.status : null,
  steps: all(".timeline .step").map((step) => step.dataset.step),
  tools: all(".tool-call").map((tool) => ({
    id: tool.dataset.toolUseId,
    status: tool.dataset.toolStatus,
    name: text(tool, ".tool-name"),
    input: text(tool, ".tool-input"),
    result: text(tool, ".tool-result"),
    error: text(tool, ".tool-error"),
  })),
  answer: text(document, ".final-response"),
  interrupted: !!document.querySelector(".banner-interrupted"),
  marker: window.__marker === undefined ? null : window.__marker,
};
"#;

/// Checks that nothing from the store became markup: the page's only script is app.js, no
/// image exists, no handler ran, and no alert is open.
async fn assert_inert(browser: &Browser, page: &str) {
    let found = browser
        .eval(
            "return {scripts: Array.from(document.scripts).map((s) => s.getAttribute('src')), \
             images: document.images.length, xss: window.__xss === undefined ? null : window.__xss, \
             elements: document.querySelectorAll('main script, main img, main iframe, main [onerror]').length}",
        )
        .await;
    assert_eq!(
        found["scripts"],
        json!(["/assets/app.js"]),
        "{page}: {found}"
    );
    assert_eq!(found["images"], 0, "{page}: {found}");
    assert_eq!(found["elements"], 0, "{page}: {found}");
    assert_eq!(found["xss"], Value::Null, "{page}: {found}");
    assert!(
        browser.client().get_alert_text().await.is_err(),
        "{page}: an alert is open"
    );
}

/// Clicks the element `selector` finds; again when the page re-rendered it in between (live
/// updates replace elements).
async fn click(browser: &Browser, selector: &str) {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let outcome = match browser.client().find(Locator::Css(selector)).await {
            Ok(element) => element.click().await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(()) => return,
            Err(error) if attempts < 20 => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("cannot click {selector}: {error}"),
        }
    }
}

/// Asserts that the page shows `value` (a tool input or result): a string as it is, anything
/// else as JSON text that reads back as the same value.
fn assert_shows(shown: &Value, value: &Value) {
    let text = shown
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not shown: {shown}"));
    match value {
        Value::String(expected) => assert_eq!(text, expected),
        other => assert_eq!(
            &serde_json::from_str::<Value>(text).unwrap_or_else(|_| panic!("not JSON: {text}")),
            other
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_in_progress_appears_and_updates_without_reload() {
    let _one = ONE_BROWSER.lock().await;
    let store = sqlite_store().await;
    let viewer = start_viewer(&store.url, &[]);
    let browser = Browser::start().await;

    // The session page before the session exists: it waits for the first run.
    browser
        .client()
        .goto(&format!("{}#/sessions/live-demo", viewer.url))
        .await
        .unwrap();
    browser
        .wait_for("the live connection", async |b| {
            let state = b
                .eval("return document.getElementById('connection').dataset.state")
                .await;
            (state == "live").then_some(())
        })
        .await;
    browser
        .eval("window.__marker = 'never reloaded'; return null")
        .await;

    let model = ScriptedModel::new()
        .with_latency(Duration::from_millis(300))
        .then_tools(
            Some("The archive is slow; start with the regional totals."),
            &[("slow_lookup", json!({"millis": 3000}))],
        )
        .then_tools(
            Some("Now the details for EMEA."),
            &[
                ("lookup", json!({"query": "EMEA drivers"})),
                ("slow_lookup", json!({"millis": 3000})),
            ],
        )
        .then_text("EMEA grew fastest, on new enterprise contracts.");
    let runner = agent(&store.url, model, true).await;
    let run = tokio::spawn(async move {
        runner
            .run_in_session("Which region grew fastest?", "live-demo")
            .await
    });

    // The run appears on the session page while it runs; open it (in-page navigation).
    browser
        .wait_for("the run's card", async |b| {
            let status = b
                .eval("const c = document.querySelector('.run-card'); return c ? c.dataset.status : null")
                .await;
            (status == "running").then_some(())
        })
        .await;
    click(&browser, ".run-card a").await;

    // Its steps and tool calls appear while it is still running (a call first as the model
    // requests it, then with its input)…
    let in_progress = browser
        .wait_for(
            "a tool call of the running run, with its input",
            async |b| {
                let page = b.run_page().await;
                (page["status"] == "running"
                    && page["tools"].as_array()?.first()?["input"].is_string())
                .then_some(page)
            },
        )
        .await;
    assert_eq!(in_progress["tools"][0]["name"], "slow_lookup");
    assert_shows(&in_progress["tools"][0]["input"], &json!({"millis": 3000}));
    browser.screenshot("viewer-live.png").await;

    // …and then its end, with every tool call's result, on the same page.
    let finished = browser
        .wait_for("the run's end", async |b| {
            let page = b.run_page().await;
            (page["status"] == "completed").then_some(page)
        })
        .await;
    let result = run.await.unwrap().unwrap();
    assert_eq!(
        finished["marker"], "never reloaded",
        "the page was reloaded"
    );
    assert_eq!(finished["steps"], json!(["1", "2"]));
    let tools = finished["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 3, "{finished}");
    let traced: Vec<_> = result
        .reasoning
        .steps
        .iter()
        .flat_map(|s| &s.tools)
        .collect();
    for (shown_tool, tool) in tools.iter().zip(traced) {
        assert_eq!(shown_tool["id"], tool.tool_use_id);
        assert_eq!(shown_tool["status"], "succeeded");
        assert_shows(&shown_tool["input"], &tool.inputs);
        assert_shows(&shown_tool["result"], tool.result.as_ref().unwrap());
    }
    assert_eq!(
        finished["answer"],
        "EMEA grew fastest, on new enterprise contracts."
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_shows_every_tool_call_with_its_input_and_result() {
    let _one = ONE_BROWSER.lock().await;
    let store = sqlite_store().await;
    populate(&store.url).await;
    let model = ScriptedModel::new()
        .then_tools(
            Some("I need the regional sales totals for 2025 before I can compare growth."),
            &[
                ("lookup", json!({"query": "sales by region 2025"})),
                ("lookup", json!({"query": "sales by region 2024"})),
            ],
        )
        .then_tools(
            Some("EMEA grew most. The archive may explain why; the CRM notes too."),
            &[
                ("broken", json!({"reason": "the archive is offline"})),
                ("slow_lookup", json!({"millis": 120})),
            ],
        )
        .then_text(
            "EMEA grew fastest in 2025 (up 12% on 2024), driven by new enterprise contracts. \
             The archive was offline, so the reasons come from the CRM notes only.",
        );
    let runner = agent(&store.url, model, true).await;
    runner
        .run_in_session(
            "Which region grew fastest in 2025, and why?",
            "quarterly-report",
        )
        .await
        .unwrap();
    let history = minimalagent::Sessions::open(&store.url)
        .await
        .unwrap()
        .reasoning_history("quarterly-report")
        .await
        .unwrap();

    let viewer = start_viewer(&store.url, &[]);
    let browser = Browser::start().await;
    browser.client().goto(&viewer.url).await.unwrap();
    let sessions = browser
        .wait_for("the list of sessions", async |b| {
            let ids = b
                .eval("return Array.from(document.querySelectorAll('.session-card')).map((c) => c.dataset.sessionId)")
                .await;
            (ids.as_array()?.len() == 3).then_some(ids)
        })
        .await;
    for id in ["weather", "hostile", "quarterly-report"] {
        assert!(
            sessions.as_array().unwrap().contains(&json!(id)),
            "{sessions}"
        );
    }
    let runs = browser
        .eval("return document.querySelectorAll('.session-card[data-session-id=\"weather\"] .run-row').length")
        .await;
    assert_eq!(runs, 2, "the list shows each session's runs");
    browser.screenshot("viewer-sessions.png").await;

    click(
        &browser,
        ".session-card[data-session-id=\"quarterly-report\"] h2 a",
    )
    .await;
    browser
        .wait_for("the session's run", async |b| {
            let n = b
                .eval("return document.querySelectorAll('.run-card').length")
                .await;
            (n == 1).then_some(())
        })
        .await;
    click(&browser, ".run-card a").await;
    let page = browser
        .wait_for("the run's timeline", async |b| {
            let page = b.run_page().await;
            (page["tools"].as_array()?.len() == 4).then_some(page)
        })
        .await;
    assert_eq!(page["status"], "completed");
    assert_eq!(page["steps"], json!(["1", "2"]));
    let traced: Vec<_> = history[0].steps.iter().flat_map(|s| &s.tools).collect();
    assert_eq!(traced.len(), 4);
    for (shown_tool, tool) in page["tools"].as_array().unwrap().iter().zip(traced) {
        assert_eq!(shown_tool["id"], tool.tool_use_id, "{page}");
        assert_eq!(shown_tool["name"], tool.name);
        assert_shows(&shown_tool["input"], &tool.inputs);
        match (&tool.result, &tool.error) {
            (Some(result), _) => {
                assert_eq!(shown_tool["status"], "succeeded");
                assert_shows(&shown_tool["result"], result);
            }
            (None, Some(error)) => {
                assert_eq!(shown_tool["status"], "failed");
                assert_eq!(shown_tool["result"], Value::Null);
                assert_eq!(shown_tool["error"], format!("failed: {}", error.message));
            }
            (None, None) => panic!("a finished tool call without a result or error"),
        }
    }
    let text = browser
        .eval("return document.querySelector('.timeline').innerText")
        .await;
    let text = text.as_str().unwrap();
    for needle in [
        "I need the regional sales totals",
        "tokens 20 in / 10 out",
        "EMEA grew fastest in 2025",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
    browser.screenshot("viewer-run.png").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tool_results_are_shown_as_text() {
    let _one = ONE_BROWSER.lock().await;
    let store = sqlite_store().await;
    populate(&store.url).await;
    let viewer = start_viewer(&store.url, &[]);
    let browser = Browser::start().await;

    browser.client().goto(&viewer.url).await.unwrap();
    browser
        .wait_for("the hostile session in the list", async |b| {
            let text = b
                .eval("return document.querySelector('main').innerText")
                .await;
            text.as_str()?.contains(XSS_IMG).then_some(())
        })
        .await;
    assert_inert(&browser, "the list").await;

    click(&browser, ".session-card[data-session-id=\"hostile\"] h2 a").await;
    let conversation = browser
        .wait_for("the hostile conversation", async |b| {
            let text = b.eval("const c = document.querySelector('.conversation'); return c ? c.innerText : null").await;
            text.as_str().map(str::to_owned)
        })
        .await;
    assert!(conversation.contains(XSS_SCRIPT), "{conversation}");
    assert!(conversation.contains(XSS_IMG), "{conversation}");
    assert_inert(&browser, "the session").await;

    click(&browser, ".run-card a").await;
    let page = browser
        .wait_for("the hostile run", async |b| {
            let page = b.run_page().await;
            page["tools"].as_array()?.first()?.get("result")?.as_str()?;
            Some(page)
        })
        .await;
    let result = page["tools"][0]["result"].as_str().unwrap();
    assert!(result.contains(XSS_SCRIPT), "{result}");
    assert!(result.contains("<img src=x onerror="), "{result}");
    assert_eq!(
        page["answer"].as_str().unwrap(),
        format!("The page says {XSS_SCRIPT} in {ESCAPE}")
    );
    let query = browser
        .eval("return document.querySelector('.query-event .text').textContent")
        .await;
    assert_eq!(query, format!("Summarise {XSS_IMG}"));
    assert_inert(&browser, "the run").await;
    browser.close().await;
}

/// A clock five minutes slow: the runs of an agent on it heart-beat in the past, so readers on
/// the real clock see them interrupted (no heartbeat for 30 s) while they still run.
#[derive(Debug)]
struct SlowClock;

impl Clock for SlowClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now() - jiff::SignedDuration::from_secs(300)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_is_marked() {
    let _one = ONE_BROWSER.lock().await;
    let store = sqlite_store().await;
    let slow_store = minimalagent::sqlite::SqliteSessionStore::builder()
        .path(&store.path)
        .clock(Arc::new(SlowClock))
        .build()
        .await
        .unwrap();
    let model =
        ScriptedModel::new().then_tools(None, &[("slow_lookup", json!({"millis": 600_000}))]);
    let runner = minimalagent::Agent::builder()
        .model(model)
        .tool(SlowLookup)
        .sessions(slow_store)
        .real_time_reasoning(true)
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let run = tokio::spawn(async move { runner.run_in_session("Wait forever.", "stalled").await });
    let reader = minimalagent::Sessions::open(&store.url).await.unwrap();
    let started = Instant::now();
    loop {
        let latest = reader.get_reasoning("stalled").await.unwrap();
        if latest.is_some_and(|run| run.status == minimalagent::RunStatus::Interrupted) {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the run never read as interrupted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let viewer = start_viewer(&store.url, &[]);
    let browser = Browser::start().await;
    browser
        .client()
        .goto(&format!("{}#/sessions/stalled", viewer.url))
        .await
        .unwrap();
    browser
        .wait_for("the interrupted run's card", async |b| {
            let status = b
                .eval("const c = document.querySelector('.run-card'); return c ? c.dataset.status : null")
                .await;
            (status == "interrupted").then_some(())
        })
        .await;
    let badge = browser
        .eval("return document.querySelector('.run-card .status').textContent")
        .await;
    assert_eq!(badge, "interrupted");
    click(&browser, ".run-card a").await;
    let page = browser
        .wait_for("the interrupted run", async |b| {
            let page = b.run_page().await;
            (page["status"] == "interrupted").then_some(page)
        })
        .await;
    assert!(page["interrupted"].as_bool().unwrap(), "no banner: {page}");
    let banner = browser
        .eval("return document.querySelector('.banner-interrupted').innerText")
        .await;
    assert!(
        banner.as_str().unwrap().contains("Interrupted."),
        "{banner}"
    );
    assert!(
        banner.as_str().unwrap().contains("stopped heart-beating"),
        "{banner}"
    );
    assert_eq!(page["tools"][0]["status"], "running", "{page}");
    run.abort();
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_needs_the_flag_and_a_confirmation() {
    let _one = ONE_BROWSER.lock().await;
    let store = sqlite_store().await;
    populate(&store.url).await;
    let browser = Browser::start().await;

    // Read-only: no button, and the API refuses.
    let read_only = start_viewer(&store.url, &[]);
    browser
        .client()
        .goto(&format!("{}#/sessions/weather", read_only.url))
        .await
        .unwrap();
    browser
        .wait_for("the session", async |b| {
            let n = b
                .eval("return document.querySelectorAll('.run-card').length")
                .await;
            (n == 2).then_some(())
        })
        .await;
    assert_eq!(
        browser
            .eval("return document.getElementById('delete-session')")
            .await,
        Value::Null
    );
    let status = browser
        .client()
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch('/api/sessions/weather', {method: 'DELETE', headers: {'X-Minimalagent-Delete': 'weather'}}) \
             .then((r) => done(r.status));",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(status, 403);
    drop(read_only);

    // With --allow-delete: the button asks first; cancelling keeps the session.
    let viewer = start_viewer(&store.url, &["--allow-delete"]);
    browser
        .client()
        .goto(&format!("{}#/sessions/weather", viewer.url))
        .await
        .unwrap();
    browser
        .wait_for("the delete button", async |b| {
            let found = b
                .eval("return !!document.getElementById('delete-session')")
                .await;
            (found == true).then_some(())
        })
        .await;
    click(&browser, "#delete-session").await;
    let open = browser
        .eval("return document.getElementById('confirm-delete').open")
        .await;
    assert_eq!(open, true);
    let asked = browser
        .eval("return document.getElementById('confirm-delete-id').textContent")
        .await;
    assert_eq!(asked, "weather");
    click(&browser, "#confirm-delete-cancel").await;
    assert_eq!(
        browser
            .eval("return document.getElementById('confirm-delete').open")
            .await,
        false
    );
    let sessions = minimalagent::Sessions::open(&store.url).await.unwrap();
    assert!(sessions.get_reasoning("weather").await.unwrap().is_some());

    click(&browser, "#delete-session").await;
    click(&browser, "#confirm-delete-ok").await;
    browser
        .wait_for("the list after deleting", async |b| {
            let ids = b
                .eval("return location.hash === '#/' ? Array.from(document.querySelectorAll('.session-card')).map((c) => c.dataset.sessionId) : null")
                .await;
            (ids == json!(["hostile"])).then_some(())
        })
        .await;
    assert!(sessions.get_reasoning("weather").await.unwrap().is_none());
    browser.close().await;
}

/// Waits until the store holds exactly `ids` as the calls session `id` waits on.
async fn wait_for_held(url: &str, id: &str, ids: &[&str]) {
    let sessions = minimalagent::Sessions::open(url).await.unwrap();
    let started = Instant::now();
    loop {
        let held: Vec<String> = sessions
            .paused_runs(id)
            .await
            .unwrap()
            .iter()
            .flat_map(|run| run.interrupts.iter().map(|i| i.id.clone()))
            .collect();
        if held == ids {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "the store still holds {held:?}, not {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the session's newest run has `status`; its trace.
async fn wait_for_status(
    url: &str,
    id: &str,
    status: minimalagent::RunStatus,
) -> minimalagent::Reasoning {
    let sessions = minimalagent::Sessions::open(url).await.unwrap();
    let started = Instant::now();
    loop {
        let record = sessions.get_reasoning(id).await.unwrap().unwrap();
        if record.status == status {
            return record;
        }
        assert!(
            started.elapsed() < WAIT,
            "the run is still {:?}, not {status:?}",
            record.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the approvals section of a page shows: each held call, with its buttons.
const APPROVALS: &str = r#"
const section = document.getElementById("approvals");
if (!section || section.hidden) return null;
return {
  calls: Array.from(section.querySelectorAll(".pending-call")).map((call) => ({
    id: call.dataset.interruptId,
    decided: call.dataset.decided,
    tool: call.querySelector(".tool-name").textContent,
    reason: call.querySelector(".pending-reason").textContent,
    input: call.querySelector(".pending-input").textContent,
    buttons: Array.from(call.querySelectorAll("button")).map((b) => b.textContent),
    recorded: call.querySelector(".decision-recorded") ? call.querySelector(".decision-recorded").textContent : null,
  })),
  readOnly: section.querySelector(".read-only") ? section.querySelector(".read-only").innerText : null,
  ready: section.querySelector(".ready") ? section.querySelector(".ready").innerText : null,
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_calls_are_shown_and_answered_only_with_the_flag() {
    let _one = ONE_BROWSER.lock().await;
    let store = sqlite_store().await;
    let agent = paused_run(&store.url, "pay").await;
    let browser = Browser::start().await;

    // Read-only: the list counts the held calls, the session and the run show them, with no
    // way to answer but a note on how to.
    let read_only = start_viewer(&store.url, &[]);
    browser.client().goto(&read_only.url).await.unwrap();
    let badge = browser
        .wait_for("the waiting badge", async |b| {
            let text = b
                .eval("const e = document.querySelector('.session-card[data-session-id=\"pay\"] header .waiting-badge'); return e ? e.textContent : null")
                .await;
            text.as_str().map(str::to_owned)
        })
        .await;
    assert_eq!(badge, "2 calls waiting");
    browser
        .client()
        .goto(&format!("{}#/sessions/pay", read_only.url))
        .await
        .unwrap();
    let shown = browser
        .wait_for("the held calls", async |b| {
            let shown = b.eval(APPROVALS).await;
            (shown["calls"].as_array()?.len() == 2).then_some(shown)
        })
        .await;
    assert_eq!(shown["calls"][0]["id"], "tool-1");
    assert_eq!(shown["calls"][0]["tool"], "transfer");
    assert_eq!(shown["calls"][0]["reason"], "money leaves the account");
    assert_shows(
        &shown["calls"][0]["input"],
        &json!({"to": "bob", "amount": 100}),
    );
    assert_eq!(shown["calls"][0]["buttons"], json!([]), "{shown}");
    let note = shown["readOnly"].as_str().unwrap();
    assert!(note.contains("--allow-approvals"), "{note}");
    assert!(
        note.contains("minimalagent sessions approve pay ID"),
        "{note}"
    );
    let status = browser
        .eval("return document.querySelector('.run-card').dataset.status")
        .await;
    assert_eq!(status, "paused");
    click(&browser, ".run-card a").await;
    let page = browser
        .wait_for("the paused run", async |b| {
            let page = b.run_page().await;
            (page["status"] == "paused").then_some(page)
        })
        .await;
    let statuses: Vec<&str> = page["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["waiting", "waiting", "succeeded"], "{page}");
    let banner = browser
        .eval("return document.querySelector('.banner-paused').innerText")
        .await;
    assert!(
        banner.as_str().unwrap().contains("2 held tool calls"),
        "{banner}"
    );
    drop(read_only);

    // With --allow-approvals: approve one call, deny the other with a message.
    let viewer = start_viewer(&store.url, &["--allow-approvals"]);
    browser
        .client()
        .goto(&format!("{}#/sessions/pay", viewer.url))
        .await
        .unwrap();
    let shown = browser
        .wait_for("the answer buttons", async |b| {
            let shown = b.eval(APPROVALS).await;
            (shown["calls"].as_array()?.len() == 2
                && shown["calls"][0]["buttons"] == json!(["Approve", "Deny"]))
            .then_some(shown)
        })
        .await;
    assert_eq!(shown["readOnly"], Value::Null);
    // The page's own requests need the token: without it the server refuses.
    let status = browser
        .client()
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch('/api/sessions/pay/decisions', {method: 'POST', headers: {'Content-Type': 'application/json'}, \
               body: JSON.stringify({decisions: {'tool-1': {decision: 'approve'}}})}) \
             .then((r) => done(r.status));",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(status, 403);
    wait_for_held(&store.url, "pay", &["tool-1", "tool-2"]).await;

    click(
        &browser,
        ".pending-call[data-interrupt-id=\"tool-1\"] button.approve",
    )
    .await;
    wait_for_held(&store.url, "pay", &["tool-2"]).await;
    browser
        .client()
        .find(Locator::Css(
            ".pending-call[data-interrupt-id=\"tool-2\"] .deny-message",
        ))
        .await
        .unwrap()
        .send_keys("Eve is not a customer.")
        .await
        .unwrap();
    click(
        &browser,
        ".pending-call[data-interrupt-id=\"tool-2\"] button.deny",
    )
    .await;
    wait_for_held(&store.url, "pay", &[]).await;
    // Recording a decision claims the run for a moment (it then reads as running): the
    // decisions are checked once it waits again, decided.
    let record = wait_for_status(&store.url, "pay", minimalagent::RunStatus::Paused).await;
    let decisions: Vec<(String, Value)> = record
        .answered_interrupts
        .iter()
        .map(|a| {
            (
                a.interrupt.id.clone(),
                serde_json::to_value(&a.decision).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("tool-1".to_owned(), json!({"decision": "approve"})),
            (
                "tool-2".to_owned(),
                json!({"decision": "deny", "message": "Eve is not a customer."})
            ),
        ]
    );
    // The page follows: nothing waits, and it says what goes on.
    let ready = browser
        .wait_for("the note that every call is decided", async |b| {
            let shown = b.eval(APPROVALS).await;
            shown["ready"].as_str().map(str::to_owned)
        })
        .await;
    assert!(ready.contains("every held call is decided"), "{ready}");
    assert!(ready.contains("Agent::respond"), "{ready}");

    // The agent goes on with the decisions; the page shows the run completing, no reload.
    browser
        .eval("window.__marker = 'never reloaded'; return null")
        .await;
    let result = agent
        .respond("pay", minimalagent::Decisions::new())
        .await
        .unwrap();
    assert_eq!(result.response, "Paid.");
    browser
        .wait_for("the completed run", async |b| {
            let status = b
                .eval("const c = document.querySelector('.run-card'); return c ? c.dataset.status : null")
                .await;
            (status == "completed").then_some(())
        })
        .await;
    assert_eq!(browser.eval(APPROVALS).await, Value::Null);
    assert_eq!(
        browser.eval("return window.__marker").await,
        "never reloaded"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_edited_on_the_page_is_what_runs() {
    let _one = ONE_BROWSER.lock().await;
    let store = sqlite_store().await;
    let _agent = paused_run(&store.url, "edit").await;
    let viewer = start_viewer(&store.url, &["--allow-approvals"]);
    let browser = Browser::start().await;
    let run_id = agent_run_id(&store.url, "edit").await;
    // From the run's page this time.
    browser
        .client()
        .goto(&format!("{}#/sessions/edit/runs/{run_id}", viewer.url))
        .await
        .unwrap();
    let call = ".pending-call[data-interrupt-id=\"tool-1\"]";
    browser
        .wait_for("the answer form", async |b| {
            let found = b
                .eval(&format!(
                    "return !!document.querySelector('{}')",
                    format!("{call} button.approve").replace('\'', "\\'")
                ))
                .await;
            (found == true).then_some(())
        })
        .await;
    click(&browser, &format!("{call} details summary")).await;
    let editor = browser
        .client()
        .find(Locator::Css(&format!("{call} textarea.edit-input")))
        .await
        .unwrap();
    editor.clear().await.unwrap();
    editor
        .send_keys(r#"{"to": "bob", "amount": 90}"#)
        .await
        .unwrap();
    // Not JSON: the page says so and sends nothing.
    browser
        .eval(&format!(
            "document.querySelector('{}').value = '{{amount'; return null",
            format!("{call} textarea.edit-input").replace('\'', "\\'")
        ))
        .await;
    click(&browser, &format!("{call} button.approve")).await;
    let problem = browser
        .wait_for("the JSON error", async |b| {
            let text = b
                .eval(&format!(
                    "const e = document.querySelector('{}'); return e && !e.hidden ? e.textContent : null",
                    format!("{call} .decision-error").replace('\'', "\\'")
                ))
                .await;
            text.as_str().map(str::to_owned)
        })
        .await;
    assert!(problem.contains("not JSON"), "{problem}");
    wait_for_held(&store.url, "edit", &["tool-1", "tool-2"]).await;
    editor.clear().await.unwrap();
    editor
        .send_keys(r#"{"to": "bob", "amount": 90}"#)
        .await
        .unwrap();
    click(&browser, &format!("{call} button.approve")).await;
    wait_for_held(&store.url, "edit", &["tool-2"]).await;
    // The run's timeline lists the decision once the live feed brings it.
    let decided = browser
        .wait_for("the decision in the timeline", async |b| {
            let text = b
                .eval("const d = document.querySelector('.event.decisions .decision[data-interrupt-id=\"tool-1\"]'); return d ? [d.dataset.decision, d.textContent] : null")
                .await;
            (!text.is_null()).then_some(text)
        })
        .await;
    assert_eq!(decided[0], "approve_with_input", "{decided}");
    assert!(
        decided[1].as_str().unwrap().contains(r#""amount": 90"#),
        "{decided}"
    );
    let record = minimalagent::Sessions::open(&store.url)
        .await
        .unwrap()
        .get_reasoning("edit")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::to_value(&record.answered_interrupts[0].decision).unwrap(),
        json!({"decision": "approve_with_input", "input": {"to": "bob", "amount": 90}})
    );
    browser.close().await;
}

/// The id of the session's newest run.
async fn agent_run_id(url: &str, session: &str) -> String {
    minimalagent::Sessions::open(url)
        .await
        .unwrap()
        .get_reasoning(session)
        .await
        .unwrap()
        .unwrap()
        .run_id
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forks_and_damaged_runs_are_shown_on_the_session_page() {
    let _one = ONE_BROWSER.lock().await;
    let store = sqlite_store().await;
    populate(&store.url).await;
    let output = run_on(&store.url, &["sessions", "fork", "weather", "whole"]);
    assert!(output.status.success(), "{}", stderr(&output));
    rusqlite::Connection::open(&store.path)
        .unwrap()
        .execute(
            "UPDATE runs SET reasoning = 'not json', bytes = 8 WHERE session = 'weather' AND run = 2",
            [],
        )
        .unwrap();
    let viewer = start_viewer(&store.url, &[]);
    let browser = Browser::start().await;

    // The fork says where it came from, with a link there.
    browser
        .client()
        .goto(&format!("{}#/sessions/whole", viewer.url))
        .await
        .unwrap();
    let origin = browser
        .wait_for("the fork's origin", async |b| {
            let text = b
                .eval("const o = document.querySelector('.fork-origin'); return o ? o.innerText : null")
                .await;
            text.as_str().map(str::to_owned)
        })
        .await;
    assert!(
        origin.starts_with("Forked from weather after run 2"),
        "{origin}"
    );
    click(&browser, ".fork-origin a").await;

    // The source lists its fork, and shows its damaged run as damaged, with its key and why.
    let forks = browser
        .wait_for("the source's forks", async |b| {
            let text = b
                .eval("const f = document.querySelector('.fork-children'); return f ? f.innerText : null")
                .await;
            text.as_str().map(str::to_owned)
        })
        .await;
    assert_eq!(forks, "Forks: whole (after run 2)");
    let href = browser
        .eval("return document.querySelector('.fork-child a').getAttribute('href')")
        .await;
    assert_eq!(href, "#/sessions/whole");
    let cards = browser
        .eval(
            "return Array.from(document.querySelectorAll('.run-card')).map((c) => ({status: \
             c.dataset.status, text: c.innerText, links: c.querySelectorAll('a').length}))",
        )
        .await;
    assert_eq!(cards[0]["status"], "completed", "{cards}");
    assert_eq!(cards[1]["status"], "damaged", "{cards}");
    let text = cards[1]["text"].as_str().unwrap();
    assert!(
        text.contains("This run's record in the store cannot be read")
            && text.contains("the `runs` row of session `weather`, run 2")
            && text.contains("invalid JSON"),
        "{text}"
    );
    assert_eq!(cards[1]["links"], 0, "a damaged run has no page: {cards}");
    assert_inert(&browser, "session page").await;

    // The list shows it too.
    browser
        .client()
        .goto(&format!("{}#/", viewer.url))
        .await
        .unwrap();
    let row = browser
        .wait_for("the damaged run's row", async |b| {
            let row = b
                .eval(
                    "const r = document.querySelector('.session-card[data-session-id=\"weather\"] \
                     .run-row[data-status=\"damaged\"]'); return r ? r.innerText : null",
                )
                .await;
            row.as_str().map(str::to_owned)
        })
        .await;
    assert!(row.contains("store.damaged_record"), "{row}");
    browser.close().await;
}
