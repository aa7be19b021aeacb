//! The provider model list is cached for `MODELS_CACHE_TTL` (1 s): a model
//! added at the provider is listed once the list has expired, and a provider
//! that has become slow does not hold `/api/models` up for long: the stale
//! list is served after a short wait while the fetch goes on.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Provider {
    models: Arc<Mutex<Vec<String>>>,
    slow: Arc<AtomicBool>,
}

fn provider(p: Provider) -> Router {
    Router::new().route(
        "/v1/models",
        get(move || {
            let p = p.clone();
            async move {
                if p.slow.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_secs(6)).await;
                }
                let data: Vec<Value> = p
                    .models
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|id| json!({"id": id, "object": "model", "owned_by": "test"}))
                    .collect();
                Json(json!({"object": "list", "data": data}))
            }
        }),
    )
}

async fn listed(admin: &common::Client) -> Vec<String> {
    let r = admin.get("/api/models").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn an_expired_list_is_fetched_again_before_it_is_served() {
    let p = Provider::default();
    p.models.lock().unwrap().push("first".into());
    let base = common::serve(provider(p.clone())).await;
    let srv = common::TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    common::connect_openai(&admin, &format!("{base}/v1")).await;
    assert_eq!(listed(&admin).await, ["first"]);

    // Within the second the cached list stands; after it, the new model shows.
    p.models.lock().unwrap().push("second".into());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(listed(&admin).await, ["first", "second"]);

    // A provider gone slow: the stale list comes after a short wait.
    p.slow.store(true, Ordering::SeqCst);
    p.models.lock().unwrap().push("third".into());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let asked = Instant::now();
    assert_eq!(listed(&admin).await, ["first", "second"]);
    let waited = asked.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(5),
        "served after {waited:?}"
    );
    srv.stop().await;
}
