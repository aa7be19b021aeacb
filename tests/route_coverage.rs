//! Which routes the official frontend calls (`frontend_used` in the reference's
//! `endpoints.json`) this server does not answer yet. A route counts as not
//! answered when an anonymous request gets our fallback's JSON 404
//! `{"detail":"Not Found"}` or axum's 405. Every such route must be listed in
//! `NOT_YET` below, grouped by the work that will bring it; the test fails on
//! any other missing route, and also on an allow-listed route that is answered
//! by now (so the list only ever shrinks).

mod common;

use std::collections::BTreeSet;

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Routes known to be missing, by the work that brings them. One comment per group.
const NOT_YET: &[(&str, &[&str])] = &[
    // Answered, but this anonymous probe cannot tell: a provider that is not
    // configured gets upstream's plain 404.
    (
        "oauth-unconfigured-provider",
        &["GET /oauth/{provider}/login"],
    ),
    // Later integrations: OAuth 2.1 sign-in to tool servers (issue 11).
    (
        "tool-server-oauth",
        &["GET /oauth/clients/{client_id}/authorize"],
    ),
];

fn endpoints() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/endpoints.json"
    ))
    .expect("tests/data/endpoints.json");
    serde_json::from_str(&text).expect("valid endpoints.json")
}

/// `{name}` and `{name:path}` parameters replaced by a placeholder segment.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for ch in path.chars() {
        match ch {
            '{' => {
                in_param = true;
                out.push_str("x-placeholder");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(ch),
        }
    }
    out
}

/// The methods of one route entry (`GET/POST/PUT/DELETE`, proxies as GET).
fn methods(spec: &str) -> Vec<Method> {
    if spec == "WEBSOCKET" {
        return Vec::new();
    }
    if spec.starts_with("ANY") {
        return vec![Method::GET];
    }
    spec.split('/')
        .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
        .collect()
}

/// Whether our router has a handler for the request (anonymous, so nothing changes).
async fn answered(http: &reqwest::Client, base: &str, method: Method, path: &str) -> bool {
    let mut req = http.request(method.clone(), format!("{base}{path}"));
    if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
        req = req.json(&serde_json::json!({}));
    }
    let r = req.send().await.expect("request");
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let fallback_404 = status == StatusCode::NOT_FOUND && body["detail"] == "Not Found";
    !(fallback_404 || status == StatusCode::METHOD_NOT_ALLOWED)
}

#[tokio::test]
async fn frontend_routes_are_answered_or_listed() {
    let srv = TestServer::fresh().await;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let listed: BTreeSet<&str> = NOT_YET
        .iter()
        .flat_map(|(_, routes)| routes.iter().copied())
        .collect();

    let mut missing = Vec::new();
    let mut frontend_total = 0;
    for r in endpoints()["routes"].as_array().unwrap() {
        if r["frontend_used"] != true {
            continue;
        }
        let path = r["path"].as_str().unwrap();
        for m in methods(r["method"].as_str().unwrap()) {
            frontend_total += 1;
            if !answered(&http, &srv.base, m.clone(), &concrete(path)).await {
                missing.push(format!("{m} {path}"));
            }
        }
    }

    println!(
        "{} of {frontend_total} frontend routes not answered yet:",
        missing.len()
    );
    for (group, routes) in NOT_YET {
        let here: Vec<&String> = missing
            .iter()
            .filter(|m| routes.contains(&m.as_str()))
            .collect();
        println!("  [{group}] {}", here.len());
        for m in here {
            println!("    {m}");
        }
    }
    let unlisted: Vec<&String> = missing
        .iter()
        .filter(|m| !listed.contains(m.as_str()))
        .collect();
    println!("  [not in any group] {}", unlisted.len());
    for m in &unlisted {
        println!("    {m}");
    }
    let now_answered: Vec<&&str> = listed
        .iter()
        .filter(|l| !missing.iter().any(|m| m == **l))
        .collect();

    assert!(
        unlisted.is_empty(),
        "frontend routes not answered and not allow-listed: {unlisted:#?}"
    );
    assert!(
        now_answered.is_empty(),
        "allow-listed routes that are answered now (remove them from NOT_YET): {now_answered:#?}"
    );
    // The list cannot silently cover everything.
    assert!(missing.len() < frontend_total / 2);
    srv.stop().await;
}
