//! `converse-standin`: serves the demo model of [`agent_testkit::ConverseStandIn`] on
//! `127.0.0.1`, for running examples and agents offline, over both Converse and
//! ConverseStream.
//!
//! ```text
//! converse-standin [--port N] [--latency-ms N] [--event-delay-ms N]
//! ```
//!
//! The first line printed is the endpoint URL, the second the `export` line that points the AWS
//! SDK at it. Each request is then logged to stderr. Runs until interrupted (Ctrl-C).

use std::process::ExitCode;
use std::time::Duration;

use agent_testkit::{ConverseStandIn, Policy};

const USAGE: &str = "\
usage: converse-standin [--port N] [--latency-ms N] [--event-delay-ms N]

Serves an offline stand-in for the Amazon Bedrock Converse and ConverseStream APIs on
127.0.0.1, answering with a rule-based demo model. Point the AWS SDK at it with the printed
export line; any credentials do (for example AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
AWS_REGION=us-west-2).

  --port N            port to listen on (default 0: any free port)
  --latency-ms N      delay every answer by N milliseconds (default 0)
  --event-delay-ms N  pause N milliseconds between streamed events (default 0)
  -h, --help          show this help";

struct Options {
    port: u16,
    latency: Duration,
    event_delay: Duration,
}

fn millis(flag: &str, text: &str) -> Result<Duration, String> {
    text.parse()
        .map(Duration::from_millis)
        .map_err(|_| format!("{flag}: `{text}` is not a number of milliseconds"))
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        port: 0,
        latency: Duration::ZERO,
        event_delay: Duration::ZERO,
    };
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--port" => {
                let text = value("--port")?;
                options.port = text
                    .parse()
                    .map_err(|_| format!("--port: `{text}` is not a port number"))?;
            }
            "--latency-ms" => options.latency = millis("--latency-ms", &value("--latency-ms")?)?,
            "--event-delay-ms" => {
                options.event_delay = millis("--event-delay-ms", &value("--event-delay-ms")?)?;
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Some(options))
}

#[allow(clippy::print_stdout)]
#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("converse-standin: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let standin = match ConverseStandIn::start_on_port(options.port, Policy::demo()).await {
        Ok(standin) => standin,
        Err(error) => {
            eprintln!("converse-standin: {error}");
            return ExitCode::FAILURE;
        }
    };
    standin.set_latency(options.latency);
    standin.set_stream_event_delay(options.event_delay);
    let url = standin.endpoint_url();
    println!("{url}");
    println!("export AWS_ENDPOINT_URL_BEDROCK_RUNTIME={url}");
    eprintln!(
        "Converse stand-in (demo model, Converse and ConverseStream) listening on {url}; any \
         AWS credentials are accepted. Press Ctrl-C to stop."
    );

    let mut logged = 0;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            result = &mut interrupted => {
                if let Err(error) = result {
                    eprintln!("converse-standin: cannot wait for Ctrl-C: {error}");
                }
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                let requests = standin.requests();
                for request in requests.iter().skip(logged) {
                    let outcome = match (&request.error_type, &request.violation) {
                        (_, Some(violation)) => format!("ValidationException: {violation}"),
                        (Some(error_type), None) => error_type.clone(),
                        (None, None) => "ok".to_owned(),
                    };
                    let messages = request
                        .body
                        .get("messages")
                        .and_then(serde_json::Value::as_array)
                        .map_or(0, Vec::len);
                    let operation = if request.streamed { "ConverseStream" } else { "Converse" };
                    eprintln!(
                        "#{} {operation} model={} messages={} tools={} -> {} {}",
                        request.index + 1,
                        request.model_id,
                        messages,
                        request.tool_specs().len(),
                        request.status,
                        outcome
                    );
                }
                logged = requests.len();
            }
        }
    }
    eprintln!("converse-standin: stopping");
    standin.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn parses_flags_in_both_spellings() {
        let options = parse(&[
            "--port",
            "8080",
            "--latency-ms=250",
            "--event-delay-ms",
            "40",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(options.port, 8080);
        assert_eq!(options.latency, Duration::from_millis(250));
        assert_eq!(options.event_delay, Duration::from_millis(40));
        assert!(parse(&["--event-delay-ms", "soon"]).is_err());
        assert!(parse(&["--help"]).unwrap().is_none());
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }
}
