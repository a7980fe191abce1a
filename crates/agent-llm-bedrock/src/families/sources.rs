//! Where each rule of the capability table comes from: AWS's pages, and public reports that quote
//! what real Bedrock answered. Every cell of the table names one of these.
//!
//! A source may name several addresses, separated by ` ; `: the first is the strongest.

/// The Converse API's table of supported models and model features (system prompts, tool use,
/// streaming tool use, documents, vision, guardrails, S3 links).
pub(crate) const FEATURES: &str = "https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-supported-models-features.html";
/// The API reference of `ToolChoice`: `any` and `tool` only for Anthropic Claude 3+, Mistral
/// Large (`any`) and Amazon Nova.
pub(crate) const TOOL_CHOICE: &str = "https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolChoice.html ; https://docs.aws.amazon.com/nova/latest/userguide/tool-choice.html";
/// The prompt-caching page: the fields that take checkpoints per model (Claude: system,
/// messages, tools; Nova: system, messages), the minimum tokens per checkpoint, at most 4.
pub(crate) const CACHING: &str =
    "https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html";
/// Nova takes checkpoints in system and messages only: it rejects one in its tools
/// ("#/toolConfig/tools/N: extraneous key [cachePoint] is not permitted") and one in a message
/// of tool results ("extraneous key [cachePoint]" at `#/messages/N/content/M`); peers keep
/// checkpoints out of messages with tool blocks.
pub(crate) const NOVA_CACHE: &str = "https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html ; https://github.com/NousResearch/hermes-agent/issues/97281 ; https://github.com/danny-avila/LibreChat/issues/13838 ; https://github.com/aws-samples/bedrock-engineer/pull/71 ; https://github.com/earendil-works/pi/issues/2053 ; https://github.com/zeroclaw-labs/zeroclaw/issues/8720 ; https://github.com/langchain-ai/langchain-aws/blob/0434c7f94f6c27bfa275534f8ff1b0c3f1738144/libs/aws/langchain_aws/chat_models/bedrock_converse.py#L741-L834";
/// A checkpoint on a model without prompt caching is an AccessDeniedException: "You invoked
/// an unsupported model or your request did not allow prompt caching."
pub(crate) const NO_CACHING: &str = "https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html ; https://github.com/strands-agents/harness-sdk/pull/1807 ; https://github.com/pensarai/apex/pull/943";
/// Claude's extended thinking on Bedrock (`thinking: {type: enabled, budget_tokens}`).
pub(crate) const CLAUDE_THINKING: &str =
    "https://docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-extended-thinking.html";
/// Opus 4.7 and later take adaptive thinking only: "\"thinking.type.enabled\" is not supported
/// for this model. Use \"thinking.type.adaptive\" …"; and reject `temperature`.
pub(crate) const CLAUDE_ADAPTIVE_ONLY: &str = "https://docs.aws.amazon.com/bedrock/latest/userguide/model-card-anthropic-claude-opus-4-7.html ; https://github.com/tinovyatkin/amazon-bedrock-copilot-chat/issues/526 ; https://github.com/coder/coder/pull/26691";
/// Claude 4.6 takes adaptive thinking (`output_config.effort`) and still the budget form.
pub(crate) const CLAUDE_ADAPTIVE: &str = "https://github.com/pydantic/pydantic-ai/blob/4fda38988f2939fa6ea9cdefcf120693e10ef491/pydantic_ai_slim/pydantic_ai/providers/bedrock.py#L204-L222 ; https://github.com/langchain-ai/langchain-aws/blob/0434c7f94f6c27bfa275534f8ff1b0c3f1738144/libs/aws/langchain_aws/utils.py";
/// "`temperature` is deprecated for this model." (Opus 4.7, 4.8, Opus 5).
pub(crate) const NO_TEMPERATURE: &str = "https://github.com/zeroclaw-labs/zeroclaw/issues/6095 ; https://github.com/promptfoo/promptfoo/issues/10307";
/// "`temperature` and `top_p` cannot both be specified for this model." (Sonnet 4.5, Haiku 4.5,
/// Sonnet 4.6).
pub(crate) const TEMPERATURE_OR_TOP_P: &str = "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages-request-response.html ; https://github.com/BerriAI/litellm/issues/15070 ; https://github.com/aws-samples/bedrock-access-gateway/issues/191";
/// Reasoning blocks go back with their signature ("thinking.signature: Field required").
pub(crate) const SIGNED_REPLAY: &str = "https://docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-extended-thinking.html ; https://github.com/egoist/chatwise-releases/issues/1399";
/// `toolResult.status`: "only supported by Amazon Nova and Anthropic Claude 3 and 4 models";
/// Writer Palmyra answers "This model doesn't support the status field".
pub(crate) const TOOL_RESULT_STATUS: &str = "https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolResultBlock.html ; https://github.com/strands-agents/harness-sdk/pull/686";
/// Images in tool results: "only supported by Amazon Nova and Anthropic Claude 3 and 4 models".
pub(crate) const TOOL_RESULT_MEDIA: &str = "https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolResultContentBlock.html ; https://github.com/anomalyco/opencode/issues/49443";
/// Guardrails in ConverseStream (`streamProcessingMode` sync or async).
pub(crate) const GUARDRAIL_STREAM: &str = "https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_GuardrailStreamConfiguration.html ; https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-supported-models-features.html";
/// Nova's tool guide: greedy decoding (`inferenceConfig.topK = 1` in the additional fields)
/// for tool calls, and top-level tool schemas of `type`, `properties`, `required` only.
pub(crate) const NOVA_TOOLS: &str =
    "https://docs.aws.amazon.com/nova/latest/userguide/prompting-tool-troubleshooting.html";
/// Nova Premier rejects other top-level schema keys: "…inputSchema/json: extraneous key
/// [definitions] is not permitted".
pub(crate) const NOVA_SCHEMA: &str = "https://docs.aws.amazon.com/nova/latest/userguide/prompting-tool-troubleshooting.html ; https://github.com/zed-industries/zed/issues/31815 ; https://github.com/BerriAI/litellm/pull/10062";
/// Nova Pro rejects `reasoningConfig`: "the provided reasoning config value is invalid".
pub(crate) const NOVA1_NO_REASONING: &str =
    "https://github.com/UKGovernmentBEIS/inspect_ai/issues/5301";
/// Nova 2's `reasoningConfig {type, maxReasoningEffort}`.
pub(crate) const NOVA2_REASONING: &str = "https://docs.aws.amazon.com/nova/latest/nova2-userguide/reasoning-capabilities.html ; https://github.com/UKGovernmentBEIS/inspect_ai/pull/3848";
/// "This model doesn't support tool use in streaming mode." (Llama 3.3/4, Mistral Large,
/// Palmyra).
pub(crate) const NO_STREAMING_TOOLS: &str = "https://github.com/earendil-works/pi/issues/3739 ; https://github.com/n8n-io/n8n/issues/14206 ; https://github.com/brave/brave-browser/issues/52158 ; https://github.com/strands-agents/harness-sdk/issues/393";
/// "…toolChoice.any field. Remove toolConfig.toolChoice.any and try again" (Llama).
pub(crate) const NO_FORCED_TOOL_CHOICE: &str = "https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolChoice.html ; https://github.com/strands-agents/harness-sdk/issues/1241";
/// "messages.N.content: Conversation blocks and tool result blocks cannot be provided in the
/// same turn." (Llama 4, Llama 3.3, Mistral Large, Palmyra).
pub(crate) const TOOL_RESULTS_ALONE: &str = "https://github.com/strands-agents/harness-sdk/issues/1223 ; https://github.com/browser-use/browser-use/issues/710 ; https://github.com/pydantic/pydantic-ai/pull/6318";
/// "Conversation blocks and tool use blocks cannot be provided in the same turn." (Llama 4
/// Scout, Mistral Large 2402).
pub(crate) const TOOL_USE_ALONE: &str = "https://github.com/langchain-ai/langchain-aws/blob/0434c7f94f6c27bfa275534f8ff1b0c3f1738144/libs/aws/tests/integration_tests/chat_models/test_bedrock_converse.py ; https://github.com/quarkiverse/quarkus-langchain4j/issues/1983";
/// Llama 3 8B/70B and Llama 3.2 1B/3B: no tool use.
pub(crate) const SMALL_LLAMA_NO_TOOLS: &str = "https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-supported-models-features.html ; https://github.com/epam/ai-dial-adapter-bedrock/issues/181";
/// "This model doesn't support system messages." (Mistral 7B Instruct, Mixtral 8x7B, Titan).
pub(crate) const NO_SYSTEM: &str = "https://github.com/567-labs/instructor/issues/1753 ; https://github.com/Mintplex-Labs/anything-llm/issues/2486 ; https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-supported-models-features.html";
/// Mistral tool-call ids: "Tool call id was a but must be a-z, A-Z, 0-9, with a length of 9."
pub(crate) const MISTRAL_TOOL_IDS: &str = "https://github.com/vercel/ai/issues/11802";
/// Cohere Command R with tools in Converse: "Invalid parameter combination".
pub(crate) const COHERE_TOOLS: &str = "https://github.com/langchain-ai/langchain-aws/issues/566";
/// DeepSeek R1: no tool use; its reasoning must not be sent back ("User messages cannot contain
/// reasoning content").
pub(crate) const DEEPSEEK_R1: &str = "https://github.com/langchain-ai/langchain-aws/issues/447 ; https://github.com/langchain-ai/langchain-aws/issues/401 ; https://github.com/zed-industries/zed/issues/32341 ; https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-deepseek.html";
/// DeepSeek V3.x tool choice (V3.1 calls tools only with `any`).
pub(crate) const DEEPSEEK_V3: &str = "https://github.com/langchain-ai/langchain-aws/pull/688";
/// gpt-oss: "This model doesn't support the reasoningContent.reasoningText.signature field";
/// reasoning effort in `reasoning_effort`.
pub(crate) const GPT_OSS: &str = "https://github.com/strands-agents/harness-sdk/pull/682 ; https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-openai.html ; https://github.com/langchain-ai/langchain-aws/blob/0434c7f94f6c27bfa275534f8ff1b0c3f1738144/libs/aws/langchain_aws/utils.py";
/// Qwen: tools while streaming, signature rejected on replay.
pub(crate) const QWEN: &str = "https://github.com/langchain-ai/langchain-aws/blob/0434c7f94f6c27bfa275534f8ff1b0c3f1738144/libs/aws/langchain_aws/chat_models/bedrock_converse.py#L864-L962 ; https://github.com/earendil-works/pi/pull/727";
/// Writer Palmyra: no streaming tool use, no `status`, tool results alone.
pub(crate) const PALMYRA: &str = "https://github.com/strands-agents/harness-sdk/issues/393 ; https://github.com/langchain-ai/langchain-aws/pull/466 ; https://github.com/pydantic/pydantic-ai/pull/6318";
/// Peer clients' maps of tool use while streaming and of tool choice (langchain-aws).
pub(crate) const PEER_MAPS: &str = "https://github.com/langchain-ai/langchain-aws/blob/0434c7f94f6c27bfa275534f8ff1b0c3f1738144/libs/aws/langchain_aws/chat_models/bedrock_converse.py#L864-L1167";
/// S3 media locations work only for Nova ("This model doesn't support the s3Uri field").
pub(crate) const S3_MEDIA: &str = "https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-supported-models-features.html ; https://github.com/strands-agents/harness-sdk/pull/3610";

/// Maximum output tokens: Anthropic's model overview (Bedrock serves the same models).
pub(crate) const CLAUDE_MAX_OUTPUT: &str =
    "https://platform.claude.com/docs/en/about-claude/models/overview";
/// Claude 3.5 Sonnet v1 on Bedrock: "exceeds the model limit of 4096".
pub(crate) const CLAUDE35_V1_MAX_OUTPUT: &str =
    "https://github.com/vercel/ai/issues/2772 ; https://github.com/boto/boto3/issues/4279";
/// Claude 3.7 Sonnet: 64K output (128K with a beta header).
pub(crate) const CLAUDE37_MAX_OUTPUT: &str = "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages-request-response.html";
/// Output limits generated from models.dev in langchain-aws's model profiles.
pub(crate) const MODEL_PROFILES: &str = "https://github.com/langchain-ai/langchain-aws/blob/0434c7f94f6c27bfa275534f8ff1b0c3f1738144/libs/aws/langchain_aws/data/_profiles.py";
/// Amazon Nova's output limits (the user guide's model table).
pub(crate) const NOVA_MAX_OUTPUT: &str =
    "https://docs.aws.amazon.com/nova/latest/userguide/what-is-nova.html";
/// Meta Llama's parameters on Bedrock (max_gen_len).
pub(crate) const LLAMA_MAX_OUTPUT: &str = "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-meta.html ; https://github.com/aws-samples/bedrock-access-gateway/issues/41";
/// Mistral's parameters on Bedrock.
pub(crate) const MISTRAL_MAX_OUTPUT: &str =
    "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-mistral.html";
/// Titan Text Premier: "exceeds the model limit of 3000".
pub(crate) const TITAN_MAX_OUTPUT: &str = "https://github.com/aws-samples/generative-ai-use-cases/issues/594 ; https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-text.html";
/// Jamba and Cohere parameters on Bedrock.
pub(crate) const AI21_COHERE_MAX_OUTPUT: &str = "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-jamba.html ; https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-cohere-command-r-plus.html";

/// A geographic profile called from another geography: "The provided model identifier is
/// invalid."
pub(crate) const PROFILE_REGION: &str = "https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html ; https://github.com/opensearch-project/agent-health/issues/298 ; https://github.com/anthropics/claude-code/issues/51074";
/// Without `maxTokens`, Converse stops Claude at 4,096 output tokens.
pub(crate) const DEFAULT_MAX_TOKENS: &str = "https://github.com/BerriAI/litellm/issues/41529 ; https://github.com/langchain-ai/openwiki/issues/722";
/// The API reference of `ToolUseBlock` (`toolUseId` of `[a-zA-Z0-9_-]+`).
pub(crate) const TOOL_USE_BLOCK: &str =
    "https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolUseBlock.html";
/// The API reference of `ToolInputSchema` (a JSON Schema).
pub(crate) const TOOL_INPUT_SCHEMA: &str =
    "https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolInputSchema.html";
/// The API reference of `InferenceConfiguration` (`maxTokens`, `temperature`, `topP`).
pub(crate) const INFERENCE_CONFIG: &str = "https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InferenceConfiguration.html";
/// A live matrix of what each family takes next to tool results in one turn (Claude and Nova:
/// text, images and PDFs beside tool results are accepted).
pub(crate) const SAME_TURN_MATRIX: &str = "https://github.com/pydantic/pydantic-ai/pull/6098";
