//! Retrieval engine benchmark (run by `bench/embed.sh`).
//!
//! ```text
//! cargo run --release --example rag_bench -- texts <n> <file>   # write the benchmark chunks, one JSON string per line
//! cargo run --release --example rag_bench -- embed <n>          # local embedding throughput + RSS
//! cargo run --release --example rag_bench -- query <n> [<q>]    # hybrid / vector query latency over n chunks
//! cargo run --release --example rag_bench -- compare <n> [<q>]  # encoder vs the candle reference: n chunks, q queries
//! ```
//!
//! `compare` runs the model alone (no cache, no store) on the same tokens:
//! the encoder the embedder uses and the padded candle formulation it
//! replaced (batched as before: longest first, 1024 padded tokens or 64 rows
//! per batch, short batches on one thread), then query latency for queries
//! of 3–16 tokens on one thread, both ways.
//!
//! `query` fills a collection through the public `Rag::add` path with a
//! loopback mock of the OpenAI embeddings API (random unit vectors, 384
//! dimensions, instant), then switches to the bundled local model so each
//! query is embedded for real (distinct queries, so the cache does not help).

use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use open_webui::rag::{chunk, ChunkIn, ChunkOpts, SearchOpts};
use open_webui::{AppState, Settings};
use serde_json::{json, Value};

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "system",
    "data",
    "model",
    "network",
    "energy",
    "river",
    "mountain",
    "policy",
    "market",
    "science",
    "history",
    "music",
    "garden",
    "engine",
    "protein",
    "language",
    "computer",
    "ocean",
    "climate",
    "economy",
    "theory",
    "village",
    "museum",
    "festival",
    "harbor",
    "library",
    "software",
    "hardware",
    "battery",
    "satellite",
    "forest",
    "desert",
    "island",
    "bridge",
    "railway",
    "airport",
    "hospital",
    "school",
    "student",
    "teacher",
    "farmer",
    "doctor",
    "engineer",
    "artist",
    "writer",
    "painter",
    "recipe",
    "kitchen",
    "bread",
    "cheese",
    "coffee",
    "tea",
    "wine",
    "process",
    "report",
    "budget",
    "meeting",
    "project",
    "customer",
    "invoice",
    "contract",
    "license",
    "server",
    "database",
    "memory",
    "storage",
    "request",
    "response",
    "latency",
    "throughput",
    "benchmark",
    "algorithm",
    "structure",
    "analysis",
    "measurement",
    "quality",
    "production",
    "research",
    "development",
    "government",
    "election",
    "parliament",
    "court",
    "law",
    "right",
    "freedom",
    "trade",
    "industry",
    "company",
    "worker",
    "salary",
    "holiday",
    "weather",
    "storm",
    "winter",
    "summer",
    "spring",
    "autumn",
    "morning",
    "evening",
    "night",
    "quickly",
    "slowly",
    "carefully",
    "important",
    "different",
    "national",
    "local",
    "public",
    "private",
    "small",
    "large",
    "new",
    "old",
    "early",
    "late",
    "first",
    "last",
    "long",
    "short",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn word(&mut self) -> &'static str {
        WORDS[(self.next() % WORDS.len() as u64) as usize]
    }
    fn unit(&mut self, dim: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dim)
            .map(|_| (self.next() % 20_000) as f32 / 10_000.0 - 1.0)
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }
}

/// Prose-like text cut into chunks with the default chunking (1000 / 100).
fn bench_chunks(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let mut text = String::new();
        for _ in 0..40 {
            let len = 8 + (rng.next() % 12) as usize;
            let words: Vec<&str> = (0..len).map(|_| rng.word()).collect();
            let sentence = words.join(" ");
            text.push_str(&sentence[..1].to_uppercase());
            text.push_str(&sentence[1..]);
            text.push_str(". ");
            if rng.next().is_multiple_of(5) {
                text.push_str("\n\n");
            }
        }
        out.extend(chunk(&text, &ChunkOpts::default()));
    }
    out.truncate(n);
    out
}

fn rss_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("VmHWM:"))
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn state(dir: &std::path::Path) -> AppState {
    let mut s = Settings::from_env("127.0.0.1".into(), 0, dir.to_path_buf()).unwrap();
    s.secret_key = "bench".into();
    AppState::open(s).unwrap()
}

async fn embed_bench(n: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let (rss0, _) = rss_kib();
    let st = state(tmp.path());
    let (rss_open, _) = rss_kib();
    let texts = bench_chunks(n, 7);
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    let t = Instant::now();
    st.rag.embed(&st, vec!["warm up".into()]).await.unwrap();
    let load = t.elapsed();
    let (rss_loaded, _) = rss_kib();
    let t = Instant::now();
    let v = st.rag.embed(&st, texts.clone()).await.unwrap();
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(v.len(), n);
    let (rss_after, hwm) = rss_kib();
    let t = Instant::now();
    st.rag.embed(&st, texts).await.unwrap();
    let cached = t.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "chunks": n,
            "avg_chars": chars / n,
            "model_load_ms": load.as_millis(),
            "seconds": dt,
            "chunks_per_s": n as f64 / dt,
            "cached_repeat_seconds": cached,
            "rss_kib": {"process_start": rss0, "state_open": rss_open, "model_loaded": rss_loaded,
                        "after_embedding": rss_after, "peak": hwm},
        })
    );
}

async fn query_bench(n: usize, queries: usize) {
    let tmp = tempfile::tempdir().unwrap();
    // Mock OpenAI embeddings: random unit vectors.
    let app = Router::new().route(
        "/v1/embeddings",
        post(|Json(body): Json<Value>| async move {
            let input = body["input"].as_array().cloned().unwrap_or_default();
            let mut rng = Rng(input.len() as u64 * 2654435761 + 1);
            let data: Vec<Value> = input
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let mut r = Rng(rng.next() ^ t.as_str().unwrap_or("").len() as u64 | 1);
                    json!({"index": i, "embedding": r.unit(384)})
                })
                .collect();
            Json(json!({"data": data}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let st = state(tmp.path());
    st.config
        .set_many(vec![
            ("rag.embedding_engine", json!("openai")),
            ("rag.embedding_model", json!("bench-random")),
            ("rag.openai.api_base_url", json!(base)),
            ("rag.embedding_batch_size", json!(2000)),
        ])
        .await
        .unwrap();
    let t = Instant::now();
    let texts = bench_chunks(n, 11);
    let mut added = 0;
    for part in texts.chunks(5000) {
        let chunks = part
            .iter()
            .map(|t| ChunkIn {
                text: t.clone(),
                metadata: serde_json::Map::from_iter([("file_id".into(), json!("bench"))]),
            })
            .collect();
        added += st.rag.add(&st, "kb-bench", chunks).await.unwrap();
    }
    let fill = t.elapsed().as_secs_f64();
    // Queries embedded by the bundled model from here on.
    st.config
        .set_many(vec![
            ("rag.embedding_engine", json!("")),
            (
                "rag.embedding_model",
                json!("sentence-transformers/all-MiniLM-L6-v2"),
            ),
        ])
        .await
        .unwrap();
    let cols = vec!["kb-bench".to_string()];
    let mut rng = Rng(99);
    let mut query = || -> String { (0..6).map(|_| rng.word()).collect::<Vec<_>>().join(" ") };
    // Warm-up: loads the model and the collection's matrix.
    let t = Instant::now();
    st.rag
        .search(&st, &cols, "warm up", &SearchOpts::default())
        .await
        .unwrap();
    let first = t.elapsed().as_secs_f64() * 1000.0;
    let mut results = serde_json::Map::new();
    for (name, hybrid) in [("vector", false), ("hybrid", true)] {
        let o = SearchOpts {
            k: 3,
            hybrid,
            bm25_weight: 0.5,
            relevance_threshold: 0.0,
        };
        let mut lat = Vec::with_capacity(queries);
        let mut emb = Vec::with_capacity(queries);
        for _ in 0..queries {
            // Embedding alone, for the breakdown (a different query so both are uncached).
            let q = query();
            let t = Instant::now();
            st.rag.embed(&st, vec![q]).await.unwrap();
            emb.push(t.elapsed());
            let q = query();
            let t = Instant::now();
            let hits = st.rag.search(&st, &cols, &q, &o).await.unwrap();
            lat.push(t.elapsed());
            assert_eq!(hits.len(), 3);
        }
        lat.sort();
        emb.sort();
        results.insert(
            name.into(),
            json!({"p50_ms": pct(&lat, 50.0), "p99_ms": pct(&lat, 99.0),
                   "query_embedding_p50_ms": pct(&emb, 50.0)}),
        );
    }
    let (rss, hwm) = rss_kib();
    println!(
        "{}",
        json!({"chunks": added, "fill_seconds": fill, "first_query_ms": first, "queries": queries,
               "results": results, "rss_kib": rss, "peak_kib": hwm})
    );
}

/// The batching the embedder used with the candle model.
fn reference_batches(tokens: &[Vec<u32>]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..tokens.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(tokens[i].len()));
    let mut out = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let longest = tokens[order[start]].len().max(1);
        let rows = (1024 / longest).clamp(1, 64);
        let end = (start + rows).min(order.len());
        out.push(order[start..end].to_vec());
        start = end;
    }
    out
}

fn compare_bench(n: usize, queries: usize) {
    use open_webui::rag::embed::{bert, bundled};
    let model = bundled::load().unwrap();
    let reference = bundled::load_reference().unwrap();
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let texts = bench_chunks(n, 7);
    let t = Instant::now();
    let tokens = model.tokenize(&texts).unwrap();
    let tokenize_s = t.elapsed().as_secs_f64();
    let total: usize = tokens.iter().map(|t| t.len()).sum();
    // The encoder, with the embedder's batching (2048 tokens per batch).
    let run_new = || {
        let mut order: Vec<usize> = (0..tokens.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(tokens[i].len()));
        let mut out = vec![Vec::new(); tokens.len()];
        let mut start = 0;
        while start < order.len() {
            let (mut end, mut budget) = (start, 0);
            while end < order.len() && (end == start || budget + tokens[order[end]].len() <= 2048) {
                budget += tokens[order[end]].len();
                end += 1;
            }
            let batch: Vec<&[u32]> = order[start..end]
                .iter()
                .map(|&i| tokens[i].as_slice())
                .collect();
            for (i, v) in order[start..end]
                .iter()
                .zip(model.embed_ids(&batch).unwrap())
            {
                out[*i] = v;
            }
            start = end;
        }
        out
    };
    let run_ref = || {
        let mut out = vec![Vec::new(); tokens.len()];
        for idx in reference_batches(&tokens) {
            let batch: Vec<&[u32]> = idx.iter().map(|&i| tokens[i].as_slice()).collect();
            let padded = batch.len() * batch[0].len();
            let v = if padded <= 64 {
                one_thread.install(|| bert::embed_padded(&reference, &batch))
            } else {
                bert::embed_padded(&reference, &batch)
            };
            for (i, v) in idx.iter().zip(v.unwrap()) {
                out[*i] = v;
            }
        }
        out
    };
    run_new();
    let t = Instant::now();
    let new = run_new();
    let new_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let old = run_ref();
    let old_s = t.elapsed().as_secs_f64();
    let max_diff = new
        .iter()
        .flatten()
        .zip(old.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    // Queries of 3..=16 tokens with [CLS]/[SEP].
    let mut rng = Rng(42);
    let mut qs: Vec<Vec<u32>> = Vec::new();
    while qs.len() < queries {
        let words = 1 + (rng.next() % 14) as usize;
        let q: Vec<&str> = (0..words).map(|_| rng.word()).collect();
        let ids = model.tokenize(&[q.join(" ")]).unwrap().remove(0);
        if ids.len() <= 16 {
            qs.push(ids);
        }
    }
    let q_tokens: usize = qs.iter().map(|q| q.len()).sum();
    let lat = |f: &dyn Fn(&[u32])| {
        let mut d: Vec<Duration> = qs
            .iter()
            .map(|q| {
                let t = Instant::now();
                f(q);
                t.elapsed()
            })
            .collect();
        d.sort();
        json!({"p50_ms": pct(&d, 50.0), "p90_ms": pct(&d, 90.0), "p99_ms": pct(&d, 99.0)})
    };
    let q_new = lat(&|q| {
        model.embed_ids(&[q]).unwrap();
    });
    let q_ref = lat(&|q| {
        one_thread.install(|| bert::embed_padded(&reference, &[q]).unwrap());
    });
    let q_text: Vec<String> = (0..queries)
        .map(|i| {
            format!(
                "what is the {} of the {}",
                WORDS[i % 50],
                WORDS[(i * 7) % 90]
            )
        })
        .collect();
    let t = Instant::now();
    for q in &q_text {
        model.tokenize(std::slice::from_ref(q)).unwrap();
    }
    let tok_us = t.elapsed().as_secs_f64() * 1e6 / queries as f64;
    println!(
        "{}",
        json!({
            "chunks": n, "tokens": total, "tokenize_s": tokenize_s,
            "isa": format!("{:?}", model.encoder.isa()),
            "int8_kernels": model.encoder.uses_int8(),
            "weights_mb": model.encoder.weight_bytes() as f64 / 1e6,
            "threads": rayon::current_num_threads(),
            "encoder": {"seconds": new_s, "chunks_per_s": n as f64 / new_s},
            "candle_reference": {"seconds": old_s, "chunks_per_s": n as f64 / old_s},
            "speedup": old_s / new_s,
            "max_difference": max_diff,
            "queries": {"count": queries, "avg_tokens": q_tokens as f64 / queries as f64,
                        "encoder": q_new, "candle_reference": q_ref,
                        "tokenize_us": tok_us},
        })
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = |i: usize, d: usize| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str) {
        Some("texts") => {
            let out: Vec<String> = bench_chunks(n(1, 256), 7)
                .into_iter()
                .map(|t| serde_json::to_string(&t).unwrap())
                .collect();
            std::fs::write(args.get(2).expect("output file"), out.join("\n") + "\n").unwrap();
        }
        Some("embed") => embed_bench(n(1, 256)).await,
        Some("query") => query_bench(n(1, 10_000), n(2, 200)).await,
        Some("compare") => compare_bench(n(1, 256), n(2, 200)),
        _ => eprintln!("usage: rag_bench texts <n> <file> | embed <n> | query <n> [<queries>] | compare <n> [<queries>]"),
    }
}
