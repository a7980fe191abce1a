//! The name, description and input schema `#[tool]` gives a table of signatures, each compared
//! with the literal JSON a model receives.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use minimalagent::core::ToolSet;
use minimalagent::{Tool, tool};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Units {
    Metric,
    Imperial,
}

#[derive(Debug, Serialize)]
struct Weather {
    summary: String,
}

#[derive(Debug, Serialize)]
struct DailyForecast {
    days: u8,
}

#[derive(Debug)]
struct WeatherError;

impl std::fmt::Display for WeatherError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the weather service is down")
    }
}

/// Get the weather for a location.
///
/// # Arguments
/// * `location` - City name to get weather for
/// * `units` - Unit system to answer in
#[tool]
async fn get_weather(location: String, units: Option<Units>) -> Result<Weather, WeatherError> {
    Ok(Weather {
        summary: format!("{location}: sunny ({units:?})"),
    })
}

#[tool(
    name = "custom_weather",
    description = "Weather forecast for any place"
)]
fn forecast(
    #[arg(description = "City, postal code or coordinates")] place: String,
    #[arg(description = "How many days ahead")] days: u8,
) -> DailyForecast {
    let _ = place;
    DailyForecast { days }
}

/// Checks the numbers.
///
/// The rest of the doc comment is not part of the description.
///
/// # Arguments
/// * `small` - A byte
/// * `signed` - A signed 64-bit number
/// * `ratio` - A ratio
/// * `flag` - A flag
#[tool]
fn numbers(small: u8, signed: i64, ratio: f32, flag: bool) -> String {
    format!("{small} {signed} {ratio} {flag}")
}

/// Collects things.
///
/// # Arguments
/// - tags: Labels to attach
/// - counts: How many of each thing
/// - ordered: Sorted settings
/// - pair: A number and its name
#[tool]
fn collections(
    tags: Vec<String>,
    counts: HashMap<String, u32>,
    ordered: BTreeMap<String, bool>,
    pair: (u8, String),
) -> usize {
    tags.len() + counts.len() + ordered.len() + pair.1.len()
}

/// A postal address.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code, reason = "only its schema matters here")]
struct Address {
    /// Street and number.
    street: String,
    /// The city.
    city: String,
    postcode: Option<String>,
}

/// What to deliver.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code, reason = "only its schema matters here")]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Parcel {
    /// A letter.
    Letter,
    /// A box of the given weight.
    Box { grams: u32 },
}

/// Ships a parcel.
///
/// # Arguments
/// * `to` - Where it goes
/// * `parcel` - What goes
/// * `from` - The return address, if any
#[tool]
fn ship(to: Address, parcel: Parcel, from: Option<Address>) -> String {
    format!("{to:?} {parcel:?} {from:?}")
}

/// A tree of numbers.
#[derive(Debug, Deserialize, JsonSchema)]
struct Tree {
    value: i32,
    children: Vec<Tree>,
}

/// Sums a tree.
///
/// # Arguments
/// * `tree` - The tree to sum
#[tool]
fn sum_tree(tree: Tree) -> i64 {
    fn sum(tree: &Tree) -> i64 {
        i64::from(tree.value) + tree.children.iter().map(sum).sum::<i64>()
    }
    sum(&tree)
}

/// Says what time it is.
#[tool]
fn now() -> &'static str {
    "noon"
}

/// Stores any JSON.
///
/// # Arguments
/// * `key` - Where to store it
#[tool]
fn store(key: String, value: Option<Value>, note: Option<String>) -> String {
    format!("{key} {value:?} {note:?}")
}

/// Counts words.
///
/// # Arguments
/// * `text` - The text to count words in
#[tool]
fn count_words(#[state] stop_words: Arc<Vec<String>>, text: String) -> usize {
    text.split_whitespace()
        .filter(|word| !stop_words.iter().any(|stop| stop == word))
        .count()
}

/// Looks a word up.
///
/// # Arguments
/// * `type` - The kind of word
/// * `word` - The word,
///   in lower case
#[tool]
fn r#lookup(r#type: String, word: String) -> String {
    format!("{type} {word}")
}

fn spec(tool: &dyn Tool) -> (String, String, Value) {
    (
        tool.name().to_owned(),
        tool.description().to_owned(),
        tool.input_schema(),
    )
}

#[test]
fn async_result_tool_with_doc_comment_descriptions() {
    let (name, description, schema) = spec(&GetWeather);
    assert_eq!(name, "get_weather");
    assert_eq!(description, "Get the weather for a location.");
    assert_eq!(
        schema,
        json!({
            "type": "object",
            "properties": {
                "location": {
                    "type": "string",
                    "description": "City name to get weather for"
                },
                "units": {
                    "type": ["string", "null"],
                    "enum": ["metric", "imperial", null],
                    "description": "Unit system to answer in"
                }
            },
            "required": ["location"],
            "additionalProperties": false
        })
    );
}

#[test]
fn attribute_name_and_descriptions() {
    let (name, description, schema) = spec(&Forecast);
    assert_eq!(name, "custom_weather");
    assert_eq!(description, "Weather forecast for any place");
    assert_eq!(
        schema,
        json!({
            "type": "object",
            "properties": {
                "place": {
                    "type": "string",
                    "description": "City, postal code or coordinates"
                },
                "days": {
                    "type": "integer",
                    "format": "uint8",
                    "minimum": 0,
                    "maximum": 255,
                    "description": "How many days ahead"
                }
            },
            "required": ["place", "days"],
            "additionalProperties": false
        })
    );
}

#[test]
fn numbers_and_booleans() {
    let (_, description, schema) = spec(&Numbers);
    assert_eq!(description, "Checks the numbers.");
    assert_eq!(
        schema,
        json!({
            "type": "object",
            "properties": {
                "small": {
                    "type": "integer",
                    "format": "uint8",
                    "minimum": 0,
                    "maximum": 255,
                    "description": "A byte"
                },
                "signed": {
                    "type": "integer",
                    "format": "int64",
                    "description": "A signed 64-bit number"
                },
                "ratio": { "type": "number", "format": "float", "description": "A ratio" },
                "flag": { "type": "boolean", "description": "A flag" }
            },
            "required": ["small", "signed", "ratio", "flag"],
            "additionalProperties": false
        })
    );
}

#[test]
fn sequences_maps_and_tuples() {
    assert_eq!(
        Collections.input_schema(),
        json!({
            "type": "object",
            "properties": {
                "tags": {
                    "type": "array",
                    "items": { "type": "string" },
                    "description": "Labels to attach"
                },
                "counts": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "integer",
                        "format": "uint32",
                        "minimum": 0
                    },
                    "description": "How many of each thing"
                },
                "ordered": {
                    "type": "object",
                    "additionalProperties": { "type": "boolean" },
                    "description": "Sorted settings"
                },
                "pair": {
                    "type": "array",
                    "prefixItems": [
                        { "type": "integer", "format": "uint8", "minimum": 0, "maximum": 255 },
                        { "type": "string" }
                    ],
                    "minItems": 2,
                    "maxItems": 2,
                    "description": "A number and its name"
                }
            },
            "required": ["tags", "counts", "ordered", "pair"],
            "additionalProperties": false
        })
    );
}

#[test]
fn nested_structs_and_enums_are_written_out_in_place() {
    let address = |description: &str, nullable: bool| {
        json!({
            "type": if nullable { json!(["object", "null"]) } else { json!("object") },
            "properties": {
                "street": { "type": "string", "description": "Street and number." },
                "city": { "type": "string", "description": "The city." },
                "postcode": { "type": ["string", "null"] }
            },
            "required": ["street", "city"],
            "description": description
        })
    };
    assert_eq!(
        Ship.input_schema(),
        json!({
            "type": "object",
            "properties": {
                "to": address("Where it goes", false),
                "parcel": {
                    "oneOf": [
                        {
                            "type": "object",
                            "properties": { "kind": { "type": "string", "const": "letter" } },
                            "required": ["kind"],
                            "description": "A letter."
                        },
                        {
                            "type": "object",
                            "properties": {
                                "kind": { "type": "string", "const": "box" },
                                "grams": { "type": "integer", "format": "uint32", "minimum": 0 }
                            },
                            "required": ["kind", "grams"],
                            "description": "A box of the given weight."
                        }
                    ],
                    "description": "What goes"
                },
                "from": address("The return address, if any", true)
            },
            "required": ["to", "parcel"],
            "additionalProperties": false
        })
    );
}

#[test]
fn recursive_types_keep_their_definition() {
    let tree_properties = json!({
        "value": { "type": "integer", "format": "int32" },
        "children": { "type": "array", "items": { "$ref": "#/$defs/Tree" } }
    });
    assert_eq!(
        SumTree.input_schema(),
        json!({
            "type": "object",
            "properties": {
                "tree": {
                    "type": "object",
                    "properties": tree_properties,
                    "required": ["value", "children"],
                    "description": "The tree to sum"
                }
            },
            "required": ["tree"],
            "additionalProperties": false,
            "$defs": {
                "Tree": {
                    "type": "object",
                    "properties": tree_properties,
                    "required": ["value", "children"],
                    "description": "A tree of numbers."
                }
            }
        })
    );
}

#[test]
fn a_tool_without_arguments_takes_an_empty_object() {
    let (name, description, schema) = spec(&Now);
    assert_eq!(name, "now");
    assert_eq!(description, "Says what time it is.");
    assert_eq!(
        schema,
        json!({ "type": "object", "properties": {}, "additionalProperties": false })
    );
}

#[test]
fn optional_arguments_may_go_undescribed_and_any_json_is_an_empty_schema() {
    assert_eq!(
        Store.input_schema(),
        json!({
            "type": "object",
            "properties": {
                "key": { "type": "string", "description": "Where to store it" },
                "value": {},
                "note": { "type": ["string", "null"] }
            },
            "required": ["key"],
            "additionalProperties": false
        })
    );
}

#[test]
fn the_state_stays_out_of_the_schema() {
    let tool = CountWords::new(Arc::new(vec!["the".to_owned()]));
    assert_eq!(
        tool.input_schema(),
        json!({
            "type": "object",
            "properties": {
                "text": { "type": "string", "description": "The text to count words in" }
            },
            "required": ["text"],
            "additionalProperties": false
        })
    );
}

#[test]
fn raw_identifiers_and_continued_descriptions() {
    let (name, _, schema) = spec(&Lookup);
    assert_eq!(name, "lookup");
    assert_eq!(
        schema,
        json!({
            "type": "object",
            "properties": {
                "type": { "type": "string", "description": "The kind of word" },
                "word": { "type": "string", "description": "The word, in lower case" }
            },
            "required": ["type", "word"],
            "additionalProperties": false
        })
    );
}

#[test]
fn every_schema_is_accepted_by_a_tool_set() {
    let tools: Vec<Arc<dyn Tool>> = vec![
        Arc::new(GetWeather),
        Arc::new(Forecast),
        Arc::new(Numbers),
        Arc::new(Collections),
        Arc::new(Ship),
        Arc::new(SumTree),
        Arc::new(Now),
        Arc::new(Store),
        Arc::new(CountWords::new(Arc::new(Vec::new()))),
        Arc::new(Lookup),
    ];
    let set = ToolSet::new(tools).unwrap();
    assert_eq!(set.len(), 10);
    for spec in set.specs().iter() {
        // Nothing that only describes the generated struct reaches the model.
        assert!(spec.input_schema.get("$schema").is_none(), "{}", spec.name);
        assert!(spec.input_schema.get("title").is_none(), "{}", spec.name);
    }
}
