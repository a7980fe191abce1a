//! The demo policy: a deterministic, rule-based fake model for offline examples.

use std::collections::HashSet;

use agent_core::{
    ContentBlock, Message, ModelResponse, ReasoningContent, ReasoningText, Role, StopReason,
    TokenUsage, ToolSpec, ToolUse,
};
use serde_json::{Map, Value};

use super::family::{self, Model};
use super::reply::Reply;
use super::request::{ConverseRequest, message_text, tool_specs};

/// How deep the demo follows nested schemas (and `$ref`s) before giving up on a field.
const MAX_SCHEMA_DEPTH: usize = 12;

/// How much of one tool result the summary quotes.
const MAX_QUOTED_CHARS: usize = 400;

pub(super) fn reply(request: &ConverseRequest) -> Reply {
    // The demo plays the model the request names, keeping its replies valid for that model's
    // family: no text beside tool calls where the family takes them alone (Llama, Mistral),
    // tool-call ids of the family's shape (Mistral: 9 alphanumerics), no reasoning blocks
    // unless Claude thinking is on.
    let model = family::resolve(&request.model_id).model;
    let model = model.as_ref();
    let tool_use_alone = model.is_some_and(|model| model.tool_turns_alone().1);
    let messages: &[Value] = request
        .body
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let tools = tool_specs(&request.body);
    let turn_start = question_index(messages);
    let question = turn_start
        .and_then(|index| messages.get(index))
        .map(message_text)
        .unwrap_or_default();
    let turn = turn_start.map_or(messages, |index| &messages[index..]);
    let last = messages.last();
    let last_results = last.map(tool_results).unwrap_or_default();
    // The step-limit prompt comes with the last results: answer with what was gathered.
    let asked_to_finish = !last_results.is_empty()
        && last.is_some_and(|message| !message_text(message).trim().is_empty());
    let called = called_tools(turn);
    // A follow-up such as "What about tomorrow?" names no place: the demo remembers the one the
    // conversation was about, as a model with the history would.
    let earlier_place = match capitalised_phrase(&question) {
        Some(_) => None,
        None => messages[..turn_start.unwrap_or(0)]
            .iter()
            .rev()
            .filter(|message| message.get("role").and_then(Value::as_str) == Some("user"))
            .find_map(|message| capitalised_phrase(&message_text(message))),
    };
    let forced = forced_tool(&request.body, &tools);
    let next_tool = matching_tools(&tools, &question)
        .into_iter()
        .find(|tool| !called.contains(tool.name.as_str()));

    let (content, stop_reason) = match next_tool {
        Some(tool) if !asked_to_finish => {
            // One call per place the question names, all in this one reply: the agent runs them
            // concurrently. Each matching tool gets its own step.
            let places = capitalised_phrases(&question);
            let per_place = places.len() > 1 && has_place_field(&tool.input_schema);
            let inputs: Vec<Value> = if per_place {
                places
                    .iter()
                    .map(|place| {
                        input_for_place(&tool.input_schema, &question, Some(place.clone()))
                    })
                    .collect()
            } else {
                let place = capitalised_phrase(&question).or_else(|| earlier_place.clone());
                vec![input_for_place(&tool.input_schema, &question, place)]
            };
            let ids = fresh_tool_use_ids(messages, inputs.len(), model);
            let remembered = earlier_place
                .as_ref()
                .filter(|_| has_place_field(&tool.input_schema))
                .map(|place| format!(" Earlier in our conversation they asked about {place}."))
                .unwrap_or_default();
            let mut content = vec![ContentBlock::Text(format!(
                "<thinking>The user asks \"{}\".{remembered} The {} tool can help, so I will call it{}.</thinking>",
                one_line(&question),
                tool.name,
                if inputs.len() > 1 {
                    format!(" for each of {}", places.join(", "))
                } else {
                    String::new()
                }
            ))];
            if tool_use_alone {
                content.clear();
            }
            content.extend(ids.into_iter().zip(inputs).map(|(id, input)| {
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: id,
                    name: tool.name.clone(),
                    input,
                })
            }));
            (content, StopReason::ToolUse)
        }
        _ if forced.is_some() => {
            // A forced tool choice (a typed answer's final tool): answer through it, with an
            // input made from its schema and what the conversation said.
            let place = capitalised_phrase(&question).or_else(|| earlier_place.clone());
            let schema = forced.map_or(&Value::Null, |tool| &tool.input_schema);
            let mut input = input_for_place(schema, &question, place);
            if !last_results.is_empty()
                && let Some(object) = input.as_object_mut()
            {
                // Free-text fields carry the gathered results rather than the question.
                let gathered = summary(turn);
                for value in object.values_mut() {
                    if value.as_str() == Some(one_line(&question).as_str()) {
                        *value = Value::String(gathered.clone());
                    }
                }
            }
            let ids = fresh_tool_use_ids(messages, 1, model);
            let content = ids
                .into_iter()
                .zip(forced)
                .map(|(id, tool)| {
                    ContentBlock::ToolUse(ToolUse {
                        tool_use_id: id,
                        name: tool.name.clone(),
                        input: input.clone(),
                    })
                })
                .collect();
            (content, StopReason::ToolUse)
        }
        _ if !last_results.is_empty() => {
            (vec![ContentBlock::Text(summary(turn))], StopReason::EndTurn)
        }
        _ => {
            let answer = if question.trim().is_empty() {
                "You asked nothing I could read.".to_owned()
            } else {
                format!("You asked: {}", one_line(&question))
            };
            (vec![ContentBlock::Text(answer)], StopReason::EndTurn)
        }
    };

    let mut content = content;
    if thinking_enabled(&request.body, model) {
        // A thinking model reasons first, in a reasoningContent block: the stand-in's rule
        // check asks for one at the start of a tool turn when thinking is enabled.
        let reasoning = match content.first() {
            Some(ContentBlock::Text(text)) if text.starts_with("<thinking>") => {
                let text = text
                    .trim_start_matches("<thinking>")
                    .trim_end_matches("</thinking>")
                    .to_owned();
                content.remove(0);
                text
            }
            _ => format!(
                "The user asks \"{}\". I can answer from what I have.",
                one_line(&question)
            ),
        };
        content.insert(
            0,
            ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(ReasoningText {
                text: reasoning,
                signature: Some(DEMO_SIGNATURE.to_owned()),
            })),
        );
    }
    let message = Message {
        role: Role::Assistant,
        content,
    };
    let usage = estimate_usage(&request.body, &message);
    Reply::Respond(ModelResponse::new(message, stop_reason).with_usage(usage))
}

/// The tool a forced `toolChoice` names: `tool{name}`, or for `any` the one whose name says
/// it gives an answer (else the last).
fn forced_tool<'a>(body: &Value, tools: &'a [ToolSpec]) -> Option<&'a ToolSpec> {
    let choice = body.pointer("/toolConfig/toolChoice")?;
    if let Some(name) = choice.pointer("/tool/name").and_then(Value::as_str) {
        return tools.iter().find(|tool| tool.name == name);
    }
    choice.get("any")?;
    tools
        .iter()
        .find(|tool| tool.name.contains("answer"))
        .or_else(|| tools.last())
}

/// The signature the demo gives its reasoning (base64, as real signatures are).
const DEMO_SIGNATURE: &str = "ZGVtby1zaWduYXR1cmU=";

/// Whether the request enables Claude's extended thinking
/// (`additionalModelRequestFields.thinking` of type `enabled` or `adaptive`), for a Claude model
/// or one the stand-in does not know.
fn thinking_enabled(body: &Value, model: Option<&Model>) -> bool {
    model.is_none_or(|model| model.family.is_claude())
        && matches!(
            body.pointer("/additionalModelRequestFields/thinking/type")
                .and_then(Value::as_str),
            Some("enabled" | "adaptive")
        )
}

/// Where the current turn starts: the most recent user message with text that is not the
/// step-limit prompt sent alongside tool results.
fn question_index(messages: &[Value]) -> Option<usize> {
    messages
        .iter()
        .rposition(|message| {
            message.get("role").and_then(Value::as_str) == Some("user")
                && !message_text(message).trim().is_empty()
                && tool_results(message).is_empty()
        })
        .or_else(|| {
            messages.iter().rposition(|message| {
                message.get("role").and_then(Value::as_str) == Some("user")
                    && !message_text(message).trim().is_empty()
            })
        })
}

/// The names of the tools already called in this turn.
fn called_tools(turn: &[Value]) -> HashSet<&str> {
    turn.iter()
        .filter(|message| message.get("role").and_then(Value::as_str) == Some("assistant"))
        .filter_map(|message| message.get("content").and_then(Value::as_array))
        .flatten()
        .filter_map(|block| block.get("toolUse"))
        .filter_map(|tool_use| tool_use.get("name").and_then(Value::as_str))
        .collect()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct WireResult<'a> {
    tool_use_id: &'a str,
    content: &'a [Value],
    failed: bool,
}

fn tool_results(message: &Value) -> Vec<WireResult<'_>> {
    if message.get("role").and_then(Value::as_str) != Some("user") {
        return Vec::new();
    }
    message
        .get("content")
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|block| block.get("toolResult"))
                .map(|result| WireResult {
                    tool_use_id: result
                        .get("toolUseId")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                    content: result
                        .get("content")
                        .and_then(Value::as_array)
                        .map_or(&[], Vec::as_slice),
                    failed: result.get("status").and_then(Value::as_str) == Some("error"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Summarises every tool result of the turn, naming the tool of each.
fn summary(turn: &[Value]) -> String {
    let mut names: Vec<(&str, &str)> = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    for message in turn {
        if let Some(blocks) = message.get("content").and_then(Value::as_array) {
            names.extend(
                blocks
                    .iter()
                    .filter_map(|block| block.get("toolUse"))
                    .map(|tool_use| {
                        (
                            tool_use
                                .get("toolUseId")
                                .and_then(Value::as_str)
                                .unwrap_or(""),
                            tool_use
                                .get("name")
                                .and_then(Value::as_str)
                                .unwrap_or("the tool"),
                        )
                    }),
            );
        }
        for result in tool_results(message) {
            let name = names
                .iter()
                .find(|(id, _)| *id == result.tool_use_id)
                .map_or("the tool", |(_, name)| name);
            let content = quote(result.content);
            parts.push(if result.failed {
                format!("{name} failed: {content}")
            } else {
                format!("{name}: {content}")
            });
        }
    }
    format!("Based on {}.", parts.join("; "))
}

/// The value with every object's keys in order: clients send JSON objects in any order (the
/// AWS SDK's documents are hash maps), and the demo's answers should not change with it.
pub(super) fn sorted_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

fn quote(content: &[Value]) -> String {
    let text = content
        .iter()
        // Notes folded into a result for a model that takes nothing beside results (the turn's
        // time line) are not the tool's output.
        .filter(|item| {
            item.get("text")
                .and_then(Value::as_str)
                .is_none_or(|text| !super::request::is_agent_note(text))
        })
        .map(|item| {
            if let Some(text) = item.get("text").and_then(Value::as_str) {
                text.to_owned()
            } else if let Some(json) = item.get("json") {
                sorted_keys(json).to_string()
            } else {
                item.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let text = one_line(&text);
    if text.is_empty() {
        return "(no content)".to_owned();
    }
    if text.chars().count() > MAX_QUOTED_CHARS {
        let cut: String = text.chars().take(MAX_QUOTED_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// `count` `toolUse` ids not yet used in the conversation, numbered after the toolUse blocks
/// already in it: `tooluse_N`, or for Mistral AI models, which take only 9 characters of
/// `[a-zA-Z0-9]` (https://github.com/vercel/ai/issues/11802), `toolNNNNN`.
pub(super) fn fresh_tool_use_ids(
    messages: &[Value],
    count: usize,
    model: Option<&Model>,
) -> Vec<String> {
    let nine = model.is_some_and(Model::nine_character_tool_ids);
    let used: HashSet<&str> = messages
        .iter()
        .filter_map(|message| message.get("content").and_then(Value::as_array))
        .flatten()
        .filter_map(|block| block.get("toolUse"))
        .filter_map(|tool_use| tool_use.get("toolUseId").and_then(Value::as_str))
        .collect();
    let mut next = used.len() + 1;
    let mut ids = Vec::with_capacity(count);
    while ids.len() < count {
        let id = if nine {
            format!("tool{:05}", next % 100_000)
        } else {
            format!("tooluse_{next}")
        };
        if !used.contains(id.as_str()) {
            ids.push(id);
        }
        next += 1;
    }
    ids
}

const STOP_WORDS: [&str; 40] = [
    "the", "and", "for", "what", "whats", "how", "is", "are", "was", "were", "can", "could", "you",
    "your", "please", "tell", "give", "show", "with", "from", "this", "that", "about", "into",
    "will", "would", "should", "does", "did", "have", "has", "its", "it's", "me", "there", "them",
    "then", "than", "which", "who",
];

fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            // Split camelCase: a capital after a lowercase letter starts a new word.
            if c.is_uppercase() && previous_lower && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = c.is_lowercase();
            current.extend(c.to_lowercase());
        } else {
            previous_lower = false;
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn normalise(word: &str) -> &str {
    if word.len() > 3 {
        word.strip_suffix('s').unwrap_or(word)
    } else {
        word
    }
}

fn keywords(text: &str) -> HashSet<String> {
    words(text)
        .into_iter()
        .filter(|word| word.len() >= 3 && !STOP_WORDS.contains(&word.as_str()))
        .map(|word| normalise(&word).to_owned())
        .collect()
}

/// The tools whose name or description shares words with the question, best first; when none
/// does, the first tool.
fn matching_tools<'a>(tools: &'a [ToolSpec], question: &str) -> Vec<&'a ToolSpec> {
    let asked = keywords(question);
    let mut scored: Vec<(&ToolSpec, usize)> = tools
        .iter()
        .map(|tool| {
            let name_words = keywords(&tool.name);
            let description_words = keywords(&tool.description);
            let score = asked
                .iter()
                .map(|word| {
                    3 * usize::from(name_words.contains(word))
                        + usize::from(description_words.contains(word))
                })
                .sum::<usize>();
            (tool, score)
        })
        .filter(|(_, score)| *score > 0)
        .collect();
    scored.sort_by_key(|(_, score)| std::cmp::Reverse(*score));
    if scored.is_empty() {
        return tools.first().into_iter().collect();
    }
    scored.into_iter().map(|(tool, _)| tool).collect()
}

/// The best matching tool, if any.
#[cfg(test)]
fn best_tool<'a>(tools: &'a [ToolSpec], question: &str) -> Option<&'a ToolSpec> {
    matching_tools(tools, question).into_iter().next()
}

const QUESTION_WORDS: [&str; 28] = [
    "What", "What's", "Whats", "How", "When", "Where", "Who", "Why", "Which", "Is", "Are", "Can",
    "Could", "Please", "Tell", "Give", "Show", "Find", "Get", "The", "A", "An", "I", "Do", "Does",
    "Will", "Would", "Hello",
];

/// The runs of capitalised words in the question, such as `Seattle` or `New York`: those that do
/// not open a sentence, without repeats, else the first one that does (question words such as
/// "What" or "Please" left out).
fn capitalised_phrases(question: &str) -> Vec<String> {
    // (words, whether the phrase opens a sentence)
    let mut phrases: Vec<(Vec<&str>, bool)> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut current_opens = false;
    let mut sentence_start = true;
    for raw in question.split_whitespace() {
        let word = raw.trim_matches(|c: char| !c.is_alphanumeric());
        let word = word
            .strip_suffix("'s")
            .or_else(|| word.strip_suffix("\u{2019}s"))
            .unwrap_or(word);
        let capitalised = word.chars().next().is_some_and(char::is_uppercase);
        let skip =
            word.is_empty() || (sentence_start && QUESTION_WORDS.contains(&word)) || word == "I";
        if capitalised && !skip {
            if current.is_empty() {
                current_opens = sentence_start;
            }
            current.push(word);
        } else if !current.is_empty() {
            phrases.push((std::mem::take(&mut current), current_opens));
        }
        // A word ending a sentence, or a separator, ends the phrase as well.
        if raw.ends_with(['.', '!', '?', ',', ';', ':']) {
            if !current.is_empty() {
                phrases.push((std::mem::take(&mut current), current_opens));
            }
            sentence_start = raw.ends_with(['.', '!', '?']);
        } else {
            sentence_start = false;
        }
    }
    if !current.is_empty() {
        phrases.push((current, current_opens));
    }
    let inside: Vec<String> = phrases
        .iter()
        .filter(|(_, opens)| !opens)
        .map(|(words, _)| words.join(" "))
        .fold(Vec::new(), |mut unique, phrase| {
            if !unique.contains(&phrase) {
                unique.push(phrase);
            }
            unique
        });
    if inside.is_empty() {
        phrases
            .first()
            .map(|(words, _)| vec![words.join(" ")])
            .unwrap_or_default()
    } else {
        inside
    }
}

/// The first of [`capitalised_phrases`].
fn capitalised_phrase(question: &str) -> Option<String> {
    capitalised_phrases(question).into_iter().next()
}

const PLACE_WORDS: [&str; 14] = [
    "location",
    "city",
    "place",
    "town",
    "country",
    "region",
    "destination",
    "origin",
    "address",
    "where",
    "area",
    "state",
    "airport",
    "station",
];

fn is_place_field(name: &str) -> bool {
    let name = name.to_lowercase();
    PLACE_WORDS.iter().any(|word| name.contains(word))
}

/// Whether the schema has a top-level string field named like a place.
fn has_place_field(schema: &Value) -> bool {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|properties| properties.keys().any(|name| is_place_field(name)))
}

/// An input for a tool whose place-like fields name `place`.
fn input_for_place(schema: &Value, question: &str, place: Option<String>) -> Value {
    let filler = Filler {
        root: schema,
        question: one_line(question),
        place,
    };
    match filler.value(schema, "", 0) {
        Value::Object(map) => Value::Object(map),
        _ => Value::Object(Map::new()),
    }
}

struct Filler<'a> {
    root: &'a Value,
    question: String,
    place: Option<String>,
}

impl Filler<'_> {
    fn resolve<'s>(&'s self, schema: &'s Value, depth: usize) -> Option<&'s Value> {
        let mut schema = schema;
        for _ in depth..MAX_SCHEMA_DEPTH {
            match schema.get("$ref").and_then(Value::as_str) {
                Some(reference) => {
                    let pointer = reference.strip_prefix('#')?;
                    schema = if pointer.is_empty() {
                        self.root
                    } else {
                        self.root.pointer(pointer)?
                    };
                }
                None => return Some(schema),
            }
        }
        None
    }

    fn value(&self, schema: &Value, field: &str, depth: usize) -> Value {
        if depth >= MAX_SCHEMA_DEPTH {
            return Value::Null;
        }
        let Some(schema) = self.resolve(schema, depth) else {
            return Value::Null;
        };
        if let Some(constant) = schema.get("const") {
            return constant.clone();
        }
        if let Some(first) = schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|values| values.first())
        {
            return first.clone();
        }
        if let Some(default) = schema.get("default") {
            return default.clone();
        }
        for combinator in ["anyOf", "oneOf", "allOf"] {
            if let Some(option) =
                schema
                    .get(combinator)
                    .and_then(Value::as_array)
                    .and_then(|options| {
                        options.iter().find(|option| {
                            option.get("type").and_then(Value::as_str) != Some("null")
                        })
                    })
            {
                return self.value(option, field, depth + 1);
            }
        }
        match schema_type(schema).as_deref() {
            Some("object") => self.object(schema, depth),
            Some("string") => self.string(field),
            Some("integer") => integer(schema),
            Some("number") => number(schema),
            Some("boolean") => Value::Bool(true),
            Some("array") => self.array(schema, field, depth),
            Some("null") => Value::Null,
            _ if schema.get("properties").is_some() => self.object(schema, depth),
            _ => self.string(field),
        }
    }

    fn object(&self, schema: &Value, depth: usize) -> Value {
        let required: HashSet<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut map = Map::new();
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                let fill = required.contains(name.as_str())
                    || (self.place.is_some() && is_place_field(name) && self.is_string(property));
                if fill {
                    map.insert(name.clone(), self.value(property, name, depth + 1));
                }
            }
        }
        Value::Object(map)
    }

    fn is_string(&self, schema: &Value) -> bool {
        self.resolve(schema, 0)
            .and_then(schema_type)
            .is_some_and(|kind| kind == "string")
    }

    fn string(&self, field: &str) -> Value {
        let text = match &self.place {
            Some(place) if is_place_field(field) => place.clone(),
            _ if self.question.is_empty() => "demo".to_owned(),
            _ => self.question.clone(),
        };
        Value::String(text)
    }

    fn array(&self, schema: &Value, field: &str, depth: usize) -> Value {
        let min_items = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
        let items = schema.get("items").unwrap_or(&Value::Null);
        Value::Array(
            (0..min_items.min(8))
                .map(|_| self.value(items, field, depth + 1))
                .collect(),
        )
    }
}

/// The schema's type; for a list of types the first that is not `null`.
fn schema_type(schema: &Value) -> Option<String> {
    match schema.get("type")? {
        Value::String(kind) => Some(kind.clone()),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .map(str::to_owned),
        _ => None,
    }
}

fn integer(schema: &Value) -> Value {
    let minimum = schema
        .get("minimum")
        .and_then(Value::as_f64)
        .map(f64::ceil)
        .or_else(|| {
            schema
                .get("exclusiveMinimum")
                .and_then(Value::as_f64)
                .map(|m| m.floor() + 1.0)
        });
    let mut value = minimum.unwrap_or(1.0);
    if let Some(maximum) = schema.get("maximum").and_then(Value::as_f64)
        && value > maximum
    {
        value = maximum.floor();
    }
    // The bounds came from the schema as JSON numbers; out-of-range values saturate.
    Value::from(value as i64)
}

fn number(schema: &Value) -> Value {
    let mut value = schema.get("minimum").and_then(Value::as_f64).unwrap_or(1.0);
    if let Some(maximum) = schema.get("maximum").and_then(Value::as_f64)
        && value > maximum
    {
        value = maximum;
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        Value::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Value::from(1), Value::Number)
    }
}

/// A rough token count: a token per four bytes of JSON, as a stand-in for a tokenizer.
fn estimate_usage(body: &Value, message: &Message) -> TokenUsage {
    let input_tokens = (body.to_string().len() as u64 / 4).max(1);
    let output_tokens = serde_json::to_string(message)
        .map(|json| json.len() as u64 / 4)
        .unwrap_or(1)
        .max(1);
    TokenUsage::new(input_tokens, output_tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_places_but_not_question_words() {
        assert_eq!(
            capitalised_phrase("What's the weather in Seattle?").as_deref(),
            Some("Seattle")
        );
        assert_eq!(
            capitalised_phrase("Is it raining in New York today?").as_deref(),
            Some("New York")
        );
        assert_eq!(
            capitalised_phrase("Weather in Paris or London?").as_deref(),
            Some("Paris")
        );
        assert_eq!(
            capitalised_phrase("Seattle weather, please").as_deref(),
            Some("Seattle")
        );
        assert_eq!(capitalised_phrase("what time is it"), None);
    }

    #[test]
    fn fills_required_fields_from_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "units": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 3},
                "detailed": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "at": {"$ref": "#/$defs/Point"},
                "note": {"type": "string"},
                "city": {"type": ["string", "null"]}
            },
            "required": ["location", "units", "days", "detailed", "tags", "at"],
            "$defs": {"Point": {
                "type": "object",
                "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                "required": ["lat"]
            }}
        });
        let input = input_for_place(
            &schema,
            "Weather in Seattle for the week?",
            Some("Seattle".to_owned()),
        );
        assert_eq!(
            input,
            json!({
                "location": "Seattle",
                "units": "celsius",
                "days": 3,
                "detailed": true,
                "tags": [],
                "at": {"lat": 1},
                "city": "Seattle"
            })
        );
    }

    #[test]
    fn picks_the_tool_matching_the_question() {
        let tools = vec![
            ToolSpec {
                name: "get_time".into(),
                description: "Current time in a timezone".into(),
                input_schema: json!({"type": "object"}),
            },
            ToolSpec {
                name: "get_weather".into(),
                description: "Weather forecast for a city".into(),
                input_schema: json!({"type": "object"}),
            },
        ];
        let best = best_tool(&tools, "What's the weather like in Seattle?").unwrap();
        assert_eq!(best.name, "get_weather");
        let fallback = best_tool(&tools, "Hello there").unwrap();
        assert_eq!(fallback.name, "get_time");
    }

    #[test]
    fn a_follow_up_without_a_place_uses_the_place_of_an_earlier_turn() {
        let body = json!({
            "messages": [
                {"role": "user", "content": [{"text": "What's the weather in Seattle?"}]},
                {"role": "assistant", "content": [{"text": "Sunny in Seattle."}]},
                {"role": "user", "content": [{"text": "What about tomorrow?"}]}
            ],
            "toolConfig": {"tools": [{"toolSpec": {
                "name": "get_weather",
                "description": "Get the weather for a location",
                "inputSchema": {"json": {"type": "object",
                    "properties": {"location": {"type": "string"}}, "required": ["location"]}}
            }}]}
        });
        let request = ConverseRequest {
            index: 0,
            model_id: "m".into(),
            body,
            streamed: false,
            region: None,
        };
        let Reply::Respond(response) = reply(&request) else {
            panic!("the demo answers");
        };
        let call = response.message.tool_uses().next().unwrap().clone();
        assert_eq!(call.input, json!({"location": "Seattle"}));
        assert!(
            response
                .message
                .text()
                .contains("Earlier in our conversation they asked about Seattle")
        );
    }

    #[test]
    fn fresh_ids_skip_those_in_use() {
        let messages = vec![json!({"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "tooluse_2", "name": "x", "input": {}}}
        ]})];
        assert_eq!(
            fresh_tool_use_ids(&messages, 2, None),
            vec!["tooluse_3".to_owned(), "tooluse_4".to_owned()]
        );
        let mistral = family::resolve("mistral.mistral-large-2407-v1:0").model;
        assert_eq!(
            fresh_tool_use_ids(&messages, 2, mistral.as_ref()),
            vec!["tool00002".to_owned(), "tool00003".to_owned()]
        );
    }
}
