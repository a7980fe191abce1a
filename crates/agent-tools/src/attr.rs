//! The options of `#[tool(...)]` and of `#[arg(...)]` on an argument.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, LitStr, Path};

/// `#[tool(name = "…", description = "…", struct_name = "…", crate = "…", approval = "…",
/// read_only, idempotent)]`, each optional.
#[derive(Default)]
pub(crate) struct ToolOptions {
    /// The name the model calls the tool by, instead of the function's name.
    pub(crate) name: Option<LitStr>,
    /// The tool's description, instead of the doc comment's first paragraph.
    pub(crate) description: Option<LitStr>,
    /// The name of the generated struct, instead of the function's name in PascalCase (for when
    /// that name is taken, for example by the function's own return type).
    pub(crate) struct_name: Option<LitStr>,
    /// The path of the runtime crate (`minimalagent` or `agent-core`), instead of looking it up
    /// in the package's manifest.
    pub(crate) crate_path: Option<Path>,
    /// Why each call waits for a person's approval (`Tool::approval`).
    pub(crate) approval: Option<LitStr>,
    /// The tool only reads (`read_only`) or repeats safely (`idempotent`): it may run again
    /// when a crashed run resumes (`ToolEffect::AtLeastOnce`).
    pub(crate) repeatable: Option<Path>,
}

impl ToolOptions {
    /// Parses the attribute's arguments, collecting every bad option rather than the first.
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        let mut options = Self::default();
        if tokens.is_empty() {
            return options;
        }
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                set_once(&mut options.name, &meta, "name", errors)
            } else if meta.path.is_ident("description") {
                set_once(&mut options.description, &meta, "description", errors)
            } else if meta.path.is_ident("struct_name") {
                set_once(&mut options.struct_name, &meta, "struct_name", errors)
            } else if meta.path.is_ident("approval") {
                set_once(&mut options.approval, &meta, "approval", errors)
            } else if meta.path.is_ident("read_only") || meta.path.is_ident("idempotent") {
                if options.repeatable.is_some() {
                    errors.push(
                        meta.error("`read_only` and `idempotent` are given once, and not both"),
                    );
                }
                options.repeatable = Some(meta.path.clone());
                Ok(())
            } else if meta.path.is_ident("crate") {
                let mut literal = None;
                set_once(&mut literal, &meta, "crate", errors)?;
                if let Some(literal) = literal {
                    match literal.parse::<Path>() {
                        Ok(path) => options.crate_path = Some(path),
                        Err(_) => errors.push(syn::Error::new(
                            literal.span(),
                            "`crate` must be a path such as \"minimalagent\" or \"::my_core\"",
                        )),
                    }
                }
                Ok(())
            } else {
                Err(meta.error(
                    "unknown #[tool] option; expected `name = \"…\"`, `description = \"…\"`, \
                     `struct_name = \"…\"`, `crate = \"…\"`, `approval = \"…\"`, `read_only` \
                     or `idempotent`",
                ))
            }
        });
        if let Err(error) = syn::parse::Parser::parse2(parser, tokens) {
            errors.push(error);
        }
        options
    }
}

/// What `#[arg(...)]` says about one argument.
#[derive(Default)]
pub(crate) struct ArgOptions {
    /// The argument's description, instead of the doc comment's `# Arguments` entry.
    pub(crate) description: Option<LitStr>,
}

impl ArgOptions {
    /// Parses one `#[arg(...)]` attribute into `self`.
    pub(crate) fn parse_into(&mut self, attr: &Attribute, errors: &mut Errors) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("description") {
                set_once(&mut self.description, &meta, "description", errors)
            } else {
                Err(meta.error("unknown #[arg] option; expected `description = \"…\"`"))
            }
        });
        if let Err(error) = result {
            errors.push(error);
        }
    }
}

/// Reads `key = "value"` into `slot`, reporting a second occurrence of the same key.
fn set_once(
    slot: &mut Option<LitStr>,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    errors: &mut Errors,
) -> syn::Result<()> {
    if !meta.input.peek(syn::Token![=]) {
        return Err(meta.error(format!("`{key}` needs a value: `{key} = \"…\"`")));
    }
    let value: LitStr = meta.value()?.parse()?;
    if slot.is_some() {
        errors.push(syn::Error::new(
            value.span(),
            format!("`{key}` is given twice"),
        ));
    } else {
        *slot = Some(value);
    }
    Ok(())
}

/// Compile errors collected while reading one function, reported together so that a user sees
/// every problem at once instead of one per build.
#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    /// Adds an error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// Whether any error was collected.
    pub(crate) fn is_empty(&self) -> bool {
        self.combined.is_none()
    }

    /// The errors as `compile_error!` invocations (nothing when there are none).
    pub(crate) fn into_compile_errors(self) -> TokenStream {
        self.combined
            .map(syn::Error::into_compile_error)
            .unwrap_or_default()
    }
}
