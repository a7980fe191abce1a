//! Mapping Bedrock's errors onto [`ModelErrorKind`]s, keeping AWS's own message.

use agent_core::{ModelError, ModelErrorKind};
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;

/// A service error Bedrock can answer with: its metadata and, for the modelled ones, its kind.
pub(crate) trait BedrockServiceError: ProvideErrorMetadata + std::error::Error {
    /// The kind of a modelled error; `None` for one the SDK does not model.
    fn modelled_kind(&self) -> Option<ModelErrorKind>;
}

impl BedrockServiceError for ConverseError {
    fn modelled_kind(&self) -> Option<ModelErrorKind> {
        Some(match self {
            ConverseError::ThrottlingException(_) => ModelErrorKind::Throttled,
            ConverseError::ValidationException(_) => ModelErrorKind::Validation,
            ConverseError::AccessDeniedException(_) => ModelErrorKind::AccessDenied,
            ConverseError::ModelNotReadyException(_) => ModelErrorKind::ModelNotReady,
            ConverseError::ResourceNotFoundException(_) => ModelErrorKind::ModelNotFound,
            ConverseError::ServiceUnavailableException(_)
            | ConverseError::InternalServerException(_) => ModelErrorKind::ServiceUnavailable,
            ConverseError::ModelTimeoutException(_) => ModelErrorKind::Timeout,
            _ => return None,
        })
    }
}

impl BedrockServiceError for ConverseStreamError {
    fn modelled_kind(&self) -> Option<ModelErrorKind> {
        Some(match self {
            ConverseStreamError::ThrottlingException(_) => ModelErrorKind::Throttled,
            ConverseStreamError::ValidationException(_) => ModelErrorKind::Validation,
            ConverseStreamError::AccessDeniedException(_) => ModelErrorKind::AccessDenied,
            ConverseStreamError::ModelNotReadyException(_) => ModelErrorKind::ModelNotReady,
            ConverseStreamError::ResourceNotFoundException(_) => ModelErrorKind::ModelNotFound,
            ConverseStreamError::ServiceUnavailableException(_)
            | ConverseStreamError::InternalServerException(_) => ModelErrorKind::ServiceUnavailable,
            ConverseStreamError::ModelTimeoutException(_) => ModelErrorKind::Timeout,
            ConverseStreamError::ModelStreamErrorException(_) => ModelErrorKind::StreamInterrupted,
            _ => return None,
        })
    }
}

impl BedrockServiceError for ConverseStreamOutputError {
    fn modelled_kind(&self) -> Option<ModelErrorKind> {
        // Errors that arrive as events in the middle of a reply: the reply is cut off.
        Some(match self {
            ConverseStreamOutputError::ThrottlingException(_) => ModelErrorKind::Throttled,
            ConverseStreamOutputError::ServiceUnavailableException(_) => {
                ModelErrorKind::ServiceUnavailable
            }
            ConverseStreamOutputError::ModelStreamErrorException(_)
            | ConverseStreamOutputError::InternalServerException(_) => {
                ModelErrorKind::StreamInterrupted
            }
            ConverseStreamOutputError::ValidationException(_) => ModelErrorKind::Validation,
            _ => return None,
        })
    }
}

/// The HTTP status of a raw response, when it has one.
pub(crate) trait RawStatus {
    /// The status code.
    fn status_code(&self) -> Option<u16>;
}

impl RawStatus for aws_sdk_bedrockruntime::config::http::HttpResponse {
    fn status_code(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
}

impl RawStatus for aws_smithy_types::event_stream::RawMessage {
    fn status_code(&self) -> Option<u16> {
        None
    }
}

/// The kind and message of an SDK error, for the request (`Converse`, opening
/// `ConverseStream`) or for an event of an open stream (`mid_stream`).
pub(crate) fn model_error<E, R>(error: SdkError<E, R>, mid_stream: bool) -> ModelError
where
    E: BedrockServiceError + Send + Sync + 'static,
    R: RawStatus + std::fmt::Debug + Send + Sync + 'static,
{
    let (kind, message) = match &error {
        SdkError::ServiceError(context) => {
            let service_error = context.err();
            let message = service_error
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| DisplayErrorContext(service_error).to_string());
            let kind = service_error
                .modelled_kind()
                .or_else(|| code_kind(service_error.code()))
                // No error type the SDK knows (a body that is not Bedrock's JSON, a proxy's
                // page): the HTTP status is all there is to go on.
                .or_else(|| context.raw().status_code().map(status_kind))
                .unwrap_or(ModelErrorKind::Other);
            (refine(kind, &message), message)
        }
        SdkError::TimeoutError(_) => (
            ModelErrorKind::Timeout,
            "the Bedrock call timed out (operation or attempt timeout)".to_owned(),
        ),
        SdkError::DispatchFailure(failure) => {
            let kind = if failure.is_timeout() {
                ModelErrorKind::Timeout
            } else if mid_stream {
                ModelErrorKind::StreamInterrupted
            } else {
                ModelErrorKind::Network
            };
            (kind, DisplayErrorContext(&error).to_string())
        }
        // A response that could not be read: mid-stream, that is a connection cut or a broken
        // frame, and the reply is incomplete.
        SdkError::ResponseError(_) if mid_stream => (
            ModelErrorKind::StreamInterrupted,
            DisplayErrorContext(&error).to_string(),
        ),
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

/// The kind of an error the SDK does not model, by its AWS code.
fn code_kind(code: Option<&str>) -> Option<ModelErrorKind> {
    Some(match code? {
        "ServiceQuotaExceededException" | "TooManyRequestsException" => ModelErrorKind::Throttled,
        "UnrecognizedClientException" | "ExpiredTokenException" => ModelErrorKind::AccessDenied,
        _ => return None,
    })
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

/// Bedrock says a request is too long with a `ValidationException`; its message tells.
fn refine(kind: ModelErrorKind, message: &str) -> ModelErrorKind {
    let lower = message.to_ascii_lowercase();
    let too_long = [
        "too long",
        "too many tokens",
        "context window",
        "context length",
        "maximum context",
        "exceeds the maximum",
        "input length",
    ]
    .iter()
    .any(|phrase| lower.contains(phrase));
    if kind == ModelErrorKind::Validation && too_long {
        ModelErrorKind::ContextWindowExceeded
    } else {
        kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_long_inputs_are_told_apart_from_other_validation_errors() {
        for message in [
            "Input is too long for requested model.",
            "The model returned the following errors: prompt is too long: 210000 tokens > 200000 maximum",
            "Too many tokens in the request",
        ] {
            assert_eq!(
                refine(ModelErrorKind::Validation, message),
                ModelErrorKind::ContextWindowExceeded,
                "{message}"
            );
        }
        assert_eq!(
            refine(ModelErrorKind::Validation, "Malformed input request"),
            ModelErrorKind::Validation
        );
        assert_eq!(
            refine(ModelErrorKind::Throttled, "too long"),
            ModelErrorKind::Throttled
        );
    }
}
