//! Finding the path by which the generated code names the runtime crate.

use proc_macro_crate::FoundCrate;
use proc_macro2::Span;
use syn::Path;

/// The runtime crates, in order of preference, as (package, library name): the facade first,
/// because an application that depends on it may not depend on the core crate directly. The
/// core crate is published as `minimalagent-core` and its library is named `agent_core`.
const RUNTIME_CRATES: [(&str, &str); 2] = [
    ("minimalagent", "minimalagent"),
    ("minimalagent-core", "agent_core"),
];

/// The path of the runtime crate as the package being compiled knows it, read from its
/// `Cargo.toml` (so a renamed dependency is found under its new name).
pub(crate) fn runtime_crate(span: Span) -> syn::Result<Path> {
    resolve(span, |name| proc_macro_crate::crate_name(name).ok())
}

/// [`runtime_crate`] with the manifest lookup passed in, so that the choice can be tested.
fn resolve(span: Span, lookup: impl Fn(&str) -> Option<FoundCrate>) -> syn::Result<Path> {
    for (package, library) in RUNTIME_CRATES {
        let name = match lookup(package) {
            // The dependency's key in the manifest, `-` as `_`. A key that is the package's own
            // name was not renamed, so the crate goes by its library's name; any other key is a
            // rename, and the crate goes by it.
            Some(FoundCrate::Name(name)) if name == package.replace('-', "_") => library.to_owned(),
            Some(FoundCrate::Name(name)) => name,
            // The package being compiled is the runtime crate itself. Its doctests, examples
            // and integration tests also compile as "itself" in the manifest's eyes, and there
            // `crate::` would name the test, not the runtime crate; `::minimalagent` is right
            // in all of those, and its library can make it right too with
            // `extern crate self as minimalagent;`.
            Some(FoundCrate::Itself) => library.to_owned(),
            None => continue,
        };
        // Parsed rather than built with `Ident::new`, which panics on a name that is not an
        // identifier; a manifest is user input.
        return syn::parse_str::<Path>(&format!("::{name}"))
            .map(|path| respan(path, span))
            .map_err(|_| {
                syn::Error::new(
                    span,
                    format!("the dependency name `{name}` is not a Rust path; use #[tool(crate = \"…\")]"),
                )
            });
    }
    Err(syn::Error::new(
        span,
        "#[tool] needs `minimalagent` (or `minimalagent-core`) among this package's dependencies; \
         add it, or name the crate with #[tool(crate = \"…\")]",
    ))
}

/// The path with every identifier at `span`, so that errors in generated code that uses it
/// point at the `#[tool]` attribute rather than nowhere.
fn respan(mut path: Path, span: Span) -> Path {
    for segment in &mut path.segments {
        segment.ident.set_span(span);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    fn resolved(found: &[(&str, FoundCrate)]) -> String {
        let lookup = |name: &str| {
            found
                .iter()
                .find(|(package, _)| *package == name)
                .map(|(_, found)| found.clone())
        };
        match resolve(Span::call_site(), lookup) {
            Ok(path) => path.to_token_stream().to_string().replace(' ', ""),
            Err(error) => format!("error: {error}"),
        }
    }

    #[test]
    fn the_facade_is_preferred() {
        let found = [
            ("minimalagent-core", FoundCrate::Name("agent_core".into())),
            ("minimalagent", FoundCrate::Name("minimalagent".into())),
        ];
        assert_eq!(resolved(&found), "::minimalagent");
    }

    #[test]
    fn agent_core_is_used_without_the_facade() {
        // `minimalagent-core = "0.1"`: the key is the package's name, the library `agent_core`.
        let found = [(
            "minimalagent-core",
            FoundCrate::Name("minimalagent_core".into()),
        )];
        assert_eq!(resolved(&found), "::agent_core");
        // `agent-core = { package = "minimalagent-core", … }`, as this workspace names it.
        let found = [("minimalagent-core", FoundCrate::Name("agent_core".into()))];
        assert_eq!(resolved(&found), "::agent_core");
    }

    #[test]
    fn a_renamed_dependency_is_used_by_its_new_name() {
        let found = [("minimalagent-core", FoundCrate::Name("core_renamed".into()))];
        assert_eq!(resolved(&found), "::core_renamed");
        let found = [("minimalagent", FoundCrate::Name("agents".into()))];
        assert_eq!(resolved(&found), "::agents");
    }

    #[test]
    fn the_crate_itself_is_named_by_its_own_name() {
        assert_eq!(
            resolved(&[("minimalagent", FoundCrate::Itself)]),
            "::minimalagent"
        );
        assert_eq!(
            resolved(&[("minimalagent-core", FoundCrate::Itself)]),
            "::agent_core"
        );
    }

    /// The real lookup, on this package's own manifest (cargo sets `CARGO_MANIFEST_DIR` for
    /// tests too), whose dev-dependencies hold both `minimalagent` and `minimalagent-core`.
    #[test]
    fn this_package_prefers_the_facade() {
        let path = runtime_crate(Span::call_site()).unwrap();
        assert_eq!(
            path.to_token_stream().to_string().replace(' ', ""),
            "::minimalagent"
        );
    }

    #[test]
    fn no_runtime_crate_is_an_error_that_says_what_to_do() {
        let message = resolved(&[]);
        assert!(message.starts_with("error: #[tool] needs `minimalagent`"));
        assert!(message.contains("#[tool(crate = "));
    }
}
