//! From what AWS answered to what to do about it: the fixes `doctor` prints.

use minimalagent::bedrock::ModelInfo;
use minimalagent::bedrock::default_model_id;

/// `text` cut to `limit` characters, with `…` where it was cut.
pub(super) fn clip(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(limit).collect();
    cut.push('…');
    cut
}

/// An SDK error's text without the debug dump `DisplayErrorContext` appends (`… (Dispatch
/// Failure(DispatchFailure { … }))`), cut to `limit` characters.
pub(super) fn sdk_text(text: &str, limit: usize) -> String {
    let mut end = text.len();
    let mut from = 0;
    while let Some(found) = text[from..].find(" (") {
        let at = from + found;
        let rest = &text[at + 2..];
        let name: String = rest
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        if name.starts_with(|c: char| c.is_ascii_uppercase()) && rest[name.len()..].starts_with('(')
        {
            end = at;
            break;
        }
        from = at + 2;
    }
    clip(&text[..end], limit)
}

/// The AWS error codes that mean the credentials themselves were refused.
pub(super) const CREDENTIAL_CODES: [&str; 6] = [
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "ExpiredToken",
    "IncompleteSignatureException",
    "MissingAuthenticationTokenException",
];

/// What to do when the credentials were refused.
pub(super) fn refused_credentials(code: &str) -> String {
    format!(
        "the AWS credentials were refused ({code}): sign in again (`aws sso login`, or a fresh \
         session token), or check AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )
}

/// What to do when no credentials were found.
pub(super) const NO_CREDENTIALS: &str = "no AWS credentials were found: set AWS_PROFILE (and run \
     `aws sso login` for an SSO profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
     run where an instance or task role is attached";

/// Whether a message says that no credentials could be loaded (the SDK's words when it has
/// none to sign with).
pub(super) fn says_no_credentials(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("credential")
        && (lower.contains("no credentials")
            || lower.contains("could not load")
            || lower.contains("failed to load")
            || lower.contains("not loaded")
            || lower.contains("provider")
            || lower.contains("resolve"))
}

/// An IAM refusal: the action it names and the resource, from AWS's words "User: arn:… is
/// not authorized to perform: ACTION on resource: RESOURCE because …".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IamDenial {
    /// The action (`bedrock:InvokeModel`).
    pub(super) action: String,
    /// The resource, when named.
    pub(super) resource: Option<String>,
    /// Whether an explicit deny (a service control policy, a permissions boundary, a deny
    /// statement) refused it, which no grant lifts.
    pub(super) explicit_deny: bool,
}

/// The action and resource an `AccessDeniedException` names, if it names one.
pub(super) fn iam_denial(message: &str) -> Option<IamDenial> {
    let word_after = |marker: &str| {
        let start = message.find(marker)? + marker.len();
        message[start..]
            .split_whitespace()
            .next()
            .map(|word| word.trim_end_matches([',', '.', ';']).to_owned())
            .filter(|word| !word.is_empty())
    };
    let action = word_after("to perform: ")?;
    if !action.contains(':') {
        return None;
    }
    Some(IamDenial {
        action,
        resource: word_after("on resource: "),
        explicit_deny: message.contains("explicit deny"),
    })
}

/// What to do about an IAM refusal of `denial`, or of `action` when AWS named none.
pub(super) fn grant(denial: Option<&IamDenial>, action: &str, resource: &str) -> String {
    match denial {
        Some(denial) if denial.explicit_deny => format!(
            "an explicit deny refuses {} on {} (a deny statement, a permissions boundary or a \
             service control policy): ask your administrator to lift it",
            denial.action,
            denial.resource.as_deref().unwrap_or(resource)
        ),
        Some(denial) => format!(
            "grant {} on {} to these credentials (an IAM policy statement allowing that action \
             on that resource)",
            denial.action,
            denial.resource.as_deref().unwrap_or(resource)
        ),
        None => format!(
            "these credentials may not call it: grant {action} on {resource} to them (an IAM \
             policy statement allowing that action on that resource)"
        ),
    }
}

/// The cross-Region profile prefix the library uses in `region` (`us`, `eu`, `apac`), if it
/// has a default model there.
pub(super) fn region_geography(region: &str) -> Option<&'static str> {
    default_model_id(region).and_then(|id| id.split('.').next())
}

/// What to do when Bedrock answers "The provided model identifier is invalid." for `model_id`
/// called from `region`.
pub(super) fn invalid_identifier(model_id: &str, region: &str) -> String {
    let info = ModelInfo::resolve(model_id);
    let default = default_model_id(region).map_or_else(
        || {
            format!(
                "the library has no default model in {region} (Amazon Nova Pro has no profile \
                 there)"
            )
        },
        |id| format!("the library's default here is `{id}`"),
    );
    let here = region_geography(region);
    match (info.geography.as_deref(), info.base_id.as_deref(), here) {
        (Some(geography), Some(base), Some(here)) if geography != here => format!(
            "the `{geography}.` inference profile does not serve Region {region}: use \
             `{here}.{base}` (this Region's profile of the same model) or unset the model id \
             ({default}; `aws bedrock list-inference-profiles --region {region}` lists the \
             profiles)"
        ),
        (Some(geography), _, _) => format!(
            "the `{geography}.` inference profile does not serve Region {region}: use a profile \
             of this Region's geography or call from a Region it serves ({default}; `aws \
             bedrock list-inference-profiles --region {region}` lists the profiles)"
        ),
        _ => format!(
            "check the model id: Bedrock in {region} knows no model `{model_id}` ({default}; \
             `aws bedrock list-foundation-models --region {region}` and `aws bedrock \
             list-inference-profiles --region {region}` list the ids)"
        ),
    }
}

/// What to do when a model is called on demand but is served only through an inference
/// profile ("…with on-demand throughput isn't supported").
pub(super) fn needs_profile(model_id: &str, region: &str) -> String {
    let info = ModelInfo::resolve(model_id);
    match (region_geography(region), info.base_id.as_deref()) {
        (Some(here), Some(base)) if info.geography.is_none() => format!(
            "this model is served through inference profiles only: use `{here}.{base}` \
             (`aws bedrock list-inference-profiles --region {region}` lists them)"
        ),
        _ => format!(
            "this model is served through inference profiles only: use a profile id \
             (`aws bedrock list-inference-profiles --region {region}` lists them)"
        ),
    }
}

/// The Bedrock console's model-access page for a Region.
pub(super) fn model_access_page(region: &str) -> String {
    format!("https://console.aws.amazon.com/bedrock/home?region={region}#/modelaccess")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_iam_refusal_names_its_action_and_resource() {
        let denial = iam_denial(
            "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: \
             bedrock:InvokeModel on resource: \
             arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-pro-v1:0 because no \
             identity-based policy allows the bedrock:InvokeModel action",
        )
        .unwrap();
        assert_eq!(denial.action, "bedrock:InvokeModel");
        assert_eq!(
            denial.resource.as_deref(),
            Some("arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-pro-v1:0")
        );
        assert!(!denial.explicit_deny);
        let fix = grant(Some(&denial), "x", "y");
        assert!(
            fix.starts_with("grant bedrock:InvokeModel on arn:aws:bedrock:"),
            "{fix}"
        );

        let denied = iam_denial(
            "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: \
             dynamodb:PutItem on resource: arn:aws:dynamodb:eu-west-1:1:table/t with an \
             explicit deny in a service control policy",
        )
        .unwrap();
        assert_eq!(denied.action, "dynamodb:PutItem");
        assert!(denied.explicit_deny);
        assert!(grant(Some(&denied), "x", "y").contains("administrator"));

        assert_eq!(
            iam_denial("You don't have access to the model with the specified model ID."),
            None
        );
    }

    #[test]
    fn an_invalid_identifier_suggests_the_regions_own_profile() {
        let fix = invalid_identifier("eu.amazon.nova-pro-v1:0", "us-west-2");
        assert!(fix.contains("`us.amazon.nova-pro-v1:0`"), "{fix}");
        assert!(fix.contains("the `eu.` inference profile"), "{fix}");
        let fix = invalid_identifier("us.anthropic.claude-sonnet-4-20250514-v1:0", "eu-west-1");
        assert!(
            fix.contains("`eu.anthropic.claude-sonnet-4-20250514-v1:0`"),
            "{fix}"
        );
        let fix = invalid_identifier("us.amazon.nova-pro-v1:0", "eu-west-2");
        assert!(fix.contains("no default model in eu-west-2"), "{fix}");
        let fix = invalid_identifier("amazon.nova-prp-v1:0", "us-east-1");
        assert!(fix.contains("check the model id"), "{fix}");
        assert!(
            needs_profile("anthropic.claude-3-5-sonnet-20241022-v2:0", "us-east-1")
                .contains("`us.anthropic.claude-3-5-sonnet-20241022-v2:0`")
        );
    }

    #[test]
    fn the_sdks_debug_dump_is_left_out() {
        assert_eq!(
            sdk_text(
                "dispatch failure: io error: tcp connect error: Connection refused (os error \
                 111) (DispatchFailure(DispatchFailure { source: ConnectorError { .. } }))",
                300
            ),
            "dispatch failure: io error: tcp connect error: Connection refused (os error 111)"
        );
        assert_eq!(sdk_text("plain", 3), "pla…");
    }

    #[test]
    fn missing_credentials_are_told_apart() {
        assert!(says_no_credentials(
            "dispatch failure: other: no credentials provider was configured"
        ));
        assert!(says_no_credentials(
            "failed to construct request: an identity resolver failed to resolve credentials"
        ));
        assert!(!says_no_credentials(
            "The provided model identifier is invalid."
        ));
    }
}
