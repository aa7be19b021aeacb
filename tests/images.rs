//! Image generation and editing over real HTTP, against local stand-ins for
//! an OpenAI-style images API and the Gemini API: switches, the permission,
//! what the engine is sent, and the stored picture the caller gets back.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::HeaderMap;
use base64::Engine as _;
use common::{add_user, admin, Client, TestServer};
use serde_json::{json, Value};

const PNG_B64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";
const GEMINI_KEY: &str = "gemini-test-key";

use common::{received_at as calls, Inbox as Log, Received as Seen};

/// A stand-in answering OpenAI's `/images/generations` and `/images/edits`
/// and Gemini's `/v1beta/models/{model:method}` (only for [`GEMINI_KEY`]).
async fn engine() -> (String, Log) {
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let drawn = json!({"data": [{"b64_json": PNG_B64}]});
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let (d1, d2) = (drawn.clone(), drawn);
    let app = axum::Router::new()
        .route(
            "/images/generations",
            axum::routing::post(move |h: HeaderMap, b: Bytes| {
                let (l, d) = (l1.clone(), d1.clone());
                async move {
                    l.lock().unwrap().push(Seen {
                        path: "/images/generations".into(),
                        headers: h,
                        body: b,
                    });
                    axum::Json(d)
                }
            }),
        )
        .route(
            "/images/edits",
            axum::routing::post(move |h: HeaderMap, b: Bytes| {
                let (l, d) = (l2.clone(), d2.clone());
                async move {
                    l.lock().unwrap().push(Seen {
                        path: "/images/edits".into(),
                        headers: h,
                        body: b,
                    });
                    axum::Json(d)
                }
            }),
        )
        .route(
            "/v1beta/models/{call}",
            axum::routing::post(move |Path(call): Path<String>, h: HeaderMap, b: Bytes| {
                let l = l3.clone();
                async move {
                    let ok = h.get("x-goog-api-key").and_then(|v| v.to_str().ok()) == Some(GEMINI_KEY);
                    l.lock().unwrap().push(Seen {
                        path: format!("/v1beta/models/{call}"),
                        headers: h,
                        body: b,
                    });
                    if !ok {
                        return (
                            axum::http::StatusCode::FORBIDDEN,
                            axum::Json(json!({"error": {"message": "API key not valid"}})),
                        );
                    }
                    let answer = if call.ends_with(":predict") {
                        json!({"predictions": [{"bytesBase64Encoded": PNG_B64, "mimeType": "image/png"}]})
                    } else {
                        json!({"candidates": [{"content": {"parts": [
                            {"text": "here"},
                            {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}
                        ]}}]})
                    };
                    (axum::http::StatusCode::OK, axum::Json(answer))
                }
            }),
        );
    (common::serve(app).await, log)
}

async fn save_images(admin: &Client, changes: Value) {
    let current = admin.get("/api/v1/images/config").await;
    assert_eq!(current.status, 200, "{}", current.body);
    let mut form = current.body;
    for (k, v) in changes.as_object().unwrap() {
        form[k] = v.clone();
    }
    let saved = admin.post("/api/v1/images/config/update", form).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
}

fn openai_settings(base: &str) -> Value {
    json!({
        "ENABLE_IMAGE_GENERATION": true,
        "IMAGE_GENERATION_ENGINE": "openai",
        "IMAGE_GENERATION_MODEL": "dall-e-2",
        "IMAGE_SIZE": "512x512",
        "IMAGES_OPENAI_API_BASE_URL": base,
        "IMAGES_OPENAI_API_KEY": "sk-images",
        "ENABLE_IMAGE_EDIT": true,
        "IMAGE_EDIT_ENGINE": "openai",
        "IMAGE_EDIT_MODEL": "dall-e-2",
        "IMAGES_EDIT_OPENAI_API_BASE_URL": base,
        "IMAGES_EDIT_OPENAI_API_KEY": "sk-images",
    })
}

async fn content_of(c: &Client, url: &str) -> Vec<u8> {
    let r = c
        .http
        .get(format!("{}{}", c.base, url))
        .bearer_auth(c.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

fn png() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(PNG_B64)
        .unwrap()
}

#[tokio::test]
async fn a_user_draws_and_gets_the_stored_picture() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let user = add_user(&srv, &admin, "Painter").await;
    let (base, log) = engine().await;
    save_images(&admin, openai_settings(&base)).await;

    let r = user
        .post(
            "/api/v1/images/generations",
            json!({"prompt": "a lighthouse", "n": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let images = r.body.as_array().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0]["content_type"], "image/png");
    let url = images[0]["url"].as_str().unwrap();
    assert_eq!(content_of(&user, url).await, png());

    let [call] = calls(&log, "/images/generations").try_into().unwrap();
    assert_eq!(
        call.headers.get("authorization").unwrap(),
        "Bearer sk-images"
    );
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(sent["model"], "dall-e-2");
    assert_eq!(sent["prompt"], "a lighthouse");
    assert_eq!(sent["n"], 1);
    assert_eq!(sent["size"], "512x512");
    assert_eq!(sent["response_format"], "b64_json");

    // The picture is the user's file: listed for them, hidden from others.
    let listed = user.get("/api/v1/files/").await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        listed.body
    );
    let other = add_user(&srv, &admin, "Other").await;
    let peek = other.get(url).await;
    assert!(peek.status.is_client_error(), "{}", peek.status);
}

#[tokio::test]
async fn switches_and_the_permission_refuse_before_the_engine_is_called() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let user = add_user(&srv, &admin, "Painter").await;
    let (base, log) = engine().await;
    let mut settings = openai_settings(&base);
    settings["ENABLE_IMAGE_GENERATION"] = json!(false);
    settings["ENABLE_IMAGE_EDIT"] = json!(false);
    save_images(&admin, settings).await;
    let edit = json!({"image": format!("data:image/png;base64,{PNG_B64}"), "prompt": "blue"});

    for c in [&admin, &user] {
        let r = c
            .post("/api/v1/images/generations", json!({"prompt": "x"}))
            .await;
        assert_eq!(r.status, 403, "{}", r.body);
        let r = c.post("/api/v1/images/edit", edit.clone()).await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    assert!(log.lock().unwrap().is_empty());

    // Switched on, but users lose the permission: they are refused, admins draw.
    save_images(&admin, openai_settings(&base)).await;
    common::set_default_permission(&admin, "features.image_generation", false).await;
    let r = user
        .post("/api/v1/images/generations", json!({"prompt": "x"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = user.post("/api/v1/images/edit", edit.clone()).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(log.lock().unwrap().is_empty());
    let r = admin
        .post("/api/v1/images/generations", json!({"prompt": "x"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(calls(&log, "/images/generations").len(), 1);

    // Bad input is a 4xx, not a call.
    let r = admin
        .post("/api/v1/images/generations", json!({"prompt": "  "}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = admin.post("/api/v1/images/generations", json!({})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = admin
        .post(
            "/api/v1/images/edit",
            json!({"image": "data:image/png;base64,@@@", "prompt": "x"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(calls(&log, "/images/generations").len(), 1);
    assert!(calls(&log, "/images/edits").is_empty());
}

#[tokio::test]
async fn an_edit_sends_the_picture_as_multipart_and_foreign_files_are_refused() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let user = add_user(&srv, &admin, "Painter").await;
    let other = add_user(&srv, &admin, "Other").await;
    let (base, log) = engine().await;
    save_images(&admin, openai_settings(&base)).await;

    let r = user
        .post(
            "/api/v1/images/edit",
            json!({"image": format!("data:image/png;base64,{PNG_B64}"), "prompt": "make it blue"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let [call] = calls(&log, "/images/edits").try_into().unwrap();
    let ct = call
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("multipart/form-data"), "{ct}");
    let body = String::from_utf8_lossy(&call.body);
    assert!(body.contains("name=\"prompt\""), "{body}");
    assert!(body.contains("make it blue"));
    assert!(body.contains("name=\"image\""));
    assert!(call
        .body
        .windows(png().len())
        .any(|w| w == png().as_slice()));

    // The result is the user's file; another account cannot edit it by id.
    let id = r.body[0]["id"].as_str().unwrap().to_string();
    let r = other
        .post(
            "/api/v1/images/edit",
            json!({"image": format!("/api/v1/files/{id}/content"), "prompt": "mine now"}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = user
        .post(
            "/api/v1/images/edit",
            json!({"image": [id.clone(), format!("/api/v1/files/{id}/content")], "prompt": "twice"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let last = calls(&log, "/images/edits").pop().unwrap();
    let body = String::from_utf8_lossy(&last.body);
    assert_eq!(body.matches("name=\"image[]\"").count(), 2, "{body}");
}

#[tokio::test]
async fn gemini_predict_generate_content_and_a_refused_key() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let user = add_user(&srv, &admin, "Painter").await;
    let (base, log) = engine().await;
    let gemini = json!({
        "ENABLE_IMAGE_GENERATION": true,
        "IMAGE_GENERATION_ENGINE": "gemini",
        "IMAGE_GENERATION_MODEL": "imagen-4.0-generate-001",
        "IMAGES_GEMINI_API_BASE_URL": format!("{base}/v1beta"),
        "IMAGES_GEMINI_API_KEY": GEMINI_KEY,
        "IMAGES_GEMINI_ENDPOINT_METHOD": "predict",
        "ENABLE_IMAGE_EDIT": true,
        "IMAGE_EDIT_ENGINE": "gemini",
        "IMAGE_EDIT_MODEL": "gemini-2.5-flash-image",
        "IMAGES_EDIT_GEMINI_API_BASE_URL": format!("{base}/v1beta"),
        "IMAGES_EDIT_GEMINI_API_KEY": GEMINI_KEY,
    });
    save_images(&admin, gemini.clone()).await;

    let r = user
        .post("/api/v1/images/generations", json!({"prompt": "a kite"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        content_of(&user, r.body[0]["url"].as_str().unwrap()).await,
        png()
    );
    let [call] = calls(&log, "/v1beta/models/imagen-4.0-generate-001:predict")
        .try_into()
        .unwrap();
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(sent["instances"], json!({"prompt": "a kite"}));
    assert_eq!(sent["parameters"]["sampleCount"], 1);

    let r = user
        .post(
            "/api/v1/images/edit",
            json!({"image": format!("data:image/png;base64,{PNG_B64}"), "prompt": "blue"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let [call] = calls(
        &log,
        "/v1beta/models/gemini-2.5-flash-image:generateContent",
    )
    .try_into()
    .unwrap();
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(
        sent["contents"][0]["parts"],
        json!([{"text": "blue"}, {"inline_data": {"mime_type": "image/png", "data": PNG_B64}}])
    );

    let mut revoked = gemini;
    revoked["IMAGES_GEMINI_API_KEY"] = json!("revoked");
    save_images(&admin, revoked).await;
    let r = user
        .post("/api/v1/images/generations", json!({"prompt": "a kite"}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("API key not valid"),
        "{}",
        r.body
    );
}

/// The chat's "Image" switch: the engine draws the user's message before the
/// model answers, the picture lands in the reply's `files`, the model is told;
/// a picture already in the conversation is edited instead; with generation
/// switched off nothing is drawn.
#[tokio::test]
async fn the_chat_image_switch_draws_or_edits_into_the_reply() {
    let llm = common::mock_llm::MockLlm::openai(&["gpt-mock"]).await;
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    common::connect_openai(&admin, &llm.url).await;
    let (base, log) = engine().await;

    let turn = |files: Value| {
        let admin = admin.with_token(admin.token.as_deref().unwrap());
        async move {
            let history = json!({"currentId": "a", "messages": {
                "u": {"id": "u", "role": "user", "content": "a red boat", "files": files,
                      "childrenIds": ["a"], "parentId": null, "timestamp": 1},
                "a": {"id": "a", "role": "assistant", "content": "", "parentId": "u",
                      "childrenIds": [], "model": "gpt-mock", "done": false, "timestamp": 2}}});
            let created = admin
                .post(
                    "/api/v1/chats/new",
                    json!({"chat": {"title": "Draw", "models": ["gpt-mock"], "history": history}}),
                )
                .await;
            let id = created.body["id"].as_str().unwrap().to_string();
            let r = admin
                .post(
                    "/api/chat/completions",
                    json!({"model": "gpt-mock", "stream": true, "chat_id": id, "id": "a",
                           "messages": [{"role": "user", "content": "a red boat"}],
                           "features": {"image_generation": true},
                           "background_tasks": {"title_generation": false, "tags_generation": false}}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            admin.get(&format!("/api/v1/chats/{id}")).await.body["chat"]["history"]["messages"]["a"]
                .clone()
        }
    };

    save_images(&admin, openai_settings(&base)).await;
    let reply = turn(json!([])).await;
    let [call] = calls(&log, "/images/generations").try_into().unwrap();
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(sent["prompt"], "a red boat");
    assert_eq!(reply["files"][0]["type"], "image", "{reply}");
    let url = reply["files"][0]["url"].as_str().unwrap();
    assert_eq!(content_of(&admin, url).await, png());
    assert_eq!(
        reply["statusHistory"].as_array().unwrap().len(),
        2,
        "{reply}"
    );
    let asked = llm.chat_requests().pop().unwrap().body;
    assert!(
        asked.to_string().contains("<context>"),
        "the model is told: {asked}"
    );
    assert_eq!(reply["content"], "Hello from the mock.");

    // A picture in the conversation is edited, even with generation off.
    let mut off = openai_settings(&base);
    off["ENABLE_IMAGE_GENERATION"] = json!(false);
    save_images(&admin, off).await;
    let picture = json!([{"type": "image", "url": format!("data:image/png;base64,{PNG_B64}")}]);
    let reply = turn(picture).await;
    assert_eq!(calls(&log, "/images/edits").len(), 1);
    assert_eq!(reply["files"][0]["type"], "image", "{reply}");
    // Without a picture and with generation off, nothing is drawn.
    let reply = turn(json!([])).await;
    assert_eq!(calls(&log, "/images/generations").len(), 1);
    assert!(
        reply
            .get("files")
            .is_none_or(|f| f.as_array().is_none_or(|a| a.is_empty())),
        "{reply}"
    );
}

/// A drawing model mentioned in a channel: the picture it makes is stored on
/// its channel message (type `image`, with the file's id and name) and the
/// file is registered with the channel.
#[tokio::test]
async fn a_picture_drawn_in_a_channel_is_kept_on_the_models_message() {
    let llm = common::mock_llm::MockLlm::openai(&["gpt-mock"]).await;
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    common::connect_openai(&admin, &llm.url).await;
    let (base, log) = engine().await;
    save_images(&admin, openai_settings(&base)).await;
    common::enable_channels(&srv).await;
    let state = srv.state.clone().unwrap();
    let painter = json!({"id": "painter", "name": "Painter", "base_model_id": "gpt-mock",
        "meta": {"capabilities": {"image_generation": true}, "defaultFeatureIds": ["image_generation"]},
        "params": {}});
    let r = admin.post("/api/v1/models/create", painter).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin
        .post("/api/v1/channels/create", json!({"name": "studio"}))
        .await;
    let ch = r.body["id"].as_str().unwrap().to_string();
    let r = admin
        .post(
            &format!("/api/v1/channels/{ch}/messages/post"),
            json!({"content": "<@M:painter|Painter> a red boat"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let asked = r.body["id"].as_str().unwrap().to_string();
    let mut reply = Value::Null;
    for _ in 0..200 {
        let t = admin
            .get(&format!("/api/v1/channels/{ch}/messages/{asked}/thread"))
            .await;
        if let Some(m) = t.body.as_array().and_then(|a| {
            a.iter()
                .find(|m| m["meta"]["model_id"] == "painter" && m["meta"]["done"] == true)
        }) {
            reply = m.clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(reply.is_object(), "the painter never finished");
    assert_eq!(calls(&log, "/images/generations").len(), 1);
    let id = reply["id"].as_str().unwrap();
    let data = admin
        .get(&format!("/api/v1/channels/{ch}/messages/{id}/data"))
        .await;
    let files = data.body["files"].as_array().cloned().unwrap_or_default();
    assert_eq!(files.len(), 1, "{}", data.body);
    assert_eq!(files[0]["type"], "image");
    let file_id = files[0]["id"].as_str().unwrap().to_string();
    assert_eq!(files[0]["url"], json!(file_id));
    assert_eq!(files[0]["name"], "generated-image.png");
    let linked: String = state
        .db
        .read(move |c| {
            c.query_row(
                "SELECT message_id FROM channel_file WHERE file_id = ?1",
                [file_id],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    assert_eq!(linked, id);
}

/// Native function calling: with the chat's image switch on, the model is
/// offered `generate_image` and `edit_image`; what they make is stored on
/// the reply and the model is told it is shown. Without the switch (or with
/// editing off) the tools are not offered.
#[tokio::test]
async fn the_picture_tools_draw_and_edit_into_the_reply() {
    let (_srv, admin, script) = common::scripted::server_with_script().await;
    let (base, log) = engine().await;
    save_images(&admin, openai_settings(&base)).await;
    let ask = |features: Value| {
        let admin = admin.with_token(admin.token.as_deref().unwrap());
        async move {
            let history = json!({"currentId": "a", "messages": {
                "u": {"id": "u", "role": "user", "content": "boats", "childrenIds": ["a"],
                      "parentId": null, "timestamp": 1},
                "a": {"id": "a", "role": "assistant", "content": "", "parentId": "u",
                      "childrenIds": [], "model": "mock-gpt", "done": false, "timestamp": 2}}});
            let created = admin
                .post(
                    "/api/v1/chats/new",
                    json!({"chat": {"title": "Boats", "models": ["mock-gpt"], "history": history}}),
                )
                .await;
            let id = created.body["id"].as_str().unwrap().to_string();
            let r = admin
                .post(
                    "/api/chat/completions",
                    json!({"model": "mock-gpt", "stream": true, "chat_id": id, "id": "a",
                           "session_id": "no-socket",
                           "messages": [{"role": "user", "content": "boats"}],
                           "params": {"function_calling": "native"}, "features": features,
                           "background_tasks": {"title_generation": false, "tags_generation": false}}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            // A browser turn runs in the background: wait until it is stored.
            for _ in 0..200 {
                let chat = admin.get(&format!("/api/v1/chats/{id}")).await;
                let reply = chat.body["chat"]["history"]["messages"]["a"].clone();
                if reply["done"] == true {
                    return reply;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("the reply never finished")
        }
    };
    let photo = format!("data:image/png;base64,{PNG_B64}");
    script.queue(json!({"calls": [["c1", "generate_image", r#"{"prompt": "a red boat"}"#]]}));
    let edit = json!({"prompt": "make it blue", "image_urls": [photo]}).to_string();
    script.queue(json!({"calls": [["c2", "edit_image", edit]]}));
    script.queue(json!({"text": "Both are ready."}));
    let reply = ask(json!({"image_generation": true})).await;
    assert_eq!(reply["content"], "Both are ready.", "{reply}");
    let files = reply["files"].as_array().cloned().unwrap_or_default();
    assert_eq!(files.len(), 2, "{reply}");
    for f in &files {
        assert_eq!(f["type"], "image");
        let url = f["url"].as_str().unwrap();
        assert!(url.starts_with("/api/v1/files/"), "{url}");
        assert_eq!(content_of(&admin, url).await, png());
    }
    assert_eq!(calls(&log, "/images/generations").len(), 1);
    assert_eq!(calls(&log, "/images/edits").len(), 1);
    let requests = script.requests();
    let offered = common::scripted::tool_names(&requests[0]);
    assert!(
        offered.contains(&"generate_image".to_string()),
        "{offered:?}"
    );
    assert!(offered.contains(&"edit_image".to_string()), "{offered:?}");
    let told = requests[1]["messages"].to_string();
    assert!(told.contains("already shown"), "{told}");

    // A bad call is a result the model reads, not a failed chat.
    script.queue(json!({"calls": [["c3", "edit_image", r#"{"prompt": "x", "image_urls": []}"#]]}));
    script.queue(json!({"text": "Sorry."}));
    let reply = ask(json!({"image_generation": true})).await;
    assert_eq!(reply["content"], "Sorry.", "{reply}");
    let told = script.requests().last().unwrap()["messages"].to_string();
    assert!(told.contains("image_urls must list"), "{told}");

    // Switch off: no picture tools; editing off: only drawing.
    script.queue(json!({"text": "ok"}));
    ask(json!({})).await;
    let offered = common::scripted::tool_names(script.requests().last().unwrap());
    assert!(
        !offered.iter().any(|n| n.ends_with("_image")),
        "{offered:?}"
    );
    let mut no_edit = openai_settings(&base);
    no_edit["ENABLE_IMAGE_EDIT"] = json!(false);
    save_images(&admin, no_edit).await;
    script.queue(json!({"text": "ok"}));
    ask(json!({"image_generation": true})).await;
    let offered = common::scripted::tool_names(script.requests().last().unwrap());
    assert!(
        offered.contains(&"generate_image".to_string()),
        "{offered:?}"
    );
    assert!(!offered.contains(&"edit_image".to_string()), "{offered:?}");
}
