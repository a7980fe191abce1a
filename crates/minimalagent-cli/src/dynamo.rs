//! DynamoDB: checking the table before the store opens it, so that a wrong name, region,
//! endpoint or credentials is one line saying what to fix — and a read-only tool never
//! creates a table (the store creates missing tables for agents).

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::failure::Failure;
use crate::text::one_line;

/// Where a `dynamodb://` URL points.
struct Target {
    table: String,
    region: Option<String>,
    endpoint: Option<String>,
}

fn parse(url: &str) -> Result<Target, Failure> {
    let invalid =
        |reason: &str| Failure::usage(format!("invalid store URL `{}`: {reason}", one_line(url)));
    let parsed = url::Url::parse(url).map_err(|error| invalid(&error.to_string()))?;
    let table = parsed
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| invalid("dynamodb:// needs a table name (dynamodb://TABLE)"))?
        .to_owned();
    let mut target = Target {
        table,
        region: None,
        endpoint: None,
    };
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "region" => target.region = Some(value.into_owned()),
            "endpoint" => target.endpoint = Some(value.into_owned()),
            other => {
                return Err(invalid(&format!(
                    "unknown setting `{other}` (known: region, endpoint)"
                )));
            }
        }
    }
    Ok(target)
}

/// A DynamoDB client for a `dynamodb://` URL, and where it points.
pub(crate) struct Connection {
    /// The client, with the URL's region and endpoint over the AWS environment's.
    pub(crate) client: aws_sdk_dynamodb::Client,
    /// The table, as named in the URL.
    pub(crate) table: String,
    /// The Region in force.
    pub(crate) region: String,
    /// The endpoint, when one is set (the URL's, `AWS_ENDPOINT_URL_DYNAMODB` or
    /// `AWS_ENDPOINT_URL`), and which of them set it.
    pub(crate) endpoint: Option<(String, &'static str)>,
    /// What messages call the store: ``DynamoDB table `t` in us-west-2``.
    pub(crate) label: String,
}

/// A client for the table of a `dynamodb://` URL: the URL's region and endpoint over the
/// standard AWS environment and profile.
pub(crate) async fn connect(url: &str) -> Result<Connection, Failure> {
    let target = parse(url)?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &target.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let config = loader.load().await;
    let Some(region) = config.region().map(ToString::to_string) else {
        return Err(Failure::unusable(
            "no AWS region for the DynamoDB session table: pass --region, set AWS_REGION, or \
             set a region in your AWS profile (or pass --store sqlite://PATH)",
        ));
    };
    let mut builder = aws_sdk_dynamodb::config::Builder::from(&config);
    if let Some(endpoint) = &target.endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    let client = aws_sdk_dynamodb::Client::from_conf(builder.build());
    let table = one_line(&target.table);
    let from_env = |name: &'static str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
            .map(|value| (value, name))
    };
    let endpoint = target
        .endpoint
        .clone()
        .map(|endpoint| (endpoint, "the store URL"))
        .or_else(|| from_env("AWS_ENDPOINT_URL_DYNAMODB"))
        .or_else(|| from_env("AWS_ENDPOINT_URL"));
    let label = match &endpoint {
        Some((endpoint, _)) => format!("DynamoDB table `{table}` at {}", one_line(endpoint)),
        None => format!("DynamoDB table `{table}` in {region}"),
    };
    Ok(Connection {
        client,
        table: target.table,
        region,
        endpoint,
        label,
    })
}

/// Checks that the table of a `dynamodb://` URL exists and can be read with the AWS settings
/// in force (the URL's region and endpoint over the standard AWS environment and profile), and
/// returns the store's name for messages.
pub(crate) async fn check(url: &str) -> Result<String, Failure> {
    let Connection {
        client,
        table: table_name,
        region,
        endpoint,
        label,
    } = connect(url).await?;
    let endpoint = endpoint.map(|(endpoint, _)| endpoint);
    let table = one_line(&table_name);
    match client.describe_table().table_name(&table_name).send().await {
        Ok(_) => Ok(label),
        Err(SdkError::ServiceError(service)) => {
            let error = service.err();
            if error.is_resource_not_found_exception() {
                let place = match &endpoint {
                    Some(endpoint) => format!("at {}", one_line(endpoint)),
                    None => format!("in {region}"),
                };
                return Err(Failure::unusable(format!(
                    "table `{table}` does not exist {place}: create it \
                     (docs/cloudformation/session-table.yaml), pass --table/--region for \
                     another one, or pass --store sqlite://PATH"
                )));
            }
            let code = error.code().unwrap_or("unknown error");
            let detail = one_line(error.message().unwrap_or_default());
            let fix = match code {
                "AccessDeniedException" => {
                    "the credentials may not read the table: they need dynamodb:DescribeTable, \
                     GetItem and Query on it (docs/cli.md lists the actions)"
                }
                "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException"
                | "MissingAuthenticationTokenException"
                | "IncompleteSignatureException" => {
                    "the AWS credentials were refused: check AWS_PROFILE or \
                     AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or sign in again)"
                }
                _ => "check the table, the region and the credentials",
            };
            Err(Failure::unusable(format!(
                "{label}: {code}: {detail}: {fix}"
            )))
        }
        Err(error) => {
            let detail = DisplayErrorContext(&error).to_string();
            if detail.contains("credential") {
                Err(Failure::unusable(format!(
                    "no AWS credentials to read {label}: set AWS_PROFILE or \
                     AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or `aws sso login`), or pass \
                     --store sqlite://PATH"
                )))
            } else {
                let place = endpoint.as_deref().map_or_else(
                    || format!("DynamoDB in {region}"),
                    |endpoint| format!("DynamoDB at {}", one_line(endpoint)),
                );
                Err(Failure::failed(format!(
                    "cannot reach {place} ({}): check the network, --endpoint and --region",
                    one_line(&detail)
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_table_a_region_and_an_endpoint() {
        let target =
            parse("dynamodb://t1?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A8000").unwrap();
        assert_eq!(target.table, "t1");
        assert_eq!(target.region.as_deref(), Some("eu-west-1"));
        assert_eq!(target.endpoint.as_deref(), Some("http://127.0.0.1:8000"));
        assert!(parse("dynamodb://t1?colour=blue").is_err());
        assert!(parse("dynamodb://").is_err());
    }
}
