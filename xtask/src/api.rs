//! `cargo xtask api`: the public API of every published library crate, listed item by item in
//! `api/CRATE.txt` (reviewed like code), checked against what the code declares now; and, once a
//! release is tagged, `cargo semver-checks` against it. See docs/releasing.md.
//!
//! The listing comes from rustdoc's JSON output (`--output-format json`, unstable, hence
//! `RUSTC_BOOTSTRAP=1` on our stable toolchain) read by the `public-api` crate, whose version
//! must read this toolchain's JSON format (the toolchain is pinned in rust-toolchain.toml).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workspace::{self, Package};
use crate::{cargo, step, target_dir};

/// Where the reviewed listings live.
const API_DIR: &str = "api";

/// `cargo xtask api [--bless]`.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<()> {
    let bless = match args {
        [] => false,
        [flag] if flag == "--bless" => true,
        _ => bail!("usage: cargo xtask api [--bless]"),
    };
    let metadata = workspace::metadata(root, true)?;
    let mut changed: Vec<String> = Vec::new();
    let mut items = 0;
    let crates: Vec<&Package> = metadata
        .members()
        .filter(|package| package.is_published() && package.has_library())
        .collect();
    for package in &crates {
        let listing = match public_api(root, package) {
            Ok(listing) => listing,
            // A crate that uses what changed before it no longer builds: say what changed.
            Err(error) if !changed.is_empty() => bail!(
                "the public API differs from its reviewed listing:\n\n{}\n\nand then {} \
                 did not build ({error:#}): a change that breaks the workspace's own crates \
                 breaks users too",
                changed.join("\n\n"),
                package.name
            ),
            Err(error) => return Err(error),
        };
        items += listing.len();
        let path = root.join(API_DIR).join(format!("{}.txt", package.name));
        let text = render(&listing);
        let before = fs::read_to_string(&path).unwrap_or_default();
        if before == text {
            continue;
        }
        if bless {
            fs::create_dir_all(root.join(API_DIR))?;
            fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("xtask: wrote {}", path.display());
        } else {
            changed.push(describe_change(&package.name, &before, &listing));
        }
    }
    // A listing for a crate that no longer publishes a library is stale.
    let expected: BTreeSet<String> = crates
        .iter()
        .map(|package| format!("{}.txt", package.name))
        .collect();
    if let Ok(entries) = fs::read_dir(root.join(API_DIR)) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".txt") && !expected.contains(&name) {
                if bless {
                    fs::remove_file(entry.path())?;
                } else {
                    changed.push(format!(
                        "{API_DIR}/{name}: no published library crate has this name now"
                    ));
                }
            }
        }
    }
    if !changed.is_empty() {
        bail!(
            "the public API differs from its reviewed listing:\n\n{}\n\nA removed or changed \
             line breaks users: while 0.x it needs the next minor version (docs/releasing.md). \
             If the change is meant, run `cargo xtask api --bless` and commit {API_DIR}/ with \
             it, so the review sees it.",
            changed.join("\n\n")
        );
    }
    eprintln!(
        "xtask: the public API of {} crates ({items} items) is as {API_DIR}/ lists it",
        crates.len()
    );
    semver_checks(root)
}

/// The crate's public items, one line each.
fn public_api(root: &Path, package: &Package) -> Result<Vec<String>> {
    let target = target_dir(root);
    let mut command = cargo(root);
    command
        .args(["rustdoc", "--quiet", "--lib", "--all-features", "-p"])
        .arg(&package.name)
        .args(["--", "-Z", "unstable-options", "--output-format", "json"])
        // rustdoc's JSON output is unstable: on a stable toolchain it needs this.
        .env("RUSTC_BOOTSTRAP", "1");
    step(&format!("rustdoc JSON of {}", package.name), &mut command)?;
    let library = package
        .library_name()
        .with_context(|| format!("{} has no library", package.name))?;
    let json: PathBuf = target.join("doc").join(format!("{library}.json"));
    // Blanket impls (`impl<T> From<T> for T` and the like) follow from other items and are no
    // decision of ours; auto-trait impls (Send, Sync, Unpin) are kept: losing one breaks users.
    let api = public_api::Builder::from_rustdoc_json(&json)
        .omit_blanket_impls(true)
        .build()
        .with_context(|| {
            format!(
                "reading {} (a toolchain whose rustdoc JSON format the `public-api` crate \
                 does not read needs another version of it in xtask/Cargo.toml)",
                json.display()
            )
        })?;
    // In public-api's order: sorted by path, each type followed by its items and impls.
    Ok(api.items().map(ToString::to_string).collect())
}

fn render(listing: &[String]) -> String {
    let mut text = String::new();
    for line in listing {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// The lines gone (removed or changed: breaking) and the lines new (added) of a crate.
fn describe_change(name: &str, before: &str, now: &[String]) -> String {
    let (removed, added) = diff(before, now);
    let mut text = format!(
        "{name}: {} line(s) removed or changed, {} added",
        removed.len(),
        added.len()
    );
    for line in removed.iter().take(40) {
        text.push_str(&format!("\n  - {line}"));
    }
    for line in added.iter().take(40) {
        text.push_str(&format!("\n  + {line}"));
    }
    if removed.len() > 40 || added.len() > 40 {
        text.push_str("\n  …");
    }
    text
}

/// The listing's lines that are gone, and those that are new.
fn diff<'a>(before: &'a str, now: &'a [String]) -> (Vec<&'a str>, Vec<&'a str>) {
    let old: BTreeSet<&str> = before.lines().filter(|line| !line.is_empty()).collect();
    let new: BTreeSet<&str> = now.iter().map(String::as_str).collect();
    (
        old.difference(&new).copied().collect(),
        new.difference(&old).copied().collect(),
    )
}

/// `cargo semver-checks` against the last release tag, once there is one.
fn semver_checks(root: &Path) -> Result<()> {
    let output = Command::new("git")
        .args(["tag", "--list", "v[0-9]*", "--sort=-v:refname"])
        .current_dir(root)
        .output()
        .context("could not run `git tag`")?;
    let tags = String::from_utf8_lossy(&output.stdout);
    let Some(tag) = tags.lines().next().filter(|_| output.status.success()) else {
        eprintln!(
            "xtask: no release tag (v*) yet: cargo semver-checks did NOT run; until the first \
             release the listings in {API_DIR}/ are the API check"
        );
        return Ok(());
    };
    let installed = Command::new("cargo-semver-checks")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !installed {
        bail!(
            "release {tag} is tagged, so the API is checked against it with cargo-semver-checks, \
             which is missing: `cargo install cargo-semver-checks --locked` (.ci/run installs it \
             when a tag exists)"
        );
    }
    step(
        &format!("cargo semver-checks against {tag}"),
        cargo(root)
            .args([
                "semver-checks",
                "--workspace",
                "--all-features",
                "--baseline-rev",
            ])
            .arg(tag),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_signature_is_a_removal_and_an_addition() {
        let before = "pub fn agent_core::f(a: u32) -> u32\npub struct agent_core::S\n";
        let now = vec![
            "pub fn agent_core::f(a: u64) -> u32".to_owned(),
            "pub struct agent_core::S".to_owned(),
            "pub struct agent_core::T".to_owned(),
        ];
        let (removed, added) = diff(before, &now);
        assert_eq!(removed, ["pub fn agent_core::f(a: u32) -> u32"]);
        assert_eq!(
            added,
            [
                "pub fn agent_core::f(a: u64) -> u32",
                "pub struct agent_core::T"
            ]
        );
    }

    #[test]
    fn an_unchanged_listing_has_no_difference() {
        let now = vec!["pub fn a::b()".to_owned()];
        let listing = render(&now);
        let (removed, added) = diff(&listing, &now);
        assert!(removed.is_empty() && added.is_empty());
    }
}
