//! Turning AWS SDK errors into [`SessionError`]s.

use std::error::Error as StdError;

use agent_session::{SessionError, SessionErrorKind};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Error codes DynamoDB uses when it sheds load; the SDK retries them, and we report what is
/// left as [`SessionErrorKind::Throttled`].
const THROTTLING_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "TransactionInProgressException",
];

/// Error codes that mean the caller's credentials or permissions are wrong.
const ACCESS_CODES: &[&str] = &[
    "AccessDeniedException",
    "UnrecognizedClientException",
    "MissingAuthenticationTokenException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "IncompleteSignatureException",
];

/// Whether `code` is one of DynamoDB's throttling error codes.
pub(crate) fn is_throttling_code(code: &str) -> bool {
    THROTTLING_CODES.contains(&code)
}

fn kind_of_code(code: &str) -> SessionErrorKind {
    if is_throttling_code(code) {
        SessionErrorKind::Throttled
    } else if ACCESS_CODES.contains(&code) || code == "ResourceNotFoundException" {
        SessionErrorKind::Misconfigured
    } else if code == "ValidationException" {
        SessionErrorKind::InvalidInput
    } else {
        SessionErrorKind::Unavailable
    }
}

fn message(kind: SessionErrorKind, operation: &str, table: &str, detail: &str) -> String {
    match kind {
        SessionErrorKind::Throttled => {
            format!("DynamoDB {operation} on table `{table}` was throttled after retries: {detail}")
        }
        SessionErrorKind::Misconfigured => format!(
            "DynamoDB {operation} on table `{table}` failed (check the table, region, credentials \
             and IAM permissions): {detail}"
        ),
        _ => format!("DynamoDB {operation} on table `{table}` failed: {detail}"),
    }
}

/// Maps an SDK error of operation `operation` on table `table` to a [`SessionError`].
pub(crate) fn sdk_error<E>(
    operation: &str,
    table: &str,
    error: SdkError<E, HttpResponse>,
) -> SessionError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let detail = DisplayErrorContext(&error).to_string();
    let kind = match &error {
        SdkError::ServiceError(service) => kind_of_code(service.err().code().unwrap_or_default()),
        SdkError::ConstructionFailure(_) => SessionErrorKind::Misconfigured,
        _ => SessionErrorKind::Unavailable,
    };
    SessionError::new(kind, message(kind, operation, table, &detail)).with_source(error)
}

/// Whether a write that failed with `error` may have been applied all the same: its request
/// may have reached DynamoDB and the answer was lost (a timeout, a dropped connection, an
/// unreadable response, a server error).
pub(crate) fn may_have_applied<E>(error: &SdkError<E, HttpResponse>) -> bool {
    match error {
        SdkError::ConstructionFailure(_) => false,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => service.raw().status().as_u16() >= 500,
        _ => true,
    }
}

/// [`sdk_error`] for a write: marked [`SessionError::maybe_applied`] when the outcome is
/// unknown.
pub(crate) fn write_error<E>(
    operation: &str,
    table: &str,
    error: SdkError<E, HttpResponse>,
) -> SessionError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let unknown = may_have_applied(&error);
    let error = sdk_error(operation, table, error);
    if unknown {
        error.with_maybe_applied()
    } else {
        error
    }
}

/// Maps a modeled service error (already taken out of its `SdkError`).
pub(crate) fn service_error<E>(operation: &str, table: &str, error: E) -> SessionError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let kind = kind_of_code(error.code().unwrap_or_default());
    let detail = DisplayErrorContext(&error).to_string();
    SessionError::new(kind, message(kind, operation, table, &detail)).with_source(error)
}

/// A [`SessionErrorKind::CorruptedData`] error naming the item.
pub(crate) fn corrupted(
    pk: &str,
    sk: impl std::fmt::Display,
    what: impl std::fmt::Display,
) -> SessionError {
    SessionError::new(
        SessionErrorKind::CorruptedData,
        format!("item pk=`{pk}` sk={sk}: {what}"),
    )
}

/// A [`SessionErrorKind::InvalidInput`] error.
pub(crate) fn invalid(message: impl Into<String>) -> SessionError {
    SessionError::new(SessionErrorKind::InvalidInput, message)
}

/// An error of `kind`.
pub(crate) fn error(kind: SessionErrorKind, message: impl Into<String>) -> SessionError {
    SessionError::new(kind, message)
}
