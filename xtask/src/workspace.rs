//! The workspace as `cargo metadata` describes it: which packages are published, what they
//! depend on, and in which order they can be published.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::cargo;

/// The part of `cargo metadata`'s output the tasks read.
#[derive(Debug, Deserialize)]
pub(crate) struct Metadata {
    pub(crate) packages: Vec<Package>,
    pub(crate) workspace_members: Vec<String>,
}

/// One package in `cargo metadata`'s output.
#[derive(Debug, Deserialize)]
pub(crate) struct Package {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) license: Option<String>,
    pub(crate) license_file: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) repository: Option<String>,
    pub(crate) documentation: Option<String>,
    pub(crate) readme: Option<String>,
    pub(crate) rust_version: Option<String>,
    #[serde(default)]
    pub(crate) keywords: Vec<String>,
    #[serde(default)]
    pub(crate) categories: Vec<String>,
    /// `None`: publishable anywhere; `Some([])`: `publish = false`.
    pub(crate) publish: Option<Vec<String>>,
    pub(crate) manifest_path: PathBuf,
    pub(crate) features: BTreeMap<String, Vec<String>>,
    pub(crate) dependencies: Vec<Dependency>,
    pub(crate) targets: Vec<Target>,
    #[serde(default)]
    pub(crate) metadata: Option<serde_json::Value>,
}

/// A dependency as a package declares it.
#[derive(Debug, Deserialize)]
pub(crate) struct Dependency {
    pub(crate) name: String,
    /// `None` for a normal dependency, else `"dev"` or `"build"`.
    pub(crate) kind: Option<String>,
}

/// A build target of a package.
#[derive(Debug, Deserialize)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) kind: Vec<String>,
}

impl Package {
    /// Whether `cargo publish` may publish it.
    pub(crate) fn is_published(&self) -> bool {
        self.publish
            .as_ref()
            .is_none_or(|registries| !registries.is_empty())
    }

    /// Its library (or proc-macro) target's crate name, if it has one: `agent_core` for the
    /// package `minimalagent-core`.
    pub(crate) fn library_name(&self) -> Option<String> {
        self.targets
            .iter()
            .find(|target| {
                target
                    .kind
                    .iter()
                    .any(|kind| kind == "lib" || kind == "proc-macro")
            })
            .map(|target| target.name.replace('-', "_"))
    }

    /// Whether it has a library (or proc-macro) target.
    pub(crate) fn has_library(&self) -> bool {
        self.library_name().is_some()
    }

    /// The crate's directory.
    pub(crate) fn dir(&self) -> &Path {
        self.manifest_path.parent().unwrap_or(Path::new("."))
    }
}

/// `cargo metadata` of the workspace (without its dependencies' packages when `no_deps`).
pub(crate) fn metadata(root: &Path, no_deps: bool) -> Result<Metadata> {
    let mut command = cargo(root);
    command.args(["metadata", "--format-version", "1", "--all-features"]);
    if no_deps {
        command.arg("--no-deps");
    }
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("could not run `cargo metadata`")?;
    if !output.status.success() {
        bail!("`cargo metadata` failed ({})", output.status);
    }
    serde_json::from_slice(&output.stdout).context("reading `cargo metadata`'s output")
}

impl Metadata {
    /// The workspace's members.
    pub(crate) fn members(&self) -> impl Iterator<Item = &Package> {
        self.packages
            .iter()
            .filter(|package| self.workspace_members.contains(&package.id))
    }

    /// The published members, in an order `cargo publish` can follow: every package after the
    /// workspace packages it depends on (normal and build dependencies; dev-dependencies on
    /// workspace crates name a path only and are left out of packages, so they never order).
    pub(crate) fn publish_order(&self) -> Result<Vec<&Package>> {
        let published: BTreeMap<&str, &Package> = self
            .members()
            .filter(|package| package.is_published())
            .map(|package| (package.name.as_str(), package))
            .collect();
        let mut order: Vec<&Package> = Vec::with_capacity(published.len());
        let mut placed: BTreeSet<&str> = BTreeSet::new();
        while order.len() < published.len() {
            // Alphabetical among those ready, so the order is the same on every machine.
            let ready: Vec<&Package> = published
                .values()
                .filter(|package| !placed.contains(package.name.as_str()))
                .filter(|package| {
                    package
                        .dependencies
                        .iter()
                        .filter(|dependency| dependency.kind.as_deref() != Some("dev"))
                        .filter(|dependency| published.contains_key(dependency.name.as_str()))
                        .all(|dependency| placed.contains(dependency.name.as_str()))
                })
                .copied()
                .collect();
            if ready.is_empty() {
                let left: Vec<&str> = published
                    .keys()
                    .filter(|name| !placed.contains(*name))
                    .copied()
                    .collect();
                bail!(
                    "the published crates depend on each other in a cycle: {}",
                    left.join(", ")
                );
            }
            for package in ready {
                placed.insert(&package.name);
                order.push(package);
            }
        }
        Ok(order)
    }
}
