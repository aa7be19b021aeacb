//! Retrieval engine through a real `AppState`: add / search / delete /
//! restart, the embedding cache, hybrid search and the remote engines (a mock
//! embedding server on loopback), and the bundled model when installed.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use open_webui::rag::{ChunkIn, SearchOpts};
use open_webui::AppState;
use serde_json::{json, Map, Value};

const DIM: usize = 64;

/// A bag-of-words embedding: each word (lower-cased, letters only; words with
/// digits are ignored so only BM25 can find them) adds to one of 64 buckets.
fn toy_embedding(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; DIM];
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        if w.is_empty() || w.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        let w = w.to_lowercase();
        let h = w
            .bytes()
            .fold(5381u32, |h, b| h.wrapping_mul(33) ^ b as u32);
        v[(h as usize) % (DIM - 1)] += 2.0; // not unit length: the engine normalises
    }
    v[DIM - 1] += 0.01;
    v
}

#[derive(Clone, Default)]
struct Mock {
    requests: Arc<AtomicUsize>,
    inputs: Arc<AtomicUsize>,
}

async fn openai_embeddings(State(m): State<Mock>, Json(body): Json<Value>) -> Json<Value> {
    m.requests.fetch_add(1, Ordering::SeqCst);
    let input: Vec<String> = serde_json::from_value(body["input"].clone()).unwrap();
    m.inputs.fetch_add(input.len(), Ordering::SeqCst);
    // Answer in reverse order: the engine must sort by `index`.
    let data: Vec<Value> = input
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": toy_embedding(t)}))
        .collect();
    Json(json!({"object": "list", "data": data, "model": body["model"]}))
}

async fn ollama_embed(State(m): State<Mock>, Json(body): Json<Value>) -> Json<Value> {
    m.requests.fetch_add(1, Ordering::SeqCst);
    let input: Vec<String> = serde_json::from_value(body["input"].clone()).unwrap();
    m.inputs.fetch_add(input.len(), Ordering::SeqCst);
    let e: Vec<Vec<f32>> = input.iter().map(|t| toy_embedding(t)).collect();
    Json(json!({"model": body["model"], "embeddings": e}))
}

async fn mock_server() -> (String, Mock) {
    let mock = Mock::default();
    let app = Router::new()
        .route("/v1/embeddings", post(openai_embeddings))
        .route("/api/embed", post(ollama_embed))
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), mock)
}

fn open_state(dir: &std::path::Path) -> AppState {
    AppState::open(common::settings_for(dir, Some("test-secret"))).unwrap()
}

async fn use_openai_mock(state: &AppState, base: &str) {
    state
        .config
        .set_many(vec![
            ("rag.embedding_engine", json!("openai")),
            ("rag.embedding_model", json!("toy-embed")),
            ("rag.openai.api_base_url", json!(format!("{base}/v1"))),
            ("rag.openai.api_key", json!("sk-test")),
            ("rag.embedding_batch_size", json!(16)),
        ])
        .await
        .unwrap();
}

fn chunk(text: &str, file_id: &str) -> ChunkIn {
    let mut metadata = Map::new();
    metadata.insert("file_id".into(), json!(file_id));
    metadata.insert("name".into(), json!(format!("{file_id}.txt")));
    ChunkIn {
        text: text.to_string(),
        metadata,
    }
}

fn opts(k: usize) -> SearchOpts {
    SearchOpts {
        k,
        hybrid: false,
        bm25_weight: 0.5,
        relevance_threshold: 0.0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_search_delete_and_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, _mock) = mock_server().await;
    let state = open_state(tmp.path());
    // Nothing is opened before first use.
    assert!(!tmp.path().join("vector_db").exists());
    use_openai_mock(&state, &base).await;
    let rag = state.rag.clone();

    let n = rag
        .add(
            &state,
            "file-a",
            vec![
                chunk("cats purr and chase mice", "a"),
                chunk("dogs bark at the mailman", "a"),
                chunk("   ", "a"), // blank chunks are skipped
            ],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    rag.add(
        &state,
        "kb-1",
        vec![
            chunk("rust programs compile to native code", "b"),
            chunk("cats sleep most of the day", "c"),
        ],
    )
    .await
    .unwrap();
    assert!(rag.has_collection("file-a").await);
    assert!(!rag.has_collection("file-zzz").await);

    let both = vec!["file-a".to_string(), "kb-1".to_string()];
    let hits = rag
        .search(&state, &both, "cats purr", &opts(2))
        .await
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].text, "cats purr and chase mice");
    assert_eq!(hits[0].collection, "file-a");
    assert_eq!(hits[0].metadata["file_id"], "a");
    assert_eq!(hits[1].text, "cats sleep most of the day");
    assert!(hits[0].score > hits[1].score);
    assert!(hits.iter().all(|h| (0.0..=1.0).contains(&h.score)));
    assert!(!hits[0].id.is_empty());

    let docs = rag.documents("kb-1").await.unwrap();
    assert_eq!(docs.len(), 2);
    assert!(docs
        .iter()
        .all(|d| d.score == 0.0 && d.collection == "kb-1"));

    // Delete by metadata: only file "c" leaves the knowledge collection.
    rag.delete_where("kb-1", "file_id", "c").await.unwrap();
    let docs = rag.documents("kb-1").await.unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].metadata["file_id"], "b");
    let hits = rag.search(&state, &both, "cats", &opts(5)).await.unwrap();
    assert!(hits.iter().all(|h| h.text != "cats sleep most of the day"));
    // ... and from BM25 too.
    let hybrid = SearchOpts {
        hybrid: true,
        bm25_weight: 1.0,
        ..opts(5)
    };
    let hits = rag.search(&state, &both, "sleep", &hybrid).await.unwrap();
    assert!(hits.iter().all(|h| !h.text.contains("sleep")), "{hits:?}");

    // Restart: everything is read back from DATA_DIR/vector_db.
    drop(rag);
    drop(state);
    let state = open_state(tmp.path());
    let rag = state.rag.clone();
    let hits = rag
        .search(&state, &both, "dogs bark", &opts(1))
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].text, "dogs bark at the mailman");
    let hits = rag.search(&state, &both, "native", &hybrid).await.unwrap();
    assert_eq!(hits[0].text, "rust programs compile to native code");

    rag.delete_collection("file-a").await.unwrap();
    assert!(!rag.has_collection("file-a").await);
    assert!(rag.documents("file-a").await.unwrap().is_empty());
    let hits = rag.search(&state, &both, "dogs", &hybrid).await.unwrap();
    assert!(hits.iter().all(|h| h.collection == "kb-1"));

    rag.reset().await.unwrap();
    assert!(!rag.has_collection("kb-1").await);
    assert!(rag
        .search(&state, &both, "rust", &opts(3))
        .await
        .unwrap()
        .is_empty());
    // A collection can be rebuilt after a reset.
    rag.add(&state, "kb-1", vec![chunk("fresh start", "d")])
        .await
        .unwrap();
    assert_eq!(rag.documents("kb-1").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedding_cache_and_remote_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, mock) = mock_server().await;
    let state = open_state(tmp.path());
    use_openai_mock(&state, &base).await;
    let texts: Vec<String> = (0..5).map(|i| format!("text number {i} here")).collect();
    let mut with_dup = texts.clone();
    with_dup.push(texts[0].clone());
    let v1 = state.rag.embed(&state, with_dup).await.unwrap();
    assert_eq!(v1.len(), 6);
    assert_eq!(v1[0], v1[5]);
    for v in &v1 {
        let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-5);
    }
    // Duplicates are embedded once.
    assert_eq!(mock.inputs.load(Ordering::SeqCst), 5);
    let before = mock.requests.load(Ordering::SeqCst);
    let v2 = state.rag.embed(&state, texts.clone()).await.unwrap();
    assert_eq!(
        mock.requests.load(Ordering::SeqCst),
        before,
        "served from the cache"
    );
    assert_eq!(v2[..], v1[..5]);

    // Another model is another cache entry; ollama with batch size 2 sends 3 requests.
    state
        .config
        .set_many(vec![
            ("rag.embedding_engine", json!("ollama")),
            ("rag.embedding_model", json!("toy-2")),
            ("rag.ollama.base_url", json!(base.clone())),
            ("rag.embedding_batch_size", json!(2)),
        ])
        .await
        .unwrap();
    let before = mock.requests.load(Ordering::SeqCst);
    let v3 = state.rag.embed(&state, texts).await.unwrap();
    assert_eq!(mock.requests.load(Ordering::SeqCst) - before, 3);
    assert_eq!(v3, v2);

    // An unreachable engine is an error, not empty vectors.
    state
        .config
        .set_many(vec![("rag.ollama.base_url", json!("http://127.0.0.1:9"))])
        .await
        .unwrap();
    assert!(state.rag.embed(&state, vec!["new".into()]).await.is_err());
    // A model name that is neither bundled nor a folder is refused clearly.
    state
        .config
        .set_many(vec![
            ("rag.embedding_engine", json!("")),
            ("rag.embedding_model", json!("/nonexistent/model-dir")),
        ])
        .await
        .unwrap();
    let err = state.rag.embed(&state, vec!["x".into()]).await.unwrap_err();
    assert!(err.to_string().contains("not available locally"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_search_finds_keywords_and_applies_threshold() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, _mock) = mock_server().await;
    let state = open_state(tmp.path());
    use_openai_mock(&state, &base).await;
    let rag = state.rag.clone();
    let mut chunks: Vec<ChunkIn> = (0..30)
        .map(|i| {
            chunk(
                &format!("general notes about gardening and weather {i}"),
                "f",
            )
        })
        .collect();
    chunks.push(chunk(
        "the replacement part number is XK42 for the big blue water pump down in the old basement cellar",
        "f",
    ));
    rag.add(&state, "file-f", chunks).await.unwrap();
    let cols = vec!["file-f".to_string()];

    // The toy embedding ignores "XK42", so for the vector side the query is
    // (almost) empty and the shorter gardening notes win.
    let vector_only = rag.search(&state, &cols, "XK42", &opts(3)).await.unwrap();
    assert_eq!(vector_only.len(), 3);
    assert!(vector_only.iter().all(|h| !h.text.contains("XK42")));

    let hybrid = SearchOpts {
        hybrid: true,
        bm25_weight: 0.5,
        ..opts(3)
    };
    let hits = rag.search(&state, &cols, "XK42", &hybrid).await.unwrap();
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().any(|h| h.text.contains("XK42")), "{hits:?}");
    // Hybrid scores are cosine similarities.
    assert!(hits.iter().all(|h| (-1.0..=1.0).contains(&h.score)));
    // BM25 weight 1: keyword ranking only.
    let bm25_only = SearchOpts {
        bm25_weight: 1.0,
        ..hybrid.clone()
    };
    let hits = rag.search(&state, &cols, "XK42", &bm25_only).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].text.contains("XK42"));

    // The threshold keeps chunks whose cosine reaches it.
    let mut strict = SearchOpts {
        relevance_threshold: 0.3,
        ..hybrid.clone()
    };
    let hits = rag
        .search(&state, &cols, "notes XK42", &strict)
        .await
        .unwrap();
    assert_eq!(hits.len(), 3);
    assert!(hits
        .iter()
        .all(|h| h.score >= 0.3 && !h.text.contains("XK42")));
    strict.relevance_threshold = 0.9;
    assert!(rag
        .search(&state, &cols, "notes XK42", &strict)
        .await
        .unwrap()
        .is_empty());

    // Config-driven options.
    state
        .config
        .set_many(vec![
            ("rag.top_k", json!(7)),
            ("rag.enable_hybrid_search", json!(true)),
            ("rag.hybrid_bm25_weight", json!(0.25)),
            ("rag.relevance_threshold", json!(0.1)),
        ])
        .await
        .unwrap();
    let o = SearchOpts::from_config(&state);
    assert_eq!((o.k, o.hybrid), (7, true));
    assert!((o.bm25_weight - 0.25).abs() < 1e-6 && (o.relevance_threshold - 0.1).abs() < 1e-6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_and_searches() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, _mock) = mock_server().await;
    let state = open_state(tmp.path());
    use_openai_mock(&state, &base).await;
    let cols = vec!["kb-c".to_string()];
    let mut tasks = Vec::new();
    for w in 0..4 {
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..5 {
                let text = format!("writer {w} chunk {i} apples oranges");
                state
                    .rag
                    .add(&state, "kb-c", vec![chunk(&text, &format!("w{w}"))])
                    .await
                    .unwrap();
            }
        }));
    }
    for _ in 0..2 {
        let state = state.clone();
        let cols = cols.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                let o = SearchOpts {
                    hybrid: true,
                    ..opts(3)
                };
                state.rag.search(&state, &cols, "apples", &o).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(state.rag.documents("kb-c").await.unwrap().len(), 20);
    let hits = state
        .rag
        .search(&state, &cols, "apples", &opts(50))
        .await
        .unwrap();
    assert_eq!(hits.len(), 20);
}

/// The bundled all-MiniLM-L6-v2 end to end (skipped without `./install.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_model_semantic_search() {
    if !open_webui::rag::embed::bundled::available() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but the embedding model is not installed: run ./install.sh --no-build"
        );
        eprintln!("skipped: embedding model not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let state = open_state(tmp.path());
    assert_eq!(state.config.get_str("rag.embedding_engine"), "");
    assert!(!state.rag.embedder_loaded());
    let rag = state.rag.clone();
    rag.add(
        &state,
        "user-memory-u1",
        vec![
            chunk("My cat only eats salmon-flavoured kibble.", "m"),
            chunk("The quarterly budget meeting moved to Thursday.", "m"),
            chunk("I am learning to play the cello.", "m"),
        ],
    )
    .await
    .unwrap();
    assert!(rag.embedder_loaded());
    let cols = vec!["user-memory-u1".to_string()];
    let hits = rag
        .search(&state, &cols, "what food does my pet like?", &opts(1))
        .await
        .unwrap();
    assert_eq!(hits[0].text, "My cat only eats salmon-flavoured kibble.");
    let hits = rag
        .search(&state, &cols, "musical instrument", &opts(1))
        .await
        .unwrap();
    assert_eq!(hits[0].text, "I am learning to play the cello.");
}
