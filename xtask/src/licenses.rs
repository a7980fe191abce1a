//! `cargo xtask licenses`: every package the workspace builds — its dependencies of every kind,
//! with all features, on every platform — is under a licence `deny.toml` allows. Offline: it
//! reads the `license` fields `cargo metadata` reports.
//!
//! The allowed list is `[licenses] allow` in `deny.toml`, the file `cargo deny check licenses`
//! reads, so the one list serves both; this task exists because building cargo-deny on a fresh
//! CI machine costs minutes of the budget, and the licence check is a small part of it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use spdx::{Expression, ParseMode};

use crate::workspace;

/// `cargo xtask licenses`.
pub(crate) fn check(root: &Path) -> Result<()> {
    let allowed = allowed(root)?;
    let metadata = workspace::metadata(root, false)?;
    let mut refused: Vec<String> = Vec::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut by_expression: BTreeMap<String, usize> = BTreeMap::new();
    for package in &metadata.packages {
        let Some(license) = package.license.as_deref() else {
            refused.push(format!(
                "{} {}: no SPDX `license` (only a license file): read it and add a \
                 [[licenses.clarify]] to deny.toml",
                package.name, package.version
            ));
            continue;
        };
        // LAX: crates.io still holds `MIT/Apache-2.0`, the old way of writing `OR`.
        let expression = match Expression::parse_mode(license, ParseMode::LAX) {
            Ok(expression) => expression,
            Err(error) => {
                refused.push(format!(
                    "{} {}: `{license}` is not an SPDX expression ({error})",
                    package.name, package.version
                ));
                continue;
            }
        };
        let accepted = expression.evaluate(|requirement| {
            let id = requirement.to_string();
            let ok = allowed.contains(&id);
            if ok {
                used.insert(id);
            }
            ok
        });
        if accepted {
            *by_expression.entry(license.to_owned()).or_default() += 1;
        } else {
            refused.push(format!(
                "{} {}: `{license}` is not allowed by deny.toml",
                package.name, package.version
            ));
        }
    }
    if !refused.is_empty() {
        bail!(
            "{} package(s) under a licence deny.toml does not allow (add it there only after \
             reading it):\n  {}",
            refused.len(),
            refused.join("\n  ")
        );
    }
    let unused: Vec<&String> = allowed.difference(&used).collect();
    eprintln!(
        "xtask: {} packages, {} licence expressions, all allowed by deny.toml",
        metadata.packages.len(),
        by_expression.len()
    );
    if !unused.is_empty() {
        eprintln!(
            "xtask: note: deny.toml allows licences no package needs now: {}",
            unused
                .iter()
                .map(|id| id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// `[licenses] allow` of deny.toml: SPDX ids, or `ID WITH EXCEPTION`.
fn allowed(root: &Path) -> Result<BTreeSet<String>> {
    let text = fs::read_to_string(root.join("deny.toml")).context("reading deny.toml")?;
    let deny: toml::Table = toml::from_str(&text).context("parsing deny.toml")?;
    let allow = deny
        .get("licenses")
        .and_then(|licenses| licenses.get("allow"))
        .and_then(toml::Value::as_array)
        .context("deny.toml has no [licenses] allow = [...]")?;
    let mut allowed = BTreeSet::new();
    for entry in allow {
        let entry = entry
            .as_str()
            .context("deny.toml: [licenses] allow holds a value that is not a string")?;
        // Written as SPDX writes it, so that it compares with what evaluation hands back.
        let expression = Expression::parse(entry)
            .with_context(|| format!("deny.toml: `{entry}` is not an SPDX licence"))?;
        let mut requirements = expression.requirements();
        let (Some(requirement), None) = (requirements.next(), requirements.next()) else {
            bail!("deny.toml: `{entry}` is an expression; list one licence per entry");
        };
        allowed.insert(requirement.req.to_string());
    }
    Ok(allowed)
}
