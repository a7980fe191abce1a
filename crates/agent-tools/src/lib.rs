//! # agent-tools
//!
//! The `#[tool]` attribute of MinimalAgent: write a tool as a plain Rust function, and the
//! attribute makes the `Tool` the agent offers to the model, with a JSON Schema built from the
//! function's signature and doc comment. Applications use it as `minimalagent::tool`; it works
//! as well in packages that depend on `agent-core` alone.
//!
//! ```
//! use minimalagent::{Tool, ToolExt, tool};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//! use serde_json::json;
//!
//! #[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
//! #[serde(rename_all = "lowercase")]
//! enum Units {
//!     Metric,
//!     Imperial,
//! }
//!
//! #[derive(Serialize)]
//! struct Weather {
//!     temperature: f64,
//!     sky: String,
//! }
//!
//! /// Get the weather for a location.
//! ///
//! /// # Arguments
//! /// * `location` - City name to get weather for
//! /// * `units` - Unit system to answer in
//! #[tool]
//! async fn get_weather(location: String, units: Option<Units>) -> Result<Weather, String> {
//!     if location.is_empty() {
//!         return Err("name a city".to_owned());
//!     }
//!     let temperature = match units.unwrap_or(Units::Metric) {
//!         Units::Metric => 21.0,
//!         Units::Imperial => 69.8,
//!     };
//!     Ok(Weather { temperature, sky: "clear".to_owned() })
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // `GetWeather` is the tool: give it to the agent builder's `tool` method.
//! assert_eq!(GetWeather.name(), "get_weather");
//! assert_eq!(GetWeather.description(), "Get the weather for a location.");
//! assert_eq!(
//!     GetWeather.input_schema(),
//!     json!({
//!         "type": "object",
//!         "properties": {
//!             "location": { "type": "string", "description": "City name to get weather for" },
//!             "units": {
//!                 "type": ["string", "null"],
//!                 "enum": ["metric", "imperial", null],
//!                 "description": "Unit system to answer in"
//!             }
//!         },
//!         "required": ["location"],
//!         "additionalProperties": false
//!     })
//! );
//!
//! // The agent calls it with the model's input...
//! let weather = GetWeather.call_detached(json!({ "location": "Lisbon", "units": "imperial" })).await?;
//! assert_eq!(weather, json!({ "temperature": 69.8, "sky": "clear" }));
//!
//! // ...and the function is still an ordinary function.
//! let weather = get_weather("Lisbon".to_owned(), None).await?;
//! assert_eq!(weather.temperature, 21.0);
//! # Ok(())
//! # }
//! ```
//!
//! # What the attribute generates
//!
//! - The function, exactly as written (so it stays callable and unit-testable), without the
//!   `#[arg]` and `#[state]` attributes of its arguments.
//! - A struct named after the function in PascalCase (`get_weather` → `GetWeather`), with the
//!   function's visibility and a doc comment, that implements `Tool`. Without
//!   [state](#application-state) it is a unit struct (`Debug`, `Clone`, `Copy`).
//! - The tool's name is the function's name (without `r#`), unless `#[tool(name = "…")]`
//!   says otherwise; it must be 1 to 64 characters of `[A-Za-z0-9_-]`, as Converse requires.
//!
//! Since the struct takes the PascalCase name in the function's module, a type of that name
//! there (say, a function `forecast` returning a type `Forecast`) is a compile error that
//! points at the function's name: choose the struct's name with
//! `#[tool(struct_name = "ForecastTool")]`, or rename one of them.
//!
//! # Arguments and results
//!
//! - The function may be `async` or not. A plain `fn` runs on the task the agent runs the call
//!   on, so it should be quick; blocking work belongs in an `async fn` that uses
//!   `tokio::task::spawn_blocking`.
//! - Each argument may be of any type that is `serde::Deserialize` and `schemars::JsonSchema`:
//!   numbers, `String`, `bool`, `Option`, `Vec`, maps, enums, structs of your own. An `Option`
//!   argument may be left out by the model; every other argument is `required`.
//! - The function returns a `T: serde::Serialize` (the call's result is `T` as JSON; `()` gives
//!   `null`), or a `Result<T, E>` with `E: Display`, where an `Err` becomes a failed call
//!   (`ToolError::failed`) whose message is the error's `Display`. A return type counts as a
//!   `Result` when its last path segment is `Result` (`io::Result<T>`, `anyhow::Result<T>`):
//!   a macro sees names, not types.
//! - A tool that panics does not crash the agent: each call runs on its own task, and the panic
//!   becomes an error result that the model sees.
//!
//! # Descriptions
//!
//! The model chooses a tool by its description and fills in each argument from the argument's
//! description, so both are required:
//!
//! - The tool's description is the first paragraph of the function's doc comment, or
//!   `#[tool(description = "…")]`.
//! - An argument's description is its entry in the doc comment's arguments list, or
//!   `#[arg(description = "…")]` on the argument, which wins over the list. The list is the one
//!   under an `# Arguments` heading (also `# Args`, `# Parameters`, or a line `Arguments:`), with
//!   entries in any of these forms, continued on following lines if long:
//!
//! ```text
//! * `location` - City name to get weather for
//! - `location`: City name to get weather for
//! - location: City name to get weather for
//! ```
//!
//! A tool without a description, a required (non-`Option`) argument without one, and a list
//! entry that names no argument are compile errors, pointing at the culprit.
//!
//! ```
//! use minimalagent::{Tool, ToolExt, tool};
//! # use serde::Serialize;
//! # #[derive(Serialize)]
//! # struct DailyForecast { days: u8 }
//!
//! #[tool(name = "custom_weather", description = "Weather forecast for any place")]
//! fn forecast(
//!     #[arg(description = "City, postal code or coordinates")] place: String,
//!     #[arg(description = "How many days ahead, 1 to 10")] days: u8,
//! ) -> DailyForecast {
//!     # let _ = place;
//!     DailyForecast { days }
//! }
//!
//! assert_eq!(Forecast.name(), "custom_weather");
//! assert_eq!(Forecast.description(), "Weather forecast for any place");
//! ```
//!
//! # The input schema
//!
//! The schema is made by `schemars` from a struct with one field per argument, each field
//! carrying its argument's description, and is computed each time `Tool::input_schema` is
//! called (an agent calls it once, when it is built). It is JSON Schema 2020-12, as Converse's
//! `toolSpec.inputSchema.json` takes it, with these choices:
//!
//! - The top level is `"type": "object"` with a `properties` entry per argument (an empty one
//!   for a tool without arguments) and the `required` list.
//! - Types used by arguments are written out in place, not put under `$defs` and referred to
//!   with `$ref`. Converse hands the schema to the model, which reads it as text: written out,
//!   each property's type sits next to its name and description, and no `$ref` has to be
//!   followed. Support for `$ref` also differs between the model families on Bedrock, while a
//!   schema written out in place means the same to all of them. The cost is repetition when
//!   several arguments share a type, which in tool schemas is small. A recursive type cannot be
//!   written out in place; it is kept under a top-level `$defs`, to which its `$ref`s point.
//! - The `$schema` and `title` keywords are left out: the title would be the name of the
//!   generated struct, which tells the model nothing. A property that accepts any JSON (a
//!   `serde_json::Value` argument) is `{}` rather than the equivalent `true`, since not every
//!   reader of tool schemas takes a boolean where it expects an object.
//! - `"additionalProperties": false`: see below.
//!
//! # Invalid input
//!
//! The input is checked before the function runs, by deserializing it into the arguments.
//! Input that does not fit gives `ToolError::invalid_input`, whose message names the field
//! and says what was expected, so that the model can correct itself on its next step:
//!
//! ```text
//! field `days`: invalid type: string "x", expected u8
//! field `place.city`: invalid type: integer `3`, expected a string
//! missing field `location`
//! field `extra`: unknown field `extra`, expected `place` or `days`
//! ```
//!
//! Unknown fields are rejected (the schema says so with `"additionalProperties": false`): a
//! misspelt optional argument would otherwise be dropped without a word and the tool run
//! without it, while the error names the fields that exist. Input other than a JSON object is
//! rejected too (serde alone would read an array as the arguments in order, which the schema
//! does not offer), except `null`, which counts as `{}` since some models send it for tools
//! without arguments.
//!
//! # Application state
//!
//! A tool that needs something of the application's (a database pool, an HTTP client, a
//! configuration) takes it as one argument marked `#[state]`. That argument is not part of the
//! schema; the generated struct holds the state instead, is made with `new(state)`, and passes
//! a clone of it to each call. The state's type must be `Clone + Send + Sync + 'static`; to
//! share one value rather than copy it, make it an `Arc`.
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Arc;
//!
//! use minimalagent::{Tool, ToolExt, tool};
//! use serde_json::json;
//!
//! /// The application's price list.
//! struct PriceList {
//!     prices: HashMap<String, u32>,
//! }
//!
//! /// Look up the price of a product, in cents.
//! ///
//! /// # Arguments
//! /// * `product` - The product's name
//! #[tool]
//! fn price(#[state] list: Arc<PriceList>, product: String) -> Result<u32, String> {
//!     list.prices
//!         .get(&product)
//!         .copied()
//!         .ok_or_else(|| format!("no product named {product}"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let list = Arc::new(PriceList { prices: HashMap::from([("tea".to_owned(), 350)]) });
//! let tool = Price::new(Arc::clone(&list));
//!
//! // The state is not in the schema: the model sees only `product`.
//! assert_eq!(tool.input_schema()["required"], json!(["product"]));
//! assert_eq!(tool.call_detached(json!({ "product": "tea" })).await?, json!(350));
//! let error = tool.call_detached(json!({ "product": "coffee" })).await.unwrap_err();
//! assert_eq!(error.message(), "no product named coffee");
//!
//! // The function takes the state like any other argument.
//! assert_eq!(price(list, "tea".to_owned()), Ok(350));
//! # Ok(())
//! # }
//! ```
//!
//! # The crate path
//!
//! The generated code names `Tool`, `ToolError`, `async_trait` and the re-exported `serde`,
//! `serde_json`, `serde_path_to_error` and `schemars` through the runtime crate, so the
//! package using `#[tool]` needs no dependency on those. The runtime crate is looked up in the
//! package's `Cargo.toml`: `minimalagent` if it is a dependency, else `agent-core`, under
//! whatever name the manifest gives it. `#[tool(crate = "…")]` names it instead, for a crate
//! that re-exports one of them or a manifest the lookup cannot read. Inside `minimalagent` (or
//! `agent-core`) itself, the path is `::minimalagent` (`::agent_core`), which holds in its
//! doctests, examples and integration tests, and in its library with
//! `extern crate self as minimalagent;`.
//!
//! # Compile errors
//!
//! Besides missing descriptions, these signatures cannot be tools and are compile errors:
//! a `self` receiver, generic parameters or a `where` clause, `impl Trait` arguments,
//! references or other borrowed arguments (anything with a lifetime other than `'static`),
//! argument patterns other than a plain name, an `unsafe fn`, and more than one `#[state]`
//! argument. All the errors of one function are reported together, each at its cause, and
//! the function itself is still emitted so that the rest of the program and an editor's view of
//! it stay intact.

mod attr;
mod crate_path;
mod docs;
mod expand;
mod signature;

use proc_macro::TokenStream;

/// Makes a function into an agent tool: keeps the function and adds a struct, named after it
/// in PascalCase, that implements `Tool`. The `agent-tools` crate documentation tells the whole
/// story: descriptions, the schema, invalid input, state and compile errors.
///
/// Options, all optional:
///
/// - `name = "…"`: the tool's name, instead of the function's name.
/// - `description = "…"`: the tool's description, instead of the doc comment's first
///   paragraph.
/// - `struct_name = "…"`: the generated struct's name, instead of the function's name in
///   PascalCase.
/// - `crate = "…"`: the path of the runtime crate (`minimalagent` or `agent-core`), instead of
///   looking it up in the package's `Cargo.toml`.
///
/// On the function's arguments:
///
/// - `#[arg(description = "…")]`: the argument's description, instead of its entry in the doc
///   comment's `# Arguments` list.
/// - `#[state]`: the argument is the tool's state, held by the struct (made with
///   `new(state)`) and passed to each call as a clone; it is not part of the schema.
#[proc_macro_attribute]
pub fn tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::tool(attr.into(), item.into()).into()
}
