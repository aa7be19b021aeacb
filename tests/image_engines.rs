//! The Images settings page and self-hosted engines: "verify" asks
//! Automatic1111 (`/sdapi/v1/options`, Basic auth) or ComfyUI
//! (`/object_info`, bearer key) whether the address answers, and the model
//! picker lists Automatic1111's checkpoints or the choices of ComfyUI's
//! model node. Wrong keys, dead addresses and unknown engines are 400s.

mod common;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use common::{admin, Client, TestServer};
use serde_json::{json, Value};

/// `user:pw` as Basic auth.
const A1111_AUTH: &str = "Basic dXNlcjpwdw==";
const COMFY_KEY: &str = "comfy-key";

fn authorized(h: &HeaderMap, want: &str) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(want)
}

async fn engines() -> String {
    let app = Router::new()
        .route(
            "/sdapi/v1/options",
            get(|h: HeaderMap| async move {
                if authorized(&h, A1111_AUTH) {
                    (StatusCode::OK, Json(json!({"sd_model_checkpoint": "a"})))
                } else {
                    (StatusCode::UNAUTHORIZED, Json(json!({"detail": "no"})))
                }
            }),
        )
        .route(
            "/sdapi/v1/sd-models",
            get(|| async {
                Json(json!([
                    {"title": "v1-5.safetensors [abc]", "model_name": "v1-5"},
                    {"title": "sdxl.safetensors [def]", "model_name": "sdxl"},
                ]))
            }),
        )
        .route(
            "/object_info",
            get(|h: HeaderMap| async move {
                if !authorized(&h, &format!("Bearer {COMFY_KEY}")) {
                    return (StatusCode::UNAUTHORIZED, Json(json!({})));
                }
                (StatusCode::OK, Json(json!({
                    "CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["dream.safetensors"]]}}},
                    "UNETLoader": {"input": {"required": {"unet_name": [["flux-dev.safetensors"]]}}},
                })))
            }),
        );
    common::serve(app).await
}

async fn save_images(admin: &Client, changes: Value) {
    let mut form = admin.get("/api/v1/images/config").await.body;
    for (k, v) in changes.as_object().unwrap() {
        form[k] = v.clone();
    }
    let saved = admin.post("/api/v1/images/config/update", form).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
}

#[tokio::test]
async fn self_hosted_engines_are_verified_and_list_their_models() {
    let base = engines().await;
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let verify = |engine: &str, url: &str, key: &str| json!({"engine": engine, "url": format!("{url}/"), "key": key});
    let r = admin
        .post(
            "/api/v1/images/verify",
            verify("automatic1111", &base, "user:pw"),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.body.clone()), (200, json!(true)));
    let r = admin
        .post(
            "/api/v1/images/verify",
            verify("automatic1111", &base, "user:wrong"),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = admin
        .post("/api/v1/images/verify", verify("comfyui", &base, COMFY_KEY))
        .await;
    assert_eq!((r.status.as_u16(), r.body.clone()), (200, json!(true)));
    let r = admin
        .post(
            "/api/v1/images/verify",
            verify("comfyui", "http://127.0.0.1:1", COMFY_KEY),
        )
        .await;
    assert_eq!(r.status, 400, "a dead address: {}", r.body);
    let r = admin
        .post("/api/v1/images/verify", verify("openai", &base, "k"))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let user = common::add_user(&srv, &admin, "deckhand").await;
    let r = user
        .post("/api/v1/images/verify", verify("comfyui", &base, COMFY_KEY))
        .await;
    assert_eq!(r.status, 401, "{}", r.body);

    save_images(
        &admin,
        json!({"IMAGE_GENERATION_ENGINE": "automatic1111", "AUTOMATIC1111_BASE_URL": base,
               "AUTOMATIC1111_API_AUTH": "user:pw"}),
    )
    .await;
    let r = user.get("/api/v1/images/models").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!([{"id": "v1-5.safetensors [abc]", "name": "v1-5"},
               {"id": "sdxl.safetensors [def]", "name": "sdxl"}])
    );

    save_images(
        &admin,
        json!({"IMAGE_GENERATION_ENGINE": "comfyui", "COMFYUI_BASE_URL": base, "COMFYUI_API_KEY": COMFY_KEY,
               "COMFYUI_WORKFLOW": "{\"4\": {\"class_type\": \"UNETLoader\", \"inputs\": {}}}",
               "COMFYUI_WORKFLOW_NODES": [{"type": "model", "key": "unet_name", "node_ids": ["4"]}]}),
    )
    .await;
    let r = user.get("/api/v1/images/models").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!([{"id": "flux-dev.safetensors", "name": "flux-dev.safetensors"}])
    );

    save_images(&admin, json!({"COMFYUI_API_KEY": "wrong"})).await;
    let r = user.get("/api/v1/images/models").await;
    assert_eq!(r.status, 400, "{}", r.body);
}
