//! Mapping Bedrock's errors onto [`ModelErrorKind`]s, keeping AWS's own message.

use agent_core::{ModelError, ModelErrorKind};
use aws_sdk_bedrockruntime::config::http::HttpResponse;
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseError;

pub(crate) fn model_error(error: SdkError<ConverseError, HttpResponse>) -> ModelError {
    let (kind, message) = match &error {
        SdkError::ServiceError(context) => {
            let service_error = context.err();
            let message = service_error
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| DisplayErrorContext(service_error).to_string());
            let kind = match service_error_kind(service_error) {
                // No error type the SDK knows (a body that is not Bedrock's JSON, a proxy's
                // page): the HTTP status is all there is to go on.
                ModelErrorKind::Other if service_error.code().is_none() => {
                    status_kind(context.raw().status().as_u16())
                }
                kind => kind,
            };
            (kind, message)
        }
        SdkError::TimeoutError(_) => (
            ModelErrorKind::Timeout,
            "the Bedrock call timed out (operation or attempt timeout)".to_owned(),
        ),
        SdkError::DispatchFailure(failure) => {
            let kind = if failure.is_timeout() {
                ModelErrorKind::Timeout
            } else {
                ModelErrorKind::Network
            };
            (kind, DisplayErrorContext(&error).to_string())
        }
        SdkError::ResponseError(_) => (
            ModelErrorKind::InvalidResponse,
            DisplayErrorContext(&error).to_string(),
        ),
        SdkError::ConstructionFailure(_) => (
            ModelErrorKind::Validation,
            DisplayErrorContext(&error).to_string(),
        ),
        _ => (
            ModelErrorKind::Other,
            DisplayErrorContext(&error).to_string(),
        ),
    };
    ModelError::new(kind, message).with_source(error)
}

fn status_kind(status: u16) -> ModelErrorKind {
    match status {
        // A success the SDK could not read.
        200..=299 => ModelErrorKind::InvalidResponse,
        429 => ModelErrorKind::Throttled,
        408 | 504 => ModelErrorKind::Timeout,
        500..=599 => ModelErrorKind::ServiceUnavailable,
        _ => ModelErrorKind::Other,
    }
}

fn service_error_kind(error: &ConverseError) -> ModelErrorKind {
    match error {
        ConverseError::ThrottlingException(_) => ModelErrorKind::Throttled,
        ConverseError::ValidationException(_) => ModelErrorKind::Validation,
        ConverseError::AccessDeniedException(_) => ModelErrorKind::AccessDenied,
        ConverseError::ModelNotReadyException(_) => ModelErrorKind::ModelNotReady,
        ConverseError::ResourceNotFoundException(_) => ModelErrorKind::ModelNotFound,
        ConverseError::ServiceUnavailableException(_)
        | ConverseError::InternalServerException(_) => ModelErrorKind::ServiceUnavailable,
        ConverseError::ModelTimeoutException(_) => ModelErrorKind::Timeout,
        // Errors the SDK version does not model yet are classified by their AWS code.
        other => match other.code() {
            Some("ServiceQuotaExceededException" | "TooManyRequestsException") => {
                ModelErrorKind::Throttled
            }
            Some("UnrecognizedClientException" | "ExpiredTokenException") => {
                ModelErrorKind::AccessDenied
            }
            _ => ModelErrorKind::Other,
        },
    }
}
