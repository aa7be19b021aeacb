//! Build script: turns `frontend-dist/` into the tree that `src/web` embeds.
//!
//! Output (all under `$OUT_DIR`):
//! * `web/` — for every source file either `<path>.br`, or the raw `<path>` when
//!   compression saves too little (images, fonts, archives): one copy each.
//!   Brotli rather than gzip because it is ~16% smaller on this frontend
//!   (27.4 vs 32.5 MB) and is what browsers ask for over HTTPS; clients that
//!   only take gzip (browsers over plain HTTP) get it made on the fly from the
//!   brotli copy by `src/web` (and cached), others get the decoded bytes.
//! * `web-manifest.txt` — one line per logical file: stored variants, ETag,
//!   source size and mtime, path. Read by `src/web` at run time and by the next
//!   run of this script to skip files that did not change.
//! * `web-build-stats.txt` — timing and size summary of the last run.
//!
//! Without `frontend-dist/index.html` a small placeholder page is generated so
//! the crate always builds offline.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::hash::Hasher;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Instant, UNIX_EPOCH};

/// Changing anything that affects the stored bytes must change this string,
/// so that outputs of an older run are not reused.
const FORMAT: &str = "web-manifest v2 br-only br10/9 w22 min-saving10";

/// A compressed copy is kept only when it is at most this fraction of the raw size.
const KEEP_RATIO: f64 = 0.90;
/// Files up to this size get brotli quality 10, larger ones quality 9 (build time).
const BROTLI_SMALL_FILE: usize = 1 << 20;
const BROTLI_WINDOW_MAX: i32 = 22;

/// Top-level entries of the source folder that belong to the repository or to
/// install.sh, not to the frontend.
const IGNORED_TOP_LEVEL: &[&str] = &["README.md", ".gitkeep", ".gitignore", INSTALL_STAMP];

/// Written by install.sh: which wheel the folder was unpacked from.
const INSTALL_STAMP: &str = ".installed-wheel";

const PLACEHOLDER_HTML: &str = "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Open WebUI</title></head>\n<body>\n<h1>Frontend not built: run ./install.sh</h1>\n<p>This binary was compiled without the web frontend. Run <code>./install.sh</code> in the source tree and rebuild.</p>\n</body>\n</html>\n";

#[derive(Clone)]
struct Source {
    rel: String,
    path: PathBuf,
    size: u64,
    mtime_ns: u128,
}

#[derive(Clone)]
struct Entry {
    /// "b" (brotli only) or "r" (raw only); older builds also wrote "bg" and "g".
    variants: String,
    etag: String,
    size: u64,
    mtime_ns: u128,
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=OPEN_WEBUI_FRONTEND_DIR");

    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let src_dir = match std::env::var_os("OPEN_WEBUI_FRONTEND_DIR") {
        Some(dir) if !dir.is_empty() => manifest_dir.join(dir),
        _ => manifest_dir.join("frontend-dist"),
    };
    println!("cargo:rerun-if-changed={}", src_dir.display());
    // Rewritten by install.sh on every unpack (its files keep the archive's old
    // timestamps, so the directory scan alone could miss a new wheel). Only
    // named when present: a missing path would rerun the script every build.
    let stamp = src_dir.join(INSTALL_STAMP);
    if stamp.is_file() {
        println!("cargo:rerun-if-changed={}", stamp.display());
    }

    // Embedding model (separate from the frontend; see `embedding_model` below).
    embedding_model(&manifest_dir);

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let web_dir = out_dir.join("web");
    let manifest_path = out_dir.join("web-manifest.txt");
    let stats_path = out_dir.join("web-build-stats.txt");

    if let Err(err) = run(&src_dir, &web_dir, &manifest_path, &stats_path) {
        panic!("preparing the embedded frontend failed: {err}");
    }
}

fn run(src_dir: &Path, web_dir: &Path, manifest_path: &Path, stats_path: &Path) -> io::Result<()> {
    let started = Instant::now();
    fs::create_dir_all(web_dir)?;

    let placeholder = !src_dir.join("index.html").is_file();
    // Outputs are reused per file when size and mtime match, and only if the
    // folder still comes from the same wheel (unpacked files all carry the
    // archive's timestamps, so size + mtime alone cannot tell two wheels apart).
    let origin = fs::read_to_string(src_dir.join(INSTALL_STAMP))
        .unwrap_or_default()
        .trim()
        .replace(['\t', '\n'], " ");
    let key = format!("{FORMAT} [{origin}]");
    let previous = if placeholder {
        HashMap::new()
    } else {
        read_manifest(manifest_path, &key)
    };

    let mut sources = Vec::new();
    if !placeholder {
        collect(src_dir, src_dir, &mut sources)?;
    }
    sources.sort_by(|a, b| a.rel.cmp(&b.rel));
    drop_clashing_names(&mut sources);

    let mut entries: Vec<(String, Entry)> = Vec::with_capacity(sources.len() + 1);
    let mut todo = Vec::new();
    for src in sources {
        match previous.get(&src.rel) {
            Some(old)
                if old.size == src.size
                    && old.mtime_ns == src.mtime_ns
                    && outputs_exist(web_dir, &src.rel, &old.variants) =>
            {
                entries.push((src.rel.clone(), old.clone()));
            }
            _ => todo.push(src),
        }
    }
    let reused = entries.len();

    // Biggest first, so the workers finish at about the same time.
    todo.sort_by_key(|s| std::cmp::Reverse(s.size));
    let compressed = compress_all(&todo, web_dir)?;
    let processed = compressed.len();
    entries.extend(compressed);

    if placeholder {
        let data = PLACEHOLDER_HTML.as_bytes();
        write_file(&web_dir.join("index.html"), data)?;
        entries.push((
            "index.html".to_string(),
            Entry {
                variants: "r".into(),
                etag: etag_of(data),
                size: data.len() as u64,
                mtime_ns: 0,
            },
        ));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    remove_stale_outputs(web_dir, &entries)?;
    write_manifest(manifest_path, &key, placeholder, &entries)?;

    let mut raw_total = 0u64;
    let mut stored_total = 0u64;
    for (rel, entry) in &entries {
        raw_total += entry.size;
        for v in stored_names(rel, &entry.variants) {
            stored_total += fs::metadata(web_dir.join(&v)).map(|m| m.len()).unwrap_or(0);
        }
    }
    let stats = format!(
        "placeholder: {placeholder}\nfiles: {}\nprocessed: {processed}\nreused: {reused}\nsource bytes: {raw_total}\nstored bytes: {stored_total}\nseconds: {:.2}\nthreads: {}\n",
        entries.len(),
        started.elapsed().as_secs_f64(),
        worker_count(),
    );
    write_file(stats_path, stats.as_bytes())?;
    Ok(())
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<Source>) -> io::Result<()> {
    for item in fs::read_dir(dir)? {
        let item = item?;
        let path = item.path();
        let name = item.file_name();
        let Some(name) = name.to_str() else {
            println!(
                "cargo:warning=skipping non-UTF-8 file name {}",
                path.display()
            );
            continue;
        };
        let top_level = dir == root;
        if name.starts_with('.') || (top_level && IGNORED_TOP_LEVEL.contains(&name)) {
            continue;
        }
        let file_type = item.file_type()?;
        let meta = if file_type.is_symlink() {
            fs::metadata(&path)?
        } else {
            item.metadata()?
        };
        if meta.is_dir() {
            collect(root, &path, out)?;
            continue;
        }
        if !meta.is_file() || name.ends_with(".map") {
            continue;
        }
        let rel_path = path.strip_prefix(root).expect("inside root");
        let rel: Vec<&str> = rel_path.iter().map(|c| c.to_str().unwrap_or("")).collect();
        let rel = rel.join("/");
        if rel.contains(['\t', '\n', '\r', '\\']) {
            println!("cargo:warning=skipping file with an unusual name: {rel:?}");
            continue;
        }
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        out.push(Source {
            rel,
            path,
            size: meta.len(),
            mtime_ns,
        });
    }
    Ok(())
}

/// `x.gz` / `x.br` next to a file `x` would collide with x's compressed copies.
fn drop_clashing_names(sources: &mut Vec<Source>) {
    let names: HashSet<String> = sources.iter().map(|s| s.rel.clone()).collect();
    sources.retain(|s| {
        let base = s
            .rel
            .strip_suffix(".gz")
            .or_else(|| s.rel.strip_suffix(".br"));
        match base {
            Some(base) if names.contains(base) => {
                println!(
                    "cargo:warning=not embedding {} (clashes with the compressed copy of {base})",
                    s.rel
                );
                false
            }
            _ => true,
        }
    });
}

fn worker_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
}

fn compress_all(todo: &[Source], web_dir: &Path) -> io::Result<Vec<(String, Entry)>> {
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(String, Entry)>> = Mutex::new(Vec::with_capacity(todo.len()));
    let error: Mutex<Option<io::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..worker_count().min(todo.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= todo.len() || error.lock().unwrap().is_some() {
                    break;
                }
                match process(&todo[i], web_dir) {
                    Ok(entry) => results.lock().unwrap().push((todo[i].rel.clone(), entry)),
                    Err(err) => {
                        let err = io::Error::new(
                            err.kind(),
                            format!("{}: {err}", todo[i].path.display()),
                        );
                        *error.lock().unwrap() = Some(err);
                    }
                }
            });
        }
    });
    if let Some(err) = error.into_inner().unwrap() {
        return Err(err);
    }
    Ok(results.into_inner().unwrap())
}

fn process(src: &Source, web_dir: &Path) -> io::Result<Entry> {
    let data = fs::read(&src.path)?;
    let etag = etag_of(&data);
    let raw_path = web_dir.join(&src.rel);
    let gz_path = web_dir.join(format!("{}.gz", src.rel));
    let br_path = web_dir.join(format!("{}.br", src.rel));
    let limit = (data.len() as f64 * KEEP_RATIO) as usize;

    let br = if data.is_empty() {
        None
    } else {
        Some(brotli_compress(&data)?).filter(|br| br.len() <= limit)
    };
    let variants = match br {
        Some(br) => {
            write_file(&br_path, &br)?;
            "b"
        }
        None => {
            write_file(&raw_path, &data)?;
            "r"
        }
    };
    // Remove copies of another kind left by an earlier run.
    for (path, kind) in [(&raw_path, 'r'), (&gz_path, 'g'), (&br_path, 'b')] {
        if !variants.contains(kind) && path.exists() {
            fs::remove_file(path)?;
        }
    }
    Ok(Entry {
        variants: variants.to_string(),
        etag,
        size: data.len() as u64,
        mtime_ns: src.mtime_ns,
    })
}

fn brotli_compress(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut window = 10;
    while window < BROTLI_WINDOW_MAX && (1usize << window) < data.len() {
        window += 1;
    }
    let params = brotli::enc::BrotliEncoderParams {
        quality: if data.len() <= BROTLI_SMALL_FILE {
            10
        } else {
            9
        },
        lgwin: window,
        size_hint: data.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(data.len() / 4 + 64);
    brotli::BrotliCompress(&mut &data[..], &mut out, &params)?;
    Ok(out)
}

/// Content hash used as the ETag (quoted by the server). Only needs to change
/// when the content changes; a new toolchain may change the hash function,
/// which merely makes browsers download the files once more.
fn etag_of(data: &[u8]) -> String {
    let mut a = std::collections::hash_map::DefaultHasher::new();
    a.write(data);
    let mut b = std::collections::hash_map::DefaultHasher::new();
    b.write_u64(0x6f77_7569_7765_6221);
    b.write(data);
    format!("{:016x}{:016x}-{:x}", a.finish(), b.finish(), data.len())
}

fn write_file(path: &Path, data: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, data)
}

fn stored_names(rel: &str, variants: &str) -> Vec<String> {
    let mut names = Vec::new();
    if variants.contains('r') {
        names.push(rel.to_string());
    }
    if variants.contains('g') {
        names.push(format!("{rel}.gz"));
    }
    if variants.contains('b') {
        names.push(format!("{rel}.br"));
    }
    names
}

fn outputs_exist(web_dir: &Path, rel: &str, variants: &str) -> bool {
    stored_names(rel, variants)
        .iter()
        .all(|n| web_dir.join(n).is_file())
}

fn remove_stale_outputs(web_dir: &Path, entries: &[(String, Entry)]) -> io::Result<()> {
    let wanted: HashSet<String> = entries
        .iter()
        .flat_map(|(rel, e)| stored_names(rel, &e.variants))
        .collect();
    prune(web_dir, web_dir, &wanted)?;
    Ok(())
}

/// Deletes files not in `wanted`; returns whether `dir` is now empty.
fn prune(root: &Path, dir: &Path, wanted: &HashSet<String>) -> io::Result<bool> {
    let mut empty = true;
    for item in fs::read_dir(dir)? {
        let item = item?;
        let path = item.path();
        if item.file_type()?.is_dir() {
            if prune(root, &path, wanted)? {
                fs::remove_dir(&path)?;
            } else {
                empty = false;
            }
            continue;
        }
        let rel: Vec<&str> = path
            .strip_prefix(root)
            .expect("inside root")
            .iter()
            .map(|c| c.to_str().unwrap_or(""))
            .collect();
        if wanted.contains(&rel.join("/")) {
            empty = false;
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(empty)
}

fn write_manifest(
    path: &Path,
    key: &str,
    placeholder: bool,
    entries: &[(String, Entry)],
) -> io::Result<()> {
    let mut text = format!("#{key}\tplaceholder={}\n", u8::from(placeholder));
    for (rel, e) in entries {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            e.variants, e.etag, e.size, e.mtime_ns, rel
        ));
    }
    // Only touch the file when it changed, to keep incremental builds cheap.
    if fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
        write_file(path, text.as_bytes())?;
    }
    Ok(())
}

fn read_manifest(path: &Path, key: &str) -> HashMap<String, Entry> {
    let mut map = HashMap::new();
    let Ok(text) = fs::read_to_string(path) else {
        return map;
    };
    let mut lines = text.lines();
    match lines.next() {
        Some(header)
            if header.strip_prefix('#').and_then(|h| h.split('\t').next()) == Some(key) => {}
        _ => return map,
    }
    for line in lines {
        let mut parts = line.splitn(5, '\t');
        let (Some(variants), Some(etag), Some(size), Some(mtime), Some(rel)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            continue;
        };
        let (Ok(size), Ok(mtime_ns)) = (size.parse(), mtime.parse()) else {
            continue;
        };
        map.insert(
            rel.to_string(),
            Entry {
                variants: variants.to_string(),
                etag: etag.to_string(),
                size,
                mtime_ns,
            },
        );
    }
    map
}

// ---------------------------------------------------------------------------
// Embedding model for retrieval (src/rag/embed). Independent of the frontend.
//
// install.sh unpacks all-MiniLM-L6-v2 into assets/models/all-MiniLM-L6-v2/.
// * Release builds embed those files in the binary (cfg `owui_model_embedded`,
//   path in OWUI_MODEL_EMBED_DIR); the weights not as model.safetensors but in
//   the packed int8 form of src/rag/embed/packed.rs ($OUT_DIR/model-weights.packed,
//   about a quarter of the size). Without the files the build stops with a
//   message saying to run ./install.sh.
// * Other profiles (dev, test) embed nothing, to keep builds fast: when the
//   folder exists its path is passed as OWUI_MODEL_DEV_DIR and read at run
//   time; otherwise the engine answers "embedding model not bundled: run
//   ./install.sh" when the local model is first needed.
// OPEN_WEBUI_MODEL_DIR overrides the folder.
// ---------------------------------------------------------------------------

const MODEL_FILES: &[&str] = &[
    "config.json",
    "tokenizer.json",
    "model.safetensors",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
];

fn embedding_model(manifest_dir: &Path) {
    println!("cargo:rustc-check-cfg=cfg(owui_model_embedded)");
    println!("cargo:rerun-if-env-changed=OPEN_WEBUI_MODEL_DIR");
    let dir = match std::env::var_os("OPEN_WEBUI_MODEL_DIR") {
        Some(d) if !d.is_empty() => manifest_dir.join(d),
        _ => manifest_dir.join("assets/models/all-MiniLM-L6-v2"),
    };
    println!("cargo:rerun-if-changed={}", dir.display());
    for f in MODEL_FILES {
        println!("cargo:rerun-if-changed={}", dir.join(f).display());
    }
    let missing: Vec<&str> = MODEL_FILES
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    if release {
        if !missing.is_empty() {
            panic!(
                "\n\nthe embedding model is missing from {} ({}).\nRun ./install.sh (or ./install.sh --no-build) to fetch it before a release build.\n",
                dir.display(),
                missing.join(", ")
            );
        }
        if let Err(err) = pack_weights(&dir.join("model.safetensors")) {
            panic!("packing the embedding model failed: {err}");
        }
        println!("cargo:rustc-cfg=owui_model_embedded");
        println!("cargo:rustc-env=OWUI_MODEL_EMBED_DIR={}", dir.display());
    } else if missing.is_empty() {
        println!("cargo:rustc-env=OWUI_MODEL_DEV_DIR={}", dir.display());
    }
}

#[path = "src/rag/embed/packed.rs"]
#[allow(dead_code)]
mod packed;

/// Writes `$OUT_DIR/model-weights.packed` from a safetensors file, unless the
/// one there was made from the same file (size and mtime) by the same code.
fn pack_weights(src: &Path) -> io::Result<()> {
    println!("cargo:rerun-if-changed=src/rag/embed/packed.rs");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let out = out_dir.join("model-weights.packed");
    let stamp_path = out_dir.join("model-weights.stamp");
    let meta = fs::metadata(src)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let code = fs::read("src/rag/embed/packed.rs").unwrap_or_default();
    let stamp = format!("{} {} {}", meta.len(), mtime, etag_of(&code));
    if out.is_file() && fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp.as_str()) {
        return Ok(());
    }
    let weights = read_safetensors(&fs::read(src)?)?;
    let packed = packed::encode(&weights)?;
    write_file(&out, &packed)?;
    write_file(&stamp_path, stamp.as_bytes())?;
    Ok(())
}

/// The f32 tensors of a safetensors file (others, such as the I64
/// `position_ids`, are not used by the model and are left out).
fn read_safetensors(bytes: &[u8]) -> io::Result<Vec<packed::Weights>> {
    let bad = |m: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("model.safetensors: {m}"),
        )
    };
    let len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
        .ok_or_else(|| bad("too short"))?;
    let header = bytes.get(8..8 + len).ok_or_else(|| bad("header cut"))?;
    let body = &bytes[8 + len..];
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| bad(&e.to_string()))?;
    let mut out = Vec::new();
    for (name, info) in header {
        if name == "__metadata__" || info["dtype"] != "F32" {
            continue;
        }
        let shape: Vec<usize> = info["shape"]
            .as_array()
            .ok_or_else(|| bad("shape"))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("shape"))?;
        let offsets = info["data_offsets"]
            .as_array()
            .ok_or_else(|| bad("offsets"))?;
        let (Some(start), Some(end)) = (offsets[0].as_u64(), offsets[1].as_u64()) else {
            return Err(bad("offsets"));
        };
        let raw = body
            .get(start as usize..end as usize)
            .ok_or_else(|| bad("offsets out of range"))?;
        let data: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        if data.len() != shape.iter().product::<usize>() {
            return Err(bad("shape and data disagree"));
        }
        out.push(packed::Weights { name, shape, data });
    }
    // A stable order, so the same input gives the same bytes.
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
