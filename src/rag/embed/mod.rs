//! Embeddings: the local BERT model (`rag.embedding_engine` = `""`) or a
//! remote API (`openai`, `azure_openai`, `ollama`), behind a cache of vectors
//! keyed by sha256(engine, model, text) in the vector store's redb file.
//!
//! Local inference runs one batch at a time on the blocking pool (a one-permit
//! semaphore), inputs batched by a token budget so memory stays bounded; the
//! encoder packs a batch without padding and splits large ones across the
//! rayon pool's threads (see `owui_encoder`).

/// The candle formulation of the model: the reference the encoder is tested
/// and benchmarked against, not part of the server (feature
/// `candle-reference`, always in unit tests).
#[cfg(any(test, feature = "candle-reference"))]
pub mod bert;
mod bert_config;
pub mod local;
pub mod packed;
pub mod remote;
mod safetensors;

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::store::Store;
use crate::config::ConfigStore;
use local::{LocalModel, ModelFiles, WeightFile};

/// The model used when `rag.embedding_model` names the bundled one.
pub const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Tokens per local batch (inputs are packed without padding): bounds the
/// activation memory to about 15 KB per token (≈ 30 MB) and keeps a batch
/// short enough that other requests get the semaphore in between.
const BATCH_TOKENS: usize = 2048;

pub struct Embedder {
    local: Mutex<Option<(String, Arc<LocalModel>)>>,
    load_lock: tokio::sync::Mutex<()>,
    /// One CPU batch at a time, so chat and other requests keep a core.
    gate: Arc<tokio::sync::Semaphore>,
}

impl Default for Embedder {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `name` means the bundled all-MiniLM-L6-v2.
pub fn is_bundled_name(name: &str) -> bool {
    let n = name.trim();
    n.is_empty()
        || n.eq_ignore_ascii_case(DEFAULT_MODEL)
        || n.eq_ignore_ascii_case("all-MiniLM-L6-v2")
}

fn cache_key(engine: &str, model: &str, text: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(engine.as_bytes());
    h.update([0]);
    h.update(model.as_bytes());
    h.update([0]);
    h.update(text.as_bytes());
    h.finalize().into()
}

/// Scales `v` to unit length (left alone when it is all zeros).
pub fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

impl Embedder {
    pub fn new() -> Embedder {
        Embedder {
            local: Mutex::new(None),
            load_lock: tokio::sync::Mutex::new(()),
            gate: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// Whether the local model is in memory (for tests and benchmarks).
    pub fn local_loaded(&self) -> bool {
        self.local.lock().map(|g| g.is_some()).unwrap_or(false)
    }

    pub async fn embed(
        &self,
        config: &ConfigStore,
        store: &Arc<Store>,
        texts: Vec<String>,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let engine = config.get_str("rag.embedding_engine");
        let model = config.get_str("rag.embedding_model");
        let keys: Vec<[u8; 32]> = texts
            .iter()
            .map(|t| cache_key(&engine, &model, t))
            .collect();

        let cached = {
            let store = store.clone();
            let keys = keys.clone();
            tokio::task::spawn_blocking(move || store.cache_get(&keys)).await??
        };
        // Texts to compute, each once.
        let mut todo: Vec<usize> = Vec::new();
        let mut seen = std::collections::HashMap::new();
        for (i, c) in cached.iter().enumerate() {
            if c.is_none() && seen.insert(keys[i], i).is_none() {
                todo.push(i);
            }
        }
        let mut fresh: std::collections::HashMap<[u8; 32], Vec<f32>> = Default::default();
        if !todo.is_empty() {
            let inputs: Vec<String> = todo.iter().map(|&i| texts[i].clone()).collect();
            let mut vectors = match engine.as_str() {
                "" => self.embed_local(&model, inputs).await?,
                "openai" | "azure_openai" | "ollama" => {
                    remote::embed(config, &engine, &model, inputs).await?
                }
                other => anyhow::bail!("unsupported embedding engine {other:?}"),
            };
            anyhow::ensure!(
                vectors.len() == todo.len(),
                "the embedding engine returned {} vectors for {} texts",
                vectors.len(),
                todo.len()
            );
            vectors.iter_mut().for_each(|v| normalize(v));
            let entries: Vec<([u8; 32], Vec<f32>)> =
                todo.iter().map(|&i| keys[i]).zip(vectors).collect();
            {
                let store = store.clone();
                let entries = entries.clone();
                tokio::task::spawn_blocking(move || {
                    let refs: Vec<([u8; 32], &[f32])> =
                        entries.iter().map(|(k, v)| (*k, v.as_slice())).collect();
                    store.cache_put(&refs)
                })
                .await??;
            }
            fresh.extend(entries);
        }
        Ok(cached
            .into_iter()
            .enumerate()
            .map(|(i, c)| c.unwrap_or_else(|| fresh.get(&keys[i]).cloned().unwrap_or_default()))
            .collect())
    }

    /// The local model for `name`, loading it on first use.
    pub async fn local_model(&self, name: &str) -> anyhow::Result<Arc<LocalModel>> {
        let key = if is_bundled_name(name) {
            DEFAULT_MODEL
        } else {
            name.trim()
        };
        if let Some((n, m)) = &*self.local.lock().unwrap_or_else(|p| p.into_inner()) {
            if n == key {
                return Ok(m.clone());
            }
        }
        let _g = self.load_lock.lock().await;
        if let Some((n, m)) = &*self.local.lock().unwrap_or_else(|p| p.into_inner()) {
            if n == key {
                return Ok(m.clone());
            }
        }
        // Drop a previous model before loading another one.
        *self.local.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let owned = key.to_string();
        let _permit = self.gate.clone().acquire_owned().await?;
        let model = Arc::new(tokio::task::spawn_blocking(move || load_model(&owned)).await??);
        *self.local.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((key.to_string(), model.clone()));
        tracing::info!(model = key, "embedding model loaded");
        Ok(model)
    }

    async fn embed_local(&self, name: &str, texts: Vec<String>) -> anyhow::Result<Vec<Vec<f32>>> {
        let model = self.local_model(name).await?;
        let m = model.clone();
        let tokens = tokio::task::spawn_blocking(move || m.tokenize(&texts)).await??;
        let mut order: Vec<usize> = (0..tokens.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(tokens[i].len()));
        let tokens = Arc::new(tokens);
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); tokens.len()];
        let mut start = 0;
        while start < order.len() {
            let mut end = start;
            let mut budget = 0;
            while end < order.len()
                && (end == start || budget + tokens[order[end]].len() <= BATCH_TOKENS)
            {
                budget += tokens[order[end]].len();
                end += 1;
            }
            let idx: Vec<usize> = order[start..end].to_vec();
            let permit = self.gate.clone().acquire_owned().await?;
            let (m, t, idx2) = (model.clone(), tokens.clone(), idx.clone());
            let vectors = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let batch: Vec<&[u32]> = idx2.iter().map(|&i| t[i].as_slice()).collect();
                // Short inputs (a query) run on this thread alone.
                m.embed_ids(&batch)
            })
            .await??;
            for (i, v) in idx.into_iter().zip(vectors) {
                out[i] = v;
            }
            start = end;
        }
        if out.len() > 1 {
            release_free_memory();
        }
        Ok(out)
    }
}

/// Hands memory freed by the batch activations back to the OS (glibc keeps
/// it in per-thread arenas otherwise), so the resident set returns to about
/// the model's size after a large upload.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Loads the bundled model or a model folder.
fn load_model(name: &str) -> anyhow::Result<LocalModel> {
    if is_bundled_name(name) {
        return bundled::load();
    }
    let dir = Path::new(name);
    if !dir.is_dir() {
        anyhow::bail!(
            "embedding model {name:?} is not available locally: use the bundled {DEFAULT_MODEL}, a folder with config.json, tokenizer.json and model.safetensors, or a remote embedding engine"
        );
    }
    load_dir(dir)
}

/// Loads a sentence-transformers / BERT model folder.
pub fn load_dir(dir: &Path) -> anyhow::Result<LocalModel> {
    load_folder(dir, false)
}

/// A model folder; `round` stores its large matrices as the bundled model does.
fn load_folder(dir: &Path, round: bool) -> anyhow::Result<LocalModel> {
    with_folder(dir, round, LocalModel::load)
}

/// `load_folder` for at most `isa`.
#[cfg(not(owui_model_embedded))]
fn load_folder_with_isa(
    dir: &Path,
    round: bool,
    isa: owui_encoder::Isa,
) -> anyhow::Result<LocalModel> {
    with_folder(dir, round, |f| LocalModel::load_with_isa(f, isa))
}

fn with_folder<R>(
    dir: &Path,
    round: bool,
    f: impl FnOnce(&ModelFiles<'_>) -> anyhow::Result<R>,
) -> anyhow::Result<R> {
    let read = |name: &str| {
        std::fs::read(dir.join(name))
            .with_context(|| format!("reading {}", dir.join(name).display()))
    };
    let optional = |name: &str| std::fs::read(dir.join(name)).ok();
    let config = read("config.json")?;
    let tokenizer = read("tokenizer.json")?;
    let weights = read("model.safetensors")?;
    let st = optional("sentence_bert_config.json");
    let pooling = optional("1_Pooling/config.json");
    f(&ModelFiles {
        config: &config,
        tokenizer: &tokenizer,
        weights: if round {
            WeightFile::SafeTensorsRounded(&weights)
        } else {
            WeightFile::SafeTensors(&weights)
        },
        st_config: st.as_deref(),
        pooling: pooling.as_deref(),
    })
}

/// The bundled all-MiniLM-L6-v2 (see build.rs): embedded in release builds;
/// debug and test builds read it from `assets/models/` when it is there.
pub mod bundled {
    use super::*;

    /// Whether this binary can load the bundled model.
    pub fn available() -> bool {
        #[cfg(owui_model_embedded)]
        {
            true
        }
        #[cfg(not(owui_model_embedded))]
        {
            dev_dir().is_some()
        }
    }

    #[cfg(not(owui_model_embedded))]
    fn dev_dir() -> Option<&'static Path> {
        let dir = Path::new(option_env!("OWUI_MODEL_DEV_DIR")?);
        dir.join("model.safetensors").is_file().then_some(dir)
    }

    #[cfg(not(owui_model_embedded))]
    pub fn load() -> anyhow::Result<LocalModel> {
        match dev_dir() {
            Some(dir) => load_folder(dir, true),
            None => anyhow::bail!("embedding model not bundled: run ./install.sh"),
        }
    }

    /// `load` for at most `isa` (tests and benchmarks of the fallbacks).
    #[cfg(not(owui_model_embedded))]
    pub fn load_with_isa(isa: owui_encoder::Isa) -> anyhow::Result<LocalModel> {
        match dev_dir() {
            Some(dir) => load_folder_with_isa(dir, true, isa),
            None => anyhow::bail!("embedding model not bundled: run ./install.sh"),
        }
    }

    /// `load` for at most `isa` (tests and benchmarks of the fallbacks).
    #[cfg(owui_model_embedded)]
    pub fn load_with_isa(isa: owui_encoder::Isa) -> anyhow::Result<LocalModel> {
        let model = LocalModel::load_with_isa(&files(), isa);
        release_pages(WEIGHTS);
        model
    }

    /// The bundled model on candle (the padded reference formulation).
    #[cfg(all(not(owui_model_embedded), any(test, feature = "candle-reference")))]
    pub fn load_reference() -> anyhow::Result<bert::Bert> {
        match dev_dir() {
            Some(dir) => with_folder(dir, true, LocalModel::load_reference),
            None => anyhow::bail!("embedding model not bundled: run ./install.sh"),
        }
    }

    /// The bundled model on candle (the padded reference formulation).
    #[cfg(all(owui_model_embedded, any(test, feature = "candle-reference")))]
    pub fn load_reference() -> anyhow::Result<bert::Bert> {
        LocalModel::load_reference(&files())
    }

    #[cfg(owui_model_embedded)]
    const WEIGHTS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/model-weights.packed"));

    #[cfg(owui_model_embedded)]
    fn files() -> ModelFiles<'static> {
        macro_rules! asset {
            ($f:literal) => {
                include_bytes!(concat!(env!("OWUI_MODEL_EMBED_DIR"), "/", $f)).as_slice()
            };
        }
        ModelFiles {
            config: asset!("config.json"),
            tokenizer: asset!("tokenizer.json"),
            weights: WeightFile::Packed(WEIGHTS),
            st_config: Some(asset!("sentence_bert_config.json")),
            pooling: Some(asset!("1_Pooling/config.json")),
        }
    }

    #[cfg(owui_model_embedded)]
    pub fn load() -> anyhow::Result<LocalModel> {
        let model = LocalModel::load(&files());
        release_pages(WEIGHTS);
        model
    }

    /// The weights were copied into tensors; let the kernel drop the pages
    /// of the embedded copy (they are file-backed and re-read if ever needed),
    /// so they do not count twice in the resident set.
    #[cfg(owui_model_embedded)]
    fn release_pages(bytes: &'static [u8]) {
        #[cfg(unix)]
        {
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
            let start = bytes.as_ptr() as usize;
            let aligned = start.div_ceil(page) * page;
            let end = (start + bytes.len()) / page * page;
            if end > aligned {
                // SAFETY: the range lies inside a read-only mapping of the
                // executable; MADV_DONTNEED on it only drops resident pages,
                // which are faulted back in from the file on access.
                unsafe {
                    libc::madvise(
                        aligned as *mut libc::c_void,
                        end - aligned,
                        libc::MADV_DONTNEED,
                    );
                }
            }
        }
        #[cfg(not(unix))]
        let _ = bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn cache_keys_separate_engine_model_and_text() {
        let k = cache_key("", "m", "t");
        assert_eq!(k, cache_key("", "m", "t"));
        assert_ne!(k, cache_key("openai", "m", "t"));
        assert_ne!(k, cache_key("", "m2", "t"));
        assert_ne!(k, cache_key("", "m", "t2"));
        assert_ne!(cache_key("", "ab", "c"), cache_key("", "a", "bc"));
    }

    #[test]
    fn remote_answers_parse_in_input_order() {
        let openai = serde_json::json!({"data": [
            {"index": 1, "embedding": [0.0, 1.0]},
            {"index": 0, "embedding": [1.0, 0.0]}
        ]});
        assert_eq!(
            remote::parse("openai", &openai).unwrap(),
            vec![vec![1.0, 0.0], vec![0.0, 1.0]]
        );
        let ollama = serde_json::json!({"embeddings": [[0.5, 0.5]]});
        assert_eq!(
            remote::parse("ollama", &ollama).unwrap(),
            vec![vec![0.5, 0.5]]
        );
        assert!(remote::parse("openai", &serde_json::json!({"error": "x"})).is_err());
    }

    fn reference_vectors() -> (Vec<String>, Vec<Vec<f32>>) {
        let reference: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/data/minilm-reference.json"))
                .unwrap();
        let sents = reference["sents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        let vecs = reference["vecs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect()
            })
            .collect();
        (sents, vecs)
    }

    /// The vectors of `model` for the reference sentences, with the smallest
    /// cosine and the largest per-component difference to the reference.
    fn compare(model: &LocalModel) -> (Vec<Vec<f32>>, f32, f32) {
        let (sents, want) = reference_vectors();
        let tokens = model.tokenize(&sents).unwrap();
        // The 400-word input is cut at 256 tokens, [CLS] and [SEP] included.
        assert_eq!(tokens[3].len(), 256);
        let refs: Vec<&[u32]> = tokens.iter().map(|t| t.as_slice()).collect();
        let batch = model.embed_ids(&refs).unwrap();
        let mut min_cos = 1f32;
        let mut max_diff = 0f32;
        for (got, want) in batch.iter().zip(&want) {
            min_cos = min_cos.min(cos(got, want));
            max_diff = got
                .iter()
                .zip(want)
                .map(|(a, b)| (a - b).abs())
                .fold(max_diff, f32::max);
        }
        // One by one gives the same vectors as the padded batch.
        for (i, t) in tokens.iter().enumerate() {
            let one = model.embed_ids(&[t.as_slice()]).unwrap();
            assert!(cos(&one[0], &batch[i]) > 0.99999);
        }
        (batch, min_cos, max_diff)
    }

    fn model_installed() -> bool {
        if bundled::available() {
            return true;
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but the embedding model is not installed: run ./install.sh --no-build"
        );
        eprintln!("skipped: embedding model not installed");
        false
    }

    /// The bundled model (int8-rounded matrices, see `packed`) against
    /// sentence-transformers' own output for the original f32 weights
    /// (tests/data/minilm-reference.json, computed with sentence-transformers
    /// 5 / torch 2.15 on CPU). Skipped when the model was not fetched
    /// (`./install.sh --no-build`).
    ///
    /// Every instruction set is checked, the portable fallback (for CPUs
    /// without AVX-512 or AVX2) always: the bound is the int8 rounding of the
    /// weights, cosine ≥ 0.999 (measured: 0.99936 on every path).
    #[test]
    fn bundled_model_matches_sentence_transformers() {
        if !model_installed() {
            return;
        }
        use owui_encoder::Isa;
        for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512] {
            let model = bundled::load_with_isa(isa).unwrap();
            let isa = model.encoder.isa();
            assert_eq!(model.max_len, 256);
            let (batch, min_cos, max_diff) = compare(&model);
            eprintln!(
                "bundled (int8) model, {isa:?}: min cosine {min_cos}, max difference {max_diff}"
            );
            assert!(
                min_cos >= 0.999,
                "{isa:?}: cosine to the reference {min_cos}"
            );
            assert!(max_diff < 0.01, "{isa:?}: max difference {max_diff}");
            let para = cos(&batch[0], &batch[1]);
            let unrelated = cos(&batch[0], &batch[2]);
            assert!(para > 0.6, "paraphrase cosine {para}");
            assert!(unrelated < para - 0.3, "unrelated cosine {unrelated}");
        }
    }

    /// The encoder against the padded candle formulation of the same bundled
    /// (int8-rounded) weights: equal to float precision.
    #[test]
    fn bundled_model_matches_its_candle_reference() {
        if !model_installed() {
            return;
        }
        use owui_encoder::Isa;
        let reference = bundled::load_reference().unwrap();
        for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512] {
            let model = bundled::load_with_isa(isa).unwrap();
            let isa = model.encoder.isa();
            let (sents, _) = reference_vectors();
            let tokens = model.tokenize(&sents).unwrap();
            let refs: Vec<&[u32]> = tokens.iter().map(|t| t.as_slice()).collect();
            let got = model.embed_ids(&refs).unwrap();
            let want = bert::embed_padded(&reference, &refs).unwrap();
            let worst = got
                .iter()
                .flatten()
                .zip(want.iter().flatten())
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            eprintln!("encoder ({isa:?}) vs candle on the same weights: max difference {worst}");
            assert!(worst < 1e-5, "{isa:?}: max difference {worst}");
        }
    }

    /// The same model read as a plain folder (f32 weights used as they are)
    /// matches to float precision.
    #[test]
    fn model_folder_matches_sentence_transformers_exactly() {
        if !model_installed() {
            return;
        }
        #[cfg(not(owui_model_embedded))]
        {
            let Some(dir) = option_env!("OWUI_MODEL_DEV_DIR") else {
                return;
            };
            let model = load_dir(Path::new(dir)).unwrap();
            let (_, min_cos, max_diff) = compare(&model);
            assert!(max_diff < 1e-4, "max difference {max_diff}");
            assert!(min_cos > 0.99999, "cosine {min_cos}");
        }
    }
}
