//! Turning a function into the function plus a struct that implements `Tool`.

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, LitStr, Path};

use crate::attr::{Errors, ToolOptions};
use crate::crate_path;
use crate::docs::{self, DocComment};
use crate::signature::{self, Output, Param, Signature};

/// Expands `#[tool(attr)] item`. Whatever is wrong is reported as compile errors next to the
/// function (with its `#[arg]` and `#[state]` attributes removed), so that the rest of the
/// program and an editor's view of it stay intact.
pub(crate) fn tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new(
                span_after_attributes(&item),
                "#[tool] goes on a function (`fn` or `async fn`)",
            )
            .into_compile_error();
            return quote!(#item #error);
        }
    };
    let mut errors = Errors::default();
    let options = ToolOptions::parse(attr, &mut errors);
    let signature = signature::analyse(&mut function, &mut errors);
    let docs = docs::parse(&function.attrs);
    let tool = describe(&function, &options, &signature, &docs, &mut errors);
    let crate_path = match options.crate_path {
        Some(path) => Some(path),
        None => crate_path::runtime_crate(Span::call_site())
            .map_err(|error| errors.push(error))
            .ok(),
    };
    match (tool, crate_path) {
        (Some(tool), Some(crate_path)) if errors.is_empty() => {
            let generated = generate(&function, &signature, &tool, &crate_path);
            quote!(#function #generated)
        }
        _ => {
            let errors = errors.into_compile_errors();
            quote!(#function #errors)
        }
    }
}

/// The names and descriptions of a tool, checked.
struct ToolDescription {
    /// The name the model calls it by.
    name: String,
    /// What it does.
    description: String,
    /// The struct that implements `Tool`.
    struct_ident: Ident,
    /// Each argument's description, in the order of [`Signature::params`]'s arguments.
    argument_descriptions: Vec<Option<String>>,
    /// Why each call waits for approval, when it does.
    approval: Option<String>,
    /// Whether the tool may run again on resume (read-only or idempotent).
    repeatable: bool,
}

/// Works out the tool's names and descriptions, reporting each one that is missing or
/// unusable. Returns `None` when there is nothing to generate from.
fn describe(
    function: &ItemFn,
    options: &ToolOptions,
    signature: &Signature,
    docs: &DocComment,
    errors: &mut Errors,
) -> Option<ToolDescription> {
    let fn_ident = &function.sig.ident;
    let fn_name = unraw(fn_ident);

    let (name, name_span) = match &options.name {
        Some(name) => (name.value(), name.span()),
        None => (fn_name.clone(), fn_ident.span()),
    };
    if !is_valid_tool_name(&name) {
        errors.push(syn::Error::new(
            name_span,
            format!(
                "the tool name `{name}` must be 1 to 64 characters of [A-Za-z0-9_-], as Converse \
                 requires; rename the function or set #[tool(name = \"…\")]"
            ),
        ));
    }

    let description = match &options.description {
        Some(description) => non_empty(description, errors),
        None => {
            if docs.summary.is_none() {
                errors.push(syn::Error::new(
                    fn_ident.span(),
                    format!(
                        "the tool `{name}` has no description, and the model reads it to decide \
                         when to call the tool: start the doc comment with a paragraph saying \
                         what it does, or set #[tool(description = \"…\")]"
                    ),
                ));
            }
            docs.summary.clone()
        }
    };

    let mut parameter_names = HashSet::new();
    let mut argument_descriptions = Vec::new();
    for param in &signature.params {
        let argument = match param {
            Param::Argument(argument) => argument,
            Param::State(state) => {
                parameter_names.insert(unraw(&state.ident));
                continue;
            }
            Param::Context(context) => {
                parameter_names.insert(unraw(&context.ident));
                continue;
            }
        };
        let arg_name = unraw(&argument.ident);
        parameter_names.insert(arg_name.clone());
        let from_docs = docs
            .arguments
            .iter()
            .find(|entry| entry.name == arg_name)
            .map(|entry| entry.description.clone())
            .filter(|text| !text.is_empty());
        let description = match &argument.description {
            Some(description) => non_empty(description, errors),
            None => from_docs,
        };
        if description.is_none() && !argument.optional {
            errors.push(syn::Error::new(
                argument.ident.span(),
                format!(
                    "the argument `{arg_name}` has no description, and the model reads it to \
                     fill the argument in: describe it in the doc comment under `# Arguments` \
                     (* `{arg_name}` - …) or with #[arg(description = \"…\")]; only `Option` \
                     arguments may go without"
                ),
            ));
        }
        argument_descriptions.push(description);
    }

    let mut described = HashSet::new();
    for entry in &docs.arguments {
        if !parameter_names.contains(&entry.name) {
            errors.push(syn::Error::new(
                entry.span,
                format!(
                    "the doc comment describes `{}`, but `{fn_name}` has no argument of that name",
                    entry.name
                ),
            ));
        } else if !described.insert(entry.name.as_str()) {
            errors.push(syn::Error::new(
                entry.span,
                format!("the doc comment describes `{}` twice", entry.name),
            ));
        }
    }

    let (struct_name, struct_span) = match &options.struct_name {
        Some(literal) => (literal.value(), literal.span()),
        None => (pascal_case(&fn_name), fn_ident.span()),
    };
    let struct_ident = match syn::parse_str::<Ident>(&struct_name) {
        Ok(mut ident) => {
            // Errors about the struct (a name already taken) then point at the function's name,
            // or at the `struct_name` that chose it.
            ident.set_span(struct_span);
            Some(ident)
        }
        Err(_) => {
            errors.push(syn::Error::new(
                struct_span,
                format!(
                    "the tool's struct would be named `{struct_name}`, which is not a usable \
                     name; rename the function or choose one with `struct_name = \"…\"`"
                ),
            ));
            None
        }
    };

    let approval = match &options.approval {
        Some(reason) => {
            let text = reason.value().trim().to_owned();
            if text.is_empty() {
                errors.push(syn::Error::new(
                    reason.span(),
                    "the approval reason is empty; say why a person must approve each call",
                ));
            }
            Some(text)
        }
        None => None,
    };
    Some(ToolDescription {
        name,
        description: description?,
        struct_ident: struct_ident?,
        argument_descriptions,
        approval,
        repeatable: options.repeatable.is_some(),
    })
}

/// The literal's text, trimmed, or an error on the literal if that is empty.
fn non_empty(literal: &LitStr, errors: &mut Errors) -> Option<String> {
    let text = literal.value().trim().to_owned();
    if text.is_empty() {
        errors.push(syn::Error::new(
            literal.span(),
            "the description is empty; say what it is for the model",
        ));
        return None;
    }
    Some(text)
}

/// The generated struct, its `Tool` implementation and the arguments struct behind it.
fn generate(
    function: &ItemFn,
    signature: &Signature,
    tool: &ToolDescription,
    krate: &Path,
) -> TokenStream {
    let vis = &function.vis;
    let fn_ident = &function.sig.ident;
    let fn_name = unraw(fn_ident);
    let struct_ident = &tool.struct_ident;
    let tool_name = &tool.name;
    let description = &tool.description;
    // Inside the `const _` block below, this name shadows any item of the user's module; the
    // double underscore keeps it clear of the names their argument types use.
    let arguments_ident = Ident::new(&format!("__{struct_ident}Arguments"), Span::call_site());

    let private = quote!(#krate::__private);
    let json = quote!(#private::serde_json);
    let approval = tool.approval.as_ref().map(|reason| {
        quote! {
            fn approval(&self) -> ::core::option::Option<&::core::primitive::str> {
                ::core::option::Option::Some(#reason)
            }
        }
    });
    let effect = tool.repeatable.then(|| {
        quote! {
            fn effect(&self) -> #private::ToolEffect {
                #private::ToolEffect::AtLeastOnce
            }
        }
    });
    let serde_crate = path_string(&quote!(#private::serde));
    let schemars_crate = path_string(&quote!(#private::schemars));

    let struct_doc = [
        format!(" The agent tool `{tool_name}`, made by `#[tool]` from the function `{fn_name}`."),
        String::new(),
        format!(" {description}"),
    ];
    let state = signature.params.iter().find_map(|param| match param {
        Param::State(state) => Some(state),
        Param::Argument(_) | Param::Context(_) => None,
    });
    // Spanned on the function's name, so that a type of the same name already in the module
    // is reported there.
    let struct_span = fn_ident.span();
    let tool_struct = match state {
        None => quote_spanned! {struct_span=>
            #(#[doc = #struct_doc])*
            #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::marker::Copy)]
            #vis struct #struct_ident;
        },
        Some(state) => {
            let state_ty = &state.ty;
            let struct_name = struct_ident.to_string();
            let new_doc = format!(
                " The tool, holding the state of which each call passes a clone to `{fn_name}`."
            );
            // Named with the span of the state's type, so that a state that is not `Clone` is
            // reported once, at its type, by this derive and by the clone for each call alike.
            let state_field = Ident::new("state", state_ty.span());
            quote_spanned! {struct_span=>
                #(#[doc = #struct_doc])*
                #[derive(::core::clone::Clone)]
                #vis struct #struct_ident {
                    #state_field: #state_ty,
                }

                impl #struct_ident {
                    #[doc = #new_doc]
                    #vis fn new(state: #state_ty) -> Self {
                        Self { state }
                    }
                }

                impl ::core::fmt::Debug for #struct_ident {
                    fn fmt(&self, formatter: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        formatter.debug_struct(#struct_name).finish_non_exhaustive()
                    }
                }
            }
        }
    };

    let mut fields = Vec::new();
    let mut call_args = Vec::new();
    let mut descriptions = tool.argument_descriptions.iter();
    for param in &signature.params {
        match param {
            Param::Argument(argument) => {
                let ident = &argument.ident;
                let ty = &argument.ty;
                let description = descriptions
                    .next()
                    .and_then(Option::as_deref)
                    .map(|description| quote!(#[schemars(description = #description)]));
                fields.push(quote!(#description #ident: #ty));
                call_args.push(quote!(arguments.#ident));
            }
            Param::State(state) => {
                // Spanned on the state's type so that a state that is not `Clone` is reported
                // there.
                call_args.push(quote_spanned!(state.ty.span()=>
                    ::core::clone::Clone::clone(&self.state)
                ));
            }
            Param::Context(context) => {
                call_args.push(if context.by_ref {
                    quote!(context)
                } else {
                    quote!(::core::clone::Clone::clone(context))
                });
            }
        }
    }

    let call = match &function.sig.asyncness {
        Some(_) => quote!(#fn_ident(#(#call_args),*).await),
        None => quote!(#fn_ident(#(#call_args),*)),
    };
    let cannot_serialize = "the tool's result could not be turned into JSON";
    // The bounds on the result (`Serialize`, and `Display` for an error) are checked by these
    // calls; spanned on the return type, a type that lacks one is reported there.
    let to_json = |ty: &syn::Type| {
        quote_spanned! {ty.span()=>
            #json::to_value(output).map(#private::ToolOutput::Value).map_err(|error| {
                #private::ToolError::failed(::std::format!("{}: {}", #cannot_serialize, error))
            })
        }
    };
    let run = match &signature.output {
        Output::Unit => quote! {
            #call;
            ::core::result::Result::Ok(#private::ToolOutput::Value(#json::Value::Null))
        },
        Output::Value(ty) => {
            let to_json = to_json(ty);
            quote! {
                let output = #call;
                #to_json
            }
        }
        Output::Result(ty) => {
            let to_json = to_json(ty);
            let message = quote_spanned!(ty.span()=> ::std::string::ToString::to_string(&error));
            quote! {
                let output = match #call {
                    ::core::result::Result::Ok(output) => output,
                    ::core::result::Result::Err(error) => {
                        return ::core::result::Result::Err(#private::ToolError::failed(#message));
                    }
                };
                #to_json
            }
        }
    };

    quote! {
        #tool_struct

        const _: () = {
            #[derive(#private::serde::Deserialize, #private::schemars::JsonSchema)]
            #[serde(crate = #serde_crate, deny_unknown_fields)]
            #[schemars(crate = #schemars_crate)]
            struct #arguments_ident {
                #(#fields,)*
            }

            #[#private::async_trait]
            impl #private::Tool for #struct_ident {
                fn name(&self) -> &::core::primitive::str {
                    #tool_name
                }

                fn description(&self) -> &::core::primitive::str {
                    #description
                }

                fn input_schema(&self) -> #json::Value {
                    // A property that accepts anything is `{}` rather than `true`: not every
                    // reader of tool schemas takes a boolean where it expects an object.
                    let mut replace_bool_schemas =
                        #private::schemars::transform::ReplaceBoolSchemas::default();
                    replace_bool_schemas.skip_additional_properties = true;
                    // Nested types are written out in place rather than as `$ref`s into
                    // `$defs` (the crate docs say why); only recursive types keep `$defs`.
                    let generator = #private::schemars::generate::SchemaSettings::draft2020_12()
                        .with(|settings| {
                            settings.meta_schema = ::core::option::Option::None;
                            settings.inline_subschemas = true;
                        })
                        .with_transform(replace_bool_schemas)
                        .into_generator();
                    let mut schema = #json::Value::from(
                        generator.into_root_schema_for::<#arguments_ident>(),
                    );
                    if let ::core::option::Option::Some(object) = schema.as_object_mut() {
                        // The title would be the name of the generated struct: noise to a model.
                        object.remove("title");
                        // A tool without arguments still says it takes an empty object.
                        object
                            .entry("properties")
                            .or_insert_with(|| #json::Value::Object(#json::Map::new()));
                    }
                    schema
                }

                #approval

                #effect

                async fn call(
                    &self,
                    input: #json::Value,
                    context: &#private::ToolContext,
                ) -> ::core::result::Result<#private::ToolOutput, #private::ToolError> {
                    // Used when the function asks for the context.
                    let _ = context;
                    let input = match input {
                        #json::Value::Object(object) => #json::Value::Object(object),
                        // Some models send `null` rather than `{}` for a tool without arguments.
                        #json::Value::Null => #json::Value::Object(#json::Map::new()),
                        // Checked here because serde would also read a struct from an array, by
                        // position, which the schema does not offer.
                        other => {
                            let kind = match other {
                                #json::Value::Bool(_) => "a boolean",
                                #json::Value::Number(_) => "a number",
                                #json::Value::String(_) => "a string",
                                _ => "an array",
                            };
                            return ::core::result::Result::Err(#private::ToolError::invalid_input(
                                ::std::format!(
                                    "the input must be a JSON object of the tool's arguments, not {}",
                                    kind,
                                ),
                            ));
                        }
                    };
                    let arguments: #arguments_ident =
                        match #private::serde_path_to_error::deserialize(input) {
                            ::core::result::Result::Ok(arguments) => arguments,
                            ::core::result::Result::Err(error) => {
                                // Name the field so that the model can correct it on the next step.
                                let at_top_level = error.path().iter().next().is_none();
                                let path = ::std::string::ToString::to_string(error.path());
                                let problem = error.into_inner();
                                let message = if at_top_level {
                                    ::std::string::ToString::to_string(&problem)
                                } else {
                                    ::std::format!("field `{}`: {}", path, problem)
                                };
                                return ::core::result::Result::Err(
                                    #private::ToolError::invalid_input(message),
                                );
                            }
                        };
                    #run
                }
            }
        };
    }
}

/// Where to report that an item is not a function: its first token after its attributes (the
/// `struct` of a struct, say), rather than its doc comment.
fn span_after_attributes(item: &TokenStream) -> Span {
    let mut tokens = item.clone().into_iter().peekable();
    while let Some(token) = tokens.next() {
        let is_attribute = matches!(&token, proc_macro2::TokenTree::Punct(punct) if punct.as_char() == '#')
            && matches!(tokens.peek(), Some(proc_macro2::TokenTree::Group(group))
                if group.delimiter() == proc_macro2::Delimiter::Bracket);
        if is_attribute {
            tokens.next();
        } else {
            return token.span();
        }
    }
    Span::call_site()
}

/// A path as the string that serde's and schemars' `crate = "…"` options take.
fn path_string(path: &TokenStream) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// The identifier's text without `r#`.
fn unraw(ident: &Ident) -> String {
    let text = ident.to_string();
    match text.strip_prefix("r#") {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}

/// `get_weather` → `GetWeather`: each `_`-separated part capitalised, the underscores dropped.
fn pascal_case(snake: &str) -> String {
    let mut pascal = String::with_capacity(snake.len());
    for part in snake.split('_') {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            pascal.extend(first.to_uppercase());
            pascal.push_str(chars.as_str());
        }
    }
    pascal
}

/// Whether Converse accepts `name` as a tool name (the same rule as
/// `agent_core::is_valid_tool_name`, checked here at compile time).
fn is_valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_names_are_pascal_case() {
        assert_eq!(pascal_case("get_weather"), "GetWeather");
        assert_eq!(pascal_case("forecast"), "Forecast");
        assert_eq!(pascal_case("_private_tool"), "PrivateTool");
        assert_eq!(pascal_case("get_v2__data"), "GetV2Data");
        assert_eq!(pascal_case("fetch_URL"), "FetchURL");
    }

    #[test]
    fn tool_names_follow_converse() {
        assert!(is_valid_tool_name("get_weather"));
        assert!(is_valid_tool_name("custom-weather"));
        assert!(!is_valid_tool_name(""));
        assert!(!is_valid_tool_name("météo"));
        assert!(!is_valid_tool_name(&"a".repeat(65)));
    }

    #[test]
    fn raw_identifiers_lose_their_prefix() {
        assert_eq!(unraw(&syn::parse_quote!(r#type)), "type");
        assert_eq!(unraw(&syn::parse_quote!(plain)), "plain");
    }

    #[test]
    fn crate_paths_become_attribute_strings() {
        assert_eq!(
            path_string(&quote!(::minimalagent::__private::serde)),
            "::minimalagent::__private::serde"
        );
    }
}
