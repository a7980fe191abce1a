//! The DynamoDB session table's checks: it exists with the store's key schema and TTL, and the
//! credentials may write, read and delete in it (a probe item in a partition no session uses).

use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, KeyType, ScalarAttributeType, TableDescription, TableStatus, TimeToLiveStatus,
};

use super::fixes;
use super::report::{Area, Report};
use crate::dynamo::Connection;
use crate::text::one_line;

/// How long one DynamoDB call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the probe item lives if it could not be deleted (TTL removes it then).
const PROBE_TTL_SECONDS: i64 = 600;
/// The attribute DynamoDB's TTL must be enabled on.
const TTL_ATTRIBUTE: &str = "expiration_time";

/// The check names, as printed.
const TABLE: &str = "table";
const KEYS: &str = "key schema";
const TTL: &str = "TTL";
const PUT: &str = "PutItem";
const GET: &str = "GetItem";
const DELETE: &str = "DeleteItem";

/// A failed call, as printed.
struct Diagnosis {
    area: Area,
    why: String,
    fix: String,
}

/// Where the table is, for messages.
fn place(connection: &Connection) -> String {
    match &connection.endpoint {
        Some((endpoint, _)) => format!("DynamoDB at {}", one_line(endpoint)),
        None => format!("DynamoDB in {}", connection.region),
    }
}

/// A call of `action` that did not answer in time.
fn timed_out(action: &str, connection: &Connection) -> Diagnosis {
    Diagnosis {
        area: Area::StoreUnreachable,
        why: format!(
            "{action} did not answer within {} s",
            CALL_TIMEOUT.as_secs()
        ),
        fix: format!(
            "check the network, --endpoint and --region ({})",
            place(connection)
        ),
    }
}

/// The fix for a failed DynamoDB call of `action`.
fn diagnose<E, R>(error: SdkError<E, R>, action: &str, connection: &Connection) -> Diagnosis
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let table = one_line(&connection.table);
    if let SdkError::ServiceError(service) = &error {
        let service_error = service.err();
        let code = service_error.code().unwrap_or("unknown error").to_owned();
        let message = one_line(service_error.message().unwrap_or_default());
        let why = format!("{code}: {message}");
        let (area, fix) = if fixes::CREDENTIAL_CODES.contains(&code.as_str()) {
            (Area::StoreUnusable, fixes::refused_credentials(&code))
        } else {
            match code.as_str() {
                "AccessDeniedException" => (
                    Area::StoreUnusable,
                    fixes::grant(
                        fixes::iam_denial(&message).as_ref(),
                        action,
                        &format!("the table `{table}`"),
                    ),
                ),
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "LimitExceededException" => (
                    Area::StoreUnreachable,
                    "DynamoDB throttled the call: retry later, switch the table to on-demand \
                     capacity (PAY_PER_REQUEST) or raise its capacity or the account's quota"
                        .to_owned(),
                ),
                "ResourceNotFoundException" => (
                    Area::StoreUnusable,
                    format!(
                        "the table `{table}` is gone: {}",
                        create_table_fix(connection)
                    ),
                ),
                "ValidationException" => (
                    Area::StoreUnusable,
                    "the table refused an item of the session store's shape: check its key \
                     schema (docs/cloudformation/session-table.yaml)"
                        .to_owned(),
                ),
                _ => (
                    Area::StoreUnreachable,
                    "see AWS's message; retry, and check the table in the DynamoDB console"
                        .to_owned(),
                ),
            }
        };
        return Diagnosis { area, why, fix };
    }
    let detail = fixes::sdk_text(&one_line(&DisplayErrorContext(&error).to_string()), 300);
    if fixes::says_no_credentials(&detail) {
        return Diagnosis {
            area: Area::StoreUnusable,
            why: "the SDK found no AWS credentials to sign the request with".to_owned(),
            fix: fixes::NO_CREDENTIALS.to_owned(),
        };
    }
    Diagnosis {
        area: Area::StoreUnreachable,
        why: format!("cannot reach {}: {detail}", place(connection)),
        fix: "check the network, --endpoint and --region".to_owned(),
    }
}

/// How to create the table as the store needs it.
fn create_table_fix(connection: &Connection) -> String {
    format!(
        "create it with docs/cloudformation/session-table.yaml (TableName `{}`), let an agent \
         create it (use_session_memory(true) creates a missing table), or pass --table/--region \
         for another one",
        one_line(&connection.table)
    )
}

/// The DynamoDB checks, one line each.
pub(super) async fn check(connection: &Connection, report: &mut Report) {
    let table = one_line(&connection.table);
    let client = &connection.client;
    let described = tokio::time::timeout(
        CALL_TIMEOUT,
        client.describe_table().table_name(&connection.table).send(),
    )
    .await;
    let description = match described {
        Ok(Ok(output)) => output
            .table()
            .cloned()
            .unwrap_or_else(|| TableDescription::builder().build()),
        Ok(Err(SdkError::ServiceError(service)))
            if service.err().is_resource_not_found_exception() =>
        {
            let place = match &connection.endpoint {
                Some((endpoint, _)) => format!("at {}", one_line(endpoint)),
                None => format!("in {}", connection.region),
            };
            report.failed(
                Area::StoreUnusable,
                TABLE,
                &format!("DescribeTable: the table `{table}` does not exist {place}"),
                &create_table_fix(connection),
            );
            skip_rest(report, "there is no table", true);
            return;
        }
        Ok(Err(error)) => {
            let diagnosis = diagnose(error, "dynamodb:DescribeTable", connection);
            report.failed(diagnosis.area, TABLE, &diagnosis.why, &diagnosis.fix);
            skip_rest(report, "DescribeTable failed", true);
            return;
        }
        Err(_) => {
            let diagnosis = timed_out("DescribeTable", connection);
            report.failed(diagnosis.area, TABLE, &diagnosis.why, &diagnosis.fix);
            skip_rest(report, "DescribeTable failed", true);
            return;
        }
    };
    let status = description
        .table_status()
        .map_or("status unknown", |status| status.as_str());
    match description.table_status() {
        Some(TableStatus::Deleting | TableStatus::Archived | TableStatus::Archiving) => {
            report.failed(
                Area::StoreUnusable,
                TABLE,
                &format!("the table `{table}` is {status}"),
                &create_table_fix(connection),
            );
            skip_rest(report, "the table is going away", true);
            return;
        }
        _ => report.ok(
            TABLE,
            &format!("`{table}` exists ({status}; DescribeTable)"),
        ),
    }
    let keys_ok = check_key_schema(&description, connection, report);
    check_ttl(connection, report).await;
    if keys_ok {
        probe(connection, report).await;
    } else {
        skip_rest(
            report,
            "the key schema is not the session store's: a probe item would not fit",
            false,
        );
    }
}

/// Marks the checks after a failed one as skipped.
fn skip_rest(report: &mut Report, why: &str, with_schema: bool) {
    if with_schema {
        report.skipped(KEYS, why);
        report.skipped(TTL, why);
    }
    for name in [PUT, GET, DELETE] {
        report.skipped(name, why);
    }
}

/// `pk` (S, HASH) and `sk` (N, RANGE), and nothing else.
fn check_key_schema(
    description: &TableDescription,
    connection: &Connection,
    report: &mut Report,
) -> bool {
    let attribute_type = |name: &str| {
        description
            .attribute_definitions()
            .iter()
            .find(|definition| definition.attribute_name() == name)
            .map(|definition| definition.attribute_type().clone())
    };
    let key_type = |name: &str| {
        description
            .key_schema()
            .iter()
            .find(|key| key.attribute_name() == name)
            .map(|key| key.key_type().clone())
    };
    let ok = description.key_schema().len() == 2
        && key_type("pk") == Some(KeyType::Hash)
        && key_type("sk") == Some(KeyType::Range)
        && attribute_type("pk") == Some(ScalarAttributeType::S)
        && attribute_type("sk") == Some(ScalarAttributeType::N);
    let found: Vec<String> = description
        .key_schema()
        .iter()
        .map(|key| {
            let ty = attribute_type(key.attribute_name())
                .map_or_else(|| "?".to_owned(), |ty| ty.as_str().to_owned());
            format!(
                "{} ({ty}, {})",
                one_line(key.attribute_name()),
                key.key_type().as_str()
            )
        })
        .collect();
    let found = if found.is_empty() {
        "none".to_owned()
    } else {
        found.join(", ")
    };
    if ok {
        report.ok(KEYS, &found);
    } else {
        report.failed(
            Area::StoreUnusable,
            KEYS,
            &format!("{found}; the session store needs pk (S, HASH), sk (N, RANGE)"),
            &format!(
                "a table's key schema cannot be changed: create a table as \
                 docs/cloudformation/session-table.yaml does and pass its name (--table, or \
                 .session_table_name(..) for agents), instead of `{}`",
                one_line(&connection.table)
            ),
        );
    }
    ok
}

/// TTL enabled (or being enabled) on `expiration_time`.
async fn check_ttl(connection: &Connection, report: &mut Report) {
    let described = tokio::time::timeout(
        CALL_TIMEOUT,
        connection
            .client
            .describe_time_to_live()
            .table_name(&connection.table)
            .send(),
    )
    .await;
    let output = match described {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => {
            let diagnosis = diagnose(error, "dynamodb:DescribeTimeToLive", connection);
            report.failed(diagnosis.area, TTL, &diagnosis.why, &diagnosis.fix);
            return;
        }
        Err(_) => {
            let diagnosis = timed_out("DescribeTimeToLive", connection);
            report.failed(diagnosis.area, TTL, &diagnosis.why, &diagnosis.fix);
            return;
        }
    };
    let description = output.time_to_live_description();
    let status = description.and_then(|d| d.time_to_live_status());
    let attribute = description.and_then(|d| d.attribute_name());
    let status_name = status.map_or("DISABLED", |status| status.as_str());
    match (status, attribute) {
        (Some(TimeToLiveStatus::Enabled), Some(TTL_ATTRIBUTE)) => {
            report.ok(
                TTL,
                &format!("enabled on {TTL_ATTRIBUTE} (DescribeTimeToLive)"),
            );
        }
        (Some(TimeToLiveStatus::Enabling), Some(TTL_ATTRIBUTE)) => report.ok(
            TTL,
            &format!("being enabled on {TTL_ATTRIBUTE} (DescribeTimeToLive; takes up to an hour)"),
        ),
        _ => {
            let on = match attribute {
                Some(attribute) if attribute != TTL_ATTRIBUTE => {
                    format!(" on `{}`", one_line(attribute))
                }
                _ => String::new(),
            };
            report.failed(
                Area::StoreUnusable,
                TTL,
                &format!(
                    "{status_name}{on}: expired sessions are hidden from reads but DynamoDB \
                     never deletes them"
                ),
                &format!(
                    "aws dynamodb update-time-to-live --table-name {} --region {} \
                     --time-to-live-specification Enabled=true,AttributeName={TTL_ATTRIBUTE} \
                     (as docs/cloudformation/session-table.yaml sets it)",
                    one_line(&connection.table),
                    connection.region
                ),
            );
        }
    }
}

/// Writes a probe item where no session lives (a conditional put), reads it back (a consistent
/// get), and deletes it (a conditional delete). It carries `expiration_time`, so TTL removes it
/// if the delete fails.
async fn probe(connection: &Connection, report: &mut Report) {
    let client = &connection.client;
    let pk = format!("doctor#{}", uuid::Uuid::now_v7());
    let marker = "a probe item of `minimalagent doctor`, deleted at once (else TTL removes it)";
    let expires = jiff::Timestamp::now().as_second() + PROBE_TTL_SECONDS;
    let key_pk = AttributeValue::S(pk.clone());
    let key_sk = AttributeValue::N("0".to_owned());

    let put = tokio::time::timeout(
        CALL_TIMEOUT,
        client
            .put_item()
            .table_name(&connection.table)
            .item("pk", key_pk.clone())
            .item("sk", key_sk.clone())
            .item(TTL_ATTRIBUTE, AttributeValue::N(expires.to_string()))
            .item("doctor", AttributeValue::S(marker.to_owned()))
            .condition_expression("attribute_not_exists(pk)")
            .send(),
    )
    .await;
    match put {
        Ok(Ok(_)) => report.ok(
            PUT,
            &format!("wrote pk `{pk}`, sk 0 (conditional: attribute_not_exists)"),
        ),
        Ok(Err(error)) => {
            let diagnosis = diagnose(error, "dynamodb:PutItem", connection);
            report.failed(diagnosis.area, PUT, &diagnosis.why, &diagnosis.fix);
            report.skipped(GET, "nothing was written");
            report.skipped(DELETE, "nothing was written");
            return;
        }
        Err(_) => {
            let diagnosis = timed_out("PutItem", connection);
            report.failed(diagnosis.area, PUT, &diagnosis.why, &diagnosis.fix);
            report.skipped(GET, "the write did not answer");
            report.skipped(DELETE, "the write did not answer");
            return;
        }
    }

    let got = tokio::time::timeout(
        CALL_TIMEOUT,
        client
            .get_item()
            .table_name(&connection.table)
            .key("pk", key_pk.clone())
            .key("sk", key_sk.clone())
            .consistent_read(true)
            .send(),
    )
    .await;
    match got {
        Ok(Ok(output)) => {
            let read_back = output
                .item()
                .and_then(|item| item.get("doctor"))
                .and_then(|value| value.as_s().ok())
                .is_some_and(|text| text == marker);
            if read_back {
                report.ok(GET, "read the item back (consistent read)");
            } else {
                report.failed(
                    Area::StoreUnreachable,
                    GET,
                    "a consistent read did not return the item just written",
                    "DynamoDB (or the endpoint) does not keep what it acknowledged: check that \
                     --endpoint points at DynamoDB",
                );
            }
        }
        Ok(Err(error)) => {
            let diagnosis = diagnose(error, "dynamodb:GetItem", connection);
            report.failed(diagnosis.area, GET, &diagnosis.why, &diagnosis.fix);
        }
        Err(_) => {
            let diagnosis = timed_out("GetItem", connection);
            report.failed(diagnosis.area, GET, &diagnosis.why, &diagnosis.fix);
        }
    }

    let deleted = tokio::time::timeout(
        CALL_TIMEOUT,
        client
            .delete_item()
            .table_name(&connection.table)
            .key("pk", key_pk)
            .key("sk", key_sk)
            .condition_expression("attribute_exists(pk)")
            .send(),
    )
    .await;
    match deleted {
        Ok(Ok(_)) => report.ok(DELETE, "deleted it (conditional: attribute_exists)"),
        Ok(Err(error)) => {
            let mut diagnosis = diagnose(error, "dynamodb:DeleteItem", connection);
            diagnosis.fix.push_str(&format!(
                " (TTL removes the probe item `{pk}` within a day)"
            ));
            report.failed(diagnosis.area, DELETE, &diagnosis.why, &diagnosis.fix);
        }
        Err(_) => {
            let diagnosis = timed_out("DeleteItem", connection);
            report.failed(diagnosis.area, DELETE, &diagnosis.why, &diagnosis.fix);
        }
    }
}
