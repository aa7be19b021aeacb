// Generated once from the reference pack's list of persisted settings (key, env var, default).
// Values that upstream fills with its own prose are replaced by ours (see `OWN_DEFAULTS`).

pub struct ConfigDef {
    pub key: &'static str,
    pub env: &'static str,
    pub default: &'static str,
}

pub static DEFS: &[ConfigDef] = &[
    ConfigDef {
        key: "apps.enable",
        env: "ENABLE_APPS",
        default: r#"false"#,
    },
    ConfigDef {
        key: "audio.realtime.auth_type",
        env: "AUDIO_REALTIME_AUTH_TYPE",
        default: r#""api_key""#,
    },
    ConfigDef {
        key: "audio.realtime.enabled",
        env: "AUDIO_REALTIME_ENABLED",
        default: r#"false"#,
    },
    ConfigDef {
        key: "audio.realtime.input_params",
        env: "AUDIO_REALTIME_INPUT_PARAMS",
        default: r#"null"#,
    },
    ConfigDef {
        key: "audio.realtime.model",
        env: "AUDIO_REALTIME_MODEL",
        default: r#""gpt-realtime-2.1-mini""#,
    },
    ConfigDef {
        key: "audio.realtime.openai.api_base_url",
        env: "AUDIO_REALTIME_OPENAI_API_BASE_URL",
        default: r#""https://api.openai.com/v1""#,
    },
    ConfigDef {
        key: "audio.realtime.openai.api_key",
        env: "AUDIO_REALTIME_OPENAI_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.realtime.prompt_template",
        env: "REALTIME_CALL_PROMPT_TEMPLATE",
        default: r#"null"#,
    },
    ConfigDef {
        key: "audio.realtime.provider",
        env: "AUDIO_REALTIME_PROVIDER",
        default: r#""openai""#,
    },
    ConfigDef {
        key: "audio.realtime.transcription_model",
        env: "AUDIO_REALTIME_TRANSCRIPTION_MODEL",
        default: r#""gpt-transcribe""#,
    },
    ConfigDef {
        key: "audio.realtime.voice",
        env: "AUDIO_REALTIME_VOICE",
        default: r#""marin""#,
    },
    ConfigDef {
        key: "audio.stt.allowed_extensions",
        env: "AUDIO_STT_ALLOWED_EXTENSIONS",
        default: r#"["mp3","wav","m4a","webm","ogg","flac","mp4","mpga","mpeg"]"#,
    },
    ConfigDef {
        key: "audio.stt.azure.api_key",
        env: "AUDIO_STT_AZURE_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.stt.azure.base_url",
        env: "AUDIO_STT_AZURE_BASE_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.stt.azure.locales",
        env: "AUDIO_STT_AZURE_LOCALES",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.stt.azure.max_speakers",
        env: "AUDIO_STT_AZURE_MAX_SPEAKERS",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.stt.azure.region",
        env: "AUDIO_STT_AZURE_REGION",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.stt.deepgram.api_key",
        env: "DEEPGRAM_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.stt.engine",
        env: "AUDIO_STT_ENGINE",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.stt.mistral.api_base_url",
        env: "AUDIO_STT_MISTRAL_API_BASE_URL",
        default: r#""https://api.mistral.ai/v1""#,
    },
    ConfigDef {
        key: "audio.stt.mistral.api_key",
        env: "AUDIO_STT_MISTRAL_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.stt.mistral.use_chat_completions",
        env: "AUDIO_STT_MISTRAL_USE_CHAT_COMPLETIONS",
        default: r#"false"#,
    },
    ConfigDef {
        key: "audio.stt.model",
        env: "AUDIO_STT_MODEL",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.stt.openai.api_base_url",
        env: "AUDIO_STT_OPENAI_API_BASE_URL",
        default: r#""https://api.openai.com/v1""#,
    },
    ConfigDef {
        key: "audio.stt.openai.api_key",
        env: "AUDIO_STT_OPENAI_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.stt.openai.api_request_format",
        env: "AUDIO_STT_OPENAI_API_REQUEST_FORMAT",
        default: r#""multipart""#,
    },
    ConfigDef {
        key: "audio.stt.supported_content_types",
        env: "AUDIO_STT_SUPPORTED_CONTENT_TYPES",
        default: r#"[]"#,
    },
    ConfigDef {
        key: "audio.stt.whisper_model",
        env: "WHISPER_MODEL",
        default: r#""base""#,
    },
    ConfigDef {
        key: "audio.tts.api_key",
        env: "AUDIO_TTS_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.tts.azure.speech_base_url",
        env: "AUDIO_TTS_AZURE_SPEECH_BASE_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.tts.azure.speech_output_format",
        env: "AUDIO_TTS_AZURE_SPEECH_OUTPUT_FORMAT",
        default: r#""audio-24khz-160kbitrate-mono-mp3""#,
    },
    ConfigDef {
        key: "audio.tts.azure.speech_region",
        env: "AUDIO_TTS_AZURE_SPEECH_REGION",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.tts.engine",
        env: "AUDIO_TTS_ENGINE",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.tts.mistral.api_base_url",
        env: "AUDIO_TTS_MISTRAL_API_BASE_URL",
        default: r#""https://api.mistral.ai/v1""#,
    },
    ConfigDef {
        key: "audio.tts.mistral.api_key",
        env: "AUDIO_TTS_MISTRAL_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.tts.model",
        env: "AUDIO_TTS_MODEL",
        default: r#""tts-1""#,
    },
    ConfigDef {
        key: "audio.tts.openai.api_base_url",
        env: "AUDIO_TTS_OPENAI_API_BASE_URL",
        default: r#""https://api.openai.com/v1""#,
    },
    ConfigDef {
        key: "audio.tts.openai.api_key",
        env: "AUDIO_TTS_OPENAI_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "audio.tts.openai.params",
        env: "AUDIO_TTS_OPENAI_PARAMS",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "audio.tts.realtime.prompt_template",
        env: "REALTIME_TTS_PROMPT_TEMPLATE",
        default: r#"null"#,
    },
    ConfigDef {
        key: "audio.tts.split_on",
        env: "AUDIO_TTS_SPLIT_ON",
        default: r#""punctuation""#,
    },
    ConfigDef {
        key: "audio.tts.voice",
        env: "AUDIO_TTS_VOICE",
        default: r#""alloy""#,
    },
    ConfigDef {
        key: "auth.admin.email",
        env: "ADMIN_EMAIL",
        default: r#"null"#,
    },
    ConfigDef {
        key: "auth.admin.show",
        env: "SHOW_ADMIN_DETAILS",
        default: r#"true"#,
    },
    ConfigDef {
        key: "auth.api_key.allowed_endpoints",
        env: "API_KEYS_ALLOWED_ENDPOINTS",
        default: r#""""#,
    },
    ConfigDef {
        key: "auth.api_key.endpoint_restrictions",
        env: "ENABLE_API_KEYS_ENDPOINT_RESTRICTIONS",
        default: r#"false"#,
    },
    ConfigDef {
        key: "auth.enable_api_keys",
        env: "ENABLE_API_KEYS",
        default: r#"false"#,
    },
    ConfigDef {
        key: "auth.jwt_expiry",
        env: "JWT_EXPIRES_IN",
        default: r#""4w""#,
    },
    ConfigDef {
        key: "auth.mfa.allow_oauth_bypass",
        env: "MFA_ALLOW_OAUTH_BYPASS",
        default: r#"false"#,
    },
    ConfigDef {
        key: "auth.mfa.allow_trusted_header_bypass",
        env: "MFA_ALLOW_TRUSTED_HEADER_BYPASS",
        default: r#"false"#,
    },
    ConfigDef {
        key: "auth.mfa.enable",
        env: "ENABLE_MFA",
        default: r#"false"#,
    },
    ConfigDef {
        key: "automations.auth_token_expires_in",
        env: "AUTOMATION_AUTH_TOKEN_EXPIRES_IN",
        default: r#""1h""#,
    },
    ConfigDef {
        key: "automations.enable",
        env: "ENABLE_AUTOMATIONS",
        default: r#"true"#,
    },
    ConfigDef {
        key: "automations.max_count",
        env: "AUTOMATION_MAX_COUNT",
        default: r#""""#,
    },
    ConfigDef {
        key: "automations.min_interval",
        env: "AUTOMATION_MIN_INTERVAL",
        default: r#""""#,
    },
    ConfigDef {
        key: "calendar.enable",
        env: "ENABLE_CALENDAR",
        default: r#"true"#,
    },
    ConfigDef {
        key: "channels.enable",
        env: "ENABLE_CHANNELS",
        default: r#"false"#,
    },
    ConfigDef {
        key: "channels.encryption.enable",
        env: "ENABLE_ENCRYPTED_CHANNELS",
        default: r#"false"#,
    },
    ConfigDef {
        key: "channels.model_response_mode",
        env: "CHANNEL_MODEL_RESPONSE_MODE",
        default: r#""thread""#,
    },
    ConfigDef {
        key: "chat.context_compaction.enable",
        env: "ENABLE_CONTEXT_COMPACTION",
        default: r#"false"#,
    },
    ConfigDef {
        key: "chat.context_compaction.model",
        env: "CONTEXT_COMPACTION_MODEL",
        default: r#""""#,
    },
    ConfigDef {
        key: "chat.context_compaction.prompt_template",
        env: "CONTEXT_COMPACTION_PROMPT_TEMPLATE",
        default: r#""""#,
    },
    ConfigDef {
        key: "chat.context_compaction.retention_percentage",
        env: "CONTEXT_COMPACTION_RETENTION_PERCENTAGE",
        default: r#"40"#,
    },
    ConfigDef {
        key: "chat.context_compaction.token_cap",
        env: "CONTEXT_COMPACTION_TOKEN_CAP",
        default: r#"null"#,
    },
    ConfigDef {
        key: "chat.context_compaction.token_threshold",
        env: "CONTEXT_COMPACTION_TOKEN_THRESHOLD",
        default: r#"80000"#,
    },
    ConfigDef {
        key: "chat.tool_permissions.enable",
        env: "ENABLE_TOOL_PERMISSIONS",
        default: r#"false"#,
    },
    ConfigDef {
        key: "chat.tool_search.always_loaded",
        env: "TOOL_SEARCH_ALWAYS_LOADED",
        default: r#"[]"#,
    },
    ConfigDef {
        key: "chat.tool_search.defer_builtin_tools",
        env: "TOOL_SEARCH_DEFER_BUILTIN_TOOLS",
        default: r#"true"#,
    },
    ConfigDef {
        key: "chat.tool_search.defer_threshold",
        env: "TOOL_SEARCH_DEFER_THRESHOLD",
        default: r#"400"#,
    },
    ConfigDef {
        key: "chat.tool_search.enable",
        env: "ENABLE_TOOL_SEARCH",
        default: r#"false"#,
    },
    ConfigDef {
        key: "code_execution.enable",
        env: "ENABLE_CODE_EXECUTION",
        default: r#"true"#,
    },
    ConfigDef {
        key: "code_execution.engine",
        env: "CODE_EXECUTION_ENGINE",
        default: r#""pyodide""#,
    },
    ConfigDef {
        key: "code_execution.jupyter.auth",
        env: "CODE_EXECUTION_JUPYTER_AUTH",
        default: r#""""#,
    },
    ConfigDef {
        key: "code_execution.jupyter.auth_password",
        env: "CODE_EXECUTION_JUPYTER_AUTH_PASSWORD",
        default: r#""""#,
    },
    ConfigDef {
        key: "code_execution.jupyter.auth_token",
        env: "CODE_EXECUTION_JUPYTER_AUTH_TOKEN",
        default: r#""""#,
    },
    ConfigDef {
        key: "code_execution.jupyter.timeout",
        env: "CODE_EXECUTION_JUPYTER_TIMEOUT",
        default: r#"60"#,
    },
    ConfigDef {
        key: "code_execution.jupyter.url",
        env: "CODE_EXECUTION_JUPYTER_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "code_interpreter.enable",
        env: "ENABLE_CODE_INTERPRETER",
        default: r#"true"#,
    },
    ConfigDef {
        key: "code_interpreter.engine",
        env: "CODE_INTERPRETER_ENGINE",
        default: r#""pyodide""#,
    },
    ConfigDef {
        key: "code_interpreter.jupyter.auth",
        env: "CODE_INTERPRETER_JUPYTER_AUTH",
        default: r#""""#,
    },
    ConfigDef {
        key: "code_interpreter.jupyter.auth_password",
        env: "CODE_INTERPRETER_JUPYTER_AUTH_PASSWORD",
        default: r#""""#,
    },
    ConfigDef {
        key: "code_interpreter.jupyter.auth_token",
        env: "CODE_INTERPRETER_JUPYTER_AUTH_TOKEN",
        default: r#""""#,
    },
    ConfigDef {
        key: "code_interpreter.jupyter.timeout",
        env: "CODE_INTERPRETER_JUPYTER_TIMEOUT",
        default: r#"60"#,
    },
    ConfigDef {
        key: "code_interpreter.jupyter.url",
        env: "CODE_INTERPRETER_JUPYTER_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "code_interpreter.prompt_template",
        env: "CODE_INTERPRETER_PROMPT_TEMPLATE",
        default: r#""""#,
    },
    ConfigDef {
        key: "direct.enable",
        env: "ENABLE_DIRECT_CONNECTIONS",
        default: r#"false"#,
    },
    ConfigDef {
        key: "direct.integrations.enable",
        env: "ENABLE_DIRECT_INTEGRATIONS",
        default: r#"false"#,
    },
    ConfigDef {
        key: "evaluation.arena.enable",
        env: "ENABLE_EVALUATION_ARENA_MODELS",
        default: r#"false"#,
    },
    ConfigDef {
        key: "evaluation.arena.models",
        env: "EVALUATION_ARENA_MODELS",
        default: r#"[]"#,
    },
    ConfigDef {
        key: "file.image_compression_height",
        env: "FILE_IMAGE_COMPRESSION_HEIGHT",
        default: r#"null"#,
    },
    ConfigDef {
        key: "file.image_compression_width",
        env: "FILE_IMAGE_COMPRESSION_WIDTH",
        default: r#"null"#,
    },
    ConfigDef {
        key: "folders.enable",
        env: "ENABLE_FOLDERS",
        default: r#"true"#,
    },
    ConfigDef {
        key: "folders.max_file_count",
        env: "FOLDER_MAX_FILE_COUNT",
        default: r#""""#,
    },
    ConfigDef {
        key: "google_drive.api_key",
        env: "GOOGLE_DRIVE_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "google_drive.client_id",
        env: "GOOGLE_DRIVE_CLIENT_ID",
        default: r#""""#,
    },
    ConfigDef {
        key: "google_drive.enable",
        env: "ENABLE_GOOGLE_DRIVE_INTEGRATION",
        default: r#"false"#,
    },
    ConfigDef {
        key: "image_generation.automatic1111.api_auth",
        env: "AUTOMATIC1111_API_AUTH",
        default: r#""""#,
    },
    ConfigDef {
        key: "image_generation.automatic1111.api_params",
        env: "AUTOMATIC1111_PARAMS",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "image_generation.automatic1111.base_url",
        env: "AUTOMATIC1111_BASE_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "image_generation.comfyui.api_key",
        env: "COMFYUI_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "image_generation.comfyui.base_url",
        env: "COMFYUI_BASE_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "image_generation.comfyui.nodes",
        env: "COMFYUI_WORKFLOW_NODES",
        default: r#"[]"#,
    },
    ConfigDef {
        key: "image_generation.comfyui.workflow",
        env: "COMFYUI_WORKFLOW",
        default: r#""""#,
    },
    ConfigDef {
        key: "image_generation.enable",
        env: "ENABLE_IMAGE_GENERATION",
        default: r#"false"#,
    },
    ConfigDef {
        key: "image_generation.engine",
        env: "IMAGE_GENERATION_ENGINE",
        default: r#""openai""#,
    },
    ConfigDef {
        key: "image_generation.gemini.api_base_url",
        env: "IMAGES_GEMINI_API_BASE_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "image_generation.gemini.api_key",
        env: "IMAGES_GEMINI_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "image_generation.gemini.endpoint_method",
        env: "IMAGES_GEMINI_ENDPOINT_METHOD",
        default: r#""""#,
    },
    ConfigDef {
        key: "image_generation.model",
        env: "IMAGE_GENERATION_MODEL",
        default: r#""""#,
    },
    ConfigDef {
        key: "image_generation.openai.api_base_url",
        env: "IMAGES_OPENAI_API_BASE_URL",
        default: r#""https://api.openai.com/v1""#,
    },
    ConfigDef {
        key: "image_generation.openai.api_key",
        env: "IMAGES_OPENAI_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "image_generation.openai.api_version",
        env: "IMAGES_OPENAI_API_VERSION",
        default: r#""""#,
    },
    ConfigDef {
        key: "image_generation.openai.params",
        env: "IMAGES_OPENAI_API_PARAMS",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "image_generation.prompt.enable",
        env: "ENABLE_IMAGE_PROMPT_GENERATION",
        default: r#"true"#,
    },
    ConfigDef {
        key: "image_generation.size",
        env: "IMAGE_SIZE",
        default: r#""512x512""#,
    },
    ConfigDef {
        key: "image_generation.steps",
        env: "IMAGE_STEPS",
        default: r#"50"#,
    },
    ConfigDef {
        key: "images.edit.comfyui.api_key",
        env: "IMAGES_EDIT_COMFYUI_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "images.edit.comfyui.base_url",
        env: "IMAGES_EDIT_COMFYUI_BASE_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "images.edit.comfyui.nodes",
        env: "IMAGES_EDIT_COMFYUI_WORKFLOW_NODES",
        default: r#"[]"#,
    },
    ConfigDef {
        key: "images.edit.comfyui.workflow",
        env: "IMAGES_EDIT_COMFYUI_WORKFLOW",
        default: r#""""#,
    },
    ConfigDef {
        key: "images.edit.enable",
        env: "ENABLE_IMAGE_EDIT",
        default: r#"false"#,
    },
    ConfigDef {
        key: "images.edit.engine",
        env: "IMAGE_EDIT_ENGINE",
        default: r#""openai""#,
    },
    ConfigDef {
        key: "images.edit.gemini.api_base_url",
        env: "IMAGES_EDIT_GEMINI_API_BASE_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "images.edit.gemini.api_key",
        env: "IMAGES_EDIT_GEMINI_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "images.edit.model",
        env: "IMAGE_EDIT_MODEL",
        default: r#""""#,
    },
    ConfigDef {
        key: "images.edit.openai.api_base_url",
        env: "IMAGES_EDIT_OPENAI_API_BASE_URL",
        default: r#""https://api.openai.com/v1""#,
    },
    ConfigDef {
        key: "images.edit.openai.api_key",
        env: "IMAGES_EDIT_OPENAI_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "images.edit.openai.api_version",
        env: "IMAGES_EDIT_OPENAI_API_VERSION",
        default: r#""""#,
    },
    ConfigDef {
        key: "images.edit.size",
        env: "IMAGE_EDIT_SIZE",
        default: r#""""#,
    },
    ConfigDef {
        key: "ldap.enable",
        env: "ENABLE_LDAP",
        default: r#"false"#,
    },
    ConfigDef {
        key: "ldap.group.enable_creation",
        env: "ENABLE_LDAP_GROUP_CREATION",
        default: r#"false"#,
    },
    ConfigDef {
        key: "ldap.group.enable_management",
        env: "ENABLE_LDAP_GROUP_MANAGEMENT",
        default: r#"false"#,
    },
    ConfigDef {
        key: "ldap.server.app_dn",
        env: "LDAP_APP_DN",
        default: r#""""#,
    },
    ConfigDef {
        key: "ldap.server.app_password",
        env: "LDAP_APP_PASSWORD",
        default: r#""""#,
    },
    ConfigDef {
        key: "ldap.server.attribute_for_groups",
        env: "LDAP_ATTRIBUTE_FOR_GROUPS",
        default: r#""memberOf""#,
    },
    ConfigDef {
        key: "ldap.server.attribute_for_mail",
        env: "LDAP_ATTRIBUTE_FOR_MAIL",
        default: r#""mail""#,
    },
    ConfigDef {
        key: "ldap.server.attribute_for_username",
        env: "LDAP_ATTRIBUTE_FOR_USERNAME",
        default: r#""uid""#,
    },
    ConfigDef {
        key: "ldap.server.ca_cert_file",
        env: "LDAP_CA_CERT_FILE",
        default: r#""""#,
    },
    ConfigDef {
        key: "ldap.server.ciphers",
        env: "LDAP_CIPHERS",
        default: r#""ALL""#,
    },
    ConfigDef {
        key: "ldap.server.default_email_domain",
        env: "LDAP_DEFAULT_EMAIL_DOMAIN",
        default: r#""""#,
    },
    ConfigDef {
        key: "ldap.server.host",
        env: "LDAP_SERVER_HOST",
        default: r#""localhost""#,
    },
    ConfigDef {
        key: "ldap.server.label",
        env: "LDAP_SERVER_LABEL",
        default: r#""LDAP Server""#,
    },
    ConfigDef {
        key: "ldap.server.port",
        env: "LDAP_SERVER_PORT",
        default: r#"389"#,
    },
    ConfigDef {
        key: "ldap.server.search_filter",
        env: "LDAP_SEARCH_FILTERS",
        default: r#""""#,
    },
    ConfigDef {
        key: "ldap.server.use_tls",
        env: "LDAP_USE_TLS",
        default: r#"true"#,
    },
    ConfigDef {
        key: "ldap.server.users_dn",
        env: "LDAP_SEARCH_BASE",
        default: r#""""#,
    },
    ConfigDef {
        key: "ldap.server.validate_cert",
        env: "LDAP_VALIDATE_CERT",
        default: r#"true"#,
    },
    ConfigDef {
        key: "memories.background_review.enable",
        env: "ENABLE_MEMORY_BACKGROUND_REVIEW",
        default: r#"false"#,
    },
    ConfigDef {
        key: "memories.context_char_limit",
        env: "MEMORIES_CONTEXT_CHAR_LIMIT",
        default: r#"2000"#,
    },
    ConfigDef {
        key: "memories.enable",
        env: "ENABLE_MEMORIES",
        default: r#"true"#,
    },
    ConfigDef {
        key: "memories.review_interval_turns",
        env: "MEMORIES_REVIEW_INTERVAL_TURNS",
        default: r#"10"#,
    },
    ConfigDef {
        key: "memories.system_context.enable",
        env: "ENABLE_MEMORY_SYSTEM_CONTEXT",
        default: r#"true"#,
    },
    ConfigDef {
        key: "memories.user_char_limit",
        env: "MEMORIES_USER_CHAR_LIMIT",
        default: r#"2000"#,
    },
    ConfigDef {
        key: "models.base_models_cache",
        env: "ENABLE_BASE_MODELS_CACHE",
        default: r#"false"#,
    },
    ConfigDef {
        key: "models.default_metadata",
        env: "DEFAULT_MODEL_METADATA",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "models.default_params",
        env: "DEFAULT_MODEL_PARAMS",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "notes.enable",
        env: "ENABLE_NOTES",
        default: r#"true"#,
    },
    ConfigDef {
        key: "oauth.admin_roles",
        env: "OAUTH_ADMIN_ROLES",
        default: r#"["admin"]"#,
    },
    ConfigDef {
        key: "oauth.allowed_domains",
        env: "OAUTH_ALLOWED_DOMAINS",
        default: r#"["*"]"#,
    },
    ConfigDef {
        key: "oauth.allowed_roles",
        env: "OAUTH_ALLOWED_ROLES",
        default: r#"["user", "admin"]"#,
    },
    ConfigDef {
        key: "oauth.audience",
        env: "OAUTH_AUDIENCE",
        default: r#""""#,
    },
    ConfigDef {
        key: "oauth.auto_redirect",
        env: "OAUTH_AUTO_REDIRECT",
        default: r#"false"#,
    },
    ConfigDef {
        key: "oauth.blocked_groups",
        env: "OAUTH_BLOCKED_GROUPS",
        default: r#""[]""#,
    },
    ConfigDef {
        key: "oauth.client_id",
        env: "OAUTH_CLIENT_ID",
        default: r#""""#,
    },
    ConfigDef {
        key: "oauth.client_secret",
        env: "OAUTH_CLIENT_SECRET",
        default: r#""""#,
    },
    ConfigDef {
        key: "oauth.email_claim",
        env: "OAUTH_EMAIL_CLAIM",
        default: r#""email""#,
    },
    ConfigDef {
        key: "oauth.enable",
        env: "ENABLE_OAUTH",
        default: r#"true"#,
    },
    ConfigDef {
        key: "oauth.enable_group_creation",
        env: "ENABLE_OAUTH_GROUP_CREATION",
        default: r#"false"#,
    },
    ConfigDef {
        key: "oauth.enable_group_mapping",
        env: "ENABLE_OAUTH_GROUP_MANAGEMENT",
        default: r#"false"#,
    },
    ConfigDef {
        key: "oauth.enable_role_mapping",
        env: "ENABLE_OAUTH_ROLE_MANAGEMENT",
        default: r#"false"#,
    },
    ConfigDef {
        key: "oauth.enable_signup",
        env: "ENABLE_OAUTH_SIGNUP",
        default: r#"false"#,
    },
    ConfigDef {
        key: "oauth.end_session_endpoint",
        env: "OPENID_END_SESSION_ENDPOINT",
        default: r#""""#,
    },
    ConfigDef {
        key: "oauth.group_claim",
        env: "OAUTH_GROUPS_CLAIM",
        default: r#""groups""#,
    },
    ConfigDef {
        key: "oauth.group_default_share",
        env: "OAUTH_GROUP_DEFAULT_SHARE",
        default: r#"true"#,
    },
    ConfigDef {
        key: "oauth.merge_accounts_by_email",
        env: "OAUTH_MERGE_ACCOUNTS_BY_EMAIL",
        default: r#"false"#,
    },
    ConfigDef {
        key: "oauth.picture_claim",
        env: "OAUTH_PICTURE_CLAIM",
        default: r#""picture""#,
    },
    ConfigDef {
        key: "oauth.provider_name",
        env: "OAUTH_PROVIDER_NAME",
        default: r#""SSO""#,
    },
    ConfigDef {
        key: "oauth.provider_url",
        env: "OPENID_PROVIDER_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "oauth.redirect_uri",
        env: "OPENID_REDIRECT_URI",
        default: r#""""#,
    },
    ConfigDef {
        key: "oauth.refresh_token.include_scope",
        env: "OAUTH_REFRESH_TOKEN_INCLUDE_SCOPE",
        default: r#"false"#,
    },
    ConfigDef {
        key: "oauth.roles_claim",
        env: "OAUTH_ROLES_CLAIM",
        default: r#""roles""#,
    },
    ConfigDef {
        key: "oauth.scopes",
        env: "OAUTH_SCOPES",
        default: r#""openid email profile""#,
    },
    ConfigDef {
        key: "oauth.sub_claim",
        env: "OAUTH_SUB_CLAIM",
        default: r#"null"#,
    },
    ConfigDef {
        key: "oauth.update_email_on_login",
        env: "OAUTH_UPDATE_EMAIL_ON_LOGIN",
        default: r#"false"#,
    },
    ConfigDef {
        key: "oauth.update_name_on_login",
        env: "OAUTH_UPDATE_NAME_ON_LOGIN",
        default: r#"false"#,
    },
    ConfigDef {
        key: "oauth.update_picture_on_login",
        env: "OAUTH_UPDATE_PICTURE_ON_LOGIN",
        default: r#"false"#,
    },
    ConfigDef {
        key: "oauth.username_claim",
        env: "OAUTH_USERNAME_CLAIM",
        default: r#""name""#,
    },
    ConfigDef {
        key: "ollama.api_configs",
        env: "OLLAMA_API_CONFIGS",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "ollama.base_urls",
        env: "OLLAMA_BASE_URLS",
        default: r#"["http://localhost:11434"]"#,
    },
    ConfigDef {
        key: "ollama.enable",
        env: "ENABLE_OLLAMA_API",
        default: r#"true"#,
    },
    ConfigDef {
        key: "onedrive.enable",
        env: "ENABLE_ONEDRIVE_INTEGRATION",
        default: r#"false"#,
    },
    ConfigDef {
        key: "onedrive.sharepoint_tenant_id",
        env: "ONEDRIVE_SHAREPOINT_TENANT_ID",
        default: r#""""#,
    },
    ConfigDef {
        key: "onedrive.sharepoint_url",
        env: "ONEDRIVE_SHAREPOINT_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "openai.api_base_urls",
        env: "OPENAI_API_BASE_URLS",
        default: r#"["https://api.openai.com/v1"]"#,
    },
    ConfigDef {
        key: "openai.api_configs",
        env: "OPENAI_API_CONFIGS",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "openai.api_keys",
        env: "OPENAI_API_KEYS",
        default: r#"[""]"#,
    },
    ConfigDef {
        key: "openai.enable",
        env: "ENABLE_OPENAI_API",
        default: r#"true"#,
    },
    ConfigDef {
        key: "rag.azure_openai.api_key",
        env: "RAG_AZURE_OPENAI_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.azure_openai.api_version",
        env: "RAG_AZURE_OPENAI_API_VERSION",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.azure_openai.base_url",
        env: "RAG_AZURE_OPENAI_BASE_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.bypass_embedding_and_retrieval",
        env: "BYPASS_EMBEDDING_AND_RETRIEVAL",
        default: r#"false"#,
    },
    ConfigDef {
        key: "rag.chunk_min_size_target",
        env: "CHUNK_MIN_SIZE_TARGET",
        default: r#"0"#,
    },
    ConfigDef {
        key: "rag.chunk_overlap",
        env: "CHUNK_OVERLAP",
        default: r#"100"#,
    },
    ConfigDef {
        key: "rag.chunk_size",
        env: "CHUNK_SIZE",
        default: r#"1000"#,
    },
    ConfigDef {
        key: "rag.content_extraction.supported_media_mime_types",
        env: "CONTENT_EXTRACTION_SUPPORTED_MEDIA_MIME_TYPES",
        default: r#"null"#,
    },
    ConfigDef {
        key: "rag.content_extraction_engine",
        env: "CONTENT_EXTRACTION_ENGINE",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.datalab_marker_additional_config",
        env: "DATALAB_MARKER_ADDITIONAL_CONFIG",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.datalab_marker_api_base_url",
        env: "DATALAB_MARKER_API_BASE_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.datalab_marker_api_key",
        env: "DATALAB_MARKER_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.datalab_marker_disable_image_extraction",
        env: "DATALAB_MARKER_DISABLE_IMAGE_EXTRACTION",
        default: r#"false"#,
    },
    ConfigDef {
        key: "rag.datalab_marker_force_ocr",
        env: "DATALAB_MARKER_FORCE_OCR",
        default: r#"false"#,
    },
    ConfigDef {
        key: "rag.datalab_marker_format_lines",
        env: "DATALAB_MARKER_FORMAT_LINES",
        default: r#"false"#,
    },
    ConfigDef {
        key: "rag.datalab_marker_output_format",
        env: "DATALAB_MARKER_OUTPUT_FORMAT",
        default: r#""markdown""#,
    },
    ConfigDef {
        key: "rag.datalab_marker_paginate",
        env: "DATALAB_MARKER_PAGINATE",
        default: r#"false"#,
    },
    ConfigDef {
        key: "rag.datalab_marker_skip_cache",
        env: "DATALAB_MARKER_SKIP_CACHE",
        default: r#"false"#,
    },
    ConfigDef {
        key: "rag.datalab_marker_strip_existing_ocr",
        env: "DATALAB_MARKER_STRIP_EXISTING_OCR",
        default: r#"false"#,
    },
    ConfigDef {
        key: "rag.datalab_marker_use_llm",
        env: "DATALAB_MARKER_USE_LLM",
        default: r#"false"#,
    },
    ConfigDef {
        key: "rag.docling_api_key",
        env: "DOCLING_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.docling_params",
        env: "DOCLING_PARAMS",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "rag.docling_server_url",
        env: "DOCLING_SERVER_URL",
        default: r#""http://docling:5001""#,
    },
    ConfigDef {
        key: "rag.document_intelligence_endpoint",
        env: "DOCUMENT_INTELLIGENCE_ENDPOINT",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.document_intelligence_key",
        env: "DOCUMENT_INTELLIGENCE_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.document_intelligence_model",
        env: "DOCUMENT_INTELLIGENCE_MODEL",
        default: r#""prebuilt-layout""#,
    },
    ConfigDef {
        key: "rag.embedding_batch_size",
        env: "RAG_EMBEDDING_BATCH_SIZE",
        default: r#"1"#,
    },
    ConfigDef {
        key: "rag.embedding_concurrent_requests",
        env: "RAG_EMBEDDING_CONCURRENT_REQUESTS",
        default: r#"0"#,
    },
    ConfigDef {
        key: "rag.embedding_engine",
        env: "RAG_EMBEDDING_ENGINE",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.embedding_model",
        env: "RAG_EMBEDDING_MODEL",
        default: r#""sentence-transformers/all-MiniLM-L6-v2""#,
    },
    ConfigDef {
        key: "rag.enable_async_embedding",
        env: "ENABLE_ASYNC_EMBEDDING",
        default: r#"true"#,
    },
    ConfigDef {
        key: "rag.enable_hybrid_search",
        env: "ENABLE_RAG_HYBRID_SEARCH",
        default: r#"false"#,
    },
    ConfigDef {
        key: "rag.enable_hybrid_search_enriched_texts",
        env: "ENABLE_RAG_HYBRID_SEARCH_ENRICHED_TEXTS",
        default: r#"false"#,
    },
    ConfigDef {
        key: "rag.enable_markdown_header_text_splitter",
        env: "ENABLE_MARKDOWN_HEADER_TEXT_SPLITTER",
        default: r#"true"#,
    },
    ConfigDef {
        key: "rag.external_document_loader_api_key",
        env: "EXTERNAL_DOCUMENT_LOADER_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.external_document_loader_headers",
        env: "EXTERNAL_DOCUMENT_LOADER_HEADERS",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "rag.external_document_loader_url",
        env: "EXTERNAL_DOCUMENT_LOADER_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.external_reranker_api_key",
        env: "RAG_EXTERNAL_RERANKER_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.external_reranker_timeout",
        env: "RAG_EXTERNAL_RERANKER_TIMEOUT",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.external_reranker_url",
        env: "RAG_EXTERNAL_RERANKER_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.file.allowed_extensions",
        env: "RAG_ALLOWED_FILE_EXTENSIONS",
        default: r#"[]"#,
    },
    ConfigDef {
        key: "rag.file.max_count",
        env: "RAG_FILE_MAX_COUNT",
        default: r#"null"#,
    },
    ConfigDef {
        key: "rag.file.max_size",
        env: "RAG_FILE_MAX_SIZE",
        default: r#"null"#,
    },
    ConfigDef {
        key: "rag.full_context",
        env: "RAG_FULL_CONTEXT",
        default: r#"false"#,
    },
    ConfigDef {
        key: "rag.hybrid_bm25_weight",
        env: "RAG_HYBRID_BM25_WEIGHT",
        default: r#"0.5"#,
    },
    ConfigDef {
        key: "rag.mineru_api_key",
        env: "MINERU_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.mineru_api_mode",
        env: "MINERU_API_MODE",
        default: r#""local""#,
    },
    ConfigDef {
        key: "rag.mineru_api_timeout",
        env: "MINERU_API_TIMEOUT",
        default: r#""300""#,
    },
    ConfigDef {
        key: "rag.mineru_api_url",
        env: "MINERU_API_URL",
        default: r#""http://localhost:8000""#,
    },
    ConfigDef {
        key: "rag.mineru_file_extensions",
        env: "MINERU_FILE_EXTENSIONS",
        default: r#"["pdf"]"#,
    },
    ConfigDef {
        key: "rag.mineru_params",
        env: "MINERU_PARAMS",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "rag.mistral_ocr_api_base_url",
        env: "MISTRAL_OCR_API_BASE_URL",
        default: r#""https://api.mistral.ai/v1""#,
    },
    ConfigDef {
        key: "rag.mistral_ocr_api_key",
        env: "MISTRAL_OCR_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.mistral_ocr_use_base64",
        env: "MISTRAL_OCR_USE_BASE64",
        default: r#"false"#,
    },
    ConfigDef {
        key: "rag.ollama.api_key",
        env: "RAG_OLLAMA_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.ollama.base_url",
        env: "RAG_OLLAMA_BASE_URL",
        default: r#""http://localhost:11434""#,
    },
    ConfigDef {
        key: "rag.openai.api_base_url",
        env: "RAG_OPENAI_API_BASE_URL",
        default: r#""https://api.openai.com/v1""#,
    },
    ConfigDef {
        key: "rag.openai.api_key",
        env: "RAG_OPENAI_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.paddleocr_vl_base_url",
        env: "PADDLEOCR_VL_BASE_URL",
        default: r#""http://localhost:8080""#,
    },
    ConfigDef {
        key: "rag.paddleocr_vl_token",
        env: "PADDLEOCR_VL_TOKEN",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.pdf_extract_images",
        env: "PDF_EXTRACT_IMAGES",
        default: r#"false"#,
    },
    ConfigDef {
        key: "rag.pdf_loader_mode",
        env: "PDF_LOADER_MODE",
        default: r#""page""#,
    },
    ConfigDef {
        key: "rag.relevance_threshold",
        env: "RAG_RELEVANCE_THRESHOLD",
        default: r#"0"#,
    },
    ConfigDef {
        key: "rag.reranking_batch_size",
        env: "RAG_RERANKING_BATCH_SIZE",
        default: r#"32"#,
    },
    ConfigDef {
        key: "rag.reranking_engine",
        env: "RAG_RERANKING_ENGINE",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.reranking_model",
        env: "RAG_RERANKING_MODEL",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.template",
        env: "RAG_TEMPLATE",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.text_splitter",
        env: "RAG_TEXT_SPLITTER",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.tika_server_url",
        env: "TIKA_SERVER_URL",
        default: r#""http://tika:9998""#,
    },
    ConfigDef {
        key: "rag.tika_server_version",
        env: "TIKA_SERVER_VERSION",
        default: r#""3""#,
    },
    ConfigDef {
        key: "rag.tiktoken_encoding_name",
        env: "TIKTOKEN_ENCODING_NAME",
        default: r#""cl100k_base""#,
    },
    ConfigDef {
        key: "rag.tokenizer_model",
        env: "RAG_TOKENIZER_MODEL",
        default: r#""""#,
    },
    ConfigDef {
        key: "rag.top_k",
        env: "RAG_TOP_K",
        default: r#"3"#,
    },
    ConfigDef {
        key: "rag.top_k_reranker",
        env: "RAG_TOP_K_RERANKER",
        default: r#"3"#,
    },
    ConfigDef {
        key: "rag.youtube_loader_language",
        env: "YOUTUBE_LOADER_LANGUAGE",
        default: r#"["en"]"#,
    },
    ConfigDef {
        key: "rag.youtube_loader_proxy_url",
        env: "YOUTUBE_LOADER_PROXY_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "skills.content_max_chars",
        env: "SKILL_CONTENT_MAX_CHARS",
        default: r#"null"#,
    },
    ConfigDef {
        key: "skills.lazy_loading.enable",
        env: "ENABLE_SKILL_LAZY_LOADING",
        default: r#"false"#,
    },
    ConfigDef {
        key: "skills.preview_max_chars",
        env: "SKILL_PREVIEW_MAX_CHARS",
        default: r#"null"#,
    },
    ConfigDef {
        key: "subagents.background_enabled",
        env: "SUBAGENTS_BACKGROUND_ENABLED",
        default: r#"false"#,
    },
    ConfigDef {
        key: "subagents.enable",
        env: "ENABLE_SUBAGENTS",
        default: r#"false"#,
    },
    ConfigDef {
        key: "subagents.max_async",
        env: "SUBAGENTS_MAX_ASYNC",
        default: r#"20"#,
    },
    ConfigDef {
        key: "subagents.max_concurrent",
        env: "SUBAGENTS_MAX_CONCURRENT",
        default: r#"20"#,
    },
    ConfigDef {
        key: "subagents.max_iterations",
        env: "SUBAGENTS_MAX_ITERATIONS",
        default: r#"30"#,
    },
    ConfigDef {
        key: "subagents.max_output",
        env: "SUBAGENTS_MAX_OUTPUT",
        default: r#"30000"#,
    },
    ConfigDef {
        key: "subagents.system_prompt",
        env: "SUBAGENTS_SYSTEM_PROMPT",
        default: r#""""#,
    },
    ConfigDef {
        key: "task.autocomplete.enable",
        env: "ENABLE_AUTOCOMPLETE_GENERATION",
        default: r#"false"#,
    },
    ConfigDef {
        key: "task.autocomplete.input_max_length",
        env: "AUTOCOMPLETE_GENERATION_INPUT_MAX_LENGTH",
        default: r#"-1"#,
    },
    ConfigDef {
        key: "task.autocomplete.prompt_template",
        env: "AUTOCOMPLETE_GENERATION_PROMPT_TEMPLATE",
        default: r#""""#,
    },
    ConfigDef {
        key: "task.follow_up.enable",
        env: "ENABLE_FOLLOW_UP_GENERATION",
        default: r#"true"#,
    },
    ConfigDef {
        key: "task.follow_up.prompt_template",
        env: "FOLLOW_UP_GENERATION_PROMPT_TEMPLATE",
        default: r#""""#,
    },
    ConfigDef {
        key: "task.image.prompt_template",
        env: "IMAGE_PROMPT_GENERATION_PROMPT_TEMPLATE",
        default: r#""""#,
    },
    ConfigDef {
        key: "task.model.default",
        env: "TASK_MODEL",
        default: r#""""#,
    },
    ConfigDef {
        key: "task.model.external",
        env: "TASK_MODEL_EXTERNAL",
        default: r#""""#,
    },
    ConfigDef {
        key: "task.model.params",
        env: "TASK_MODEL_PARAMS",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "task.query.prompt_template",
        env: "QUERY_GENERATION_PROMPT_TEMPLATE",
        default: r#""""#,
    },
    ConfigDef {
        key: "task.query.retrieval.enable",
        env: "ENABLE_RETRIEVAL_QUERY_GENERATION",
        default: r#"true"#,
    },
    ConfigDef {
        key: "task.query.search.enable",
        env: "ENABLE_SEARCH_QUERY_GENERATION",
        default: r#"true"#,
    },
    ConfigDef {
        key: "task.tags.enable",
        env: "ENABLE_TAGS_GENERATION",
        default: r#"true"#,
    },
    ConfigDef {
        key: "task.tags.prompt_template",
        env: "TAGS_GENERATION_PROMPT_TEMPLATE",
        default: r#""""#,
    },
    ConfigDef {
        key: "task.title.enable",
        env: "ENABLE_TITLE_GENERATION",
        default: r#"true"#,
    },
    ConfigDef {
        key: "task.title.prompt_template",
        env: "TITLE_GENERATION_PROMPT_TEMPLATE",
        default: r#""""#,
    },
    ConfigDef {
        key: "task.tools.prompt_template",
        env: "TOOLS_FUNCTION_CALLING_PROMPT_TEMPLATE",
        default: r#""""#,
    },
    ConfigDef {
        key: "task.voice.prompt.enable",
        env: "ENABLE_VOICE_MODE_PROMPT",
        default: r#"true"#,
    },
    ConfigDef {
        key: "task.voice.prompt_template",
        env: "VOICE_MODE_PROMPT_TEMPLATE",
        default: r#""""#,
    },
    ConfigDef {
        key: "terminal_server.connections",
        env: "TERMINAL_SERVER_CONNECTIONS",
        default: r#"[]"#,
    },
    ConfigDef {
        key: "tool_server.connections",
        env: "TOOL_SERVER_CONNECTIONS",
        default: r#"[]"#,
    },
    ConfigDef {
        key: "ui.banners",
        env: "WEBUI_BANNERS",
        default: r#"[]"#,
    },
    ConfigDef {
        key: "ui.default_group_id",
        env: "DEFAULT_GROUP_ID",
        default: r#""""#,
    },
    ConfigDef {
        key: "ui.default_interface_settings",
        env: "DEFAULT_INTERFACE_SETTINGS",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "ui.default_locale",
        env: "DEFAULT_LOCALE",
        default: r#""""#,
    },
    ConfigDef {
        key: "ui.default_models",
        env: "DEFAULT_MODELS",
        default: r#"null"#,
    },
    ConfigDef {
        key: "ui.default_pinned_models",
        env: "DEFAULT_PINNED_MODELS",
        default: r#"null"#,
    },
    ConfigDef {
        key: "ui.default_user_role",
        env: "DEFAULT_USER_ROLE",
        default: r#""pending""#,
    },
    ConfigDef {
        key: "ui.enable_community_sharing",
        env: "ENABLE_COMMUNITY_SHARING",
        default: r#"true"#,
    },
    ConfigDef {
        key: "ui.enable_login_form",
        env: "ENABLE_LOGIN_FORM",
        default: r#"true"#,
    },
    ConfigDef {
        key: "ui.enable_message_rating",
        env: "ENABLE_MESSAGE_RATING",
        default: r#"true"#,
    },
    ConfigDef {
        key: "ui.enable_password_change_form",
        env: "ENABLE_PASSWORD_CHANGE_FORM",
        default: r#"true"#,
    },
    ConfigDef {
        key: "ui.enable_signup",
        env: "ENABLE_SIGNUP",
        default: r#"true"#,
    },
    ConfigDef {
        key: "ui.enable_user_webhooks",
        env: "ENABLE_USER_WEBHOOKS",
        default: r#"false"#,
    },
    ConfigDef {
        key: "ui.i18n",
        env: "",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "ui.model_order_list",
        env: "MODEL_ORDER_LIST",
        default: r#"[]"#,
    },
    ConfigDef {
        key: "ui.pending_user_overlay_content",
        env: "PENDING_USER_OVERLAY_CONTENT",
        default: r#""""#,
    },
    ConfigDef {
        key: "ui.pending_user_overlay_title",
        env: "PENDING_USER_OVERLAY_TITLE",
        default: r#""""#,
    },
    ConfigDef {
        key: "ui.prompt_suggestions",
        env: "DEFAULT_PROMPT_SUGGESTIONS",
        default: r#"null"#,
    },
    ConfigDef {
        key: "ui.prompt_suggestions_i18n",
        env: "DEFAULT_PROMPT_SUGGESTIONS_I18N",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "ui.visibility",
        env: "UI_VISIBILITY",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "ui.watermark",
        env: "RESPONSE_WATERMARK",
        default: r#""""#,
    },
    ConfigDef {
        key: "user.permissions",
        env: "USER_PERMISSIONS",
        default: r#"{"workspace":{"models":false,"knowledge":false,"prompts":false,"tools":false,"skills":false,"models_import":false,"models_export":false,"models_hidden":false,"prompts_import":false,"prompts_export":false,"tools_import":false,"tools_export":false,"skills_import":false,"skills_export":false},"sharing":{"models":false,"public_models":false,"knowledge":false,"public_knowledge":false,"prompts":false,"public_prompts":false,"tools":false,"public_tools":false,"skills":false,"public_skills":false,"notes":false,"public_notes":false,"folders":false,"public_chats":false,"open_chats":false,"public_calendars":false},"access_grants":{"allow_users":true,"allow_groups":true},"chat":{"controls":true,"valves":true,"system_prompt":true,"params":true,"file_upload":true,"web_upload":true,"delete":true,"delete_message":true,"continue_response":true,"regenerate_response":true,"rate_response":true,"edit":true,"share":true,"export":true,"import":true,"stt":true,"tts":true,"call":true,"multiple_models":true,"temporary":true,"temporary_enforced":false},"features":{"api_keys":false,"notes":true,"folders":true,"channels":true,"encrypted_channels":false,"direct_tool_servers":false,"web_search":true,"image_generation":true,"code_interpreter":true,"memories":true,"automations":false,"calendar":true,"webhooks":false},"settings":{"interface":true}}"#,
    },
    ConfigDef {
        key: "users.enable_status",
        env: "ENABLE_USER_STATUS",
        default: r#"true"#,
    },
    ConfigDef {
        key: "web.fetch.max_content_length",
        env: "WEB_FETCH_MAX_CONTENT_LENGTH",
        default: r#"null"#,
    },
    ConfigDef {
        key: "web.loader.concurrent_requests",
        env: "WEB_LOADER_CONCURRENT_REQUESTS",
        default: r#"10"#,
    },
    ConfigDef {
        key: "web.loader.engine",
        env: "WEB_LOADER_ENGINE",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.loader.external_web_loader_api_key",
        env: "EXTERNAL_WEB_LOADER_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.loader.external_web_loader_url",
        env: "EXTERNAL_WEB_LOADER_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.loader.firecrawl_api_key",
        env: "FIRECRAWL_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.loader.firecrawl_api_url",
        env: "FIRECRAWL_API_BASE_URL",
        default: r#""https://api.firecrawl.dev""#,
    },
    ConfigDef {
        key: "web.loader.firecrawl_timeout",
        env: "FIRECRAWL_TIMEOUT",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.loader.playwright_timeout",
        env: "PLAYWRIGHT_TIMEOUT",
        default: r#"10000"#,
    },
    ConfigDef {
        key: "web.loader.playwright_ws_url",
        env: "PLAYWRIGHT_WS_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.loader.ssl_verification",
        env: "ENABLE_WEB_LOADER_SSL_VERIFICATION",
        default: r#"true"#,
    },
    ConfigDef {
        key: "web.loader.timeout",
        env: "WEB_LOADER_TIMEOUT",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.azure_ai_search_api_key",
        env: "AZURE_AI_SEARCH_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.azure_ai_search_endpoint",
        env: "AZURE_AI_SEARCH_ENDPOINT",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.azure_ai_search_index_name",
        env: "AZURE_AI_SEARCH_INDEX_NAME",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.bing_search_v7_endpoint",
        env: "BING_SEARCH_V7_ENDPOINT",
        default: r#""https://api.bing.microsoft.com/v7.0/search""#,
    },
    ConfigDef {
        key: "web.search.bing_search_v7_subscription_key",
        env: "BING_SEARCH_V7_SUBSCRIPTION_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.bocha_search_api_key",
        env: "BOCHA_SEARCH_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.brave_search_api_key",
        env: "BRAVE_SEARCH_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.brave_search_context_tokens",
        env: "BRAVE_SEARCH_CONTEXT_TOKENS",
        default: r#"8192"#,
    },
    ConfigDef {
        key: "web.search.bypass_embedding_and_retrieval",
        env: "BYPASS_WEB_SEARCH_EMBEDDING_AND_RETRIEVAL",
        default: r#"false"#,
    },
    ConfigDef {
        key: "web.search.bypass_web_loader",
        env: "BYPASS_WEB_SEARCH_WEB_LOADER",
        default: r#"false"#,
    },
    ConfigDef {
        key: "web.search.concurrent_requests",
        env: "WEB_SEARCH_CONCURRENT_REQUESTS",
        default: r#"0"#,
    },
    ConfigDef {
        key: "web.search.confirmation.content",
        env: "WEB_SEARCH_CONFIRMATION_CONTENT",
        default: r#""Your query will be sent to the configured web search provider.""#,
    },
    ConfigDef {
        key: "web.search.confirmation.enable",
        env: "ENABLE_WEB_SEARCH_CONFIRMATION",
        default: r#"false"#,
    },
    ConfigDef {
        key: "web.search.ddgs_backend",
        env: "DDGS_BACKEND",
        default: r#""auto""#,
    },
    ConfigDef {
        key: "web.search.domain.filter_list",
        env: "WEB_SEARCH_DOMAIN_FILTER_LIST",
        default: r#"[]"#,
    },
    ConfigDef {
        key: "web.search.enable",
        env: "ENABLE_WEB_SEARCH",
        default: r#"false"#,
    },
    ConfigDef {
        key: "web.search.engine",
        env: "WEB_SEARCH_ENGINE",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.exa_api_key",
        env: "EXA_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.exa_max_content_length",
        env: "EXA_MAX_CONTENT_LENGTH",
        default: r#"null"#,
    },
    ConfigDef {
        key: "web.search.external_web_search_api_key",
        env: "EXTERNAL_WEB_SEARCH_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.external_web_search_url",
        env: "EXTERNAL_WEB_SEARCH_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.google_pse_api_key",
        env: "GOOGLE_PSE_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.google_pse_engine_id",
        env: "GOOGLE_PSE_ENGINE_ID",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.jina_api_base_url",
        env: "JINA_API_BASE_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.jina_api_key",
        env: "JINA_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.kagi_search_api_key",
        env: "KAGI_SEARCH_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.linkup_api_key",
        env: "LINKUP_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.linkup_search_params",
        env: "LINKUP_SEARCH_PARAMS",
        default: r#"{}"#,
    },
    ConfigDef {
        key: "web.search.microsoft_web_iq_api_base_url",
        env: "MICROSOFT_WEB_IQ_API_BASE_URL",
        default: r#""https://api.microsoft.ai/v3""#,
    },
    ConfigDef {
        key: "web.search.microsoft_web_iq_api_key",
        env: "MICROSOFT_WEB_IQ_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.microsoft_web_iq_language",
        env: "MICROSOFT_WEB_IQ_LANGUAGE",
        default: r#""en""#,
    },
    ConfigDef {
        key: "web.search.mojeek_search_api_key",
        env: "MOJEEK_SEARCH_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.ollama_cloud_api_key",
        env: "OLLAMA_CLOUD_WEB_SEARCH_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.openserp_base_url",
        env: "OPENSERP_BASE_URL",
        default: r#""http://localhost:7000""#,
    },
    ConfigDef {
        key: "web.search.perplexity_api_key",
        env: "PERPLEXITY_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.perplexity_model",
        env: "PERPLEXITY_MODEL",
        default: r#""sonar""#,
    },
    ConfigDef {
        key: "web.search.perplexity_search_api_url",
        env: "PERPLEXITY_SEARCH_API_URL",
        default: r#""https://api.perplexity.ai/search""#,
    },
    ConfigDef {
        key: "web.search.perplexity_search_context_usage",
        env: "PERPLEXITY_SEARCH_CONTEXT_USAGE",
        default: r#""medium""#,
    },
    ConfigDef {
        key: "web.search.result_count",
        env: "WEB_SEARCH_RESULT_COUNT",
        default: r#"3"#,
    },
    ConfigDef {
        key: "web.search.searchapi_api_key",
        env: "SEARCHAPI_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.searchapi_engine",
        env: "SEARCHAPI_ENGINE",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.searxng_language",
        env: "SEARXNG_LANGUAGE",
        default: r#""all""#,
    },
    ConfigDef {
        key: "web.search.searxng_query_url",
        env: "SEARXNG_QUERY_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.serpapi_api_key",
        env: "SERPAPI_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.serpapi_engine",
        env: "SERPAPI_ENGINE",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.serper_api_key",
        env: "SERPER_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.serphouse_api_key",
        env: "SERPHOUSE_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.serphouse_domain",
        env: "SERPHOUSE_DOMAIN",
        default: r#""google.com""#,
    },
    ConfigDef {
        key: "web.search.serply_api_key",
        env: "SERPLY_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.serpstack_api_key",
        env: "SERPSTACK_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.serpstack_https",
        env: "SERPSTACK_HTTPS",
        default: r#"true"#,
    },
    ConfigDef {
        key: "web.search.sougou_api_sid",
        env: "SOUGOU_API_SID",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.sougou_api_sk",
        env: "SOUGOU_API_SK",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.staan_api_key",
        env: "STAAN_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.staan_market",
        env: "STAAN_MARKET",
        default: r#""en-us""#,
    },
    ConfigDef {
        key: "web.search.staan_max_snippets",
        env: "STAAN_MAX_SNIPPETS",
        default: r#"0"#,
    },
    ConfigDef {
        key: "web.search.tavily_api_key",
        env: "TAVILY_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.tavily_extract_depth",
        env: "TAVILY_EXTRACT_DEPTH",
        default: r#""basic""#,
    },
    ConfigDef {
        key: "web.search.tavily_search_depth",
        env: "TAVILY_SEARCH_DEPTH",
        default: r#""basic""#,
    },
    ConfigDef {
        key: "web.search.trust_env",
        env: "WEB_SEARCH_TRUST_ENV",
        default: r#"true"#,
    },
    ConfigDef {
        key: "web.search.yacy_password",
        env: "YACY_PASSWORD",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.yacy_query_url",
        env: "YACY_QUERY_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.yacy_username",
        env: "YACY_USERNAME",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.yandex_web_search_api_key",
        env: "YANDEX_WEB_SEARCH_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.yandex_web_search_config",
        env: "YANDEX_WEB_SEARCH_CONFIG",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.yandex_web_search_url",
        env: "YANDEX_WEB_SEARCH_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "web.search.youcom_api_key",
        env: "YOUCOM_API_KEY",
        default: r#""""#,
    },
    ConfigDef {
        key: "webhook_url",
        env: "WEBHOOK_URL",
        default: r#""""#,
    },
    ConfigDef {
        key: "webui.url",
        env: "WEBUI_URL",
        default: r#""""#,
    },
];
