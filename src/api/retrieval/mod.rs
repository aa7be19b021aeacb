//! `/api/v1/retrieval`: the admin "Documents" settings, embedding settings,
//! indexing of files / text / web pages, queries and vector-store resets.
//!
//! Settings are the `rag.*` (and related) rows of the `config` table, spoken
//! as upstream's UPPER_SNAKE names. Web *search* belongs to a later
//! integration and answers 501 here.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::form::query_bool;
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::auth::Caller;
use crate::db::files;
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::files::can_access_file;
use crate::rag::context::{filter_accessible_collections, hits_to_result};
use crate::rag::processing::{index_file, index_text, sha256_hex, IndexOpts};
use crate::rag::SearchOpts;
use crate::state::AppState;
use crate::webfetch::fetch_page_text;

type Params = Query<HashMap<String, String>>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/retrieval/embedding", get(get_embedding))
        .route("/api/v1/retrieval/embedding/update", post(update_embedding))
        .route("/api/v1/retrieval/config", get(get_config))
        .route("/api/v1/retrieval/config/update", post(update_config))
        .route("/api/v1/retrieval/process/file", post(process_file))
        .route("/api/v1/retrieval/process/text", post(process_text))
        .route("/api/v1/retrieval/process/url", post(process_web))
        .route("/api/v1/retrieval/process/web", post(process_web))
        .route("/api/v1/retrieval/process/youtube", post(process_youtube))
        .route("/api/v1/retrieval/process/web/search", post(web_search))
        .route(
            "/api/v1/retrieval/process/files/batch",
            post(process_files_batch),
        )
        .route("/api/v1/retrieval/query/doc", post(query_doc))
        .route("/api/v1/retrieval/query/collection", post(query_collection))
        .route("/api/v1/retrieval/delete", post(delete_entries))
        .route("/api/v1/retrieval/reset/db", post(reset_db))
        .route("/api/v1/retrieval/reset/uploads", post(reset_uploads))
}

/// Top-level settings of `GET /config`, in upstream's order.
const TOP: &[(&str, &str)] = &[
    ("RAG_TEMPLATE", "rag.template"),
    ("TOP_K", "rag.top_k"),
    (
        "BYPASS_EMBEDDING_AND_RETRIEVAL",
        "rag.bypass_embedding_and_retrieval",
    ),
    ("RAG_FULL_CONTEXT", "rag.full_context"),
    ("ENABLE_RAG_HYBRID_SEARCH", "rag.enable_hybrid_search"),
    (
        "ENABLE_RAG_HYBRID_SEARCH_ENRICHED_TEXTS",
        "rag.enable_hybrid_search_enriched_texts",
    ),
    ("TOP_K_RERANKER", "rag.top_k_reranker"),
    ("RELEVANCE_THRESHOLD", "rag.relevance_threshold"),
    ("HYBRID_BM25_WEIGHT", "rag.hybrid_bm25_weight"),
    ("CONTENT_EXTRACTION_ENGINE", "rag.content_extraction_engine"),
    (
        "CONTENT_EXTRACTION_SUPPORTED_MEDIA_MIME_TYPES",
        "rag.content_extraction.supported_media_mime_types",
    ),
    ("PDF_EXTRACT_IMAGES", "rag.pdf_extract_images"),
    ("PDF_LOADER_MODE", "rag.pdf_loader_mode"),
    ("DATALAB_MARKER_API_KEY", "rag.datalab_marker_api_key"),
    (
        "DATALAB_MARKER_API_BASE_URL",
        "rag.datalab_marker_api_base_url",
    ),
    (
        "DATALAB_MARKER_ADDITIONAL_CONFIG",
        "rag.datalab_marker_additional_config",
    ),
    ("DATALAB_MARKER_SKIP_CACHE", "rag.datalab_marker_skip_cache"),
    ("DATALAB_MARKER_FORCE_OCR", "rag.datalab_marker_force_ocr"),
    ("DATALAB_MARKER_PAGINATE", "rag.datalab_marker_paginate"),
    (
        "DATALAB_MARKER_STRIP_EXISTING_OCR",
        "rag.datalab_marker_strip_existing_ocr",
    ),
    (
        "DATALAB_MARKER_DISABLE_IMAGE_EXTRACTION",
        "rag.datalab_marker_disable_image_extraction",
    ),
    (
        "DATALAB_MARKER_FORMAT_LINES",
        "rag.datalab_marker_format_lines",
    ),
    ("DATALAB_MARKER_USE_LLM", "rag.datalab_marker_use_llm"),
    (
        "DATALAB_MARKER_OUTPUT_FORMAT",
        "rag.datalab_marker_output_format",
    ),
    (
        "EXTERNAL_DOCUMENT_LOADER_URL",
        "rag.external_document_loader_url",
    ),
    (
        "EXTERNAL_DOCUMENT_LOADER_API_KEY",
        "rag.external_document_loader_api_key",
    ),
    (
        "EXTERNAL_DOCUMENT_LOADER_HEADERS",
        "rag.external_document_loader_headers",
    ),
    ("TIKA_SERVER_URL", "rag.tika_server_url"),
    ("TIKA_SERVER_VERSION", "rag.tika_server_version"),
    ("DOCLING_SERVER_URL", "rag.docling_server_url"),
    ("DOCLING_API_KEY", "rag.docling_api_key"),
    ("DOCLING_PARAMS", "rag.docling_params"),
    (
        "DOCUMENT_INTELLIGENCE_ENDPOINT",
        "rag.document_intelligence_endpoint",
    ),
    ("DOCUMENT_INTELLIGENCE_KEY", "rag.document_intelligence_key"),
    (
        "DOCUMENT_INTELLIGENCE_MODEL",
        "rag.document_intelligence_model",
    ),
    ("MISTRAL_OCR_API_BASE_URL", "rag.mistral_ocr_api_base_url"),
    ("MISTRAL_OCR_API_KEY", "rag.mistral_ocr_api_key"),
    ("MISTRAL_OCR_USE_BASE64", "rag.mistral_ocr_use_base64"),
    ("PADDLEOCR_VL_BASE_URL", "rag.paddleocr_vl_base_url"),
    ("PADDLEOCR_VL_TOKEN", "rag.paddleocr_vl_token"),
    ("MINERU_API_MODE", "rag.mineru_api_mode"),
    ("MINERU_API_URL", "rag.mineru_api_url"),
    ("MINERU_API_KEY", "rag.mineru_api_key"),
    ("MINERU_API_TIMEOUT", "rag.mineru_api_timeout"),
    ("MINERU_PARAMS", "rag.mineru_params"),
    ("MINERU_FILE_EXTENSIONS", "rag.mineru_file_extensions"),
    ("RAG_RERANKING_MODEL", "rag.reranking_model"),
    ("RAG_RERANKING_ENGINE", "rag.reranking_engine"),
    ("RAG_RERANKING_BATCH_SIZE", "rag.reranking_batch_size"),
    ("RAG_EXTERNAL_RERANKER_URL", "rag.external_reranker_url"),
    (
        "RAG_EXTERNAL_RERANKER_API_KEY",
        "rag.external_reranker_api_key",
    ),
    (
        "RAG_EXTERNAL_RERANKER_TIMEOUT",
        "rag.external_reranker_timeout",
    ),
    ("TEXT_SPLITTER", "rag.text_splitter"),
    ("RAG_TOKENIZER_MODEL", "rag.tokenizer_model"),
    (
        "ENABLE_MARKDOWN_HEADER_TEXT_SPLITTER",
        "rag.enable_markdown_header_text_splitter",
    ),
    ("CHUNK_SIZE", "rag.chunk_size"),
    ("CHUNK_MIN_SIZE_TARGET", "rag.chunk_min_size_target"),
    ("CHUNK_OVERLAP", "rag.chunk_overlap"),
    ("FILE_MAX_SIZE", "rag.file.max_size"),
    ("FILE_MAX_COUNT", "rag.file.max_count"),
    (
        "FILE_IMAGE_COMPRESSION_WIDTH",
        "file.image_compression_width",
    ),
    (
        "FILE_IMAGE_COMPRESSION_HEIGHT",
        "file.image_compression_height",
    ),
    ("ALLOWED_FILE_EXTENSIONS", "rag.file.allowed_extensions"),
    ("ENABLE_GOOGLE_DRIVE_INTEGRATION", "google_drive.enable"),
    ("ENABLE_ONEDRIVE_INTEGRATION", "onedrive.enable"),
];

/// The `web` sub-object.
const WEB: &[(&str, &str)] = &[
    ("ENABLE_WEB_SEARCH", "web.search.enable"),
    (
        "ENABLE_WEB_SEARCH_CONFIRMATION",
        "web.search.confirmation.enable",
    ),
    (
        "WEB_SEARCH_CONFIRMATION_CONTENT",
        "web.search.confirmation.content",
    ),
    ("WEB_SEARCH_ENGINE", "web.search.engine"),
    ("WEB_SEARCH_TRUST_ENV", "web.search.trust_env"),
    ("WEB_SEARCH_RESULT_COUNT", "web.search.result_count"),
    (
        "WEB_SEARCH_CONCURRENT_REQUESTS",
        "web.search.concurrent_requests",
    ),
    (
        "WEB_FETCH_MAX_CONTENT_LENGTH",
        "web.fetch.max_content_length",
    ),
    (
        "WEB_LOADER_CONCURRENT_REQUESTS",
        "web.loader.concurrent_requests",
    ),
    (
        "WEB_SEARCH_DOMAIN_FILTER_LIST",
        "web.search.domain.filter_list",
    ),
    (
        "BYPASS_WEB_SEARCH_EMBEDDING_AND_RETRIEVAL",
        "web.search.bypass_embedding_and_retrieval",
    ),
    (
        "BYPASS_WEB_SEARCH_WEB_LOADER",
        "web.search.bypass_web_loader",
    ),
    (
        "OLLAMA_CLOUD_WEB_SEARCH_API_KEY",
        "web.search.ollama_cloud_api_key",
    ),
    ("SEARXNG_QUERY_URL", "web.search.searxng_query_url"),
    ("SEARXNG_LANGUAGE", "web.search.searxng_language"),
    ("OPENSERP_BASE_URL", "web.search.openserp_base_url"),
    ("YACY_QUERY_URL", "web.search.yacy_query_url"),
    ("YACY_USERNAME", "web.search.yacy_username"),
    ("YACY_PASSWORD", "web.search.yacy_password"),
    ("GOOGLE_PSE_API_KEY", "web.search.google_pse_api_key"),
    ("GOOGLE_PSE_ENGINE_ID", "web.search.google_pse_engine_id"),
    ("BRAVE_SEARCH_API_KEY", "web.search.brave_search_api_key"),
    (
        "BRAVE_SEARCH_CONTEXT_TOKENS",
        "web.search.brave_search_context_tokens",
    ),
    ("KAGI_SEARCH_API_KEY", "web.search.kagi_search_api_key"),
    ("MOJEEK_SEARCH_API_KEY", "web.search.mojeek_search_api_key"),
    ("BOCHA_SEARCH_API_KEY", "web.search.bocha_search_api_key"),
    ("SERPSTACK_API_KEY", "web.search.serpstack_api_key"),
    ("SERPSTACK_HTTPS", "web.search.serpstack_https"),
    ("SERPER_API_KEY", "web.search.serper_api_key"),
    ("SERPHOUSE_API_KEY", "web.search.serphouse_api_key"),
    ("SERPHOUSE_DOMAIN", "web.search.serphouse_domain"),
    ("SERPLY_API_KEY", "web.search.serply_api_key"),
    ("DDGS_BACKEND", "web.search.ddgs_backend"),
    ("TAVILY_API_KEY", "web.search.tavily_api_key"),
    ("STAAN_API_KEY", "web.search.staan_api_key"),
    ("STAAN_MARKET", "web.search.staan_market"),
    ("STAAN_MAX_SNIPPETS", "web.search.staan_max_snippets"),
    ("SEARCHAPI_API_KEY", "web.search.searchapi_api_key"),
    ("SEARCHAPI_ENGINE", "web.search.searchapi_engine"),
    ("SERPAPI_API_KEY", "web.search.serpapi_api_key"),
    ("SERPAPI_ENGINE", "web.search.serpapi_engine"),
    ("JINA_API_KEY", "web.search.jina_api_key"),
    ("JINA_API_BASE_URL", "web.search.jina_api_base_url"),
    (
        "BING_SEARCH_V7_ENDPOINT",
        "web.search.bing_search_v7_endpoint",
    ),
    (
        "BING_SEARCH_V7_SUBSCRIPTION_KEY",
        "web.search.bing_search_v7_subscription_key",
    ),
    ("EXA_API_KEY", "web.search.exa_api_key"),
    (
        "EXA_MAX_CONTENT_LENGTH",
        "web.search.exa_max_content_length",
    ),
    ("PERPLEXITY_API_KEY", "web.search.perplexity_api_key"),
    ("PERPLEXITY_MODEL", "web.search.perplexity_model"),
    (
        "PERPLEXITY_SEARCH_CONTEXT_USAGE",
        "web.search.perplexity_search_context_usage",
    ),
    (
        "PERPLEXITY_SEARCH_API_URL",
        "web.search.perplexity_search_api_url",
    ),
    (
        "MICROSOFT_WEB_IQ_API_BASE_URL",
        "web.search.microsoft_web_iq_api_base_url",
    ),
    (
        "MICROSOFT_WEB_IQ_API_KEY",
        "web.search.microsoft_web_iq_api_key",
    ),
    (
        "MICROSOFT_WEB_IQ_LANGUAGE",
        "web.search.microsoft_web_iq_language",
    ),
    ("SOUGOU_API_SID", "web.search.sougou_api_sid"),
    ("SOUGOU_API_SK", "web.search.sougou_api_sk"),
    ("WEB_LOADER_ENGINE", "web.loader.engine"),
    ("WEB_LOADER_TIMEOUT", "web.loader.timeout"),
    (
        "ENABLE_WEB_LOADER_SSL_VERIFICATION",
        "web.loader.ssl_verification",
    ),
    ("PLAYWRIGHT_WS_URL", "web.loader.playwright_ws_url"),
    ("PLAYWRIGHT_TIMEOUT", "web.loader.playwright_timeout"),
    ("FIRECRAWL_API_KEY", "web.loader.firecrawl_api_key"),
    ("FIRECRAWL_API_BASE_URL", "web.loader.firecrawl_api_url"),
    ("FIRECRAWL_TIMEOUT", "web.loader.firecrawl_timeout"),
    ("TAVILY_EXTRACT_DEPTH", "web.search.tavily_extract_depth"),
    ("TAVILY_SEARCH_DEPTH", "web.search.tavily_search_depth"),
    (
        "EXTERNAL_WEB_SEARCH_URL",
        "web.search.external_web_search_url",
    ),
    (
        "EXTERNAL_WEB_SEARCH_API_KEY",
        "web.search.external_web_search_api_key",
    ),
    (
        "EXTERNAL_WEB_LOADER_URL",
        "web.loader.external_web_loader_url",
    ),
    (
        "EXTERNAL_WEB_LOADER_API_KEY",
        "web.loader.external_web_loader_api_key",
    ),
    ("YOUTUBE_LOADER_LANGUAGE", "rag.youtube_loader_language"),
    ("YOUTUBE_LOADER_PROXY_URL", "rag.youtube_loader_proxy_url"),
    ("YANDEX_WEB_SEARCH_URL", "web.search.yandex_web_search_url"),
    (
        "YANDEX_WEB_SEARCH_API_KEY",
        "web.search.yandex_web_search_api_key",
    ),
    (
        "YANDEX_WEB_SEARCH_CONFIG",
        "web.search.yandex_web_search_config",
    ),
    ("YOUCOM_API_KEY", "web.search.youcom_api_key"),
    ("LINKUP_API_KEY", "web.search.linkup_api_key"),
    ("LINKUP_SEARCH_PARAMS", "web.search.linkup_search_params"),
];

/// `YOUTUBE_LOADER_TRANSLATION` lives in memory only, as upstream keeps it.
static YOUTUBE_TRANSLATION: std::sync::Mutex<Value> = std::sync::Mutex::new(Value::Null);

fn config_json(state: &AppState) -> Value {
    let mut out = Map::new();
    out.insert("status".into(), json!(true));
    for (field, key) in TOP {
        out.insert((*field).into(), state.config.get(key));
    }
    let mut web = Map::new();
    for (field, key) in WEB {
        web.insert((*field).into(), state.config.get(key));
        if *field == "YOUTUBE_LOADER_PROXY_URL" {
            let t = YOUTUBE_TRANSLATION
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            web.insert("YOUTUBE_LOADER_TRANSLATION".into(), t);
        }
    }
    out.insert("web".into(), Value::Object(web));
    Value::Object(out)
}

async fn get_config(State(state): State<AppState>, AdminUser(_): AdminUser) -> Json<Value> {
    Json(config_json(&state))
}

/// A value of the wrong JSON kind for its setting answers 422, as pydantic
/// would; `null` is accepted where the stored value may be null.
fn check_kind(state: &AppState, field: &str, key: &str, v: &Value) -> ApiResult<()> {
    let current = state.config.get(key);
    let ok = match (&current, v) {
        (_, Value::Null) => true,
        (Value::Bool(_), Value::Bool(_)) => true,
        (Value::Bool(_), _) => false,
        (Value::Number(_), Value::Number(_)) => true,
        (Value::Number(_), Value::String(s)) => s.trim().parse::<f64>().is_ok() || s.is_empty(),
        (Value::Number(_), _) => false,
        (Value::Array(_), Value::Array(_)) => true,
        (Value::Array(_), _) => false,
        (Value::Object(_), Value::Object(_)) => true,
        (Value::Object(_), _) => false,
        (Value::String(_), Value::String(_)) => true,
        (Value::String(_), Value::Number(_)) => true,
        (Value::String(_), _) => false,
        (Value::Null, _) => true,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::Validation(json!([{
            "type": "type_error",
            "loc": ["body", field],
            "msg": format!("Input has the wrong type for {field}"),
            "input": v,
        }])))
    }
}

async fn update_config(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let mut updates: Vec<(&'static str, Value)> = vec![];
    for (field, key) in TOP {
        let Some(v) = body.get(*field) else { continue };
        let mut v = v.clone();
        if matches!(
            *field,
            "FILE_MAX_SIZE"
                | "FILE_MAX_COUNT"
                | "FILE_IMAGE_COMPRESSION_WIDTH"
                | "FILE_IMAGE_COMPRESSION_HEIGHT"
        ) && v.as_str() == Some("")
        {
            updates.push((key, Value::Null));
            continue;
        }
        if v.is_null() {
            continue;
        }
        check_kind(&state, field, key, &v)?;
        if *field == "RAG_TOKENIZER_MODEL" {
            if let Some(s) = v.as_str() {
                v = json!(s.trim());
            }
        }
        if *field == "CONTENT_EXTRACTION_ENGINE" {
            let engine = v.as_str().unwrap_or("");
            if !engine.is_empty() && engine != state.config.get_str(key) {
                return Err(ApiError::bad_request(format!(
                    "The content extraction engine '{engine}' is not supported by this server; \
                     documents are extracted by the built-in extractor (leave the engine on Default)."
                )));
            }
        }
        updates.push((key, v));
    }
    if let Some(Value::Object(web)) = body.get("web") {
        for (field, key) in WEB {
            let Some(v) = web.get(*field) else { continue };
            if *field == "BRAVE_SEARCH_CONTEXT_TOKENS" && v.is_null() {
                continue;
            }
            check_kind(&state, field, key, v)?;
            updates.push((key, v.clone()));
        }
        if let Some(t) = web.get("YOUTUBE_LOADER_TRANSLATION") {
            *YOUTUBE_TRANSLATION
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = t.clone();
        }
    }
    if !updates.is_empty() {
        state.config.set_many(updates).await?;
    }
    Ok(Json(config_json(&state)))
}

fn embedding_json(state: &AppState) -> Value {
    let c = &state.config;
    json!({
        "status": true,
        "RAG_EMBEDDING_ENGINE": c.get("rag.embedding_engine"),
        "RAG_EMBEDDING_MODEL": c.get("rag.embedding_model"),
        "RAG_EMBEDDING_BATCH_SIZE": c.get("rag.embedding_batch_size"),
        "ENABLE_ASYNC_EMBEDDING": c.get("rag.enable_async_embedding"),
        "RAG_EMBEDDING_CONCURRENT_REQUESTS": c.get("rag.embedding_concurrent_requests"),
        "openai_config": {"url": c.get("rag.openai.api_base_url"), "key": c.get("rag.openai.api_key")},
        "ollama_config": {"url": c.get("rag.ollama.base_url"), "key": c.get("rag.ollama.api_key")},
        "azure_openai_config": {
            "url": c.get("rag.azure_openai.base_url"),
            "key": c.get("rag.azure_openai.api_key"),
            "version": c.get("rag.azure_openai.api_version"),
        },
    })
}

async fn get_embedding(State(state): State<AppState>, AdminUser(_): AdminUser) -> Json<Value> {
    Json(embedding_json(&state))
}

#[derive(Deserialize, Default)]
struct ConnForm {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct EmbeddingForm {
    RAG_EMBEDDING_ENGINE: String,
    RAG_EMBEDDING_MODEL: String,
    #[serde(default)]
    RAG_EMBEDDING_BATCH_SIZE: Option<i64>,
    #[serde(default)]
    ENABLE_ASYNC_EMBEDDING: Option<bool>,
    #[serde(default)]
    RAG_EMBEDDING_CONCURRENT_REQUESTS: Option<i64>,
    #[serde(default)]
    openai_config: Option<ConnForm>,
    #[serde(default)]
    ollama_config: Option<ConnForm>,
    #[serde(default)]
    azure_openai_config: Option<ConnForm>,
}

async fn update_embedding(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    JsonBody(f): JsonBody<EmbeddingForm>,
) -> ApiResult<Json<Value>> {
    let engine = f.RAG_EMBEDDING_ENGINE.trim().to_string();
    if !matches!(engine.as_str(), "" | "openai" | "ollama" | "azure_openai") {
        return Err(ApiError::bad_request(format!(
            "Unknown embedding engine '{engine}'. Use the built-in engine, openai, ollama or azure_openai."
        )));
    }
    let mut updates: Vec<(&'static str, Value)> = vec![
        ("rag.embedding_engine", json!(engine)),
        ("rag.embedding_model", json!(f.RAG_EMBEDDING_MODEL.trim())),
        (
            "rag.embedding_batch_size",
            json!(f.RAG_EMBEDDING_BATCH_SIZE.unwrap_or(1)),
        ),
        (
            "rag.enable_async_embedding",
            json!(f.ENABLE_ASYNC_EMBEDDING.unwrap_or(true)),
        ),
        (
            "rag.embedding_concurrent_requests",
            json!(f.RAG_EMBEDDING_CONCURRENT_REQUESTS.unwrap_or(0)),
        ),
    ];
    match engine.as_str() {
        "openai" => {
            if let Some(c) = f.openai_config {
                updates.push(("rag.openai.api_base_url", json!(c.url.unwrap_or_default())));
                updates.push(("rag.openai.api_key", json!(c.key.unwrap_or_default())));
            }
        }
        "ollama" => {
            if let Some(c) = f.ollama_config {
                updates.push(("rag.ollama.base_url", json!(c.url.unwrap_or_default())));
                updates.push(("rag.ollama.api_key", json!(c.key.unwrap_or_default())));
            }
        }
        "azure_openai" => {
            if let Some(c) = f.azure_openai_config {
                updates.push((
                    "rag.azure_openai.base_url",
                    json!(c.url.unwrap_or_default()),
                ));
                updates.push(("rag.azure_openai.api_key", json!(c.key.unwrap_or_default())));
                updates.push((
                    "rag.azure_openai.api_version",
                    json!(c.version.unwrap_or_default()),
                ));
            }
        }
        _ => {}
    }
    state.config.set_many(updates).await?;
    Ok(Json(embedding_json(&state)))
}

async fn require_collections(
    state: &AppState,
    caller: &Caller,
    names: &[String],
    perm: &str,
) -> ApiResult<()> {
    let allowed = filter_accessible_collections(state, caller, names, perm).await?;
    if allowed.len() != names.iter().collect::<std::collections::HashSet<_>>().len() {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    Ok(())
}

#[derive(Deserialize)]
struct ProcessFileForm {
    file_id: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    collection_name: Option<String>,
}

async fn process_file(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<ProcessFileForm>,
) -> ApiResult<Json<Value>> {
    let fid = form.file_id.clone();
    let file = state
        .db
        .read(move |c| files::get(c, &fid))
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    let perm = if form.content.is_some() {
        "write"
    } else {
        "read"
    };
    if !can_access_file(&state, &caller, &file, perm).await? {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    if let Some(c) = &form.collection_name {
        require_collections(&state, &caller, std::slice::from_ref(c), "write").await?;
    }
    let opts = IndexOpts {
        content: form.content.clone(),
        collection: form.collection_name.clone(),
    };
    let row = crate::rag::processing::process_file(&state, &caller, &file, opts)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(Json(json!({
        "status": true,
        "collection_name": form.collection_name.unwrap_or(crate::files::collection_of(&row.id)),
        "filename": row.filename,
        "content": row.content(),
    })))
}

#[derive(Deserialize)]
struct ProcessTextForm {
    name: String,
    content: String,
    #[serde(default)]
    collection_name: Option<String>,
}

async fn process_text(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<ProcessTextForm>,
) -> ApiResult<Json<Value>> {
    let collection = match &form.collection_name {
        Some(c) => {
            require_collections(&state, &caller, std::slice::from_ref(c), "write").await?;
            c.clone()
        }
        None => sha256_hex(&form.content),
    };
    let mut m = Map::new();
    m.insert("name".into(), json!(form.name));
    m.insert("created_by".into(), json!(caller.id()));
    m.insert("hash".into(), json!(sha256_hex(&form.content)));
    index_text(
        &state,
        &collection,
        &form.content,
        m,
        form.collection_name.is_none(),
    )
    .await?;
    Ok(Json(
        json!({"status": true, "collection_name": collection, "content": form.content}),
    ))
}

#[derive(Deserialize)]
struct UrlForm {
    url: String,
    #[serde(default)]
    collection_name: Option<String>,
}

async fn process_web(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(p): Params,
    JsonBody(form): JsonBody<UrlForm>,
) -> ApiResult<Json<Value>> {
    let process = query_bool(&p, "process", true)?;
    let overwrite = query_bool(&p, "overwrite", true)?;
    let content = fetch_page_text(&state, &form.url).await?;
    if !process {
        return Ok(Json(json!({"status": true, "content": content})));
    }
    let mut collection = match &form.collection_name {
        Some(c) if !c.is_empty() => {
            require_collections(&state, &caller, std::slice::from_ref(c), "write").await?;
            c.clone()
        }
        _ => sha256_hex(&form.url)[..63].to_string(),
    };
    if state
        .config
        .get_bool("web.search.bypass_embedding_and_retrieval")
    {
        collection = String::new();
    } else {
        let mut m = Map::new();
        m.insert("source".into(), json!(form.url));
        m.insert("name".into(), json!(form.url));
        m.insert("created_by".into(), json!(caller.id()));
        index_text(&state, &collection, &content, m, overwrite).await?;
    }
    Ok(Json(json!({
        "status": true,
        "collection_name": if collection.is_empty() { Value::Null } else { json!(collection) },
        "filename": form.url,
        "content": content,
        "file": {
            "data": {"content": content},
            "meta": {"name": form.url, "source": form.url},
        },
    })))
}

async fn process_youtube(VerifiedUser(_): VerifiedUser) -> ApiResult<Json<Value>> {
    Err(ApiError::NotImplemented(
        "YouTube transcripts are not supported by this server yet.".into(),
    ))
}

async fn web_search(VerifiedUser(_): VerifiedUser) -> ApiResult<Json<Value>> {
    Err(ApiError::NotImplemented(
        "Web search is not available on this server yet.".into(),
    ))
}

#[derive(Deserialize)]
struct BatchForm {
    files: Vec<Value>,
    collection_name: String,
}

async fn process_files_batch(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<BatchForm>,
) -> ApiResult<Json<Value>> {
    if !form.collection_name.is_empty() {
        require_collections(
            &state,
            &caller,
            std::slice::from_ref(&form.collection_name),
            "write",
        )
        .await?;
    }
    let mut results = vec![];
    let mut errors = vec![];
    for f in &form.files {
        let Some(fid) = f.get("id").and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        let id2 = fid.clone();
        let row = state.db.read(move |c| files::get(c, &id2)).await?;
        let fail = |e: &str| json!({"file_id": fid, "status": "failed", "error": e});
        let Some(row) = row else {
            errors.push(fail("File not found"));
            continue;
        };
        if row.user_id != caller.id() && !caller.is_admin() {
            errors.push(fail("Permission denied: not file owner"));
            continue;
        }
        let content = f
            .get("data")
            .and_then(|d| d.get("content"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let opts = IndexOpts {
            content,
            collection: Some(form.collection_name.clone()),
        };
        match index_file(&state, &caller, &row, opts).await {
            Ok(()) => results.push(json!({"file_id": fid, "status": "completed", "error": null})),
            Err(e) => errors.push(fail(&e)),
        }
    }
    Ok(Json(json!({"results": results, "errors": errors})))
}

#[derive(Deserialize)]
struct QueryDocForm {
    collection_name: String,
    query: String,
    #[serde(default)]
    k: Option<usize>,
    #[serde(default)]
    r: Option<f32>,
    #[serde(default)]
    hybrid: Option<bool>,
    #[serde(default)]
    hybrid_bm25_weight: Option<f32>,
}

fn query_opts(
    state: &AppState,
    k: Option<usize>,
    r: Option<f32>,
    hybrid: Option<bool>,
    w: Option<f32>,
) -> SearchOpts {
    let mut o = SearchOpts::from_config(state);
    if let Some(k) = k.filter(|k| *k > 0) {
        o.k = k;
    }
    // A huge `k` would size the search's candidate lists; see `limits::MAX_K`.
    o.k = o.k.min(crate::limits::MAX_K);
    o.hybrid = o.hybrid && hybrid.unwrap_or(true);
    if let Some(r) = r.filter(|r| *r != 0.0) {
        o.relevance_threshold = r;
    }
    if let Some(w) = w {
        o.bm25_weight = w;
    }
    o
}

async fn query_doc(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<QueryDocForm>,
) -> ApiResult<Json<Value>> {
    let names = vec![form.collection_name.clone()];
    require_collections(&state, &caller, &names, "read").await?;
    let opts = query_opts(&state, form.k, form.r, form.hybrid, form.hybrid_bm25_weight);
    let hits = state
        .rag
        .search(&state, &names, &form.query, &opts)
        .await
        .map_err(|e| ApiError::bad_request(format!("Error querying knowledge base: {e}")))?;
    Ok(Json(hits_to_result(&hits)))
}

#[derive(Deserialize)]
struct QueryCollectionForm {
    collection_names: Vec<String>,
    query: String,
    #[serde(default)]
    k: Option<usize>,
    #[serde(default)]
    r: Option<f32>,
    #[serde(default)]
    hybrid: Option<bool>,
    #[serde(default)]
    hybrid_bm25_weight: Option<f32>,
}

async fn query_collection(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<QueryCollectionForm>,
) -> ApiResult<Json<Value>> {
    require_collections(&state, &caller, &form.collection_names, "read").await?;
    let opts = query_opts(&state, form.k, form.r, form.hybrid, form.hybrid_bm25_weight);
    let hits = state
        .rag
        .search(&state, &form.collection_names, &form.query, &opts)
        .await
        .map_err(|e| ApiError::bad_request(format!("Error querying knowledge base: {e}")))?;
    Ok(Json(hits_to_result(&hits)))
}

#[derive(Deserialize)]
struct DeleteForm {
    collection_name: String,
    file_id: String,
}

async fn delete_entries(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    JsonBody(form): JsonBody<DeleteForm>,
) -> ApiResult<Json<Value>> {
    if !state.rag.has_collection(&form.collection_name).await {
        return Ok(Json(json!({"status": false})));
    }
    let fid = form.file_id.clone();
    let file = state
        .db
        .read(move |c| files::get(c, &fid))
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    let Some(hash) = file.hash.clone() else {
        return Err(ApiError::bad_request(
            "Something went wrong :/\nFile has no hash; cannot delete vector entries by hash.",
        ));
    };
    state
        .rag
        .delete_where(&form.collection_name, "hash", &hash)
        .await?;
    Ok(Json(json!({"status": true})))
}

async fn reset_db(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> ApiResult<Json<Value>> {
    crate::rag::knowledge::delete_all(&state).await?;
    Ok(Json(Value::Null))
}

async fn reset_uploads(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> ApiResult<Json<Value>> {
    crate::files::clear_uploads(&state).await;
    Ok(Json(json!(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_tables_have_unique_fields() {
        let mut seen = std::collections::HashSet::new();
        for (f, _) in TOP.iter().chain(WEB.iter()) {
            assert!(seen.insert(*f), "{f}");
        }
    }
}
