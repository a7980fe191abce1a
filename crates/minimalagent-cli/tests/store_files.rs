//! What the command does to the SQLite file it reads: commands that only read open it
//! read-only (an older file is not migrated, a newer one is refused, the journal mode is kept),
//! commands that write open it as agents do; and a run record that cannot be read is shown as
//! damaged — its key and why — beside the others.
#![cfg(feature = "sqlite")]
// The helpers below are part of the tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;
use minimalagent::sqlite::SCHEMA_VERSION;
use rusqlite::Connection;
use serde_json::{Value, json};

/// Schema version 1 as released, frozen (as in agent-session-sqlite's own schema tests).
const V1_AS_RELEASED: &str = "
CREATE TABLE store_meta (id INTEGER PRIMARY KEY CHECK (id = 1), last_life INTEGER NOT NULL,
    last_sweep_at INTEGER NOT NULL) STRICT;
INSERT INTO store_meta VALUES (1, 7, 0);
CREATE TABLE sessions (id TEXT PRIMARY KEY, life INTEGER NOT NULL, deleted INTEGER NOT NULL,
    first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, summary_seq INTEGER,
    first_run INTEGER NOT NULL, last_run INTEGER NOT NULL, expires_at INTEGER NOT NULL,
    purge_at INTEGER NOT NULL, changes INTEGER NOT NULL) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_by_purge_at ON sessions (purge_at);
CREATE TABLE ended_lives (session TEXT NOT NULL, life INTEGER NOT NULL,
    deleted INTEGER NOT NULL, purge_at INTEGER NOT NULL, PRIMARY KEY (session, life)) STRICT;
CREATE INDEX ended_lives_by_purge_at ON ended_lives (purge_at);
CREATE TABLE entries (session TEXT NOT NULL, seq INTEGER NOT NULL, run_id TEXT, run INTEGER,
    body TEXT NOT NULL, bytes INTEGER NOT NULL, written_at INTEGER NOT NULL,
    PRIMARY KEY (session, seq)) STRICT;
CREATE UNIQUE INDEX entries_by_run_id ON entries (session, run_id) WHERE run_id IS NOT NULL;
CREATE TABLE runs (session TEXT NOT NULL, run INTEGER NOT NULL, status TEXT NOT NULL,
    reasoning TEXT NOT NULL, bytes INTEGER NOT NULL, lease TEXT, heartbeat_at INTEGER,
    committed_seq INTEGER, PRIMARY KEY (session, run)) STRICT;
CREATE TABLE events (session TEXT NOT NULL, run INTEGER NOT NULL, idx INTEGER NOT NULL,
    event TEXT NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY (session, run, idx)) STRICT;
PRAGMA application_id = 1296126803;
PRAGMA user_version = 1;
";

/// What version 2 added to version 1, as released, frozen.
const V2_ON_V1_AS_RELEASED: &str = "
ALTER TABLE runs ADD COLUMN run_id TEXT;
ALTER TABLE runs ADD COLUMN lease_expires_at INTEGER;
CREATE INDEX runs_by_run_id ON runs (session, run_id, run) WHERE run_id IS NOT NULL;
PRAGMA user_version = 2;
";

/// A schema version 2 file holding session `old`: one completed run.
fn version_2_file(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(V1_AS_RELEASED).unwrap();
    conn.execute_batch(V2_ON_V1_AS_RELEASED).unwrap();
    let run_id = uuid::Uuid::now_v7();
    let body = json!({"type": "turn", "run_id": run_id,
        "messages": [{"role": "user", "content": [{"text": "hi"}]},
                     {"role": "assistant", "content": [{"text": "hello"}]}]})
    .to_string();
    let reasoning = json!({"run_id": run_id, "query": "hi", "status": "completed"}).to_string();
    let far = 4_102_444_800_000_000_i64; // 2100-01-01, in microseconds
    conn.execute(
        "INSERT INTO sessions VALUES ('old', 7, 0, 1, 1, NULL, 1, 1, ?1, ?1, 1)",
        [far],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO entries VALUES ('old', 1, ?1, 1, ?2, ?3, 1700000000000000)",
        rusqlite::params![run_id.to_string(), body, body.len() as i64],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO runs VALUES ('old', 1, 'completed', ?1, ?2, NULL, NULL, 1, ?3, NULL)",
        rusqlite::params![reasoning, reasoning.len() as i64, run_id.to_string()],
    )
    .unwrap();
}

/// The commands that only read, on session `id`.
fn reading_commands(id: &str) -> Vec<Vec<String>> {
    [
        vec!["sessions", "list"],
        vec!["sessions", "list", "--json"],
        vec!["sessions", "show", id],
        vec!["sessions", "export", id],
        vec!["sessions", "export", id, "--as-cases"],
        vec!["sessions", "follow", id, "--until-idle"],
        vec!["sessions", "pending"],
        vec!["ui", "--port", "0"],
    ]
    .into_iter()
    .map(|args| args.into_iter().map(str::to_owned).collect())
    .collect()
}

fn run_args(url: &str, args: &[String]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_on(url, &args)
}

#[tokio::test]
async fn reading_an_older_file_does_not_migrate_it_and_writing_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    version_2_file(&path);
    let url = format!("sqlite://{}", path.display());
    let before = std::fs::read(&path).unwrap();

    for args in reading_commands("old") {
        let output = run_args(&url, &args);
        assert_one_line_error(
            &output,
            4,
            &[
                "v2.db",
                "schema version 2",
                "needs migrating",
                "this command only reads",
            ],
        );
        assert!(stdout(&output).is_empty(), "{args:?}: {}", stdout(&output));
    }
    assert_eq!(pragma(&path, "user_version"), 2, "not migrated");
    assert!(
        std::fs::read(&path).unwrap() == before,
        "not a byte may change"
    );

    // A command that writes opens the file as an agent does: it migrates it.
    let output = run_on(&url, &["sessions", "fork", "old", "new"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(pragma(&path, "user_version"), i64::from(SCHEMA_VERSION));
    let output = run_on(&url, &["sessions", "show", "new"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("forked from old after run 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_a_newer_schema_is_refused_and_left_untouched() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let (path, url) = quiet_copy(&store, "future.db");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let mut commands = reading_commands("weather");
    commands.push(
        ["sessions", "delete", "weather", "--yes"]
            .map(str::to_owned)
            .to_vec(),
    );
    for args in commands {
        let output = run_args(&url, &args);
        assert_one_line_error(
            &output,
            4,
            &[
                &format!("schema version {}", SCHEMA_VERSION + 1),
                "newer",
                "update minimalagent",
            ],
        );
    }
    assert!(std::fs::read(&path).unwrap() == before, "the file changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_keeps_the_journal_mode() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let mode = |path: &Path| pragma(path, "journal_mode");
    assert_eq!(mode(&store.path), "wal", "agents switch files to WAL");
    let (path, url) = quiet_copy(&store, "copy.db");

    for args in reading_commands("weather") {
        if args[0] == "ui" {
            // The viewer serves until stopped; `ui_reads_only` in viewer_http.rs covers it.
            continue;
        }
        let output = run_args(&url, &args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert_eq!(mode(&path), "delete", "{args:?} switched the journal mode");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_run_record_is_shown_as_damaged_beside_the_others() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    Connection::open(&store.path)
        .unwrap()
        .execute(
            "UPDATE runs SET reasoning = 'not json', bytes = 8 WHERE session = 'weather' AND run = 2",
            [],
        )
        .unwrap();
    let key = "the `runs` row of session `weather`, run 2";

    let output = run_on(&store.url, &["sessions", "show", "weather"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("Run 2 damaged: its record in the store cannot be read"),
        "{text}"
    );
    assert!(text.contains(&format!("record: {key}")), "{text}");
    assert!(text.contains("invalid JSON"), "{text}");
    assert!(
        text.contains("answer: Sales were up in EMEA."),
        "run 1 is whole:\n{text}"
    );
    assert!(
        text.contains("You are welcome."),
        "the conversation is whole:\n{text}"
    );

    let output = run_on(&store.url, &["sessions", "show", "weather", "--json"]);
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    let runs = document["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[1]["status"], "damaged");
    assert_eq!(runs[1]["error"]["kind"], "store.damaged_record");
    assert!(
        runs[1]["error"]["message"].as_str().unwrap().contains(key),
        "{}",
        runs[1]
    );

    let output = run_on(&store.url, &["sessions", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let line = text.lines().find(|l| l.starts_with("weather")).unwrap();
    assert!(
        line.contains("damaged") && line.contains("store.damaged_record"),
        "{line}"
    );
    assert!(text.lines().any(|l| l.starts_with("hostile")), "{text}");
    let output = run_on(&store.url, &["sessions", "list", "--json"]);
    let weather: Value = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|session| session["id"] == "weather")
        .unwrap();
    assert_eq!(weather["latest_run"]["status"], "damaged");
    assert!(
        weather["latest_run"]["error"]
            .as_str()
            .unwrap()
            .contains(key)
    );

    let output = run_on(&store.url, &["sessions", "export", "weather"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3]["status"], "damaged");

    let output = run_on(
        &store.url,
        &["sessions", "follow", "weather", "--until-idle"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let ended = text
        .lines()
        .find(|line| line.contains("run 2 run_ended"))
        .unwrap_or_else(|| panic!("no end of run 2 in:\n{text}"));
    assert!(ended.contains("damaged") && ended.contains(key), "{ended}");
}
