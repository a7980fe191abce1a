//! `cargo xtask package` and `cargo xtask release`: the published crates package and build
//! from their packages, their metadata is what users look for, and a release bumps every
//! version together. See docs/releasing.md.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use toml_edit::{DocumentMut, Item, Value};

use crate::workspace::{self, Metadata, Package};
use crate::{cargo, step, target_dir};

/// `cargo xtask package`: every published crate's metadata is complete, and `cargo package`
/// (with verification: each crate builds from its package alone) passes for all of them.
pub(crate) fn package(root: &Path) -> Result<()> {
    let metadata = workspace::metadata(root, true)?;
    check_metadata(root, &metadata)?;
    let order = metadata.publish_order()?;
    package_in(root, &order, &target_dir(root))?;
    print_order(&order, &target_dir(root));
    Ok(())
}

/// `cargo xtask release [--dry-run] [VERSION]`.
pub(crate) fn release(root: &Path, args: &[String]) -> Result<()> {
    let dry_run = args.iter().any(|arg| arg == "--dry-run");
    let versions: Vec<&String> = args.iter().filter(|arg| !arg.starts_with("--")).collect();
    if let Some(unknown) = args
        .iter()
        .find(|arg| arg.starts_with("--") && *arg != "--dry-run")
    {
        bail!("unknown option `{unknown}`: usage: cargo xtask release [--dry-run] [VERSION]");
    }
    let metadata = workspace::metadata(root, true)?;
    let current = current_version(&metadata)?;
    let version = match versions.as_slice() {
        [] => current.clone(),
        [version] => semver::Version::parse(version)
            .with_context(|| format!("`{version}` is not a version (MAJOR.MINOR.PATCH)"))?,
        _ => bail!("usage: cargo xtask release [--dry-run] [VERSION]"),
    };
    if version < current {
        bail!("version {version} is older than the workspace's {current}");
    }
    check_changelog(root, &version)?;
    check_metadata(root, &metadata)?;

    // A dry run works on a copy of the tracked files, so the working tree is never changed.
    let tree = if dry_run {
        let copy = target_dir(root).join("release-dry-run");
        copy_tracked_files(root, &copy)?;
        copy
    } else {
        root.to_path_buf()
    };
    if version != current {
        bump(&tree, &current, &version)?;
        eprintln!("xtask: every crate's version {current} -> {version} (Cargo.toml)");
    }
    let metadata = workspace::metadata(&tree, true)?;
    let order = metadata.publish_order()?;
    // The copy shares the workspace's target directory: dependencies are built once.
    package_in(&tree, &order, &target_dir(root))?;
    print_order(&order, &target_dir(root));
    if dry_run {
        println!(
            "\nDry run: nothing was changed or published. To release {version}: \
             `cargo xtask release {version}`, commit, tag v{version}, then \
             `cargo publish --workspace` (docs/releasing.md)."
        );
    } else {
        println!(
            "\nThe working tree is at {version}, and every crate packages. Next: commit \
             (\"Release {version}\"), tag v{version}, `cargo publish --workspace`, push the \
             tag (docs/releasing.md)."
        );
    }
    Ok(())
}

/// The workspace's one version (`[workspace.package] version`), which every published crate
/// inherits.
fn current_version(metadata: &Metadata) -> Result<semver::Version> {
    let mut published = metadata.members().filter(|package| package.is_published());
    let first = published
        .next()
        .context("the workspace publishes no crate")?;
    if let Some(other) = published.find(|package| package.version != first.version) {
        bail!(
            "the published crates must share one version: {} is {} and {} is {} (use \
             `version.workspace = true`)",
            first.name,
            first.version,
            other.name,
            other.version
        );
    }
    semver::Version::parse(&first.version)
        .with_context(|| format!("{} has version `{}`", first.name, first.version))
}

/// CHANGELOG.md has a section for the version: `## [VERSION]`.
fn check_changelog(root: &Path, version: &semver::Version) -> Result<()> {
    let changelog =
        fs::read_to_string(root.join("CHANGELOG.md")).context("reading CHANGELOG.md")?;
    let heading = format!("## [{version}]");
    if !changelog
        .lines()
        .any(|line| line.trim_end() == heading || line.starts_with(&format!("{heading} ")))
    {
        bail!(
            "CHANGELOG.md has no `{heading}` section: move what `## [Unreleased]` lists under \
             it (with the date) before releasing"
        );
    }
    eprintln!("xtask: CHANGELOG.md has its `{heading}` section");
    Ok(())
}

/// What users and crates.io look for in each published crate, and docs.rs's settings.
fn check_metadata(root: &Path, metadata: &Metadata) -> Result<()> {
    let license_text = fs::read(root.join("LICENSE")).context("reading LICENSE")?;
    let mut problems = Vec::new();
    for package in metadata.members().filter(|package| package.is_published()) {
        for problem in metadata_problems(package, &license_text) {
            problems.push(format!("{}: {problem}", package.name));
        }
    }
    if !problems.is_empty() {
        bail!(
            "published crates miss what users look for:\n  {}",
            problems.join("\n  ")
        );
    }
    eprintln!("xtask: every published crate's metadata is complete");
    Ok(())
}

/// What one published crate lacks.
fn metadata_problems(package: &Package, license_text: &[u8]) -> Vec<String> {
    let mut problems = Vec::new();
    let missing = |field: &str, value: &Option<String>| {
        value
            .as_deref()
            .is_none_or(str::is_empty)
            .then(|| format!("no `{field}`"))
    };
    problems.extend(missing("description", &package.description));
    problems.extend(missing("license", &package.license));
    problems.extend(missing("repository", &package.repository));
    problems.extend(missing("documentation", &package.documentation));
    problems.extend(missing("rust-version", &package.rust_version));
    if package.license_file.is_some() {
        problems.push("`license-file` instead of an SPDX `license`".to_owned());
    }
    if !(1..=5).contains(&package.keywords.len()) {
        problems.push(format!(
            "{} keywords (crates.io takes 1 to 5)",
            package.keywords.len()
        ));
    }
    if package.categories.is_empty() {
        problems.push("no `categories`".to_owned());
    }
    match package.readme.as_deref().map(PathBuf::from) {
        None => problems.push("no `readme`".to_owned()),
        Some(readme) => {
            // cargo copies a readme from outside the crate into the package, but the crate's
            // own page should not depend on a file it does not hold.
            let path = package.dir().join(&readme);
            if !path.starts_with(package.dir()) || readme.components().count() != 1 {
                problems.push(format!(
                    "readme `{}` is not the crate's own",
                    readme.display()
                ));
            } else if !path.is_file() {
                problems.push(format!("readme `{}` does not exist", readme.display()));
            }
        }
    }
    match fs::read(package.dir().join("LICENSE")) {
        Ok(text) if text == license_text => {}
        Ok(_) => problems.push("LICENSE differs from the workspace's LICENSE".to_owned()),
        Err(_) => problems.push("no LICENSE file (a copy of the workspace's)".to_owned()),
    }
    if package.has_library() {
        let docs_rs = package
            .metadata
            .as_ref()
            .and_then(|metadata| metadata.get("docs").and_then(|docs| docs.get("rs")));
        match docs_rs {
            None => problems.push("no [package.metadata.docs.rs]".to_owned()),
            Some(settings) => {
                let features = settings
                    .get("all-features")
                    .and_then(serde_json::Value::as_bool)
                    == Some(true)
                    || settings.get("features").is_some();
                if !features {
                    problems.push(
                        "[package.metadata.docs.rs] names no features (`all-features = true` \
                         or `features`): docs.rs would document the defaults only"
                            .to_owned(),
                    );
                }
                let args: Vec<&str> = settings
                    .get("rustdoc-args")
                    .and_then(serde_json::Value::as_array)
                    .map(|args| args.iter().filter_map(serde_json::Value::as_str).collect())
                    .unwrap_or_default();
                if !args.windows(2).any(|pair| pair == ["--cfg", "docsrs"]) {
                    problems.push(
                        "[package.metadata.docs.rs] rustdoc-args lack `--cfg docsrs`".to_owned(),
                    );
                }
            }
        }
    }
    problems
}

/// Sets every crate's version, and the workspace's requirements on its own crates, to
/// `version` (an exact pin stays exact).
fn bump(tree: &Path, current: &semver::Version, version: &semver::Version) -> Result<()> {
    let path = tree.join("Cargo.toml");
    let text = fs::read_to_string(&path).context("reading Cargo.toml")?;
    let mut manifest: DocumentMut = text.parse().context("parsing Cargo.toml")?;
    let workspace = manifest
        .get_mut("workspace")
        .and_then(Item::as_table_like_mut)
        .context("Cargo.toml has no [workspace]")?;
    let package = workspace
        .get_mut("package")
        .and_then(Item::as_table_like_mut)
        .context("Cargo.toml has no [workspace.package]")?;
    package.insert("version", toml_edit::value(version.to_string()));
    let dependencies = workspace
        .get_mut("dependencies")
        .and_then(Item::as_table_like_mut)
        .context("Cargo.toml has no [workspace.dependencies]")?;
    let mut bumped = 0;
    for (_, dependency) in dependencies.iter_mut() {
        let Some(table) = dependency.as_table_like_mut() else {
            continue;
        };
        // The workspace's own crates: those with a path.
        if table.get("path").is_none() {
            continue;
        }
        let Some(requirement) = table.get("version").and_then(Item::as_str) else {
            continue;
        };
        let exact = requirement.starts_with('=');
        if requirement.trim_start_matches('=') != current.to_string() {
            bail!(
                "[workspace.dependencies] asks for `{requirement}` of a workspace crate, not \
                 {current}: fix it before releasing"
            );
        }
        let new = if exact {
            format!("={version}")
        } else {
            version.to_string()
        };
        table.insert("version", Item::Value(Value::from(new)));
        bumped += 1;
    }
    fs::write(&path, manifest.to_string()).context("writing Cargo.toml")?;
    eprintln!("xtask: {bumped} workspace requirements on our own crates follow");
    Ok(())
}

/// Copies the tracked files of the working tree (as they are now, changes included) to `to`.
fn copy_tracked_files(root: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        fs::remove_dir_all(to).with_context(|| format!("removing {}", to.display()))?;
    }
    let output = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .context("could not run `git ls-files`")?;
    if !output.status.success() {
        bail!("`git ls-files` failed ({})", output.status);
    }
    let mut copied = 0;
    for name in output.stdout.split(|byte| *byte == 0) {
        if name.is_empty() {
            continue;
        }
        let name = std::str::from_utf8(name).context("a tracked file's name is not UTF-8")?;
        let from = root.join(name);
        // A tracked file deleted in the working tree is left out, as it would be of a commit.
        if !from.is_file() {
            continue;
        }
        let into = to.join(name);
        if let Some(parent) = into.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(&from, &into).with_context(|| format!("copying {name}"))?;
        copied += 1;
    }
    eprintln!("xtask: {copied} tracked files copied to {}", to.display());
    Ok(())
}

/// `cargo package` of the published crates, with verification, in `tree`.
fn package_in(tree: &Path, order: &[&Package], target: &Path) -> Result<()> {
    let mut command = cargo(tree);
    command.arg("package").env("CARGO_TARGET_DIR", target);
    for package in order {
        command.args(["-p", &package.name]);
    }
    // A working tree with changes not yet committed still packages (the packages then name no
    // commit); CI's clone is clean.
    command.arg("--allow-dirty");
    step(
        &format!(
            "cargo package, with verification, of the {} published crates",
            order.len()
        ),
        &mut command,
    )
}

/// What would be published, in order, with each package's size.
fn print_order(order: &[&Package], target: &Path) {
    println!("Published crates, in the order `cargo publish --workspace` takes them:");
    for (index, package) in order.iter().enumerate() {
        let file = target
            .join("package")
            .join(format!("{}-{}.crate", package.name, package.version));
        let size = fs::metadata(&file).map_or_else(
            |_| "?".to_owned(),
            |found| format!("{:.1} KiB", found.len() as f64 / 1024.0),
        );
        println!(
            "  {:>2}. {} {} ({size})",
            index + 1,
            package.name,
            package.version
        );
    }
}
