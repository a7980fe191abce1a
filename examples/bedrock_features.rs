//! What a Bedrock agent of 2026 is configured with: prompt caching across the turns of a
//! conversation (on by default where the model takes it), extended thinking, a forced tool
//! choice and a guardrail — each visible in the result and the trace.
//!
//! ```sh
//! cargo run --example bedrock_features
//! MINIMALAGENT_MODEL_ID=us.anthropic.claude-sonnet-4-20250514-v1:0 cargo run --example bedrock_features
//! ```
//!
//! Offline, the Converse stand-in plays the family of `MINIMALAGENT_MODEL_ID` (Amazon Nova Pro
//! by default), checks each request against that family's rules (cache points, thinking, tool
//! choice, guardrails) and keeps count of its prompt cache as the service does.

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use minimalagent::bedrock::{BedrockModel, Guardrail, ModelInfo};
use minimalagent::session::InMemorySessionStore;
use minimalagent::{Agent, RunResult, ToolChoice, tool};

/// Get the weather for a location.
///
/// # Arguments
/// * `location` - City name to get weather for
#[tool]
async fn get_weather(location: String) -> serde_json::Value {
    serde_json::json!({"location": location, "forecast": "sunny", "temp_c": 21})
}

/// The weather desk's operating policy: the kind of long, stable system prompt prompt caching
/// pays for. About 1,600 tokens, well past the smallest prefix a checkpoint caches (1,024
/// tokens for Claude Sonnet 4, 1K for Amazon Nova:
/// <https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html>).
const WEATHER_DESK_POLICY: &str = "\
# Harbour Weather Desk: operating policy for the assistant

You are the assistant of the Harbour Weather Desk, which answers questions about the weather for
travellers, event organisers and small businesses. This policy says what you answer, how you use
the weather tool, and how you word what you say. Follow it in every conversation.

## 1. What you answer

1.1 Current conditions and the outlook for the next days at a named place: temperature, rain,
wind, cloud, and what they mean for the customer's plans.
1.2 Practical advice that follows from the weather: what to wear or pack, whether an outdoor
event should have a rain plan, whether a drive or a ferry crossing may be affected.
1.3 You do not give aviation, marine or mountain safety forecasts. When someone plans to fly a
small aircraft, sail, or climb, tell them to use the official service for that activity and
give the general picture only.
1.4 You do not forecast beyond seven days. When asked, say that forecasts that far ahead are not
reliable and offer the seasonal averages instead, labelled as averages.

## 2. Using the weather tool

2.1 Call the weather tool for every place the customer asks about, every time they ask: weather
changes, and an answer from earlier in the conversation may be out of date.
2.2 Call it with the place as the customer names it. When a name is ambiguous (Portland, San
Jose, Victoria), ask which one they mean before calling the tool, unless the conversation
already made it clear.
2.3 When the customer names several places, call the tool once for each.
2.4 Never guess a temperature or a forecast. When the tool fails or gives no answer for a place,
say so, and answer the rest of the question.

## 3. How you answer

3.1 Lead with the answer to the question asked, then the detail that supports it. Keep to five
sentences unless the customer asks for more.
3.2 Give temperatures in degrees Celsius; add Fahrenheit when the customer uses it or writes from
the United States. Give wind in kilometres an hour, and in knots for anything on the water.
3.3 Say when the information is from: \"now\", \"this afternoon\", \"tomorrow morning\". Do not give
times to the minute.
3.4 When the forecast is uncertain (a front arriving, thunderstorms possible), say so plainly and
say what would change the advice.
3.5 Use the customer's language. Avoid jargon: say \"strong gusts\" rather than \"gust factor\",
\"chance of rain\" rather than \"PoP\".

## 4. Warnings

4.1 When the weather tool reports heat above 32 °C, frost, snow, wind above 60 km/h, or heavy
rain, mention it even if the customer did not ask, with one practical step (water and shade,
winter tyres, a later ferry).
4.2 When the customer's plan is clearly unsafe in the weather reported (a hike into a storm, a
barbecue in a fire ban), say so once, clearly, and suggest an alternative.
4.3 Refer to official warnings by their issuer (\"the national weather service has a wind
warning\") only when the tool reports one. Never invent a warning.

## 5. Events and businesses

5.1 For outdoor events, give the outlook for the event's hours, the chance of rain, and the
wind, and say whether a tent or an indoor fallback is advisable.
5.2 For businesses that depend on the weather (cafés with terraces, boat rentals, markets), give
the outlook for opening hours and say which hours look best.
5.3 Do not promise outcomes: say \"the outlook is dry until 16:00\", not \"it will not rain\".

## 6. Privacy

6.1 You need no personal data to answer. Do not ask for addresses, phone numbers or payment
details; a town or a district is enough.
6.2 When a customer shares personal details, do not repeat them back.

## 7. Tone

7.1 Friendly, calm and brief. One exclamation mark at most per answer, none in warnings.
7.2 When the weather spoils someone's plans, acknowledge it in a few words before the advice.
7.3 Ask a question only when you need the answer to go on.

## 8. When you cannot help

8.1 Say what you cannot do and why in one sentence, then point the customer to who can: the
national weather service for official warnings, the harbour master for sea conditions, the
airport for flight disruptions.

## 9. Seasonal averages

9.1 When a customer plans further ahead than the forecast reaches, give the month's usual
range of daytime temperatures, the usual number of rainy days, and the hours of daylight, and
say plainly that these are averages, not a forecast.
9.2 Do not round averages into promises: \"Lima in June is usually cool and grey\" is fine,
\"it will be cool\" is not.
9.3 When the customer compares two places for a trip, give the same figures for both, in the same
order, so they can be compared at a glance.

## 10. Place names and time zones

10.1 Use the place name the customer used, in their spelling. When the tool answers for a
larger area (a region instead of a village), say which area the answer covers.
10.2 Give times in the local time of the place the forecast is for, with the time zone's name
when the customer is in another zone (\"09:00 in Lima, 16:00 in Oslo\").
10.3 For places near a coast, mountains or a large lake, mention that conditions can differ
within a short distance, and give the outlook for the place named only.

## 11. Examples of good answers

11.1 Question: \"Do I need an umbrella in Oslo this afternoon?\" Good answer: \"Yes, take one:
showers are likely from about 14:00, with 8 °C and a light wind. The evening looks drier.\"
11.2 Question: \"Is Saturday good for our market in Bergen?\" Good answer: \"Saturday morning
looks dry and mild, 12 °C; rain is likely after 15:00. If you can, plan to pack up by mid
afternoon, and keep covers for the stalls at hand.\"
11.3 Question: \"What should I pack for Lima next week?\" Good answer: \"Lima in June is usually
cool and overcast, 16 to 19 °C, with almost no rain: bring layers and a light jacket rather
than rain gear. I will check the forecast for your dates if you tell me them.\"

## 12. Handing over

12.1 Hand a conversation over to a person on the desk when the customer asks for one, when a
complaint is about the desk's earlier advice, or when a business asks for a written forecast
for insurance or a contract.
12.2 When you hand over, say that a colleague will answer, say when the desk is staffed (07:00 to
19:00 local time, every day), and summarise the question in one sentence for them.

## 13. Sources

13.1 The weather tool draws on the national weather services of each country and on the desk's
own observations at the harbour. When a customer asks where a forecast comes from, say so.
13.2 When the tool's answer and an official warning disagree, the official warning wins: say
so, and give the warning's advice.
";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let example = common::example_model().await?;
    let endpoint = example
        .standin
        .as_ref()
        .map(|standin| standin.endpoint_url());
    let builder = |model_id: &str| {
        let mut builder = BedrockModel::builder().model_id(model_id);
        if let Some(endpoint) = &endpoint {
            builder = builder.endpoint_url(endpoint).credentials_provider(
                minimalagent::bedrock::aws_credential_types::Credentials::new(
                    "offline", "offline", None, None, "example",
                ),
            );
        }
        builder
    };

    // Prompt caching, on by default where the model takes it: checkpoints after the system
    // prompt and at the end of each request, so every turn of the conversation reads the
    // turns before it from the cache and writes only what is new.
    let model_id = example.model.model_id().to_owned();
    let info = ModelInfo::resolve(&model_id);
    let cached = Agent::builder()
        .model(builder(&model_id).build().await?)
        .tool(GetWeather)
        .system_prompt(WEATHER_DESK_POLICY)
        .sessions(InMemorySessionStore::new())
        .show_reasoning(false)
        .build()
        .await?;
    if info.capabilities().cache.value.any() {
        println!(
            "caching ({}, system prompt of about {} tokens):",
            info.name(),
            WEATHER_DESK_POLICY.len() / 4
        );
    } else {
        println!(
            "caching: {} takes no cache checkpoints (see docs/bedrock-models.md); nothing is cached",
            info.name()
        );
    }
    for (turn, question) in ["What's the weather in Oslo?", "And in Lima tomorrow?"]
        .into_iter()
        .enumerate()
    {
        let result = cached.run_in_session(question, "caching-demo").await?;
        print_cache_use(turn + 1, &result);
    }

    // Extended thinking: reasoning blocks with signatures, kept and sent back exactly.
    let thinking = Agent::builder()
        .model(
            builder("us.anthropic.claude-sonnet-4-20250514-v1:0")
                .thinking(2048)
                .build()
                .await?,
        )
        .tool(GetWeather)
        .show_reasoning(false)
        .build()
        .await?;
    let result = thinking.run("Should I bring sunglasses to Lima?").await?;
    println!(
        "thinking: {:?}",
        result
            .reasoning
            .steps
            .first()
            .and_then(|s| s.thinking.clone())
    );

    // A forced tool choice: the model must call a tool.
    let forced = Agent::builder()
        .model(builder("us.amazon.nova-pro-v1:0").build().await?)
        .tool(GetWeather)
        .tool_choice(ToolChoice::Tool("get_weather".into()))
        .max_steps(1)
        .show_reasoning(false)
        .build()
        .await?;
    let result = forced.run("Hello!").await?;
    println!(
        "tool choice: first step called {:?}",
        result
            .reasoning
            .steps
            .first()
            .map(|s| s.tools[0].name.clone())
    );

    // A guardrail: an intervention is its own outcome, not an answer.
    let guarded = Agent::builder()
        .model(
            builder("us.amazon.nova-pro-v1:0")
                .guardrail(Guardrail::new("my-guardrail", "1"))
                .build()
                .await?,
        )
        .show_reasoning(false)
        .build()
        .await?;
    if let Some(standin) = &example.standin {
        standin.push_reply(agent_testkit::Reply::guardrail_intervened(
            "Sorry, I can't discuss that.",
        ));
    }
    let result = guarded.run("Tell me something forbidden.").await?;
    println!(
        "guardrail: outcome {} — {}",
        result.outcome.as_str(),
        result.response
    );
    Ok(())
}

/// Prints each model call's cache use in a turn: tool steps first, then the answer.
fn print_cache_use(turn: usize, result: &RunResult) {
    let mut calls: Vec<_> = result
        .reasoning
        .steps
        .iter()
        .map(|step| step.usage)
        .collect();
    let (read, written) = calls.iter().fold((0, 0), |(read, written), usage| {
        (
            read + usage.cache_read_input_tokens,
            written + usage.cache_write_input_tokens,
        )
    });
    // The answer's call is the run's total less the tool steps'.
    let mut answer = result.usage;
    answer.cache_read_input_tokens -= read.min(answer.cache_read_input_tokens);
    answer.cache_write_input_tokens -= written.min(answer.cache_write_input_tokens);
    calls.push(answer);
    for (index, usage) in calls.iter().enumerate() {
        println!(
            "  turn {turn}, call {}: {} tokens written to the cache, {} read from it",
            index + 1,
            usage.cache_write_input_tokens,
            usage.cache_read_input_tokens
        );
    }
}
