//! Reading a tool function's signature: its arguments, its state and what it returns.

use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{
    FnArg, GenericArgument, Ident, ItemFn, LitStr, Pat, PathArguments, ReturnType, Type,
    TypeImplTrait, TypeReference,
};

use crate::attr::{ArgOptions, Errors};

/// A tool function's signature as the generated code needs it.
pub(crate) struct Signature {
    /// The parameters in order, as the function is called.
    pub(crate) params: Vec<Param>,
    /// What the function returns.
    pub(crate) output: Output,
}

/// One parameter of a tool function.
pub(crate) enum Param {
    /// An argument the model fills in: a property of the input schema.
    Argument(Argument),
    /// The `#[state]` parameter: filled in from the tool's struct, out of the schema.
    State(StateParam),
    /// A `ToolContext` parameter (by reference or by value): the call's context, out of the
    /// schema.
    Context(ContextParam),
}

/// A `ToolContext` parameter.
pub(crate) struct ContextParam {
    /// Its name, as written.
    pub(crate) ident: Ident,
    /// Whether it is taken by reference (`&ToolContext`) rather than by value.
    pub(crate) by_ref: bool,
}

/// An argument the model fills in.
pub(crate) struct Argument {
    /// Its name, as written (possibly `r#…`).
    pub(crate) ident: Ident,
    /// Its type.
    pub(crate) ty: Type,
    /// The description from `#[arg(description = "…")]`.
    pub(crate) description: Option<LitStr>,
    /// Whether its type is an `Option`, so that the model may leave it out.
    pub(crate) optional: bool,
}

/// The `#[state]` parameter.
pub(crate) struct StateParam {
    /// Its name, as written.
    pub(crate) ident: Ident,
    /// Its type: what the tool's struct holds.
    pub(crate) ty: Type,
}

/// What a tool function returns.
pub(crate) enum Output {
    /// Nothing (`()`): the tool's result is JSON `null`.
    Unit,
    /// A value to serialize.
    Value(Type),
    /// A `Result` whose `Ok` value is serialized and whose `Err` becomes a failed call. Any type
    /// whose last path segment is `Result` (`Result<T, E>`, `io::Result<T>`, an
    /// `anyhow::Result<T>`) counts, since a macro sees names, not types.
    Result(Type),
}

/// Reads the signature of `function`, removing the `#[arg]` and `#[state]` attributes from its
/// parameters (they mean nothing to the compiler), and reports every signature that cannot be
/// a tool into `errors`.
pub(crate) fn analyse(function: &mut ItemFn, errors: &mut Errors) -> Signature {
    let signature = &mut function.sig;
    if let Some(unsafety) = &signature.unsafety {
        errors.push(syn::Error::new(
            unsafety.span(),
            "a tool cannot be an `unsafe fn`: the model's input cannot be trusted to meet its \
             safety conditions",
        ));
    }
    if let Some(variadic) = &signature.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            "a tool cannot take variadic arguments",
        ));
    }
    let generic = "a tool cannot be generic: the model's input is read into one concrete type \
                   per argument";
    if !signature.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(&signature.generics, generic));
    } else if let Some(where_clause) = &signature.generics.where_clause {
        errors.push(syn::Error::new_spanned(where_clause, generic));
    }

    let mut params = Vec::with_capacity(signature.inputs.len());
    let mut has_state = false;
    let mut has_context = false;
    for input in &mut signature.inputs {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                errors.push(syn::Error::new_spanned(
                    &*receiver,
                    "a tool is a free function and cannot take `self`; pass shared data in a \
                     #[state] argument instead",
                ));
                continue;
            }
            FnArg::Typed(typed) => typed,
        };

        let mut options = ArgOptions::default();
        let mut arg_attr = None;
        let mut state_attr = None;
        for attr in std::mem::take(&mut typed.attrs) {
            if attr.path().is_ident("arg") {
                options.parse_into(&attr, errors);
                arg_attr = Some(attr.clone());
            } else if attr.path().is_ident("state") {
                if attr.meta.require_path_only().is_err() {
                    errors.push(syn::Error::new_spanned(
                        &attr.meta,
                        "#[state] takes no options",
                    ));
                }
                state_attr = Some(attr.clone());
            } else {
                typed.attrs.push(attr);
            }
        }

        let ident = match &*typed.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => pat.ident.clone(),
            other => {
                errors.push(syn::Error::new_spanned(
                    other,
                    "a tool argument must be a plain name: it becomes the name of a property \
                     of the tool's JSON input",
                ));
                continue;
            }
        };
        let ty = (*typed.ty).clone();

        if let Some(by_ref) = context_type(&ty) {
            if has_context {
                errors.push(syn::Error::new_spanned(
                    &ty,
                    "a tool takes the call's `ToolContext` at most once",
                ));
            }
            has_context = true;
            if let Some(attr) = state_attr.as_ref().or(arg_attr.as_ref()) {
                errors.push(syn::Error::new_spanned(
                    attr,
                    "a `ToolContext` argument is filled in by the agent: it takes no #[arg] or \
                     #[state]",
                ));
            }
            params.push(Param::Context(ContextParam { ident, by_ref }));
            continue;
        }

        if let Some(state_attr) = state_attr {
            if has_state {
                errors.push(syn::Error::new_spanned(
                    &state_attr,
                    "a tool has at most one #[state] argument; put what it needs in one struct \
                     (often behind an `Arc`)",
                ));
            }
            has_state = true;
            if let Some(arg_attr) = arg_attr {
                errors.push(syn::Error::new_spanned(
                    &arg_attr,
                    "a #[state] argument is not shown to the model, so #[arg] does not apply",
                ));
            }
            check_owned(&ty, OwnedFor::State, errors);
            params.push(Param::State(StateParam { ident, ty }));
        } else {
            check_owned(&ty, OwnedFor::Argument, errors);
            params.push(Param::Argument(Argument {
                optional: is_option(&ty),
                ident,
                ty,
                description: options.description,
            }));
        }
    }

    let output = match &signature.output {
        ReturnType::Default => Output::Unit,
        ReturnType::Type(_, ty) if is_unit(ty) => Output::Unit,
        ReturnType::Type(_, ty) if last_segment_is(ty, "Result") => Output::Result((**ty).clone()),
        ReturnType::Type(_, ty) => Output::Value((**ty).clone()),
    };

    Signature { params, output }
}

/// What an owned type is needed for, which decides the advice in the error.
#[derive(Clone, Copy)]
enum OwnedFor {
    Argument,
    State,
}

/// Reports references, non-`'static` lifetimes and `impl Trait` anywhere in `ty`: an argument
/// is deserialized from a JSON value the tool owns, and the state is cloned out of the tool's
/// struct, so neither can borrow.
fn check_owned(ty: &Type, owned_for: OwnedFor, errors: &mut Errors) {
    struct Finder<'e> {
        owned_for: OwnedFor,
        errors: &'e mut Errors,
    }
    impl Finder<'_> {
        fn borrowed(&mut self, culprit: &dyn quote::ToTokens) {
            let message = match self.owned_for {
                OwnedFor::Argument => {
                    "a tool argument must be an owned type, read from the model's JSON input: \
                     use `String` for `&str` and `Vec<T>` for `&[T]`, or a #[state] argument \
                     for data the application shares"
                }
                OwnedFor::State => {
                    "a #[state] argument receives a clone of the tool's state and must be an \
                     owned type; an `Arc<T>` shares one value cheaply"
                }
            };
            self.errors.push(syn::Error::new_spanned(culprit, message));
        }
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_type_reference(&mut self, reference: &'ast TypeReference) {
            self.borrowed(reference);
        }
        fn visit_lifetime(&mut self, lifetime: &'ast syn::Lifetime) {
            if lifetime.ident != "static" {
                self.borrowed(lifetime);
            }
        }
        fn visit_type_impl_trait(&mut self, impl_trait: &'ast TypeImplTrait) {
            self.errors.push(syn::Error::new_spanned(
                impl_trait,
                "a tool argument cannot be `impl Trait`: the model's input needs one concrete \
                 type to be read into",
            ));
        }
    }
    Finder { owned_for, errors }.visit_type(ty);
}

/// Whether `ty` is `Option<…>` (by name, as serde and schemars see it when they make an
/// `Option` field optional).
fn is_option(ty: &Type) -> bool {
    let Type::Path(path) = ty else {
        return false;
    };
    path.qself.is_none()
        && path.path.segments.last().is_some_and(|segment| {
            segment.ident == "Option"
                && matches!(&segment.arguments, PathArguments::AngleBracketed(generic)
                    if generic.args.len() == 1
                        && matches!(generic.args.first(), Some(GenericArgument::Type(_))))
        })
}

/// Whether the last segment of `ty`'s path is `name`.
fn last_segment_is(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == name),
        Type::Group(group) => last_segment_is(&group.elem, name),
        Type::Paren(paren) => last_segment_is(&paren.elem, name),
        _ => false,
    }
}

/// Whether `ty` is the call's context, `ToolContext` or `&ToolContext` (by name, whatever the
/// path): `Some(true)` for a reference.
fn context_type(ty: &Type) -> Option<bool> {
    match ty {
        Type::Reference(reference)
            if reference.mutability.is_none()
                && last_segment_is(&reference.elem, "ToolContext") =>
        {
            Some(true)
        }
        _ if last_segment_is(ty, "ToolContext") => Some(false),
        _ => None,
    }
}

/// Whether `ty` is `()`.
fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(tuple) if tuple.elems.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_recognised_by_name() {
        assert!(is_option(&syn::parse_quote!(Option<String>)));
        assert!(is_option(&syn::parse_quote!(std::option::Option<u8>)));
        assert!(!is_option(&syn::parse_quote!(Vec<Option<u8>>)));
        assert!(!is_option(&syn::parse_quote!(String)));
    }

    #[test]
    fn results_are_recognised_by_their_last_segment() {
        assert!(last_segment_is(
            &syn::parse_quote!(Result<u8, String>),
            "Result"
        ));
        assert!(last_segment_is(
            &syn::parse_quote!(std::io::Result<u8>),
            "Result"
        ));
        assert!(!last_segment_is(
            &syn::parse_quote!(Vec<Result<u8, String>>),
            "Result"
        ));
    }

    #[test]
    fn arg_and_state_attributes_are_removed() {
        let mut function: ItemFn = syn::parse_quote! {
            fn lookup(#[state] db: Db, #[arg(description = "Key")] #[allow(unused)] key: String) {}
        };
        let mut errors = Errors::default();
        let signature = analyse(&mut function, &mut errors);
        assert!(errors.is_empty());
        assert_eq!(signature.params.len(), 2);
        let remaining: Vec<String> = function
            .sig
            .inputs
            .iter()
            .map(|input| quote::quote!(#input).to_string())
            .collect();
        assert_eq!(remaining, ["db : Db", "# [allow (unused)] key : String"]);
    }
}
